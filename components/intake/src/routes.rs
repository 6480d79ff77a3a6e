//! The route table: every path and method the API has, in one place. A known path with
//! another method is `405` with `Allow`; any other path is a `404` problem.

use jobs_core::api::{ApiError, RequestError};
use jobs_core::service::Context;
use spin_sdk::http::{Method, Response};

use crate::wire::Req;
use crate::{internal, jobs, ops};

/// A resource of the API, with the id segment when there is one.
enum Route<'a> {
    /// `/jobs`
    Jobs,
    /// `/jobs/{id}`
    Job(&'a str),
    /// `/jobs/{id}/result`
    JobResult(&'a str),
    /// `/stats`
    Stats,
    /// `/healthz`
    Health,
    /// `/internal/drain`: hidden (a `404` for any method) unless the request carries the
    /// drain token.
    InternalDrain,
}

impl<'a> Route<'a> {
    fn parse(path: &'a str) -> Option<Route<'a>> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            ["jobs"] => Some(Route::Jobs),
            ["jobs", id] if !id.is_empty() => Some(Route::Job(id)),
            ["jobs", id, "result"] if !id.is_empty() => Some(Route::JobResult(id)),
            ["stats"] => Some(Route::Stats),
            ["healthz"] => Some(Route::Health),
            ["internal", "drain"] => Some(Route::InternalDrain),
            _ => None,
        }
    }

    fn allow(&self) -> &'static str {
        match self {
            Route::Jobs => "GET, POST",
            Route::Job(_) => "GET, DELETE",
            Route::JobResult(_) | Route::Stats | Route::Health => "GET",
            Route::InternalDrain => "POST",
        }
    }
}

pub async fn dispatch(ctx: &Context<'_>, req: &mut Req) -> Result<Response, ApiError> {
    let path = req.path.clone();
    let Some(route) = Route::parse(&path) else {
        return Err(RequestError::RouteNotFound(path.clone()).into());
    };
    if let Route::InternalDrain = route {
        // Checked before the method, so that without the token even a 405 says nothing.
        internal::authorize(ctx, req)?;
    }
    match (&req.method, &route) {
        (Method::Post, Route::Jobs) => jobs::submit(ctx, req).await,
        (Method::Get, Route::Jobs) => jobs::list(ctx, req),
        (Method::Get, Route::Job(id)) => jobs::get(ctx, req, id),
        (Method::Delete, Route::Job(id)) => jobs::cancel(ctx, id),
        (Method::Get, Route::JobResult(id)) => jobs::result(ctx, id),
        (Method::Get, Route::Stats) => ops::stats(ctx),
        (Method::Get, Route::Health) => ops::health(ctx),
        (Method::Post, Route::InternalDrain) => internal::drain(ctx).await,
        (method, route) => Err(RequestError::MethodNotAllowed {
            method: method.to_string(),
            allow: route.allow(),
        }
        .into()),
    }
}

//! The route table: every path and method the API has, in one place, and who may call
//! each. A known path with another method is `405` with `Allow`; any other path is a
//! `404` problem.
//!
//! - `/healthz`, `/openapi.json`: anyone.
//! - `/internal/drain`, `/admin/...`: their secret token, else a `404` for any method.
//! - everything else: an API key, whose tenant the request then acts as (`401` without);
//!   what changes a job needs a key of role `full` (`403` with a read-only key).

use jobs_core::api::{ApiError, RequestError};
use jobs_core::job::Tenant;
use jobs_core::queue::SecretChange;
use jobs_core::service;
use jobs_core::service::actions::BulkAction;
use jobs_core::service::error::AuthError;
use jobs_core::tenancy::Role;
use spin_adapters::Wiring;
use spin_sdk::http::{Method, Response};

use crate::wire::Req;
use crate::{admin, internal, jobs, ops};

/// A resource of the API, with the id segment when there is one.
enum Route<'a> {
    /// `/jobs`
    Jobs,
    /// `/jobs/{id}`
    Job(&'a str),
    /// `/jobs/{id}/result`
    JobResult(&'a str),
    /// `/jobs/{id}/webhook`
    JobWebhook(&'a str),
    /// `/jobs/{id}/input`
    JobInput(&'a str),
    /// `/jobs/{id}/retry`
    JobRetry(&'a str),
    /// `/jobs/bulk-cancel`, `/jobs/bulk-retry`
    JobsBulk(BulkAction),
    /// `/me`: the caller's tenant and role.
    Me,
    /// `/stats`
    Stats,
    /// `/healthz`
    Health,
    /// `/openapi.json`
    OpenApi,
    /// `/internal/drain`: hidden (a `404` for any method) unless the request carries the
    /// drain token.
    InternalDrain,
    /// `/admin/tenants`; hidden like the drain route without the admin token, as are all
    /// of `/admin/...`.
    AdminTenants,
    /// `/admin/tenants/{name}`
    AdminTenant(&'a str),
    /// `/admin/tenants/{name}/keys`
    AdminKeys(&'a str),
    /// `/admin/tenants/{name}/keys/{id}`
    AdminKey(&'a str, &'a str),
    /// `/admin/tenants/{name}/webhook-secret`
    AdminSecret(&'a str),
    /// `/admin/tenants/{name}/webhook-secret/previous`
    AdminSecretPrevious(&'a str),
}

impl<'a> Route<'a> {
    fn parse(path: &'a str) -> Option<Route<'a>> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            ["jobs"] => Some(Route::Jobs),
            ["jobs", "bulk-cancel"] => Some(Route::JobsBulk(BulkAction::Cancel)),
            ["jobs", "bulk-retry"] => Some(Route::JobsBulk(BulkAction::Retry)),
            ["me"] => Some(Route::Me),
            ["jobs", id] if !id.is_empty() => Some(Route::Job(id)),
            ["jobs", id, "result"] if !id.is_empty() => Some(Route::JobResult(id)),
            ["jobs", id, "webhook"] if !id.is_empty() => Some(Route::JobWebhook(id)),
            ["jobs", id, "input"] if !id.is_empty() => Some(Route::JobInput(id)),
            ["jobs", id, "retry"] if !id.is_empty() => Some(Route::JobRetry(id)),
            ["stats"] => Some(Route::Stats),
            ["healthz"] => Some(Route::Health),
            ["openapi.json"] => Some(Route::OpenApi),
            ["internal", "drain"] => Some(Route::InternalDrain),
            ["admin", "tenants"] => Some(Route::AdminTenants),
            ["admin", "tenants", t] if !t.is_empty() => Some(Route::AdminTenant(t)),
            ["admin", "tenants", t, "keys"] if !t.is_empty() => Some(Route::AdminKeys(t)),
            ["admin", "tenants", t, "keys", id] if !t.is_empty() && !id.is_empty() => {
                Some(Route::AdminKey(t, id))
            }
            ["admin", "tenants", t, "webhook-secret"] if !t.is_empty() => {
                Some(Route::AdminSecret(t))
            }
            ["admin", "tenants", t, "webhook-secret", "previous"] if !t.is_empty() => {
                Some(Route::AdminSecretPrevious(t))
            }
            _ => None,
        }
    }

    fn allow(&self) -> &'static str {
        match self {
            Route::Jobs => "GET, POST",
            Route::Job(_) => "GET, DELETE",
            Route::JobResult(_)
            | Route::JobInput(_)
            | Route::Stats
            | Route::Health
            | Route::OpenApi
            | Route::Me => "GET",
            Route::JobRetry(_) | Route::JobsBulk(_) => "POST",
            Route::InternalDrain => "POST",
            Route::AdminTenants | Route::AdminKeys(_) => "GET, POST",
            Route::AdminTenant(_) => "GET, PATCH",
            Route::AdminKey(..) | Route::AdminSecretPrevious(_) => "DELETE",
            Route::JobWebhook(_) => "POST",
            Route::AdminSecret(_) => "GET, POST",
        }
    }

    /// Whether `method` on this resource changes a job (a read-only key may not).
    fn changes(&self, method: &Method) -> bool {
        matches!(
            (method, self),
            (Method::Post, Route::Jobs)
                | (Method::Delete, Route::Job(_))
                | (Method::Post, Route::JobWebhook(_))
                | (Method::Post, Route::JobRetry(_))
                | (Method::Post, Route::JobsBulk(_))
        )
    }

    fn is_admin(&self) -> bool {
        matches!(
            self,
            Route::AdminTenants
                | Route::AdminTenant(_)
                | Route::AdminKeys(_)
                | Route::AdminKey(..)
                | Route::AdminSecret(_)
                | Route::AdminSecretPrevious(_)
        )
    }
}

pub async fn dispatch(wiring: &Wiring, req: &mut Req) -> Result<Response, ApiError> {
    let path = req.path.clone();
    let Some(route) = Route::parse(&path) else {
        return Err(RequestError::RouteNotFound(path.clone()).into());
    };
    // The secret routes are checked before the method, so that without the token even a
    // 405 says nothing.
    match &route {
        Route::Health => {
            let ctx = wiring.context(Tenant::default_tenant());
            return match req.method {
                Method::Get => ops::health(&ctx),
                _ => Err(not_allowed(req, &route)),
            };
        }
        Route::OpenApi => {
            return match req.method {
                Method::Get => Ok(ops::openapi()),
                _ => Err(not_allowed(req, &route)),
            };
        }
        Route::InternalDrain => {
            let ctx = wiring.context(Tenant::default_tenant());
            internal::authorize(&ctx, req)?;
            return match req.method {
                Method::Post => internal::drain(&ctx).await,
                _ => Err(not_allowed(req, &route)),
            };
        }
        route if route.is_admin() => {
            admin::authorize(wiring, req)?;
            return admin_route(wiring, req, route).await;
        }
        _ => {}
    }
    // A submission with a key this instance looked up before skips the lookup: the
    // submit script checks the key with the job (`service::KnownKeys`).
    if matches!((&req.method, &route), (Method::Post, Route::Jobs))
        && wiring.store_is_queue_redis()
        && let Some((caller, proof)) =
            wiring
                .known_keys()
                .vouch(wiring.settings(), req.header("authorization"), req.origin())
    {
        return jobs::submit_vouched(wiring, caller, proof, req).await;
    }
    let caller = authenticate(wiring, req)?;
    let role = caller.role;
    let ctx = wiring.context_for(caller);
    if route.changes(&req.method) && role != Role::Full {
        return Err(AuthError::ReadOnly.into());
    }
    match (&req.method, &route) {
        (Method::Post, Route::Jobs) => jobs::submit(&ctx, req).await,
        (Method::Get, Route::JobInput(id)) => jobs::input(&ctx, id),
        (Method::Post, Route::JobRetry(id)) => jobs::retry(&ctx, id),
        (Method::Post, Route::JobsBulk(action)) => jobs::bulk(&ctx, req, *action),
        (Method::Get, Route::Me) => Ok(ops::me(&ctx, role)),
        (Method::Get, Route::Jobs) => jobs::list(&ctx, req),
        (Method::Get, Route::Job(id)) => jobs::get(&ctx, req, id),
        (Method::Delete, Route::Job(id)) => jobs::cancel(&ctx, id),
        (Method::Get, Route::JobResult(id)) => jobs::result(&ctx, id),
        (Method::Post, Route::JobWebhook(id)) => jobs::redeliver(&ctx, id),
        (Method::Get, Route::Stats) => ops::stats(&ctx),
        _ => Err(not_allowed(req, &route)),
    }
}

/// The caller of `req`, its key looked up (and remembered when it may submit).
pub fn authenticate(wiring: &Wiring, req: &Req) -> Result<service::Caller, AuthError> {
    service::authenticate_remembering(
        wiring.tenants(),
        wiring.settings(),
        req.header("authorization"),
        req.origin(),
        wiring.known_keys(),
    )
}

async fn admin_route(
    wiring: &Wiring,
    req: &mut Req,
    route: &Route<'_>,
) -> Result<Response, ApiError> {
    match (&req.method, route) {
        (Method::Get, Route::AdminTenants) => admin::list_tenants(wiring),
        (Method::Post, Route::AdminTenants) => admin::create_tenant(wiring, req).await,
        (Method::Get, Route::AdminTenant(t)) => admin::get_tenant(wiring, t),
        (Method::Patch, Route::AdminTenant(t)) => admin::update_tenant(wiring, req, t).await,
        (Method::Get, Route::AdminKeys(t)) => admin::list_keys(wiring, t),
        (Method::Post, Route::AdminKeys(t)) => admin::issue_key(wiring, req, t).await,
        (Method::Delete, Route::AdminKey(t, id)) => admin::revoke_key(wiring, t, id),
        (Method::Get, Route::AdminSecret(t)) => {
            admin::webhook_secret(wiring, t, SecretChange::Init)
        }
        (Method::Post, Route::AdminSecret(t)) => {
            admin::webhook_secret(wiring, t, SecretChange::Rotate)
        }
        (Method::Delete, Route::AdminSecretPrevious(t)) => {
            admin::webhook_secret(wiring, t, SecretChange::End)
        }
        _ => Err(not_allowed(req, route)),
    }
}

fn not_allowed(req: &Req, route: &Route<'_>) -> ApiError {
    RequestError::MethodNotAllowed {
        method: req.method.to_string(),
        allow: route.allow(),
    }
    .into()
}

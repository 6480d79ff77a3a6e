//! The job resource on the wire: `POST /jobs`, `GET /jobs`, `GET /jobs/{id}`,
//! `GET /jobs/{id}/result`, `DELETE /jobs/{id}`.

use jobs_core::api::{ApiError, RequestError};
use jobs_core::api::{etag_of, if_none_match};
use jobs_core::config::Settings;
use jobs_core::queue::KeyProof;
use jobs_core::resource::{JobPage, JobResource, job_path};
use jobs_core::service::actions::{self, BulkAction};
use jobs_core::service::{self, AfterVouched, Caller, CancelResult, Context, ListQuery, Submitted};
use spin_adapters::Wiring;
use spin_sdk::http::Response;

use crate::routes;
use crate::wire::{Req, json};

/// Seconds a client should wait before polling a job that has not finished.
const POLL_AFTER_S: &str = "1";

fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// The resource with its strong ETag, and `Retry-After` while it has not finished.
fn resource(status: u16, job: &JobResource) -> Response {
    let body = job.to_json();
    let mut builder = Response::builder();
    builder
        .status(status)
        .header("content-type", "application/json")
        .header("etag", etag_of(&body));
    if !job.status.is_terminal() {
        builder.header("retry-after", POLL_AFTER_S);
    }
    builder.body(body).build()
}

pub async fn submit(ctx: &Context<'_>, req: &mut Req) -> Result<Response, ApiError> {
    let (body, key) = submission(ctx.settings, req)?;
    Ok(submitted(service::submit(ctx, &body, key.as_deref())?))
}

/// `POST /jobs` by a caller whose key was not looked up (`service::KnownKeys::vouch`).
/// Whatever refuses it, the key is then looked up as any request's is: a key no longer
/// valid is a `401` (or `403`) before anything else is said, as without the shortcut; a
/// key the script refused that is valid after all submits the job the usual way.
pub async fn submit_vouched(
    wiring: &Wiring,
    caller: Caller,
    proof: KeyProof,
    req: &mut Req,
) -> Result<Response, ApiError> {
    let (body, key) = match submission(wiring.settings(), req) {
        Ok(parts) => parts,
        Err(e) => {
            routes::authenticate(wiring, req)?;
            return Err(e);
        }
    };
    let id = proof.id.clone();
    let ctx = wiring.context_for(caller);
    match service::submit_vouched(&ctx, &body, key.as_deref(), proof) {
        Ok(done) => Ok(submitted(done)),
        Err(e) => {
            wiring.known_keys().forget(&id);
            match service::after_vouched(e, routes::authenticate(wiring, req)) {
                AfterVouched::SubmitAgain(caller) => {
                    let ctx = wiring.context_for(caller);
                    Ok(submitted(service::submit(&ctx, &body, key.as_deref())?))
                }
                AfterVouched::Refuse(e) => Err(e.into()),
                AfterVouched::Fail(e) => Err(e.into()),
            }
        }
    }
}

/// The JSON body and the `Idempotency-Key` of a submission.
fn submission(settings: &Settings, req: &mut Req) -> Result<(Vec<u8>, Option<String>), ApiError> {
    if !is_json(req.header("content-type")) {
        return Err(RequestError::UnsupportedMediaType.into());
    }
    let body = req.body(settings.max_body_bytes)?;
    let key = req.header("idempotency-key").map(str::to_owned);
    Ok((body, key))
}

/// `202` with the job, its `Location` and `Retry-After`.
fn submitted(submitted: Submitted) -> Response {
    let mut response = resource(202, &submitted.job);
    response.set_header("location", job_path(&submitted.job.id));
    response.set_header("retry-after", POLL_AFTER_S);
    if submitted.replayed {
        response.set_header("idempotent-replayed", "true");
    }
    response
}

pub fn get(ctx: &Context<'_>, req: &Req, id: &str) -> Result<Response, ApiError> {
    let job = service::get(ctx, id)?;
    let etag = etag_of(&job.to_json());
    if req
        .header("if-none-match")
        .is_some_and(|h| if_none_match(h, &etag))
    {
        let mut builder = Response::builder();
        builder.status(304).header("etag", etag);
        if !job.status.is_terminal() {
            builder.header("retry-after", POLL_AFTER_S);
        }
        return Ok(builder.body(Vec::new()).build());
    }
    Ok(resource(200, &job))
}

pub fn result(ctx: &Context<'_>, id: &str) -> Result<Response, ApiError> {
    let output = service::result(ctx, id)?;
    // A kind chooses its result's media type: it is served as data, never as a page
    // that could run on this origin (the dashboard's, where a key is kept; `nosniff`, as on
    // every answer, is added by the handler).
    Ok(Response::builder()
        .status(200)
        .header("content-type", output.content_type)
        .header("content-security-policy", "sandbox; default-src 'none'")
        .body(output.bytes)
        .build())
}

/// `GET /jobs/{id}/input`: the input, as JSON.
pub fn input(ctx: &Context<'_>, id: &str) -> Result<Response, ApiError> {
    Ok(json(200, &actions::input(ctx, id)?))
}

/// `POST /jobs/{id}/retry`: `202` with the new job and its `Location`, as a submit.
pub fn retry(ctx: &Context<'_>, id: &str) -> Result<Response, ApiError> {
    Ok(submitted(actions::retry(ctx, id)?))
}

/// `POST /jobs/bulk-cancel` and `/jobs/bulk-retry`: `200` with what one page did.
pub fn bulk(ctx: &Context<'_>, req: &Req, action: BulkAction) -> Result<Response, ApiError> {
    let query = actions::bulk_query(&req.query, &ctx.registry.names())?;
    Ok(json(200, &actions::bulk(ctx, &query, action)?))
}

/// `POST /jobs/{id}/webhook`: `202` with the job and its webhook state.
pub fn redeliver(ctx: &Context<'_>, id: &str) -> Result<Response, ApiError> {
    Ok(resource(202, &service::redeliver(ctx, id)?))
}

pub fn cancel(ctx: &Context<'_>, id: &str) -> Result<Response, ApiError> {
    Ok(match service::cancel(ctx, id)? {
        CancelResult::Cancelled(job) => resource(200, &job),
        CancelResult::Requested(job) | CancelResult::RequestedBefore(job) => resource(202, &job),
    })
}

pub fn list(ctx: &Context<'_>, req: &Req) -> Result<Response, ApiError> {
    let query = ListQuery::parse(&req.query, &ctx.registry.names())?;
    let page = service::list(ctx, &query)?;
    for id in &page.skipped {
        eprintln!("intake: GET /jobs skipped job {id}: its record cannot be read");
    }
    Ok(json(
        200,
        &JobPage {
            items: page.items,
            next_cursor: page.next_cursor,
        },
    ))
}

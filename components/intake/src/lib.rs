//! The intake: the HTTP-triggered Spin component. Routing and wire handling only (headers,
//! status codes, body limits); every decision is a `jobs_core::service` call and every
//! error becomes a problem through `jobs_core::api::problem`.
//!
//! - [`routes`]: the one route table.
//! - [`jobs`]: the job resource (`/jobs`, `/jobs/{id}`, `/jobs/{id}/result`).
//! - [`ops`]: `/stats` and `/healthz`.
//! - [`internal`]: `/internal/drain`, the drain loop behind the drain token.
//! - [`admin`]: `/admin/...`, tenants and API keys behind the admin token.
//! - [`wire`]: the request as the handlers see it, responses, problems.

mod admin;
mod internal;
mod jobs;
mod ops;
mod routes;
mod wire;

use std::cell::RefCell;
use std::rc::Rc;

use jobs_core::api::{ApiError, RequestError};
use jobs_core::config::ConfigError;
use spin_adapters::Kept;
use wasip3::http::types::{ErrorCode, Request, Response};

wasip3::http::service::export!(Intake);

/// The intake as a WASIp3 HTTP component (`wasi:http/handler@0.3.0-rc-2026-03-15`): on
/// Spin 4 one instance serves many requests, so it keeps what they share ([`Kept`]).
struct Intake;

thread_local! {
    /// What this instance keeps between requests, from its first request that could
    /// read its settings.
    static KEPT: RefCell<Option<Rc<Kept>>> = const { RefCell::new(None) };
}

fn kept() -> Result<Rc<Kept>, ConfigError> {
    if let Some(kept) = KEPT.with_borrow(|kept| kept.clone()) {
        return Ok(kept);
    }
    let kept = Rc::new(Kept::open()?);
    KEPT.set(Some(kept.clone()));
    Ok(kept)
}

impl wasip3::exports::http::handler::Guest for Intake {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let mut req = wire::Req::new(request);
        let mut response = match kept() {
            Ok(kept) => {
                // The body is read here, in WASIp3's own way; the handlers run on Spin's
                // executor as before, the waits of `/internal/drain` included. Each
                // request runs to its end once it gets there: others on this instance
                // wait only while it reads its body.
                let settings = kept.settings();
                req.read_body(spin_adapters::http3::Limits {
                    bound: settings.max_body_bytes.max(admin::MAX_ADMIN_BODY),
                    within_ms: settings.body_timeout_ms,
                })
                .await;
                let wiring = kept.wiring();
                match spin_executor::run(routes::dispatch(&wiring, &mut req)) {
                    Ok(response) => response,
                    Err(err) => wire::error(&req, &err),
                }
            }
            Err(e) => {
                eprintln!("intake: configuration error: {e}");
                wire::error(&req, &ApiError::Request(RequestError::Config(e)))
            }
        };
        // Every answer is data to be read as what it says it is: a browser must not sniff
        // a JSON document, a problem or a job's result into a page on this origin.
        response.set_header("x-content-type-options", "nosniff");
        spin_adapters::http3::respond(response).await
    }
}

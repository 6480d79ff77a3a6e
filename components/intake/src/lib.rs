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

use jobs_core::api::{ApiError, RequestError};
use spin_adapters::Wiring;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let mut req = wire::Req::new(req);
    let wiring = match Wiring::open() {
        Ok(wiring) => wiring,
        Err(e) => {
            eprintln!("intake: configuration error: {e}");
            return wire::error(&req, &ApiError::Request(RequestError::Config(e)));
        }
    };
    match routes::dispatch(&wiring, &mut req).await {
        Ok(response) => response,
        Err(err) => wire::error(&req, &err),
    }
}

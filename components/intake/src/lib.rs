//! The intake: the HTTP-triggered Spin component. Routing and wire handling only (headers,
//! status codes, body limits); every decision is a `jobs_core::service` call and every
//! error becomes a problem through `jobs_core::service::problem`.
//!
//! - [`routes`]: the one route table.
//! - [`jobs`]: the job resource (`/jobs`, `/jobs/{id}`, `/jobs/{id}/result`).
//! - [`ops`]: `/stats` and `/healthz`.
//! - [`internal`]: `/internal/drain`, the drain loop behind the drain token.
//! - [`wire`]: the request as the handlers see it, responses, problems.

mod internal;
mod jobs;
mod ops;
mod routes;
mod wire;

use jobs_core::counter::RedisCounter;
use jobs_core::job::Tenant;
use jobs_core::kind::Registry;
use jobs_core::ports::{SystemClock, SystemRandom};
use jobs_core::queue::RedisQueue;
use jobs_core::service::Context;
use jobs_core::service::error::{ApiError, RequestError};
use spin_adapters::{SpinKv, SpinRedis, load_settings};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: IncomingRequest) -> Response {
    let mut req = wire::Req::new(req);
    let settings = match load_settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("intake: configuration error: {e}");
            return wire::error(&req, &ApiError::Request(RequestError::Config(e)));
        }
    };
    let kv = match SpinKv::open_default() {
        Ok(kv) => kv,
        Err(e) => {
            let err = ApiError::Health(jobs_core::service::error::HealthError::Store(e.into()));
            return wire::error(&req, &err);
        }
    };
    let tenant = Tenant::default_tenant();
    let queue = RedisQueue::new(
        SpinRedis::new(settings.redis_address.clone()),
        tenant.clone(),
    );
    let registry = Registry::for_settings(&settings);
    let counter = RedisCounter::new(queue.redis(), tenant.clone());
    let random = SystemRandom::new();
    let ctx = Context {
        kv: &kv,
        queue: &queue,
        clock: &SystemClock,
        random: &random,
        settings: &settings,
        registry: &registry,
        counter: Some(&counter),
        tenant,
    };
    match routes::dispatch(&ctx, &mut req).await {
        Ok(response) => response,
        Err(err) => wire::error(&req, &err),
    }
}

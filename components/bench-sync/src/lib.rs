//! Benchmark-only HTTP component: does a job kind's work *inside* the request and answers
//! with the result, the synchronous design that "asynchronous by default" replaces. The
//! benchmark (`crates/bench`, scenario "async vs sync") measures it against submit and
//! poll. It is wired only by `bench/spin.toml`, never by the product's `spin.toml`.
//!
//! | Request | Does | Answers |
//! |---|---|---|
//! | `POST /sync/{kind}`, body = the kind's `input` JSON | the kind's `validate`, then `run` | `200` with the result and its content type; `422` invalid input; `500` the run failed |
//! | `GET /sync/noop` | nothing | `204`: the cost of a request, with no I/O |
//! | `GET /sync/variable` | reads one Spin variable | `204`: with `noop` and `settings`, whether reading variables costs per variable or per request |
//! | `GET /sync/settings` | reads the settings from the Spin variables, as the worker and each new intake instance do first | `204`: with `noop`, what reading them costs |
//! | `POST /sync/insert-publish` | one new key in the key-value store `default`, then a fresh outbound Redis connection and one `PUBLISH` | `204`: the floor of an acknowledgement (what a submit must at least do), measured on the same runtime |
//!
//! The work is the same code the worker runs (`jobs_core::kind::Registry::builtin()`),
//! so the two designs differ only in where and when it runs. Like the intake, it is a
//! WASIp3 HTTP component (`spin_adapters::http3`), so Spin 4 reuses its instances as it
//! reuses the intake's: the floors are measured on the same footing as what they floor.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use jobs_core::job::JobId;
use jobs_core::kind::{Cancelled, RunContext};
use jobs_core::kinds::Registry;
use jobs_core::ports::Clock;
use spin_adapters::SpinClock;
use spin_adapters::http3::{self, Body};
use spin_sdk::http::{Method, Response};
use wasip3::http::types::{ErrorCode, Request};

wasip3::http::service::export!(BenchSync);

/// Largest input a synchronous run takes (benchmark inputs are a few hundred KiB).
const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

struct BenchSync;

impl wasip3::exports::http::handler::Guest for BenchSync {
    async fn handle(req: Request) -> Result<wasip3::http::types::Response, ErrorCode> {
        let method = http3::method(req.get_method());
        let path = req.get_path_with_query().unwrap_or_default();
        let body = match method {
            Method::Post => {
                let limits = http3::Limits {
                    bound: MAX_INPUT_BYTES,
                    within_ms: 30_000,
                };
                http3::read_body(req, limits).await
            }
            _ => Body::Read(Vec::new()),
        };
        let response = match body {
            Body::Read(body) => spin_executor::run(handle(method, &path, &body)),
            Body::TooLong => text(413, "input too large"),
            Body::Failed(why) => text(400, &format!("body: {why}")),
            Body::TooSlow { .. } => text(400, "body: too slow"),
        };
        http3::respond(response).await
    }
}

async fn handle(method: Method, path: &str, body: &[u8]) -> Response {
    // The last path segment names the kind (`/sync/thumbnail`); the route prefix is
    // whatever the manifest mounts this component on.
    let path = path.split('?').next().unwrap_or("");
    let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    match (method, name) {
        (Method::Get, "noop") => Response::builder().status(204).build(),
        (Method::Get, "variable") => match spin_sdk::variables::get("redis_address") {
            Ok(_) => Response::builder().status(204).build(),
            Err(e) => text(500, &format!("variable: {e}")),
        },
        (Method::Get, "settings") => match spin_adapters::load_settings() {
            Ok(_) => Response::builder().status(204).build(),
            Err(e) => text(500, &format!("settings: {e}")),
        },
        (Method::Post, "insert-publish") => insert_publish(),
        (Method::Post, kind) => run(kind, body).await,
        _ => text(
            405,
            "POST /sync/{kind}, POST /sync/insert-publish, GET /sync/settings, GET /sync/variable or GET /sync/noop",
        ),
    }
}

/// Validates and runs `kind` on the JSON `body`, as the intake and the worker would
/// between them.
async fn run(kind: &str, body: &[u8]) -> Response {
    let registry = Registry::builtin();
    let Some(kind) = registry.get(kind) else {
        return text(404, &format!("unknown kind {kind:?}"));
    };
    let input: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return text(400, &format!("body is not JSON: {e}")),
    };
    if let Err(e) = kind.validate(&input) {
        return text(422, &e.to_string());
    }
    match kind.run(&input, &mut InRequest).await {
        Ok(out) => Response::builder()
            .status(200)
            .header("content-type", out.content_type)
            .body(out.bytes)
            .build(),
        Err(e) => text(500, &e.to_string()),
    }
}

/// The floor of an acknowledgement: insert one new key, open Redis, publish once.
fn insert_publish() -> Response {
    let done = || -> anyhow::Result<()> {
        let address = spin_sdk::variables::get("redis_address")?;
        let store = spin_sdk::key_value::Store::open_default()?;
        store.set(&format!("floor:{}", JobId::new()), b"1")?;
        let redis = spin_sdk::redis::Connection::open(&address)?;
        redis.publish("floor", b"1".as_ref())?;
        Ok(())
    };
    match done() {
        Ok(()) => Response::builder().status(204).build(),
        Err(e) => text(500, &format!("insert-publish: {e}")),
    }
}

/// The run context of work done inside a request: the first and only attempt, progress
/// goes nowhere, and nobody can cancel it.
struct InRequest;

impl RunContext for InRequest {
    fn attempt(&self) -> u32 {
        1
    }

    fn progress(&mut self, _percent: u8, _message: Option<&str>) -> Result<(), Cancelled> {
        Ok(())
    }

    fn sleep(&mut self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        SpinClock.wait_ms(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }
}

fn text(status: u16, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(body.to_owned())
        .build()
}

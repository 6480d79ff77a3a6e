//! Black-box tests of the devhost: each test writes a `spin.toml` into its own
//! temporary directory, pointing at the fixture components in
//! `crates/devhost/fixtures`, runs `devhost up` (or real Spin via `SPIN_BIN`) as
//! a child process, and talks to it over HTTP and Redis only. Nothing here
//! links the devhost library: a test passing here means the same on Spin.
//!
//! Needs: the release devhost and the fixtures built
//! (`cargo build --release -p devhost` and
//! `cargo build --target wasm32-wasip2 --profile component -p fixture-http -p fixture-http-p3 -p fixture-redis`),
//! and `redis-server` on PATH.

mod support;

mod headers;
mod instances;
mod key_value;
mod lifecycle;
mod manifest_errors;
mod outbound_http;
mod outbound_redis;
mod redis_trigger;
mod routing;
mod variables;
mod wasi_keyvalue;
mod wasip3;

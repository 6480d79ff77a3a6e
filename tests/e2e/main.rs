//! The end-to-end suite: the HTTP contract of the README's "API (v1)", checked from outside.
//!
//! Each test starts its own `redis-server` and its own runtime (`target/release/devhost`,
//! or the binary `SPIN_BIN` names) on the repository's `spin.toml` and built `.wasm`
//! components, talks to it over HTTP only, and tears both down. Build first with
//! `make build`; run with `make test` or `cargo test --release -p e2e`.
//!
//! Contents:
//! - [`actions`]: read-only keys, `GET /me`, a job's input, retry as a new job, bulk
//!   cancel and retry over a filter.
//! - [`kinds`]: every job kind runs to `succeeded` and serves its result.
//! - [`bad_input`]: every class of bad request is a problem document and stores nothing.
//! - [`idempotency`]: `Idempotency-Key` replays and conflicts.
//! - [`cancel`]: cancelling queued, running and finished jobs.
//! - [`retries`]: attempts, backoff and dead jobs.
//! - [`caching`]: `ETag` and `304 Not Modified`.
//! - [`listing`]: newest first, cursors, status filter.
//! - [`results`]: results of unfinished and failed jobs.
//! - [`dashboard`]: the `/ui/` pages, and the dashboard driven in headless Chromium.
//! - [`deployments`]: the store on SQLite, and the hosted-cloud manifest driven by
//!   drain calls.
//! - [`outage`]: Redis down at submit: `503`, and nothing half-written.
//! - [`hostile`]: callback URLs into the deployment, image bombs, a 128 MiB worker,
//!   no storage key in what a client reads.
//! - [`health`]: `/healthz` and `/stats`.
//! - [`side_by_side`]: waiting kinds run side by side in one worker, so quick jobs
//!   never wait behind a long sleep.
//! - [`webhooks`]: completion webhooks, signed per Standard Webhooks and checked by the
//!   `standardwebhooks` package in a receiver on loopback.
//! - [`openapi`]: `GET /openapi.json` is valid OpenAPI 3.1, Schemathesis finds nothing
//!   wrong, and a client generated from it runs a job.
//! - [`tenants`]: API keys, tenant isolation, revocation, the hidden admin API, quotas,
//!   and fair claims across tenants.

mod actions;
mod bad_input;
mod caching;
mod cancel;
mod dashboard;
mod deployments;
mod health;
mod hostile;
mod idempotency;
mod kinds;
mod listing;
mod openapi;
mod outage;
mod results;
mod retries;
mod side_by_side;
mod tenants;
mod webhooks;

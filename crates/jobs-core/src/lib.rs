//! The async-jobs domain: what a job is, how it moves, how it is stored and queued.
//!
//! No Spin or wasmtime imports: everything here builds for the host and is tested with
//! plain `cargo test`; the components adapt it to Spin through the ports.
//!
//! # Layout
//!
//! Domain (pure values and rules):
//! - [`job`]: job ids, tenants, statuses, the job record and its state machine.
//! - [`kind`]: the [`kind::Kind`] trait and the registry of built-in kinds; one file per
//!   kind under `kinds/`.
//! - [`submission`]: a client's submission parsed and validated into a new job.
//! - [`codec`]: the one encoding of stored records and results, with round-trip tests.
//! - [`retry`]: exponential backoff with full jitter, capped.
//! - [`config`]: settings parsed from Spin variables.
//!
//! Application (uses the ports, no I/O of its own):
//! - [`ports`]: traits for the key-value store, Redis and the clock.
//! - [`keys`]: every key name, in one place.
//! - [`liveness`]: the key-value store asked only while Redis answers (a Spin bug makes
//!   a store call during a Redis outage hang for good).
//! - [`batch_reads`]: batch reads in one `MGET` when the key-value store is the queue's
//!   Redis (Spin's store reads one key per call).
//! - [`counter`]: shared counters in Redis, lent to the test-only `count` kind.
//! - [`queue`]: the durable Redis queue protocol (Lua scripts) behind the ports.
//! - [`resource`]: the job as the HTTP API shows it (links, timestamps).
//! - [`service`]: submit, status, result, cancel, list, stats, health, drain.
//! - [`openapi`]: the OpenAPI 3.1 description of the HTTP API (docs/openapi.json).
//! - `memory`: in-memory ports for unit tests (feature `testing`).
#![forbid(unsafe_code)]

pub mod api;
pub mod codec;
pub mod config;
pub mod context;
pub mod fingerprint;
pub mod job;
pub mod json_values;
pub mod kind;
pub mod kinds;
pub mod retry;
pub mod submission;

pub mod batch_reads;
pub mod counter;
pub mod keys;
pub mod liveness;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod openapi;
pub mod ports;
pub mod queue;
pub mod resource;
pub mod service;
pub mod tenancy;
pub mod webhook;
pub mod worker;

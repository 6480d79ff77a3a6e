//! The application services: what each HTTP endpoint and the worker do, written against
//! the ports and the [`Queue`] trait only, so they run the same on Spin, on a real Redis in
//! tests, and in memory in unit tests. No HTTP types here: the intake maps requests to
//! these calls and their errors to problems through `crate::api::problem`.
//!
//! - [`submit`]: `POST /jobs` (validate, record, enqueue, idempotency, compensation).
//! - [`jobs`]: `GET /jobs/{id}`, `GET /jobs/{id}/result`, `DELETE /jobs/{id}`, `GET /jobs`.
//! - [`ops`]: `GET /stats`, `GET /healthz`.
//! - [`drain`]: the worker's loop for one doorbell (it lives in `crate::worker`).
//! - [`internal`]: `POST /internal/drain`, the same loop behind a secret token.
//! - [`auth`]: the tenant of a request's API key; the admin and drain tokens.
//! - [`admin`]: `/admin/...`, tenants and their API keys.
//! - [`error`]: the typed errors of each service.

pub mod actions;
pub mod admin;
pub mod auth;
pub mod error;
pub mod internal;
pub mod jobs;
pub mod ops;
pub mod submit;

pub use crate::worker::{DrainReport, drain};
pub use auth::{Caller, KnownKeys, Origin, admin_allowed, authenticate, authenticate_remembering};
pub use internal::{drain_allowed, drain_now};
pub use jobs::{CancelResult, ListQuery, Page, cancel, get, list, redeliver, result};
pub use ops::{Health, Me, Stats, health, stats};
pub use submit::{AfterVouched, Submitted, after_vouched, submit, submit_vouched};

pub use crate::context::{Context, RING_WINDOW_MS, STALE_QUEUED_MS};

#[cfg(test)]
pub(crate) mod testing {
    //! A complete in-memory context for the service tests.

    use super::*;
    use crate::config::Settings;
    use crate::job::{Job, JobId, Tenant};
    use crate::kinds::Registry;
    use crate::memory::{ManualClock, MemoryCounter, MemoryKv, MemoryQueue, SeqRandom};
    use crate::ports::Clock;

    pub struct World {
        pub kv: MemoryKv,
        pub queue: MemoryQueue,
        pub clock: ManualClock,
        pub random: SeqRandom,
        pub settings: Settings,
        pub registry: Registry,
        pub counter: MemoryCounter,
    }

    impl World {
        pub fn new() -> Self {
            // Real time, so ids (stamped by the system clock) agree with the records.
            let clock = ManualClock::new(crate::ports::SystemClock.now_ms());
            World {
                kv: MemoryKv::new(),
                queue: MemoryQueue::new(clock.clone()),
                clock,
                random: SeqRandom::new(7),
                settings: Settings::default(),
                registry: Registry::builtin(),
                counter: MemoryCounter::new(),
            }
        }

        pub fn ctx(&self) -> Context<'_> {
            Context {
                kv: &self.kv,
                queue: &self.queue,
                clock: &self.clock,
                random: &self.random,
                settings: &self.settings,
                registry: &self.registry,
                counter: Some(&self.counter),
                http: None,
                tenant: Tenant::default_tenant(),
                quota: None,
            }
        }

        /// Submit a JSON body without an idempotency key; panics on error.
        pub fn submit(&self, body: serde_json::Value) -> JobId {
            submit(&self.ctx(), body.to_string().as_bytes(), None)
                .unwrap()
                .job
                .id
        }

        /// The store as the queue's Redis (`make up`'s setup): the queue writes the
        /// records that submits and finishes hand it, and reads those a claim takes.
        pub fn with_store_in_queue(self) -> Self {
            self.queue.writing_to(self.kv.clone());
            self.kv.be_queue_redis();
            self
        }

        /// A worker's drain of `budget_ms`, run to its end on the manual clock.
        pub fn drain(&self, budget_ms: u64) -> crate::worker::DrainReport {
            self.clock
                .block_on(crate::worker::drain(&self.ctx(), budget_ms))
        }

        /// [`World::drain`], saying whether to keep the watch.
        pub fn drain_with(
            &self,
            budget_ms: u64,
            watch: crate::worker::Watch,
        ) -> crate::worker::DrainReport {
            self.clock
                .block_on(crate::worker::drain_with(&self.ctx(), budget_ms, watch))
        }

        pub fn job(&self, id: &JobId) -> Job {
            self.ctx().load_job(id).unwrap().unwrap()
        }
    }
}

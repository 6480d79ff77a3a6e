//! The application services: what each HTTP endpoint and the worker do, written against
//! the ports and the [`Queue`] trait only, so they run the same on Spin, on a real Redis in
//! tests, and in memory in unit tests. No HTTP types here: the intake maps requests to
//! these calls and their errors to problems through [`error::problem`].
//!
//! - [`submit`]: `POST /jobs` (validate, record, enqueue, idempotency, compensation).
//! - [`jobs`]: `GET /jobs/{id}`, `GET /jobs/{id}/result`, `DELETE /jobs/{id}`, `GET /jobs`.
//! - [`ops`]: `GET /stats`, `GET /healthz`.
//! - [`drain`]: the worker's loop for one doorbell (it lives in `crate::worker`).
//! - [`internal`]: `POST /internal/drain`, the same loop behind a secret token.
//! - [`error`]: the typed errors and the one mapping to RFC 9457 problems.

pub mod error;
pub mod internal;
pub mod jobs;
pub mod ops;
pub mod submit;

pub use crate::worker::{DrainReport, drain};
pub use error::{ApiError, Problem, problem};
pub use internal::{drain_allowed, drain_now};
pub use jobs::{CancelResult, ListQuery, Page, cancel, get, list, result};
pub use ops::{Health, Stats, health, stats};
pub use submit::{Submitted, submit};

use crate::codec;
use crate::config::Settings;
use crate::job::{Job, JobId, Tenant};
use crate::keys;
use crate::kind::{Counter, Output, Registry};
use crate::ports::{Clock, KeyValue, Random};
use crate::queue::{Doorbell, Queue};
use error::StoreError;

/// A re-ring within this window of the last one is suppressed (see `lua/ring.lua`).
pub const RING_WINDOW_MS: u64 = 1_000;

/// A queued job older than this, when a client polls it, rings the doorbell again: its
/// doorbell may have been lost.
pub const STALE_QUEUED_MS: u64 = 2_000;

/// A job that cannot run, and why (its input stored apart is missing or unreadable).
pub(crate) type Unrunnable = (Job, String);

/// Everything a service needs, borrowed for one request or one doorbell.
pub struct Context<'a> {
    pub kv: &'a dyn KeyValue,
    pub queue: &'a dyn Queue,
    pub clock: &'a dyn Clock,
    pub random: &'a dyn Random,
    pub settings: &'a Settings,
    pub registry: &'a Registry,
    /// Counters lent to running kinds (only the test-only `count` kind uses them);
    /// `None` where the host has none.
    pub counter: Option<&'a dyn Counter>,
    /// The tenant of the request; `default` until authentication arrives.
    pub tenant: Tenant,
}

impl Context<'_> {
    pub(crate) fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    fn doorbell(&self, payload: impl Into<String>) -> Doorbell {
        Doorbell {
            channel: self.settings.queue_channel.clone(),
            payload: payload.into(),
        }
    }

    /// The record of `id`, `None` when absent.
    fn load_job(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        self.load_record(id, codec::decode_job)
    }

    /// The record of `id` and the result it carries inline, if any.
    fn load_job_and_result(&self, id: &JobId) -> Result<Option<(Job, Option<Output>)>, StoreError> {
        self.load_record(id, codec::decode_job_and_result)
    }

    /// The records of `ids`, in order, read in one call; a record that cannot be decoded
    /// is an `Err` in its place, a failed read fails the whole call.
    pub(crate) fn load_jobs(
        &self,
        ids: &[JobId],
    ) -> Result<Vec<Result<Option<Job>, StoreError>>, StoreError> {
        let keys: Vec<String> = ids.iter().map(|id| keys::job(&self.tenant, id)).collect();
        let values = self.kv.get_many(&keys)?;
        Ok(keys
            .into_iter()
            .zip(values)
            .map(|(key, value)| {
                value
                    .map(|bytes| codec::decode_job(&bytes))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt {
                        key,
                        reason: e.to_string(),
                    })
            })
            .collect())
    }

    /// Writes a job just submitted: its record, and its input under its own key when it is
    /// stored apart (both in one call). On an error, whatever was written is deleted
    /// (best effort), so a failed submit leaves no half-written job.
    fn save_new_job(&self, job: &Job) -> Result<(), StoreError> {
        if !job.input.is_apart() {
            return self.save_job(job);
        }
        let pairs = [
            (
                keys::input(&self.tenant, &job.id),
                codec::encode_input(&job.input),
            ),
            (keys::job(&self.tenant, &job.id), codec::encode_job(job)),
        ];
        self.kv.set_many(&pairs).map_err(|e| {
            self.forget_new_job(&job.id);
            StoreError::from(e)
        })
    }

    /// Deletes what [`Context::save_new_job`] wrote, best effort: for a submit that did
    /// not go through. What cannot be deleted is an orphan nothing refers to.
    fn forget_new_job(&self, id: &JobId) {
        let _ = self.kv.delete(&keys::job(&self.tenant, id));
        let _ = self.kv.delete(&keys::input(&self.tenant, id));
    }

    /// Gives each job whose input is stored apart its input, read in one call. The jobs
    /// whose input is missing or unreadable come back with the reason, worded for the
    /// client (it becomes the job's error): it names the job, never a storage key. The
    /// others are ready to run.
    pub(crate) fn load_inputs(
        &self,
        jobs: Vec<Job>,
    ) -> Result<(Vec<Job>, Vec<Unrunnable>), StoreError> {
        let keys: Vec<String> = jobs
            .iter()
            .filter(|job| job.input.is_apart())
            .map(|job| keys::input(&self.tenant, &job.id))
            .collect();
        if keys.is_empty() {
            return Ok((jobs, Vec::new()));
        }
        let mut values = self.kv.get_many(&keys)?.into_iter();
        let (mut ready, mut broken) = (Vec::with_capacity(jobs.len()), Vec::new());
        for mut job in jobs {
            if !job.input.is_apart() {
                ready.push(job);
                continue;
            }
            match values.next() {
                Some(Some(bytes)) => match codec::decode_input(&bytes) {
                    Ok(value) => {
                        job.input.load(value);
                        ready.push(job);
                    }
                    Err(e) => {
                        let why = format!("the stored input of job {} is unreadable: {e}", job.id);
                        broken.push((job, why));
                    }
                },
                Some(None) => {
                    let why = format!("the stored input of job {} is missing", job.id);
                    broken.push((job, why));
                }
                None => broken.push((job, "the input could not be read".to_owned())),
            }
        }
        Ok((ready, broken))
    }

    /// Writes the records of `jobs` in one call.
    pub(crate) fn save_jobs(&self, jobs: &[Job]) -> Result<(), StoreError> {
        let pairs: Vec<(String, Vec<u8>)> = jobs
            .iter()
            .map(|job| (keys::job(&self.tenant, &job.id), codec::encode_job(job)))
            .collect();
        self.kv.set_many(&pairs)?;
        Ok(())
    }

    fn load_record<T>(
        &self,
        id: &JobId,
        decode: impl FnOnce(&[u8]) -> Result<T, codec::CodecError>,
    ) -> Result<Option<T>, StoreError> {
        let key = keys::job(&self.tenant, id);
        let Some(bytes) = self.kv.get(&key)? else {
            return Ok(None);
        };
        decode(&bytes).map(Some).map_err(|e| StoreError::Corrupt {
            key,
            reason: e.to_string(),
        })
    }

    pub(crate) fn save_job(&self, job: &Job) -> Result<(), StoreError> {
        self.save_job_with_result(job, None)
    }

    /// Writes the record with a small result inside it (see [`codec::fits_inline`]).
    fn save_job_with_result(&self, job: &Job, result: Option<&Output>) -> Result<(), StoreError> {
        self.kv.set(
            &keys::job(&self.tenant, &job.id),
            &codec::encode_job_with_result(job, result),
        )?;
        Ok(())
    }

    /// Ring the doorbell again (rate limited); a failure only delays work, so it is
    /// ignored.
    pub(crate) fn ring_again(&self, why: &str) -> bool {
        self.queue
            .ring(&self.doorbell(why), RING_WINDOW_MS)
            .unwrap_or(false)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A complete in-memory context for the service tests.

    use super::*;
    use crate::memory::{ManualClock, MemoryCounter, MemoryKv, MemoryQueue, SeqRandom};

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
                tenant: Tenant::default_tenant(),
            }
        }

        /// Submit a JSON body without an idempotency key; panics on error.
        pub fn submit(&self, body: serde_json::Value) -> JobId {
            submit(&self.ctx(), body.to_string().as_bytes(), None)
                .unwrap()
                .job
                .id
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

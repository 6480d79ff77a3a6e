//! What every service and the worker borrow for one request or one doorbell: the ports,
//! the settings, the kinds and the tenant ([`Context`]), with the record reads and writes
//! they share, and the one error of the stores beneath them ([`StoreError`]).

use crate::codec;
use crate::config::Settings;
use crate::job::{Job, JobId, Tenant};
use crate::keys;
use crate::kind::{Counter, Output};
use crate::kinds::Registry;
use crate::ports::{Clock, HttpPost, KeyValue, PortError, Random};
use crate::queue::{Doorbell, Queue, QueueError};
use crate::tenancy::QuotaSeen;

pub use crate::queue::RING_WINDOW_MS;

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
    /// Outbound HTTP for webhook deliveries; `None` where the host has none (deliveries
    /// then fail and are retried on their schedule).
    pub http: Option<&'a dyn HttpPost>,
    /// The tenant of the request (the worker serves every tenant: it goes by the tenant
    /// of each job, never by this).
    pub tenant: Tenant,
    /// Where the tenant stood against its quota when the request's key was looked up, so
    /// that a submission over it is refused before anything is written; `None` when
    /// nothing was looked up (the submit script checks the quota in any case).
    pub quota: Option<QuotaSeen>,
}

impl Context<'_> {
    pub(crate) fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    pub(crate) fn doorbell(&self, payload: impl Into<String>) -> Doorbell {
        Doorbell {
            channel: self.settings.queue_channel.clone(),
            payload: payload.into(),
        }
    }

    /// The record of `id`, `None` when absent or past retention ([`Context::expired`]):
    /// the intake's read.
    pub(crate) fn load_job(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        let job = self.load_record(id, codec::decode_job)?;
        self.unless_expired(job, |job| job)
    }

    /// The record of job `id` of `tenant` (the worker's read: it serves every tenant).
    pub(crate) fn load_job_of(
        &self,
        tenant: &Tenant,
        id: &JobId,
    ) -> Result<Option<Job>, StoreError> {
        self.load_record_of(tenant, id, codec::decode_job)
    }

    /// The record of `id` as stored, past retention or not: for a replay the submit
    /// script has just found its key held by.
    pub(crate) fn load_stored_job(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        self.load_record(id, codec::decode_job)
    }

    /// The record of `id` and the result it carries inline, if any; `None` as for
    /// [`Context::load_job`].
    pub(crate) fn load_job_and_result(
        &self,
        id: &JobId,
    ) -> Result<Option<(Job, Option<Output>)>, StoreError> {
        let found = self.load_record(id, codec::decode_job_and_result)?;
        self.unless_expired(found, |(job, _)| job)
    }

    /// `found`, unless its job is past retention: then `None`, and the doorbell rings so
    /// that a drain removes it (an idle deployment runs none otherwise).
    fn unless_expired<T>(
        &self,
        found: Option<T>,
        job: impl Fn(&T) -> &Job,
    ) -> Result<Option<T>, StoreError> {
        match found {
            Some(value) if self.expired(job(&value))? => {
                self.ring_again("retention");
                Ok(None)
            }
            found => Ok(found),
        }
    }

    /// Whether `job` is past retention: it finished at or before [`Context::retention_cutoff`]
    /// and no webhook delivery of it is under way (one that is keeps it, as retention
    /// does). Such a job reads as gone before retention has removed it, so a finished job
    /// is never shown longer than `job_ttl_seconds`, however long the deployment stays
    /// idle. One or two queue reads, only for a job past the cutoff by its record.
    pub(crate) fn expired(&self, job: &Job) -> Result<bool, StoreError> {
        let past = job.status.is_terminal()
            && job
                .finished_at
                .is_some_and(|at| at.as_ms() <= self.retention_cutoff(self.now()));
        if !past {
            return Ok(false);
        }
        // As the submit script judges its idempotency key: by the queue's finish time, a
        // little later than the record's (it is stamped when the batch's outcomes are
        // sent) and moved on while a delivery goes on. Known but not finished there yet
        // (its finish not sent: a worker died in between): held, as the script holds it.
        let cutoff = self.retention_cutoff(self.now());
        match self.queue.finished_ms(&job.tenant, &job.id)? {
            Some(at) if at > cutoff => return Ok(false),
            None if self.queue.knows(&job.tenant, &job.id)? => return Ok(false),
            _ => {}
        }
        if job.callback_url.is_none() {
            return Ok(true);
        }
        let hook = self.queue.hook(&job.tenant, &job.id)?;
        Ok(hook.is_none_or(|h| h.state != "pending"))
    }

    /// Jobs finished at or before this time (ms) are past retention at `now`:
    /// `job_ttl_seconds` before it.
    pub(crate) fn retention_cutoff(&self, now: u64) -> u64 {
        now.saturating_sub(self.settings.job_ttl_seconds.saturating_mul(1_000))
    }

    /// The records of `ids`, in order, read in one call; a record that cannot be decoded
    /// is an `Err` in its place, a failed read fails the whole call.
    pub(crate) fn load_jobs(
        &self,
        tenant: &Tenant,
        ids: &[JobId],
    ) -> Result<Vec<Result<Option<Job>, StoreError>>, StoreError> {
        let keys: Vec<String> = ids.iter().map(|id| keys::job(tenant, id)).collect();
        let values = self.kv.get_many(&keys)?;
        Ok(self.decode_jobs(tenant, ids, values))
    }

    /// The records of `tenant`'s `ids` from the stored `values`, in order, as
    /// [`Context::load_jobs`] reads them.
    pub(crate) fn decode_jobs(
        &self,
        tenant: &Tenant,
        ids: &[JobId],
        values: Vec<Option<Vec<u8>>>,
    ) -> Vec<Result<Option<Job>, StoreError>> {
        ids.iter()
            .zip(values)
            .map(|(id, value)| {
                value
                    .map(|bytes| codec::decode_job(&bytes))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt {
                        key: keys::job(tenant, id),
                        reason: e.to_string(),
                    })
            })
            .collect()
    }

    /// Writes a job just submitted: its record, and its input under its own key when it is
    /// stored apart (both in one call). On an error, whatever was written is deleted
    /// (best effort), so a failed submit leaves no half-written job.
    pub(crate) fn save_new_job(&self, job: &Job) -> Result<(), StoreError> {
        if !job.input.is_apart() {
            return self.save_job(job);
        }
        self.kv.set_many(&Self::new_job_records(job)).map_err(|e| {
            self.forget_new_job(job);
            StoreError::from(e)
        })
    }

    /// What [`Context::save_new_job`] writes, as key-value pairs: the input stored apart
    /// (if it is) and the record.
    pub(crate) fn new_job_records(job: &Job) -> Vec<(String, Vec<u8>)> {
        let record = (keys::job(&job.tenant, &job.id), codec::encode_job(job));
        if !job.input.is_apart() {
            return vec![record];
        }
        let input = (
            keys::input(&job.tenant, &job.id),
            codec::encode_input(&job.input),
        );
        vec![input, record]
    }

    /// Deletes what [`Context::save_new_job`] wrote, best effort: for a submit that did
    /// not go through. What cannot be deleted is an orphan nothing refers to.
    pub(crate) fn forget_new_job(&self, job: &Job) {
        let _ = self.kv.delete(&keys::job(&job.tenant, &job.id));
        let _ = self.kv.delete(&keys::input(&job.tenant, &job.id));
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
            .map(|job| keys::input(&job.tenant, &job.id))
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
                Some(Some(bytes)) => match codec::decode_input(bytes) {
                    Ok(text) => {
                        job.input.load(text);
                        ready.push(job);
                    }
                    Err(e) => {
                        let why = crate::job::unreadable_input(&job.id, e);
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
            .map(|job| (keys::job(&job.tenant, &job.id), codec::encode_job(job)))
            .collect();
        self.kv.set_many(&pairs)?;
        Ok(())
    }

    fn load_record<T>(
        &self,
        id: &JobId,
        decode: impl FnOnce(&[u8]) -> Result<T, codec::CodecError>,
    ) -> Result<Option<T>, StoreError> {
        self.load_record_of(&self.tenant, id, decode)
    }

    fn load_record_of<T>(
        &self,
        tenant: &Tenant,
        id: &JobId,
        decode: impl FnOnce(&[u8]) -> Result<T, codec::CodecError>,
    ) -> Result<Option<T>, StoreError> {
        let key = keys::job(tenant, id);
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
    pub(crate) fn save_job_with_result(
        &self,
        job: &Job,
        result: Option<&Output>,
    ) -> Result<(), StoreError> {
        self.kv.set(
            &keys::job(&job.tenant, &job.id),
            &codec::encode_job_with_result(job, result),
        )?;
        Ok(())
    }

    /// Ring the doorbell again (rate limited); a failure only delays work, so it is
    /// ignored.
    pub(crate) fn ring_again(&self, why: &str) -> bool {
        self.ring_again_within(why, RING_WINDOW_MS)
    }

    /// [`Context::ring_again`], suppressed only by a ring within `window_ms`.
    pub(crate) fn ring_again_within(&self, why: &str, window_ms: u64) -> bool {
        self.queue
            .ring(&self.doorbell(why), window_ms)
            .unwrap_or(false)
    }
}

/// An infrastructure failure under a service: the store or the queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("key-value store: {0}")]
    Kv(#[source] PortError),
    #[error("queue: {0}")]
    Queue(#[source] QueueError),
    /// A stored value could not be decoded: a bug or a foreign writer, never the client.
    #[error("corrupt value at {key}: {reason}")]
    Corrupt { key: String, reason: String },
}

impl From<PortError> for StoreError {
    fn from(e: PortError) -> Self {
        StoreError::Kv(e)
    }
}

impl From<QueueError> for StoreError {
    fn from(e: QueueError) -> Self {
        StoreError::Queue(e)
    }
}

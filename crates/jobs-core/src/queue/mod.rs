//! The durable queue: which jobs wait, which run under whose lease, which are finished,
//! and the indexes for listing and stats. The [`Queue`] trait is what the services use;
//! [`RedisQueue`] implements it with the Lua scripts of docs/architecture.md over the
//! [`crate::ports::Redis`] port, and [`crate::memory::MemoryQueue`] in memory for unit
//! tests. [`contract`] holds the behaviour both must show. No key-value access here: the
//! job record is the services' business.

#[cfg(any(test, feature = "testing"))]
pub mod contract;
pub mod hooks;
mod range;
mod redis;
pub mod scripts;
pub(crate) mod wire;

pub use hooks::{HookClaim, HookClaims, HookDone, HookState, Redeliver, SecretChange, SecretsNow};
pub use range::{IdPrefix, IdRange, InvalidIdPrefix};
pub use redis::RedisQueue;
pub use wire::is_noscript;

use crate::job::{JobId, Status, Tenant};
use crate::ports::PortError;

/// Why a queue operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// Redis could not be reached or answered with an error.
    #[error(transparent)]
    Port(#[from] PortError),
    /// A script answered something this version does not understand.
    #[error("unexpected reply from the {script} script: {reply}")]
    Reply { script: &'static str, reply: String },
}

/// A new job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    /// Whose job it is.
    pub tenant: Tenant,
    pub id: JobId,
    /// Its kind (a registered name), for the listing by kind.
    pub kind: String,
    /// Now, in ms since the epoch.
    pub now_ms: u64,
    /// When the job may first run; at or before `now_ms` means at once.
    pub due_ms: u64,
    /// The idempotency key to claim with the job, if the client sent one.
    pub idempotency: Option<IdempotencyClaim>,
    /// The doorbell channel and message published with the job.
    pub doorbell: Doorbell,
    /// The most jobs the tenant may have queued (waiting or delayed) when its own
    /// settings in Redis name no `max_queued_jobs`: the app-wide default.
    pub max_queued: u64,
    /// Key-value pairs written with the job, only if it is enqueued (its record, and its
    /// input stored apart): when the store is the queue's Redis, the submit writes them
    /// itself, all or nothing. Empty when the store holds them already.
    pub records: Vec<(String, Vec<u8>)>,
    /// The API key the submission came with, when it was not looked up for this request
    /// (the instance checked it against what it read earlier): the submit makes sure, in
    /// the same atomic step and before anything else, that the key still belongs to the
    /// tenant, with that hash, unrevoked and allowed to submit, and refuses the job
    /// otherwise ([`SubmitOutcome::KeyRefused`]).
    pub key: Option<KeyProof>,
}

/// An API key as an instance last read it: its id and the hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProof {
    pub id: String,
    pub hash: String,
}

/// Which jobs a listing wants: one status, one kind, both, or all; and of those, the ids
/// in a range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub kind: Option<String>,
    /// The ids wanted: a creation-time window, an id prefix, or both ([`IdRange::ALL`]:
    /// any). The listing's cursor narrows it further; it bounds the scan of the index
    /// itself, so ids outside it cost nothing (nor count towards [`LIST_SCAN_MAX`]).
    pub ids: IdRange,
}

/// A listing's ids, and where its scan stopped when it stopped early.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listed {
    pub ids: Vec<JobId>,
    /// Set when a listing by kind and status looked at [`LIST_SCAN_MAX`] ids before
    /// `limit` matched: the next listing goes on strictly after it.
    pub scanned_to: Option<JobId>,
}

/// How long a submission's doorbell stays *armed* at most (`aj:armed`): while it is, later
/// submissions do not ring again, because a drain that heard it will still claim their
/// jobs. A claim that finds no tenant in line disarms it, so the next submission rings.
/// The expiry bounds what a doorbell nobody heard (no worker listening, or a worker that
/// died mid-drain) holds back. `lua/prelude.lua` names the same value `ARMED_MS`.
pub const DOORBELL_ARMED_MS: u64 = 1_000;

/// A re-ring within this window of the last one is suppressed (see `lua/ring.lua`).
pub const RING_WINDOW_MS: u64 = 1_000;

/// Most ids one listing by kind and status looks at in Redis (each a `ZSCORE` in the
/// script), so that a rare combination cannot make one call scan every job.
pub const LIST_SCAN_MAX: u32 = 2_000;

/// An idempotency key claimed by a submission: the key and the fingerprint of the
/// request body. The claim lasts as long as its job: retention removes both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub key: String,
    pub fingerprint: String,
    /// The retention cutoff now (ms): a key whose job finished at or before it, with no
    /// webhook delivery under way, is free again, though retention may not have removed
    /// the job yet (it reads as gone: `Context::expired`).
    pub retention_cutoff_ms: u64,
}

/// A doorbell: a channel and the message to publish on it. The message is informative
/// only; workers never trust it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doorbell {
    pub channel: String,
    pub payload: String,
}

/// What an idempotency key names when a submission finds it taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The job the key was first used for (unparsed: the services decide what to do with a
    /// value they cannot read).
    pub id: String,
    pub fingerprint: String,
}

impl IdempotencyRecord {
    /// The stored form, `{id} {fingerprint}`.
    pub fn encode(id: &JobId, fingerprint: &str) -> String {
        format!("{} {fingerprint}", id.as_str())
    }

    /// Read the stored form back; a value without a space yields an empty fingerprint.
    pub fn decode(value: &str) -> Self {
        let (id, fingerprint) = value.split_once(' ').unwrap_or((value, ""));
        Self {
            id: id.to_owned(),
            fingerprint: fingerprint.to_owned(),
        }
    }
}

/// The outcome of [`Queue::submit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Enqueued, indexed and the doorbell rung.
    Enqueued,
    /// The idempotency key was taken; nothing was changed.
    Duplicate(IdempotencyRecord),
    /// The tenant has `limit` jobs queued already (`queued`); nothing was changed.
    Full { queued: u64, limit: u64 },
    /// The [`Enqueue::key`] is no longer what the instance read: nothing was changed.
    KeyRefused,
}

/// The outcome of [`Queue::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Jobs now leased to the caller's token, oldest first, and entries of the ready list
    /// that were not job ids (removed, for the caller's log). At least one of the two is
    /// not empty.
    Claimed {
        /// Whose jobs they are: one claim takes the jobs of one tenant.
        tenant: Tenant,
        jobs: Vec<ClaimedJob>,
        invalid: Vec<String>,
    },
    /// Nothing ready. When the earliest delayed job becomes due, and when the earliest
    /// lease expires, if any.
    Empty {
        next_due_ms: Option<u64>,
        next_expiry_ms: Option<u64>,
    },
}

/// The records read with a claim ([`Queue::finish_and_claim_reading`]), one per claimed
/// job in order: what the key-value store holds under `keys::job`, `None` when nothing.
pub type ClaimedRecords = Vec<Option<Vec<u8>>>;

/// One job of a [`Claim::Claimed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimedJob {
    pub id: JobId,
    /// A client asked to cancel it while it was queued.
    pub cancel_requested: bool,
}

impl Claim {
    /// A claim of no job at all, as `max` 0 answers.
    pub const NOTHING: Claim = Claim::Empty {
        next_due_ms: None,
        next_expiry_ms: None,
    };
}

/// The outcome of [`Queue::heartbeat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// The lease is extended; `cancel_requested` says whether a client asked to cancel.
    Owned { cancel_requested: bool },
    /// Another worker holds the job now (the lease expired): stop without writing.
    Lost,
}

/// Whether a token-checked operation found the caller still holding the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    Owned,
    Lost,
}

/// A job to finish in the queue: [`Queue::finish`]'s arguments but the time, held by the
/// worker until its next round trip ([`Queue::finish_and_claim`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub tenant: Tenant,
    pub id: JobId,
    /// The lease token the job was claimed with.
    pub token: String,
    /// The final status: succeeded, failed or cancelled.
    pub status: Status,
    /// A job that failed for good (counted as dead).
    pub dead: bool,
    /// Its event goes to the webhook outbox (it has a callback URL).
    pub hook: bool,
    /// Its final record (key and value), written with the finish only if the token still
    /// holds the job: when the store is the queue's Redis. `None` when the store has it.
    pub record: Option<(String, Vec<u8>)>,
}

/// The outcome of [`Queue::retry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Queued again for its due time.
    Scheduled,
    /// A cancel request arrived meanwhile: nothing changed, the lease is still held.
    /// Write the cancelled record, then finish the job as cancelled.
    CancelRequested,
    /// The lease was lost; nothing changed.
    Lost,
}

/// The outcome of [`Queue::cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was queued; it left the queue and is indexed as cancelled.
    Cancelled,
    /// It is running; the worker will stop at its next heartbeat.
    Requested,
    /// It is running, and its cancel was asked before: nothing changed.
    RequestedBefore,
    /// It was cancelled before, at `at_ms` (`None`: a time the queue no longer has). A
    /// record written after this says that time, not the moment of the second cancel.
    AlreadyCancelled { at_ms: Option<u64> },
    /// It finished (succeeded or failed) first.
    Finished(Status),
    /// The queue does not know the id.
    Unknown,
}

/// Queue-side numbers for `GET /stats`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Jobs per status index, in [`Status::ALL`] order.
    pub by_status: Vec<(Status, u64)>,
    /// Jobs ready to be claimed (queued, not delayed).
    pub ready: u64,
    /// Delayed jobs (submitted with a delay, or waiting to retry).
    pub delayed: u64,
    /// Delayed jobs already due (waiting only for a worker).
    pub delayed_due: u64,
    /// Running jobs under a lease.
    pub leased: u64,
    /// Leases past their deadline (a worker died).
    pub leases_expired: u64,
    /// Retries scheduled since the queue began.
    pub retries: u64,
    /// Jobs that ended failed.
    pub dead: u64,
    /// The ready job nearest the claiming end of the ready list (`None` as well when
    /// more than a thousand ids of jobs cancelled while ready stand before it).
    pub oldest_ready: Option<JobId>,
    /// Due time of the most overdue delayed job.
    pub oldest_due_ms: Option<u64>,
    /// Webhook deliveries on their way (due now or later) and given up on.
    pub hooks_pending: u64,
    pub hooks_failed: u64,
    /// Jobs submitted and finished per minute: the last [`THROUGHPUT_MINUTES`] ending
    /// with the current (partial) one, oldest first. Minutes before the epoch are left
    /// out (a clock in 1970 is a test's).
    pub throughput: Vec<MinuteCounts>,
}

/// How many minutes [`QueueStats::throughput`] covers.
pub const THROUGHPUT_MINUTES: u32 = 10;

/// One minute, in ms.
pub const MINUTE_MS: u64 = 60_000;

/// One minute of [`QueueStats::throughput`], counted from the indexes (no counter is
/// written for it), so jobs retention removed no longer count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteCounts {
    /// The minute's first ms since the epoch (a multiple of [`MINUTE_MS`]).
    pub start_ms: u64,
    /// Jobs whose id was made in the minute (ids hold their creation time).
    pub submitted: u64,
    /// Jobs that finished in the minute: succeeded, failed or cancelled.
    pub finished: u64,
}

impl QueueStats {
    /// True when work waits for a worker right now.
    pub fn work_waiting(&self) -> bool {
        self.ready > 0 || self.delayed_due > 0 || self.leases_expired > 0
    }
}

/// Ids of one tenant finished before a cutoff ([`Queue::expired`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub tenant: Tenant,
    pub ids: Vec<JobId>,
}

/// The queue protocol. Every method is one round trip to Redis and atomic there. The
/// methods about one job or one tenant's jobs name the tenant; a claim and the retention
/// sweep serve every tenant, fairly: each claim takes the jobs of the tenant whose turn
/// it is, and a tenant that had its turn and has more goes to the end of the order.
pub trait Queue {
    /// Claim the idempotency key (if any), check the tenant's quota, enqueue, index as
    /// queued, give the tenant a turn, ring the doorbell unless it is armed
    /// ([`DOORBELL_ARMED_MS`]).
    fn submit(&self, job: &Enqueue) -> Result<SubmitOutcome, QueueError>;
    /// Whether the queue knows `id`: a submit of it took effect (and it has not been
    /// forgotten since). How the intake learns the outcome of a submit whose reply was
    /// lost.
    fn knows(&self, tenant: &Tenant, id: &JobId) -> Result<bool, QueueError>;
    /// When retention counts `id` as finished (ms; its entry in `finished`, moved on while
    /// a webhook delivery goes on), `None` when it is not there: what the submit script
    /// compares with the retention cutoff, so that a read agrees with it.
    fn finished_ms(&self, tenant: &Tenant, id: &JobId) -> Result<Option<u64>, QueueError>;
    /// Take the tenant whose turn it is, move its due delayed jobs and expired leases to
    /// ready, then lease up to `max` of its oldest ready jobs to `token` until
    /// `lease_until_ms`. `max` 0 does nothing and answers [`Claim::NOTHING`]. A claim
    /// that finds no tenant in line disarms the doorbell.
    fn claim(
        &self,
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> Result<Claim, QueueError>;
    /// Extend the lease if `token` still owns it.
    fn heartbeat(
        &self,
        tenant: &Tenant,
        id: &JobId,
        token: &str,
        lease_until_ms: u64,
    ) -> Result<Heartbeat, QueueError> {
        let beats =
            self.heartbeat_batch(tenant, token, std::slice::from_ref(id), lease_until_ms)?;
        beats.first().copied().ok_or(QueueError::Reply {
            script: "heartbeat",
            reply: "no answer for the job".into(),
        })
    }
    /// Extend the leases of those of `ids` that `token` still owns to `lease_until_ms`,
    /// and say which it owns, in order. How a worker makes sure, before it writes the
    /// outcomes it kept back, that each job is still its own.
    fn renew(
        &self,
        tenant: &Tenant,
        token: &str,
        ids: &[JobId],
        lease_until_ms: u64,
    ) -> Result<Vec<bool>, QueueError> {
        let beats = self.heartbeat_batch(tenant, token, ids, lease_until_ms)?;
        Ok(beats
            .iter()
            .map(|beat| matches!(beat, Heartbeat::Owned { .. }))
            .collect())
    }
    /// [`Queue::heartbeat`] for each of `ids` (a worker's whole batch) in one round trip,
    /// in order: the leases `token` still owns are extended, and each answer says whether
    /// a client asked to cancel that job. Jobs waiting behind a slow one keep their
    /// leases while it runs, and learn of cancels without asking again.
    fn heartbeat_batch(
        &self,
        tenant: &Tenant,
        token: &str,
        ids: &[JobId],
        lease_until_ms: u64,
    ) -> Result<Vec<Heartbeat>, QueueError>;
    /// Finish each of `finishes` (release the lease, index the final status; `dead` counts
    /// a job that failed for good), then [`Queue::claim`], atomically and in one round
    /// trip: a worker that goes on draining finishes one batch and claims the next
    /// together (`max` 0: it only finishes). `now_ms` is both the finish time and the
    /// claim's now. The ownerships are in the order of `finishes`; a status that is not
    /// final refuses the whole call before anything changes.
    fn finish_and_claim(
        &self,
        finishes: &[Finish],
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> Result<(Vec<Ownership>, Claim), QueueError>;
    /// [`Queue::finish_and_claim`], reading the claimed jobs' records in the same atomic
    /// step, for a key-value store that is this queue's Redis
    /// ([`crate::ports::KeyValue::is_queue_redis`]): it saves the read that follows a
    /// claim. The records are in the order of the claimed jobs (none when nothing was).
    fn finish_and_claim_reading(
        &self,
        finishes: &[Finish],
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> Result<(Vec<Ownership>, Claim, ClaimedRecords), QueueError>;
    /// Release the lease and queue the job again at `due_ms`, unless a cancel was
    /// requested meanwhile ([`RetryOutcome::CancelRequested`]: nothing changes).
    fn retry(
        &self,
        tenant: &Tenant,
        id: &JobId,
        token: &str,
        due_ms: u64,
    ) -> Result<RetryOutcome, QueueError>;
    /// Cancel a queued job (its event to the outbox when `hook`), or request cancellation
    /// of a running one.
    fn cancel(
        &self,
        tenant: &Tenant,
        id: &JobId,
        now_ms: u64,
        hook: bool,
    ) -> Result<CancelOutcome, QueueError>;
    /// Counts per status, queue depth, counters and the throughput of the last minutes
    /// of one tenant.
    fn stats(&self, tenant: &Tenant, now_ms: u64) -> Result<QueueStats, QueueError>;
    /// Up to `limit` ids finished at or before `cutoff_ms`, oldest first, of the tenant
    /// whose earliest finished job is oldest; `None` when no tenant has any. A job whose
    /// webhook delivery is still under way is not among them: it comes up again just
    /// after the delivery's next attempt (or the end of its lease), as seen at `now_ms`.
    fn expired(
        &self,
        now_ms: u64,
        cutoff_ms: u64,
        limit: u32,
    ) -> Result<Option<Expired>, QueueError>;
    /// Remove ids of `tenant` from the queue and every index.
    fn forget(&self, tenant: &Tenant, ids: &[JobId]) -> Result<(), QueueError>;
    /// Up to `limit` ids of `tenant` that `filter` wants, newest first, in its range and
    /// strictly older than `before` when given: from the index of the kind (keeping those
    /// also in the status's index when both are given, looking at most at
    /// [`LIST_SCAN_MAX`] ids), of the status, or of all jobs. An empty range lists none.
    fn list(
        &self,
        tenant: &Tenant,
        filter: &ListFilter,
        before: Option<&JobId>,
        limit: u32,
    ) -> Result<Listed, QueueError>;
    /// Ring the doorbell unless it was rung in the last `window_ms`. True when rung.
    fn ring(&self, doorbell: &Doorbell, window_ms: u64) -> Result<bool, QueueError>;
    /// Take (or keep) the watch for work due later for `ttl_ms`: true when `token` holds
    /// it now. One worker at a time keeps the watch, so the others can stop.
    fn watch(&self, token: &str, ttl_ms: u64) -> Result<bool, QueueError>;
    /// Check that the queue's backend answers.
    fn ping(&self) -> Result<(), QueueError>;
    /// Lease up to `max` due webhook deliveries (every tenant's, oldest first) to `token`
    /// until `lease_until_ms`, each counted as an attempt.
    fn claim_hooks(
        &self,
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> Result<HookClaims, QueueError>;
    /// Record how the attempt of `claim` went, if `token` still holds it.
    fn hook_done(
        &self,
        claim: &HookClaim,
        token: &str,
        outcome: HookDone,
        last_status: Option<u16>,
        now_ms: u64,
    ) -> Result<Ownership, QueueError>;
    /// Deliver the event of a finished job again, from the first attempt.
    fn redeliver_hook(
        &self,
        tenant: &Tenant,
        id: &JobId,
        now_ms: u64,
    ) -> Result<Redeliver, QueueError>;
    /// The delivery state of a job's event, if it has one.
    fn hook(&self, tenant: &Tenant, id: &JobId) -> Result<Option<HookState>, QueueError>;
    /// A tenant's webhook signing secrets after `change` (`new` is the secret to set):
    /// the current one and, during a rotation, the previous one.
    fn hook_secrets(
        &self,
        tenant: &Tenant,
        change: SecretChange,
        new: &str,
    ) -> Result<SecretsNow, QueueError>;
}

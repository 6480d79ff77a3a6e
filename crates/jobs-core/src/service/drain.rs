//! The worker's loop for one doorbell (docs/architecture.md steps 2 to 8): retention
//! sweep (at most a third of the budget), then claim and run jobs until the queue is
//! empty or the time budget is spent, then more retention if time is left, then ring
//! again if work (or a retention backlog) remains. A record that cannot be read is
//! reported and skipped; nothing here panics on stored data.
//!
//! Round trips: a job's queue-side finish goes out with the next claim
//! (`finish_and_claim`), and the lease is checked with a heartbeat before the outcome is
//! written only when less than half of it is left (docs/architecture.md step 4 says why
//! that is as safe).
//!
//! Waiting: when nothing is ready but a delayed job becomes due (or a lease expires)
//! within the budget, the loop waits for it, claiming again at least every
//! [`POLL_MS`]. A delayed job due within one more budget makes the worker ring again at
//! the end, so the next worker waits for it. Later ones are picked up by the next doorbell:
//! any submit, a status poll of the job, or `GET /stats`.

use std::time::Duration;

use serde::Serialize;

use super::Context;
use super::error::StoreError;
use crate::codec;
use crate::job::{ErrorInfo, ErrorType, Job, JobId, Progress, Refusal, Status, Timestamp};
use crate::keys;
use crate::kind::{Cancelled, Counter, Output, RunContext, RunError};
use crate::queue::{Claim, ClaimedJob, Finish, Heartbeat, Ownership, RetryOutcome};
use crate::retry::RetryPolicy;

/// Longest wait between claims while waiting for a delayed job due within the budget.
pub const POLL_MS: u64 = 100;
/// How often the worker that keeps the watch for work due after its budget claims again:
/// while it watches, the doorbell messages of new submissions wait in its subscription,
/// so this bounds what they wait (other workers get them at once).
pub const WATCH_POLL_MS: u64 = 20;
/// Progress is written (and the lease extended) at most this often.
pub const PROGRESS_INTERVAL_MS: u64 = 200;
/// Finished jobs deleted per drain at most (retention).
pub const SWEEP_LIMIT: u32 = 100;
/// Most jobs claimed in one round trip (see [`next_batch`]).
pub const MAX_BATCH: u32 = 32;
/// A batch whose jobs averaged at most this long is followed by a larger one.
pub const QUICK_JOB_MS: u64 = 2;
/// Outcomes of a batch are written together at its end, or as soon as the batch has
/// run this long, so a slow job never hides the outcomes of the quick ones before it.
pub const FLUSH_MS: u64 = 50;

/// Why a drain stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Nothing ready, nothing due within the budget.
    #[default]
    Empty,
    /// The time budget was spent (work may remain: the doorbell was rung again).
    Budget,
    /// The store or the queue failed; see `error`.
    Failed,
}

/// What one drain did, for the worker's one-line log.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DrainReport {
    pub claimed: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub retried: u32,
    pub cancelled: u32,
    /// Claimed jobs another worker took over (lease lost): left alone.
    pub lost: u32,
    /// Jobs found finished in their record but not in the queue (a worker died between
    /// the two writes): finished in the queue only, not run again.
    pub repaired: u32,
    /// Claimed ids without a usable record: dropped or failed.
    pub skipped: u32,
    /// Finished jobs deleted by retention.
    pub swept: u32,
    pub rang_again: bool,
    pub stop: Stop,
    pub elapsed_ms: u64,
    /// Problems worth a log line each (malformed records, failed sweeps).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Drain the queue for at most `budget_ms` (at least one claim is always made), as a
/// worker woken by the doorbell does: when work becomes due only after the budget (a
/// delay, a retry's backoff), this worker keeps the watch for it unless another one does
/// (see [`WATCH_POLL_MS`]).
pub fn drain(ctx: &Context<'_>, budget_ms: u64) -> DrainReport {
    drain_with(ctx, budget_ms, Watch::Keep)
}

/// Whether a drain keeps the watch for work due after its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// A worker: nothing else will ring when delayed work becomes due.
    Keep,
    /// `POST /internal/drain`: the scheduler that calls it is the timer.
    Leave,
}

/// [`drain`], saying whether to keep the watch.
pub fn drain_with(ctx: &Context<'_>, budget_ms: u64, watch: Watch) -> DrainReport {
    let start = ctx.now();
    let deadline = start.saturating_add(budget_ms);
    let mut report = DrainReport::default();
    // Retention first, but for at most a third of the budget, so that both retention
    // and the queue keep up with a steady stream of jobs.
    let mut more_to_sweep = sweep(ctx, &mut report, start.saturating_add(budget_ms / 3));

    let mut ring_for_due = false;
    let watch_token = ctx.random.token();
    let mut watching = false;
    // The queue-side finishes of the last batch, sent with the next claim when the loop
    // goes on (one round trip for both), alone when it stops.
    let mut pending: Vec<Pending> = Vec::new();
    let mut batch = 1;
    loop {
        let now = ctx.now();
        let token = ctx.random.token();
        let lease_until = now.saturating_add(ctx.settings.lease_ms);
        let claim = match finish_and_claim(
            ctx,
            &mut pending,
            now,
            lease_until,
            &token,
            batch,
            &mut report,
        ) {
            Ok(claim) => claim,
            Err(e) => {
                // As a failed finish: the records are final, the leases expire, and the
                // next claim repairs the queue side.
                report.stop = Stop::Failed;
                report.error = Some(e);
                break;
            }
        };
        match claim {
            Claim::Claimed { jobs, invalid } => {
                for raw in invalid {
                    report.skipped += 1;
                    report.warnings.push(format!(
                        "dropped a ready entry that is not a job id: {raw:?}"
                    ));
                }
                if !jobs.is_empty() {
                    report.claimed += jobs.len() as u32;
                    let run_ms = match run_batch(ctx, &jobs, &token, lease_until, &mut report) {
                        Ok((p, run_ms)) => {
                            pending = p;
                            run_ms
                        }
                        Err(e) => {
                            // The jobs stay leased; their leases expire and they run again.
                            report.stop = Stop::Failed;
                            report.error = Some(format!("batch of {}: {e}", jobs.len()));
                            break;
                        }
                    };
                    batch = next_batch(batch, jobs.len(), run_ms);
                }
            }
            Claim::Empty {
                next_due_ms,
                next_expiry_ms,
            } => {
                let next = [next_due_ms, next_expiry_ms].into_iter().flatten().min();
                match next {
                    Some(at) if at < deadline => {
                        let wait = at.saturating_sub(now).clamp(1, POLL_MS);
                        ctx.clock
                            .sleep_ms(wait.min(deadline.saturating_sub(now)).max(1));
                        continue;
                    }
                    // Work due after this drain's deadline needs a doorbell then, and none
                    // comes by itself while nobody submits or polls. One worker keeps the
                    // watch: it waits out its budget, claiming every WATCH_POLL_MS, and
                    // rings again at the end; the others stop.
                    _ if next_due_ms.is_some()
                        && watch == Watch::Keep
                        && now < deadline
                        && keeps_watch(ctx, &watch_token, deadline - now, &mut report) =>
                    {
                        watching = true;
                        ctx.clock
                            .sleep_ms(WATCH_POLL_MS.min(deadline.saturating_sub(now)).max(1));
                        continue;
                    }
                    _ => {
                        if watching && next_due_ms.is_some() {
                            // Out of budget with the due work still ahead: ring for it.
                            report.stop = Stop::Budget;
                        } else {
                            ring_for_due = watch == Watch::Leave
                                && next_due_ms.is_some_and(|at| {
                                    at < deadline.saturating_add(budget_ms.max(POLL_MS))
                                });
                            report.stop = Stop::Empty;
                        }
                        break;
                    }
                }
            }
        }
        if ctx.now() >= deadline {
            report.stop = Stop::Budget;
            break;
        }
    }

    if !pending.is_empty() {
        let now = ctx.now();
        if let Err(e) = finish_and_claim(ctx, &mut pending, now, now, "", 0, &mut report) {
            report.stop = Stop::Failed;
            report.error = Some(e);
        }
    }

    // Nothing to run and time left: spend it on retention.
    if more_to_sweep && report.stop == Stop::Empty && ctx.now() < deadline {
        more_to_sweep = sweep(ctx, &mut report, deadline);
    }
    // A retention backlog rings too, so storage shrinks even when no job comes.
    if report.stop == Stop::Budget || ring_for_due || more_to_sweep {
        report.rang_again = ctx.ring_again("drain");
    }
    report.elapsed_ms = ctx.now().saturating_sub(start);
    report
}

/// Whether this drain holds the watch (taking it if it is free) until `ttl_ms` from now:
/// it lapses at the drain's deadline, so the next drain, started by this one's ring, can
/// take it. A failure to ask only means no watch.
fn keeps_watch(ctx: &Context<'_>, token: &str, ttl_ms: u64, report: &mut DrainReport) -> bool {
    match ctx.queue.watch(token, ttl_ms) {
        Ok(held) => held,
        Err(e) => {
            report.warnings.push(format!("watch for delayed work: {e}"));
            false
        }
    }
}

/// Finish `pending` (emptied) and claim up to `max` jobs in one round trip, counting the
/// finishes in `report`. `Err` is the log line of a failure.
fn finish_and_claim(
    ctx: &Context<'_>,
    pending: &mut Vec<Pending>,
    now: u64,
    lease_until: u64,
    token: &str,
    max: u32,
    report: &mut DrainReport,
) -> Result<Claim, String> {
    let pending = std::mem::take(pending);
    let finishes: Vec<Finish> = pending.iter().map(|p| p.finish.clone()).collect();
    match ctx
        .queue
        .finish_and_claim(&finishes, now, lease_until, token, max)
    {
        Ok((owned, claim)) => {
            for (p, owned) in pending.into_iter().zip(owned) {
                p.count(owned, report);
            }
            Ok(claim)
        }
        Err(e) => {
            let ids: Vec<String> = finishes.iter().map(|f| f.id.to_string()).collect();
            Err(if ids.is_empty() {
                format!("claim: {e}")
            } else {
                format!("finish {} and claim: {e}", ids.join(", "))
            })
        }
    }
}

/// The size of the next claim: it doubles (up to [`MAX_BATCH`]) after a full batch whose
/// jobs took at most [`QUICK_JOB_MS`] each on average, and falls back to one job after a
/// slower batch, so a worker never holds slow jobs that another worker could run.
fn next_batch(batch: u32, claimed: usize, elapsed_ms: u64) -> u32 {
    let claimed = claimed.max(1) as u64;
    if elapsed_ms > QUICK_JOB_MS.saturating_mul(claimed) {
        1
    } else if claimed >= u64::from(batch) {
        batch.saturating_mul(2).min(MAX_BATCH)
    } else {
        batch
    }
}

/// Retention: delete the records of jobs finished longer than `job_ttl_seconds` ago,
/// then forget them in the queue, a batch of [`SWEEP_LIMIT`] at a time: at least one
/// batch, more while batches come back full and `until` (ms) has not passed. True when
/// more may be due (the last batch was full). Failures only delay retention.
fn sweep(ctx: &Context<'_>, report: &mut DrainReport, until: u64) -> bool {
    loop {
        match sweep_batch(ctx, report) {
            Some(true) if ctx.now() < until => continue,
            Some(full) => return full,
            None => return false,
        }
    }
}

/// One batch of [`sweep`]: `Some(full)`, or `None` when the store or queue failed.
fn sweep_batch(ctx: &Context<'_>, report: &mut DrainReport) -> Option<bool> {
    let cutoff = ctx
        .now()
        .saturating_sub(ctx.settings.job_ttl_seconds.saturating_mul(1_000));
    let ids = match ctx.queue.expired(cutoff, SWEEP_LIMIT) {
        Ok(ids) => ids,
        Err(e) => {
            report.warnings.push(format!("retention sweep: {e}"));
            return None;
        }
    };
    let full = ids.len() >= SWEEP_LIMIT as usize;
    let mut deleted = Vec::with_capacity(ids.len());
    let mut failed = false;
    for id in ids {
        let both = ctx
            .kv
            .delete(&keys::job(&ctx.tenant, &id))
            .and_then(|()| ctx.kv.delete(&keys::result(&ctx.tenant, &id)))
            .and_then(|()| ctx.kv.delete(&keys::input(&ctx.tenant, &id)));
        match both {
            Ok(()) => deleted.push(id),
            Err(e) => {
                report
                    .warnings
                    .push(format!("retention sweep of {id}: {e}"));
                failed = true;
                break;
            }
        }
    }
    if deleted.is_empty() {
        return (!failed).then_some(full);
    }
    match ctx.queue.forget(&deleted) {
        Ok(()) => report.swept += deleted.len() as u32,
        Err(e) => {
            report.warnings.push(format!("retention sweep: {e}"));
            return None;
        }
    }
    (!failed).then_some(full)
}

/// A job whose record is final, waiting for the queue-side finish.
struct Pending {
    finish: Finish,
    count: Count,
}

/// What a [`Pending`] finish adds to the report once the queue answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    /// A run's outcome: succeeded, failed or cancelled by its status; lost if not owned.
    Outcome,
    /// A record found final at claim time (counted as repaired already).
    Repair,
    /// A record that could not be read (counted as skipped already).
    Skipped,
}

impl Pending {
    fn count(&self, owned: Ownership, report: &mut DrainReport) {
        match (self.count, owned) {
            (Count::Outcome, Ownership::Owned) => match self.finish.status {
                Status::Succeeded => report.succeeded += 1,
                Status::Failed => report.failed += 1,
                _ => report.cancelled += 1,
            },
            (Count::Outcome, Ownership::Lost) => report.lost += 1,
            (Count::Repair | Count::Skipped, _) => {}
        }
    }
}

/// Final records waiting to be written together: (job, key, encoded record).
type Finals = Vec<(JobId, String, Vec<u8>)>;

/// The lease a batch was claimed under: one token, and one deadline for every job of the
/// batch still held (claims and heartbeats set them all alike). The one place that says
/// whether a job is still this worker's; every write of a job's state asks it first.
struct Lease<'a> {
    token: &'a str,
    /// Every id of the batch: a heartbeat extends all their leases.
    ids: &'a [JobId],
    /// When the lease ends unless extended: the claim's deadline, moved on by every
    /// heartbeat or renewal that found it held.
    until: std::cell::Cell<u64>,
    lease_ms: u64,
}

impl<'a> Lease<'a> {
    fn new(token: &'a str, ids: &'a [JobId], until: u64, lease_ms: u64) -> Self {
        Lease {
            token,
            ids,
            until: std::cell::Cell::new(until),
            lease_ms,
        }
    }

    /// Held for sure, without asking: a lease changes hands only when a claim finds it
    /// past its deadline, and at least half a lease is left for the writes that follow.
    fn surely_held(&self, now: u64) -> bool {
        self.until.get().saturating_sub(now) > self.lease_ms / 2
    }

    /// Heartbeat for `id`, extending the leases of the whole batch where still held; the
    /// deadline moves on when `id`'s is.
    fn heartbeat(&self, ctx: &Context<'_>, id: &JobId) -> Result<Heartbeat, StoreError> {
        let until = ctx.now().saturating_add(self.lease_ms);
        let beat = ctx.queue.heartbeat_batch(id, self.token, until, self.ids)?;
        if matches!(beat, Heartbeat::Owned { .. }) {
            self.until.set(until);
        }
        Ok(beat)
    }

    /// Which of `ids` are still held, in order: all of them while the lease is surely
    /// held, else as Redis says (renewing those held).
    fn still_held(&self, ctx: &Context<'_>, ids: &[JobId]) -> Result<Vec<bool>, StoreError> {
        let now = ctx.now();
        if self.surely_held(now) {
            return Ok(vec![true; ids.len()]);
        }
        let until = now.saturating_add(self.lease_ms);
        let held = ctx.queue.renew(self.token, ids, until)?;
        if held.iter().any(|h| *h) {
            self.until.set(until);
        }
        Ok(held)
    }
}

/// Run one claimed batch: read the records in one call, mark every job about to run as
/// running in one write (so each attempt is counted before anything runs), run the jobs
/// in order, and write their outcomes together (sooner once the batch has run
/// [`FLUSH_MS`]). Returns the queue-side finishes for the next claim's round trip.
/// `Err` only when the store or queue fails (the drain stops; the leases expire).
fn run_batch(
    ctx: &Context<'_>,
    jobs: &[ClaimedJob],
    token: &str,
    lease_until: u64,
    report: &mut DrainReport,
) -> Result<(Vec<Pending>, u64), StoreError> {
    let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
    let lease = Lease::new(token, &ids, lease_until, ctx.settings.lease_ms);
    let batch = Batch {
        lease: &lease,
        started: ctx.now(),
    };
    let mut finals = Finals::new();
    let mut pending = Vec::new();
    let mut run_ms = 0;
    let outcome = run_batch_into(
        ctx,
        jobs,
        batch,
        report,
        &mut finals,
        (&mut pending, &mut run_ms),
    );
    // Outcomes already reached are written even when a later job failed the batch.
    let flushed = flush(ctx, &mut finals, &lease);
    outcome.and(flushed).map(|()| (pending, run_ms))
}

/// What every job of one claimed batch shares.
#[derive(Clone, Copy)]
struct Batch<'a> {
    /// Its lease, one for all its jobs.
    lease: &'a Lease<'a>,
    /// When the batch was claimed.
    started: u64,
}

impl<'a> Batch<'a> {
    fn worker<'w, 'c>(
        self,
        ctx: &'w Context<'c>,
        report: &'w mut DrainReport,
        finals: &'w mut Finals,
    ) -> Worker<'w, 'c>
    where
        'a: 'w,
    {
        Worker {
            ctx,
            batch: self,
            report,
            finals,
        }
    }
}

fn run_batch_into(
    ctx: &Context<'_>,
    jobs: &[ClaimedJob],
    batch: Batch<'_>,
    report: &mut DrainReport,
    finals: &mut Finals,
    (pending, run_ms): (&mut Vec<Pending>, &mut u64),
) -> Result<(), StoreError> {
    let token = batch.lease.token;
    let records = ctx.load_jobs(batch.lease.ids)?;
    let mut to_run = Vec::with_capacity(jobs.len());
    for (claimed, record) in jobs.iter().zip(records) {
        let id = claimed.id;
        let job = match record {
            Ok(Some(job)) => job,
            Ok(None) => {
                // Never recorded (a submit rolled back after its script ran) or swept.
                report.skipped += 1;
                report.warnings.push(format!(
                    "claimed {id} has no record; dropped from the queue"
                ));
                ctx.queue.forget(&[id])?;
                continue;
            }
            Err(StoreError::Corrupt { key, reason }) => {
                report.skipped += 1;
                report.warnings.push(format!(
                    "claimed {id} has a malformed record at {key}: {reason}; indexed as failed"
                ));
                pending.push(Pending {
                    finish: Finish {
                        id,
                        token: token.to_owned(),
                        status: Status::Failed,
                        dead: true,
                    },
                    count: Count::Skipped,
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        match batch
            .worker(ctx, report, finals)
            .prepare(job, claimed.cancel_requested)
        {
            Prepared::Run(job) => to_run.push(*job),
            Prepared::Done(p) => pending.extend(p),
        }
    }
    // Inputs stored apart are read (one call) before anything is marked running; a job
    // whose input is gone cannot run at all.
    let (to_run, broken) = ctx.load_inputs(to_run)?;
    for (job, why) in broken {
        let worker = batch.worker(ctx, report, finals);
        pending.extend(worker.fail_now(job, ErrorInfo::internal(why)));
    }
    // Still ours after the reads? (Surely, unless they took half a lease.)
    let ids: Vec<JobId> = to_run.iter().map(|job| job.id).collect();
    let held = batch.lease.still_held(ctx, &ids)?;
    let mut to_run: Vec<Job> = to_run
        .into_iter()
        .zip(held)
        .filter_map(|(job, held)| held.then_some(job))
        .collect();
    report.lost += (ids.len() - to_run.len()) as u32;
    ctx.save_jobs(&to_run)?;
    // Only the runs are timed for the next batch's size, not the store calls around them.
    let runs_started = ctx.now();
    for job in to_run.drain(..) {
        pending.extend(batch.worker(ctx, report, finals).execute(job)?);
        if !finals.is_empty() && ctx.now().saturating_sub(batch.started) >= FLUSH_MS {
            flush(ctx, finals, batch.lease)?;
        }
    }
    *run_ms = ctx.now().saturating_sub(runs_started);
    Ok(())
}

/// Write the buffered final records in one call: those of jobs whose lease this worker
/// still holds. Another worker's job gets nothing written by this one (its queue-side
/// finish, token-checked, then counts it as lost).
fn flush(ctx: &Context<'_>, finals: &mut Finals, lease: &Lease<'_>) -> Result<(), StoreError> {
    if finals.is_empty() {
        return Ok(());
    }
    let ids: Vec<JobId> = finals.iter().map(|(id, _, _)| *id).collect();
    let held = lease.still_held(ctx, &ids)?;
    let pairs: Vec<(String, Vec<u8>)> = std::mem::take(finals)
        .into_iter()
        .zip(held)
        .filter_map(|((_, key, value), held)| held.then_some((key, value)))
        .collect();
    ctx.kv.set_many(&pairs)?;
    Ok(())
}

/// What [`Worker::confirm_lease`] found.
enum LeaseCheck {
    Ours,
    /// Another worker holds the job now: write nothing more.
    Lost,
    /// Still ours, and a client asked to cancel.
    CancelRequested,
}

/// What [`Worker::prepare`] decided for a claimed job.
enum Prepared {
    /// Started (attempt counted) in memory: write it as running, then run it.
    Run(Box<Job>),
    /// Nothing to run; the queue-side finish it needs, if any.
    Done(Option<Pending>),
}

/// One claimed job of a batch, as the worker handles it.
struct Worker<'a, 'c> {
    ctx: &'a Context<'c>,
    batch: Batch<'a>,
    report: &'a mut DrainReport,
    /// The batch's final records, written together by [`run_batch`].
    finals: &'a mut Finals,
}

impl Worker<'_, '_> {
    fn now(&self) -> Timestamp {
        Timestamp::from_ms(self.ctx.now())
    }

    /// Buffer the final record (written with the batch's); the queue-side finish follows
    /// with the next round trip, after the write.
    fn finish(&mut self, job: &Job, dead: bool) -> Result<Option<Pending>, StoreError> {
        self.finish_with_result(job, None, dead)
    }

    fn finish_with_result(
        &mut self,
        job: &Job,
        result: Option<&Output>,
        dead: bool,
    ) -> Result<Option<Pending>, StoreError> {
        self.finals.push((
            job.id,
            keys::job(&self.ctx.tenant, &job.id),
            codec::encode_job_with_result(job, result),
        ));
        Ok(Some(self.pending(job, dead, Count::Outcome)))
    }

    fn pending(&self, job: &Job, dead: bool, count: Count) -> Pending {
        Pending {
            finish: Finish {
                id: job.id,
                token: self.batch.lease.token.to_owned(),
                status: job.status,
                dead,
            },
            count,
        }
    }

    /// Ask whether the lease is still ours (a heartbeat, which also extends it); a lost
    /// lease is counted.
    fn confirm_lease(&mut self, id: &JobId) -> Result<LeaseCheck, StoreError> {
        Ok(match self.batch.lease.heartbeat(self.ctx, id)? {
            Heartbeat::Lost => {
                self.report.lost += 1;
                LeaseCheck::Lost
            }
            Heartbeat::Owned {
                cancel_requested: true,
            } => LeaseCheck::CancelRequested,
            Heartbeat::Owned {
                cancel_requested: false,
            } => LeaseCheck::Ours,
        })
    }

    /// [`Worker::fail`] for a job that never ran (buffering cannot fail).
    fn fail_now(mut self, job: Job, error: ErrorInfo) -> Option<Pending> {
        self.fail(job, error).unwrap_or_default()
    }

    fn fail(&mut self, mut job: Job, error: ErrorInfo) -> Result<Option<Pending>, StoreError> {
        if job.fail(self.now(), error).is_err() {
            return self.refused(&job);
        }
        self.finish(&job, true)
    }

    fn cancel(&mut self, mut job: Job) -> Result<Option<Pending>, StoreError> {
        if job.cancel(self.now()).is_err() {
            return self.refused(&job);
        }
        self.finish(&job, false)
    }

    /// A transition the record's state does not allow: leave the record, report it.
    fn refused(&mut self, job: &Job) -> Result<Option<Pending>, StoreError> {
        self.report.skipped += 1;
        self.report.warnings.push(format!(
            "job {} in state {} cannot move on; left as is",
            job.id, job.status
        ));
        Ok(None)
    }

    /// Decide what a claimed record needs: repair, cancel, fail for good, or a start.
    fn prepare(mut self, mut job: Job, cancel_requested: bool) -> Prepared {
        let done = |result: Result<Option<Pending>, StoreError>| {
            // Buffering a final record cannot fail.
            Prepared::Done(result.unwrap_or_default())
        };
        if job.status.is_terminal() {
            // The record was written but the finish script never ran.
            let dead = job.status == Status::Failed;
            self.report.repaired += 1;
            return Prepared::Done(Some(self.pending(&job, dead, Count::Repair)));
        }
        if cancel_requested {
            return done(self.cancel(job));
        }
        if job.status == Status::Running {
            // Its previous attempt's worker stopped answering and the lease expired.
            let lost = ErrorInfo::new(
                ErrorType::LeaseExpired,
                format!("attempt {} stopped answering", job.attempts),
            );
            if job.retry(lost).is_err() {
                return done(self.fail(job, ErrorInfo::lease_expired()));
            }
        }
        match job.start(self.now()) {
            Ok(()) => Prepared::Run(Box::new(job)),
            Err(e) if e.reason == Refusal::NoAttemptsLeft => {
                done(self.fail(job, ErrorInfo::lease_expired()))
            }
            Err(_) => done(self.refused(&job)),
        }
    }

    /// Run a started job (its `running` record written) and record the outcome.
    fn execute(mut self, job: Job) -> Result<Option<Pending>, StoreError> {
        let ctx = self.ctx;
        // Later jobs of a batch start later: make sure the lease is still ours first, and,
        // once the batch has run a while (a slow job before this one), ask anyway, to see
        // a cancel requested while it waited.
        let waited = ctx.now().saturating_sub(self.batch.started) >= FLUSH_MS;
        if waited || !self.batch.lease.surely_held(ctx.now()) {
            match self.confirm_lease(&job.id)? {
                LeaseCheck::Lost => return Ok(None),
                LeaseCheck::CancelRequested => return self.cancel(job),
                LeaseCheck::Ours => {}
            }
        }

        let Some(kind) = ctx.registry.get(&job.kind) else {
            let error = ErrorInfo::internal(format!(
                "kind {:?} is not registered in this worker",
                job.kind
            ));
            return self.fail(job, error);
        };
        let input = job.input.clone();
        let mut run = Run {
            ctx,
            batch: self.batch,
            finals: &mut *self.finals,
            job,
            last_write: ctx.now(),
            stop: None,
        };
        let outcome = kind.run(&input, &mut run);
        let Run { mut job, stop, .. } = run;
        match stop {
            Some(Interrupt::Lost) => {
                self.report.lost += 1;
                return Ok(None);
            }
            Some(Interrupt::Store(e)) => return Err(e),
            Some(Interrupt::Cancel) | None => {}
        }
        let cancel_requested = stop == Some(Interrupt::Cancel);

        match outcome {
            Ok(output) => {
                // Still ours? Only the lease holder may write the outcome. With half a
                // lease left it is ours for sure (`Lease::surely_held`): the result and
                // the record are written inside the lease (the record is kept back, and
                // asked about again when written), and the finish script checks the
                // token once more. Closer to the deadline, ask.
                if !self.batch.lease.surely_held(ctx.now())
                    && self.batch.lease.heartbeat(ctx, &job.id)? == Heartbeat::Lost
                {
                    self.report.lost += 1;
                    return Ok(None);
                }
                // A small result rides in the final record (one write fewer, visible
                // with `succeeded` at once); a large one goes first under its own key.
                let inline = codec::fits_inline(&output);
                if !inline {
                    ctx.kv.set(
                        &keys::result(&ctx.tenant, &job.id),
                        &codec::encode_result(&output),
                    )?;
                }
                if job.succeed(self.now()).is_err() {
                    return self.refused(&job);
                }
                self.finish_with_result(&job, inline.then_some(&output), false)
            }
            Err(RunError::Cancelled) => self.cancel(job),
            Err(_) if cancel_requested => self.cancel(job),
            Err(e @ RunError::Transient(_)) if job.attempts_left() > 0 => {
                match self.confirm_lease(&job.id)? {
                    LeaseCheck::Lost => return Ok(None),
                    LeaseCheck::CancelRequested => return self.cancel(job),
                    LeaseCheck::Ours => {}
                }
                let now = ctx.now();
                let delay = RetryPolicy::default().delay_ms(job.attempts, ctx.random.next_u64());
                let due = now.saturating_add(delay);
                if job.retry(e.to_error_info()).is_err() {
                    return self.refused(&job);
                }
                job.not_before = Some(Timestamp::from_ms(due));
                ctx.save_job(&job)?;
                match ctx.queue.retry(&job.id, self.batch.lease.token, due, now)? {
                    RetryOutcome::Scheduled => self.report.retried += 1,
                    RetryOutcome::Lost => self.report.lost += 1,
                    RetryOutcome::Cancelled => {
                        // The queue already indexed it as cancelled; the record follows.
                        if job.cancel(self.now()).is_ok() {
                            ctx.save_job(&job)?;
                        }
                        self.report.cancelled += 1;
                    }
                }
                Ok(None)
            }
            Err(e) => self.fail(job, e.to_error_info()),
        }
    }
}

/// Why a run was stopped from inside its context.
#[derive(Debug, Clone, PartialEq)]
enum Interrupt {
    /// A client asked to cancel.
    Cancel,
    /// Another worker holds the lease now: write nothing more.
    Lost,
    /// The record could not be written.
    Store(StoreError),
}

/// The [`RunContext`] of one attempt: progress overwrites the record and extends the
/// lease (throttled), and says stop when the job was cancelled or the lease lost.
struct Run<'a, 'c> {
    ctx: &'a Context<'c>,
    batch: Batch<'a>,
    /// The batch's outcomes not written yet: a heartbeat writes them, so a slow job does
    /// not hide the outcomes of the quick ones before it.
    finals: &'a mut Finals,
    job: Job,
    last_write: u64,
    stop: Option<Interrupt>,
}

impl Run<'_, '_> {
    fn heartbeat(&mut self) -> bool {
        let beat = self.batch.lease.heartbeat(self.ctx, &self.job.id);
        if let Ok(Heartbeat::Owned { .. }) = beat
            && let Err(e) = flush(self.ctx, self.finals, self.batch.lease)
        {
            self.stop = Some(Interrupt::Store(e));
            return false;
        }
        match beat {
            Ok(Heartbeat::Owned {
                cancel_requested: false,
            }) => true,
            Ok(Heartbeat::Owned {
                cancel_requested: true,
            }) => {
                self.stop = Some(Interrupt::Cancel);
                false
            }
            Ok(Heartbeat::Lost) => {
                self.stop = Some(Interrupt::Lost);
                false
            }
            Err(e) => {
                self.stop = Some(Interrupt::Store(e));
                false
            }
        }
    }
}

impl RunContext for Run<'_, '_> {
    fn attempt(&self) -> u32 {
        self.job.attempts
    }

    fn job_id(&self) -> Option<JobId> {
        Some(self.job.id)
    }

    fn counter(&self) -> Option<&dyn Counter> {
        self.ctx.counter
    }

    fn progress(&mut self, percent: u8, message: Option<&str>) -> Result<(), Cancelled> {
        if self.stop.is_some() {
            return Err(Cancelled);
        }
        let _ = self
            .job
            .set_progress(Progress::new(percent, message.map(str::to_owned)));
        let now = self.ctx.now();
        if now.saturating_sub(self.last_write) < PROGRESS_INTERVAL_MS && percent < 100 {
            return Ok(());
        }
        self.last_write = now;
        if !self.heartbeat() {
            return Err(Cancelled);
        }
        if let Err(e) = self.ctx.save_job(&self.job) {
            self.stop = Some(Interrupt::Store(e));
            return Err(Cancelled);
        }
        Ok(())
    }

    /// Sleep in slices of a third of the lease, extending it in between, so a long sleep
    /// neither loses the lease nor misses a cancel (the next `progress` reports it).
    fn sleep(&mut self, duration: Duration) {
        let slice = (self.ctx.settings.lease_ms / 3).max(1);
        let mut left = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        while left > 0 && self.stop.is_none() {
            let step = left.min(slice);
            self.ctx.clock.sleep_ms(step);
            left -= step;
            if left > 0 {
                self.heartbeat();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::World;
    use crate::service::{cancel, get, result};
    use serde_json::json;

    #[test]
    fn a_drain_runs_queued_jobs_to_success_and_stores_results() {
        let w = World::new();
        let a = w.submit(json!({"kind": "echo", "input": {"x": 1}}));
        let b = w.submit(json!({"kind": "echo", "input": {"x": 2}}));
        let report = drain(&w.ctx(), 2_000);
        assert_eq!(
            (report.claimed, report.succeeded, report.stop),
            (2, 2, Stop::Empty)
        );
        for id in [a, b] {
            let job = w.job(&id);
            assert_eq!(job.status, Status::Succeeded);
            assert_eq!(job.attempts, 1);
            assert_eq!(w.queue.indexed_status(&id), Some(Status::Succeeded));
            assert!(result(&w.ctx(), id.as_str()).is_ok());
        }
    }

    #[test]
    fn a_small_result_rides_in_the_record_and_a_large_one_under_its_own_key() {
        use crate::ports::KeyValue;
        let w = World::new();
        let big = "x".repeat(codec::INLINE_RESULT_MAX + 1);
        let small = w.submit(json!({"kind": "echo", "input": {"s": "tiny"}}));
        let large = w.submit(json!({"kind": "echo", "input": {"s": big}}));
        assert_eq!(drain(&w.ctx(), 2_000).succeeded, 2);

        let tenant = crate::job::Tenant::default_tenant();
        assert_eq!(w.kv.get(&keys::result(&tenant, &small)).unwrap(), None);
        assert!(w.kv.get(&keys::result(&tenant, &large)).unwrap().is_some());
        for (id, input) in [(small, json!({"s": "tiny"})), (large, json!({"s": big}))] {
            let output = result(&w.ctx(), id.as_str()).unwrap();
            assert_eq!(output.content_type, "application/json");
            let echoed: serde_json::Value = serde_json::from_slice(&output.bytes).unwrap();
            assert_eq!(echoed, input);
        }
    }

    #[test]
    fn a_large_input_is_stored_apart_read_by_the_worker_and_swept_with_the_job() {
        use crate::ports::KeyValue;
        let w = World::new();
        let big = "y".repeat(codec::INLINE_INPUT_MAX);
        let small = w.submit(json!({"kind": "echo", "input": {"s": "tiny"}}));
        let large = w.submit(json!({"kind": "echo", "input": {"s": big}}));
        let tenant = crate::job::Tenant::default_tenant();
        // The large one's record stays small: its input lives under its own key.
        assert_eq!(w.kv.get(&keys::input(&tenant, &small)).unwrap(), None);
        let stored = w.kv.get(&keys::input(&tenant, &large)).unwrap().unwrap();
        assert_eq!(codec::decode_input(&stored).unwrap(), json!({"s": big}));
        let record = w.kv.get(&keys::job(&tenant, &large)).unwrap().unwrap();
        assert!(record.len() < 1_000, "{} bytes", record.len());

        assert_eq!(drain(&w.ctx(), 2_000).succeeded, 2);
        for (id, input) in [(small, json!({"s": "tiny"})), (large, json!({"s": big}))] {
            let output = result(&w.ctx(), id.as_str()).unwrap();
            let echoed: serde_json::Value = serde_json::from_slice(&output.bytes).unwrap();
            assert_eq!(echoed, input);
        }
        // Rewritten by the worker (running, then succeeded), the record still holds no input.
        let record = w.kv.get(&keys::job(&tenant, &large)).unwrap().unwrap();
        assert!(w.job(&large).input.is_apart());
        assert!(record.len() < 1_000, "{} bytes", record.len());

        w.clock.advance(w.settings.job_ttl_seconds * 1_000 + 1);
        assert_eq!(drain(&w.ctx(), 2_000).swept, 2);
        assert!(w.kv.keys().is_empty(), "{:?}", w.kv.keys());
    }

    #[test]
    fn a_job_whose_stored_input_is_gone_fails_and_says_why() {
        use crate::ports::KeyValue;
        let w = World::new();
        let id =
            w.submit(json!({"kind": "echo", "input": {"s": "z".repeat(codec::INLINE_INPUT_MAX)}}));
        let tenant = crate::job::Tenant::default_tenant();
        w.kv.delete(&keys::input(&tenant, &id)).unwrap();
        let report = drain(&w.ctx(), 2_000);
        assert_eq!((report.claimed, report.failed), (1, 1), "{report:?}");
        let job = w.job(&id);
        assert_eq!(job.status, Status::Failed);
        let error = job.error.unwrap();
        assert!(error.message.contains("is missing"), "{error:?}");
        // The client reads this: it names the job, not where the store keeps its input.
        assert!(error.message.contains(id.as_str()), "{error:?}");
        assert!(!error.message.contains("i:"), "{error:?}");
        assert_eq!(w.queue.indexed_status(&id), Some(Status::Failed));
    }

    #[test]
    fn work_due_after_the_budget_is_watched_for_and_rung_for_at_the_end() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}, "delay_ms": 3_000}));

        let first = drain(&w.ctx(), 2_000);
        let second = drain(&w.ctx(), 2_000);

        // The first drain waits out its budget (nothing is due) and rings again; the
        // drain that ring starts finds the job due within its own budget and runs it.
        assert_eq!(
            (first.claimed, first.stop, first.rang_again),
            (0, Stop::Budget, true),
            "{first:?}"
        );
        assert_eq!(
            w.queue.published().len(),
            2,
            "the submit's ring and the watch's"
        );
        assert_eq!((second.claimed, second.succeeded), (1, 1), "{second:?}");
        assert_eq!(w.job(&id).status, Status::Succeeded);
    }

    #[test]
    fn only_one_worker_keeps_the_watch() {
        use crate::ports::Clock;
        use crate::queue::Queue;
        let w = World::new();
        w.submit(json!({"kind": "echo", "input": {}, "delay_ms": 3_000}));
        assert!(w.queue.watch("another-worker", 60_000).unwrap());
        let start = w.clock.now_ms();

        let report = drain(&w.ctx(), 2_000);

        assert_eq!(
            (report.claimed, report.stop, report.rang_again),
            (0, Stop::Empty, false),
            "{report:?}"
        );
        assert_eq!(w.clock.now_ms(), start, "it stopped at once");
    }

    #[test]
    fn the_drain_route_leaves_the_watch_to_its_scheduler() {
        use crate::ports::Clock;
        let w = World::new();
        w.submit(json!({"kind": "echo", "input": {}, "delay_ms": 60_000}));
        let start = w.clock.now_ms();

        let report = drain_with(&w.ctx(), 2_000, Watch::Leave);

        assert_eq!(
            (report.claimed, report.stop),
            (0, Stop::Empty),
            "{report:?}"
        );
        assert_eq!(w.clock.now_ms(), start, "it stopped at once");
    }

    #[test]
    fn an_empty_queue_drains_at_once_without_ringing() {
        let w = World::new();
        let report = drain(&w.ctx(), 2_000);
        assert_eq!(
            (report.claimed, report.stop, report.rang_again),
            (0, Stop::Empty, false)
        );
    }

    #[test]
    fn a_transient_failure_is_retried_until_it_succeeds() {
        let w = World::new();
        let id = w.submit(json!({"kind": "fail", "input": {"fail_times": 1}, "max_attempts": 3}));
        // The retry's backoff is at most 500 ms, inside the budget: one drain does both.
        let report = drain(&w.ctx(), 2_000);
        assert_eq!((report.retried, report.succeeded), (1, 1), "{report:?}");
        let job = w.job(&id);
        assert_eq!((job.status, job.attempts), (Status::Succeeded, 2));
    }

    #[test]
    fn a_job_that_keeps_failing_ends_failed_and_dead() {
        let w = World::new();
        let id = w.submit(json!({"kind": "fail", "input": {"fail_times": 10}, "max_attempts": 2}));
        for _ in 0..5 {
            drain(&w.ctx(), 2_000);
            w.clock.advance(5_000);
        }
        let job = w.job(&id);
        assert_eq!((job.status, job.attempts), (Status::Failed, 2));
        assert_eq!(w.queue.indexed_status(&id), Some(Status::Failed));
        assert_eq!(crate::service::stats(&w.ctx()).unwrap().dead, 1);
    }

    #[test]
    fn a_record_that_cannot_be_read_is_skipped_not_fatal() {
        let w = World::new();
        let bad = w.submit(json!({"kind": "echo", "input": {}}));
        let good = w.submit(json!({"kind": "echo", "input": {}}));
        use crate::ports::KeyValue;
        w.kv.set(
            &keys::job(&crate::job::Tenant::default_tenant(), &bad),
            b"\xff not json",
        )
        .unwrap();
        let report = drain(&w.ctx(), 2_000);
        assert_eq!((report.skipped, report.succeeded), (1, 1), "{report:?}");
        assert_eq!(report.warnings.len(), 1);
        assert_eq!(w.job(&good).status, Status::Succeeded);
        assert_eq!(w.queue.indexed_status(&bad), Some(Status::Failed));
    }

    #[test]
    fn a_crashed_attempt_is_run_again_and_counted() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        // A worker claims and records the start, then dies.
        let token = "dead";
        let now = {
            use crate::ports::Clock;
            w.clock.now_ms()
        };
        w.ctx()
            .queue
            .claim(now, now + w.settings.lease_ms, token, 1)
            .unwrap();
        let mut job = w.job(&id);
        job.start(Timestamp::from_ms(now)).unwrap();
        w.ctx().save_job(&job).unwrap();
        w.clock.advance(w.settings.lease_ms + 1);
        let report = drain(&w.ctx(), 2_000);
        assert_eq!(report.succeeded, 1, "{report:?}");
        assert_eq!(w.job(&id).attempts, 2);
    }

    #[test]
    fn a_finished_record_is_repaired_not_rerun() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        let mut job = w.job(&id);
        job.start(Timestamp::from_ms(1)).unwrap();
        job.succeed(Timestamp::from_ms(2)).unwrap();
        w.ctx().save_job(&job).unwrap();
        let report = drain(&w.ctx(), 2_000);
        assert_eq!((report.repaired, report.succeeded), (1, 0));
        assert_eq!(w.queue.indexed_status(&id), Some(Status::Succeeded));
    }

    #[test]
    fn a_cancel_requested_before_the_claim_is_honoured() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        let now = {
            use crate::ports::Clock;
            w.clock.now_ms()
        };
        // Claimed by a worker that dies; the client cancels while it is "running".
        w.ctx().queue.claim(now, now + 10, "dead", 1).unwrap();
        assert!(matches!(
            cancel(&w.ctx(), id.as_str()),
            Ok(crate::service::CancelResult::Requested(_))
        ));
        w.clock.advance(11);
        let report = drain(&w.ctx(), 2_000);
        assert_eq!(report.cancelled, 1, "{report:?}");
        assert_eq!(
            get(&w.ctx(), id.as_str()).unwrap().status,
            Status::Cancelled
        );
    }

    #[test]
    fn retention_deletes_old_finished_jobs() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        drain(&w.ctx(), 2_000);
        w.clock.advance(w.settings.job_ttl_seconds * 1_000 + 1);
        let report = drain(&w.ctx(), 2_000);
        assert_eq!(report.swept, 1);
        assert!(w.kv.keys().is_empty());
        assert_eq!(w.queue.indexed_status(&id), None);
    }

    #[test]
    fn retention_keeps_sweeping_batches_while_the_budget_lasts() {
        let w = World::new();
        let n = SWEEP_LIMIT as usize * 2 + 50;
        for _ in 0..n {
            w.submit(json!({"kind": "echo", "input": {}}));
        }
        assert_eq!(drain(&w.ctx(), 60_000).succeeded as usize, n);
        w.clock.advance(w.settings.job_ttl_seconds * 1_000 + 1);
        let report = drain(&w.ctx(), 2_000);
        assert_eq!(report.swept as usize, n, "{report:?}");
        assert!(!report.rang_again, "nothing left: {report:?}");
        assert!(w.kv.keys().is_empty());
    }

    #[test]
    fn a_retention_backlog_left_by_a_spent_budget_rings_again() {
        let w = World::new();
        let n = SWEEP_LIMIT as usize + 10;
        for _ in 0..n {
            w.submit(json!({"kind": "echo", "input": {}}));
        }
        drain(&w.ctx(), 60_000);
        w.clock.advance(w.settings.job_ttl_seconds * 1_000 + 1);
        let rings = w.queue.published().len();
        let report = drain(&w.ctx(), 0);
        assert_eq!(report.swept, SWEEP_LIMIT, "{report:?}");
        assert!(report.rang_again, "{report:?}");
        assert_eq!(w.queue.published().len(), rings + 1);
        w.clock.advance(crate::service::RING_WINDOW_MS);
        let report = drain(&w.ctx(), 0);
        assert_eq!(report.swept, 10, "{report:?}");
        assert!(!report.rang_again, "{report:?}");
    }

    #[test]
    fn a_count_job_counts_its_execution_through_the_lent_counter() {
        let mut w = World::new();
        w.settings.enable_test_kinds = true;
        w.registry = crate::kind::Registry::for_settings(&w.settings);
        let id = w.submit(json!({"kind": "count", "input": {}}));
        let report = drain(&w.ctx(), 2_000);
        assert_eq!(report.succeeded, 1, "{report:?}");
        assert_eq!(w.counter.get(crate::kinds::count::TOTAL), 1);
        assert_eq!(w.counter.get(&crate::kinds::count::per_job(&id)), 1);
    }

    /// A kind that works for `ms` of (manual) clock time without a heartbeat, then
    /// optionally lets another worker take its job, as if its lease had expired unseen.
    struct Stall {
        clock: crate::memory::ManualClock,
        queue: crate::memory::MemoryQueue,
        ms: u64,
        thief: bool,
    }

    impl crate::kind::Kind for Stall {
        fn name(&self) -> &'static str {
            "stall"
        }
        fn validate(&self, _: &serde_json::Value) -> Result<(), crate::kind::InvalidInput> {
            Ok(())
        }
        fn run(
            &self,
            _: &serde_json::Value,
            ctx: &mut dyn RunContext,
        ) -> Result<crate::kind::Output, RunError> {
            use crate::ports::Clock;
            use crate::queue::Queue;
            self.clock.advance(self.ms);
            if self.thief {
                let now = self.clock.now_ms();
                let claim = self.queue.claim(now, now + 30_000, "thief", 1).unwrap();
                assert!(
                    matches!(claim, Claim::Claimed { jobs, .. } if Some(jobs[0].id) == ctx.job_id())
                );
            }
            Ok(crate::kind::Output::json(&json!({"done": true})))
        }
    }

    /// A slow kind that heartbeats (through `sleep`) for two leases, then, as another
    /// worker would, claims whatever it can and checks what the store shows meanwhile.
    struct SlowThenLook {
        clock: crate::memory::ManualClock,
        queue: crate::memory::MemoryQueue,
        kv: crate::memory::MemoryKv,
        seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl crate::kind::Kind for SlowThenLook {
        fn name(&self) -> &'static str {
            "slow"
        }
        fn validate(&self, _: &serde_json::Value) -> Result<(), crate::kind::InvalidInput> {
            Ok(())
        }
        fn run(
            &self,
            _: &serde_json::Value,
            ctx: &mut dyn RunContext,
        ) -> Result<crate::kind::Output, RunError> {
            use crate::ports::{Clock, KeyValue};
            use crate::queue::Queue;
            ctx.sleep(Duration::from_millis(2 * w_lease()));
            let now = self.clock.now_ms();
            let mut seen = self.seen.lock().unwrap();
            match self.queue.claim(now, now + 30_000, "thief", 32).unwrap() {
                Claim::Claimed { jobs, .. } => seen.push(format!("thief took {}", jobs.len())),
                Claim::Empty { .. } => seen.push("thief took 0".into()),
            }
            for key in self.kv.keys() {
                let job = codec::decode_job(&self.kv.get(&key).unwrap().unwrap()).unwrap();
                seen.push(format!("{} {}", job.input["n"], job.status));
            }
            Ok(crate::kind::Output::json(&json!({"done": true})))
        }
    }

    #[test]
    fn a_slow_job_keeps_its_batch_leased_and_shows_the_outcomes_before_it() {
        let mut w = World::new();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        w.registry.register(Box::new(SlowThenLook {
            clock: w.clock.clone(),
            queue: w.queue.clone(),
            kv: w.kv.clone(),
            seen: seen.clone(),
        }));
        // Batches of 1, 2, then 4: the slow job runs second in the third batch.
        let kinds = ["echo", "echo", "echo", "echo", "slow", "echo", "echo"];
        let ids: Vec<JobId> = kinds
            .iter()
            .enumerate()
            .map(|(n, kind)| w.submit(json!({"kind": kind, "input": {"n": n}})))
            .collect();
        let report = drain(&w.ctx(), 10 * w_lease());
        assert_eq!((report.succeeded, report.lost), (7, 0), "{report:?}");
        for id in &ids {
            assert_eq!(w.job(id).attempts, 1, "{id}");
        }
        let seen = seen.lock().unwrap().clone();
        // Two leases later, the jobs waiting behind the slow one were still leased (its
        // heartbeats extended them), so another worker could take none of them...
        assert_eq!(seen[0], "thief took 0", "{seen:?}");
        // ...and the quick job before it had its outcome written by the first heartbeat.
        assert!(seen.contains(&"3 succeeded".to_owned()), "{seen:?}");
        assert!(seen.contains(&"5 running".to_owned()), "{seen:?}");
    }

    fn with_stall(ms: u64, thief: bool) -> World {
        let mut w = World::new();
        let kind = Stall {
            clock: w.clock.clone(),
            queue: w.queue.clone(),
            ms,
            thief,
        };
        w.registry.register(Box::new(kind));
        w
    }

    #[test]
    fn quick_jobs_are_claimed_in_growing_batches_finished_with_the_next_claim() {
        let w = World::new();
        let n = 10;
        let ids: Vec<JobId> = (0..n)
            .map(|_| w.submit(json!({"kind": "echo", "input": {}})))
            .collect();
        let before = w.queue.calls();
        let report = drain(&w.ctx(), 2_000);
        assert_eq!(report.succeeded, n, "{report:?}");
        // One sweep, a claim of 1, then finish-and-claims of 2, 4 and 8 (3 left), and the
        // last finish-and-claim finds the queue empty: no heartbeat while the lease is
        // young, no separate finish.
        assert_eq!(w.queue.calls() - before, 6);
        for id in ids {
            assert_eq!(w.queue.indexed_status(&id), Some(Status::Succeeded));
            assert_eq!(
                (w.job(&id).status, w.job(&id).attempts),
                (Status::Succeeded, 1)
            );
        }
    }

    #[test]
    fn a_slow_batch_makes_the_next_claim_a_single_job() {
        assert_eq!(next_batch(1, 1, 0), 2);
        assert_eq!(next_batch(16, 16, 16 * QUICK_JOB_MS), 32);
        assert_eq!(next_batch(MAX_BATCH, 32, 0), MAX_BATCH);
        // Fewer than asked for (the queue ran short): the size stays.
        assert_eq!(next_batch(8, 3, 0), 8);
        // Slower than quick on average: back to one.
        assert_eq!(next_batch(8, 8, 8 * QUICK_JOB_MS + 1), 1);
        assert_eq!(next_batch(1, 1, 500), 1);
    }

    #[test]
    fn the_last_job_of_a_spent_budget_is_finished_alone() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        w.submit(json!({"kind": "echo", "input": {}}));
        let report = drain(&w.ctx(), 0);
        assert_eq!((report.succeeded, report.stop), (1, Stop::Budget));
        assert_eq!(w.queue.indexed_status(&id), Some(Status::Succeeded));
    }

    #[test]
    fn a_run_that_outlived_its_lease_asks_and_writes_nothing_when_lost() {
        let w = with_stall(w_lease(), true);
        let id = w.submit(json!({"kind": "stall", "input": {}}));
        let report = drain(&w.ctx(), 2_000);
        assert_eq!((report.lost, report.succeeded), (1, 0), "{report:?}");
        // The result never became visible: the record still says running, no result.
        assert_eq!(w.job(&id).status, Status::Running);
        assert!(result(&w.ctx(), id.as_str()).is_err());
        use crate::ports::KeyValue;
        let key = keys::result(&crate::job::Tenant::default_tenant(), &id);
        assert_eq!(w.kv.get(&key).unwrap(), None);
    }

    #[test]
    fn a_run_past_half_its_lease_extends_it_before_writing() {
        let w = with_stall(w_lease() / 2 + 1, false);
        let id = w.submit(json!({"kind": "stall", "input": {}}));
        let before = w.queue.calls();
        let report = drain(&w.ctx(), 60_000);
        assert_eq!(report.succeeded, 1, "{report:?}");
        assert_eq!(w.job(&id).status, Status::Succeeded);
        // sweep, claim, heartbeat, finish-and-claim.
        assert_eq!(w.queue.calls() - before, 4);
    }

    /// A kind that stalls past its lease without a heartbeat, while another worker takes
    /// over every expired job of its batch and finishes the one named `victim` (its
    /// record `succeeded`, written by that worker), as in issue "Trust", item 1.
    struct StallWhileAnotherWorkerFinishes {
        clock: crate::memory::ManualClock,
        queue: crate::memory::MemoryQueue,
        kv: crate::memory::MemoryKv,
        victim: std::sync::Arc<std::sync::Mutex<Option<JobId>>>,
    }

    impl crate::kind::Kind for StallWhileAnotherWorkerFinishes {
        fn name(&self) -> &'static str {
            "stall-then-other"
        }
        fn validate(&self, _: &serde_json::Value) -> Result<(), crate::kind::InvalidInput> {
            Ok(())
        }
        fn run(
            &self,
            _: &serde_json::Value,
            _: &mut dyn RunContext,
        ) -> Result<crate::kind::Output, RunError> {
            use crate::ports::{Clock, KeyValue};
            use crate::queue::Queue;
            self.clock.advance(w_lease() + 1);
            let now = self.clock.now_ms();
            let claim = self.queue.claim(now, now + 30_000, "other", 32).unwrap();
            let victim = self.victim.lock().unwrap().unwrap();
            assert!(
                matches!(&claim, Claim::Claimed { jobs, .. } if jobs.iter().any(|j| j.id == victim)),
                "{claim:?}"
            );
            let tenant = crate::job::Tenant::default_tenant();
            let key = keys::job(&tenant, &victim);
            let mut job = codec::decode_job(&self.kv.get(&key).unwrap().unwrap()).unwrap();
            // As the other worker's claim does with a job whose lease expired.
            job.retry(ErrorInfo::lease_expired()).unwrap();
            job.start(Timestamp::from_ms(now)).unwrap();
            job.succeed(Timestamp::from_ms(now)).unwrap();
            self.kv.set(&key, &codec::encode_job(&job)).unwrap();
            let owned = self
                .queue
                .finish(&victim, "other", Status::Succeeded, now, false)
                .unwrap();
            assert_eq!(owned, crate::queue::Ownership::Owned);
            Ok(crate::kind::Output::json(&json!({"done": true})))
        }
    }

    #[test]
    fn a_buffered_outcome_is_not_written_once_another_worker_holds_the_job() {
        let mut w = World::new();
        let victim = std::sync::Arc::new(std::sync::Mutex::new(None));
        w.registry
            .register(Box::new(StallWhileAnotherWorkerFinishes {
                clock: w.clock.clone(),
                queue: w.queue.clone(),
                kv: w.kv.clone(),
                victim: victim.clone(),
            }));
        // Batches of 1, then 2: A fails for good (its outcome buffered), then the stall
        // outlives the batch's lease while another worker reruns A to success.
        w.submit(json!({"kind": "echo", "input": {}}));
        let a = w.submit(json!({
            "kind": "fail", "input": {"fail_times": 1, "permanent": true}, "max_attempts": 2
        }));
        w.submit(json!({"kind": "stall-then-other", "input": {}}));
        *victim.lock().unwrap() = Some(a);

        let report = drain(&w.ctx(), 60_000);

        // The other worker's outcome stands: the first worker wrote nothing for A.
        let job = w.job(&a);
        assert_eq!(job.status, Status::Succeeded, "{report:?}: {job:?}");
        assert_eq!(w.queue.indexed_status(&a), Some(Status::Succeeded));
        assert!(report.lost >= 1, "{report:?}");
    }

    fn w_lease() -> u64 {
        crate::config::Settings::default().lease_ms
    }

    #[test]
    fn a_spent_budget_rings_again() {
        let w = World::new();
        w.submit(json!({"kind": "echo", "input": {}}));
        w.submit(json!({"kind": "echo", "input": {}}));
        let report = drain(&w.ctx(), 0);
        assert_eq!(
            (report.claimed, report.stop, report.rang_again),
            (1, Stop::Budget, true)
        );
    }
}

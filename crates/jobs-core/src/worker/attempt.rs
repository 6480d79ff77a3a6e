//! One claimed job: what the worker decides for its record ([`Attempt::prepare`]), and
//! one attempt at running it ([`Attempt::execute`]) with the [`RunContext`] the kind
//! sees. Every write asks the job's [`Lease`] first.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use super::lease::Lease;
use super::outbox::{Count, Outbox, Pending};
use super::{FLUSH_MS, PROGRESS_INTERVAL_MS};
use crate::codec;
use crate::context::{Context, StoreError};
use crate::job::{ErrorInfo, ErrorType, Job, JobId, Progress, Refusal, Status, Timestamp};
use crate::keys;
use crate::kind::{Cancelled, Counter, Output, RunContext, RunError};
use crate::queue::{Heartbeat, RetryOutcome};
use crate::retry::RetryPolicy;

/// A claimed job of a batch, as the worker handles it.
pub(super) struct Attempt<'d, 'c> {
    pub(super) ctx: &'d Context<'c>,
    pub(super) outbox: &'d Outbox,
    pub(super) lease: Rc<Lease>,
    /// When its batch was claimed.
    pub(super) claimed_at: u64,
}

/// What [`Attempt::confirm_lease`] found.
enum LeaseCheck {
    Ours,
    /// Another worker holds the job now: write nothing more.
    Lost,
    /// Still ours, and a client asked to cancel.
    CancelRequested,
}

impl Attempt<'_, '_> {
    fn now(&self) -> Timestamp {
        Timestamp::from_ms(self.ctx.now())
    }

    /// Keep back the final record (written with the others); the queue-side finish
    /// follows with the next round trip, after the write.
    fn finish(&self, job: &Job, result: Option<&Output>, dead: bool) {
        self.outbox.finish(&self.lease, job, result, dead);
    }

    /// Ask whether the lease is still ours (a heartbeat, which also extends it); a lost
    /// lease is counted.
    fn confirm_lease(&self, id: &JobId) -> Result<LeaseCheck, StoreError> {
        Ok(self.check(self.lease.heartbeat(self.ctx, id)?))
    }

    /// What a heartbeat's answer means for this attempt; a lost lease is counted.
    fn check(&self, beat: Heartbeat) -> LeaseCheck {
        match beat {
            Heartbeat::Lost => {
                self.outbox.note(|r| r.lost += 1);
                LeaseCheck::Lost
            }
            Heartbeat::Owned {
                cancel_requested: true,
            } => LeaseCheck::CancelRequested,
            Heartbeat::Owned {
                cancel_requested: false,
            } => LeaseCheck::Ours,
        }
    }

    /// `Some(job)` while the lease is ours and nobody asked to cancel (`check`: what the
    /// lease found); otherwise the job is left to its new owner, or recorded cancelled.
    fn still_ours(&self, job: Job, check: LeaseCheck) -> Option<Job> {
        match check {
            LeaseCheck::Ours => Some(job),
            LeaseCheck::Lost => None,
            LeaseCheck::CancelRequested => {
                self.cancel(job);
                None
            }
        }
    }

    pub(super) fn fail(&self, mut job: Job, error: ErrorInfo) {
        if job.fail(self.now(), error).is_err() {
            return self.refused(&job);
        }
        self.finish(&job, None, true);
    }

    fn cancel(&self, mut job: Job) {
        if job.cancel(self.now()).is_err() {
            return self.refused(&job);
        }
        self.finish(&job, None, false);
    }

    /// A transition the record's state does not allow: leave the record, report it.
    fn refused(&self, job: &Job) {
        let (id, status) = (job.id, job.status);
        self.outbox.note(|r| {
            r.skipped += 1;
            r.warn(format!(
                "job {id} in state {status} cannot move on; left as is"
            ));
        });
    }

    /// Decide what a claimed record needs: repair, cancel, fail for good, or a start
    /// (`Some`: the attempt counted in memory; write it as running, then run it).
    pub(super) fn prepare(&self, mut job: Job, cancel_requested: bool) -> Option<Job> {
        if job.status.is_terminal() {
            // The record was written but the finish script never ran.
            let dead = job.status == Status::Failed;
            self.outbox.note(|r| r.repaired += 1);
            self.outbox.pend(Pending::new(
                &self.lease,
                &job.id,
                job.status,
                (dead, job.callback_url.is_some()),
                Count::Repair,
            ));
            return None;
        }
        if cancel_requested {
            self.cancel(job);
            return None;
        }
        if job.status == Status::Running {
            // Its previous attempt's worker stopped answering and the lease expired.
            let lost = ErrorInfo::new(
                ErrorType::LeaseExpired,
                format!("attempt {} stopped answering", job.attempts),
            );
            if job.retry(lost).is_err() {
                self.fail(job, ErrorInfo::lease_expired());
                return None;
            }
        }
        match job.start(self.now()) {
            Ok(()) => Some(job),
            Err(e) if e.reason == Refusal::NoAttemptsLeft => {
                self.fail(job, ErrorInfo::lease_expired());
                None
            }
            Err(_) => {
                self.refused(&job);
                None
            }
        }
    }

    /// Run a started job (its `running` record written) and record the outcome. `Err`
    /// only when the store or queue failed.
    pub(super) async fn execute(self, job: Job) -> Result<(), StoreError> {
        let ctx = self.ctx;
        // Later jobs of a batch start later: make sure the lease is still ours first, and,
        // once the batch has waited a while (a slow job before this one, or no free slot),
        // ask anyway, to see a cancel requested meanwhile. One heartbeat answers for the
        // whole batch: the jobs that start within [`FLUSH_MS`] of it take its answers.
        let now = ctx.now();
        let waited = now.saturating_sub(self.claimed_at) >= FLUSH_MS;
        let job = if waited || !self.lease.surely_held(now) {
            let check = match self.lease.recent(now, &job.id) {
                Some(beat) => self.check(beat),
                None => self.confirm_lease(&job.id)?,
            };
            let Some(job) = self.still_ours(job, check) else {
                return Ok(());
            };
            job
        } else {
            job
        };

        let Some(kind) = ctx.registry.get(&job.kind) else {
            let error = ErrorInfo::internal(format!(
                "kind {:?} is not registered in this worker",
                job.kind
            ));
            self.fail(job, error);
            return Ok(());
        };
        // Parsed only now, one job at a time (an input stored apart was read as text).
        let input = match job.input.value() {
            Ok(value) => value.into_owned(),
            Err(e) => {
                let why = crate::job::unreadable_input(&job.id, e);
                self.fail(job, ErrorInfo::internal(why));
                return Ok(());
            }
        };
        let mut run = Run {
            attempt: &self,
            job,
            last_write: ctx.now(),
            stop: None,
        };
        let outcome = kind.run(&input, &mut run).await;
        let Run { mut job, stop, .. } = run;
        match stop {
            Some(Interrupt::Lost) => {
                self.outbox.note(|r| r.lost += 1);
                return Ok(());
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
                if !self.lease.surely_held(ctx.now())
                    && self.lease.heartbeat(ctx, &job.id)? == Heartbeat::Lost
                {
                    self.outbox.note(|r| r.lost += 1);
                    return Ok(());
                }
                // A small result rides in the final record (one write fewer, visible
                // with `succeeded` at once); a large one goes first under its own key.
                let inline = codec::fits_inline(&output);
                if !inline {
                    ctx.kv.set(
                        &keys::result(&job.tenant, &job.id),
                        &codec::encode_result(&output),
                    )?;
                }
                if job.succeed(self.now()).is_err() {
                    self.refused(&job);
                    return Ok(());
                }
                self.finish(&job, inline.then_some(&output), false);
            }
            Err(RunError::Cancelled) => self.cancel(job),
            Err(_) if cancel_requested => self.cancel(job),
            Err(e @ RunError::Transient(_)) if job.attempts_left() > 0 => {
                self.retry(job, &e)?;
            }
            Err(e) => self.fail(job, e.to_error_info()),
        }
        Ok(())
    }

    /// Schedule the next attempt after a transient failure, with backoff.
    fn retry(&self, job: Job, error: &RunError) -> Result<(), StoreError> {
        let ctx = self.ctx;
        let check = self.confirm_lease(&job.id)?;
        let Some(mut job) = self.still_ours(job, check) else {
            return Ok(());
        };
        let now = ctx.now();
        let delay = RetryPolicy::default().delay_ms(job.attempts, ctx.random.next_u64());
        let due = now.saturating_add(delay);
        if job.retry(error.to_error_info()).is_err() {
            self.refused(&job);
            return Ok(());
        }
        job.not_before = Some(Timestamp::from_ms(due));
        ctx.save_job(&job)?;
        match ctx
            .queue
            .retry(&job.tenant, &job.id, self.lease.token(), due)?
        {
            RetryOutcome::Scheduled => self.outbox.note(|r| r.retried += 1),
            RetryOutcome::Lost => self.outbox.note(|r| r.lost += 1),
            // Asked after the last heartbeat; the lease is still ours: finish as
            // cancelled like any other outcome, the record first.
            RetryOutcome::CancelRequested => self.cancel(job),
        }
        Ok(())
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
struct Run<'a, 'd, 'c> {
    attempt: &'a Attempt<'d, 'c>,
    job: Job,
    last_write: u64,
    stop: Option<Interrupt>,
}

impl Run<'_, '_, '_> {
    /// Extend the lease; write the outcomes kept back meanwhile, so a slow job does not
    /// hide the outcomes of the quick ones before it. False when the run must stop.
    fn heartbeat(&mut self) -> bool {
        let Attempt {
            ctx, outbox, lease, ..
        } = self.attempt;
        let beat = lease.heartbeat(ctx, &self.job.id);
        if let Ok(Heartbeat::Owned { .. }) = beat
            && let Err(e) = outbox.flush(ctx)
        {
            self.stop = Some(Interrupt::Store(e));
            return false;
        }
        self.stop = match beat {
            Ok(Heartbeat::Owned {
                cancel_requested: false,
            }) => return true,
            Ok(Heartbeat::Owned {
                cancel_requested: true,
            }) => Some(Interrupt::Cancel),
            Ok(Heartbeat::Lost) => Some(Interrupt::Lost),
            Err(e) => Some(Interrupt::Store(e)),
        };
        false
    }
}

impl RunContext for Run<'_, '_, '_> {
    fn attempt(&self) -> u32 {
        self.job.attempts
    }

    fn job_id(&self) -> Option<JobId> {
        Some(self.job.id)
    }

    fn counter(&self) -> Option<&dyn Counter> {
        self.attempt.ctx.counter
    }

    fn progress(&mut self, percent: u8, message: Option<&str>) -> Result<(), Cancelled> {
        if self.stop.is_some() {
            return Err(Cancelled);
        }
        let _ = self
            .job
            .set_progress(Progress::new(percent, message.map(str::to_owned)));
        let now = self.attempt.ctx.now();
        if now.saturating_sub(self.last_write) < PROGRESS_INTERVAL_MS && percent < 100 {
            return Ok(());
        }
        self.last_write = now;
        if !self.heartbeat() {
            return Err(Cancelled);
        }
        if let Err(e) = self.attempt.ctx.save_job(&self.job) {
            self.stop = Some(Interrupt::Store(e));
            return Err(Cancelled);
        }
        Ok(())
    }

    /// Wait in slices of a third of the lease, extending it in between, so a long wait
    /// neither loses the lease nor misses a cancel (the next `progress` reports it).
    fn sleep(&mut self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        Box::pin(async move {
            let ctx = self.attempt.ctx;
            let slice = (ctx.settings.lease_ms / 3).max(1);
            let mut left = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
            while left > 0 && self.stop.is_none() {
                let step = left.min(slice);
                ctx.clock.wait_ms(step).await;
                left -= step;
                if left > 0 {
                    self.heartbeat();
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{FLUSH_MS, JobId};
    use crate::codec;
    use crate::job::Status;
    use crate::keys;
    use crate::service::result;
    use crate::service::testing::World;
    use crate::worker::testing::*;

    #[test]
    fn a_small_result_rides_in_the_record_and_a_large_one_under_its_own_key() {
        use crate::ports::KeyValue;
        let w = World::new();
        let big = "x".repeat(codec::INLINE_RESULT_MAX + 1);
        let small = w.submit(json!({"kind": "echo", "input": {"s": "tiny"}}));
        let large = w.submit(json!({"kind": "echo", "input": {"s": big}}));
        assert_eq!(w.drain(2_000).succeeded, 2);

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
    fn a_transient_failure_is_retried_until_it_succeeds() {
        let w = World::new();
        let id = w.submit(json!({"kind": "fail", "input": {"fail_times": 1}, "max_attempts": 3}));
        // The retry's backoff is at most 500 ms, inside the budget: one drain does both.
        let report = w.drain(2_000);
        assert_eq!((report.retried, report.succeeded), (1, 1), "{report:?}");
        let job = w.job(&id);
        assert_eq!((job.status, job.attempts), (Status::Succeeded, 2));
    }

    /// A transiently failing job whose cancel a client asks for just before the worker
    /// retries it (after its last heartbeat); with `store_down`, the store fails every
    /// write from then on.
    fn cancel_before_retry(store_down: bool) -> (World, JobId) {
        use crate::queue::Queue;
        let w = World::new();
        let id = w.submit(json!({"kind": "fail", "input": {"fail_times": 1}, "max_attempts": 3}));
        let (queue, clock, kv) = (w.queue.clone(), w.clock.clone(), w.kv.clone());
        w.queue.before_next_retry(move || {
            use crate::ports::Clock;
            let tenant = crate::job::Tenant::default_tenant();
            let asked = queue.cancel(&tenant, &id, clock.now_ms(), false).unwrap();
            assert_eq!(asked, crate::queue::CancelOutcome::Requested);
            if store_down {
                kv.fail_writes(u32::MAX);
            }
        });
        (w, id)
    }

    #[test]
    fn a_cancel_that_arrives_just_before_a_retry_wins() {
        let (w, id) = cancel_before_retry(false);
        let report = w.drain(2_000);
        assert_eq!(
            (report.cancelled, report.retried, report.succeeded),
            (1, 0, 0),
            "{report:?}"
        );
        assert_eq!(w.job(&id).status, Status::Cancelled);
        assert_eq!(w.queue.indexed_status(&id), Some(Status::Cancelled));
    }

    #[test]
    fn a_cancel_before_a_retry_whose_record_cannot_be_written_is_never_half_done() {
        let (w, id) = cancel_before_retry(true);
        let report = w.drain(2_000);
        assert_eq!(report.cancelled, 0, "{report:?}");
        // The queue did not call it cancelled while its record could not say so: it is
        // still leased, so it comes back when the lease expires.
        w.kv.fail_writes(0);
        assert_eq!(w.job(&id).status, Status::Queued);
        assert_eq!(w.queue.indexed_status(&id), Some(Status::Running));
        w.clock.advance(w_lease() + 1);
        let report = w.drain(2_000);
        assert_eq!((report.cancelled, report.succeeded), (1, 0), "{report:?}");
        assert_eq!(w.job(&id).status, Status::Cancelled);
        assert_eq!(w.queue.indexed_status(&id), Some(Status::Cancelled));
    }

    #[test]
    fn a_job_that_keeps_failing_ends_failed_and_dead() {
        let w = World::new();
        let id = w.submit(json!({"kind": "fail", "input": {"fail_times": 10}, "max_attempts": 2}));
        for _ in 0..5 {
            w.drain(2_000);
            w.clock.advance(5_000);
        }
        let job = w.job(&id);
        assert_eq!((job.status, job.attempts), (Status::Failed, 2));
        assert_eq!(w.queue.indexed_status(&id), Some(Status::Failed));
        assert_eq!(crate::service::stats(&w.ctx()).unwrap().dead, 1);
    }

    #[test]
    fn a_count_job_counts_its_execution_through_the_lent_counter() {
        let mut w = World::new();
        w.settings.enable_test_kinds = true;
        w.registry = crate::kinds::Registry::for_settings(&w.settings);
        let id = w.submit(json!({"kind": "count", "input": {}}));
        let report = w.drain(2_000);
        assert_eq!(report.succeeded, 1, "{report:?}");
        assert_eq!(w.counter.get(crate::kinds::count::TOTAL), 1);
        assert_eq!(w.counter.get(&crate::kinds::count::per_job(&id)), 1);
    }

    #[test]
    fn a_run_that_outlived_its_lease_asks_and_writes_nothing_when_lost() {
        let w = with_stall(w_lease(), true);
        let id = w.submit(json!({"kind": "stall", "input": {}}));
        let report = w.drain(2_000);
        assert_eq!((report.lost, report.succeeded), (1, 0), "{report:?}");
        // The result never became visible: the record still says running, no result.
        assert_eq!(w.job(&id).status, Status::Running);
        assert!(result(&w.ctx(), id.as_str()).is_err());
        use crate::ports::KeyValue;
        let key = keys::result(&crate::job::Tenant::default_tenant(), &id);
        assert_eq!(w.kv.get(&key).unwrap(), None);
    }

    /// A batch of 8 whose first job stalls `ms` before 7 quick ones; a client asks to
    /// cancel the last meanwhile. The report, and the queue calls the drain made.
    fn stall_before_seven(ms: u64) -> (crate::worker::DrainReport, u64) {
        let mut w = World::new();
        let cancel = std::sync::Arc::new(std::sync::Mutex::new(None));
        w.registry.register(Box::new(Stall {
            clock: w.clock.clone(),
            queue: w.queue.clone(),
            ms,
            thief: false,
            cancel: cancel.clone(),
        }));
        // Batches of 1, 2 and 4 quick jobs, then one of 8: the stall first.
        let echo = json!({"kind": "echo", "input": {}});
        for _ in 0..7 {
            w.submit(echo.clone());
        }
        w.submit(json!({"kind": "stall", "input": {}}));
        let quick: Vec<JobId> = (0..7).map(|_| w.submit(echo.clone())).collect();
        *cancel.lock().unwrap() = Some(quick[6]);
        let before = w.queue.calls();
        let report = w.drain(60_000);
        let cancelled = w.job(&quick[6]).status == Status::Cancelled;
        assert_eq!(cancelled, report.cancelled == 1, "{report:?}");
        (report, w.queue.calls() - before)
    }

    #[test]
    fn jobs_that_start_after_a_stall_ask_about_their_batch_once_and_see_a_cancel() {
        let (quick, calls_quick) = stall_before_seven(FLUSH_MS - 1);
        // Within FLUSH_MS nobody asks: the cancel is seen only by the job's own checks.
        assert_eq!((quick.succeeded, quick.cancelled), (15, 0), "{quick:?}");
        let (slow, calls_slow) = stall_before_seven(FLUSH_MS);
        // Past it, the first quick job's heartbeat answers for the whole batch: the
        // others start on its answers, and the last, whose cancel it reported, is
        // recorded cancelled, not run.
        assert_eq!((slow.succeeded, slow.cancelled), (14, 1), "{slow:?}");
        assert_eq!(
            calls_slow,
            calls_quick + 1,
            "one heartbeat, not one per job"
        );
    }

    #[test]
    fn a_run_past_half_its_lease_extends_it_before_writing() {
        let w = with_stall(w_lease() / 2 + 1, false);
        let id = w.submit(json!({"kind": "stall", "input": {}}));
        let before = w.queue.calls();
        let report = w.drain(60_000);
        assert_eq!(report.succeeded, 1, "{report:?}");
        assert_eq!(w.job(&id).status, Status::Succeeded);
        // sweep, a look for webhook deliveries, claim, heartbeat, finish-and-claim, and a
        // second look once the claim finds nothing (the drain computed for 10 s, so it
        // looked for none meanwhile, and what it knew of them is old).
        assert_eq!(w.queue.calls() - before, 6);
    }
}

//! The drain loop for one doorbell: retention sweep (at most a third of the budget), then
//! claim and run jobs until the queue is empty or the time budget is spent, then more
//! retention if time is left, then ring again if work (or a retention backlog) remains.
//!
//! Round trips: a job's queue-side finish goes out with the next claim
//! (`finish_and_claim`), and the lease is checked with a heartbeat before the outcome is
//! written only when less than half of it is left (docs/architecture.md step 4 says why
//! that is as safe).
//!
//! Waiting: when nothing is ready but a delayed job becomes due (or a lease expires)
//! within the budget, the loop waits for it, claiming again at least every
//! [`POLL_MS`]. Work due later is watched for by one worker (see [`WATCH_POLL_MS`]).
//! While runs of waiting kinds go on, the loop keeps claiming every [`WATCH_POLL_MS`],
//! past its budget too, as long as a run started before the deadline goes on: the
//! instance is busy until they end, and a job that arrives meanwhile should not wait for
//! them. Runs started past the deadline do not keep it claiming, so a steady stream of
//! waiting jobs cannot hold one drain for ever.

use std::cell::RefCell;
use std::rc::Rc;

use super::hooks::Hooks;
use super::lease::Lease;
use super::outbox::Outbox;
use super::report::{DrainReport, Stop};
use super::side::SideBySide;
use super::{MAX_BATCH, POLL_MS, QUICK_JOB_MS, WATCH_POLL_MS, batch, retention};
use crate::context::{Context, StoreError};
use crate::job::JobId;
use crate::queue::{Claim, ClaimedRecords, Finish};

/// Whether a drain keeps the watch for work due after its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// A worker: nothing else will ring when delayed work becomes due.
    Keep,
    /// `POST /internal/drain`: the scheduler that calls it is the timer.
    Leave,
}

/// Drain the queue for at most `budget_ms` (at least one claim is always made, and runs
/// of waiting kinds are seen to their end), as a worker woken by the doorbell does: when
/// work becomes due only after the budget (a delay, a retry's backoff), this worker
/// keeps the watch for it unless another one does (see [`WATCH_POLL_MS`]).
pub async fn drain(ctx: &Context<'_>, budget_ms: u64) -> DrainReport {
    drain_with(ctx, budget_ms, Watch::Keep).await
}

/// [`drain`], saying whether to keep the watch.
pub async fn drain_with(ctx: &Context<'_>, budget_ms: u64, watch: Watch) -> DrainReport {
    let start = ctx.now();
    let deadline = start.saturating_add(budget_ms);
    let outbox = Outbox::default();
    // Retention first, but for at most a third of the budget, so that both retention
    // and the queue keep up with a steady stream of jobs.
    let mut more_to_sweep = retention::sweep(ctx, &outbox, start.saturating_add(budget_ms / 3));

    let mut side = SideBySide::new(ctx.settings.worker_concurrency, deadline);
    let mut hooks = Hooks::default();
    let mut ring_for_due = false;
    let watch_token = ctx.random.token();
    let mut watching = false;
    let mut size = 1;
    let mut claimed_once = false;
    let mut rang_for_late = false;
    // Whether that ring went out.
    let mut rang_late = false;
    // The last failure of a run (or a batch) in the store or the queue: after one, the
    // drain takes no more work, and the runs going side by side go on to their end (their
    // outcomes are sent as they come). Each failure is reported, but not the same one
    // again and again (Redis down while a long run goes on).
    let last_failure: RefCell<Option<String>> = RefCell::new(None);
    let run_failed = || last_failure.borrow().is_some();
    let failed_run = |e: StoreError| {
        let failure = format!("a run: {e}");
        if last_failure.borrow().as_deref() != Some(failure.as_str()) {
            outbox.note(|r| r.fail(failure.clone()));
            *last_failure.borrow_mut() = Some(failure);
        }
    };
    let stop = loop {
        // Runs of waiting kinds move on between the loop's own steps.
        let kept = match side.turn(ctx, &outbox).await {
            Ok(()) => side.keep_parked(ctx, &outbox),
            Err(e) => Err(e),
        };
        if let Err(e) = kept {
            failed_run(e);
        }
        // Past the deadline, new work (jobs, deliveries) is taken only while runs started
        // before it go on; at least one claim is always made.
        let taking =
            !run_failed() && (!claimed_once || ctx.now() < deadline || side.has_early_runs());
        if !taking && side.is_empty() {
            break if run_failed() {
                Stop::Failed
            } else {
                Stop::Budget
            };
        }
        if !taking {
            // Runs claimed late go on, and this instance takes nothing more: another
            // worker may, if rung (once).
            if !rang_for_late {
                rang_for_late = true;
                rang_late = ring_on(ctx, budget_ms);
            }
            // Their finishes go out as they come; else no call to make.
            if !outbox.has_pending() {
                if let Err(e) = side.wait(ctx, &outbox, WATCH_POLL_MS).await {
                    failed_run(e);
                }
                continue;
            }
        }
        // Webhook deliveries take the slots runs leave free.
        if taking && let Err(e) = hooks.send_due(ctx, &outbox, &mut side).await {
            failed_run(e);
        }
        if side.has_parked() {
            // No slot for what is claimed already: claim nothing more until there is.
            if let Err(e) = side.wait(ctx, &outbox, POLL_MS).await {
                failed_run(e);
            }
            continue;
        }
        let now = ctx.now();
        let token = ctx.random.token();
        let lease_until = now.saturating_add(ctx.settings.lease_ms);
        let max = match (taking, side.is_full()) {
            (false, _) => 0,
            (true, true) => 1,
            (true, false) => size,
        };
        claimed_once = true;
        let (claim, records) =
            match finish_and_claim(ctx, &outbox, &mut hooks, (now, lease_until), &token, max) {
                Ok(claimed) => claimed,
                Err(e) => {
                    // As a failed finish: the records are final, the leases expire, and the
                    // next claim repairs the queue side.
                    outbox.note(|r| r.fail(e));
                    break Stop::Failed;
                }
            };
        match claim {
            Claim::Claimed {
                tenant,
                jobs,
                invalid,
            } => {
                for raw in invalid {
                    outbox.note(|r| r.skipped += 1);
                    outbox.warn(format!(
                        "dropped a ready entry that is not a job id: {raw:?}"
                    ));
                }
                if !jobs.is_empty() {
                    let n = jobs.len();
                    outbox.note(|r| r.claimed += n as u32);
                    let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
                    let lease = Rc::new(Lease::new(
                        tenant,
                        token,
                        ids,
                        lease_until,
                        ctx.settings.lease_ms,
                    ));
                    match batch::run(ctx, &outbox, (&jobs, records), lease, &mut side).await {
                        Ok(mut ran) => {
                            if let Some(e) = ran.beside_failed.take() {
                                failed_run(e);
                            }
                            hooks.batch_ran(ran.run_ms, ctx.now());
                            size = next_batch(size, n, ran.run_ms, ran.waiting);
                        }
                        // The batch's jobs not run stay leased; their leases expire and they
                        // run again. Runs going side by side go on to their end.
                        Err(e) => failed_run(e),
                    }
                }
            }
            Claim::Empty {
                next_due_ms,
                next_expiry_ms,
            } => {
                // Done computing: look for deliveries before waiting or ending, as what
                // it knows of them is from before.
                if hooks.batch_ran(0, now)
                    && taking
                    && let Err(e) = hooks.send_due(ctx, &outbox, &mut side).await
                {
                    failed_run(e);
                }
                if taking && hooks.look_now() && !side.is_full() {
                    // Finishes just sent put events in the outbox: deliver them.
                    continue;
                }
                if !side.is_empty() {
                    // Runs go on: wait for one, and look for new work now and then.
                    if let Err(e) = side.wait(ctx, &outbox, WATCH_POLL_MS).await {
                        failed_run(e);
                    }
                    continue;
                }
                // Work due later: a delayed job, or a webhook delivery to try again.
                let next_due_ms = [next_due_ms, hooks.next_due].into_iter().flatten().min();
                let next = [next_due_ms, next_expiry_ms].into_iter().flatten().min();
                match next {
                    Some(at) if at < deadline => {
                        let wait = at.saturating_sub(now).clamp(1, POLL_MS);
                        ctx.clock
                            .wait_ms(wait.min(deadline.saturating_sub(now)).max(1))
                            .await;
                        continue;
                    }
                    // Work due after this drain's deadline needs a doorbell then, and none
                    // comes by itself while nobody submits or polls. One worker keeps the
                    // watch: it waits out its budget, claiming every WATCH_POLL_MS, and
                    // rings again at the end; the others stop.
                    _ if next_due_ms.is_some()
                        && watch == Watch::Keep
                        && now < deadline
                        && keeps_watch(ctx, &outbox, &watch_token, deadline - now) =>
                    {
                        watching = true;
                        ctx.clock
                            .wait_ms(WATCH_POLL_MS.min(deadline.saturating_sub(now)).max(1))
                            .await;
                        continue;
                    }
                    _ if watching && next_due_ms.is_some() => {
                        // Out of budget with the due work still ahead: ring for it.
                        break Stop::Budget;
                    }
                    // Due now, past the deadline: a claim stopped at its share of the ids
                    // of cancelled jobs (queue/lua/prelude.lua) with jobs behind them, or
                    // work came due just now. Nothing else would ring for it.
                    Some(at) if at <= now => break Stop::Budget,
                    _ => {
                        ring_for_due = watch == Watch::Leave
                            && next_due_ms.is_some_and(|at| {
                                at < deadline.saturating_add(budget_ms.max(POLL_MS))
                            });
                        break Stop::Empty;
                    }
                }
            }
        }
        if ctx.now() >= deadline && side.is_empty() {
            break Stop::Budget;
        }
    };
    // Empty unless a finish or a claim failed (a call to the queue itself): runs still
    // going are dropped, and their leases expire.
    drop(side);
    outbox.note(|r| {
        if r.stop != Stop::Failed {
            r.stop = stop;
        }
    });

    // The outcomes reached are written, and their finishes sent alone, even after a
    // failure elsewhere; if the write fails, the finishes are not sent. A failure is
    // tried again for a while ([`LAST_SEND_TRIES_MS`]): with the store in the queue the
    // outcomes exist nowhere else, and jobs whose outcome is lost run again (a Redis
    // restart takes a moment). The script checks each token, so a finish whose lease
    // another worker took meanwhile is lost, not applied.
    let give_up = ctx
        .now()
        .saturating_add(LAST_SEND_TRIES_MS.min(ctx.settings.lease_ms / 2));
    let mut pause = LAST_SEND_PAUSE_MS;
    while outbox.has_pending() {
        let now = ctx.now();
        let Err(e) = finish_and_claim(ctx, &outbox, &mut hooks, (now, now), "", 0) else {
            break;
        };
        if now.saturating_add(pause) > give_up {
            outbox.note(|r| r.fail(e));
            break;
        }
        outbox.warn(format!("{e}; tried again in {pause} ms"));
        ctx.clock.wait_ms(pause).await;
        pause = pause.saturating_mul(2);
    }

    let mut report = outbox.into_report();
    // Nothing to run and time left: spend it on retention.
    if more_to_sweep && report.stop == Stop::Empty && ctx.now() < deadline {
        let outbox = Outbox::default();
        more_to_sweep = retention::sweep(ctx, &outbox, deadline);
        let swept = outbox.into_report();
        report.swept += swept.swept;
        for warning in swept.warnings {
            report.warn(warning);
        }
        report.more_warnings = report.more_warnings.saturating_add(swept.more_warnings);
    }
    // A retention backlog rings too, so storage shrinks even when no job comes.
    // Events put in the outbox by the last finishes need a worker awake to deliver them.
    let events_left = hooks.look_now();
    if report.stop == Stop::Budget || ring_for_due || more_to_sweep || events_left {
        report.rang_again = ring_on(ctx, budget_ms);
    }
    if rang_late {
        report.rang_again = true;
    }
    report.elapsed_ms = ctx.now().saturating_sub(start);
    report
}

/// How long a drain's last send of outcomes is tried again after a failure (at most half
/// a lease), the first pause between tries, doubled each time.
pub(super) const LAST_SEND_TRIES_MS: u64 = 5_000;
pub(super) const LAST_SEND_PAUSE_MS: u64 = 100;

/// Ring again for a drain of `budget_ms`. A drain shorter than the ring window would find
/// its ring suppressed by the one that started it, and its work would wait for a
/// submission or a poll: it is held back only by a ring within its own budget (and
/// [`POLL_MS`] at least, so that drains of no budget cannot flood the workers).
fn ring_on(ctx: &Context<'_>, budget_ms: u64) -> bool {
    let window = budget_ms.clamp(POLL_MS, crate::context::RING_WINDOW_MS);
    ctx.ring_again_within("drain", window)
}

/// Whether this drain holds the watch (taking it if it is free) until `ttl_ms` from now:
/// it lapses at the drain's deadline, so the next drain, started by this one's ring, can
/// take it. A failure to ask only means no watch.
fn keeps_watch(ctx: &Context<'_>, outbox: &Outbox, token: &str, ttl_ms: u64) -> bool {
    match ctx.queue.watch(token, ttl_ms) {
        Ok(held) => held,
        Err(e) => {
            outbox.warn(format!("watch for delayed work: {e}"));
            false
        }
    }
}

/// Write the outcomes kept back, then finish the pending jobs and claim up to `max` in
/// one round trip, counting the finishes. When the store is the queue's Redis the
/// outcomes travel with the finishes instead, written by the same script only for the
/// jobs the token still holds, and the claimed jobs' records come back with the claim:
/// one round trip for all three. `Err` is the log line of a failure.
fn finish_and_claim(
    ctx: &Context<'_>,
    outbox: &Outbox,
    hooks: &mut Hooks,
    (now, lease_until): (u64, u64),
    token: &str,
    max: u32,
) -> Result<(Claim, Option<ClaimedRecords>), String> {
    // Asked only with finishes to send: a drain that finds nothing reads no marker.
    let in_queue = outbox.has_pending() && ctx.kv.is_queue_redis();
    let written = if in_queue {
        outbox.attach_records(ctx)
    } else {
        outbox.flush(ctx)
    };
    // The records stay kept back and the finishes pending: the next call (the drain's
    // last, at the latest) tries again, and no finish goes out without its record.
    if let Err(e) = written {
        return Err(format!("writing outcomes: {e}"));
    }
    let pending = outbox.take_pending();
    let finishes: Vec<Finish> = pending.iter().map(|p| p.finish.clone()).collect();
    let done = if in_queue {
        ctx.queue
            .finish_and_claim_reading(&finishes, now, lease_until, token, max)
            .map(|(owned, claim, records)| (owned, claim, Some(records)))
    } else {
        ctx.queue
            .finish_and_claim(&finishes, now, lease_until, token, max)
            .map(|(owned, claim)| (owned, claim, None))
    };
    match done {
        Ok((owned, claim, records)) => {
            if pending
                .iter()
                .zip(&owned)
                .any(|(p, o)| p.finish.hook && *o == crate::queue::Ownership::Owned)
            {
                hooks.expect_events();
            }
            outbox.note(|r| {
                for (p, owned) in pending.iter().zip(owned) {
                    p.count(owned, r);
                }
            });
            Ok((claim, records))
        }
        Err(e) => {
            let ids: Vec<String> = finishes.iter().map(|f| f.id.to_string()).collect();
            // Sent again by the drain's last call: the outcomes (with the store in the
            // queue, the records too) are not lost with one round trip. The script checks
            // each token again, so finishes that took effect after all count as lost.
            outbox.put_back(pending);
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
/// slower batch or one with a waiting kind, so a worker never holds slow jobs that
/// another worker could run.
pub(super) fn next_batch(batch: u32, claimed: usize, elapsed_ms: u64, waiting: bool) -> u32 {
    let claimed = claimed.max(1) as u64;
    if waiting || elapsed_ms > QUICK_JOB_MS.saturating_mul(claimed) {
        1
    } else if claimed >= u64::from(batch) {
        batch.saturating_mul(2).min(MAX_BATCH)
    } else {
        batch
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::job::{JobId, Status};
    use crate::service::result;
    use crate::service::testing::World;
    use crate::worker::drain::next_batch;
    use crate::worker::{MAX_BATCH, QUICK_JOB_MS, Stop, Watch};

    #[test]
    fn a_drain_runs_queued_jobs_to_success_and_stores_results() {
        let w = World::new();
        let a = w.submit(json!({"kind": "echo", "input": {"x": 1}}));
        let b = w.submit(json!({"kind": "echo", "input": {"x": 2}}));
        let report = w.drain(2_000);
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
    fn work_due_after_the_budget_is_watched_for_and_rung_for_at_the_end() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}, "delay_ms": 3_000}));

        let first = w.drain(2_000);
        let second = w.drain(2_000);

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

        let report = w.drain(2_000);

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

        let report = w.drain_with(2_000, Watch::Leave);

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
        let report = w.drain(2_000);
        assert_eq!(
            (report.claimed, report.stop, report.rang_again),
            (0, Stop::Empty, false)
        );
    }

    #[test]
    fn quick_jobs_are_claimed_in_growing_batches_finished_with_the_next_claim() {
        let w = World::new();
        let n = 10;
        let ids: Vec<JobId> = (0..n)
            .map(|_| w.submit(json!({"kind": "echo", "input": {}})))
            .collect();
        let before = w.queue.calls();
        let report = w.drain(2_000);
        assert_eq!(report.succeeded, n, "{report:?}");
        // One sweep, one look for webhook deliveries, a claim of 1, then
        // finish-and-claims of 2, 4 and 8 (3 left), and the last finish-and-claim finds
        // the queue empty: no heartbeat while the lease is young, no separate finish.
        assert_eq!(w.queue.calls() - before, 7);
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
        assert_eq!(next_batch(1, 1, 0, false), 2);
        assert_eq!(next_batch(16, 16, 16 * QUICK_JOB_MS, false), 32);
        assert_eq!(next_batch(MAX_BATCH, 32, 0, false), MAX_BATCH);
        // Fewer than asked for (the queue ran short): the size stays.
        assert_eq!(next_batch(8, 3, 0, false), 8);
        // Slower than quick on average: back to one.
        assert_eq!(next_batch(8, 8, 8 * QUICK_JOB_MS + 1, false), 1);
        assert_eq!(next_batch(1, 1, 500, false), 1);
    }

    #[test]
    fn the_last_job_of_a_spent_budget_is_finished_alone() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        w.submit(json!({"kind": "echo", "input": {}}));
        let report = w.drain(0);
        assert_eq!((report.succeeded, report.stop), (1, Stop::Budget));
        assert_eq!(w.queue.indexed_status(&id), Some(Status::Succeeded));
    }

    #[test]
    fn a_short_budget_rings_again_after_a_ring_that_started_it() {
        let w = World::new();
        w.submit(json!({"kind": "sleep", "input": {"ms": 300}}));
        // A poll rang just now, waking this worker.
        assert!(w.ctx().ring_again("poll"));

        let report = w.drain(200);

        // 300 ms after that ring, within the poll's window but past the drain's own.
        assert_eq!((report.stop, report.rang_again), (Stop::Budget, true));
        assert!(
            !w.ctx().ring_again("poll"),
            "the drain's ring counts as a ring"
        );
    }

    #[test]
    fn a_spent_budget_rings_again() {
        let w = World::new();
        w.submit(json!({"kind": "echo", "input": {}}));
        w.submit(json!({"kind": "echo", "input": {}}));
        let report = w.drain(0);
        assert_eq!(
            (report.claimed, report.stop, report.rang_again),
            (1, Stop::Budget, true)
        );
    }
}

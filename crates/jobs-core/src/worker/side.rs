//! Runs of waiting kinds going on side by side inside one worker instance: up to
//! `worker_concurrency` at once, the rest parked (claimed, leased and kept renewed)
//! until a slot is free. The drain loop turns them over between its own steps.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use futures::future::{Either, select};
use futures::stream::{FuturesUnordered, StreamExt};

use super::lease::Lease;
use super::outbox::Outbox;
use crate::context::{Context, StoreError};
use crate::job::JobId;

/// One attempt in progress: done when its outcome is kept back in the outbox.
pub(super) type Going<'d> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + 'd>>;

pub(super) struct SideBySide<'d> {
    limit: usize,
    going: FuturesUnordered<Going<'d>>,
    parked: VecDeque<Parked<'d>>,
    /// Attempts started (or parked) before `deadline` and not done yet.
    early: Rc<Cell<usize>>,
    /// The drain's deadline: attempts started past it are late.
    deadline: u64,
}

/// One early attempt, counted until it is done or dropped (parked and lost, say).
struct Early(Rc<Cell<usize>>);

impl Early {
    fn count(early: &Rc<Cell<usize>>) -> Early {
        early.set(early.get() + 1);
        Early(early.clone())
    }
}

impl Drop for Early {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// An attempt waiting for a slot, and the lease to keep meanwhile.
struct Parked<'d> {
    lease: Rc<Lease>,
    id: JobId,
    attempt: Going<'d>,
}

impl<'d> SideBySide<'d> {
    pub(super) fn new(limit: usize, deadline: u64) -> Self {
        SideBySide {
            limit: limit.max(1),
            going: FuturesUnordered::new(),
            parked: VecDeque::new(),
            early: Rc::default(),
            deadline,
        }
    }

    /// Some attempt started before the deadline still goes on (or waits parked).
    pub(super) fn has_early_runs(&self) -> bool {
        self.early.get() > 0
    }

    /// Nothing going and nothing parked.
    pub(super) fn is_empty(&self) -> bool {
        self.going.is_empty() && self.parked.is_empty()
    }

    /// Every slot taken: a claim now takes one job at a time.
    pub(super) fn is_full(&self) -> bool {
        self.going.len() >= self.limit
    }

    /// Slots no run holds.
    pub(super) fn free_slots(&self) -> usize {
        self.limit.saturating_sub(self.going.len())
    }

    /// Start `work` that holds no lease (a webhook delivery) in a free slot.
    pub(super) fn start_free(&mut self, work: Going<'d>) {
        self.going.push(work);
    }

    /// Some attempt waits for a slot: claim nothing more until it has one.
    pub(super) fn has_parked(&self) -> bool {
        !self.parked.is_empty()
    }

    /// Start `attempt` at `now` (it runs when the drain next turns things over), or park
    /// it.
    pub(super) fn start(
        &mut self,
        (lease, id): (Rc<Lease>, JobId),
        attempt: Going<'d>,
        outbox: &Outbox,
        now: u64,
    ) {
        let attempt = if now >= self.deadline {
            attempt
        } else {
            let counted = Early::count(&self.early);
            Box::pin(async move {
                let _counted = counted;
                attempt.await
            })
        };
        self.push(lease, id, attempt, outbox);
    }

    /// [`SideBySide::start`] of an attempt counted already.
    fn push(&mut self, lease: Rc<Lease>, id: JobId, attempt: Going<'d>, outbox: &Outbox) {
        if self.is_full() {
            self.parked.push_back(Parked { lease, id, attempt });
        } else {
            self.going.push(attempt);
            let going = self.going.len() as u32;
            outbox.note(|r| r.most_side_by_side = r.most_side_by_side.max(going));
        }
    }

    /// Let every attempt whose wait is over move on, without waiting for any: one turn
    /// of the host's executor (a wait of 0 ms). Parked attempts take the freed slots.
    pub(super) async fn turn(
        &mut self,
        ctx: &Context<'_>,
        outbox: &Outbox,
    ) -> Result<(), StoreError> {
        if self.going.is_empty() {
            return Ok(());
        }
        let mut tick = ctx.clock.wait_ms(0);
        loop {
            match select(self.going.next(), tick).await {
                Either::Left((Some(done), rest)) => {
                    // A run that failed frees its slot too: a parked attempt takes it
                    // (the drain sees the others to their end).
                    self.unpark(outbox);
                    done?;
                    if self.going.is_empty() {
                        return Ok(());
                    }
                    tick = rest;
                }
                Either::Left((None, _)) | Either::Right(_) => return Ok(()),
            }
        }
    }

    /// Wait until an attempt is done or `ms` have passed, whichever is first.
    pub(super) async fn wait(
        &mut self,
        ctx: &Context<'_>,
        outbox: &Outbox,
        ms: u64,
    ) -> Result<(), StoreError> {
        if self.going.is_empty() {
            ctx.clock.wait_ms(ms).await;
            return Ok(());
        }
        if let Either::Left((Some(done), _)) =
            select(self.going.next(), ctx.clock.wait_ms(ms)).await
        {
            self.unpark(outbox);
            done?;
        }
        Ok(())
    }

    /// Keep the leases of the parked attempts (a renewal only when half is spent); an
    /// attempt whose job another worker took is dropped and counted as lost.
    pub(super) fn keep_parked(
        &mut self,
        ctx: &Context<'_>,
        outbox: &Outbox,
    ) -> Result<(), StoreError> {
        let mut kept = VecDeque::with_capacity(self.parked.len());
        let mut asking = std::mem::take(&mut self.parked);
        while let Some(parked) = asking.pop_front() {
            match parked.lease.still_held(ctx, &[parked.id]) {
                Ok(held) if held[0] => kept.push_back(parked),
                Ok(_) => outbox.note(|r| r.lost += 1),
                Err(e) => {
                    // Not asked: kept as they were, the one asked first.
                    kept.push_back(parked);
                    kept.append(&mut asking);
                    self.parked = kept;
                    return Err(e);
                }
            }
        }
        self.parked = kept;
        Ok(())
    }

    fn unpark(&mut self, outbox: &Outbox) {
        while !self.is_full() {
            let Some(Parked { lease, id, attempt }) = self.parked.pop_front() else {
                return;
            };
            self.push(lease, id, attempt, outbox);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::job::{JobId, Status};
    use crate::service::cancel;
    use crate::service::testing::World;
    use crate::worker::testing::*;
    use crate::worker::{Stop, WATCH_POLL_MS};

    #[test]
    fn waiting_runs_go_side_by_side_and_a_quick_job_does_not_wait_for_them() {
        use crate::ports::Clock;
        let w = World::new();
        assert_eq!(w.settings.worker_concurrency, 8);
        let sleeps: Vec<JobId> = (0..8)
            .map(|_| w.submit(json!({"kind": "sleep", "input": {"ms": 20_000}})))
            .collect();
        let echo = w.submit(json!({"kind": "echo", "input": {}}));
        let start = w.clock.now_ms();

        let report = w.drain(2_000);

        assert_eq!((report.succeeded, report.lost), (9, 0), "{report:?}");
        assert_eq!(report.most_side_by_side, 8, "{report:?}");
        assert!(finished_after(&w, &echo, start) < 1_000);
        for id in &sleeps {
            let took = finished_after(&w, id, start);
            assert!((20_000..21_000).contains(&took), "{id} took {took} ms");
        }
        // Side by side: the eight waits overlapped, so the drain took one wait, not eight.
        assert!(report.elapsed_ms < 21_000, "{report:?}");
        // Its runs held it past its budget: it stops there, and rings for what may
        // have come meanwhile.
        assert_eq!(report.stop, Stop::Budget, "{report:?}");
    }

    #[test]
    fn a_job_submitted_while_runs_wait_is_claimed_at_once_past_the_budget() {
        use crate::ports::Clock;
        let w = World::new();
        w.submit(json!({"kind": "sleep", "input": {"ms": 10_000}}));
        let start = w.clock.now_ms();
        let ctx = w.ctx();
        let drain = crate::worker::drain(&ctx, 2_000);
        let later = async {
            // Five seconds in (past the drain's budget), a job arrives.
            w.clock.wait_ms(5_000).await;
            w.submit(json!({"kind": "echo", "input": {}}))
        };
        let (report, echo) = w.clock.block_on(futures::future::join(drain, later));
        assert_eq!(report.succeeded, 2, "{report:?}");
        let took = finished_after(&w, &echo, start);
        assert!((5_000..5_000 + 2 * WATCH_POLL_MS).contains(&took), "{took}");
    }

    #[test]
    fn a_stream_of_waiting_jobs_past_the_budget_does_not_hold_the_drain() {
        use crate::ports::Clock;
        let w = World::new();
        w.submit(json!({"kind": "sleep", "input": {"ms": 10_000}}));
        let start = w.clock.now_ms();
        let ctx = w.ctx();
        let drain = crate::worker::drain(&ctx, 2_000);
        // A ten-second job every five seconds, for a minute.
        let stream = async {
            let mut ids = Vec::new();
            for _ in 0..12 {
                w.clock.wait_ms(5_000).await;
                ids.push(w.submit(json!({"kind": "sleep", "input": {"ms": 10_000}})));
            }
            ids
        };
        let (report, ids) = w.clock.block_on(futures::future::join(drain, stream));

        // The job that came while the first run went on was taken at once; those that
        // came only while later runs went on were left to the next drain, which the
        // stop on the budget rings for.
        let second = w.job(&ids[0]);
        assert!(second.started_at.unwrap().as_ms() < start + 5_000 + 2 * WATCH_POLL_MS);
        assert_eq!(w.job(&ids[2]).status, Status::Queued);
        assert_eq!(report.stop, Stop::Budget, "{report:?}");
        assert!(report.rang_again, "{report:?}");
        assert!(report.elapsed_ms < 20_000, "{report:?}");
        // It rang once when it stopped taking work, for other workers, and at its end.
        let rings = w
            .queue
            .published()
            .iter()
            .filter(|d| d.payload == "drain")
            .count();
        assert_eq!(rings, 2);
    }

    #[test]
    fn a_run_that_fails_in_the_store_leaves_the_runs_beside_it_to_their_end() {
        use crate::ports::Clock;
        let w = World::new();
        let first = w.submit(json!({"kind": "sleep", "input": {"ms": 10_000}}));
        let second = w.submit(json!({"kind": "sleep", "input": {"ms": 10_000}}));
        let later = w.submit(json!({"kind": "echo", "input": {}, "delay_ms": 4_000}));
        let ctx = w.ctx();
        let drain = crate::worker::drain(&ctx, 30_000);
        // Three seconds in, one progress write fails: that run stops.
        let blip = async {
            w.clock.wait_ms(3_000).await;
            w.kv.fail_writes(1);
        };
        let (report, ()) = w.clock.block_on(futures::future::join(drain, blip));

        // The other run went on to its end and was recorded; nothing new was taken.
        assert_eq!(report.stop, Stop::Failed, "{report:?}");
        assert_eq!(report.succeeded, 1, "{report:?}");
        let statuses = [w.job(&first).status, w.job(&second).status];
        assert!(
            statuses.contains(&Status::Succeeded) && statuses.contains(&Status::Running),
            "{statuses:?}"
        );
        assert_eq!(w.job(&later).status, Status::Queued);
        assert!(report.elapsed_ms >= 10_000, "{report:?}");
    }

    #[test]
    fn a_run_that_fails_hands_its_slot_to_a_parked_one() {
        use crate::ports::Clock;
        let mut w = World::new();
        w.settings.worker_concurrency = 1;
        let first = w.submit(json!({"kind": "sleep", "input": {"ms": 10_000}}));
        let parked = w.submit(json!({"kind": "sleep", "input": {"ms": 10_000}}));
        let ctx = w.ctx();
        let drain = crate::worker::drain(&ctx, 30_000);
        let blip = async {
            w.clock.wait_ms(3_000).await;
            w.kv.fail_writes(1);
        };
        let both = futures::future::join(drain, blip);
        // A drain that never ends would hold the parked job's lease for ever.
        let ended = w.clock.block_on(async {
            match futures::future::select(Box::pin(both), w.clock.wait_ms(120_000)).await {
                futures::future::Either::Left(((report, ()), _)) => Some(report),
                futures::future::Either::Right(_) => None,
            }
        });

        let report = ended.expect("the drain ends");
        assert_eq!(report.stop, Stop::Failed, "{report:?}");
        assert_eq!(w.job(&first).status, Status::Running);
        assert_eq!(w.job(&parked).status, Status::Succeeded);
        assert_eq!(w.job(&parked).attempts, 1);
    }

    #[test]
    fn a_batch_that_fails_in_the_store_leaves_the_runs_beside_it_to_their_end() {
        use crate::ports::Clock;
        let w = World::new();
        let sleep = w.submit(json!({"kind": "sleep", "input": {"ms": 10_000}}));
        let ctx = w.ctx();
        let drain = crate::worker::drain(&ctx, 30_000);
        // Three seconds in, a quick job comes, and the write that marks it running fails.
        let quick = async {
            w.clock.wait_ms(3_000).await;
            let id = w.submit(json!({"kind": "echo", "input": {}}));
            w.kv.fail_writes(1);
            id
        };
        let (report, quick) = w.clock.block_on(futures::future::join(drain, quick));

        assert_eq!(report.stop, Stop::Failed, "{report:?}");
        assert_eq!(w.job(&sleep).status, Status::Succeeded);
        assert_ne!(w.job(&quick).status, Status::Succeeded);
        assert!(report.elapsed_ms >= 10_000, "{report:?}");
    }

    #[test]
    fn a_run_that_fails_beside_a_batch_mate_is_left_for_another_worker() {
        use crate::ports::Clock;
        let w = World::new();
        // A quick job first, so that the next claim takes both sleeps in one batch.
        w.submit(json!({"kind": "echo", "input": {}}));
        let long = w.submit(json!({"kind": "sleep", "input": {"ms": 100_000}}));
        let short = w.submit(json!({"kind": "sleep", "input": {"ms": 10_000}}));
        let ctx = w.ctx();
        let first = crate::worker::drain(&ctx, 30_000);
        // The short sleep's progress write at 3.2 s fails (the long one writes every
        // 500 ms); a second worker drains at 40 s, past the lease of the failed run.
        let blip = async {
            w.clock.wait_ms(3_100).await;
            w.kv.fail_writes(1);
        };
        let second = async {
            w.clock.wait_ms(40_000).await;
            crate::worker::drain(&ctx, 30_000).await
        };
        let (report, (), again) = w
            .clock
            .block_on(futures::future::join3(first, blip, second));

        assert_eq!(report.stop, Stop::Failed, "{report:?}");
        assert_eq!(w.job(&long).attempts, 1);
        assert_eq!(w.job(&long).status, Status::Succeeded);
        // Its batch-mate's heartbeats no longer kept the failed run's lease: the second
        // worker ran it again.
        assert_eq!(again.succeeded, 1, "{again:?}");
        let short = w.job(&short);
        assert_eq!((short.status, short.attempts), (Status::Succeeded, 2));
    }

    #[test]
    fn past_the_limit_a_waiting_run_is_parked_with_its_lease_kept() {
        let mut w = World::new();
        w.settings.worker_concurrency = 2;
        let long = 2 * w.settings.lease_ms;
        let ids: Vec<JobId> = (0..3)
            .map(|_| w.submit(json!({"kind": "sleep", "input": {"ms": long}})))
            .collect();
        let echo = w.submit(json!({"kind": "echo", "input": {}}));

        let report = w.drain(2_000);

        assert_eq!((report.succeeded, report.lost), (4, 0), "{report:?}");
        assert_eq!(report.most_side_by_side, 2, "{report:?}");
        // The third waited for a slot (its lease kept meanwhile: run once, attempt 1), and
        // claims stopped while it waited, so the echo came after it started.
        for id in &ids {
            assert_eq!(w.job(id).attempts, 1, "{id}");
        }
        assert!(report.elapsed_ms >= 2 * long, "{report:?}");
        let third_started = w.job(&ids[2]).started_at.unwrap().as_ms();
        assert!(w.job(&echo).started_at.unwrap().as_ms() >= third_started);
    }

    #[test]
    fn a_run_going_side_by_side_stops_when_cancelled() {
        use crate::ports::Clock;
        let w = World::new();
        let id = w.submit(json!({"kind": "sleep", "input": {"ms": 60_000}}));
        let ctx = w.ctx();
        let drain = crate::worker::drain(&ctx, 2_000);
        let cancel_it = async {
            w.clock.wait_ms(3_000).await;
            cancel(&w.ctx(), id.as_str()).unwrap();
        };
        let (report, ()) = w.clock.block_on(futures::future::join(drain, cancel_it));
        assert_eq!(report.cancelled, 1, "{report:?}");
        assert_eq!(w.job(&id).status, Status::Cancelled);
        assert!(report.elapsed_ms < 5_000, "{report:?}");
    }
}

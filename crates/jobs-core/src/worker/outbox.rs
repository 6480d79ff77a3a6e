//! What the parts of one drain share while attempts run side by side: the report, the
//! final records not written yet, and the queue-side finishes waiting for the next
//! claim's round trip. Single-threaded: every borrow ends before the next await.
//!
//! The order of writes is the worker's promise: a job's final record is written (by
//! [`Outbox::flush`], only while this worker holds the job) before its queue-side finish
//! is sent (by the drain loop, with its next claim), or with it, by the same script, when
//! the store is the queue's Redis ([`Outbox::attach_records`]).

use std::cell::RefCell;
use std::rc::Rc;

use super::lease::Lease;
use super::report::DrainReport;
use crate::codec;
use crate::context::{Context, StoreError};
use crate::job::{Job, JobId, Status};
use crate::keys;
use crate::kind::Output;
use crate::queue::{Finish, Ownership};

#[derive(Default)]
pub(super) struct Outbox {
    report: RefCell<DrainReport>,
    finals: RefCell<Vec<Final>>,
    pending: RefCell<Vec<Pending>>,
}

/// A final record waiting to be written, and the lease it was reached under.
struct Final {
    lease: Rc<Lease>,
    id: JobId,
    key: String,
    record: Vec<u8>,
}

/// A job whose record is final (or was found final), waiting for the queue-side finish.
pub(super) struct Pending {
    pub(super) finish: Finish,
    count: Count,
}

/// What a [`Pending`] finish adds to the report once the queue answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Count {
    /// A run's outcome: succeeded, failed or cancelled by its status; lost if not owned.
    Outcome,
    /// A record found final at claim time (counted as repaired already).
    Repair,
    /// A record that could not be read (counted as skipped already).
    Skipped,
}

impl Pending {
    pub(super) fn new(
        lease: &Lease,
        job: &JobId,
        status: Status,
        (dead, hook): (bool, bool),
        count: Count,
    ) -> Self {
        Pending {
            finish: Finish {
                tenant: lease.tenant().clone(),
                id: *job,
                token: lease.token().to_owned(),
                status,
                dead,
                hook,
                record: None,
            },
            count,
        }
    }

    /// Count the queue's answer in `report`.
    pub(super) fn count(&self, owned: Ownership, report: &mut DrainReport) {
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

impl Outbox {
    /// Change the report.
    pub(super) fn note(&self, change: impl FnOnce(&mut DrainReport)) {
        change(&mut self.report.borrow_mut());
    }

    pub(super) fn warn(&self, warning: String) {
        self.note(|r| r.warn(warning));
    }

    /// The report, once the drain is over.
    pub(super) fn into_report(self) -> DrainReport {
        self.report.into_inner()
    }

    /// Keep back `job`'s final record (with a small result inline) and queue its finish.
    pub(super) fn finish(&self, lease: &Rc<Lease>, job: &Job, result: Option<&Output>, dead: bool) {
        self.finals.borrow_mut().push(Final {
            lease: lease.clone(),
            id: job.id,
            key: keys::job(&job.tenant, &job.id),
            record: codec::encode_job_with_result(job, result),
        });
        self.pend(Pending::new(
            lease,
            &job.id,
            job.status,
            (dead, job.callback_url.is_some()),
            Count::Outcome,
        ));
    }

    /// Queue a finish that needs no record written.
    pub(super) fn pend(&self, pending: Pending) {
        self.pending.borrow_mut().push(pending);
    }

    /// Whether finishes wait to be sent (every kept-back record has one).
    pub(super) fn has_pending(&self) -> bool {
        !self.pending.borrow().is_empty()
    }

    /// The finishes to send, all written: call right after a successful [`Outbox::flush`].
    pub(super) fn take_pending(&self) -> Vec<Pending> {
        std::mem::take(&mut self.pending.borrow_mut())
    }

    /// Put back finishes taken by [`Outbox::take_pending`] whose sending failed, in front
    /// of any queued since, records and all.
    pub(super) fn put_back(&self, pending: Vec<Pending>) {
        let mut kept = self.pending.borrow_mut();
        let since = std::mem::replace(&mut *kept, pending);
        kept.extend(since);
    }

    /// Write the final records kept back, in one call: those of jobs whose lease this
    /// worker still holds. Another worker's job gets nothing written by this one (its
    /// queue-side finish, token-checked, then counts it as lost). When the write fails,
    /// the records stay kept back: no finish goes out without its record, and the next
    /// flush (the drain's last, at the latest) tries again.
    pub(super) fn flush(&self, ctx: &Context<'_>) -> Result<(), StoreError> {
        let held = self.take_held(ctx)?;
        if held.is_empty() {
            return Ok(());
        }
        let pairs: Vec<(String, Vec<u8>)> = held
            .iter()
            .map(|f| (f.key.clone(), f.record.clone()))
            .collect();
        if let Err(e) = ctx.kv.set_many(&pairs) {
            self.keep_back(held);
            return Err(e.into());
        }
        Ok(())
    }

    /// Give each pending finish its job's final record kept back, for the queue to write
    /// with the finish, in the same script, if the token still holds the job then: when
    /// the store is the queue's Redis. The records of jobs this worker knows it lost are
    /// dropped, as [`Outbox::flush`] drops them.
    pub(super) fn attach_records(&self, ctx: &Context<'_>) -> Result<(), StoreError> {
        let mut held: std::collections::HashMap<JobId, (String, Vec<u8>)> = self
            .take_held(ctx)?
            .into_iter()
            .map(|f| (f.id, (f.key, f.record)))
            .collect();
        for pending in self.pending.borrow_mut().iter_mut() {
            // A finish put back after a failed send has its record already.
            if let Some(record) = held.remove(&pending.finish.id) {
                pending.finish.record = Some(record);
            }
        }
        Ok(())
    }

    /// The final records kept back whose jobs this worker still holds, taken out (those
    /// of jobs it lost are dropped). When the lease cannot be asked, nothing is taken.
    fn take_held(&self, ctx: &Context<'_>) -> Result<Vec<Final>, StoreError> {
        let finals = std::mem::take(&mut *self.finals.borrow_mut());
        match held(ctx, &finals) {
            Ok(held) => Ok(finals
                .into_iter()
                .zip(held)
                .filter_map(|(f, held)| held.then_some(f))
                .collect()),
            Err(e) => {
                self.keep_back(finals);
                Err(e)
            }
        }
    }

    /// Put `finals` back in front of any kept back since they were taken.
    fn keep_back(&self, finals: Vec<Final>) {
        let mut kept = self.finals.borrow_mut();
        let since = std::mem::replace(&mut *kept, finals);
        kept.extend(since);
    }
}

/// Whether each of `finals` is still held, asking each lease once for its jobs.
fn held(ctx: &Context<'_>, finals: &[Final]) -> Result<Vec<bool>, StoreError> {
    let mut held: Vec<Option<bool>> = vec![None; finals.len()];
    for first in 0..finals.len() {
        if held[first].is_some() {
            continue;
        }
        let lease = &finals[first].lease;
        let of: Vec<usize> = (first..finals.len())
            .filter(|&i| Rc::ptr_eq(&finals[i].lease, lease))
            .collect();
        let ids: Vec<JobId> = of.iter().map(|&i| finals[i].id).collect();
        for (i, answer) in of.into_iter().zip(lease.still_held(ctx, &ids)?) {
            held[i] = Some(answer);
        }
    }
    Ok(held.into_iter().map(|h| h == Some(true)).collect())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use serde_json::json;

    use crate::job::{JobId, Status};
    use crate::kind::{RunContext, Running};
    use crate::memory::{ManualClock, MemoryKv};
    use crate::service::testing::World;
    use crate::worker::testing::*;
    use crate::worker::{DrainReport, FLUSH_MS};

    #[test]
    fn a_buffered_outcome_is_not_written_once_another_worker_holds_the_job() {
        lost_lease_writes_nothing(World::new());
    }

    #[test]
    fn a_buffered_outcome_sent_with_the_finish_is_not_written_once_another_worker_holds_the_job() {
        lost_lease_writes_nothing(World::new().with_store_in_queue());
    }

    #[test]
    fn with_the_store_in_the_queue_outcomes_are_written_by_the_finish() {
        let w = World::new().with_store_in_queue();
        let ids: Vec<_> = (0..5)
            .map(|i| w.submit(json!({"kind": "echo", "input": {"i": i}})))
            .collect();
        let report = w.drain(60_000);
        assert_eq!(report.succeeded, 5, "{report:?}");
        for id in ids {
            assert_eq!(w.job(&id).status, Status::Succeeded);
            assert_eq!(w.queue.indexed_status(&id), Some(Status::Succeeded));
        }
    }

    #[test]
    fn outcomes_whose_write_failed_midway_are_written_by_the_drains_last_flush() {
        // The write after the outage's run fails once; the drain stops, and its last
        // flush writes the records kept back before the finishes go out.
        let (w, a, o, report) = drain_through_outage(1);
        assert!(report.error.is_some(), "{report:?}");
        for id in [a, o] {
            assert_eq!(w.job(&id).status, Status::Succeeded, "{report:?}");
            assert_eq!(w.queue.indexed_status(&id), Some(Status::Succeeded));
            assert_eq!(w.job(&id).attempts, 1);
        }
    }

    #[test]
    fn no_finish_goes_out_while_its_record_cannot_be_written() {
        // Every write fails after the outage's run: the queue must not call the jobs
        // finished while their records say running; their leases expire and they run
        // again once the store is back.
        let (w, a, o, report) = drain_through_outage(u32::MAX);
        assert!(report.error.is_some(), "{report:?}");
        for id in [a, o] {
            assert_eq!(w.job(&id).status, Status::Running, "{report:?}");
            assert_eq!(w.queue.indexed_status(&id), Some(Status::Running));
        }
        w.clock.advance(w_lease() + 1);
        let again = w.drain(60_000);
        assert_eq!(again.succeeded, 2, "{again:?}");
        for id in [a, o] {
            assert_eq!(w.job(&id).status, Status::Succeeded);
            assert_eq!(w.queue.indexed_status(&id), Some(Status::Succeeded));
            assert_eq!(w.job(&id).attempts, 2);
        }
    }

    #[test]
    fn outcomes_whose_finish_failed_are_sent_again_by_the_drains_last_call() {
        // With the store in the queue the records travel with the finishes: a failed round
        // trip must not take them along.
        let w = World::new().with_store_in_queue();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        w.submit(json!({"kind": "echo", "input": {}}));
        w.queue.fail_next_finish();

        let report = w.drain(60_000);

        stopped_yet_recorded_once(&w, &id, &report);
    }

    #[test]
    fn outcomes_are_sent_again_for_a_while_when_the_queue_fails_past_one_round_trip() {
        // Redis restarting: the drain's finish fails, and its last call's first tries.
        let w = World::new().with_store_in_queue();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        w.submit(json!({"kind": "echo", "input": {}}));
        w.queue.fail_next_finishes(4);
        let start = crate::ports::Clock::now_ms(&w.clock);

        let report = w.drain(60_000);

        stopped_yet_recorded_once(&w, &id, &report);
        // It paused between tries (100, 200 and 400 ms).
        let waited = crate::ports::Clock::now_ms(&w.clock) - start;
        assert!(waited >= 700, "{waited} ms");
        // Past that while, the drain gives up: the leases expire and the jobs run again.
        let w = World::new().with_store_in_queue();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        w.queue.fail_next_finishes(u32::MAX);
        let report = w.drain(60_000);
        assert!(report.error.is_some(), "{report:?}");
        assert_eq!(w.queue.indexed_status(&id), Some(Status::Running));
    }

    #[test]
    fn outcomes_whose_write_before_the_finish_failed_are_written_by_the_drains_last_flush() {
        let mut w = World::new();
        w.registry.register(Box::new(BreakNextWrite(w.kv.clone())));
        let id = w.submit(json!({"kind": "break-next-write", "input": {}}));
        w.submit(json!({"kind": "echo", "input": {}}));

        let report = w.drain(60_000);

        stopped_yet_recorded_once(&w, &id, &report);
    }

    /// The drain stopped on a failure, and `id` is recorded and indexed succeeded, after
    /// its one attempt.
    fn stopped_yet_recorded_once(w: &World, id: &JobId, report: &DrainReport) {
        assert!(report.error.is_some(), "{report:?}");
        let job = w.job(id);
        assert_eq!(
            (job.status, job.attempts),
            (Status::Succeeded, 1),
            "{report:?}"
        );
        assert_eq!(w.queue.indexed_status(id), Some(Status::Succeeded));
    }

    /// A kind that has the store fail its next write, the one of its own outcome.
    struct BreakNextWrite(MemoryKv);

    impl crate::kind::Kind for BreakNextWrite {
        fn name(&self) -> &'static str {
            "break-next-write"
        }
        fn validate(&self, _: &serde_json::Value) -> Result<(), crate::kind::InvalidInput> {
            Ok(())
        }
        fn run<'a>(&'a self, _: &'a serde_json::Value, _: &'a mut dyn RunContext) -> Running<'a> {
            Box::pin(async move {
                self.0.fail_writes(1);
                Ok(crate::kind::Output::json(&json!({"done": true})))
            })
        }
    }

    /// A drain of three jobs (a batch of one, then echo `a` and an outage `o` in a batch
    /// of two) through a store whose next `failures` writes fail once `o` has run for
    /// [`FLUSH_MS`], so that `a`'s and `o`'s records, kept back, meet the failure.
    fn drain_through_outage(failures: u32) -> (World, JobId, JobId, DrainReport) {
        let mut w = World::new();
        w.registry.register(Box::new(Outage {
            clock: w.clock.clone(),
            kv: w.kv.clone(),
            failures,
            fired: AtomicBool::new(false),
        }));
        w.submit(json!({"kind": "echo", "input": {}}));
        let a = w.submit(json!({"kind": "echo", "input": {"a": 1}}));
        let o = w.submit(json!({"kind": "outage", "input": {}}));
        let report = w.drain(60_000);
        w.kv.fail_writes(0);
        (w, a, o, report)
    }

    /// A kind that takes [`FLUSH_MS`], then has the store fail its next `failures` writes
    /// (once: a second run only succeeds).
    struct Outage {
        clock: ManualClock,
        kv: MemoryKv,
        failures: u32,
        fired: AtomicBool,
    }

    impl crate::kind::Kind for Outage {
        fn name(&self) -> &'static str {
            "outage"
        }
        fn validate(&self, _: &serde_json::Value) -> Result<(), crate::kind::InvalidInput> {
            Ok(())
        }
        fn run<'a>(&'a self, _: &'a serde_json::Value, _: &'a mut dyn RunContext) -> Running<'a> {
            Box::pin(async move {
                if !self.fired.swap(true, Ordering::SeqCst) {
                    self.clock.advance(FLUSH_MS);
                    self.kv.fail_writes(self.failures);
                }
                Ok(crate::kind::Output::json(&json!({"done": true})))
            })
        }
    }

    fn lost_lease_writes_nothing(mut w: World) {
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

        let report = w.drain(60_000);

        // The other worker's outcome stands: the first worker wrote nothing for A.
        let job = w.job(&a);
        assert_eq!(job.status, Status::Succeeded, "{report:?}: {job:?}");
        assert_eq!(w.queue.indexed_status(&a), Some(Status::Succeeded));
        assert!(report.lost >= 1, "{report:?}");
    }
}

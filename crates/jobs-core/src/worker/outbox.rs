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
        self.note(|r| r.warnings.push(warning));
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

    /// Forget the finishes not sent: after a failed flush their records may be missing.
    /// Their leases expire and the next claim repairs or reruns each job.
    pub(super) fn drop_pending(&self) {
        self.pending.borrow_mut().clear();
    }

    /// Write the final records kept back, in one call: those of jobs whose lease this
    /// worker still holds. Another worker's job gets nothing written by this one (its
    /// queue-side finish, token-checked, then counts it as lost).
    pub(super) fn flush(&self, ctx: &Context<'_>) -> Result<(), StoreError> {
        let pairs: Vec<(String, Vec<u8>)> = self
            .take_held(ctx)?
            .into_iter()
            .map(|(_, key, record)| (key, record))
            .collect();
        if !pairs.is_empty() {
            ctx.kv.set_many(&pairs)?;
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
            .map(|(id, key, record)| (id, (key, record)))
            .collect();
        for pending in self.pending.borrow_mut().iter_mut() {
            pending.finish.record = held.remove(&pending.finish.id);
        }
        Ok(())
    }

    /// The final records kept back whose jobs this worker still holds, taken out.
    fn take_held(&self, ctx: &Context<'_>) -> Result<Vec<(JobId, String, Vec<u8>)>, StoreError> {
        let mut rest = std::mem::take(&mut *self.finals.borrow_mut());
        let mut pairs = Vec::with_capacity(rest.len());
        while let Some(first) = rest.first() {
            let lease = first.lease.clone();
            let (mine, others): (Vec<Final>, Vec<Final>) =
                rest.into_iter().partition(|f| Rc::ptr_eq(&f.lease, &lease));
            rest = others;
            let ids: Vec<JobId> = mine.iter().map(|f| f.id).collect();
            let held = lease.still_held(ctx, &ids)?;
            pairs.extend(
                mine.into_iter()
                    .zip(held)
                    .filter_map(|(f, held)| held.then_some((f.id, f.key, f.record))),
            );
        }
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::job::Status;
    use crate::service::testing::World;
    use crate::worker::testing::*;

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

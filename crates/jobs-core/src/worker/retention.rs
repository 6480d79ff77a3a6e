//! Retention: the records of jobs finished longer than `job_ttl_seconds` ago are deleted,
//! then forgotten by the queue, a batch (of one tenant) at a time, the tenant whose
//! oldest finished job is oldest first.

use super::outbox::Outbox;
use crate::context::Context;
use crate::keys;

/// Finished jobs deleted per batch.
pub const SWEEP_LIMIT: u32 = 100;

/// Retention: delete the records of jobs finished longer than `job_ttl_seconds` ago,
/// then forget them in the queue, a batch of at most [`SWEEP_LIMIT`] at a time: at least
/// one batch, more while batches find jobs and `until` (ms) has not passed. True when
/// more may be due: the last batch found jobs (a batch is one tenant's, so one that is not
/// full says nothing of the others). Failures only delay retention.
pub(super) fn sweep(ctx: &Context<'_>, outbox: &Outbox, until: u64) -> bool {
    loop {
        match sweep_batch(ctx, outbox) {
            Some(Swept::Some) if ctx.now() >= until => return true,
            Some(Swept::Some) => continue,
            Some(Swept::None) | None => return false,
        }
    }
}

/// What one batch of [`sweep`] found.
enum Swept {
    None,
    Some,
}

/// One batch of [`sweep`], or `None` when the store or queue failed.
fn sweep_batch(ctx: &Context<'_>, outbox: &Outbox) -> Option<Swept> {
    let now = ctx.now();
    let cutoff = ctx.retention_cutoff(now);
    let (tenant, ids) = match ctx.queue.expired(now, cutoff, SWEEP_LIMIT) {
        Ok(Some(expired)) => (expired.tenant, expired.ids),
        Ok(None) => return Some(Swept::None),
        Err(e) => {
            outbox.warn(format!("retention sweep: {e}"));
            return None;
        }
    };
    if ids.is_empty() {
        return Some(Swept::None);
    }
    // Every key of the batch in one call (one round trip on Spin's batch interface,
    // where three deletes a job cost more than running it), each job's record first.
    let stored: Vec<String> = ids
        .iter()
        .flat_map(|id| {
            [
                keys::job(&tenant, id),
                keys::result(&tenant, id),
                keys::input(&tenant, id),
            ]
        })
        .collect();
    if let Err(e) = ctx.kv.delete_many(&stored) {
        // Some may be gone: the ids stay indexed, read as expired meanwhile (an absent
        // record is skipped), and the next sweep deletes the rest and forgets them.
        outbox.warn(format!("retention sweep of {} jobs: {e}", ids.len()));
        return None;
    }
    match ctx.queue.forget(&tenant, &ids) {
        Ok(()) => {
            let n = ids.len() as u32;
            outbox.note(|r| r.swept += n);
        }
        Err(e) => {
            outbox.warn(format!("retention sweep: {e}"));
            return None;
        }
    }
    Some(Swept::Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::World;
    use serde_json::json;

    #[test]
    fn retention_deletes_old_finished_jobs() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        w.drain(2_000);
        w.clock.advance(w.settings.job_ttl_seconds * 1_000 + 1);
        let report = w.drain(2_000);
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
        assert_eq!(w.drain(60_000).succeeded as usize, n);
        w.clock.advance(w.settings.job_ttl_seconds * 1_000 + 1);
        let report = w.drain(2_000);
        assert_eq!(report.swept as usize, n, "{report:?}");
        assert!(!report.rang_again, "nothing left: {report:?}");
        assert!(w.kv.keys().is_empty());
    }

    /// The store, counting the deletes asked of it: one at a time, and batches.
    struct CountsDeletes<'a> {
        kv: &'a crate::memory::MemoryKv,
        single: std::cell::Cell<usize>,
        batches: std::cell::Cell<usize>,
    }

    impl crate::ports::KeyValue for CountsDeletes<'_> {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, crate::ports::PortError> {
            self.kv.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), crate::ports::PortError> {
            self.kv.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), crate::ports::PortError> {
            self.single.set(self.single.get() + 1);
            self.kv.delete(key)
        }
        fn delete_many(&self, keys: &[String]) -> Result<(), crate::ports::PortError> {
            self.batches.set(self.batches.get() + 1);
            self.kv.delete_many(keys)
        }
    }

    #[test]
    fn retention_deletes_a_batch_of_jobs_in_one_store_call() {
        let w = World::new();
        let n = SWEEP_LIMIT as usize * 2 + 50;
        for i in 0..n {
            // Some with an input stored apart, so that each job has keys of every sort.
            let input = if i % 10 == 0 {
                json!({"s": "x".repeat(20_000)})
            } else {
                json!({})
            };
            w.submit(json!({"kind": "echo", "input": input}));
        }
        assert_eq!(w.drain(60_000).succeeded as usize, n);
        w.clock.advance(w.settings.job_ttl_seconds * 1_000 + 1);
        let kv = CountsDeletes {
            kv: &w.kv,
            single: Default::default(),
            batches: Default::default(),
        };
        let ctx = crate::context::Context { kv: &kv, ..w.ctx() };

        let report = w.clock.block_on(crate::worker::drain(&ctx, 2_000));

        assert_eq!(report.swept as usize, n, "{report:?}");
        assert!(w.kv.keys().is_empty(), "{:?}", w.kv.keys());
        assert_eq!((kv.single.get(), kv.batches.get()), (0, 3));
    }

    #[test]
    fn a_retention_backlog_left_by_a_spent_budget_rings_again() {
        let w = World::new();
        let n = SWEEP_LIMIT as usize + 10;
        for _ in 0..n {
            w.submit(json!({"kind": "echo", "input": {}}));
        }
        w.drain(60_000);
        w.clock.advance(w.settings.job_ttl_seconds * 1_000 + 1);
        let rings = w.queue.published().len();
        let report = w.drain(0);
        assert_eq!(report.swept, SWEEP_LIMIT, "{report:?}");
        assert!(report.rang_again, "{report:?}");
        assert_eq!(w.queue.published().len(), rings + 1);
        // What is left may be another tenant's: a batch that found jobs rings again.
        w.clock.advance(crate::service::RING_WINDOW_MS);
        let report = w.drain(0);
        assert_eq!(report.swept, 10, "{report:?}");
        assert!(report.rang_again, "{report:?}");
        w.clock.advance(crate::service::RING_WINDOW_MS);
        let report = w.drain(0);
        assert_eq!(report.swept, 0, "{report:?}");
        assert!(!report.rang_again, "{report:?}");
    }

    #[test]
    fn a_short_batch_of_one_tenant_left_by_a_spent_budget_rings_for_the_next_tenant() {
        let w = World::new();
        let b = crate::job::Tenant::parse("b").unwrap();
        w.submit(json!({"kind": "echo", "input": {}}));
        for _ in 0..3 {
            let ctx = crate::context::Context {
                tenant: b.clone(),
                ..w.ctx()
            };
            crate::service::submit(&ctx, br#"{"kind":"echo","input":{}}"#, None).unwrap();
        }
        w.drain(60_000);
        w.clock.advance(w.settings.job_ttl_seconds * 1_000 + 1);

        let report = w.drain(0);

        // One tenant's batch, not full: the other's jobs are due too.
        assert!(report.swept > 0 && report.swept < 4, "{report:?}");
        assert!(report.rang_again, "{report:?}");
        w.clock.advance(crate::service::RING_WINDOW_MS);
        assert_eq!(w.drain(0).swept + report.swept, 4);
    }
}

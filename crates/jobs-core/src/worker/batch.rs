//! One claimed batch: read the records in one call, decide for each job, mark every job
//! about to run as running in one write (so each attempt is counted before anything
//! runs), then run them in order. A job whose last attempt stopped answering (it may have
//! killed its worker) is marked and run alone, before the others are marked, so that if
//! it kills this worker too only its own attempt is counted. Inputs stored apart are read first, at most
//! [`INPUT_BYTES_AT_ONCE`] of them by the body limit at a time: a batch with more does
//! the reads, the write and the runs a group at a time. A computing kind runs to its end
//! here; a waiting kind starts side by side and the batch moves on. Outcomes are kept
//! back and written together, sooner once the batch has run [`FLUSH_MS`].

use std::rc::Rc;

use super::attempt::Attempt;
use super::lease::Lease;
use super::outbox::{Count, Outbox, Pending};
use super::side::SideBySide;
use super::{FLUSH_MS, INPUT_BYTES_AT_ONCE, POLL_MS};
use crate::context::{Context, StoreError};
use crate::job::{ErrorInfo, Job, JobId, Status, Tenant};
use crate::keys;
use crate::queue::{ClaimedJob, ClaimedRecords};

/// What a batch's runs took, for the size of the next claim.
pub(super) struct Ran {
    /// Time spent running computing kinds (not the store calls around them).
    pub(super) run_ms: u64,
    /// Whether any job of the batch was of a waiting kind.
    pub(super) waiting: bool,
    /// The first failure in the store of a run going beside the batch (of an earlier
    /// batch), met between its jobs: the batch goes on (its jobs are marked running
    /// already), and the drain takes it as a failed run afterwards.
    pub(super) beside_failed: Option<StoreError>,
}

/// Run the batch `jobs`, claimed under `lease`, their records read now unless the claim
/// brought them. `Err` only when the store or queue fails: the drain takes no more work,
/// and the jobs not started are left ([`Lease::abandon_waiting`]): their leases expire
/// and they run again.
pub(super) async fn run<'d>(
    ctx: &'d Context<'_>,
    outbox: &'d Outbox,
    batch: (&[ClaimedJob], Option<ClaimedRecords>),
    lease: Rc<Lease>,
    side: &mut SideBySide<'d>,
) -> Result<Ran, StoreError> {
    let ran = run_batch(ctx, outbox, batch, lease.clone(), side).await;
    if ran.is_err() {
        // Runs going beside them would keep their leases for as long as they go on.
        lease.abandon_waiting();
    }
    ran
}

/// [`run`], but for what a failure leaves.
async fn run_batch<'d>(
    ctx: &'d Context<'_>,
    outbox: &'d Outbox,
    (jobs, records): (&[ClaimedJob], Option<ClaimedRecords>),
    lease: Rc<Lease>,
    side: &mut SideBySide<'d>,
) -> Result<Ran, StoreError> {
    let claimed_at = ctx.now();
    let attempt = || Attempt {
        ctx,
        outbox,
        lease: lease.clone(),
        claimed_at,
    };
    let records = match records {
        Some(values) => {
            let values = reread_own_writes(ctx, lease.tenant(), lease.ids(), values)?;
            ctx.decode_jobs(lease.tenant(), lease.ids(), values)
        }
        None => ctx.load_jobs(lease.tenant(), lease.ids())?,
    };
    let mut to_run = Vec::with_capacity(jobs.len());
    let mut recovered = Vec::new();
    for (claimed, record) in jobs.iter().zip(records) {
        let id = claimed.id;
        let job = match record {
            Ok(Some(job)) => job,
            Ok(None) => {
                // Never recorded (a submit rolled back after its script ran) or swept.
                outbox.note(|r| r.skipped += 1);
                outbox.warn(format!(
                    "claimed {id} has no record; dropped from the queue"
                ));
                // What was stored apart goes too: nothing would name it again.
                let tenant = lease.tenant();
                ctx.kv.delete(&keys::input(tenant, &id))?;
                ctx.kv.delete(&keys::result(tenant, &id))?;
                ctx.queue.forget(tenant, &[id])?;
                continue;
            }
            Err(StoreError::Corrupt { key, reason }) => {
                outbox.note(|r| r.skipped += 1);
                outbox.warn(format!(
                    "claimed {id} has a malformed record at {key}: {reason}; indexed as failed"
                ));
                outbox.pend(Pending::new(
                    &lease,
                    &id,
                    Status::Failed,
                    (true, false),
                    Count::Skipped,
                ));
                continue;
            }
            Err(e) => return Err(e),
        };
        let stopped_answering = job.status == Status::Running;
        let started = attempt().prepare(job, claimed.cancel_requested);
        if let Some(job) = &started {
            lease.to_start(&job.id);
        }
        match started {
            Some(job) if stopped_answering => recovered.push(vec![job]),
            Some(job) => to_run.push(job),
            None => {}
        }
    }
    let mut ran = Ran {
        run_ms: 0,
        waiting: false,
        beside_failed: None,
    };
    let per_group = inputs_at_once(ctx.settings.max_body_bytes);
    let alone_first = recovered.into_iter();
    for group in alone_first.chain(groups(to_run, per_group)) {
        run_group(ctx, outbox, (group, claimed_at), &lease, side, &mut ran).await?;
    }
    Ok(ran)
}

/// Run one group of a batch (see [`groups`]): read the inputs stored apart (one call)
/// before anything is marked running, as a job whose input is gone cannot run at all;
/// mark the jobs still held as running (one write); run them.
async fn run_group<'d>(
    ctx: &'d Context<'_>,
    outbox: &'d Outbox,
    (group, claimed_at): (Vec<Job>, u64),
    lease: &Rc<Lease>,
    side: &mut SideBySide<'d>,
    ran: &mut Ran,
) -> Result<(), StoreError> {
    let attempt = || Attempt {
        ctx,
        outbox,
        lease: lease.clone(),
        claimed_at,
    };
    // Attempts parked by the group before hold their inputs: let them start first.
    while side.has_parked() {
        side.wait(ctx, outbox, POLL_MS).await?;
        side.keep_parked(ctx, outbox)?;
    }
    let (to_run, broken) = ctx.load_inputs(group)?;
    for (job, why) in broken {
        lease.started(&job.id);
        attempt().fail(job, ErrorInfo::internal(why));
    }
    // Still ours after the reads? (Surely, unless they took half a lease.)
    let ids: Vec<JobId> = to_run.iter().map(|job| job.id).collect();
    let held = lease.still_held(ctx, &ids)?;
    let to_run: Vec<Job> = to_run
        .into_iter()
        .zip(held)
        .filter_map(|(job, held)| held.then_some(job))
        .collect();
    let lost = (ids.len() - to_run.len()) as u32;
    outbox.note(|r| r.lost += lost);
    ctx.save_jobs(&to_run)?;

    for job in to_run {
        let id = job.id;
        lease.started(&id);
        let waits = ctx.registry.get(&job.kind).is_some_and(|kind| kind.waits());
        if waits {
            ran.waiting = true;
            let running = attempt().execute(job);
            let of_run = lease.clone();
            let run = Box::pin(async move {
                let ran = running.await;
                if ran.is_err() {
                    // The runs beside it would keep its lease for as long as they go on.
                    of_run.abandon(&id);
                }
                ran
            });
            side.start((lease.clone(), id), run, outbox, ctx.now());
            continue;
        }
        let started = ctx.now();
        if let Err(e) = attempt().execute(job).await {
            lease.abandon(&id);
            return Err(e);
        }
        ran.run_ms += ctx.now().saturating_sub(started);
        if ctx.now().saturating_sub(claimed_at) >= FLUSH_MS {
            outbox.flush(ctx)?;
        }
        // Runs going beside the batch (of earlier batches) renew their leases as their
        // waits end, and parked ones are kept: a batch may compute for longer than a
        // lease. Their failure is theirs: this batch goes on.
        let kept = match side.turn(ctx, outbox).await {
            Ok(()) => side.keep_parked(ctx, outbox),
            Err(e) => Err(e),
        };
        if let Err(e) = kept {
            ran.beside_failed.get_or_insert(e);
        }
    }
    Ok(())
}

/// How many inputs stored apart, each up to `max_body_bytes`, fit in
/// [`INPUT_BYTES_AT_ONCE`]: a whole batch with the default limit, at least one.
fn inputs_at_once(max_body_bytes: usize) -> usize {
    (INPUT_BYTES_AT_ONCE / max_body_bytes.max(1)).max(1)
}

/// `jobs` in order, cut into groups of at most `per_group` jobs whose input is stored
/// apart (one group when none is): they are read and run a group at a time.
fn groups(jobs: Vec<Job>, per_group: usize) -> Vec<Vec<Job>> {
    let mut groups = vec![Vec::new()];
    let mut apart = 0;
    for job in jobs {
        if job.input.is_apart() {
            if apart == per_group {
                groups.push(Vec::new());
                apart = 0;
            }
            apart += 1;
        }
        if let Some(group) = groups.last_mut() {
            group.push(job);
        }
    }
    groups
}

/// The records a claim read, with those this instance wrote alone read again through the
/// store ([`crate::ports::KeyValue::wrote_alone`]): a job retried within this drain.
fn reread_own_writes(
    ctx: &Context<'_>,
    tenant: &Tenant,
    ids: &[JobId],
    mut values: ClaimedRecords,
) -> Result<ClaimedRecords, StoreError> {
    for (id, value) in ids.iter().zip(values.iter_mut()) {
        let key = keys::job(tenant, id);
        if ctx.kv.wrote_alone(&key) {
            *value = ctx.kv.get(&key)?;
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::codec;
    use crate::job::{JobId, Status, Timestamp};
    use crate::keys;
    use crate::service::testing::World;
    use crate::service::{cancel, get, result};
    use crate::worker::testing::*;

    use crate::ports::{KeyValue, PortError};

    /// The world's store, saying it wrote `mine` alone and remembering the most inputs
    /// stored apart one read brought.
    struct Seen<'a> {
        kv: &'a crate::memory::MemoryKv,
        mine: &'a str,
        most_inputs: std::cell::Cell<usize>,
    }

    impl<'a> Seen<'a> {
        fn new(kv: &'a crate::memory::MemoryKv, mine: &'a str) -> Self {
            Seen {
                kv,
                mine,
                most_inputs: std::cell::Cell::new(0),
            }
        }
    }

    impl KeyValue for Seen<'_> {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
            self.kv.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
            self.kv.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), PortError> {
            self.kv.delete(key)
        }
        fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
            let inputs = keys.iter().filter(|key| key.starts_with("i:")).count();
            self.most_inputs.set(self.most_inputs.get().max(inputs));
            self.kv.get_many(keys)
        }
        fn wrote_alone(&self, key: &str) -> bool {
            key == self.mine
        }
    }

    /// A computing kind that works `ms` of clock time, then has the queue fail the next
    /// heartbeat.
    struct BreakNextHeartbeat {
        clock: crate::memory::ManualClock,
        queue: crate::memory::MemoryQueue,
        ms: u64,
    }

    impl crate::kind::Kind for BreakNextHeartbeat {
        fn name(&self) -> &'static str {
            "break-next-heartbeat"
        }
        fn validate(&self, _: &serde_json::Value) -> Result<(), crate::kind::InvalidInput> {
            Ok(())
        }
        fn run<'a>(
            &'a self,
            _: &'a serde_json::Value,
            _: &'a mut dyn crate::kind::RunContext,
        ) -> crate::kind::Running<'a> {
            Box::pin(async move {
                self.clock.advance(self.ms);
                self.queue.fail_next_heartbeat();
                Ok(crate::kind::Output::json(&json!({})))
            })
        }
    }

    #[test]
    fn a_run_beside_the_batch_that_fails_in_the_store_leaves_the_batch_to_its_end() {
        let mut w = World::new();
        w.settings.lease_ms = 3_000;
        w.registry.register(Box::new(BreakNextHeartbeat {
            clock: w.clock.clone(),
            queue: w.queue.clone(),
            ms: 1_000,
        }));
        // As in the test below: a sleep goes on beside a later batch, here of a job after
        // which the sleep's next heartbeat fails, and two echo jobs.
        let echo = || json!({"kind": "echo", "input": {}});
        for _ in 0..6 {
            w.submit(echo());
        }
        w.submit(json!({"kind": "sleep", "input": {"ms": 10_000}}));
        for _ in 0..7 {
            w.submit(echo());
        }
        w.submit(json!({"kind": "break-next-heartbeat", "input": {}}));
        let after: Vec<JobId> = (0..2).map(|_| w.submit(echo())).collect();

        let report = w.drain(60_000);

        assert!(
            report.error.is_some(),
            "the sleep's failure is reported: {report:?}"
        );
        for id in &after {
            assert_eq!(w.job(id).status, Status::Succeeded, "{report:?}");
            assert_eq!(w.queue.indexed_status(id), Some(Status::Succeeded));
        }
    }

    #[test]
    fn runs_going_side_by_side_keep_their_leases_while_the_batch_computes_for_longer() {
        let mut w = World::new();
        w.settings.lease_ms = 3_000;
        let taken = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        w.registry.register(Box::new(ComputeThenSteal {
            clock: w.clock.clone(),
            queue: w.queue.clone(),
            ms: 1_500,
            taken: taken.clone(),
        }));
        // Batches of 1, 2 and 4, the last ending with a sleep, which goes on beside the
        // batches after it. Those start again at 1 (a batch that waits) and grow on quick
        // jobs (1, 2, 4) to one of three jobs that compute half a lease each, the last
        // of which claims what it can, as another worker would: only an expired lease.
        let echo = || json!({"kind": "echo", "input": {}});
        for _ in 0..6 {
            w.submit(echo());
        }
        let sleep = w.submit(json!({"kind": "sleep", "input": {"ms": 10_000}}));
        for _ in 0..7 {
            w.submit(echo());
        }
        for _ in 0..3 {
            w.submit(json!({"kind": "compute", "input": {}}));
        }

        let report = w.drain(60_000);

        assert_eq!(*taken.lock().unwrap(), Vec::<JobId>::new(), "{report:?}");
        assert_eq!((report.lost, report.succeeded), (0, 17), "{report:?}");
        let job = w.job(&sleep);
        assert_eq!((job.status, job.attempts), (Status::Succeeded, 1));
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
        let text = codec::decode_input(stored).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(text.get()).unwrap(),
            json!({"s": big})
        );
        let record = w.kv.get(&keys::job(&tenant, &large)).unwrap().unwrap();
        assert!(record.len() < 1_000, "{} bytes", record.len());

        assert_eq!(w.drain(2_000).succeeded, 2);
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
        assert_eq!(w.drain(2_000).swept, 2);
        assert!(w.kv.keys().is_empty(), "{:?}", w.kv.keys());
    }

    #[test]
    fn with_a_large_body_limit_a_batch_reads_its_stored_apart_inputs_a_few_at_a_time() {
        use crate::worker::{INPUT_BYTES_AT_ONCE, MAX_BATCH};
        let mut w = World::new();
        // Inputs of up to 8 MiB each: four fit in what a batch may hold at once.
        w.settings.max_body_bytes = INPUT_BYTES_AT_ONCE / 4;
        // Batches double from 1 to MAX_BATCH: enough jobs for two full ones.
        let n = 4 * MAX_BATCH as usize;
        let big = "y".repeat(codec::INLINE_INPUT_MAX);
        for i in 0..n {
            w.submit(json!({"kind": "echo", "input": {"s": big, "i": i}}));
        }
        let reads = Seen::new(&w.kv, "");
        let ctx = crate::context::Context {
            kv: &reads,
            ..w.ctx()
        };
        let report = w.clock.block_on(crate::worker::drain(&ctx, 60_000));
        assert_eq!(report.succeeded as usize, n, "{report:?}");
        assert_eq!(reads.most_inputs.get(), 4);
        // With the default limit a whole batch is read at once.
        assert_eq!(super::inputs_at_once(1_048_576), MAX_BATCH as usize);
    }

    #[test]
    fn a_job_whose_stored_input_is_gone_fails_and_says_why() {
        use crate::ports::KeyValue;
        let w = World::new();
        let id =
            w.submit(json!({"kind": "echo", "input": {"s": "z".repeat(codec::INLINE_INPUT_MAX)}}));
        let tenant = crate::job::Tenant::default_tenant();
        w.kv.delete(&keys::input(&tenant, &id)).unwrap();
        let report = w.drain(2_000);
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
        let report = w.drain(2_000);
        assert_eq!((report.skipped, report.succeeded), (1, 1), "{report:?}");
        assert_eq!(report.warnings.len(), 1);
        assert_eq!(w.job(&good).status, Status::Succeeded);
        assert_eq!(w.queue.indexed_status(&bad), Some(Status::Failed));
    }

    #[test]
    fn with_the_store_in_the_queue_records_read_with_the_claim_are_handled_alike() {
        use crate::ports::KeyValue;
        let w = World::new().with_store_in_queue();
        let tenant = crate::job::Tenant::default_tenant();
        // Batches of 1 then 2 then 4: the first claim reads apart, the later ones read
        // with their claim (they follow a finish).
        let first = w.submit(json!({"kind": "echo", "input": {}}));
        let bad = w.submit(json!({"kind": "echo", "input": {}}));
        let gone = w.submit(json!({"kind": "echo", "input": {}}));
        let good = w.submit(json!({"kind": "echo", "input": {"n": 4}}));
        w.kv.set(&keys::job(&tenant, &bad), b"\xff not json")
            .unwrap();
        w.kv.delete(&keys::job(&tenant, &gone)).unwrap();
        let report = w.drain(2_000);
        assert_eq!(
            (report.claimed, report.succeeded, report.skipped),
            (4, 2, 2),
            "{report:?}"
        );
        assert_eq!(w.job(&first).status, Status::Succeeded);
        assert_eq!(w.job(&good).status, Status::Succeeded);
        // The unreadable one is indexed as failed, the one with no record forgotten.
        assert_eq!(w.queue.indexed_status(&bad), Some(Status::Failed));
        assert_eq!(w.queue.indexed_status(&gone), None);
        let output = result(&w.ctx(), good.as_str()).unwrap();
        let echoed: serde_json::Value = serde_json::from_slice(&output.bytes).unwrap();
        assert_eq!(echoed, json!({"n": 4}));
    }

    #[test]
    fn a_claimed_job_without_a_record_leaves_no_input_behind() {
        use crate::ports::KeyValue;
        let w = World::new();
        let tenant = crate::job::Tenant::default_tenant();
        let big = "x".repeat(crate::job::INLINE_INPUT_MAX * 2);
        let gone = w.submit(json!({"kind": "echo", "input": {"big": big}}));
        assert!(w.kv.get(&keys::input(&tenant, &gone)).unwrap().is_some());
        w.kv.delete(&keys::job(&tenant, &gone)).unwrap();

        let report = w.drain(2_000);

        assert_eq!(report.skipped, 1, "{report:?}");
        assert_eq!(w.queue.indexed_status(&gone), None);
        assert!(w.kv.keys().is_empty(), "left: {:?}", w.kv.keys());
    }

    #[test]
    fn a_record_this_instance_wrote_alone_is_read_again_through_the_store() {
        let w = World::new();
        let tenant = crate::job::Tenant::default_tenant();
        let (mine, other) = (JobId::new(), JobId::new());
        w.kv.set(&keys::job(&tenant, &mine), b"as stored").unwrap();
        let mine_key = keys::job(&tenant, &mine);
        let kv = Seen::new(&w.kv, &mine_key);
        let ctx = crate::context::Context { kv: &kv, ..w.ctx() };
        let claimed = vec![Some(b"stale".to_vec()), Some(b"as read".to_vec())];
        let values = super::reread_own_writes(&ctx, &tenant, &[mine, other], claimed).unwrap();
        assert_eq!(
            values,
            vec![Some(b"as stored".to_vec()), Some(b"as read".to_vec())]
        );
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
        let report = w.drain(2_000);
        assert_eq!(report.succeeded, 1, "{report:?}");
        assert_eq!(w.job(&id).attempts, 2);
    }

    #[test]
    fn a_job_whose_attempt_stopped_answering_runs_before_the_others_are_marked() {
        use std::sync::{Arc, Mutex};
        // Echo 1, then `peek`, then echo 2, all claimed by a worker that marked them
        // running and died (it may have been `peek` that killed it). Their leases expired
        // together: they come back at the claiming end, so the last is claimed first.
        let mut w = World::new();
        let seen = Arc::new(Mutex::new(None));
        let watched = Arc::new(Mutex::new(String::new()));
        w.registry.register(Box::new(Peek {
            kv: w.kv.clone(),
            key: watched.clone(),
            seen: seen.clone(),
        }));
        let first = w.submit(json!({"kind": "echo", "input": {}}));
        let suspect = w.submit(json!({"kind": "peek", "input": {}}));
        let after = w.submit(json!({"kind": "echo", "input": {}}));
        *watched.lock().unwrap() = keys::job(&w.ctx().tenant, &first);
        let now = {
            use crate::ports::Clock;
            w.clock.now_ms()
        };
        crate::queue::Queue::claim(&w.queue, now, now + w_lease(), "dead", 3).unwrap();
        for id in [first, suspect, after] {
            let mut job = w.job(&id);
            job.start(Timestamp::from_ms(now)).unwrap();
            w.ctx().save_job(&job).unwrap();
        }
        w.clock.advance(w_lease() + 1);

        // The drain claims echo 2 alone, then `peek` with echo 1.
        let report = w.drain(2_000);

        assert_eq!(report.succeeded, 3, "{report:?}");
        // When `peek` ran, echo 1 was not marked for its second attempt yet.
        assert_eq!(*seen.lock().unwrap(), Some(1));
        for id in [first, suspect, after] {
            assert_eq!(w.job(&id).attempts, 2, "{id}");
        }
    }

    /// A kind that notes the attempts the store holds for one job when it runs.
    struct Peek {
        kv: crate::memory::MemoryKv,
        key: std::sync::Arc<std::sync::Mutex<String>>,
        seen: std::sync::Arc<std::sync::Mutex<Option<u32>>>,
    }

    impl crate::kind::Kind for Peek {
        fn name(&self) -> &'static str {
            "peek"
        }
        fn validate(&self, _: &serde_json::Value) -> Result<(), crate::kind::InvalidInput> {
            Ok(())
        }
        fn run<'a>(
            &'a self,
            _: &'a serde_json::Value,
            _: &'a mut dyn crate::kind::RunContext,
        ) -> crate::kind::Running<'a> {
            Box::pin(async move {
                let key = self.key.lock().unwrap().clone();
                let bytes = self.kv.get(&key).unwrap().unwrap();
                let job = codec::decode_job(&bytes).unwrap();
                *self.seen.lock().unwrap() = Some(job.attempts);
                Ok(crate::kind::Output::json(&json!({})))
            })
        }
    }

    #[test]
    fn a_finished_record_is_repaired_not_rerun() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        let mut job = w.job(&id);
        job.start(Timestamp::from_ms(1)).unwrap();
        job.succeed(Timestamp::from_ms(2)).unwrap();
        w.ctx().save_job(&job).unwrap();
        let report = w.drain(2_000);
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
        let report = w.drain(2_000);
        assert_eq!(report.cancelled, 1, "{report:?}");
        assert_eq!(
            get(&w.ctx(), id.as_str()).unwrap().status,
            Status::Cancelled
        );
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
        let report = w.drain(10 * w_lease());
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
}

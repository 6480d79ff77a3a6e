//! The drain loop seen whole, in memory: claims, batches, attempts, leases and the
//! watch, with a clock that only moves while everything waits.
use std::time::Duration;

use super::drain::next_batch;
use super::*;
use crate::codec;
use crate::job::{ErrorInfo, JobId, Status, Timestamp};
use crate::keys;
use crate::kind::{RunContext, Running};
use crate::queue::Claim;
use crate::service::testing::World;
use crate::service::{cancel, get, result};
use serde_json::json;

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
fn a_job_whose_stored_input_is_gone_fails_and_says_why() {
    use crate::ports::KeyValue;
    let w = World::new();
    let id = w.submit(json!({"kind": "echo", "input": {"s": "z".repeat(codec::INLINE_INPUT_MAX)}}));
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
fn a_transient_failure_is_retried_until_it_succeeds() {
    let w = World::new();
    let id = w.submit(json!({"kind": "fail", "input": {"fail_times": 1}, "max_attempts": 3}));
    // The retry's backoff is at most 500 ms, inside the budget: one drain does both.
    let report = w.drain(2_000);
    assert_eq!((report.retried, report.succeeded), (1, 1), "{report:?}");
    let job = w.job(&id);
    assert_eq!((job.status, job.attempts), (Status::Succeeded, 2));
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
    fn run<'a>(&'a self, _: &'a serde_json::Value, ctx: &'a mut dyn RunContext) -> Running<'a> {
        Box::pin(async move {
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
        })
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
    fn run<'a>(&'a self, _: &'a serde_json::Value, ctx: &'a mut dyn RunContext) -> Running<'a> {
        Box::pin(async move {
            use crate::ports::{Clock, KeyValue};
            use crate::queue::Queue;
            ctx.sleep(Duration::from_millis(2 * w_lease())).await;
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
        })
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
    let report = w.drain(2_000);
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

#[test]
fn a_run_past_half_its_lease_extends_it_before_writing() {
    let w = with_stall(w_lease() / 2 + 1, false);
    let id = w.submit(json!({"kind": "stall", "input": {}}));
    let before = w.queue.calls();
    let report = w.drain(60_000);
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
    fn run<'a>(&'a self, _: &'a serde_json::Value, _: &'a mut dyn RunContext) -> Running<'a> {
        Box::pin(async move {
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
            let finish = crate::queue::Finish {
                id: victim,
                token: "other".into(),
                status: Status::Succeeded,
                dead: false,
            };
            let (owned, _) = self
                .queue
                .finish_and_claim(&[finish], now, now, "", 0)
                .unwrap();
            assert_eq!(owned, [crate::queue::Ownership::Owned]);
            Ok(crate::kind::Output::json(&json!({"done": true})))
        })
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

    let report = w.drain(60_000);

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
    let report = w.drain(0);
    assert_eq!(
        (report.claimed, report.stop, report.rang_again),
        (1, Stop::Budget, true)
    );
}

/// When `id` finished, in ms after `start`.
fn finished_after(w: &World, id: &JobId, start: u64) -> u64 {
    w.job(id).finished_at.expect("finished").as_ms() - start
}

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
    assert_eq!(report.stop, Stop::Empty, "{report:?}");
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

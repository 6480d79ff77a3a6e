//! Retention: finished jobs, their results and their idempotency keys expire after
//! `job_ttl_seconds`, so storage does not grow without bound. Counted on the test's own
//! Redis, which holds the queue and (through the runtime config) the key-value store.

use std::time::{Duration, Instant};

use e2e::inputs;
use serde_json::json;
use testkit::wait_until_seen;

use crate::common::{drain_timeout, fleet, histogram, rate, size};

const TTL_SECONDS: u64 = 2;
/// Every this-many-th job is submitted with an `Idempotency-Key`.
const KEYED_EVERY: usize = 10;

/// The keys in the test's Redis but the one an instance writes, once for good, the first
/// time it reads records in a batch: `aj:store-marker`, which tells it whether the store
/// is this Redis (docs/architecture.md, "Where state lives").
fn stored_keys(app: &e2e::TestApp) -> u64 {
    let marker: u64 = redis::cmd("EXISTS")
        .arg("aj:store-marker")
        .query(&mut app.stack.redis.connection())
        .expect("EXISTS on the test's Redis");
    app.redis_key_count() - marker
}

#[test]
fn after_their_ttl_finished_jobs_leave_no_key_behind() {
    // Arrange
    let n = size("RETENTION_JOBS", 10_000);
    let (app, _workers) = fleet(1, &[("job_ttl_seconds", &TTL_SECONDS.to_string())]);
    app.healthz().expect_status(200);
    let keys_before = stored_keys(&app);

    // Act: submit, let the worker run everything, then ring until retention is done.
    let start = Instant::now();
    let ids: Vec<String> = std::thread::scope(|scope| {
        let keyed = scope.spawn(|| {
            (0..n)
                .step_by(KEYED_EVERY)
                .map(|i| {
                    let reply = app.submit_with_key(
                        &inputs::echo(json!({ "i": i })),
                        &format!("retention-{i}"),
                    );
                    e2e::check_receipt(&reply).id
                })
                .collect::<Vec<_>>()
        });
        let bodies: Vec<_> = (0..n)
            .filter(|i| i % KEYED_EVERY != 0)
            .map(|i| inputs::echo(json!({ "i": i })))
            .collect();
        let mut ids: Vec<String> = app.submit_many(&bodies).into_iter().map(|j| j.id).collect();
        ids.extend(
            keyed
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
        );
        ids
    });
    let submitted = start.elapsed();
    let keys_after_submit = app.redis_key_count();

    // The queue is idle once nothing is queued or running (finished jobs leave the
    // counts as retention removes them, so "all succeeded" cannot be counted here).
    let deadline = start + drain_timeout(n);
    let mut peak_keys = keys_after_submit;
    loop {
        let counts = app.status_counts();
        let count = |s: &str| counts.get(s).copied().unwrap_or(0);
        peak_keys = peak_keys.max(app.redis_key_count());
        assert_eq!(
            (count("failed"), count("cancelled")),
            (0, 0),
            "jobs failed or were cancelled: {counts:?}"
        );
        if count("queued") + count("running") == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queue did not drain: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let idle = start.elapsed();
    // Every job either still shows `succeeded` or has already expired (404).
    let sample: Vec<String> = ids.iter().step_by(10).cloned().collect();
    let seen = histogram(sample.iter().map(|id| {
        let reply = app.get_job(id);
        match reply.status {
            200 => {
                let job = e2e::Job::from_reply(&reply);
                assert_eq!(job.status, "succeeded", "{}", job.json);
                200
            }
            404 => 404,
            _ => panic!("unexpected answer: {reply}"),
        }
    }));

    // Retention runs in the worker's drains; ring until it has removed everything.
    let keys_after = wait_until_seen(
        drain_timeout(n),
        &format!("storage to shrink back to {keys_before} keys"),
        || {
            let keys = stored_keys(&app);
            if keys <= keys_before {
                return Ok(keys);
            }
            app.ring();
            Err(format!("{keys} keys"))
        },
    );
    let expired = start.elapsed();

    // Assert
    eprintln!(
        "retention: {n} jobs (every {KEYED_EVERY}th with an Idempotency-Key), ttl {TTL_SECONDS} s: submitted in {submitted:?} \
         ({:.0}/s), queue idle after {idle:?}, storage back to {keys_after} keys (before: {keys_before}, peak seen: {peak_keys}) \
         after {expired:?}; sampled GETs by status right after the run {seen:?}",
        rate(n, submitted)
    );
    for id in sample.iter().take(50) {
        app.get_job(id).expect_problem_type(404, "not-found");
    }
    let replay = app.submit_with_key(&inputs::echo(json!({ "i": 0 })), "retention-0");
    let replayed = e2e::check_receipt(&replay);
    assert!(
        !ids.contains(&replayed.id),
        "an expired Idempotency-Key starts a new job: {replay}"
    );
}

//! A worker killed (SIGKILL) in the middle of a job: its lease expires, a new worker
//! runs the job again, and the job ends `succeeded` with both runs counted as attempts.

use std::time::{Duration, Instant};

use e2e::{JOB_TIMEOUT, inputs};

use crate::common::fleet;

/// Short, so the test waits little for the dead worker's lease to expire.
const LEASE_MS: &str = "3000";
/// Long enough that the first run is surely still going when the test kills it.
const SLEEP_MS: u64 = 4_000;

#[test]
fn a_job_whose_worker_is_killed_mid_run_finishes_on_a_new_worker_with_two_attempts() {
    // Arrange: the intake and one worker, each its own process.
    let (app, mut workers) = fleet(1, &[("lease_ms", LEASE_MS)]);
    let job = app.submit_ok(&inputs::sleep(SLEEP_MS));
    let running = app.wait_for_status(&job.id, "running", JOB_TIMEOUT);
    assert_eq!(running.attempts, 1, "{}", running.json);

    // Act: kill the worker mid-run, start another.
    let mut first = workers.pop().expect("one worker");
    first.kill();
    let killed = Instant::now();
    app.wait_for_subscribers(0, Duration::from_secs(30));
    let _second = app.start_worker();
    // Polling the job rings the doorbell once it has run longer than its lease.
    let done = app.wait_for_status(&job.id, "succeeded", Duration::from_secs(120));

    // Assert
    eprintln!(
        "crash: job {} killed at attempt 1, succeeded {:?} later with attempts={} (lease {LEASE_MS} ms, sleep {SLEEP_MS} ms)",
        job.id,
        killed.elapsed(),
        done.attempts
    );
    assert_eq!(
        done.attempts, 2,
        "the killed run and the rerun both count: {}",
        done.json
    );
    let result = app.get_result(&job.id);
    result.expect_status(200);
    assert_eq!(
        result.json().get("slept_ms").and_then(|v| v.as_u64()),
        Some(SLEEP_MS),
        "{result}"
    );
}

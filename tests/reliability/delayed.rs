//! Delayed work starts on time with nobody polling. The only doorbell is the submit's,
//! long before the job is due, and the drain it starts ends before then: a worker keeps
//! the watch for work due later and rings again, on one worker and on several. Observed
//! through Redis's status index, never through the API, whose polls and stats ring the
//! doorbell themselves.

use std::time::{Duration, Instant};

use e2e::inputs;
use serde_json::json;
use testkit::wait_until;

use crate::common::fleet;

/// The job's delay: between one and two drain budgets (`drain_budget_ms` is 2000), the
/// window in which delayed jobs used to stall.
const DELAY: Duration = Duration::from_millis(3_000);
/// How late it may start: the second, plus the queue wait and the polling of
/// the status index on a busy 2-core machine.
const ON_TIME: Duration = Duration::from_millis(1_500);

fn a_delayed_job_runs_on_time_without_polls(workers: usize) {
    // Arrange
    let (app, _workers) = fleet(workers, &[]);

    // Act
    let submitted = Instant::now();
    let job = app.submit_ok(&inputs::with(
        inputs::echo(json!({ "late": true })),
        json!({ "delay_ms": DELAY.as_millis() as u64 }),
    ));
    wait_until(DELAY + ON_TIME, "the delayed job to succeed", || {
        (app.indexed_status(&job.id).as_deref() == Some("succeeded")).then_some(())
    });
    let took = submitted.elapsed();

    // Assert: wait_until failing is the failure; here, what it measured.
    eprintln!("delayed: {workers} worker(s): a job delayed {DELAY:?} succeeded after {took:?}");
    assert!(took >= DELAY, "it ran early: {took:?}");
}

#[test]
fn a_delayed_job_starts_within_a_second_of_its_due_time_with_one_worker_and_no_polls() {
    a_delayed_job_runs_on_time_without_polls(1);
}

#[test]
fn a_delayed_job_starts_within_a_second_of_its_due_time_with_three_workers_and_no_polls() {
    a_delayed_job_runs_on_time_without_polls(3);
}

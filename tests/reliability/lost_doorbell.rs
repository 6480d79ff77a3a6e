//! Lost doorbells: the Redis trigger is pub/sub, so a doorbell rung while no worker
//! listens is gone. Jobs submitted then still run once a worker starts: polling a job
//! that waits too long (`GET /jobs/{id}`) rings the doorbell again, and the worker's
//! first doorbell drains everything that waits.

use std::time::Instant;

use e2e::inputs;
use serde_json::json;

use crate::common::{drain_timeout, fleet, histogram, rate, size};

#[test]
fn jobs_submitted_while_no_worker_listens_all_run_once_a_worker_starts() {
    // Arrange: the intake only; every submit rings a doorbell nobody hears.
    let n = size("LOST_DOORBELL_JOBS", 200);
    let (app, _no_workers) = fleet(0, &[]);
    let bodies: Vec<_> = (0..n).map(|i| inputs::echo(json!({ "i": i }))).collect();
    let ids: Vec<String> = app.submit_many(&bodies).into_iter().map(|j| j.id).collect();
    assert_eq!(app.subscribers(), 0, "no worker heard the doorbells");
    assert_eq!(app.job(&ids[0]).status, "queued");

    // Act: start a worker. Nothing rings it but the test's polls of single jobs.
    let _worker = app.start_worker();
    let started = Instant::now();
    let timeout = drain_timeout(n);
    for id in &ids {
        app.wait_for_status(id, "succeeded", timeout.saturating_sub(started.elapsed()));
    }
    let took = started.elapsed();

    // Assert
    let jobs = app.jobs_many(&ids);
    let not_done: Vec<_> = jobs.iter().filter(|j| j.status != "succeeded").collect();
    let attempts = histogram(jobs.iter().map(|j| j.attempts));
    eprintln!(
        "lost_doorbell: {n} jobs waiting for a worker ran in {took:?} after it started ({:.0} jobs/s); attempts histogram {attempts:?}",
        rate(n, took)
    );
    assert!(
        not_done.is_empty(),
        "{} of {n} jobs did not succeed, e.g. {}",
        not_done.len(),
        not_done[0].json
    );
    assert!(
        jobs.iter().all(|j| j.attempts == 1),
        "attempts histogram {attempts:?}"
    );
}

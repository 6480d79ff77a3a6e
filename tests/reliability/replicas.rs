//! Several workers, one queue: three worker processes share the work without running a
//! job twice, and a worker killed mid-run only costs the job it held one more attempt.
//! Proved with the test-only `count` kind, which counts every execution in Redis.

use std::time::{Duration, Instant};

use e2e::inputs;
use testkit::wait_until_seen;

use crate::common::{
    Rng, claimed_per_worker, drain_timeout, fleet, histogram, rate, size, wait_for_succeeded,
};

const WORKERS: usize = 3;

#[test]
fn jobs_submitted_at_once_to_three_workers_each_run_exactly_once() {
    // Arrange
    let n = size("RELIABILITY_JOBS", 2_000);
    let (app, workers) = fleet(WORKERS, &[("enable_test_kinds", "true")]);
    let bodies = vec![inputs::count(0); n];

    // Act
    let start = Instant::now();
    let ids: Vec<String> = app.submit_many(&bodies).into_iter().map(|j| j.id).collect();
    let submitted = start.elapsed();
    wait_for_succeeded(&app, n, drain_timeout(n));
    let drained = start.elapsed();

    // Assert
    let jobs = app.jobs_many(&ids);
    let executions = app.executions(&ids);
    let attempts = histogram(jobs.iter().map(|j| j.attempts));
    let per_worker = claimed_per_worker(&workers.iter().collect::<Vec<_>>());
    eprintln!(
        "replicas: {n} count jobs, {WORKERS} workers: submitted in {submitted:?} ({:.0}/s), \
         all succeeded {drained:?} after the first submit ({:.0} jobs/s); \
         attempts histogram {attempts:?}; executions histogram {:?}; claimed per worker {per_worker:?}",
        rate(n, submitted),
        rate(n, drained),
        histogram(executions.iter().copied()),
    );
    for (job, &runs) in jobs.iter().zip(&executions) {
        assert_eq!(job.status, "succeeded", "{}", job.json);
        assert_eq!(
            (job.attempts, runs),
            (1, 1),
            "attempts and executions of {}",
            job.json
        );
    }
    assert_eq!(app.total_executions(), n as u64, "the execution counter");
}

#[test]
fn with_a_worker_killed_twice_every_job_finishes_and_its_executions_equal_its_attempts() {
    // Arrange: a short lease, so a killed worker's job runs again soon; jobs that take
    // a few milliseconds, so a kill usually lands in the middle of one.
    let n = size("RELIABILITY_KILL_JOBS", 2_000);
    let (app, mut workers) = fleet(
        WORKERS,
        &[("enable_test_kinds", "true"), ("lease_ms", "5000")],
    );
    let mut rng = Rng::from_env("replicas_killed");
    let marks = [rng.between(0.15, 0.40), rng.between(0.55, 0.80)];
    let bodies = vec![inputs::count(5); n];
    let start = Instant::now();

    // Act: submit from other threads; kill a random worker when the given share of the
    // jobs has succeeded, and start a new one in its place.
    let mut kills = Vec::new();
    let ids: Vec<String> = std::thread::scope(|scope| {
        let submitter = scope.spawn(|| app.submit_many(&bodies));
        for mark in marks {
            let target = (mark * n as f64) as u64;
            wait_until_seen(
                drain_timeout(n),
                &format!("{target} jobs to succeed"),
                || {
                    let counts = app.status_counts();
                    let succeeded = counts.get("succeeded").copied().unwrap_or(0);
                    if succeeded >= target {
                        Ok(())
                    } else {
                        Err(counts)
                    }
                },
            );
            let k = rng.below(WORKERS);
            workers[k].kill();
            kills.push((k, start.elapsed(), target));
            app.wait_for_subscribers(WORKERS as u64 - 1, Duration::from_secs(30));
            workers[k] = app.start_worker();
        }
        let accepted = submitter
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        accepted.into_iter().map(|j| j.id).collect()
    });
    wait_for_succeeded(&app, n, drain_timeout(n));
    let drained = start.elapsed();

    // Assert
    let jobs = app.jobs_many(&ids);
    let executions = app.executions(&ids);
    let attempts = histogram(jobs.iter().map(|j| j.attempts));
    let unexecuted: u64 = jobs
        .iter()
        .zip(&executions)
        .map(|(j, &runs)| j.attempts.saturating_sub(runs))
        .sum();
    eprintln!(
        "replicas_killed: {n} count jobs, {WORKERS} workers, kills (worker, at, after N succeeded) {kills:?}: \
         all succeeded {drained:?} after the first submit ({:.0} jobs/s); attempts histogram {attempts:?}; \
         executions histogram {:?}; attempts that died before executing: {unexecuted}",
        rate(n, drained),
        histogram(executions.iter().copied()),
    );
    for (job, &runs) in jobs.iter().zip(&executions) {
        assert_eq!(job.status, "succeeded", "{}", job.json);
        // Every attempt executed, except that a kill may land between the worker
        // recording an attempt and the kind counting it: then that one attempt never
        // executed. A job never executes more often than it was attempted.
        assert!(
            runs >= 1 && runs <= job.attempts,
            "job {} has {runs} executions for {} attempts",
            job.id,
            job.attempts
        );
    }
    assert!(
        unexecuted <= kills.len() as u64,
        "{unexecuted} attempts never executed, but only {} workers were killed (each holds one job)",
        kills.len()
    );
    assert_eq!(
        app.total_executions(),
        executions.iter().sum::<u64>(),
        "the execution counter"
    );
}

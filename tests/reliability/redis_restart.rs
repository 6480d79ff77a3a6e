//! Redis stopped (SIGKILL) and restarted in the middle of a run, with its append-only
//! file on: submissions during the outage are refused with `503`, the worker's runtime
//! exits because its trigger connection dropped (as Spin does), and once Redis is back
//! and a new worker started, every accepted job finishes; nothing accepted is lost.
//!
//! One exception is allowed, and reported: a key-value call made in the instant Redis
//! died waits for good (Spin 4.0.2's Redis store, docs/devhost.md). The app asks Redis
//! first, except within 2 ms of its last answer, which a worker draining at full speed
//! can meet. Such a worker never exits by itself; the test then plays the supervisor that
//! restarts it, and the promise that matters still holds: nothing accepted is lost.

use std::time::{Duration, Instant};

use e2e::{TestApp, inputs};
use testkit::{wait_until, wait_until_seen};

use crate::common::{drain_timeout, fleet_with, histogram, size, wait_for_succeeded};

/// How long a runtime that lost its Redis may take to exit: it first handles every
/// doorbell it had received (one per submit), each a short drain.
const EXIT_TIMEOUT: Duration = Duration::from_secs(120);

/// Submits a `count` job, retrying while the answer is `503` (as a client should, after
/// `Retry-After`); returns the job id.
fn submit_retrying(app: &TestApp) -> String {
    wait_until(Duration::from_secs(30), "a 202 for a submission", || {
        let reply = app.submit(&inputs::count(0));
        match reply.status {
            202 => Some(e2e::check_receipt(&reply).id),
            503 => None,
            _ => panic!("unexpected answer: {reply}"),
        }
    })
}

#[test]
fn every_job_accepted_before_or_after_a_redis_restart_finishes() {
    // Arrange: jobs that take a while, so the restart lands mid-run.
    let n = size("RESTART_JOBS", 300);
    let (mut app, mut workers) = fleet_with(
        1,
        &[("enable_test_kinds", "true"), ("lease_ms", "3000")],
        true,
    );
    let before: Vec<String> = app
        .submit_many(&vec![inputs::count(10); n])
        .into_iter()
        .map(|j| j.id)
        .collect();
    let third = n / 3;
    wait_until_seen(
        drain_timeout(n),
        &format!("{third} jobs to succeed"),
        || {
            let counts = app.status_counts();
            let succeeded = counts.get("succeeded").copied().unwrap_or(0) as usize;
            if succeeded >= third {
                Ok(())
            } else {
                Err(counts)
            }
        },
    );

    // Act: kill Redis mid-run, and bring it back.
    app.stack.redis.stop();
    let refused = app.submit(&inputs::count(0));
    app.stack.redis.restart();
    let restarted = Instant::now();
    // The worker's runtime lost its trigger connection: it handles the doorbells it had
    // already received, then exits. Then a new one is started, as Kubernetes would.
    let mut worker = workers.pop().expect("one worker");
    let exit = worker.wait_exit(EXIT_TIMEOUT);
    let worker_exit_after = restarted.elapsed();
    if exit.is_none() {
        eprintln!(
            "redis_restart: the old worker did not exit within {EXIT_TIMEOUT:?}: it is stuck in a \
             key-value call that met the outage; killed, as a supervisor would. Its output:\n{}",
            worker.logs()
        );
        worker.kill();
    }
    let _worker = app.start_worker();
    // The first request on a connection that died with Redis may still fail: wait until
    // the app answers again, and let clients retry a 503 as its Retry-After says.
    wait_until(
        Duration::from_secs(30),
        "healthz 200 after the restart",
        || (app.healthz().status == 200).then_some(()),
    );
    let after: Vec<String> = (0..20).map(|_| submit_retrying(&app)).collect();
    let accepted: Vec<String> = before.iter().chain(&after).cloned().collect();
    let drained = wait_for_succeeded(&app, accepted.len(), drain_timeout(n));

    // Assert
    refused.expect_problem_type(503, "unavailable");
    if let Some(exit) = exit {
        assert!(!exit.success(), "the runtime exits with an error: {exit}");
    }
    let jobs = app.jobs_many(&accepted);
    let executions = app.executions(&accepted);
    eprintln!(
        "redis_restart: {} jobs accepted ({n} before, {} after the restart); the old worker {} \
         {worker_exit_after:?} after Redis was back; all succeeded {drained:?} after the new worker started; \
         attempts histogram {:?}; executions histogram {:?}",
        accepted.len(),
        after.len(),
        match exit {
            Some(exit) => format!("exited ({exit})"),
            None => "was stuck in the key-value store and killed".to_owned(),
        },
        histogram(jobs.iter().map(|j| j.attempts)),
        histogram(executions.iter().copied()),
    );
    for (job, &runs) in jobs.iter().zip(&executions) {
        assert_eq!(job.status, "succeeded", "{}", job.json);
        assert!(
            runs >= 1 && runs <= job.attempts,
            "job {} has {runs} executions for {} attempts",
            job.id,
            job.attempts
        );
    }
}

/// On Spin 4 the intake's instance serves request after request and keeps its Redis
/// connection between them (`spin_adapters::Kept`). When Redis restarts in between, that
/// connection is dead: the next request must find out with a `PING` and open a new one,
/// not answer `503` on the dead one. (A restart takes well under the second an idle
/// instance is kept, so the second submission meets the instance of the first.)
#[test]
fn the_first_submission_after_a_quick_redis_restart_is_accepted() {
    // Arrange: an intake instance that has a Redis connection open.
    let (mut app, _workers) = fleet_with(0, &[], true);
    let before = app.submit(&inputs::echo(serde_json::json!({"at": "before"})));
    assert_eq!(before.status, 202, "{before}");

    // Act
    app.stack.redis.restart();
    let after = app.submit(&inputs::echo(serde_json::json!({"at": "after"})));

    // Assert
    assert_eq!(
        after.status, 202,
        "the first submission after Redis restarted: {after}"
    );
    let ids = [
        e2e::check_receipt(&before).id,
        e2e::check_receipt(&after).id,
    ];
    let jobs = app.jobs_many(&ids);
    assert!(jobs.iter().all(|j| j.status == "queued"), "{jobs:?}");
}

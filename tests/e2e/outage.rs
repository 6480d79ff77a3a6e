//! Redis (queue and key-value store) down at submit: `503` with `Retry-After` and a
//! problem document within [`ANSWER_WITHIN`], and once Redis is back no trace of the
//! refused job.
//!
//! On Spin, a key-value call to a store on Redis made while Redis is down never answers,
//! and the store stays stuck after Redis is back (docs/devhost.md); the devhost does the
//! same. So this holds only because the intake asks Redis first, on every route that
//! reads the store too: a poll during the outage is a quick `503`, and afterwards the
//! app works.

use std::time::{Duration, Instant};

use e2e::{AppSpec, inputs, spawn_app_with_spec};
use serde_json::json;

/// How soon a client hears that Redis is down (issue 9: within 2 s, on Spin too).
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

#[test]
fn a_submission_while_redis_is_down_is_a_503_problem_and_leaves_no_trace() {
    // Arrange: the intake alone (a Redis trigger exits when its Redis goes away, and
    // this test is about the HTTP side), on a Redis that keeps its data across a restart.
    let mut app = spawn_app_with_spec(AppSpec {
        appendonly: true,
        component_ids: vec!["intake".to_owned()],
        ..AppSpec::default()
    });
    let kept = app.submit_ok(&inputs::echo(json!({ "text": "before the outage" })));
    // Health first, so anything a health probe writes is in both snapshots.
    app.healthz().expect_status(200);
    let before = app.snapshot();
    assert_eq!(before.job_ids, vec![kept.id.clone()], "arranged one job");
    app.stack.redis.stop();

    // Act
    let asked = Instant::now();
    let reply = app.submit(&inputs::echo(json!({ "text": "during the outage" })));
    let submit_took = asked.elapsed();
    let asked = Instant::now();
    let health = app.healthz();
    let health_took = asked.elapsed();
    let asked = Instant::now();
    let poll = app.get_job(&kept.id);
    let poll_took = asked.elapsed();

    // Assert
    let problem = reply.expect_problem_type(503, "unavailable");
    let retry_after = reply
        .header("retry-after")
        .unwrap_or_else(|| panic!("a 503 says when to retry: {reply}"));
    assert!(
        retry_after.trim().parse::<u64>().is_ok(),
        "Retry-After is a number of seconds: {reply}"
    );
    assert!(
        !problem.detail.contains("127.0.0.1") && !problem.detail.contains("redis://"),
        "a 5xx does not leak internal addresses: {reply}"
    );
    assert_eq!(health.status, 503, "health is 503 without Redis: {health}");
    poll.expect_problem_type(503, "unavailable");
    assert!(
        [submit_took, health_took, poll_took]
            .iter()
            .all(|took| *took < ANSWER_WITHIN),
        "a client waits at most {ANSWER_WITHIN:?} for the 503: submit took {submit_took:?}, \
         healthz {health_took:?}, a poll {poll_took:?}"
    );

    app.stack.redis.restart();
    testkit::wait_until(
        Duration::from_secs(30),
        "healthz 200 after the restart",
        || (app.healthz().status == 200).then_some(()),
    );
    assert_eq!(
        app.snapshot(),
        before,
        "the refused job left nothing behind"
    );
    assert_eq!(
        app.job(&kept.id).id,
        kept.id,
        "the job is read again after the outage"
    );
}

//! `DELETE /jobs/{id}`: `200` for a queued job, `202` for a running one (the worker
//! stops at its next heartbeat), `409` for a finished one.

use e2e::{JOB_TIMEOUT, inputs, spawn_app};
use serde_json::json;

/// Long enough that a delayed job stays queued for the whole test.
const FAR_FUTURE_MS: u64 = 10 * 60 * 1000;

#[test]
fn cancelling_a_queued_job_is_200_and_it_never_runs() {
    // Arrange
    let app = spawn_app();
    let job = app.submit_ok(&inputs::with(
        inputs::echo(json!({ "text": "later" })),
        json!({ "delay_ms": FAR_FUTURE_MS }),
    ));
    let queued = app.get_job(&job.id);
    queued.expect_status(200);

    // Act
    let reply = app.cancel(&job.id);

    // Assert
    assert!(
        queued.header("retry-after").is_some(),
        "an unfinished job has Retry-After: {queued}"
    );
    reply.expect_status(200);
    let cancelled = app.job(&job.id);
    assert_eq!(cancelled.status, "cancelled", "{}", cancelled.json);
    assert_eq!(cancelled.attempts, 0, "it never ran: {}", cancelled.json);
    let again = app.cancel(&job.id);
    assert_eq!(
        again.status, 200,
        "cancelling a cancelled job again is 200: {again}"
    );
}

#[test]
fn cancelling_a_running_job_is_202_and_it_ends_cancelled() {
    // Arrange
    let app = spawn_app();
    // Far longer than a cancel takes to reach the worker (it checks at every progress
    // report), so the job cannot succeed first.
    let job = app.submit_ok(&inputs::sleep(30_000));
    app.wait_for_status(&job.id, "running", JOB_TIMEOUT);

    // Act
    let reply = app.cancel(&job.id);

    // Assert
    reply.expect_status(202);
    let done = app.wait_for_status(&job.id, "cancelled", JOB_TIMEOUT);
    assert!(
        done.json.get("finished_at").is_some_and(|v| v.is_string()),
        "a cancelled job has finished_at: {}",
        done.json
    );
    app.get_result(&job.id)
        .expect_problem_type(409, "result-not-ready");
}

#[test]
fn cancelling_a_finished_job_is_a_409_problem_and_changes_nothing() {
    // Arrange
    let app = spawn_app();
    let job = app.submit_ok(&inputs::echo(json!({ "text": "done soon" })));
    let done = app.wait_for_status(&job.id, "succeeded", JOB_TIMEOUT);

    // Act
    let reply = app.cancel(&job.id);

    // Assert
    reply.expect_problem_type(409, "job-finished");
    let after = app.job(&job.id);
    assert_eq!(after.status, "succeeded", "{}", after.json);
    assert_eq!(after.json, done.json, "the finished job is unchanged");
}

//! `GET /jobs/{id}/result` of a job that has no result yet.

use e2e::{inputs, spawn_app};
use serde_json::json;

#[test]
fn the_result_of_a_job_that_has_not_finished_is_a_409_problem() {
    // Arrange
    let app = spawn_app();
    let job = app.submit_ok(&inputs::with(
        inputs::echo(json!({ "text": "not yet" })),
        json!({ "delay_ms": 600_000 }),
    ));

    // Act
    let reply = app.get_result(&job.id);

    // Assert
    reply.expect_problem_type(409, "result-not-ready");
    assert_eq!(app.job(&job.id).status, "queued");
}

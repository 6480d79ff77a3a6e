//! `GET /jobs/{id}/result` of a job that has no result yet, and the headers every answer
//! carries.

use e2e::{JOB_TIMEOUT, inputs, spawn_app};
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

#[test]
fn every_answer_of_the_api_tells_browsers_not_to_sniff_its_type() {
    // Arrange: a finished job, so its record and its result can be read.
    let app = spawn_app();
    let accepted = app.submit(&inputs::echo(
        json!({ "html": "<script>alert(1)</script>" }),
    ));
    let id = accepted.json()["id"].as_str().expect("an id").to_owned();
    app.wait_for_status(&id, "succeeded", JOB_TIMEOUT);

    // Act
    let replies = [
        accepted,
        app.get_job(&id),
        app.get_result(&id),
        app.list("kind=echo"),
        app.get_result("0190f0f0-0000-7000-8000-000000000000"),
        app.request_raw("GET", "/jobs", &[], None),
        app.post_raw("/jobs", "text/html", b"<p>not a job</p>"),
        app.healthz(),
    ];

    // Assert: JSON documents, problems and the result alike.
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [202, 200, 200, 200, 404, 401, 415, 200]);
    for reply in &replies {
        assert_eq!(
            reply.header("x-content-type-options"),
            Some("nosniff"),
            "{reply}"
        );
    }
}

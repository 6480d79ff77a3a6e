//! `Idempotency-Key`: a repeat returns the original job; the same key with another
//! payload is refused.

use e2e::{JOB_TIMEOUT, Job, check_receipt, inputs, spawn_app};
use serde_json::json;

#[test]
fn the_same_key_and_body_twice_returns_the_original_job_marked_as_replayed() {
    // Arrange
    let app = spawn_app();
    let body = inputs::echo(json!({ "order": 42 }));
    let first = app.submit_with_key(&body, "order-42");
    let original = check_receipt(&first);

    // Act
    let second = app.submit_with_key(&body, "order-42");

    // Assert
    second.expect_status(202);
    let replayed = Job::from_reply(&second);
    assert_eq!(
        replayed.id, original.id,
        "a replay returns the original job"
    );
    assert!(
        second
            .header("location")
            .is_some_and(|l| l.ends_with(&format!("/jobs/{}", original.id))),
        "a replay points at the original job: {second}"
    );
    assert_eq!(
        second.header("idempotent-replayed"),
        Some("true"),
        "a replay says so: {second}"
    );
    assert!(
        matches!(first.header("idempotent-replayed"), None | Some("false")),
        "a first submission is not a replay: {first}"
    );
    app.wait_for_status(&original.id, "succeeded", JOB_TIMEOUT);
    assert_eq!(
        app.list_all_ids(""),
        vec![original.id.clone()],
        "only one job exists"
    );
}

#[test]
fn the_same_key_with_another_body_is_a_422_problem_and_creates_no_job() {
    // Arrange
    let app = spawn_app();
    let original: Job =
        check_receipt(&app.submit_with_key(&inputs::echo(json!({ "n": 1 })), "k-1"));
    app.wait_for_status(&original.id, "succeeded", JOB_TIMEOUT);
    let before = app.snapshot();

    // Act
    let reply = app.submit_with_key(&inputs::echo(json!({ "n": 2 })), "k-1");

    // Assert
    reply.expect_problem_type(422, "idempotency-key-reused");
    assert_eq!(
        app.snapshot(),
        before,
        "the refused submission stored nothing"
    );
}

#[test]
fn different_keys_with_the_same_body_make_different_jobs() {
    // Arrange
    let app = spawn_app();
    let body = inputs::echo(json!({ "text": "same" }));

    // Act
    let a = check_receipt(&app.submit_with_key(&body, "key-a"));
    let b = check_receipt(&app.submit_with_key(&body, "key-b"));

    // Assert
    assert_ne!(a.id, b.id);
}

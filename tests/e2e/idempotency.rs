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

#[test]
fn past_job_ttl_an_idle_deployments_job_reads_as_gone_frees_its_key_and_is_removed() {
    // Arrange: a job finished, then nothing else happens (no submission rings a drain).
    let app = e2e::spawn_app_with(&[("job_ttl_seconds", "1")]);
    let body = inputs::echo(json!({ "order": 7 }));
    let first = check_receipt(&app.submit_with_key(&body, "order-7"));
    app.wait_for_status(&first.id, "succeeded", JOB_TIMEOUT);

    // Act: read it until the second has passed.
    testkit::wait_until_seen(JOB_TIMEOUT, "the job to read as gone", || {
        let reply = app.get_job(&first.id);
        if reply.status == 404 {
            return Ok(());
        }
        Err(reply.status)
    });

    // Assert: listed no more, its key takes a new job, and the read started the drain
    // that removes it from storage.
    assert_eq!(app.get_result(&first.id).status, 404);
    assert!(
        !app.list_all_ids("").contains(&first.id),
        "listed past its TTL"
    );
    let again = app.submit_with_key(&body, "order-7");
    let second = check_receipt(&again);
    assert_ne!(
        second.id, first.id,
        "a key past its job's TTL is free: {again}"
    );
    assert!(
        matches!(again.header("idempotent-replayed"), None | Some("false")),
        "{again}"
    );
    testkit::wait_until_seen(JOB_TIMEOUT, "the expired job's keys to go", || {
        let left: Vec<String> = app
            .durable_redis_keys()
            .into_iter()
            .filter(|key| key.contains(&first.id))
            .collect();
        if left.is_empty() { Ok(()) } else { Err(left) }
    });
}

//! `GET /jobs/{id}` carries a strong `ETag`; `If-None-Match` with it is `304`.

use e2e::{JOB_TIMEOUT, inputs, spawn_app};
use serde_json::json;

#[test]
fn a_job_has_a_strong_etag_and_if_none_match_with_it_is_304() {
    // Arrange
    let app = spawn_app();
    let job = app.submit_ok(&inputs::echo(json!({ "text": "cache me" })));
    app.wait_for_status(&job.id, "succeeded", JOB_TIMEOUT);
    let first = app.get_job(&job.id);
    first.expect_status(200);
    let etag = first
        .header("etag")
        .unwrap_or_else(|| panic!("a job resource has an ETag: {first}"))
        .to_owned();

    // Act
    let cached = app.get_job_if_none_match(&job.id, &etag);
    let stale = app.get_job_if_none_match(&job.id, "\"not-the-current-tag\"");

    // Assert
    assert!(
        !etag.starts_with("W/") && etag.starts_with('"') && etag.ends_with('"'),
        "the ETag is strong and quoted: {etag:?}"
    );
    cached.expect_status(304);
    assert!(cached.body.is_empty(), "a 304 has no body: {cached}");
    assert_eq!(cached.header("etag"), Some(etag.as_str()), "{cached}");
    stale.expect_status(200);
    assert_eq!(stale.json(), first.json(), "{stale}");
}

#[test]
fn the_etag_changes_when_the_job_changes() {
    // Arrange
    let app = spawn_app();
    let job = app.submit_ok(&inputs::with(
        inputs::echo(json!({ "text": "wait" })),
        json!({ "delay_ms": 600_000 }),
    ));
    let queued = app.get_job(&job.id);
    let queued_tag = queued.header("etag").expect("an ETag").to_owned();

    // Act
    app.cancel(&job.id).expect_status(200);
    let after = app.get_job_if_none_match(&job.id, &queued_tag);

    // Assert
    after.expect_status(200);
    let new_tag = after.header("etag").expect("an ETag");
    assert_ne!(new_tag, queued_tag, "a changed job has a new ETag");
}

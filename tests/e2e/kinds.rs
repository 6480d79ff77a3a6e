//! Every built-in kind, submitted over HTTP, run by the Redis-triggered worker, and its
//! result served with the kind's content type.

use e2e::{JOB_TIMEOUT, inputs, spawn_app};
use serde_json::json;
use sha2::{Digest, Sha256};

#[test]
fn an_echo_job_succeeds_and_its_result_is_the_input_as_json() {
    // Arrange
    let app = spawn_app();
    let input = json!({ "message": "hello, jobs", "n": 7, "nested": { "ok": true } });

    // Act
    let job = app.submit_ok(&inputs::echo(input.clone()));
    let done = app.wait_for_status(&job.id, "succeeded", JOB_TIMEOUT);
    let result = app.get_result(&job.id);

    // Assert
    assert_eq!(done.kind, "echo");
    assert_eq!(done.attempts, 1, "{}", done.json);
    assert!(done.error.is_none(), "{}", done.json);
    result.expect_status(200);
    assert_eq!(
        result.media_type().as_deref(),
        Some("application/json"),
        "{result}"
    );
    assert_eq!(result.json(), input, "{result}");
}

#[test]
fn a_hash_job_succeeds_with_the_sha256_of_its_data() {
    // Arrange
    let app = spawn_app();
    let data = "the quick brown fox";
    let expected: String = Sha256::digest(data.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    // Act
    let job = app.submit_ok(&inputs::hash(data, "sha256"));
    app.wait_for_status(&job.id, "succeeded", JOB_TIMEOUT);
    let result = app.get_result(&job.id);

    // Assert
    result.expect_status(200);
    assert_eq!(
        result.media_type().as_deref(),
        Some("application/json"),
        "{result}"
    );
    let doc = result.json();
    assert_eq!(
        doc.get("hex").and_then(|h| h.as_str()),
        Some(expected.as_str()),
        "the result carries the SHA-256 as hex: {result}"
    );
}

#[test]
fn a_sleep_job_is_seen_running_with_a_start_time_and_then_succeeds() {
    // Arrange
    let app = spawn_app();

    // Act
    let job = app.submit_ok(&inputs::sleep(1500));
    let running = app.wait_for_status(&job.id, "running", JOB_TIMEOUT);
    let done = app.wait_for_status(&job.id, "succeeded", JOB_TIMEOUT);
    let result = app.get_result(&job.id);

    // Assert
    assert!(
        running
            .json
            .get("started_at")
            .is_some_and(|v| v.is_string()),
        "a running job has started_at: {}",
        running.json
    );
    for member in ["created_at", "started_at", "finished_at"] {
        let value = done.json.get(member).and_then(|v| v.as_str());
        assert!(
            value.is_some_and(|v| v.ends_with('Z') && v.contains('T')),
            "{member} is an RFC 3339 UTC timestamp: {}",
            done.json
        );
    }
    assert_eq!(done.attempts, 1, "{}", done.json);
    result.expect_status(200);
    assert!(
        result.media_type().is_some(),
        "a result has a content type: {result}"
    );
}

#[test]
fn a_fail_job_with_no_failures_asked_for_succeeds_on_its_first_attempt() {
    // Arrange
    let app = spawn_app();

    // Act
    let job = app.submit_ok(&inputs::fail_times(0));
    let done = app.wait_for_status(&job.id, "succeeded", JOB_TIMEOUT);
    let result = app.get_result(&job.id);

    // Assert
    assert_eq!(done.kind, "fail");
    assert_eq!(done.attempts, 1, "{}", done.json);
    result.expect_status(200);
    assert!(
        result.media_type().is_some(),
        "a result has a content type: {result}"
    );
}

#[test]
fn a_thumbnail_job_returns_a_png_that_fits_the_box() {
    // Arrange
    let app = spawn_app();
    let original = inputs::png(64, 48);

    // Act
    let job = app.submit_ok(&inputs::thumbnail(&original, 16, 16));
    app.wait_for_status(&job.id, "succeeded", JOB_TIMEOUT);
    let result = app.get_result(&job.id);

    // Assert
    result.expect_status(200);
    assert_eq!(
        result.media_type().as_deref(),
        Some("image/png"),
        "{result}"
    );
    assert_eq!(
        image::guess_format(&result.body).ok(),
        Some(image::ImageFormat::Png),
        "the result is PNG data"
    );
    let thumb = image::load_from_memory(&result.body).expect("the result decodes as an image");
    let (w, h) = (thumb.width(), thumb.height());
    assert!(
        w <= 16 && h <= 16,
        "a {w}x{h} thumbnail does not fit in 16x16"
    );
    assert!(
        w == 16 || h == 16,
        "a {w}x{h} thumbnail does not fill the 16x16 box on either side"
    );
    assert!(
        w > h,
        "a 64x48 original gives a landscape thumbnail, got {w}x{h}"
    );
}

//! `GET /healthz` and `GET /stats` on a healthy app.

use e2e::{JOB_TIMEOUT, inputs, spawn_app};
use serde_json::{Value, json};

#[test]
fn health_is_200_when_the_store_and_redis_answer() {
    // Arrange
    let app = spawn_app();

    // Act
    let reply = app.healthz();

    // Assert
    reply.expect_status(200);
}

#[test]
fn stats_count_jobs_by_status() {
    // Arrange
    let app = spawn_app();
    let done = app.submit_ok(&inputs::echo(json!({ "text": "a" })));
    app.wait_for_status(&done.id, "succeeded", JOB_TIMEOUT);
    app.submit_ok(&inputs::with(
        inputs::echo(json!({ "text": "b" })),
        json!({ "delay_ms": 600_000 }),
    ));

    // Act
    let stats = app.stats_json();

    // Assert
    assert_eq!(count(&stats, "succeeded"), Some(1), "{stats}");
    assert_eq!(count(&stats, "queued"), Some(1), "{stats}");
    assert_eq!(count(&stats, "failed"), Some(0), "{stats}");
}

/// The count of `status`: `counts.{status}` or a top-level `{status}` member.
fn count(stats: &Value, status: &str) -> Option<u64> {
    stats
        .get("counts")
        .and_then(|c| c.get(status))
        .or_else(|| stats.get(status))
        .and_then(Value::as_u64)
}

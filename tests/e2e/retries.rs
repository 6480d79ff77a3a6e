//! Transient failures are retried with backoff up to `max_attempts`; a job that runs
//! out of attempts is `failed`, with its error, and counted as dead.

use e2e::{RETRY_TIMEOUT, inputs, spawn_app};
use serde_json::json;

#[test]
fn a_job_that_fails_twice_succeeds_on_its_third_attempt() {
    // Arrange
    let app = spawn_app();
    let body = inputs::with(inputs::fail_times(2), json!({ "max_attempts": 3 }));

    // Act
    let job = app.submit_ok(&body);
    let done = app.wait_for_status(&job.id, "succeeded", RETRY_TIMEOUT);

    // Assert
    assert_eq!(job.max_attempts, 3, "{}", job.json);
    assert_eq!(done.attempts, 3, "{}", done.json);
    assert!(
        done.error.is_none(),
        "a success clears the error: {}",
        done.json
    );
    let result = app.get_result(&job.id);
    result.expect_status(200);
    assert_eq!(
        result.json().get("attempts").and_then(|a| a.as_u64()),
        Some(3),
        "the run that succeeded was the third: {result}"
    );
}

#[test]
fn a_job_that_always_fails_is_failed_after_max_attempts_with_its_error() {
    // Arrange
    let app = spawn_app();
    let body = inputs::with(inputs::fail_always(), json!({ "max_attempts": 2 }));

    // Act
    let job = app.submit_ok(&body);
    let done = app.wait_for_status(&job.id, "failed", RETRY_TIMEOUT);

    // Assert
    assert_eq!(done.attempts, 2, "{}", done.json);
    assert_eq!(done.max_attempts, 2, "{}", done.json);
    let (kind, message) = done
        .error_parts()
        .unwrap_or_else(|| panic!("a failed job has error {{type, message}}: {}", done.json));
    assert!(!kind.is_empty() && !message.is_empty(), "{}", done.json);
    assert!(
        done.json.get("finished_at").is_some_and(|v| v.is_string()),
        "a failed job has finished_at: {}",
        done.json
    );
    app.get_result(&job.id)
        .expect_problem_type(409, "result-not-ready");
}

#[test]
fn max_attempts_defaults_to_the_default_max_attempts_variable() {
    // Arrange
    let app = e2e::spawn_app_with(&[("default_max_attempts", "5")]);

    // Act
    let job = app.submit_ok(&inputs::echo(json!({ "text": "x" })));

    // Assert
    assert_eq!(job.max_attempts, 5, "{}", job.json);
}

//! `POST /internal/drain`: the worker's drain loop behind a secret token, for platforms
//! without the Redis trigger. Without the token (or with a wrong one, or with no token
//! configured) the route answers like a path that does not exist; with it, it runs the
//! jobs that wait and reports what it did.

use e2e::{Reply, TestApp, inputs};
use serde_json::json;

use crate::common::fleet;

const TOKEN: &str = "s3cret-drain-token";

fn drain(app: &TestApp, authorization: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    app.request("POST", "/internal/drain", &headers, Some(b""))
}

#[test]
fn the_drain_endpoint_is_a_404_without_the_token_and_runs_waiting_jobs_with_it() {
    // Arrange: the intake only (no worker), so nothing else runs the jobs.
    let (app, _no_workers) = fleet(0, &[("drain_token", TOKEN)]);
    let ids: Vec<String> = (0..5)
        .map(|i| app.submit_ok(&inputs::echo(json!({ "i": i }))).id)
        .collect();

    // Act
    let anonymous = drain(&app, None);
    let wrong = drain(&app, Some("Bearer not-the-token"));
    let bare = drain(&app, Some(TOKEN));
    let get = app.request(
        "GET",
        "/internal/drain",
        &[("authorization", &format!("Bearer {TOKEN}"))],
        None,
    );
    let still_queued = app.job(&ids[0]);
    let drained = drain(&app, Some(&format!("Bearer {TOKEN}")));

    // Assert
    for refused in [&anonymous, &wrong, &bare] {
        refused.expect_problem_type(404, "route-not-found");
    }
    get.expect_problem_type(405, "method-not-allowed");
    assert_eq!(still_queued.status, "queued", "{}", still_queued.json);
    drained.expect_status(200);
    let report = drained.json();
    eprintln!("drain_endpoint: {report}");
    assert_eq!(report["claimed"], 5, "{drained}");
    assert_eq!(report["succeeded"], 5, "{drained}");
    for id in &ids {
        let job = app.job(id);
        assert_eq!(
            (job.status.as_str(), job.attempts),
            ("succeeded", 1),
            "{}",
            job.json
        );
    }
}

#[test]
fn without_a_configured_token_the_drain_endpoint_does_not_exist() {
    // Arrange: spin.toml's default, an empty drain_token.
    let (app, _no_workers) = fleet(0, &[]);
    let job = app.submit_ok(&inputs::echo(json!({})));

    // Act
    let empty = drain(&app, Some("Bearer "));
    let guess = drain(&app, Some("Bearer anything"));

    // Assert
    empty.expect_problem_type(404, "route-not-found");
    guess.expect_problem_type(404, "route-not-found");
    assert_eq!(app.job(&job.id).status, "queued");
}

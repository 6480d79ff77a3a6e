//! The app as each deployment runs it: with the key-value store on SQLite (plain
//! `spin up`, Spin's default backend) and as the hosted-cloud manifest
//! (`deploy/cloud/spin.toml`: the intake alone, with jobs run by a scheduler that calls
//! `POST /internal/drain`).

use e2e::{AppSpec, JOB_TIMEOUT, Store, inputs, spawn_app_with_spec};
use serde_json::json;

const TOKEN: &str = "a-scheduler-s-token";

#[test]
fn with_the_store_on_sqlite_jobs_run_end_to_end() {
    // Arrange: intake and worker of spin.toml, the store on SQLite (shared by both).
    let app = spawn_app_with_spec(AppSpec {
        store: Store::Sqlite,
        ..AppSpec::default()
    });

    // Act
    let echo = app.submit_ok(&inputs::echo(json!({ "on": "sqlite" })));
    let hash = app.submit_ok(&inputs::hash("abc", "sha256"));
    let echoed = app.wait_for_status(&echo.id, "succeeded", JOB_TIMEOUT);
    let hashed = app.wait_for_status(&hash.id, "succeeded", JOB_TIMEOUT);
    let result = app.get_result(&echo.id);

    // Assert
    assert_eq!((echoed.attempts, hashed.attempts), (1, 1));
    result.expect_status(200);
    assert_eq!(result.json(), json!({ "on": "sqlite" }));
    assert!(
        app.durable_redis_keys()
            .iter()
            .all(|k| k.starts_with("aj:")),
        "job records went to Redis, not SQLite: {:?}",
        app.durable_redis_keys()
    );
}

#[test]
fn the_cloud_manifest_runs_jobs_when_a_scheduler_calls_the_drain_route() {
    // Arrange: the hosted-cloud manifest, its store on SQLite (the platform's own, not
    // the queue's Redis), and no worker anywhere.
    let app = spawn_app_with_spec(AppSpec {
        manifest: Some("deploy/cloud/spin.toml"),
        store: Store::Sqlite,
        variables: vec![("drain_token".to_owned(), TOKEN.to_owned())],
        ..AppSpec::default()
    });
    let ids: Vec<String> = (0..5)
        .map(|i| app.submit_ok(&inputs::echo(json!({ "i": i }))).id)
        .collect();
    let bearer = format!("Bearer {TOKEN}");

    // Act: a scheduler's calls, until every job is done.
    let anonymous = app.request("POST", "/internal/drain", &[], Some(b""));
    let mut calls = 0;
    let done = testkit::wait_until(JOB_TIMEOUT, "every job done by drain calls", || {
        let drained = app.request(
            "POST",
            "/internal/drain",
            &[("authorization", &bearer)],
            Some(b""),
        );
        drained.expect_status(200);
        calls += 1;
        let jobs: Vec<_> = ids.iter().map(|id| app.job(id)).collect();
        jobs.iter().all(|j| j.status == "succeeded").then_some(jobs)
    });

    // Assert
    anonymous.expect_problem_type(404, "route-not-found");
    assert_eq!(
        app.subscribers(),
        0,
        "the cloud manifest has no Redis trigger"
    );
    for job in &done {
        assert_eq!(job.attempts, 1, "{}", job.json);
    }
    eprintln!(
        "cloud manifest: {} jobs done after {calls} drain calls",
        ids.len()
    );
}

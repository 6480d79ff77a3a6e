//! What the dashboard uses beyond submit, read and cancel, through the API: read-only
//! keys (`403` for every change, nothing stored), `GET /me`, a job's input, a failed job
//! retried as a new one that records its origin, and cancel or retry over a filter.

use e2e::{JOB_TIMEOUT, TestApp, inputs, spawn_app};
use serde_json::{Value, json};

/// A key of `role` for the test's tenant.
fn key_with_role(app: &TestApp, role: &str) -> String {
    let reply = app.admin(
        "POST",
        "/admin/tenants/default/keys",
        Some(&json!({ "role": role })),
    );
    reply.expect_status(201);
    assert_eq!(reply.json()["role"], role);
    reply.json()["key"].as_str().unwrap().to_owned()
}

#[test]
fn a_read_only_key_reads_everything_and_changes_nothing() {
    // Arrange
    let app = spawn_app();
    let done = app.submit_ok(&inputs::echo(json!({"a": 1})));
    app.wait_for_status(&done.id, "succeeded", JOB_TIMEOUT);
    let failed = app.submit_ok(&inputs::with(
        inputs::fail_always(),
        json!({"max_attempts": 1}),
    ));
    app.wait_for_status(&failed.id, "failed", JOB_TIMEOUT);
    let waiting = app.submit_ok(&inputs::with(
        inputs::echo(json!({})),
        json!({"delay_ms": 600_000}),
    ));
    let viewer = app.as_client(&key_with_role(&app, "read"));
    let before = app.snapshot();

    // Act + Assert: reads work.
    let me = viewer.get("/me");
    me.expect_status(200);
    assert_eq!(me.json(), json!({"tenant": "default", "role": "read"}));
    viewer.get("/jobs").expect_status(200);
    viewer.get(&format!("/jobs/{}", done.id)).expect_status(200);
    viewer
        .get(&format!("/jobs/{}/result", done.id))
        .expect_status(200);
    viewer
        .get(&format!("/jobs/{}/input", done.id))
        .expect_status(200);
    viewer.get("/stats").expect_status(200);

    // Every change is a 403 problem, and nothing is stored.
    let body = inputs::echo(json!({"x": 1})).to_string();
    let changes = [
        ("POST", "/jobs".to_owned()),
        ("DELETE", format!("/jobs/{}", waiting.id)),
        ("POST", format!("/jobs/{}/retry", failed.id)),
        ("POST", format!("/jobs/{}/webhook", done.id)),
        ("POST", "/jobs/bulk-cancel".to_owned()),
        ("POST", "/jobs/bulk-retry".to_owned()),
    ];
    for (method, path) in changes {
        let reply = viewer.request(
            method,
            &path,
            &[("content-type", "application/json")],
            (path == "/jobs").then_some(body.as_bytes()),
        );
        let problem = reply.expect_problem_type(403, "forbidden");
        assert!(
            problem.detail.contains("read-only"),
            "{method} {path}: {reply}"
        );
    }
    assert_eq!(app.snapshot(), before, "a read-only key changed something");
    assert_eq!(app.job(&waiting.id).status, "queued");

    // The test's own key is a full one.
    assert_eq!(
        app.request("GET", "/me", &[], None).json(),
        json!({"tenant": "default", "role": "full"})
    );
}

#[test]
fn a_failed_job_is_retried_once_as_a_new_job_that_names_its_origin() {
    // Arrange
    let app = spawn_app();
    let input = json!({"fail_times": 1, "message": "flaky"});
    let failed = app.submit_ok(&inputs::with(
        inputs::submission("fail", input.clone()),
        json!({"max_attempts": 1}),
    ));
    app.wait_for_status(&failed.id, "failed", JOB_TIMEOUT);

    // Act
    let retried = app.request("POST", &format!("/jobs/{}/retry", failed.id), &[], None);
    let again = app.request("POST", &format!("/jobs/{}/retry", failed.id), &[], None);

    // Assert: a new job, with the same input, that runs on its own.
    retried.expect_status(202);
    let new = retried.json();
    let new_id = new["id"].as_str().unwrap();
    assert_ne!(new_id, failed.id);
    assert_eq!(new["retry_of"], failed.id.as_str());
    assert_eq!(new["kind"], "fail");
    assert_eq!(new["max_attempts"], 1);
    assert_eq!(
        retried.header("location"),
        Some(format!("/jobs/{new_id}").as_str())
    );
    let input_reply = app.request("GET", &format!("/jobs/{new_id}/input"), &[], None);
    input_reply.expect_status(200);
    assert_eq!(input_reply.json(), input);
    // fail_times 1 fails the first attempt of each job: the new job's too.
    let finished = app.wait_for_status(new_id, "failed", JOB_TIMEOUT);
    assert_eq!(finished.json["retry_of"], failed.id.as_str());
    // The second request answers the same retry.
    again.expect_status(202);
    assert_eq!(again.json()["id"], new_id);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.list_all_ids("kind=fail").len(), 2);
    // A job that has not failed cannot be retried.
    let ok = app.submit_ok(&inputs::echo(json!({})));
    app.wait_for_status(&ok.id, "succeeded", JOB_TIMEOUT);
    app.request("POST", &format!("/jobs/{}/retry", ok.id), &[], None)
        .expect_problem_type(409, "not-retryable");
}

#[test]
fn another_tenant_can_neither_read_the_input_nor_retry_nor_bulk_cancel() {
    let app = spawn_app();
    let input = json!({"nested": {"list": [1, 2, 3]}, "text": "é"});
    let job = app.submit_ok(&inputs::echo(input.clone()));
    let reply = app.request("GET", &format!("/jobs/{}/input", job.id), &[], None);
    reply.expect_status(200);
    assert_eq!(reply.json(), input);

    app.create_tenant("other");
    let other = app.as_client(&app.issue_key("other"));
    other
        .get(&format!("/jobs/{}/input", job.id))
        .expect_problem_type(404, "not-found");
    let waiting = app.submit_ok(&inputs::with(
        inputs::echo(json!({})),
        json!({"delay_ms": 600_000}),
    ));
    app.cancel(&waiting.id).expect_status(200);
    other
        .request("POST", &format!("/jobs/{}/retry", waiting.id), &[], None)
        .expect_problem_type(404, "not-found");
    let queued = app.submit_ok(&inputs::with(
        inputs::echo(json!({})),
        json!({"delay_ms": 600_000}),
    ));
    let page = other.request("POST", "/jobs/bulk-cancel", &[], None);
    page.expect_status(200);
    assert_eq!(page.json()["affected"], 0);
    assert_eq!(app.job(&queued.id).status, "queued");
    assert_eq!(app.list_all_ids("status=queued"), vec![queued.id.clone()]);
}

/// Calls a bulk route with `query` until it has no page left; the sums of `affected`
/// and `skipped`, and how many calls it took.
fn bulk_all(app: &TestApp, action: &str, query: &str) -> (u64, u64, usize) {
    let (mut affected, mut skipped, mut calls) = (0, 0, 0);
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/jobs/bulk-{action}?{query}&cursor={c}"),
            None => format!("/jobs/bulk-{action}?{query}"),
        };
        let reply = app.request("POST", &path, &[], None);
        reply.expect_status(200);
        let page: Value = reply.json();
        calls += 1;
        affected += page["affected"].as_u64().unwrap();
        skipped += page["skipped"].as_u64().unwrap();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (affected, skipped, calls),
        }
        assert!(calls < 50, "the bulk calls never end");
    }
}

#[test]
fn bulk_cancel_and_retry_act_on_what_the_filter_matches_a_page_at_a_time() {
    // Arrange: five delayed echo jobs, two delayed hash jobs, three failed jobs.
    let app = spawn_app();
    let later = json!({"delay_ms": 600_000});
    let echoes: Vec<_> = (0..5)
        .map(|i| app.submit_ok(&inputs::with(inputs::echo(json!({"i": i})), later.clone())))
        .collect();
    let hashes: Vec<_> = (0..2)
        .map(|_| app.submit_ok(&inputs::with(inputs::hash("x", "sha256"), later.clone())))
        .collect();
    let failed: Vec<_> = (0..3)
        .map(|_| {
            app.submit_ok(&inputs::with(
                inputs::fail_always(),
                json!({"max_attempts": 1}),
            ))
        })
        .collect();
    for job in &failed {
        app.wait_for_status(&job.id, "failed", JOB_TIMEOUT);
    }

    // Act: cancel the echo jobs, two per call.
    let (cancelled, skipped, calls) = bulk_all(&app, "cancel", "kind=echo&limit=2");

    // Assert
    assert_eq!((cancelled, skipped), (5, 0));
    assert!(
        calls >= 3,
        "two per call take at least three calls, took {calls}"
    );
    for job in &echoes {
        assert_eq!(app.job(&job.id).status, "cancelled");
    }
    for job in &hashes {
        assert_eq!(app.job(&job.id).status, "queued", "outside the filter");
    }

    // Act: retry the failed ones, twice. The retries fail too, so the filter names
    // the jobs created before them.
    let last = failed
        .iter()
        .map(|job| {
            app.job(&job.id).json["finished_at"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .max()
        .unwrap();
    let filter = format!("status=failed&created_before={last}");
    let (retried, _, _) = bulk_all(&app, "retry", &filter);
    let (again, skipped_again, _) = bulk_all(&app, "retry", &filter);

    // Assert: three new jobs, once.
    assert_eq!(retried, 3);
    assert_eq!(
        (again, skipped_again),
        (0, 3),
        "a failed job is retried once"
    );
    let fail_jobs = app.list_all_ids("kind=fail");
    assert_eq!(fail_jobs.len(), 6);
    let origins: Vec<Value> = fail_jobs
        .iter()
        .map(|id| app.job(id).json["retry_of"].clone())
        .filter(|origin| !origin.is_null())
        .collect();
    assert_eq!(origins.len(), 3);
    for job in &failed {
        assert!(origins.contains(&json!(job.id)), "{} was retried", job.id);
    }
}

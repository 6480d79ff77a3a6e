//! API keys and tenants: every route but `/healthz` needs a key, a tenant sees only its
//! own jobs (`404` for the others', never `403`), revoked keys stop working, the admin API
//! hides without its token, quotas refuse with `429`, and claims are fair across
//! tenants.

use std::time::Duration;

use e2e::{AppSpec, JOB_TIMEOUT, TestApp, inputs, spawn_app, spawn_app_with, spawn_app_with_spec};
use serde_json::{Value, json};

/// `(method, path)` of every route that needs a key, for the job `id`.
fn keyed_routes(id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("POST", "/jobs".to_owned()),
        ("GET", "/jobs".to_owned()),
        ("GET", format!("/jobs/{id}")),
        ("GET", format!("/jobs/{id}/result")),
        ("DELETE", format!("/jobs/{id}")),
        ("GET", "/stats".to_owned()),
    ]
}

fn send(app: &TestApp, method: &str, path: &str, authorization: Option<&str>) -> e2e::Reply {
    let body = inputs::echo(json!({"x": 1})).to_string();
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = authorization {
        headers.push(("authorization", a));
    }
    let body = (method == "POST").then_some(body.as_bytes());
    app.request_raw(method, path, &headers, body)
}

/// A second tenant `name` and a client with its own key.
fn tenant_with_key(app: &TestApp, name: &str) -> String {
    app.create_tenant(name);
    app.issue_key(name)
}

#[test]
fn every_route_but_healthz_needs_a_valid_api_key() {
    // Arrange
    let app = spawn_app();
    let job = app.submit_ok(&inputs::echo(json!({"secret": "s"})));
    app.wait_for_status(&job.id, "succeeded", JOB_TIMEOUT);
    let before = app.snapshot();
    let unknown = "ajk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    for (method, path) in keyed_routes(&job.id) {
        // Act
        let missing = send(&app, method, &path, None);
        let basic = send(&app, method, &path, Some("Basic dXNlcjpwYXNz"));
        let bad = send(&app, method, &path, Some(&format!("Bearer {unknown}")));
        let garbage = send(&app, method, &path, Some("Bearer not-a-key"));

        // Assert
        for reply in [&missing, &basic] {
            reply.expect_problem_type(401, "unauthorized");
            assert_eq!(
                reply.header("www-authenticate"),
                Some(r#"Bearer realm="async-jobs""#),
                "{reply}"
            );
        }
        for reply in [&bad, &garbage] {
            reply.expect_problem_type(401, "unauthorized");
            let challenge = reply.header("www-authenticate").unwrap_or_default();
            assert!(challenge.contains(r#"error="invalid_token""#), "{reply}");
        }
    }
    send(&app, "GET", "/healthz", None).expect_status(200);
    assert_eq!(app.snapshot(), before, "refused requests changed nothing");
}

#[test]
fn one_tenant_cannot_see_or_touch_another_tenants_jobs() {
    // Arrange: A is the test's tenant; B has a key of its own.
    let app = spawn_app();
    let b = app.as_client(&tenant_with_key(&app, "tenant-b"));
    let done = app.submit_ok(&inputs::echo(json!({"ssn": "078-05-1120"})));
    app.wait_for_status(&done.id, "succeeded", JOB_TIMEOUT);
    let waiting = app.submit_ok(&inputs::with(
        inputs::echo(json!({})),
        json!({"delay_ms": 600_000}),
    ));

    // Act + Assert: every route answers B as if A's jobs did not exist.
    for id in [&done.id, &waiting.id] {
        b.get(&format!("/jobs/{id}"))
            .expect_problem_type(404, "not-found");
        b.get(&format!("/jobs/{id}/result"))
            .expect_problem_type(404, "not-found");
        b.request("DELETE", &format!("/jobs/{id}"), &[], None)
            .expect_problem_type(404, "not-found");
    }
    let listed = b.get("/jobs");
    listed.expect_status(200);
    assert_eq!(listed.json()["items"], json!([]), "{listed}");
    let stats = b.get("/stats");
    stats.expect_status(200);
    assert!(
        !stats.text().contains("\"succeeded\":1") && !stats.text().contains("\"queued\":1"),
        "B's stats count none of A's jobs: {stats}"
    );
    // A's jobs are as they were: B's cancel changed nothing.
    assert_eq!(app.job(&waiting.id).status, "queued");
    assert_eq!(app.job(&done.id).status, "succeeded");
    // An Idempotency-Key is per tenant: B's use of A's key makes B's own job.
    let body = inputs::echo(json!({"same": true}));
    let first = app.submit_with_key(&body, "order-1");
    first.expect_status(202);
    let theirs = b.request(
        "POST",
        "/jobs",
        &[
            ("content-type", "application/json"),
            ("idempotency-key", "order-1"),
        ],
        Some(body.to_string().as_bytes()),
    );
    theirs.expect_status(202);
    assert_ne!(first.json()["id"], theirs.json()["id"]);
    assert_eq!(theirs.header("idempotent-replayed"), None, "{theirs}");
}

#[test]
fn a_revoked_key_is_refused_and_a_rotated_key_works() {
    // Arrange
    let app = spawn_app();
    let old = tenant_with_key(&app, "rotating");
    let new = app.issue_key("rotating");
    let job = app.as_client(&old).submit(&inputs::echo(json!({})));
    job.expect_status(202);
    let id = job.json()["id"].as_str().unwrap().to_owned();
    let listed = app.admin("GET", "/admin/tenants/rotating/keys", None);
    listed.expect_status(200);
    let keys = listed.json()["items"].as_array().unwrap().clone();
    let old_id = &old[4..20];

    // Act
    let revoked = app.admin(
        "DELETE",
        &format!("/admin/tenants/rotating/keys/{old_id}"),
        None,
    );

    // Assert: listings show prefixes and times only, never a key.
    assert_eq!(keys.len(), 2, "{listed}");
    for key in [&old, &new] {
        assert!(!listed.text().contains(&key[21..]), "{listed}");
    }
    // Keys are listed oldest first; two issued in the same millisecond come in either order.
    let old_entry = keys
        .iter()
        .find(|k| k["prefix"] == json!(format!("ajk_{old_id}")))
        .unwrap_or_else(|| panic!("the old key is listed: {listed}"));
    assert!(old_entry["created_at"].is_string() && old_entry["revoked_at"].is_null());
    revoked.expect_status(200);
    assert!(revoked.json()["revoked_at"].is_string(), "{revoked}");
    let refused = app.as_client(&old).get(&format!("/jobs/{id}"));
    refused.expect_problem_type(401, "unauthorized");
    // The new key of the same tenant sees the job the old one submitted.
    app.as_client(&new)
        .get(&format!("/jobs/{id}"))
        .expect_status(200);
    // Another tenant cannot revoke this tenant's key.
    app.create_tenant("other");
    let new_id = &new[4..20];
    app.admin(
        "DELETE",
        &format!("/admin/tenants/other/keys/{new_id}"),
        None,
    )
    .expect_problem_type(404, "key-not-found");
    app.as_client(&new).get("/stats").expect_status(200);
}

/// An intake instance that has looked a key up lets the next submissions with it skip the
/// lookup (the submit script checks the key with the job instead), yet a key revoked
/// meanwhile is refused at once, with a `401` whatever else is wrong with the request,
/// and nothing is queued for it.
#[test]
fn a_known_key_skips_its_lookup_yet_a_revoked_one_is_refused_at_once() {
    // Arrange: the intake alone, so Redis serves only the submissions.
    let app = spawn_app_with_spec(AppSpec {
        component_ids: vec!["intake".into()],
        ..AppSpec::default()
    });
    let key = tenant_with_key(&app, "known");
    let client = app.as_client(&key);
    client
        .submit(&inputs::echo(json!({"n": 0})))
        .expect_status(202);

    // Act
    app.stack.redis.reset_command_stats();
    for n in 1..=10 {
        client
            .submit(&inputs::echo(json!({ "n": n })))
            .expect_status(202);
    }
    let calls = app.stack.redis.command_calls();
    app.admin(
        "DELETE",
        &format!("/admin/tenants/known/keys/{}", &key[4..20]),
        None,
    )
    .expect_status(200);
    let valid = client.submit(&inputs::echo(json!({"n": 11})));
    let malformed = client.request(
        "POST",
        "/jobs",
        &[("content-type", "application/json")],
        Some(b"{not json"),
    );
    let not_json = client.request(
        "POST",
        "/jobs",
        &[("content-type", "text/plain")],
        Some(b"x"),
    );

    // Assert: one script per submission (the submit), not two (the key's lookup too). A
    // runtime that started a fresh instance in between looks the key up once more.
    let scripts =
        calls.get("evalsha").copied().unwrap_or(0) + calls.get("eval").copied().unwrap_or(0);
    assert!((10..=12).contains(&scripts), "{calls:?}");
    for refused in [&valid, &malformed, &not_json] {
        refused.expect_problem_type(401, "unauthorized");
    }
    let other = app.issue_key("known");
    let stats = app.as_client(&other).get("/stats");
    stats.expect_status(200);
    assert_eq!(stats.json()["counts"]["queued"], json!(11), "{stats}");
}

#[test]
fn the_admin_api_is_hidden_without_its_token() {
    // Arrange
    let app = spawn_app();
    let hidden = |authorization: Option<&str>| {
        let mut replies = Vec::new();
        for (method, path) in [
            ("GET", "/admin/tenants"),
            ("POST", "/admin/tenants"),
            ("PUT", "/admin/tenants"),
            ("GET", "/admin/tenants/default/keys"),
            ("POST", "/admin/tenants/default/keys"),
        ] {
            replies.push(send(&app, method, path, authorization));
        }
        replies
    };
    let key = app.api_key.clone().unwrap();

    // Act + Assert: no token, a wrong one, or an API key: exactly an unknown path.
    for authorization in [
        None,
        Some("Bearer wrong-token".to_owned()),
        Some(format!("Bearer {key}")),
    ] {
        for reply in hidden(authorization.as_deref()) {
            reply.expect_problem_type(404, "route-not-found");
        }
    }
    // With no admin token configured, the right-looking request is hidden too.
    let without = spawn_app_with(&[("admin_token", ""), ("auth", "off")]);
    without
        .request_raw(
            "GET",
            "/admin/tenants",
            &[("authorization", "Bearer ")],
            None,
        )
        .expect_problem_type(404, "route-not-found");
    // With it, the tenants are listed and a taken name is a conflict.
    let listed = app.admin("GET", "/admin/tenants", None);
    listed.expect_status(200);
    assert_eq!(listed.json()["items"][0]["name"], json!("default"));
    app.admin("POST", "/admin/tenants", Some(&json!({"name": "default"})))
        .expect_problem_type(409, "tenant-exists");
    app.admin(
        "POST",
        "/admin/tenants",
        Some(&json!({"name": "Not Valid"})),
    )
    .expect_problem_type(400, "malformed-request");
    app.admin("POST", "/admin/tenants/nobody/keys", None)
        .expect_problem_type(404, "tenant-not-found");
}

#[test]
fn a_tenant_at_its_quota_gets_429_and_nothing_is_stored() {
    // Arrange: two queued (delayed) jobs fill the default quota of 2.
    let app = spawn_app_with(&[("max_queued_jobs", "2")]);
    let later = || inputs::with(inputs::echo(json!({})), json!({"delay_ms": 600_000}));
    app.submit_ok(&later());
    app.submit_ok(&later());
    let before = app.snapshot();

    // Act
    let refused = app.submit(&later());

    // Assert
    refused.expect_problem_type(429, "quota-exceeded");
    let retry_after: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a 429 says when to retry: {refused}"));
    assert!(retry_after >= 1, "{refused}");
    assert_eq!(app.snapshot(), before, "the refused submit stored nothing");

    // A tenant's own quota, set through the admin API, applies to it alone.
    let b = app.as_client(&tenant_with_key(&app, "bigger"));
    let set = app.admin(
        "PATCH",
        "/admin/tenants/bigger",
        Some(&json!({"max_queued_jobs": 3})),
    );
    set.expect_status(200);
    assert_eq!(set.json()["max_queued_jobs"], json!(3));
    for _ in 0..3 {
        b.submit(&later()).expect_status(202);
    }
    b.submit(&later())
        .expect_problem_type(429, "quota-exceeded");
    app.submit(&later())
        .expect_problem_type(429, "quota-exceeded");
}

#[test]
fn with_auth_off_every_request_is_the_default_tenant() {
    // Arrange
    let app = spawn_app_with(&[("auth", "off")]);

    // Act
    let reply = app.request_raw(
        "POST",
        "/jobs",
        &[("content-type", "application/json")],
        Some(inputs::echo(json!({"open": true})).to_string().as_bytes()),
    );

    // Assert
    let job = e2e::check_receipt(&reply);
    app.wait_for_status(&job.id, "succeeded", JOB_TIMEOUT);
}

#[test]
fn a_backlog_of_one_tenant_does_not_starve_another() {
    // Arrange: no worker yet; tenant A queues 400 jobs, then B queues one.
    let app = spawn_app_with_spec(AppSpec {
        component_ids: vec!["intake".to_owned()],
        ..AppSpec::default()
    });
    let flood: Vec<Value> = (0..400).map(|i| inputs::echo(json!({ "i": i }))).collect();
    let a_jobs = app.submit_many(&flood);
    let b = app.as_client(&tenant_with_key(&app, "tenant-b"));
    let reply = b.submit(&inputs::echo(json!({"b": true})));
    reply.expect_status(202);
    let b_id = reply.json()["id"].as_str().unwrap().to_owned();

    // Act: one worker drains everything.
    let _worker = app.start_worker();
    let b_job = testkit::wait_until_seen(Duration::from_secs(60), "B's job to succeed", || {
        let job = b.get(&format!("/jobs/{b_id}")).json();
        if job["status"] == "succeeded" {
            Ok(job)
        } else {
            Err(job)
        }
    });
    let last = a_jobs.last().unwrap();
    app.wait_for_status(&last.id, "succeeded", Duration::from_secs(120));
    let ids: Vec<String> = a_jobs.iter().map(|j| j.id.clone()).collect();
    let a_done = app.jobs_many(&ids);

    // Assert: B's job started before all but a batch or two of A's backlog (claims take
    // one tenant's batch at a time, batches grow to 32), not after all 400.
    let b_started = b_job["started_at"].as_str().unwrap().to_owned();
    let before_b = a_done
        .iter()
        .filter(|j| j.json["started_at"].as_str().unwrap() < b_started.as_str())
        .count();
    assert!(
        before_b <= 64,
        "{before_b} of A's 400 jobs started before B's single job"
    );
}

#[test]
fn with_local_mode_off_even_a_local_client_needs_a_key() {
    // As the SpinKube manifests run it: a sidecar's connection is loopback too.
    let app = spawn_app_with(&[("admin_token", ""), ("local_mode", "off")]);
    let before = app.durable_redis_keys();
    let body = inputs::echo(json!({})).to_string();

    let submit = app.request_raw(
        "POST",
        "/jobs",
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    );
    let stats = app.request_raw("GET", "/stats", &[], None);

    submit.expect_problem_type(401, "unauthorized");
    stats.expect_problem_type(401, "unauthorized");
    assert_eq!(
        app.durable_redis_keys(),
        before,
        "a refused request stores nothing"
    );
}

#[test]
fn without_an_admin_token_a_local_client_needs_no_key_and_others_do() {
    // Arrange: as a plain `spin up`: auth on (the default), no admin token.
    let app = spawn_app_with(&[("admin_token", "")]);
    let body = inputs::echo(json!({"local": true})).to_string();
    let json = ("content-type", "application/json");

    // Act
    let local = app.request_raw("POST", "/jobs", &[json], Some(body.as_bytes()));
    let proxied = app.request_raw(
        "POST",
        "/jobs",
        &[json, ("x-forwarded-for", "203.0.113.9")],
        Some(body.as_bytes()),
    );
    let forged = app.request_raw(
        "GET",
        "/stats",
        &[("spin-client-addr", "127.0.0.1:1234")],
        None,
    );
    // A proxy that appends to a client's X-Forwarded-For keeps bytes that are not text.
    let proxied_bytes = app.request_bytes(
        "POST",
        "/jobs",
        &[
            ("content-type", b"application/json"),
            ("x-forwarded-for", b"\x80, 203.0.113.9"),
        ],
        Some(body.as_bytes()),
    );

    // Assert: the local client is the tenant `default`, and follows its Location.
    let job = e2e::check_receipt(&local);
    let location = local.header("location").unwrap().to_owned();
    app.request_raw("GET", &location, &[], None)
        .expect_status(200);
    app.wait_for_status(&job.id, "succeeded", JOB_TIMEOUT);
    // Through a proxy, or with a client-addr of its own making, a key is required.
    proxied.expect_problem_type(401, "unauthorized");
    // Spin refuses that one before the app (a 500; the devhost does as Spin).
    assert!(
        matches!(proxied_bytes.status, 401 | 500),
        "{proxied_bytes:?}"
    );
    forged.expect_problem_type(401, "unauthorized");
    // So it is for a page of another site in a local browser (no preflight is needed for
    // a POST without a body), and for a name that resolves here (DNS rebinding).
    let before = app.snapshot();
    for headers in [
        [("origin", "https://evil.example")],
        [("sec-fetch-site", "cross-site")],
        [("host", "evil.example:3000")],
    ] {
        app.request_raw("POST", "/jobs/bulk-cancel", &headers, None)
            .expect_problem_type(401, "unauthorized");
        app.request_raw("GET", "/jobs", &headers, None)
            .expect_problem_type(401, "unauthorized");
    }
    let from_a_page = app.request_bytes("GET", "/jobs", &[("origin", b"\xff")], None);
    assert!(matches!(from_a_page.status, 401 | 500), "{from_a_page:?}");
    assert_eq!(app.snapshot(), before);
}

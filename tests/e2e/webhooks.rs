//! Completion webhooks, end to end: a receiver on loopback (`tests/webhooks/receiver.py`)
//! checks every delivery's signature with the `standardwebhooks` package, not our code.
//! Success, failure after retries and a redelivery, a cancel, a `410`, `Retry-After`, a
//! receiver that is down and comes back, and one that hangs without delaying other jobs.

use std::time::Duration;

use e2e::webhooks::{DELIVERY_TIMEOUT, Receiver};
use e2e::{JOB_TIMEOUT, TestApp, inputs, spawn_app, spawn_app_with};
use serde_json::{Value, json};

/// Short delays so a test sees every attempt: three attempts, 300 ms apart.
const SCHEDULE: &str = "0,300ms,300ms";

/// The app, with webhooks allowed to loopback and short delays, and a receiver holding
/// the test tenant's signing secret.
fn app_and_receiver(schedule: &str) -> (TestApp, Receiver) {
    let app = spawn_app_with(&[
        ("webhook_allow_insecure", "true"),
        ("webhook_allowed_hosts", "http://127.0.0.1:*"),
        ("webhook_retry_schedule", schedule),
    ]);
    let receiver = Receiver::start(&secret(&app), 0);
    (app, receiver)
}

fn secret(app: &TestApp) -> String {
    let reply = app.admin("GET", "/admin/tenants/default/webhook-secret", None);
    reply.expect_status(200);
    reply.json()["current"].as_str().unwrap().to_owned()
}

fn submit_with_callback(app: &TestApp, body: Value, url: &str) -> String {
    app.submit_ok(&inputs::with(body, json!({ "callback_url": url })))
        .id
}

/// Polls the job until its webhook is in `state`, and returns the job.
fn wait_for_webhook(app: &TestApp, id: &str, state: &str) -> Value {
    testkit::wait_until_seen(DELIVERY_TIMEOUT, &format!("webhook {state}"), || {
        let job = app.job(id).json;
        if job["webhook"]["state"] == state {
            Ok(job)
        } else {
            Err(job)
        }
    })
}

#[track_caller]
fn assert_verified(delivery: &Value, id: &str, kind: &str) {
    assert_eq!(delivery["verified"], true, "signature refused: {delivery}");
    assert_eq!(delivery["event"]["type"], kind, "{delivery}");
    assert_eq!(delivery["event"]["data"]["id"], id, "{delivery}");
    assert!(
        delivery["event"]["data"]["links"]["result"].is_string(),
        "the result is linked: {delivery}"
    );
}

#[test]
fn a_finished_job_is_delivered_once_signed_and_shows_it() {
    // Arrange
    let (app, receiver) = app_and_receiver(SCHEDULE);

    // Act
    let id = submit_with_callback(&app, inputs::echo(json!({"x": 1})), &receiver.url("/ok"));
    let job = wait_for_webhook(&app, &id, "delivered");

    // Assert
    let deliveries = receiver.deliveries(&id, 1);
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_verified(&deliveries[0], &id, "job.succeeded");
    assert_eq!(deliveries[0]["event"]["data"]["status"], "succeeded");
    assert_eq!(job["webhook"]["attempts"], 1, "{job}");
    assert_eq!(job["webhook"]["last_status"], 204, "{job}");
    assert_eq!(
        app.stats_json()["webhooks"],
        json!({"pending": 0, "failed": 0})
    );
}

#[test]
fn a_receiver_that_keeps_failing_gets_every_attempt_then_a_redelivery() {
    // Arrange
    let (app, receiver) = app_and_receiver(SCHEDULE);
    let id = submit_with_callback(&app, inputs::echo(json!({})), &receiver.url("/fail/100"));

    // Act
    let job = wait_for_webhook(&app, &id, "failed");
    let failed_stats = app.stats_json()["webhooks"].clone();
    // Read before the redelivery, which may arrive at once.
    let deliveries = receiver.deliveries(&id, 3);
    let again = app.request("POST", &format!("/jobs/{id}/webhook"), &[], None);

    // Assert: three attempts (the schedule's length), one event id, all signed.
    assert_eq!(deliveries.len(), 3, "{deliveries:?}");
    for d in &deliveries {
        assert_verified(d, &id, "job.succeeded");
    }
    let gap = deliveries[1]["at"].as_f64().unwrap() - deliveries[0]["at"].as_f64().unwrap();
    assert!(gap >= 0.25, "the second attempt waited its 300 ms: {gap} s");
    assert_eq!(job["webhook"]["attempts"], 3, "{job}");
    assert_eq!(job["webhook"]["last_status"], 500, "{job}");
    assert_eq!(failed_stats, json!({"pending": 0, "failed": 1}));
    again.expect_status(202);
    assert_eq!(again.json()["webhook"]["state"], "pending", "{again}");
    let redelivered = receiver.deliveries(&id, 4);
    assert_eq!(redelivered[3]["webhook_id"], deliveries[0]["webhook_id"]);
    // A job without a callback has nothing to redeliver.
    let plain = app.submit_ok(&inputs::echo(json!({}))).id;
    app.wait_for_status(&plain, "succeeded", JOB_TIMEOUT);
    app.request("POST", &format!("/jobs/{plain}/webhook"), &[], None)
        .expect_problem_type(409, "webhook-unavailable");
}

#[test]
fn a_cancel_a_410_and_a_retry_after_are_honoured() {
    // Arrange
    let (app, receiver) = app_and_receiver("0,300ms,300ms");
    let cancelled = submit_with_callback(
        &app,
        inputs::with(inputs::echo(json!({})), json!({"delay_ms": 600_000})),
        &receiver.url("/ok"),
    );
    let gone = submit_with_callback(&app, inputs::echo(json!({})), &receiver.url("/gone"));
    let busy = submit_with_callback(&app, inputs::echo(json!({})), &receiver.url("/busy/2"));

    // Act
    app.cancel(&cancelled).expect_status(200);

    // Assert
    assert_verified(
        &receiver.deliveries(&cancelled, 1)[0],
        &cancelled,
        "job.cancelled",
    );
    let job = wait_for_webhook(&app, &gone, "failed");
    assert_eq!(
        (
            job["webhook"]["attempts"].clone(),
            job["webhook"]["last_status"].clone()
        ),
        (json!(1), json!(410)),
        "410 stops the retries: {job}"
    );
    let busy_seen = receiver.deliveries(&busy, 2);
    let waited = busy_seen[1]["at"].as_f64().unwrap() - busy_seen[0]["at"].as_f64().unwrap();
    assert!(waited >= 1.9, "Retry-After: 2 was honoured: {waited} s");
    wait_for_webhook(&app, &busy, "delivered");
}

#[test]
fn a_receiver_that_is_down_gets_the_event_once_it_is_back() {
    // Arrange: a port with nothing listening yet.
    let port = testkit::free_port();
    let app = spawn_app_with(&[
        ("webhook_allow_insecure", "true"),
        ("webhook_allowed_hosts", "http://127.0.0.1:*"),
        ("webhook_retry_schedule", "0,300ms,1s,2s,4s,8s"),
    ]);
    let url = format!("http://127.0.0.1:{port}/ok");
    let id = submit_with_callback(&app, inputs::echo(json!({})), &url);
    testkit::wait_until_seen(DELIVERY_TIMEOUT, "a failed attempt", || {
        let job = app.job(&id).json;
        if job["webhook"]["attempts"].as_u64() >= Some(2) {
            Ok(job)
        } else {
            Err(job)
        }
    });

    // Act
    let receiver = Receiver::start(&secret(&app), port);

    // Assert
    wait_for_webhook(&app, &id, "delivered");
    assert_verified(&receiver.deliveries(&id, 1)[0], &id, "job.succeeded");
}

#[test]
fn a_receiver_that_hangs_does_not_delay_other_jobs() {
    // Arrange
    let (app, receiver) = app_and_receiver("0,300ms");
    let hanging = submit_with_callback(&app, inputs::echo(json!({})), &receiver.url("/hang/1"));
    receiver.deliveries(&hanging, 1);

    // Act: while that delivery waits for its answer, other jobs come and go.
    let others: Vec<String> = (0..5)
        .map(|i| app.submit_ok(&inputs::echo(json!({ "i": i }))).id)
        .collect();

    // Assert
    for id in &others {
        app.wait_for_status(id, "succeeded", Duration::from_secs(5));
    }
    assert_eq!(
        app.job(&hanging).json["webhook"]["state"],
        "pending",
        "the hanging delivery is still waiting"
    );
    // After the 15 s timeout the next attempt gets its answer.
    wait_for_webhook(&app, &hanging, "delivered");
    assert_eq!(receiver.deliveries(&hanging, 2).len(), 2);
}

#[test]
fn a_callback_whose_address_is_in_block_networks_is_refused_at_send_time() {
    // Arrange: 127.0.0.2 is blocked by the runtime config (as a deployment blocks its
    // private networks); a receiver listens there all the same. The URL check allows it
    // (webhook_allow_insecure), so only the check after resolution can refuse it.
    let app = e2e::spawn_app_with_spec(e2e::AppSpec {
        variables: [
            ("webhook_allow_insecure", "true"),
            ("webhook_allowed_hosts", "http://127.0.0.2:*"),
            ("webhook_retry_schedule", "0,200ms"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
        block_networks: &["127.0.0.2/32"],
        ..e2e::AppSpec::default()
    });
    let receiver = Receiver::start_on("127.0.0.2", &secret(&app), 0);

    // Act
    let id = submit_with_callback(&app, inputs::echo(json!({})), &receiver.url("/ok"));
    let job = wait_for_webhook(&app, &id, "failed");

    // Assert: both attempts were refused before any connection.
    assert_eq!(job["webhook"]["attempts"], 2, "{job}");
    assert_eq!(job["webhook"]["last_status"], Value::Null, "{job}");
    assert!(receiver.log().is_empty(), "{:?}", receiver.log());
}

#[test]
fn a_second_rotation_of_the_signing_secret_waits_for_the_first_to_end() {
    // Arrange
    let app = spawn_app();
    let path = "/admin/tenants/default/webhook-secret";
    let original = secret(&app);

    // Act: rotate, then rotate again (a client retrying a request whose answer it lost).
    let rotated = app.admin("POST", path, None);
    rotated.expect_status(200);
    let again = app.admin("POST", path, None);

    // Assert: the second is refused and changes nothing, so receivers that still verify
    // with the original secret keep working until the rotation is ended.
    let current = rotated.json()["current"].as_str().unwrap().to_owned();
    assert_ne!(current, original);
    assert_eq!(rotated.json()["previous"], original.as_str());
    let problem = again.expect_problem_type(409, "rotation-under-way");
    assert!(
        problem.detail.contains("webhook-secret/previous"),
        "{}",
        problem.detail
    );
    let now = app.admin("GET", path, None);
    now.expect_status(200);
    assert_eq!(now.json()["current"], current.as_str());
    assert_eq!(now.json()["previous"], original.as_str());

    // Ended, the next rotation goes ahead.
    let ended = app.admin("DELETE", &format!("{path}/previous"), None);
    ended.expect_status(200);
    assert_eq!(ended.json()["previous"], Value::Null);
    let next = app.admin("POST", path, None);
    next.expect_status(200);
    assert_eq!(next.json()["previous"], current.as_str());
    assert_ne!(next.json()["current"], current.as_str());
}

//! A worker killed (SIGKILL) in the middle of a job: its lease expires, a new worker
//! runs the job again, and the job ends `succeeded` with both runs counted as attempts.
//! The same for a webhook delivery: it arrives again, with the same `webhook-id`.

use std::time::{Duration, Instant};

use e2e::{JOB_TIMEOUT, inputs};

use crate::common::fleet;

/// Short, so the test waits little for the dead worker's lease to expire.
const LEASE_MS: &str = "3000";
/// Long enough that the first run is surely still going when the test kills it.
const SLEEP_MS: u64 = 4_000;

#[test]
fn a_job_whose_worker_is_killed_mid_run_finishes_on_a_new_worker_with_two_attempts() {
    // Arrange: the intake and one worker, each its own process.
    let (app, mut workers) = fleet(1, &[("lease_ms", LEASE_MS)]);
    let job = app.submit_ok(&inputs::sleep(SLEEP_MS));
    let running = app.wait_for_status(&job.id, "running", JOB_TIMEOUT);
    assert_eq!(running.attempts, 1, "{}", running.json);

    // Act: kill the worker mid-run, start another.
    let mut first = workers.pop().expect("one worker");
    first.kill();
    let killed = Instant::now();
    app.wait_for_subscribers(0, Duration::from_secs(30));
    let _second = app.start_worker();
    // Polling the job rings the doorbell once it has run longer than its lease.
    let done = app.wait_for_status(&job.id, "succeeded", Duration::from_secs(120));

    // Assert
    eprintln!(
        "crash: job {} killed at attempt 1, succeeded {:?} later with attempts={} (lease {LEASE_MS} ms, sleep {SLEEP_MS} ms)",
        job.id,
        killed.elapsed(),
        done.attempts
    );
    assert_eq!(
        done.attempts, 2,
        "the killed run and the rerun both count: {}",
        done.json
    );
    let result = app.get_result(&job.id);
    result.expect_status(200);
    assert_eq!(
        result.json().get("slept_ms").and_then(|v| v.as_u64()),
        Some(SLEEP_MS),
        "{result}"
    );
}

/// A worker killed while it delivers a webhook: the delivery's lease ends, another worker
/// delivers the event again, with the same `webhook-id` (at least once), signed.
#[test]
fn a_webhook_whose_worker_is_killed_mid_delivery_arrives_again_with_the_same_id() {
    use e2e::webhooks::Receiver;
    // Arrange: a receiver that leaves the first delivery unanswered.
    let (app, mut workers) = fleet(
        1,
        &[
            ("webhook_allow_insecure", "true"),
            ("webhook_allowed_hosts", "http://127.0.0.1:*"),
        ],
    );
    let secret = app.admin("GET", "/admin/tenants/default/webhook-secret", None);
    secret.expect_status(200);
    let receiver = Receiver::start(secret.json()["current"].as_str().unwrap(), 0);
    let job = app.submit_ok(&inputs::with(
        inputs::echo(serde_json::json!({})),
        serde_json::json!({ "callback_url": receiver.url("/hang/1") }),
    ));
    receiver.deliveries(&job.id, 1);

    // Act: kill the worker while its delivery waits for an answer; start another.
    workers.pop().expect("one worker").kill();
    app.wait_for_subscribers(0, Duration::from_secs(30));
    let _second = app.start_worker();
    // Polling the job rings the doorbell once the dead worker's delivery is overdue.
    let delivered = testkit::wait_until_seen(
        Duration::from_secs(90),
        "the webhook delivered by the second worker",
        || {
            let seen = app.job(&job.id).json;
            if seen["webhook"]["state"] == "delivered" {
                Ok(seen)
            } else {
                Err(seen)
            }
        },
    );

    // Assert
    let deliveries = receiver.deliveries(&job.id, 2);
    let id = format!("msg_{}", job.id);
    for d in &deliveries {
        assert_eq!(d["webhook_id"], id.as_str(), "{d}");
        assert_eq!(d["verified"], true, "{d}");
    }
    assert_eq!(delivered["webhook"]["attempts"], 2, "{delivered}");
}

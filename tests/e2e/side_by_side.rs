//! Waiting kinds run side by side inside one worker instance (`worker_concurrency`,
//! default 8), so a long `sleep` never holds up the jobs behind it: the app as deployed,
//! intake and one worker in one runtime process.

use std::time::{Duration, Instant};

use e2e::{inputs, spawn_app};
use serde_json::json;

/// The promise: an echo behind eight 20 s sleeps finishes within a second.
const QUICK: Duration = Duration::from_secs(1);

#[test]
fn an_echo_submitted_behind_eight_long_sleeps_finishes_within_a_second() {
    // Arrange: eight sleeps, each running before the echo arrives.
    let app = spawn_app();
    let sleeps: Vec<String> = (0..8)
        .map(|_| app.submit_ok(&inputs::sleep(20_000)).id)
        .collect();
    for id in &sleeps {
        app.wait_for_status(id, "running", Duration::from_secs(10));
    }

    // Act
    let submitted = Instant::now();
    let echo = app.submit_ok(&inputs::echo(json!({"behind": "eight sleeps"})));
    let done = app.wait_for_status(&echo.id, "succeeded", QUICK);
    let took = submitted.elapsed();

    // Assert: the echo is done, and the sleeps are all still going, side by side.
    eprintln!("side by side: an echo behind eight 20 s sleeps succeeded after {took:?}");
    assert_eq!(done.attempts, 1);
    for id in &sleeps {
        let sleep = app.job(id);
        assert_eq!(sleep.status, "running", "{}", sleep.json);
    }

    // And they stop, side by side too, when cancelled.
    for id in &sleeps {
        app.cancel(id);
    }
    for id in &sleeps {
        app.wait_for_status(id, "cancelled", Duration::from_secs(5));
    }
}

#[test]
fn past_worker_concurrency_waiting_runs_queue_up_but_quick_jobs_still_pass() {
    // Arrange: two slots; three sleeps, so the third waits for a slot.
    let app = e2e::spawn_app_with(&[("worker_concurrency", "2")]);
    let sleeps: Vec<String> = (0..3)
        .map(|_| app.submit_ok(&inputs::sleep(1_500)).id)
        .collect();
    app.wait_for_status(&sleeps[0], "running", Duration::from_secs(10));
    app.wait_for_status(&sleeps[1], "running", Duration::from_secs(10));

    // Act
    let start = Instant::now();
    let finished: Vec<_> = sleeps
        .iter()
        .map(|id| app.wait_for_status(id, "succeeded", Duration::from_secs(15)))
        .collect();
    let took = start.elapsed();

    // Assert: each ran once; two at a time, so the third ended a sleep after the others.
    eprintln!("side by side: three 1.5 s sleeps on two slots took {took:?}");
    for job in &finished {
        assert_eq!(job.attempts, 1, "{}", job.json);
    }
    let ended = |job: &e2e::Job| job.json["finished_at"].as_str().unwrap().to_owned();
    assert!(
        ended(&finished[2]) > ended(&finished[0]),
        "the third ran after a slot freed"
    );
    assert!(took >= Duration::from_millis(1_500), "{took:?}");
}

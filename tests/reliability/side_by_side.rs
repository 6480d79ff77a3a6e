//! Several workers, runs side by side, short leases: waiting runs keep their leases
//! while quick jobs pass them ("Trust", item 6), and a worker whose lease ran out under
//! a long computation writes nothing over the result of the worker that took its jobs
//! ("Trust", item 1). Observed through Redis's index and the API, after the fact.

use std::time::{Duration, Instant};

use e2e::inputs;
use serde_json::json;
use testkit::wait_until;

use crate::common::{claimed_per_worker, fleet};

const WORKERS: usize = 3;

#[test]
fn on_three_workers_waiting_runs_keep_their_leases_while_quick_jobs_pass_them() {
    // Arrange: leases shorter than the sleeps, so each sleep must renew its lease while
    // it waits beside others (a lost lease would show as a second attempt).
    let (app, workers) = fleet(WORKERS, &[("lease_ms", "2000")]);
    let sleeps: Vec<String> = (0..24)
        .map(|_| app.submit_ok(&inputs::sleep(6_000)).id)
        .collect();
    wait_until(Duration::from_secs(10), "every sleep to be running", || {
        sleeps
            .iter()
            .all(|id| app.indexed_status(id).as_deref() == Some("running"))
            .then_some(())
    });

    // Act: quick jobs arrive while every sleep is running.
    let mut waits = Vec::new();
    for n in 0..10 {
        let submitted = Instant::now();
        let echo = app.submit_ok(&inputs::echo(json!({ "n": n })));
        wait_until(Duration::from_secs(1), "the echo to succeed", || {
            (app.indexed_status(&echo.id).as_deref() == Some("succeeded")).then_some(())
        });
        waits.push(submitted.elapsed());
    }
    wait_until(Duration::from_secs(60), "every sleep to succeed", || {
        sleeps
            .iter()
            .all(|id| app.indexed_status(id).as_deref() == Some("succeeded"))
            .then_some(())
    });

    // Assert
    let most_side_by_side: Vec<u64> = workers
        .iter()
        .map(|w| {
            w.logs()
                .lines()
                .filter_map(|l| l.split("side_by_side=").nth(1)?.split_whitespace().next())
                .filter_map(|n| n.parse().ok())
                .max()
                .unwrap_or(0)
        })
        .collect();
    eprintln!(
        "side by side: 24 sleeps of 6 s on {WORKERS} workers (lease 2 s): echoes passed them in \
         {:?} (slowest {:?}); claimed per worker {:?}; most side by side per worker {most_side_by_side:?}",
        waits,
        waits.iter().max().unwrap(),
        claimed_per_worker(&workers.iter().collect::<Vec<_>>()),
    );
    for id in &sleeps {
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
fn on_three_workers_an_outcome_kept_back_past_its_lease_never_overwrites_the_next_workers() {
    // Arrange: the race, many times over. In each triple, the echo makes the next
    // claim a batch of two: a job that fails for good on its first attempt (its outcome
    // kept back), then a computation that blocks its worker past the 1 s lease. Another
    // worker takes the failed job meanwhile and runs it to success on its second attempt.
    let (app, _workers) = fleet(
        WORKERS,
        &[("enable_test_kinds", "true"), ("lease_ms", "1000")],
    );
    let once = inputs::with(
        json!({"kind": "fail", "input": {"fail_times": 1, "permanent": true}}),
        json!({"max_attempts": 2}),
    );
    let stall = inputs::submission("count", json!({"stall_ms": 1_300}));
    // About half the triples race on 2 cores, fewer on a loaded machine: rounds of 15
    // until one did, at most ROUNDS.
    const ROUNDS: usize = 3;
    let mut taken_over = 0;
    for round in 1..=ROUNDS {
        let mut ids = Vec::new();
        for n in 0..15 {
            ids.push(app.submit_ok(&inputs::echo(json!({ "n": n }))).id);
            ids.push(app.submit_ok(&once).id);
            ids.push(app.submit_ok(&stall).id);
        }

        // Act
        let finished = ["succeeded", "failed"];
        wait_until(Duration::from_secs(90), "every job to finish", || {
            ids.iter()
                .all(|id| {
                    app.indexed_status(id)
                        .is_some_and(|s| finished.contains(&s.as_str()))
                })
                .then_some(())
        });

        // Assert: what a client reads agrees with the queue's index, job by job.
        for id in &ids {
            let job = app.job(id);
            let indexed = app.indexed_status(id);
            assert_eq!(
                Some(job.status.as_str()),
                indexed.as_deref(),
                "the record and the index disagree: {}",
                job.json
            );
            if job.status == "succeeded" {
                app.get_result(id).expect_status(200);
            }
            if job.kind == "fail" && job.status == "succeeded" {
                taken_over += 1;
            }
        }
        eprintln!(
            "side by side, round {round}: 15 triples on {WORKERS} workers (lease 1 s): \
             {taken_over} failed jobs taken over and succeeded so far; every record agrees \
             with the index"
        );
        if taken_over > 0 {
            break;
        }
    }
    // Without a takeover the race never happened and the run proved nothing.
    assert!(
        taken_over > 0,
        "no failed job was taken over in {ROUNDS} rounds: the race never happened"
    );
}

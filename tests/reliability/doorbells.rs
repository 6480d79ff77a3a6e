//! The armed doorbell (docs/architecture.md, step 1): a submission rings only when no
//! drain will claim its job anyway, and a claim that finds the line empty disarms it. So
//! a burst of submissions rings far fewer doorbells than it has jobs, and no job is left
//! unrung: waves of jobs, each submitted just after the last one ran, all run with
//! nobody polling. Observed through Redis's status index, never through the API, whose
//! polls and stats ring the doorbell themselves.

use std::time::{Duration, Instant};

use e2e::inputs;
use serde_json::json;
use testkit::wait_until;

use crate::common::{drain_timeout, fleet};

const WORKERS: usize = 2;
/// How long one small wave may take to run on a busy 2-core machine. A wave nobody rang
/// for would wait for ever: nothing else rings here.
const WAVE_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits (no poll of the API) until every job of `ids` is indexed as succeeded.
fn wait_for_succeeded_unpolled(app: &e2e::TestApp, ids: &[String], timeout: Duration) {
    wait_until(timeout, "the jobs to succeed (status index)", || {
        ids.iter()
            .all(|id| app.indexed_status(id).as_deref() == Some("succeeded"))
            .then_some(())
    });
}

#[test]
fn a_burst_of_submissions_rings_fewer_doorbells_than_it_has_jobs_and_every_job_runs() {
    // Arrange
    let n = 300;
    let (app, _workers) = fleet(WORKERS, &[]);
    let before = app.doorbells_rung();

    // Act
    let bodies: Vec<_> = (0..n).map(|i| inputs::echo(json!({ "i": i }))).collect();
    let ids: Vec<String> = app.submit_many(&bodies).into_iter().map(|j| j.id).collect();
    wait_for_succeeded_unpolled(&app, &ids, drain_timeout(n));

    // Assert: one ring per job would be `n`; a ring is needed only after a drain found
    // the line empty, and a drain takes longer than a submission.
    let rung = app.doorbells_rung() - before;
    eprintln!("doorbells: {n} jobs submitted at once to {WORKERS} workers rang {rung} doorbells");
    assert!(rung >= 1, "nothing rang, yet the jobs ran");
    assert!(rung < n as u64 * 3 / 4, "{rung} doorbells for {n} jobs");
}

#[test]
fn waves_of_jobs_each_submitted_just_after_the_last_ran_all_run_with_nobody_polling() {
    // Arrange
    let waves = 20;
    let (app, _workers) = fleet(WORKERS, &[]);

    // Act and assert: each wave goes in as soon as the last one is indexed as succeeded,
    // which is within moments of the drain that ran it finding the line empty. If that
    // claim did not disarm the doorbell, the wave would not ring and would never run.
    let started = Instant::now();
    for wave in 0..waves {
        let bodies: Vec<_> = (0..3)
            .map(|i| inputs::echo(json!({ "wave": wave, "i": i })))
            .collect();
        let ids: Vec<String> = app.submit_many(&bodies).into_iter().map(|j| j.id).collect();
        wait_for_succeeded_unpolled(&app, &ids, WAVE_TIMEOUT);
    }
    eprintln!(
        "doorbells: {waves} waves of 3 jobs ran one after the other in {:?}",
        started.elapsed()
    );
}

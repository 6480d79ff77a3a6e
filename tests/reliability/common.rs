//! What the reliability tests share: run sizes from the environment, a fleet of one
//! intake and N worker processes, waiting (with a deadline) until the queue has run
//! every job, histograms for the report, and a small seeded random source.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::{AppSpec, TestApp, spawn_app_with_spec};
use testkit::{App, wait_until_seen};

/// A run size from the environment variable `var`, or `default`.
pub fn size(var: &str, default: usize) -> usize {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v:?} is not a whole number")),
        _ => default,
    }
}

/// How long `n` quick jobs may take to drain on a busy 2-core machine: a generous
/// floor plus 40 ms per job (measured runs take well under a tenth of that).
pub fn drain_timeout(n: usize) -> Duration {
    Duration::from_secs(90) + Duration::from_millis(40 * n as u64)
}

/// Spin variables as owned pairs.
pub fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The intake alone (its own process) with `variables`, plus `workers` worker
/// processes, each subscribed before this returns.
pub fn fleet(workers: usize, variables: &[(&str, &str)]) -> (TestApp, Vec<App>) {
    fleet_with(workers, variables, false)
}

/// [`fleet`], on a Redis with an append-only file when `appendonly`, so its data
/// survives a restart.
pub fn fleet_with(
    workers: usize,
    variables: &[(&str, &str)],
    appendonly: bool,
) -> (TestApp, Vec<App>) {
    let app = spawn_app_with_spec(AppSpec {
        variables: vars(variables),
        appendonly,
        component_ids: vec!["intake".to_owned()],
        ..AppSpec::default()
    });
    let workers = (0..workers).map(|_| app.start_worker()).collect();
    (app, workers)
}

/// Polls `GET /stats` (which rings the doorbell whenever work waits, so a lost doorbell
/// cannot stall the run) until `n` jobs have succeeded, and returns how long that took.
/// Panics at once if any job failed or was cancelled, and with the last counts when
/// `timeout` passes.
#[track_caller]
pub fn wait_for_succeeded(app: &TestApp, n: usize, timeout: Duration) -> Duration {
    let start = Instant::now();
    wait_until_seen(timeout, &format!("{n} jobs to succeed"), || {
        let counts = app.status_counts();
        let count = |s: &str| counts.get(s).copied().unwrap_or(0) as usize;
        assert_eq!(
            (count("failed"), count("cancelled")),
            (0, 0),
            "jobs failed or were cancelled: {counts:?}"
        );
        if count("succeeded") >= n {
            Ok(())
        } else {
            Err(counts)
        }
    });
    start.elapsed()
}

/// How many times each value occurs, in value order.
pub fn histogram(values: impl IntoIterator<Item = u64>) -> BTreeMap<u64, usize> {
    let mut h = BTreeMap::new();
    for v in values {
        *h.entry(v).or_insert(0) += 1;
    }
    h
}

/// The number of jobs each worker process claimed, read from its summary lines
/// (`worker: drained claimed=K ...`); for the report only.
pub fn claimed_per_worker(workers: &[&App]) -> Vec<u64> {
    workers
        .iter()
        .map(|w| {
            w.logs()
                .lines()
                .filter_map(|l| l.split("claimed=").nth(1))
                .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
                .sum()
        })
        .collect()
}

/// Jobs per second, for the report.
pub fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64().max(1e-3)
}

/// A small random source (SplitMix64), seeded by `RELIABILITY_SEED` or the clock; the
/// seed is printed so a run can be repeated.
pub struct Rng(u64);

impl Rng {
    pub fn from_env(test: &str) -> Rng {
        let seed = std::env::var("RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("{test}: RELIABILITY_SEED={seed}");
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[low, high)`.
    pub fn between(&mut self, low: f64, high: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        low + unit * (high - low)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

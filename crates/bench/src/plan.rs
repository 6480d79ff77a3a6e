//! How much of everything: concurrency levels, durations and job counts, for the full
//! run (under 10 minutes on 2 cores) and the quick one (`BENCH_QUICK=1`, about a minute).

use std::time::Duration;

use serde::Serialize;

/// Names shared by the scenarios, the report and the charts.
pub const ECHO_TARGET: &str = "POST /jobs echo";
pub const HASH_TARGET: &str = "POST /jobs hash 256 KiB";
pub const HEALTH_TARGET: &str = "GET /healthz";
pub const NOOP_TARGET: &str = "GET /sync/noop";
/// A request that reads the settings from the Spin variables, as a worker instance and a
/// new intake instance do first: with the no-op floor, what reading them costs.
pub const SETTINGS_TARGET: &str = "GET /sync/settings";
/// A request that reads one Spin variable.
pub const VARIABLE_TARGET: &str = "GET /sync/variable";
/// The floor of an acknowledgement: one new key, a fresh Redis connection, one PUBLISH.
pub const INSERT_PUBLISH_TARGET: &str = "POST /sync/insert-publish";
/// A page of [`LIST_PAGE`] records listed by kind.
pub const LIST_TARGET: &str = "GET /jobs?kind=echo&limit=100";
/// The records on the page the listing scenario reads.
pub const LIST_PAGE: u64 = 100;
pub const MODE_SYNC: &str = "sync";
pub const MODE_RECEIPT: &str = "async receipt";
pub const MODE_RESULT: &str = "async result";
/// An `echo` submission every `poll_ms` from one extra client while the async
/// thumbnail run goes on: the receipt of a job with no payload, under the same load.
pub const MODE_ECHO_PROBE: &str = "echo receipt (probe)";

/// Size of the `hash` input (the `data` string).
pub const HASH_INPUT_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub quick: bool,
    /// Threads of the load generator's runtime.
    pub client_threads: usize,
    /// Concurrent clients of the acknowledgement and floor scenarios.
    pub levels: Vec<usize>,
    #[serde(serialize_with = "secs")]
    pub warmup: Duration,
    #[serde(serialize_with = "secs")]
    pub measure: Duration,
    /// Cap on `hash` submissions per row (each stores 256 KiB in Redis).
    pub hash_max_requests: u64,
    pub e2e_echo_jobs: u64,
    pub e2e_hash_jobs: u64,
    /// Echo jobs queued before the workers start, in the backlog rows.
    pub backlog_jobs: u64,
    /// Rounds of backlog rows (each: 1, then 2, worker processes on a fresh backlog); the
    /// report takes the median round.
    pub backlog_rounds: u32,
    pub e2e_workers: Vec<usize>,
    pub e2e_clients: usize,
    /// Give up waiting for jobs to finish after this long without progress.
    #[serde(serialize_with = "secs")]
    pub e2e_stall: Duration,
    /// Concurrent clients of the async-versus-sync scenario.
    pub sync_levels: Vec<usize>,
    #[serde(serialize_with = "secs")]
    pub sync_measure: Duration,
    pub sync_workers: usize,
    pub poll_ms: u64,
    /// Filled in when the input image is made.
    pub thumbnail_description: String,
    /// Nice value the async-versus-sync worker processes run at (see `--worker-nice`).
    pub worker_nice: i32,
    /// Fairness: tenant A's queued echo jobs when tenant B submits, and B's tries.
    pub fair_backlog: u64,
    pub fair_tries: u64,
    /// Retention: finished echo jobs one worker sweeps once their TTL has passed.
    pub retention_jobs: u64,
}

impl Plan {
    pub fn new(quick: bool, client_threads: usize) -> Plan {
        if quick {
            Plan {
                quick,
                client_threads,
                levels: vec![1, 16, 64],
                warmup: Duration::from_millis(300),
                measure: Duration::from_secs(2),
                hash_max_requests: 1_000,
                e2e_echo_jobs: 2_000,
                backlog_jobs: 2_000,
                backlog_rounds: 1,
                e2e_hash_jobs: 200,
                e2e_workers: vec![1, 2],
                e2e_clients: 16,
                e2e_stall: Duration::from_secs(20),
                sync_levels: vec![1, 16],
                sync_measure: Duration::from_secs(3),
                sync_workers: 2,
                poll_ms: 20,
                thumbnail_description: String::new(),
                worker_nice: 0,
                fair_backlog: 2_000,
                fair_tries: 20,
                retention_jobs: 2_000,
            }
        } else {
            Plan {
                quick,
                client_threads,
                levels: vec![1, 16, 64],
                warmup: Duration::from_secs(1),
                measure: Duration::from_secs(8),
                hash_max_requests: 3_000,
                e2e_echo_jobs: 10_000,
                backlog_jobs: 40_000,
                backlog_rounds: 3,
                e2e_hash_jobs: 1_000,
                e2e_workers: vec![1, 2],
                e2e_clients: 16,
                e2e_stall: Duration::from_secs(30),
                sync_levels: vec![1, 4, 16],
                sync_measure: Duration::from_secs(8),
                sync_workers: 2,
                poll_ms: 20,
                thumbnail_description: String::new(),
                worker_nice: 0,
                fair_backlog: 5_000,
                fair_tries: 100,
                retention_jobs: 20_000,
            }
        }
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

//! The scenarios of issue 5, each a sequence of steps. A step that fails (an error or a
//! panic in a helper) is recorded as a [`Problem`] and the run goes on with the next.
//!
//! - [`ack_and_floor`]: `POST /jobs` (`echo`, 256 KiB `hash`) and `GET /healthz`,
//!   `GET /sync/noop` at each concurrency level, fixed duration.
//! - [`end_to_end`]: a fixed number of jobs through intake and 1, then 2, worker
//!   processes; rates and delays read back from the job records.
//! - [`sync_vs_async`]: `thumbnail` inside the request against submit and poll.
//! - [`fairness`]: one tenant's single job behind another tenant's backlog.
//! - [`retention`]: finished jobs past their TTL deleted by one worker.

use std::collections::HashMap;
use std::io::Cursor;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine as _;
use bytes::Bytes;
use hdrhistogram::Histogram;
use hyper::Method;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use crate::cpu::{CpuCost, Snapshot, Who};
use crate::http::Conn;
use crate::load::{self, LoadStats, Operation, Shape};
use crate::plan::{self, Plan};
use crate::report::{E2eRow, Latency, LoadRow, Problem, RedisCost, Report, SyncRow, one_line};
use crate::stack::{Stack, panic_text};

mod ack;
mod e2e;
mod fair;
mod retention;
mod sync;

pub use ack::ack_and_floor;
pub use e2e::{Rows, end_to_end};
pub use fair::fairness;
pub use retention::retention;
pub use sync::sync_vs_async;

/// How long one submit-and-poll cycle may take before it counts as an error.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the end-to-end scenario asks `GET /stats` whether all jobs finished.
pub const STATS_POLL: Duration = Duration::from_millis(100);
/// How often the backlog rows' probe submits while the workers drain.
pub const RECEIPT_EVERY: Duration = Duration::from_millis(10);

/// What the scenarios share.
pub struct Ctx<'a> {
    pub rt: &'a Runtime,
    pub stack: &'a Stack,
    pub plan: &'a Plan,
}

/// Runs `f`, recording an error or a panic as a problem of `scenario`.
pub fn step(
    report: &mut Report,
    scenario: &str,
    f: impl FnOnce(&mut Report) -> anyhow::Result<()>,
) {
    eprintln!("bench: {scenario}");
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| f(report)));
    let error = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(e)) => format!("{e:#}"),
        Err(panic) => format!("panicked: {}", panic_text(&panic)),
    };
    eprintln!("bench: {scenario} FAILED: {}", one_line(&error, 2000));
    report.problems.push(Problem {
        scenario: scenario.to_owned(),
        error,
    });
}

/// One HTTP request, expected to answer `expect`.
pub struct Call {
    pub method: Method,
    pub path: String,
    pub body: Bytes,
    pub expect: u16,
}

impl Call {
    pub fn get(path: &str, expect: u16) -> Call {
        Call {
            method: Method::GET,
            path: path.to_owned(),
            body: Bytes::new(),
            expect,
        }
    }

    pub fn post(path: &str, body: Bytes, expect: u16) -> Call {
        Call {
            method: Method::POST,
            path: path.to_owned(),
            body,
            expect,
        }
    }
}

impl Operation for Call {
    fn metrics(&self) -> &'static [&'static str] {
        &["latency"]
    }

    async fn run(&self, conn: &mut Conn, _seq: u64) -> anyhow::Result<Vec<Duration>> {
        let content_type = (self.method == Method::POST).then_some("application/json");
        let t0 = Instant::now();
        conn.send(
            self.method.clone(),
            &self.path,
            self.body.clone(),
            content_type,
        )
        .await?
        .expect(self.expect)?;
        Ok(vec![t0.elapsed()])
    }
}

/// One client on its own thread that submits `body` (a small job) every `every` and
/// records the receipt latency, until stopped: how long a job with no payload waits for
/// its `202` under whatever load runs at the same time.
struct EchoProbe {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<LoadStats>,
}

impl EchoProbe {
    fn start(addr: SocketAddr, every: Duration, body: Bytes) -> EchoProbe {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut stats = LoadStats {
                histograms: vec![load::histogram()],
                ok: 0,
                errors: 0,
                error_samples: Vec::new(),
                elapsed: Duration::ZERO,
            };
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    stats.errors = 1;
                    stats.error_samples.push(format!("probe runtime: {e}"));
                    return stats;
                }
            };
            let started = Instant::now();
            rt.block_on(async {
                let mut conn = Conn::new(addr);
                while !flag.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    match conn
                        .post_json("/jobs", body.clone())
                        .await
                        .and_then(|r| r.expect(202))
                    {
                        Ok(_) => {
                            let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                            let _ = stats.histograms[0].record(us.max(1));
                            stats.ok += 1;
                        }
                        Err(e) => {
                            stats.errors += 1;
                            if stats.error_samples.len() < 5 {
                                stats.error_samples.push(format!("{e:#}"));
                            }
                            conn = Conn::new(addr);
                        }
                    }
                    tokio::time::sleep(every).await;
                }
            });
            stats.elapsed = started.elapsed();
            stats
        });
        EchoProbe { stop, thread }
    }

    fn stop(self) -> LoadStats {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or_else(|_| LoadStats {
            histograms: vec![load::histogram()],
            ok: 0,
            errors: 1,
            error_samples: vec!["the probe thread panicked".to_owned()],
            elapsed: Duration::ZERO,
        })
    }
}

/// Submit a job, then poll its status until it has succeeded, then fetch the result:
/// latency to the receipt (`202`) and to the result.
pub struct SubmitAndPoll {
    pub body: Bytes,
    pub poll: Duration,
}

impl Operation for SubmitAndPoll {
    fn metrics(&self) -> &'static [&'static str] {
        &["receipt", "result"]
    }

    async fn run(&self, conn: &mut Conn, _seq: u64) -> anyhow::Result<Vec<Duration>> {
        let t0 = Instant::now();
        let accepted = conn
            .post_json("/jobs", self.body.clone())
            .await?
            .expect(202)?;
        let receipt = t0.elapsed();
        let path = match accepted.location.clone() {
            Some(location) => location,
            None => format!("/jobs/{}", id_of(&accepted.json()?)?),
        };
        loop {
            if t0.elapsed() > CYCLE_TIMEOUT {
                bail!("job {path} not finished within {CYCLE_TIMEOUT:?}");
            }
            tokio::time::sleep(self.poll).await;
            let job = conn.get(&path).await?.expect(200)?.json()?;
            match job["status"].as_str() {
                Some("succeeded") => break,
                Some("queued" | "running") => {}
                other => bail!("job {path} ended {other:?}: {}", job["error"]),
            }
        }
        conn.get(&format!("{path}/result")).await?.expect(200)?;
        Ok(vec![receipt, t0.elapsed()])
    }
}

fn id_of(job: &Value) -> anyhow::Result<&str> {
    job["id"].as_str().context("the job resource has no id")
}

/// `{"kind":"echo","input":{...}}`.
pub fn echo_body() -> Bytes {
    Bytes::from(json!({"kind": "echo", "input": {"hello": "bench", "n": 1}}).to_string())
}

/// `{"kind":"hash","input":{"data": 256 KiB of text}}`.
pub fn hash_body() -> Bytes {
    let data: String = (0..plan::HASH_INPUT_BYTES)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    Bytes::from(json!({"kind": "hash", "input": {"data": data, "algorithm": "sha256"}}).to_string())
}

/// Runs the load and accounts the CPU of `parties` over its measured window.
fn measured<O: Operation>(
    ctx: &Ctx<'_>,
    parties: &[(String, Who)],
    addr: SocketAddr,
    shape: Shape,
    op: Arc<O>,
) -> (LoadStats, CpuCost) {
    let (stats, before) = ctx.rt.block_on(async {
        tokio::join!(load::run(addr, shape, op), async {
            tokio::time::sleep(shape.warmup).await;
            Snapshot::take(parties)
        })
    });
    let after = Snapshot::take(parties);
    let cpu = before.cost(&after, stats.ok, stats.elapsed.as_secs_f64());
    (stats, cpu)
}

fn load_row(
    scenario: &str,
    target: &str,
    clients: usize,
    stats: &LoadStats,
    cpu: CpuCost,
) -> LoadRow {
    LoadRow {
        scenario: scenario.to_owned(),
        target: target.to_owned(),
        clients,
        seconds: stats.elapsed.as_secs_f64(),
        requests: stats.ok,
        errors: stats.errors,
        rps: stats.rate(),
        latency: Latency::of(&stats.histograms[0]),
        cpu,
        error_samples: stats.error_samples.clone(),
        redis_reads: None,
    }
}

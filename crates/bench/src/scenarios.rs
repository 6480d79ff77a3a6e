//! The scenarios of issue 5, each a sequence of steps. A step that fails (an error or a
//! panic in a helper) is recorded as a [`Problem`] and the run goes on with the next.
//!
//! - [`ack_and_floor`]: `POST /jobs` (`echo`, 256 KiB `hash`) and `GET /healthz`,
//!   `GET /sync/noop` at each concurrency level, fixed duration.
//! - [`end_to_end`]: a fixed number of jobs through intake and 1, then 2, worker
//!   processes; rates and delays read back from the job records.
//! - [`sync_vs_async`]: `thumbnail` inside the request against submit and poll.

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
use crate::report::{E2eRow, Latency, LoadRow, Problem, Report, SyncRow, one_line};
use crate::stack::{Stack, panic_text};

/// How long one submit-and-poll cycle may take before it counts as an error.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the end-to-end scenario asks `GET /stats` whether all jobs finished.
const STATS_POLL: Duration = Duration::from_millis(100);

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

/// One client on its own thread that submits an `echo` job every `every` and records the
/// receipt latency, until stopped: how long a job with no payload waits for its `202`
/// under whatever load runs at the same time.
struct EchoProbe {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<LoadStats>,
}

impl EchoProbe {
    fn start(addr: SocketAddr, every: Duration) -> EchoProbe {
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
                        .post_json("/jobs", echo_body())
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
    }
}

/// Acknowledgement and floor: intake (and bench-sync, for the no-I/O floor) in one
/// process, no workers.
pub fn ack_and_floor(ctx: &Ctx<'_>, report: &mut Report) {
    let mut app = None;
    step(
        report,
        "acknowledgement/floor: start intake + bench-sync",
        |_| {
            app = Some(ctx.stack.http(&["intake", "bench-sync"])?);
            Ok(())
        },
    );
    let Some(app) = app else { return };
    type Target = (&'static str, &'static str, fn() -> Call, Option<u64>);
    let targets: [Target; 4] = [
        (
            "floor",
            plan::NOOP_TARGET,
            || Call::get("/sync/noop", 204),
            None,
        ),
        (
            "floor",
            plan::HEALTH_TARGET,
            || Call::get("/healthz", 200),
            None,
        ),
        (
            "acknowledgement",
            plan::ECHO_TARGET,
            || Call::post("/jobs", echo_body(), 202),
            None,
        ),
        (
            "acknowledgement",
            plan::HASH_TARGET,
            || Call::post("/jobs", hash_body(), 202),
            Some(ctx.plan.hash_max_requests),
        ),
    ];
    for (scenario, target, call, max_ops) in targets {
        let op = Arc::new(call());
        for &clients in &ctx.plan.levels {
            step(
                report,
                &format!("{scenario}: {target} @ {clients} clients"),
                |report| {
                    ctx.stack.flush()?;
                    let shape = Shape {
                        clients,
                        warmup: ctx.plan.warmup,
                        measure: ctx.plan.measure,
                        max_ops,
                    };
                    let parties = ctx.stack.parties(&[("runtime", &app.app)]);
                    let (stats, cpu) = measured(ctx, &parties, app.addr, shape, Arc::clone(&op));
                    let row = load_row(scenario, target, clients, &stats, cpu);
                    eprintln!(
                        "bench:   {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, {} errors",
                        row.rps,
                        row.latency.p50_ms,
                        row.latency.p99_ms,
                        row.latency.p999_ms,
                        row.errors
                    );
                    report.load.push(row);
                    if stats.ok == 0 {
                        bail!("no request succeeded: {:?}", stats.error_samples);
                    }
                    Ok(())
                },
            );
        }
    }
    let _ = ctx.stack.flush();
    drop(app);
}

/// End to end: intake in its own process, then 1 and 2 worker processes.
pub fn end_to_end(ctx: &Ctx<'_>, report: &mut Report) {
    let mut intake = None;
    step(report, "end to end: start intake", |_| {
        intake = Some(ctx.stack.http(&["intake"])?);
        Ok(())
    });
    let Some(intake) = intake else { return };
    let mut workers = Vec::new();
    for &n in &ctx.plan.e2e_workers {
        let mut ready = true;
        step(
            report,
            &format!("end to end: start {n} worker process(es)"),
            |_| {
                ready = false;
                while workers.len() < n {
                    workers.push(ctx.stack.worker(workers.len() + 1, false)?);
                }
                ready = true;
                Ok(())
            },
        );
        if !ready {
            break;
        }
        let kinds = [
            ("echo", ctx.plan.e2e_echo_jobs, echo_body()),
            ("hash", ctx.plan.e2e_hash_jobs, hash_body()),
        ];
        let names: Vec<String> = (1..=workers.len()).map(|i| format!("worker {i}")).collect();
        let mut runtimes = vec![("intake", &intake.app)];
        runtimes.extend(names.iter().map(String::as_str).zip(&workers));
        let parties = ctx.stack.parties(&runtimes);
        for (kind, jobs, body) in kinds {
            step(
                report,
                &format!("end to end: {jobs} {kind} jobs, {n} worker(s)"),
                |report| {
                    ctx.stack.flush()?;
                    let row = ctx.rt.block_on(e2e_run(
                        ctx.plan,
                        &parties,
                        intake.addr,
                        kind,
                        jobs,
                        n,
                        body,
                    ))?;
                    eprintln!(
                        "bench:   submit {:.0}/s; {:.0} jobs/s end to end, drain {:.0}/s; wait p50 {:.0} ms p99 {:.0} ms; total p50 {:.0} ms p99 {:.0} ms; {} failed, {} unfinished",
                        row.submit_rps,
                        row.jobs_per_s,
                        row.drain_per_s,
                        row.queue_wait_p50_ms,
                        row.queue_wait_p99_ms,
                        row.total_p50_ms,
                        row.total_p99_ms,
                        row.failed,
                        row.unfinished
                    );
                    let unfinished = row.unfinished;
                    report.e2e.push(row);
                    if unfinished > 0 {
                        bail!(
                            "{unfinished} jobs did not finish (no progress for {:?})",
                            ctx.plan.e2e_stall
                        );
                    }
                    Ok(())
                },
            );
        }
        let jobs = ctx.plan.e2e_echo_jobs;
        step(
            report,
            &format!("end to end: a backlog of {jobs} echo jobs, then {n} worker(s)"),
            |report| {
                ctx.stack.flush()?;
                // Queue everything with no worker running, then start the workers: the
                // drain rate is then theirs alone, not bounded by the submissions.
                workers.clear();
                let submit = ctx
                    .rt
                    .block_on(submit_all(ctx.plan, intake.addr, echo_body(), jobs));
                while workers.len() < n {
                    workers.push(ctx.stack.worker(workers.len() + 1, false)?);
                }
                let names: Vec<String> =
                    (1..=workers.len()).map(|i| format!("worker {i}")).collect();
                let mut runtimes = vec![("intake", &intake.app)];
                runtimes.extend(names.iter().map(String::as_str).zip(&workers));
                let parties = ctx.stack.parties(&runtimes);
                let before = Snapshot::take(&parties);
                let mut row = ctx.rt.block_on(collect(
                    ctx.plan,
                    &parties,
                    intake.addr,
                    ("echo", jobs, n),
                    submit,
                    (before, Instant::now()),
                ))?;
                row.backlog = true;
                eprintln!(
                    "bench:   drain {:.0}/s from a backlog; total p50 {:.0} ms p99 {:.0} ms; {} failed, {} unfinished",
                    row.drain_per_s, row.total_p50_ms, row.total_p99_ms, row.failed, row.unfinished
                );
                let unfinished = row.unfinished;
                report.e2e.push(row);
                if unfinished > 0 {
                    bail!("{unfinished} jobs did not finish");
                }
                Ok(())
            },
        );
    }
    let _ = ctx.stack.flush();
    drop(workers);
    drop(intake);
}

/// Submit `jobs` copies of `body` as fast as the e2e clients can.
async fn submit_all(plan: &Plan, addr: SocketAddr, body: Bytes, jobs: u64) -> load::LoadStats {
    let shape = Shape {
        clients: plan.e2e_clients,
        warmup: Duration::ZERO,
        measure: Duration::from_secs(600),
        max_ops: Some(jobs),
    };
    load::run(addr, shape, Arc::new(Call::post("/jobs", body, 202))).await
}

async fn e2e_run(
    plan: &Plan,
    parties: &[(String, Who)],
    addr: SocketAddr,
    kind: &str,
    jobs: u64,
    workers: usize,
    body: Bytes,
) -> anyhow::Result<E2eRow> {
    // Submit everything as fast as the clients can.
    let before = Snapshot::take(parties);
    let t0 = Instant::now();
    let submit = submit_all(plan, addr, body, jobs).await;
    collect(
        plan,
        parties,
        addr,
        (kind, jobs, workers),
        submit,
        (before, t0),
    )
    .await
}

/// Wait until every accepted job has finished (or nothing moves for `e2e_stall`), then
/// read the records back into a row. CPU is counted from `before`, taken at `t0`.
async fn collect(
    plan: &Plan,
    parties: &[(String, Who)],
    addr: SocketAddr,
    (kind, jobs, workers): (&str, u64, usize),
    submit: load::LoadStats,
    (before, t0): (Snapshot, Instant),
) -> anyhow::Result<E2eRow> {
    let mut errors = submit.error_samples.clone();

    // Wait until every accepted job has finished, or nothing moves for a while.
    let mut conn = Conn::new(addr);
    let mut finished = 0;
    let mut last_progress = Instant::now();
    while finished < submit.ok {
        tokio::time::sleep(STATS_POLL).await;
        let stats = conn.get("/stats").await?.expect(200)?.json()?;
        let count = |s: &str| stats["counts"][s].as_u64().unwrap_or(0);
        let now = count("succeeded") + count("failed") + count("cancelled");
        if now > finished {
            finished = now;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > plan.e2e_stall {
            errors.push(format!(
                "stalled: {finished} of {} finished; stats {stats}",
                submit.ok
            ));
            break;
        }
    }

    let cpu_after = Snapshot::take(parties);
    let wall = t0.elapsed().as_secs_f64();

    // Read the records back.
    let succeeded = list_all(&mut conn, "succeeded").await?;
    let failed = list_all(&mut conn, "failed").await?;
    if let Some(job) = failed.first() {
        errors.push(format!("a failed job: {}", job["error"]));
    }
    let mut wait = load::histogram();
    let mut total = load::histogram();
    let (mut first_created, mut first_started, mut last_finished) = (i64::MAX, i64::MAX, i64::MIN);
    for job in succeeded.iter().chain(&failed) {
        let (Some(created), Some(started), Some(done)) = (
            ms_of(&job["created_at"]),
            ms_of(&job["started_at"]),
            ms_of(&job["finished_at"]),
        ) else {
            continue;
        };
        first_created = first_created.min(created);
        first_started = first_started.min(started);
        last_finished = last_finished.max(done);
        record_ms(&mut wait, started - created);
        record_ms(&mut total, done - created);
    }
    let done = (succeeded.len() + failed.len()) as u64;
    let rate = |from: i64| {
        let span = (last_finished - from) as f64 / 1000.0;
        if done > 0 && span > 0.0 {
            done as f64 / span
        } else {
            0.0
        }
    };
    let wait_l = Latency::of(&wait);
    let total_l = Latency::of(&total);
    Ok(E2eRow {
        kind: kind.to_owned(),
        workers,
        backlog: false,
        jobs,
        accepted: submit.ok,
        submit_errors: submit.errors,
        submit_seconds: submit.elapsed.as_secs_f64(),
        submit_rps: submit.rate(),
        succeeded: succeeded.len() as u64,
        failed: failed.len() as u64,
        unfinished: submit.ok.saturating_sub(done),
        span_seconds: if done > 0 {
            (last_finished - first_created) as f64 / 1000.0
        } else {
            0.0
        },
        jobs_per_s: rate(first_created),
        drain_per_s: rate(first_started),
        queue_wait_p50_ms: wait_l.p50_ms,
        queue_wait_p99_ms: wait_l.p99_ms,
        total_p50_ms: total_l.p50_ms,
        total_p99_ms: total_l.p99_ms,
        cpu: before.cost(&cpu_after, done, wall),
        error_samples: errors,
    })
}

/// Every job with `status`, page by page, newest first.
async fn list_all(conn: &mut Conn, status: &str) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/jobs?status={status}&limit=100");
        if let Some(c) = &cursor {
            path.push_str("&cursor=");
            path.push_str(c);
        }
        let page = conn.get(&path).await?.expect(200)?.json()?;
        let items = page["items"].as_array().context("a page without items")?;
        all.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) if !items.is_empty() || cursor.as_deref() != Some(next) => {
                cursor = Some(next.to_owned());
            }
            _ => return Ok(all),
        }
    }
}

/// Milliseconds since the epoch of an RFC 3339 timestamp.
fn ms_of(v: &Value) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(v.as_str()?, &time::format_description::well_known::Rfc3339)
            .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Records a duration in ms into a histogram of microseconds.
fn record_ms(h: &mut Histogram<u64>, ms: i64) {
    h.saturating_record(
        u64::try_from(ms.max(0))
            .unwrap_or(0)
            .saturating_mul(1000)
            .max(1),
    );
}

/// A PNG that takes real work to decode and resize: `w` x `h`, a gradient with texture.
fn test_image(w: u32, h: u32) -> anyhow::Result<Vec<u8>> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        // Blocky texture: real pixels to decode and filter, yet small as a PNG.
        let texture = (((x / 16) ^ (y / 16)) & 0x0f) as u8;
        image::Rgb([
            (x * 255 / w) as u8 ^ texture,
            (y * 255 / h) as u8,
            ((x + y) * 127 / (w + h)) as u8 + texture,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .context("encode the test PNG")?;
    Ok(out.into_inner())
}

/// Async versus sync: the same `thumbnail` done in the request and as a job.
pub fn sync_vs_async(ctx: &Ctx<'_>, report: &mut Report) {
    let plan = ctx.plan;
    let (w, h, box_side) = (1024, 768, 256);
    let png = match test_image(w, h) {
        Ok(png) => png,
        Err(e) => {
            report.problems.push(Problem {
                scenario: "sync vs async: make the image".into(),
                error: format!("{e:#}"),
            });
            return;
        }
    };
    report.plan.thumbnail_description = format!(
        "Input: a {w}×{h} PNG ({} KiB) resized to fit {box_side}×{box_side}",
        png.len() / 1024
    );
    let input = json!({
        "image": base64::engine::general_purpose::STANDARD.encode(&png),
        "width": box_side,
        "height": box_side,
    });
    let sync_body = Bytes::from(input.to_string());
    let async_body = Bytes::from(json!({"kind": "thumbnail", "input": input}).to_string());
    if async_body.len() > 1024 * 1024 {
        report.problems.push(Problem {
            scenario: "sync vs async: make the image".into(),
            error: format!(
                "the submission is {} bytes, over the intake's default max_body_bytes",
                async_body.len()
            ),
        });
        return;
    }

    let mut app = None;
    let mut workers = Vec::new();
    step(
        report,
        "sync vs async: start intake + bench-sync and workers",
        |_| {
            let started = ctx.stack.http(&["intake", "bench-sync"])?;
            for n in 1..=plan.sync_workers {
                workers.push(ctx.stack.worker(n, true)?);
            }
            // One request first, so a broken component is one clear problem.
            let probe = ctx.rt.block_on(async {
                Conn::new(started.addr)
                    .post_json("/sync/thumbnail", sync_body.clone())
                    .await?
                    .expect(200)
            })?;
            eprintln!("bench:   sync thumbnail: {} bytes", probe.body.len());
            app = Some(started);
            Ok(())
        },
    );
    let Some(app) = app else { return };
    let names: Vec<String> = (1..=workers.len()).map(|i| format!("worker {i}")).collect();
    let mut runtimes = vec![("runtime", &app.app)];
    runtimes.extend(names.iter().map(String::as_str).zip(&workers));
    let parties = ctx.stack.parties(&runtimes);

    for &clients in &plan.sync_levels {
        let shape = Shape {
            clients,
            warmup: ctx.plan.warmup,
            measure: plan.sync_measure,
            max_ops: None,
        };
        step(
            report,
            &format!("sync vs async: sync @ {clients} clients"),
            |report| {
                ctx.stack.flush()?;
                let op = Arc::new(Call::post("/sync/thumbnail", sync_body.clone(), 200));
                let (stats, cpu) = measured(ctx, &parties, app.addr, shape, op);
                push_sync(report, plan::MODE_SYNC, clients, &stats, 0, cpu);
                Ok(())
            },
        );
        step(
            report,
            &format!("sync vs async: submit and poll @ {clients} clients"),
            |report| {
                ctx.stack.flush()?;
                let op = Arc::new(SubmitAndPoll {
                    body: async_body.clone(),
                    poll: Duration::from_millis(plan.poll_ms),
                });
                let probe = EchoProbe::start(app.addr, Duration::from_millis(plan.poll_ms));
                let (stats, cpu) = measured(ctx, &parties, app.addr, shape, op);
                let probe = probe.stop();
                push_sync(report, plan::MODE_RECEIPT, clients, &stats, 0, cpu.clone());
                push_sync(report, plan::MODE_RESULT, clients, &stats, 1, cpu);
                push_sync(
                    report,
                    plan::MODE_ECHO_PROBE,
                    clients,
                    &probe,
                    0,
                    CpuCost::default(),
                );
                Ok(())
            },
        );
    }
    let _ = ctx.stack.flush();
    drop(workers);
    drop(app);
}

fn push_sync(
    report: &mut Report,
    mode: &str,
    clients: usize,
    stats: &LoadStats,
    metric: usize,
    cpu: CpuCost,
) {
    let row = SyncRow {
        mode: mode.to_owned(),
        clients,
        seconds: stats.elapsed.as_secs_f64(),
        ops: stats.ok,
        errors: stats.errors,
        ops_per_s: stats.rate(),
        latency: Latency::of(&stats.histograms[metric]),
        cpu,
        // Both metrics of an operation share its errors: list them once.
        error_samples: if metric == 0 {
            stats.error_samples.clone()
        } else {
            Vec::new()
        },
    };
    eprintln!(
        "bench:   {mode}: {:.1} ops/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
        row.ops_per_s, row.latency.p50_ms, row.latency.p99_ms, row.errors
    );
    report.sync_async.push(row);
}

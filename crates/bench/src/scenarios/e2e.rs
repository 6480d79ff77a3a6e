//! A fixed number of jobs through the intake and one, then two, worker processes.

use super::*;
use crate::cpu::MachineTime;
use crate::report::Tail;

/// Which rows of the end-to-end scenario run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Submitting while the workers drain, then the backlog.
    All,
    /// Only the backlog.
    Backlog,
}

/// End to end: intake in its own process, then 1 and 2 worker processes.
pub fn end_to_end(ctx: &Ctx<'_>, report: &mut Report, rows: Rows) {
    let mut intake = None;
    step(report, "end to end: start intake", |_| {
        intake = Some(ctx.stack.http(&["intake"])?);
        Ok(())
    });
    let Some(intake) = intake else { return };
    let mut workers = Vec::new();
    for &n in &ctx.plan.e2e_workers {
        let kinds = match rows {
            Rows::All => vec![
                ("echo", ctx.plan.e2e_echo_jobs, echo_body()),
                ("hash", ctx.plan.e2e_hash_jobs, hash_body()),
            ],
            Rows::Backlog => Vec::new(),
        };
        let mut ready = true;
        if !kinds.is_empty() {
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
        }
        if !ready {
            break;
        }
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
                        (intake.addr, ctx.stack.redis()),
                        (kind, jobs, n),
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
    }
    // The backlog rows come in rounds of 1, then 2, workers, each on a fresh backlog: one
    // drain of a backlog takes a few seconds, and on a shared machine its rate moves by a
    // fifth from one run to the next, so the report takes the median round.
    let rounds = ctx.plan.backlog_rounds;
    for round in 1..=rounds {
        for &n in &ctx.plan.e2e_workers {
            let jobs = ctx.plan.backlog_jobs;
            step(
                report,
                &format!(
                    "end to end: a backlog of {jobs} echo jobs, then {n} worker(s) (round {round} of {rounds})"
                ),
                |report| {
                    ctx.stack.flush()?;
                    // Queue everything with no worker running, then start the workers: the
                    // drain rate is then theirs alone, not bounded by the submissions.
                    workers.clear();
                    let submit =
                        ctx.rt
                            .block_on(submit_all(ctx.plan, intake.addr, echo_body(), jobs));
                    ctx.stack.redis().reset_command_stats();
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
                        (ctx.stack.redis(), Rows::Backlog),
                    ))?;
                    row.backlog = true;
                    row.round = round;
                    eprintln!(
                        "bench:   drain {:.0}/s from a backlog; total p50 {:.0} ms p99 {:.0} ms; {} failed, {} unfinished",
                        row.drain_per_s,
                        row.total_p50_ms,
                        row.total_p99_ms,
                        row.failed,
                        row.unfinished
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
    (addr, redis): (SocketAddr, &testkit::RedisServer),
    (kind, jobs, workers): (&str, u64, usize),
    body: Bytes,
) -> anyhow::Result<E2eRow> {
    // Submit everything as fast as the clients can.
    redis.reset_command_stats();
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
        (redis, Rows::All),
    )
    .await
}

/// Wait until every accepted job has finished (or nothing moves for `e2e_stall`), then
/// read the records back into a row. CPU is counted from `before`, taken at `t0`, and the
/// commands Redis ran from its last statistics reset. A backlog row keeps those
/// commands per job; a streaming row (`Rows::All`) waits for the workers to be quiet
/// first and keeps what they did after the last job finished ([`Tail`]).
async fn collect(
    plan: &Plan,
    parties: &[(String, Who)],
    addr: SocketAddr,
    (kind, jobs, workers): (&str, u64, usize),
    submit: load::LoadStats,
    (before, t0): (Snapshot, Instant),
    (redis, rows): (&testkit::RedisServer, Rows),
) -> anyhow::Result<E2eRow> {
    let mut errors = submit.error_samples.clone();
    // A backlog row's workers have just started: time a submission meanwhile. Its jobs
    // are delayed an hour, so they neither join the drain nor count as finished.
    let probe = matches!(rows, Rows::Backlog).then(|| {
        let body = json!({"kind": "echo", "input": {"probe": true}, "delay_ms": 3_600_000});
        EchoProbe::start(addr, RECEIPT_EVERY, Bytes::from(body.to_string()))
    });

    // Wait until every accepted job has finished, or nothing moves for a while.
    let mut conn = Conn::new(addr);
    let mut finished = 0;
    let mut last_progress = Instant::now();
    let mut polls = Vec::new();
    while finished < submit.ok {
        tokio::time::sleep(STATS_POLL).await;
        let stats = conn.get("/stats").await?.expect(200)?.json()?;
        let count = |s: &str| stats["counts"][s].as_u64().unwrap_or(0);
        let now = count("succeeded") + count("failed") + count("cancelled");
        if let Some(time) = MachineTime::now() {
            polls.push(Poll {
                at: t0.elapsed().as_secs_f64(),
                time,
                finished: now,
            });
        }
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
    let receipts = probe.map(|probe| {
        let stats = probe.stop();
        errors.extend(stats.error_samples.iter().map(|e| format!("probe: {e}")));
        crate::report::Receipts {
            submitted: stats.ok,
            errors: stats.errors,
            latency: Latency::of(&stats.histograms[0]),
        }
    });
    let quiet = match rows {
        Rows::All => Some(until_quiet(parties).await),
        Rows::Backlog => None,
    };
    let commands = redis.command_stats();

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
    let machine = match rows {
        Rows::Backlog => machine_cores(&polls, submit.ok),
        Rows::All => None,
    };
    Ok(E2eRow {
        kind: kind.to_owned(),
        workers,
        backlog: false,
        round: 0,
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
        tail: quiet.map(|(at, waited, seconds, settled)| Tail {
            doorbells_per_job: commands.get("publish").map_or(0, |c| c.0) as f64
                / done.max(1) as f64,
            seconds,
            settled,
            cpu: cpu_after.cost(&at, done, waited),
        }),
        receipts,
        machine_cores: machine.map(|cores| cores.busy),
        machine_stolen: machine.map(|cores| cores.stolen),
        redis_per_job: match rows {
            Rows::Backlog => per_job(commands, done),
            Rows::All => Vec::new(),
        },
        error_samples: errors,
    })
}

/// What one `/stats` poll of [`collect`] saw: seconds since the start, the machine's busy
/// CPU seconds so far, and the jobs finished.
struct Poll {
    at: f64,
    time: MachineTime,
    finished: u64,
}

/// The cores the machine kept busy, and those the host took, from the first poll that
/// saw a job finished to the last that saw fewer than `total`: the drain in full swing,
/// without the workers' start or the wait for the poll after the last finish.
fn machine_cores(polls: &[Poll], total: u64) -> Option<MachineTime> {
    let first = polls.iter().find(|p| p.finished > 0)?;
    let last = polls.iter().rev().find(|p| p.finished < total)?;
    last.time.cores_since(&first.time, last.at - first.at)
}

/// How long [`until_quiet`] waits at most for the workers to be quiet.
const QUIET_DEADLINE: Duration = Duration::from_secs(60);
/// The window over which the runtimes and Redis together must use under
/// [`QUIET_CORES`] of a core to count as quiet.
const QUIET_WINDOW: Duration = Duration::from_millis(200);
const QUIET_CORES: f64 = 0.05;

/// Wait until the parties other than the load generator are quiet, at most
/// [`QUIET_DEADLINE`]: every doorbell still waiting in a worker's subscription costs it
/// an instance after the work is done. Answers the CPU snapshot at the end of the wait,
/// the seconds waited, the seconds until the first quiet window began, and whether they
/// became quiet.
async fn until_quiet(parties: &[(String, Who)]) -> (Snapshot, f64, f64, bool) {
    let busy: Vec<(String, Who)> = parties
        .iter()
        .filter(|(name, _)| name != "client")
        .cloned()
        .collect();
    let start = Instant::now();
    let mut last = Snapshot::take(&busy);
    loop {
        tokio::time::sleep(QUIET_WINDOW).await;
        let now = Snapshot::take(&busy);
        let window = QUIET_WINDOW.as_secs_f64();
        let cores = last.cost(&now, 0, window).busy_cores;
        let seconds = (start.elapsed().as_secs_f64() - window).max(0.0);
        if cores < QUIET_CORES || start.elapsed() > QUIET_DEADLINE {
            let waited = start.elapsed().as_secs_f64();
            return (
                Snapshot::take(parties),
                waited,
                seconds,
                cores < QUIET_CORES,
            );
        }
        last = now;
    }
}

/// Commands' calls and time per finished job, busiest first, leaving out what ran less
/// than once per thousand jobs.
fn per_job(commands: HashMap<String, (u64, u64)>, done: u64) -> Vec<RedisCost> {
    let jobs = done.max(1) as f64;
    let mut costs: Vec<RedisCost> = commands
        .into_iter()
        .map(|(command, (calls, usec))| RedisCost {
            command,
            calls: calls as f64 / jobs,
            usec: usec as f64 / jobs,
        })
        .filter(|c| c.calls >= 0.001)
        .collect();
    costs.sort_by(|a, b| b.usec.total_cmp(&a.usec));
    costs
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

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(at: f64, busy: f64, finished: u64) -> Poll {
        let time = MachineTime {
            busy,
            stolen: busy / 10.0,
        };
        Poll { at, time, finished }
    }

    #[test]
    fn machine_cores_count_the_drain_in_full_swing_only() {
        let polls = [
            // The workers start: nothing finished yet, one core busy.
            poll(0.1, 10.0, 0),
            poll(0.2, 10.1, 100),
            poll(0.3, 10.28, 600),
            poll(0.4, 10.46, 900),
            // The last job finished before this poll: its idle tail is left out.
            poll(0.5, 10.47, 1000),
        ];
        let cores = machine_cores(&polls, 1000).unwrap();
        assert!((cores.busy - 1.8).abs() < 1e-9, "{cores:?}");
        assert!((cores.stolen - 0.18).abs() < 1e-9, "{cores:?}");
        // One poll in full swing is no window; none finished, or all at once, neither.
        assert_eq!(machine_cores(&polls[..2], 100), None);
        assert_eq!(machine_cores(&polls[..1], 1000), None);
        assert_eq!(machine_cores(&[poll(0.1, 1.0, 1000)], 1000), None);
    }
}

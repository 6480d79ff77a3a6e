//! Retention: how fast one worker process deletes finished jobs past `job_ttl_seconds`.
//!
//! `retention_jobs` echo jobs are submitted and run by a worker with the default TTL (a
//! day). That worker stops; one with `job_ttl_seconds = 1` starts, and once the second
//! has passed the doorbell is rung once: its drains sweep the jobs (a drain that leaves
//! a backlog rings again). The rate is the jobs over the time from that ring until the
//! queue has forgotten the last of them (it forgets a batch after deleting its keys).

use super::*;
use crate::report::RetentionRow;
use crate::stack::CHANNEL;
use jobs_core::job::{Status, Tenant};

/// How often the sweep's progress is read (one `ZCARD`).
const SWEEP_POLL: Duration = Duration::from_millis(5);
/// The longest a sweep may take before the step fails.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(300);

pub fn retention(ctx: &Ctx<'_>, report: &mut Report) {
    let jobs = ctx.plan.retention_jobs;
    step(
        report,
        &format!("retention: {jobs} finished echo jobs swept by one worker"),
        |report| {
            ctx.stack.flush()?;
            let intake = ctx.stack.http(&["intake"])?;
            {
                let _worker = ctx.stack.worker(1, false)?;
                ctx.rt.block_on(run_all(ctx, intake.addr, jobs))?;
            }
            let row = sweep(ctx, jobs)?;
            eprintln!(
                "bench:   swept {} jobs in {:.2} s: {:.0} jobs/s",
                row.jobs, row.seconds, row.per_s
            );
            report.retention.push(row);
            Ok(())
        },
    );
    let _ = ctx.stack.flush();
}

/// Submits `jobs` echo jobs and waits until none is queued or running.
async fn run_all(ctx: &Ctx<'_>, addr: SocketAddr, jobs: u64) -> anyhow::Result<()> {
    let shape = Shape {
        clients: ctx.plan.e2e_clients,
        warmup: Duration::ZERO,
        measure: Duration::from_secs(600),
        max_ops: Some(jobs),
    };
    let submitted = load::run(addr, shape, Arc::new(Call::post("/jobs", echo_body(), 202))).await;
    if submitted.errors > 0 {
        bail!("submitting: {:?}", submitted.error_samples);
    }
    let mut conn = Conn::new(addr);
    let t0 = Instant::now();
    loop {
        let stats = conn.get("/stats").await?.expect(200)?.json()?;
        let count = |s: &str| stats["counts"][s].as_u64().unwrap_or(0);
        if count("queued") + count("running") == 0 && count("succeeded") >= jobs {
            return Ok(());
        }
        if t0.elapsed() > CYCLE_TIMEOUT {
            bail!("the jobs did not finish within {CYCLE_TIMEOUT:?}: {stats}");
        }
        tokio::time::sleep(STATS_POLL).await;
    }
}

/// Starts a worker whose TTL has passed for every job, rings once, and times the sweep.
fn sweep(ctx: &Ctx<'_>, jobs: u64) -> anyhow::Result<RetentionRow> {
    let _worker = ctx.stack.worker_with(1, &[("job_ttl_seconds", "1")])?;
    // The last job finished before the stats said so: a second from now, all are due.
    std::thread::sleep(Duration::from_millis(1_100));
    let mut con = ctx.stack.redis().connection();
    let succeeded = jobs_core::keys::by_status(&Tenant::default_tenant(), Status::Succeeded);
    let left = |con: &mut redis::Connection| -> anyhow::Result<u64> {
        Ok(redis::cmd("ZCARD").arg(&succeeded).query(con)?)
    };
    let before = left(&mut con)?;
    if before < jobs {
        bail!("{before} succeeded jobs to sweep, not {jobs}");
    }
    let t0 = Instant::now();
    let heard: i64 = redis::cmd("PUBLISH")
        .arg(CHANNEL)
        .arg("bench retention")
        .query(&mut con)?;
    if heard != 1 {
        bail!("the ring reached {heard} subscribers, not the one worker");
    }
    while left(&mut con)? > 0 {
        if t0.elapsed() > SWEEP_TIMEOUT {
            bail!(
                "{} jobs still kept after {SWEEP_TIMEOUT:?}",
                left(&mut con)?
            );
        }
        std::thread::sleep(SWEEP_POLL);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let records: Vec<String> = redis::cmd("KEYS").arg("j:*").query(&mut con)?;
    if !records.is_empty() {
        bail!("{} job records left after the sweep", records.len());
    }
    Ok(RetentionRow {
        jobs: before,
        seconds,
        per_s: before as f64 / seconds,
    })
}

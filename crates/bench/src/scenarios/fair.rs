//! Fairness across tenants (issue 13): with one worker process and tenant A's backlog of
//! `fair_backlog` echo jobs queued, how long tenant B's single job waits to start.
//!
//! Each try: stop the worker process (SIGSTOP), top A's queued jobs up to the backlog,
//! let the worker go on (SIGCONT), submit B's job at once, and read from B's record how
//! long it waited (`started_at - created_at`, both stamped by the app). The worker wakes
//! to A's doorbells and drains A's backlog; B's job waits behind at most the batch the
//! worker holds when it arrives.

use super::*;
use crate::report::FairRow;
use crate::stack::OTHER_TENANT;

/// How often B's job is polled until it has started.
const START_POLL: Duration = Duration::from_millis(2);

pub fn fairness(ctx: &Ctx<'_>, report: &mut Report) {
    let mut intake = None;
    let mut worker = None;
    step(report, "fairness: start intake and one worker", |_| {
        ctx.stack.flush()?;
        intake = Some(ctx.stack.http(&["intake"])?);
        worker = Some(ctx.stack.worker(1, false)?);
        Ok(())
    });
    let (Some(intake), Some(worker)) = (intake, worker) else {
        return;
    };
    let (backlog, tries) = (ctx.plan.fair_backlog, ctx.plan.fair_tries);
    step(
        report,
        &format!("fairness: B's job behind A's {backlog} queued, {tries} tries"),
        |report| {
            let row = ctx.rt.block_on(run(ctx, intake.addr, worker.pid()))?;
            eprintln!(
                "bench:   B's job started after p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} tries; A had {:.0} queued on average)",
                row.wait.p50_ms, row.wait.p99_ms, row.wait.max_ms, row.tries, row.a_queued_mean
            );
            report.fair.push(row);
            Ok(())
        },
    );
    // Never leave the worker stopped.
    signal(worker.pid(), libc::SIGCONT);
    let _ = ctx.stack.flush();
}

async fn run(ctx: &Ctx<'_>, addr: SocketAddr, worker: i32) -> anyhow::Result<FairRow> {
    let plan = ctx.plan;
    let mut waits = load::histogram();
    let mut a = Conn::new(addr);
    let mut b = Conn::with_authorization(addr, ctx.stack.other_authorization());
    let mut a_queued_sum = 0u64;
    for _ in 0..plan.fair_tries {
        signal(worker, libc::SIGSTOP);
        let stats = a.get("/stats").await?.expect(200)?.json()?;
        let queued = stats["counts"]["queued"].as_u64().unwrap_or(0);
        let deficit = plan.fair_backlog.saturating_sub(queued);
        if deficit > 0 {
            let shape = Shape {
                clients: plan.e2e_clients,
                warmup: Duration::ZERO,
                measure: Duration::from_secs(600),
                max_ops: Some(deficit),
            };
            let op = Arc::new(Call::post("/jobs", echo_body(), 202));
            let submitted = load::run(addr, shape, op).await;
            if submitted.errors > 0 {
                signal(worker, libc::SIGCONT);
                bail!("topping up A's backlog: {:?}", submitted.error_samples);
            }
        }
        a_queued_sum += queued.max(plan.fair_backlog);
        signal(worker, libc::SIGCONT);
        let accepted = b.post_json("/jobs", echo_body()).await?.expect(202)?;
        let path = format!("/jobs/{}", id_of(&accepted.json()?)?);
        let t0 = Instant::now();
        let job = loop {
            if t0.elapsed() > CYCLE_TIMEOUT {
                bail!("B's job {path} did not start within {CYCLE_TIMEOUT:?}");
            }
            let job = b.get(&path).await?.expect(200)?.json()?;
            if !job["started_at"].is_null() {
                break job;
            }
            tokio::time::sleep(START_POLL).await;
        };
        let ms = |member: &str| {
            job[member]
                .as_str()
                .and_then(|t| {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .with_context(|| format!("B's job has no {member}: {job}"))
        };
        let waited_us = (ms("started_at")? - ms("created_at")?).max(0) as u64 * 1_000;
        let _ = waits.record(waited_us.max(1));
    }
    Ok(FairRow {
        tenant_b: OTHER_TENANT.to_owned(),
        backlog: plan.fair_backlog,
        tries: plan.fair_tries,
        a_queued_mean: a_queued_sum as f64 / plan.fair_tries.max(1) as f64,
        wait: Latency::of(&waits),
    })
}

/// Sends `sig` to the process group of `pid` (the runtime and its children).
fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: kill only reads its integer arguments.
    unsafe {
        libc::kill(-pid, sig);
    }
}

//! `POST /jobs` and the floors, at each concurrency level.

use super::*;

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
    let targets: [Target; 7] = [
        (
            "floor",
            plan::NOOP_TARGET,
            || Call::get("/sync/noop", 204),
            None,
        ),
        (
            "floor",
            plan::VARIABLE_TARGET,
            || Call::get("/sync/variable", 204),
            None,
        ),
        (
            "floor",
            plan::SETTINGS_TARGET,
            || Call::get("/sync/settings", 204),
            None,
        ),
        (
            "floor",
            plan::INSERT_PUBLISH_TARGET,
            || Call::post("/sync/insert-publish", Bytes::new(), 204),
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
    listing(ctx, &app, report);
    let _ = ctx.stack.flush();
    drop(app);
}

/// Requests counted one after the other for the listing's Redis reads, in each set.
const READS_COUNTED: u64 = 10;
/// Sets of them; the row keeps the median set.
const READ_SETS: usize = 3;

/// `GET /jobs?kind=echo` with a full page of records, at each concurrency level, then
/// how many reads Redis served per request for [`READ_SETS`] sets of [`READS_COUNTED`]
/// more, one after the other (its command statistics; the median set): the records come
/// in one `MGET` when the store is Redis (`jobs_core::batch_reads`), else one `GET` each.
fn listing(ctx: &Ctx<'_>, app: &crate::stack::HttpApp, report: &mut Report) {
    let op = Arc::new(Call::get(
        &format!("/jobs?kind=echo&limit={}", plan::LIST_PAGE),
        200,
    ));
    for &clients in &ctx.plan.levels {
        step(
            report,
            &format!("listing: {} @ {clients} clients", plan::LIST_TARGET),
            |report| {
                ctx.stack.flush()?;
                // Queued for good (a day's delay, no worker runs here): the page is full.
                let body = Bytes::from(
                    json!({"kind": "echo", "input": {"n": 1}, "delay_ms": 86_400_000}).to_string(),
                );
                let queued = ctx.rt.block_on(load::run(
                    app.addr,
                    Shape {
                        clients: 4,
                        warmup: Duration::ZERO,
                        measure: Duration::from_secs(60),
                        max_ops: Some(plan::LIST_PAGE),
                    },
                    Arc::new(Call::post("/jobs", body, 202)),
                ));
                if queued.ok != plan::LIST_PAGE {
                    bail!(
                        "queued {} of {} jobs: {:?}",
                        queued.ok,
                        plan::LIST_PAGE,
                        queued.error_samples
                    );
                }
                let shape = Shape {
                    clients,
                    warmup: ctx.plan.warmup,
                    measure: ctx.plan.measure,
                    max_ops: None,
                };
                let parties = ctx.stack.parties(&[("runtime", &app.app)]);
                let (stats, cpu) = measured(ctx, &parties, app.addr, shape, Arc::clone(&op));
                // Then 10 requests one after the other, and what Redis read for them: three
                // times, keeping the median, so that one set meeting a fresh instance (its
                // marker read both ways, jobs_core::batch_reads) does not make the row.
                let mut sets = Vec::with_capacity(READ_SETS);
                for _ in 0..READ_SETS {
                    ctx.stack.redis().reset_command_stats();
                    let counted = ctx.rt.block_on(load::run(
                        app.addr,
                        Shape {
                            clients: 1,
                            warmup: Duration::ZERO,
                            measure: Duration::from_secs(60),
                            max_ops: Some(READS_COUNTED),
                        },
                        Arc::clone(&op),
                    ));
                    if counted.ok != READS_COUNTED {
                        continue;
                    }
                    let calls = ctx.stack.redis().command_calls();
                    let reads = ["get", "mget"]
                        .iter()
                        .map(|c| calls.get(*c).copied().unwrap_or(0))
                        .sum::<u64>();
                    sets.push(reads as f64 / READS_COUNTED as f64);
                }
                sets.sort_by(f64::total_cmp);
                let mut row = load_row("listing", plan::LIST_TARGET, clients, &stats, cpu);
                // The median of the sets that all succeeded; none without three of them.
                row.redis_reads = (sets.len() == READ_SETS).then(|| sets[READ_SETS / 2]);
                eprintln!(
                    "bench:   {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {:.1} Redis reads per request (sets of {READS_COUNTED}: {sets:?}), {} errors",
                    row.rps,
                    row.latency.p50_ms,
                    row.latency.p99_ms,
                    row.redis_reads.unwrap_or(f64::NAN),
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

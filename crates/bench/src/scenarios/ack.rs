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
    let _ = ctx.stack.flush();
    drop(app);
}

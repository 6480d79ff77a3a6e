//! The worker: a Redis-triggered Spin component. A message on the doorbell channel only
//! says "there may be work"; its content is ignored. The component builds the Spin
//! adapters and runs `jobs_core::service::drain` for `drain_budget_ms` (longer while runs
//! of waiting kinds go on side by side, on Spin's executor), then logs one summary line. It never fails the message (a failed message is only dropped by Spin):
//! every problem is logged and the queue keeps the work for the next doorbell.

use bytes::Bytes;
use jobs_core::service::{self, DrainReport};
use spin_adapters::Wiring;
use spin_sdk::redis_component;

#[redis_component]
async fn on_doorbell(_message: Bytes) -> anyhow::Result<()> {
    let wiring = match Wiring::open() {
        Ok(wiring) => wiring,
        Err(e) => {
            eprintln!("worker: configuration error: {e}, not draining");
            return Ok(());
        }
    };
    let budget_ms = wiring.settings().drain_budget_ms;
    let ctx = wiring.context(jobs_core::job::Tenant::default_tenant());
    log(&service::drain(&ctx, budget_ms).await);
    Ok(())
}

fn log(report: &DrainReport) {
    for warning in &report.warnings {
        eprintln!("worker: warning: {warning}");
    }
    if report.more_warnings > 0 {
        eprintln!("worker: warning: and {} more", report.more_warnings);
    }
    if let Some(error) = &report.error {
        eprintln!("worker: drain stopped on an error: {error}");
    }
    // Quiet when a doorbell found nothing to do (most doorbells after a burst).
    if report.claimed > 0 || report.swept > 0 || report.error.is_some() {
        println!(
            "worker: drained claimed={} succeeded={} failed={} retried={} cancelled={} lost={} repaired={} skipped={} swept={} side_by_side={} stop={:?} rang_again={} elapsed_ms={}",
            report.claimed,
            report.succeeded,
            report.failed,
            report.retried,
            report.cancelled,
            report.lost,
            report.repaired,
            report.skipped,
            report.swept,
            report.most_side_by_side,
            report.stop,
            report.rang_again,
            report.elapsed_ms,
        );
    }
}

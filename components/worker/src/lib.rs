//! The worker: a Redis-triggered Spin component. A message on the doorbell channel only
//! says "there may be work"; its content is ignored. The component builds the Spin
//! adapters and runs `jobs_core::service::drain` for `drain_budget_ms`, then logs one
//! summary line. It never fails the message (a failed message is only dropped by Spin):
//! every problem is logged and the queue keeps the work for the next doorbell.

use bytes::Bytes;
use jobs_core::counter::RedisCounter;
use jobs_core::job::Tenant;
use jobs_core::kind::Registry;
use jobs_core::ports::{SystemClock, SystemRandom};
use jobs_core::queue::RedisQueue;
use jobs_core::service::{self, Context, DrainReport};
use spin_adapters::{SpinKv, SpinRedis, load_settings};
use spin_sdk::redis_component;

#[redis_component]
fn on_doorbell(_message: Bytes) -> anyhow::Result<()> {
    let settings = match load_settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("worker: configuration error, not draining: {e}");
            return Ok(());
        }
    };
    let kv = match SpinKv::open_default() {
        Ok(kv) => kv,
        Err(e) => {
            eprintln!("worker: cannot open the key-value store, not draining: {e}");
            return Ok(());
        }
    };
    let tenant = Tenant::default_tenant();
    let queue = RedisQueue::new(
        SpinRedis::new(settings.redis_address.clone()),
        tenant.clone(),
    );
    let registry = Registry::for_settings(&settings);
    // Lent to the test-only `count` kind; shares the queue's connection.
    let counter = RedisCounter::new(queue.redis(), tenant.clone());
    let random = SystemRandom::new();
    let ctx = Context {
        kv: &kv,
        queue: &queue,
        clock: &SystemClock,
        random: &random,
        settings: &settings,
        registry: &registry,
        counter: Some(&counter),
        tenant,
    };
    log(&service::drain(&ctx, settings.drain_budget_ms));
    Ok(())
}

fn log(report: &DrainReport) {
    for warning in &report.warnings {
        eprintln!("worker: warning: {warning}");
    }
    if let Some(error) = &report.error {
        eprintln!("worker: drain stopped on an error: {error}");
    }
    // Quiet when a doorbell found nothing to do (most doorbells after a burst).
    if report.claimed > 0 || report.swept > 0 || report.error.is_some() {
        println!(
            "worker: drained claimed={} succeeded={} failed={} retried={} cancelled={} lost={} repaired={} skipped={} swept={} stop={:?} rang_again={} elapsed_ms={}",
            report.claimed,
            report.succeeded,
            report.failed,
            report.retried,
            report.cancelled,
            report.lost,
            report.repaired,
            report.skipped,
            report.swept,
            report.stop,
            report.rang_again,
            report.elapsed_ms,
        );
    }
}

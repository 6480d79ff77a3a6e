//! The worker: what one instance does when the doorbell rings (docs/architecture.md
//! steps 2 to 8). A record that cannot be read is reported and skipped; nothing here
//! panics on stored data.
//!
//! - [`drain`](drain()): the loop and its [`DrainReport`];
//! - `batch`: one claimed batch, from the records to the runs;
//! - `attempt`: one claimed job, and one attempt at running it;
//! - `side`: runs of waiting kinds going on side by side (`worker_concurrency`);
//! - `lease`: the one [`Lease`](lease::Lease) type every write asks first;
//! - `outbox`: outcomes kept back, and the queue-side finishes that follow them;
//! - `retention`: deleting finished jobs after `job_ttl_seconds`;
//! - `hooks`: webhook deliveries, side by side with the runs.
//!
//! Each part's tests are beside it; what they share is in `testing`.

mod attempt;
mod batch;
mod drain;
mod hooks;
mod lease;
mod outbox;
mod report;
mod retention;
mod side;
#[cfg(test)]
mod testing;

pub use drain::{Watch, drain, drain_with};
pub use hooks::HOOK_POLL_MS;
pub use report::{DrainReport, Stop};
pub use retention::SWEEP_LIMIT;

/// Longest wait between claims while waiting for a delayed job due within the budget.
pub const POLL_MS: u64 = 100;
/// How often the worker that keeps the watch for work due after its budget claims again,
/// and how often a worker with runs going on looks for new work: meanwhile the doorbell
/// messages of new submissions wait in its subscription, so this bounds what they wait.
pub const WATCH_POLL_MS: u64 = 20;
/// Progress is written (and the lease extended) at most this often.
pub const PROGRESS_INTERVAL_MS: u64 = 200;
/// Most jobs claimed in one round trip.
pub const MAX_BATCH: u32 = 32;
/// Most bytes of inputs stored apart, counted at the body limit each, that a batch reads
/// in one call and holds before running them: a whole batch with the default limit
/// (1 MiB), fewer with a larger one, so a raised limit does not raise a worker's memory
/// with it (a hosted Spin instance has 128 MiB).
pub const INPUT_BYTES_AT_ONCE: usize = crate::config::MAX_BODY_BYTES;
/// A batch whose jobs averaged at most this long is followed by a larger one.
pub const QUICK_JOB_MS: u64 = 2;
/// Outcomes of a batch are written together at its end, or as soon as the batch has
/// run this long, so a slow job never hides the outcomes of the quick ones before it.
pub const FLUSH_MS: u64 = 50;

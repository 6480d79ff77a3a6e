//! What one drain did, for the worker's one-line log and the drain route's answer.

use schemars::JsonSchema;
use serde::Serialize;

/// Why a drain stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Nothing ready, nothing due within the budget, nothing running.
    #[default]
    Empty,
    /// The time budget was spent (work may remain: the doorbell was rung again).
    Budget,
    /// The store or the queue failed; see `error`.
    Failed,
}

/// What one drain did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct DrainReport {
    pub claimed: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub retried: u32,
    pub cancelled: u32,
    /// Claimed jobs another worker took over (lease lost): left alone.
    pub lost: u32,
    /// Jobs found finished in their record but not in the queue (a worker died between
    /// the two writes): finished in the queue only, not run again.
    pub repaired: u32,
    /// Claimed ids without a usable record: dropped or failed.
    pub skipped: u32,
    /// Finished jobs deleted by retention.
    pub swept: u32,
    /// Most runs of waiting kinds (and webhook deliveries) that were going on at once.
    pub most_side_by_side: u32,
    /// Webhook delivery attempts: delivered, to be tried again, given up on.
    pub webhooks_delivered: u32,
    pub webhooks_retried: u32,
    pub webhooks_failed: u32,
    pub rang_again: bool,
    pub stop: Stop,
    pub elapsed_ms: u64,
    /// Problems worth a log line each (malformed records, failed sweeps).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl DrainReport {
    /// Stop on `error`: the first one stays the error, later ones are warnings (a drain
    /// that failed may go on to see its runs to their end, and fail again).
    pub(super) fn fail(&mut self, error: String) {
        self.stop = Stop::Failed;
        if self.error.is_none() {
            self.error = Some(error);
        } else {
            self.warnings.push(error);
        }
    }
}

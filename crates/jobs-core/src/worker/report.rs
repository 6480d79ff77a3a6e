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
    /// Problems worth a log line each (malformed records, failed sweeps), the first
    /// [`MAX_WARNINGS`]: a long drain beside a dead webhook receiver makes many.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Warnings past [`MAX_WARNINGS`], counted, not kept.
    #[serde(skip_serializing_if = "is_zero")]
    pub more_warnings: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Most warnings one report keeps.
pub const MAX_WARNINGS: usize = 100;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl DrainReport {
    /// Keep `warning`, or count it once [`MAX_WARNINGS`] are kept.
    pub(super) fn warn(&mut self, warning: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(warning);
        } else {
            self.more_warnings = self.more_warnings.saturating_add(1);
        }
    }

    /// Stop on `error`: the first one stays the error, later ones are warnings (a drain
    /// that failed may go on to see its runs to their end, and fail again).
    pub(super) fn fail(&mut self, error: String) {
        self.stop = Stop::Failed;
        if self.error.is_none() {
            self.error = Some(error);
        } else {
            self.warn(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_keeps_the_first_warnings_and_counts_the_rest() {
        let mut report = DrainReport::default();
        for n in 0..MAX_WARNINGS + 5 {
            report.warn(format!("warning {n}"));
        }
        report.fail("first error".into());
        report.fail("second error".into());
        assert_eq!(report.warnings.len(), MAX_WARNINGS);
        assert_eq!(report.warnings[0], "warning 0");
        assert_eq!(report.more_warnings, 6);
        assert_eq!(report.error.as_deref(), Some("first error"));
    }
}

//! The retention rows: finished jobs past their TTL, swept by one worker process.

use std::fmt::Write as _;

use serde::Serialize;

use super::Report;

/// Finished jobs past their TTL, swept by one worker process.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionRow {
    /// The jobs there were to sweep.
    pub jobs: u64,
    /// From the doorbell to the last of them forgotten.
    pub seconds: f64,
    pub per_s: f64,
}

impl Report {
    /// Retention: how fast one worker deletes finished jobs past their TTL.
    pub(super) fn retention_section(&self, w: &mut String) {
        if self.retention.is_empty() {
            return;
        }
        let _ = writeln!(w, "\n## Retention\n");
        let _ = writeln!(
            w,
            "Echo jobs run by a worker with the default TTL; then one worker with \
             `job_ttl_seconds = 1`, rung once when all are past it, deletes them: from the \
             ring until the queue has forgotten the last (it does so after deleting a \
             batch's keys).\n"
        );
        let _ = writeln!(w, "| Jobs | Swept in | Jobs/s |");
        let _ = writeln!(w, "|---|---|---|");
        for r in &self.retention {
            let _ = writeln!(w, "| {} | {:.2} s | {:.0} |", r.jobs, r.seconds, r.per_s);
        }
    }
}

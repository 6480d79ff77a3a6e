//! The fairness rows (issue 13): one tenant's single job behind another's backlog.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Latency, Report};

/// Fairness across tenants: how long tenant B's single job waited to start while tenant
/// A had `backlog` echo jobs queued, over `tries` tries, one worker process.
#[derive(Debug, Clone, Serialize)]
pub struct FairRow {
    pub tenant_b: String,
    pub backlog: u64,
    pub tries: u64,
    /// A's queued jobs when B submitted, on average.
    pub a_queued_mean: f64,
    /// `started_at - created_at` of B's job (the app's own timestamps, ms resolution).
    pub wait: Latency,
}

impl Report {
    /// Fairness (issue 13): B's single job behind A's backlog.
    pub(super) fn fair_section(&self, w: &mut String) {
        if self.fair.is_empty() {
            return;
        }
        let _ = writeln!(w, "\n## Fairness across tenants (issue 13)\n");
        let _ = writeln!(
            w,
            "One worker process. Each try stops it (SIGSTOP), tops tenant A's queued echo jobs up \
             to the backlog, lets it go on, and submits one echo job as tenant B at once; the \
             wait is B's `started_at - created_at` as the app recorded them (ms resolution).\n"
        );
        let _ = writeln!(
            w,
            "| A's backlog | Tries | B's wait p50 | p90 | p99 | max | Target: p99 ≤ 50 ms |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|");
        for r in &self.fair {
            let _ = writeln!(
                w,
                "| {:.0} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {} |",
                r.a_queued_mean,
                r.tries,
                r.wait.p50_ms,
                r.wait.p90_ms,
                r.wait.p99_ms,
                r.wait.max_ms,
                if r.wait.p99_ms <= 50.0 {
                    "met"
                } else {
                    "**not met**"
                }
            );
        }
    }
}

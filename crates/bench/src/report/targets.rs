//! The report's verdicts against the targets of the issues that set them: issue 5 (the
//! first benchmark) and issue 12 ("Fast on real Spin", against the runtime's own floor).

use std::fmt::Write as _;

use super::Report;
use super::backlog::{STOLEN_LIMIT, median, ratio, stolen, unstolen};

impl Report {
    pub(super) fn targets_section(&self, w: &mut String) {
        let _ = writeln!(w, "\n## Against the targets of issue 5\n");
        let _ = writeln!(w, "| Target | Measured | Met |");
        let _ = writeln!(w, "|---|---|---|");
        let verdict = |ok: bool| if ok { "yes" } else { "**no**" };
        match self.load_row("acknowledgement", crate::plan::ECHO_TARGET, 16) {
            Some(r) => {
                let _ = writeln!(
                    w,
                    "| `echo` acknowledgement ≥ 15,000/s at 16 clients, p99 < 5 ms | {:.0}/s, p99 {:.2} ms | {} |",
                    r.rps,
                    r.latency.p99_ms,
                    verdict(r.rps >= 15_000.0 && r.latency.p99_ms < 5.0)
                );
            }
            None => {
                let _ = writeln!(
                    w,
                    "| `echo` acknowledgement ≥ 15,000/s at 16 clients, p99 < 5 ms | not measured | |"
                );
            }
        }
        for (workers, target) in [(1usize, 4_000.0), (2, 8_000.0)] {
            // The drain of a backlog is the workers' own rate; with submissions running at
            // the same time the rate is the intake's (the workers keep up).
            match self.backlog_median(workers) {
                Some(r) => {
                    let streaming = self
                        .e2e_row("echo", workers, false)
                        .map(|s| format!("; {:.0}/s end to end while submitting", s.jobs_per_s))
                        .unwrap_or_default();
                    let _ = writeln!(
                        w,
                        "| {workers} worker process{} drain ≥ {target:.0} `echo` jobs/s | {:.0}/s draining a backlog of {}{}{streaming} | {} |",
                        if workers == 1 { "" } else { "es" },
                        r.drain_per_s,
                        r.jobs,
                        self.rounds_note(workers),
                        verdict(r.drain_per_s >= target)
                    );
                }
                None => {
                    let _ = writeln!(
                        w,
                        "| {workers} worker drain ≥ {target:.0} `echo` jobs/s | not measured | |"
                    );
                }
            }
        }
        let receipt = self
            .sync_async
            .iter()
            .find(|r| r.mode == crate::plan::MODE_RECEIPT && r.clients == 16);
        let probe = self
            .sync_async
            .iter()
            .find(|r| r.mode == crate::plan::MODE_ECHO_PROBE && r.clients == 16);
        let echo = self.load_row("acknowledgement", crate::plan::ECHO_TARGET, 16);
        let target = "`thumbnail` acknowledgement p99 ≤ 1.2 × `echo`'s (16 clients)";
        match (receipt, probe, echo) {
            (Some(t), Some(p), echo) if p.latency.p99_ms > 0.0 => {
                // The verdict compares like with like: both receipts under the same load
                // (16 clients submitting thumbnails and polling, 2 workers running them).
                let ratio = t.latency.p99_ms / p.latency.p99_ms;
                let ack = echo
                    .filter(|e| e.latency.p99_ms > 0.0)
                    .map(|e| {
                        format!(
                            "; against `echo` ack at 16 clients with no workers ({:.2} ms): {:.2}×",
                            e.latency.p99_ms,
                            t.latency.p99_ms / e.latency.p99_ms
                        )
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    w,
                    "| {target} | thumbnail receipt {:.2} ms vs `echo` receipt under the same load {:.2} ms = {ratio:.2}×{ack} | {} |",
                    t.latency.p99_ms,
                    p.latency.p99_ms,
                    verdict(ratio <= 1.2)
                );
            }
            _ => {
                let _ = writeln!(w, "| {target} | not measured | |");
            }
        }
    }

    /// Issue 12's targets: the acknowledgement against its own floor in the same run,
    /// and the backlog drain against BullMQ's.
    pub(super) fn floor_targets_section(&self, w: &mut String) {
        let _ = writeln!(
            w,
            "\n## Against the targets of issue 12 (\"Fast on real Spin\")\n"
        );
        let _ = writeln!(w, "| Target | Measured | Met |");
        let _ = writeln!(w, "|---|---|---|");
        let verdict = |ok: bool| if ok { "yes" } else { "**no**" };
        let echo = |clients| self.load_row("acknowledgement", crate::plan::ECHO_TARGET, clients);
        let floor = |clients| self.load_row("floor", crate::plan::INSERT_PUBLISH_TARGET, clients);
        match (echo(16), floor(16)) {
            (Some(e), Some(f)) if f.rps > 0.0 => {
                let ratio = e.rps / f.rps;
                let _ = writeln!(
                    w,
                    "| `echo` acknowledgement at 16 clients ≥ 100% of the insert + PUBLISH floor | {:.0}/s against {:.0}/s = {:.0}% | {} |",
                    e.rps,
                    f.rps,
                    ratio * 100.0,
                    verdict(ratio >= 1.0)
                );
            }
            _ => {
                let _ = writeln!(
                    w,
                    "| `echo` acknowledgement at 16 clients ≥ the insert + PUBLISH floor | not measured | |"
                );
            }
        }
        match echo(1) {
            Some(e) => {
                let _ = writeln!(
                    w,
                    "| `echo` acknowledgement at 1 client: p50 ≤ 1.0 ms, p99 ≤ 3 ms | p50 {:.2} ms, p99 {:.2} ms{} | {} |",
                    e.latency.p50_ms,
                    e.latency.p99_ms,
                    floor(1)
                        .map(|f| format!(
                            " (floor: p50 {:.2} ms, p99 {:.2} ms)",
                            f.latency.p50_ms, f.latency.p99_ms
                        ))
                        .unwrap_or_default(),
                    verdict(e.latency.p50_ms <= 1.0 && e.latency.p99_ms <= 3.0)
                );
            }
            None => {
                let _ = writeln!(w, "| `echo` acknowledgement at 1 client | not measured | |");
            }
        }
        if let Some(r) = self.load_row("listing", crate::plan::LIST_TARGET, 16)
            && let Some(reads) = r.redis_reads
        {
            // One MGET for the page, and the store-is-Redis marker read both ways.
            let _ = writeln!(
                w,
                "| `GET /jobs?kind=echo` reads a page of {} records in as few round trips as Spin allows (≤ 3 reads: one `MGET`, the marker both ways) | {:.1} Redis reads per request; {:.0}/s at 16 clients | {} |",
                crate::plan::LIST_PAGE,
                reads,
                r.rps,
                verdict(reads <= 3.0)
            );
        }
        if let Some(r) = self.backlog_median(1) {
            let _ = writeln!(
                w,
                "| 1 worker process drains ≥ 15,000 `echo` jobs/s from a backlog | {:.0}/s{} | {} |",
                r.drain_per_s,
                self.rounds_note(1),
                verdict(r.drain_per_s >= 15_000.0)
            );
        }
        // A round's two drains ran within half a minute of each other, on backlogs of the
        // same size: the verdict takes the round whose ratio is the median.
        // Rounds the host took cores from are left out while others remain.
        let pairs = self.backlog_pairs();
        let read = unstolen(&pairs);
        if let Some((one, two)) = median(&read) {
            let each = if pairs.len() > 1 {
                let mut by_round = pairs.clone();
                by_round.sort_by_key(|(one, _)| one.round);
                let ratios: Vec<String> = by_round
                    .iter()
                    .map(|&(a, b)| {
                        let took = stolen(a).max(stolen(b));
                        format!(
                            "{:.0} / {:.0} = {:.2}×{}",
                            a.drain_per_s,
                            b.drain_per_s,
                            ratio((a, b)),
                            if took >= STOLEN_LIMIT {
                                format!(" (the host took {took:.2} of a core)")
                            } else {
                                String::new()
                            }
                        )
                    })
                    .collect();
                let of = if read.len() < pairs.len() {
                    format!(
                        "the median of the {} the host took under {STOLEN_LIMIT} of a core from",
                        read.len()
                    )
                } else {
                    "the median".to_owned()
                };
                format!(
                    " (round {} of {}, {of}; each round: {})",
                    one.round,
                    pairs.len(),
                    ratios.join(", ")
                )
            } else {
                String::new()
            };
            let busy = match (one.machine_cores, two.machine_cores) {
                (Some(a), Some(b)) => format!(
                    "; the machine's busy cores while draining, of {}: {a:.2} with one, {b:.2} with two",
                    self.machine.nproc
                ),
                _ => String::new(),
            };
            let taken = match (one.machine_stolen, two.machine_stolen) {
                (Some(a), Some(b)) => {
                    format!("; the host took {a:.2} cores meanwhile with one, {b:.2} with two")
                }
                _ => String::new(),
            };
            let _ = writeln!(
                w,
                "| 2 worker processes drain ≥ 1.6× one | {:.0}/s against {:.0}/s = {:.2}×{each}{busy}{taken} | {} |",
                two.drain_per_s,
                one.drain_per_s,
                ratio((one, two)),
                verdict(ratio((one, two)) >= 1.6)
            );
        }
    }
}

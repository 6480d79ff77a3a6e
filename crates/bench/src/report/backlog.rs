//! The backlog rows come in rounds (1, then 2, worker processes on a fresh backlog): which
//! round and which rates the report's verdicts, chart and tables take.

use std::fmt::Write as _;

use serde::Serialize;

use super::{E2eRow, Latency, Report};

/// What one client submitting a delayed `echo` job every [`crate::scenarios::RECEIPT_EVERY`]
/// waited for each `202` while the workers drained a backlog: the scripts the workers run
/// hold Redis, and a submission that arrives meanwhile waits for them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Receipts {
    pub submitted: u64,
    pub errors: u64,
    pub latency: Latency,
}

impl Report {
    /// What Redis did per drained job in the backlog rows, one column pair per row.
    pub(super) fn redis_per_job_table(&self, w: &mut String) {
        let shown = self.shown_backlog_round();
        let rows: Vec<&E2eRow> = self
            .e2e
            .iter()
            .filter(|r| r.backlog && r.round == shown && !r.redis_per_job.is_empty())
            .collect();
        let Some(first) = rows.first() else { return };
        let _ = writeln!(
            w,
            "\nRedis per drained job in the backlog rows of round {} (`INFO commandstats` from \
             the workers' start to the last finish; the bench's `/stats` polls, one script every {} ms, are \
             in it too). `evalsha` is the scripts' whole time; the commands they run are \
             counted again under their own names. Redis's whole CPU per job is in the table \
             above:\n",
            first.round,
            crate::scenarios::STATS_POLL.as_millis()
        );
        let mut head = String::from("| Command |");
        let mut rule = String::from("|---|");
        for r in &rows {
            let _ = write!(
                head,
                " calls, {0} worker(s) | µs, {0} worker(s) |",
                r.workers
            );
            rule.push_str("---:|---:|");
        }
        let _ = writeln!(w, "{head}\n{rule}");
        for c in &first.redis_per_job {
            let mut line = format!("| {} |", c.command);
            for r in &rows {
                match r.redis_per_job.iter().find(|o| o.command == c.command) {
                    Some(o) => {
                        let _ = write!(line, " {:.3} | {:.1} |", o.calls, o.usec);
                    }
                    None => line.push_str(" | |"),
                }
            }
            let _ = writeln!(w, "{line}");
        }
    }

    /// A submission's wait for its `202` during each backlog row's drain.
    pub(super) fn receipts_table(&self, w: &mut String) {
        let rows: Vec<(&E2eRow, &Receipts)> = self
            .e2e
            .iter()
            .filter(|r| r.backlog)
            .filter_map(|r| r.receipts.as_ref().map(|p| (r, p)))
            .collect();
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(
            w,
            "\nA submission while the workers drain: one client submits a delayed `echo` job \
             (it does not join the backlog) every {} ms from the workers' start to the last \
             finish, and waits for its `202`. The workers' scripts hold Redis while they run, \
             and a submission that arrives meanwhile waits for them:\n",
            crate::scenarios::RECEIPT_EVERY.as_millis()
        );
        let _ = writeln!(
            w,
            "| Round | Workers | Submitted | Errors | p50 ms | p90 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|---|"
        );
        for (r, p) in rows {
            let l = &p.latency;
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
                r.round, r.workers, p.submitted, p.errors, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            );
        }
    }

    /// The cores the whole machine kept busy during each backlog row's drain.
    pub(super) fn machine_table(&self, w: &mut String) {
        let rows: Vec<&E2eRow> = self.e2e.iter().filter(|r| r.backlog).collect();
        if rows.iter().all(|r| r.machine_cores.is_none()) {
            return;
        }
        let _ = writeln!(
            w,
            "\nCores the whole machine kept busy (of {}; every process and the kernel, from \
             /proc/stat) while each drain was in full swing: from the first `/stats` poll \
             that saw a job finished to the last that saw one unfinished. Where this nears \
             all the cores, a second worker has no core left to use. Stolen: the cores the \
             host took meanwhile (`steal`: this machine had work for them, and the host ran \
             something else), neither busy nor idle here:\n",
            self.machine.nproc
        );
        let _ = writeln!(
            w,
            "| Round | Workers | Drain/s | Busy cores | Stolen cores |\n|---|---|---:|---:|---:|"
        );
        let cores = |c: Option<f64>| c.map_or("–".to_owned(), |c| format!("{c:.2}"));
        for r in rows {
            let _ = writeln!(
                w,
                "| {} | {} | {:.0} | {} | {} |",
                r.round,
                r.workers,
                r.drain_per_s,
                cores(r.machine_cores),
                cores(r.machine_stolen)
            );
        }
    }

    /// After a median drain rate: of how many rounds, and each round's rate (with what the
    /// host took where that leaves the round out, [`STOLEN_LIMIT`]).
    pub(super) fn rounds_note(&self, workers: usize) -> String {
        let rates: Vec<String> = self
            .e2e
            .iter()
            .filter(|r| r.backlog && r.workers == workers)
            .map(|r| {
                let took = stolen(r);
                if took >= STOLEN_LIMIT {
                    format!("{:.0} (the host took {took:.2} of a core)", r.drain_per_s)
                } else {
                    format!("{:.0}", r.drain_per_s)
                }
            })
            .collect();
        if rates.len() > 1 {
            format!(
                " (median of {} rounds: {}/s)",
                rates.len(),
                rates.join(", ")
            )
        } else {
            String::new()
        }
    }

    pub(super) fn backlog_median(&self, workers: usize) -> Option<&E2eRow> {
        backlog_median(&self.e2e, workers)
    }

    pub(super) fn backlog_pairs(&self) -> Vec<(&E2eRow, &E2eRow)> {
        backlog_pairs(&self.e2e)
    }

    /// The round the report shows in detail (charts, Redis commands): the one whose ratio
    /// of two workers to one is the median of the rounds the verdict reads, else the
    /// first.
    pub fn shown_backlog_round(&self) -> u32 {
        let pairs = self.backlog_pairs();
        median(&unstolen(&pairs))
            .map(|(one, _)| one.round)
            .or_else(|| self.e2e.iter().find(|r| r.backlog).map(|r| r.round))
            .unwrap_or(0)
    }
}

impl E2eRow {
    /// What the row's kind is followed by in the tables: a backlog row's round.
    pub(super) fn label(&self) -> String {
        if self.backlog {
            format!(" (backlog, round {})", self.round)
        } else {
            String::new()
        }
    }
}

/// The middle one of `sorted` (of two middle ones, the lower).
pub(super) fn median<T: Copy>(sorted: &[T]) -> Option<T> {
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

/// The cores the host may take from a backlog row (`steal`) before the verdicts leave
/// the row's round out, while rounds it took less from remain: above it, the host set
/// the rate, not the app (one worker's row of a round on 2026-12-02 lost 0.73 of a core
/// and drained 8,219/s, against 13,793/s in the round before).
pub(super) const STOLEN_LIMIT: f64 = 0.1;

/// The cores the host took from a row, or 0 where the report does not know.
pub(super) fn stolen(row: &E2eRow) -> f64 {
    row.machine_stolen.unwrap_or(0.0)
}

/// The pairs the ratio's verdict reads, in the same order: the rounds whose rows the
/// host took under [`STOLEN_LIMIT`] from, or every round if none.
pub(super) fn unstolen<'a>(pairs: &[(&'a E2eRow, &'a E2eRow)]) -> Vec<(&'a E2eRow, &'a E2eRow)> {
    let clean: Vec<_> = pairs
        .iter()
        .copied()
        .filter(|(one, two)| stolen(one) < STOLEN_LIMIT && stolen(two) < STOLEN_LIMIT)
        .collect();
    if clean.is_empty() {
        pairs.to_vec()
    } else {
        clean
    }
}

/// The backlog row of `workers` worker processes whose drain rate is the median of its
/// rounds: of those the host took under [`STOLEN_LIMIT`] from, if any.
fn backlog_median(rows: &[E2eRow], workers: usize) -> Option<&E2eRow> {
    let all: Vec<&E2eRow> = rows
        .iter()
        .filter(|r| r.backlog && r.workers == workers)
        .collect();
    let mut rows: Vec<&E2eRow> = all
        .iter()
        .copied()
        .filter(|r| stolen(r) < STOLEN_LIMIT)
        .collect();
    if rows.is_empty() {
        rows = all;
    }
    rows.sort_by(|a, b| a.drain_per_s.total_cmp(&b.drain_per_s));
    median(&rows)
}

/// The rounds that drained with 1 and with 2 workers: both rows of each, by the ratio of
/// two workers' rate to one's, lowest first.
fn backlog_pairs(rows: &[E2eRow]) -> Vec<(&E2eRow, &E2eRow)> {
    let row = |round, workers| {
        rows.iter()
            .find(|r| r.backlog && r.round == round && r.workers == workers)
    };
    let mut rounds: Vec<u32> = rows.iter().filter(|r| r.backlog).map(|r| r.round).collect();
    rounds.sort_unstable();
    rounds.dedup();
    let mut pairs: Vec<(&E2eRow, &E2eRow)> = rounds
        .into_iter()
        .filter_map(|round| Some((row(round, 1)?, row(round, 2)?)))
        .filter(|(one, _)| one.drain_per_s > 0.0)
        .collect();
    pairs.sort_by(|a, b| ratio(*a).total_cmp(&ratio(*b)));
    pairs
}

/// Two workers' drain rate over one's, in one round.
pub(super) fn ratio((one, two): (&E2eRow, &E2eRow)) -> f64 {
    two.drain_per_s / one.drain_per_s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backlog(round: u32, workers: usize, drain_per_s: f64) -> E2eRow {
        E2eRow {
            kind: "echo".to_owned(),
            workers,
            backlog: true,
            round,
            drain_per_s,
            ..E2eRow::default()
        }
    }

    #[test]
    fn the_verdicts_take_the_median_round() {
        let rows = vec![
            // A streaming row is no round.
            E2eRow {
                kind: "echo".to_owned(),
                workers: 1,
                drain_per_s: 99_000.0,
                ..E2eRow::default()
            },
            backlog(1, 1, 20_000.0),
            backlog(1, 2, 24_000.0), // 1.2×
            backlog(2, 1, 15_000.0),
            backlog(2, 2, 27_000.0), // 1.8×
            backlog(3, 1, 18_000.0),
            backlog(3, 2, 27_000.0), // 1.5×
            // A round whose second drain failed has no ratio.
            backlog(4, 1, 30_000.0),
        ];
        // 15, 18, 20 and 30 thousand: of the middle two, the lower.
        assert_eq!(backlog_median(&rows, 1).unwrap().drain_per_s, 18_000.0);
        assert_eq!(backlog_median(&rows, 2).unwrap().drain_per_s, 27_000.0);
        let pairs = backlog_pairs(&rows);
        let rounds: Vec<u32> = pairs.iter().map(|(one, _)| one.round).collect();
        assert_eq!(rounds, [1, 3, 2]);
        assert_eq!(median(&pairs).unwrap().0.round, 3);
        assert!(backlog_pairs(&rows[..2]).is_empty());
        assert_eq!(median::<u32>(&[]), None);
        assert_eq!(median(&[1, 2]), Some(1));
    }

    #[test]
    fn rounds_the_host_took_cores_from_are_left_out_while_others_remain() {
        let stolen_from = |mut row: E2eRow, cores: f64| {
            row.machine_stolen = Some(cores);
            row
        };
        let rows = vec![
            backlog(1, 1, 20_000.0),
            backlog(1, 2, 24_000.0), // 1.2×
            // The host took most of a core from one worker's row: 2.0×.
            stolen_from(backlog(2, 1, 12_000.0), 0.73),
            backlog(2, 2, 24_000.0),
            backlog(3, 1, 18_000.0),
            stolen_from(backlog(3, 2, 25_200.0), 0.05), // 1.4×, under the limit
        ];
        let pairs = backlog_pairs(&rows);
        let read: Vec<u32> = unstolen(&pairs).iter().map(|(one, _)| one.round).collect();
        assert_eq!(read, [1, 3]);
        assert_eq!(median(&unstolen(&pairs)).unwrap().0.round, 1);
        // One worker's median leaves out round 2's 12,000/s.
        assert_eq!(backlog_median(&rows, 1).unwrap().drain_per_s, 18_000.0);
        // With every round stolen from, every round counts.
        let all = [
            stolen_from(backlog(1, 1, 20_000.0), 0.5),
            stolen_from(backlog(1, 2, 24_000.0), 0.5),
        ];
        assert_eq!(unstolen(&backlog_pairs(&all)).len(), 1);
        assert_eq!(backlog_median(&all, 2).unwrap().drain_per_s, 24_000.0);
    }
}

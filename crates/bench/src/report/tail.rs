//! The streaming rows' doorbells, and what the workers did after the last job finished.

use std::fmt::Write as _;

use super::{Report, cpu_table};

impl Report {
    pub(super) fn tail_table(&self, w: &mut String) {
        let rows: Vec<_> = self
            .e2e
            .iter()
            .filter_map(|r| r.tail.as_ref().map(|t| (r, t)))
            .collect();
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(
            w,
            "\nDoorbells, and the workers after the last job finished (streaming rows): \
             every doorbell costs each worker process a fresh instance, in turn, so a \
             worker may still be taking them when the jobs are done. *Doorbells* = \
             `PUBLISH`es per finished job (`INFO commandstats`, from the first submission \
             on); *busy after* = seconds from the last job finished until the runtimes and \
             Redis used under 5% of a core over 200 ms (the next row starts only then):\n"
        );
        let _ = writeln!(w, "| Run | Doorbells per job | Busy after, s |");
        let _ = writeln!(w, "|---|---:|---:|");
        for (r, t) in &rows {
            let _ = writeln!(
                w,
                "| {} × {}, {} worker(s) | {:.2} | {:.1}{} |",
                r.jobs,
                r.kind,
                r.workers,
                t.doorbells_per_job,
                t.seconds,
                if t.settled { "" } else { " (not quiet)" }
            );
        }
        let _ = writeln!(
            w,
            "\nCPU per finished job (ms) spent after the last job finished, and the busy cores \
             until the end of the quiet window:\n"
        );
        cpu_table(
            w,
            "Run",
            rows.iter().map(|(r, t)| {
                (
                    format!("{} × {}, {} worker(s)", r.jobs, r.kind, r.workers),
                    &t.cpu,
                )
            }),
        );
    }
}

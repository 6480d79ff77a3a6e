//! The report's "Problems": scenario steps that failed, and rows that ran but whose
//! requests or jobs did not all succeed, so their rates measure something else too.

use std::fmt::Write as _;

use super::{E2eRow, LoadRow, Report, one_line};

impl Report {
    /// Every problem, one line each: the failed steps, then the rows with errors.
    pub fn problem_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .problems
            .iter()
            .map(|p| format!("**{}**: `{}`", p.scenario, one_line(&p.error, 600)))
            .collect();
        lines.extend(row_problems(&self.load, &self.e2e));
        lines
    }

    pub(super) fn problems_section(&self, w: &mut String) {
        let _ = writeln!(w, "\n## Problems\n");
        let lines = self.problem_lines();
        if lines.is_empty() {
            let _ = writeln!(
                w,
                "None: every scenario step ran, and every request and job succeeded."
            );
        }
        for line in lines {
            let _ = writeln!(w, "- {line}");
        }
    }
}

/// The rows that ran but with failed requests, refused submissions, or failed or
/// unfinished jobs.
fn row_problems(load: &[LoadRow], e2e: &[E2eRow]) -> Vec<String> {
    let mut lines = Vec::new();
    for row in load.iter().filter(|r| r.errors > 0) {
        let sample = row.error_samples.first().map_or(String::new(), |e| {
            format!("; the first: `{}`", one_line(e, 300))
        });
        lines.push(format!(
            "**{} {} @{}**: {} of {} requests failed{sample}",
            row.scenario,
            row.target,
            row.clients,
            row.errors,
            row.requests + row.errors
        ));
    }
    for row in e2e {
        if row.submit_errors + row.failed + row.unfinished > 0 {
            lines.push(format!(
                "**{}{} with {} worker(s)**: {} submissions refused, {} jobs failed, {} unfinished",
                row.kind,
                row.label(),
                row.workers,
                row.submit_errors,
                row.failed,
                row.unfinished
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_with_errors_are_problems_and_clean_rows_are_not() {
        let clean = LoadRow {
            scenario: "floor".to_owned(),
            target: "GET /healthz".to_owned(),
            clients: 16,
            requests: 1_000,
            ..LoadRow::default()
        };
        let refused = LoadRow {
            scenario: "acknowledgement".to_owned(),
            target: "POST /jobs echo".to_owned(),
            clients: 16,
            requests: 900,
            errors: 100,
            error_samples: vec!["expected 202, got 429\nToo Many".to_owned()],
            ..LoadRow::default()
        };
        let drained = E2eRow {
            kind: "echo".to_owned(),
            workers: 1,
            succeeded: 10,
            ..E2eRow::default()
        };
        let unfinished = E2eRow {
            kind: "echo".to_owned(),
            workers: 2,
            backlog: true,
            round: 3,
            unfinished: 4,
            ..E2eRow::default()
        };
        let lines = row_problems(&[clean, refused], &[drained, unfinished]);
        assert_eq!(
            lines,
            [
                "**acknowledgement POST /jobs echo @16**: 100 of 1000 requests failed; \
                 the first: `expected 202, got 429 Too Many`",
                "**echo (backlog, round 3) with 2 worker(s)**: 0 submissions refused, \
                 0 jobs failed, 4 unfinished",
            ]
        );
    }
}

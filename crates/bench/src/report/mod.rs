//! The results: one serializable [`Report`] (written as JSON) and its Markdown
//! rendering, with the summary tables, the targets of issue 5 and every problem met.

use std::fmt::Write as _;

mod backlog;
mod fair;
mod problems;
mod retention;
mod tail;
mod targets;

pub use fair::FairRow;
pub use retention::RetentionRow;

pub use backlog::Receipts;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::cpu::CpuCost;
use crate::machine::Machine;
use crate::plan::Plan;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// UTC date of the run, `YYYY-MM-DD`.
    pub date: String,
    /// `devhost`, or the file name of `SPIN_BIN`.
    pub runtime: String,
    /// What `<runtime> --version` printed.
    pub runtime_version: String,
    /// The command as the user typed it (from `make bench`), and the binary's own argv.
    pub command: String,
    pub argv: Vec<String>,
    pub machine: Machine,
    pub started_at: String,
    pub duration_s: f64,
    pub plan: Plan,
    /// Acknowledgement and floor: fixed-duration closed-loop HTTP load.
    pub load: Vec<LoadRow>,
    /// End to end: a fixed number of jobs through intake and workers.
    pub e2e: Vec<E2eRow>,
    /// The same thumbnail inside the request versus submit and poll.
    pub sync_async: Vec<SyncRow>,
    /// Fairness: one tenant's single job behind another's backlog.
    pub fair: Vec<FairRow>,
    /// Retention: finished jobs past their TTL swept by one worker.
    pub retention: Vec<RetentionRow>,
    /// Scenario steps that failed; the run went on without them.
    pub problems: Vec<Problem>,
    /// The chart files written beside the report.
    pub charts: Vec<String>,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadRow {
    /// `acknowledgement` or `floor`.
    pub scenario: String,
    /// What was requested, e.g. `POST /jobs echo`.
    pub target: String,
    pub clients: usize,
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    pub latency: Latency,
    /// CPU per request of each party over the measured window.
    pub cpu: CpuCost,
    pub error_samples: Vec<String>,
    /// Reads Redis served per request (`GET` and `MGET` calls), where counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_reads: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct E2eRow {
    pub kind: String,
    pub workers: usize,
    /// A backlog run: every job was queued before the workers started, so the drain rate
    /// is the workers' alone, with no submission competing for the cores.
    pub backlog: bool,
    /// Backlog rows: the round they belong to, from 1 (0: not a backlog row).
    pub round: u32,
    /// Jobs the run set out to submit.
    pub jobs: u64,
    /// Submissions answered `202`.
    pub accepted: u64,
    pub submit_errors: u64,
    pub submit_seconds: f64,
    pub submit_rps: f64,
    /// Jobs found `succeeded` / `failed` in the records; the rest never finished in time.
    pub succeeded: u64,
    pub failed: u64,
    pub unfinished: u64,
    /// First `created_at` to last `finished_at` of the records.
    pub span_seconds: f64,
    /// Finished jobs per second over that span: what a steady stream gets through.
    pub jobs_per_s: f64,
    /// Finished jobs per second from the first `started_at` to the last `finished_at`:
    /// the workers' own rate.
    pub drain_per_s: f64,
    /// `created_at` to `started_at`, ms.
    pub queue_wait_p50_ms: f64,
    pub queue_wait_p99_ms: f64,
    /// `created_at` to `finished_at`, ms.
    pub total_p50_ms: f64,
    pub total_p99_ms: f64,
    /// CPU per finished job of each party, submission and draining together, until the
    /// last job finished.
    pub cpu: CpuCost,
    /// Streaming rows: the doorbells rung, and what the workers did after the last job
    /// finished.
    pub tail: Option<Tail>,
    /// Backlog rows: what Redis ran per finished job while the workers drained, busiest
    /// first (`INFO commandstats`).
    pub redis_per_job: Vec<RedisCost>,
    /// Backlog rows: a submission's wait for its `202` while the workers drained.
    pub receipts: Option<Receipts>,
    /// Backlog rows: the cores the whole machine kept busy (every process and the kernel)
    /// while the drain was in full swing, from the first `/stats` poll that saw a job
    /// finished to the last that saw one unfinished; none when the drain was too short
    /// for two such polls.
    pub machine_cores: Option<f64>,
    /// Backlog rows: the cores the host took from the machine over the same window
    /// (`steal` in /proc/stat: its cores had work, and the host ran something else).
    pub machine_stolen: Option<f64>,
    pub error_samples: Vec<String>,
}

/// What a streaming row cost after its last job finished: every submission rings the
/// doorbell, and every worker process takes every doorbell in turn, a fresh instance
/// each, so a worker can still be at them when the jobs are long done.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tail {
    /// `PUBLISH`es Redis served per finished job, from the first submission until the
    /// workers were quiet (`INFO commandstats`).
    pub doorbells_per_job: f64,
    /// Seconds from the last job finished until the runtimes and Redis were quiet (under
    /// 5% of a core over 200 ms).
    pub seconds: f64,
    /// Whether they were quiet within a minute.
    pub settled: bool,
    /// CPU per finished job of each party over those seconds.
    pub cpu: CpuCost,
}

/// One Redis command's share of a drain, per finished job.
#[derive(Debug, Clone, Serialize)]
pub struct RedisCost {
    /// Lowercase command name (`evalsha` is a whole script; the commands a script runs
    /// are counted again under their own names).
    pub command: String,
    pub calls: f64,
    pub usec: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncRow {
    /// `sync` (answer = the thumbnail), `async receipt` (answer = 202 and a status URL) or
    /// `async result` (202, polls, then the thumbnail).
    pub mode: String,
    pub clients: usize,
    pub seconds: f64,
    pub ops: u64,
    pub errors: u64,
    pub ops_per_s: f64,
    pub latency: Latency,
    /// CPU per operation of each party.
    pub cpu: CpuCost,
    pub error_samples: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub scenario: String,
    pub error: String,
}

impl Report {
    /// The Markdown report.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let w = &mut md;
        let _ = writeln!(
            w,
            "# async-jobs benchmark: {} on {}",
            self.date, self.runtime
        );
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "{}Command: `{}`  ",
            if self.plan.quick {
                "**Quick run** (`BENCH_QUICK=1`: fewer jobs, shorter runs; indicative only).  \n"
            } else {
                ""
            },
            self.command
        );
        let _ = writeln!(w, "Binary: `{}`  ", self.argv.join(" "));
        let _ = writeln!(
            w,
            "Runtime: {} (`{}`)  ",
            self.runtime, self.runtime_version
        );
        let m = &self.machine;
        let _ = writeln!(
            w,
            "Machine: {} cores ({}), {} memory, Linux {}, {}  ",
            m.nproc, m.cpu_model, m.memory, m.kernel, m.redis
        );
        let _ = writeln!(
            w,
            "Commit: {}; started {} UTC; took {:.0} s  ",
            m.git, self.started_at, self.duration_s
        );
        let _ = writeln!(
            w,
            "Load average (1/5/15 min) at start: {}; at end: {}. Above {} at the start means other work shared the cores and the rates below are low; the CPU cost per request is the steadier number.",
            m.loadavg_start, m.loadavg_end, m.nproc
        );
        if let Some(stolen) = m.stolen_cores {
            let _ = writeln!(
                w,
                "Stolen by the host over the run: {stolen:.2} of {} cores on average (`steal` in /proc/stat: this machine had work for them, and the host ran something else). Near 0 on a quiet host; where it is not, every rate below is low, and two processes hand work to each other late.  ",
                m.nproc
            );
        }
        let _ = writeln!(
            w,
            "Reference loop (one thread, fixed work, best of 3; lower is faster): {:.0} ms at start, {:.0} ms at end. The same code's rates move with it from day to day: compare it before comparing two reports.",
            m.reference_ms_start, m.reference_ms_end
        );
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "Load generator, runtime, worker processes and redis-server all share this machine's \
             cores. Clients are closed-loop (each sends its next request when the last is \
             answered), one keep-alive connection each, on a {}-thread client; \
             only 127.0.0.1. Redis runs without persistence; the key-value store is on the same \
             Redis (runtime config), as `make up` and the tests run it.",
            self.plan.client_threads
        );

        self.targets_section(w);
        self.floor_targets_section(w);
        self.load_section(w);
        self.e2e_section(w);
        self.sync_section(w);
        self.fair_section(w);
        self.retention_section(w);

        if !self.charts.is_empty() {
            let _ = writeln!(w, "\n## Charts\n");
            for chart in &self.charts {
                let _ = writeln!(w, "![{chart}]({chart})");
            }
        }
        self.problems_section(w);
        let _ = writeln!(w, "\n## Plan\n");
        let _ = writeln!(
            w,
            "```json\n{}\n```",
            serde_json::to_string_pretty(&self.plan).unwrap_or_default()
        );
        md
    }

    fn load_row(&self, scenario: &str, target: &str, clients: usize) -> Option<&LoadRow> {
        self.load
            .iter()
            .find(|r| r.scenario == scenario && r.target == target && r.clients == clients)
    }

    fn e2e_row(&self, kind: &str, workers: usize, backlog: bool) -> Option<&E2eRow> {
        self.e2e
            .iter()
            .find(|r| r.kind == kind && r.workers == workers && r.backlog == backlog)
    }

    fn load_section(&self, w: &mut String) {
        let _ = writeln!(w, "\n## Acknowledgement and floor\n");
        let _ = writeln!(
            w,
            "Intake alone (no worker process competing for the cores); fixed duration per \
             row after a warm-up; Redis emptied before each row. `GET /healthz` is one \
             key-value read and one Redis PING: the runtime's floor with I/O; `GET /sync/noop` \
             does nothing: the floor without I/O; `POST /sync/insert-publish` inserts one \
             new key, opens Redis and publishes once: the least an acknowledgement must do. \
             The intake and the floors are WASIp3 components, whose instances Spin 4 reuses \
             (up to 128 requests each). `listing` rows read a page of {} queued `echo` \
             jobs by kind; Redis was emptied and the jobs queued before each.\n",
            crate::plan::LIST_PAGE
        );
        let _ = writeln!(
            w,
            "| Scenario | Request | Clients | Requests | Req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | Errors |"
        );
        let _ = writeln!(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &self.load {
            let l = &r.latency;
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} |",
                r.scenario,
                r.target,
                r.clients,
                r.requests,
                r.rps,
                l.p50_ms,
                l.p90_ms,
                l.p99_ms,
                l.p999_ms,
                l.max_ms,
                r.errors
            );
        }
        let _ = writeln!(
            w,
            "\nCPU per request (ms of CPU time from /proc: the runtime process, redis-server, this load generator) and cores kept busy in all (of {}):\n",
            self.machine.nproc
        );
        cpu_table(
            w,
            "Request",
            self.load
                .iter()
                .map(|r| (format!("{} @{}", r.target, r.clients), &r.cpu)),
        );
        let reads: Vec<String> = self
            .load
            .iter()
            .filter_map(|r| {
                r.redis_reads
                    .map(|n| format!("{:.1} after the row at {} client(s)", n, r.clients))
            })
            .collect();
        if !reads.is_empty() {
            let _ = writeln!(
                w,
                "\nReads Redis served per `{}` request (its `GET` and `MGET` calls from `INFO commandstats`, the median of three sets of 10 requests one after the other after each row): {}.",
                crate::plan::LIST_TARGET,
                reads.join(", ")
            );
        }
        errors_list(
            w,
            self.load.iter().map(|r| {
                (
                    format!("{} {} @{}", r.scenario, r.target, r.clients),
                    &r.error_samples,
                )
            }),
        );
    }

    fn e2e_section(&self, w: &mut String) {
        let _ = writeln!(w, "\n## End to end\n");
        let _ = writeln!(
            w,
            "Intake in one process, workers in their own processes (`--component-id`). All jobs \
             submitted as fast as {} clients can, then the job records are read back \
             (`GET /jobs?status=...`): queue wait = `started_at − created_at`, total = \
             `finished_at − created_at` (millisecond timestamps). Jobs/s = finished jobs over \
             first `created_at` → last `finished_at`; drain/s = over first `started_at` → last \
             `finished_at`. *Backlog* rows queue every job first with no worker running, then \
             start the workers: their drain/s is the workers' own rate.\n",
            self.plan.e2e_clients
        );
        let _ = writeln!(
            w,
            "| Kind | Workers | Jobs | Submit/s | Jobs/s (end to end) | Drain/s | Wait p50 ms | Wait p99 ms | Total p50 ms | Total p99 ms | Failed | Unfinished | Submit errors |"
        );
        let _ = writeln!(
            w,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in &self.e2e {
            let _ = writeln!(
                w,
                "| {}{} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} |",
                r.kind,
                r.label(),
                r.workers,
                r.jobs,
                r.submit_rps,
                r.jobs_per_s,
                r.drain_per_s,
                r.queue_wait_p50_ms,
                r.queue_wait_p99_ms,
                r.total_p50_ms,
                r.total_p99_ms,
                r.failed,
                r.unfinished,
                r.submit_errors
            );
        }
        let _ = writeln!(
            w,
            "\nCPU per finished job (ms), submission and draining together:\n"
        );
        cpu_table(
            w,
            "Run",
            self.e2e.iter().map(|r| {
                (
                    format!(
                        "{} × {}{}, {} worker(s)",
                        r.jobs,
                        r.kind,
                        r.label(),
                        r.workers
                    ),
                    &r.cpu,
                )
            }),
        );
        self.tail_table(w);
        self.redis_per_job_table(w);
        self.machine_table(w);
        self.receipts_table(w);
        errors_list(
            w,
            self.e2e.iter().map(|r| {
                (
                    format!("{} with {} workers", r.kind, r.workers),
                    &r.error_samples,
                )
            }),
        );
    }

    fn sync_section(&self, w: &mut String) {
        let _ = writeln!(w, "\n## Asynchronous versus synchronous (`thumbnail`)\n");
        let _ = writeln!(
            w,
            "{}. *sync*: `POST /sync/thumbnail` does the work in the request (benchmark-only \
             component `bench-sync`) and answers with the image. *async receipt*: `POST /jobs` \
             answers `202` — what the client waits for before it can go on. *async result*: \
             the same submission, then `GET /jobs/{{id}}` every {} ms until it has succeeded, \
             then `GET /jobs/{{id}}/result`. Async runs with {} worker processes at nice {} \
             (`--worker-nice`: on one shared machine it stands in for running the intake and the \
             workers apart, as a deployment does). *echo receipt (probe)*: during each async \
             run, one more client submits an `echo` job every {} ms and times its `202`: a \
             receipt with no payload under the same load.\n",
            self.plan.thumbnail_description,
            self.plan.poll_ms,
            self.plan.sync_workers,
            self.plan.worker_nice,
            self.plan.poll_ms
        );
        let _ = writeln!(
            w,
            "| Mode | Clients | Ops | Ops/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | Errors |"
        );
        let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &self.sync_async {
            let l = &r.latency;
            let _ = writeln!(
                w,
                "| {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} |",
                r.mode,
                r.clients,
                r.ops,
                r.ops_per_s,
                l.p50_ms,
                l.p90_ms,
                l.p99_ms,
                l.p999_ms,
                l.max_ms,
                r.errors
            );
        }
        let _ = writeln!(
            w,
            "\nCPU per operation (ms; async = one whole submit-and-poll cycle):\n"
        );
        cpu_table(
            w,
            "Mode",
            self.sync_async
                .iter()
                // The result row shares the receipt's cycle; the probe is a side client.
                .filter(|r| {
                    r.mode != crate::plan::MODE_RESULT && r.mode != crate::plan::MODE_ECHO_PROBE
                })
                .map(|r| {
                    (
                        format!("{} @{}", r.mode.replace(" receipt", ""), r.clients),
                        &r.cpu,
                    )
                }),
        );
        errors_list(
            w,
            self.sync_async
                .iter()
                .map(|r| (format!("{} @{}", r.mode, r.clients), &r.error_samples)),
        );
    }
}

/// A table of CPU costs, one column per party (in the order first seen).
fn cpu_table<'a>(w: &mut String, what: &str, rows: impl Iterator<Item = (String, &'a CpuCost)>) {
    let rows: Vec<_> = rows.collect();
    let mut parties: Vec<&str> = Vec::new();
    for (_, c) in &rows {
        for p in c.ms_per_op.keys() {
            if !parties.contains(&p.as_str()) {
                parties.push(p);
            }
        }
    }
    // Runtimes first, then redis, then the client.
    parties.sort_by_key(|p| match *p {
        "client" => 2,
        "redis" => 1,
        _ => 0,
    });
    let _ = writeln!(w, "| {what} | {} | busy cores |", parties.join(" | "));
    let _ = writeln!(w, "|---|{}---:|", "---:|".repeat(parties.len()));
    for (name, c) in rows {
        let cells: Vec<String> = parties
            .iter()
            .map(|p| {
                c.ms_per_op
                    .get(*p)
                    .map_or("".to_owned(), |v| format!("{v:.3}"))
            })
            .collect();
        let _ = writeln!(
            w,
            "| {name} | {} | {:.2} |",
            cells.join(" | "),
            c.busy_cores
        );
    }
}

fn errors_list<'a>(w: &mut String, rows: impl Iterator<Item = (String, &'a Vec<String>)>) {
    let mut first = true;
    for (name, samples) in rows {
        for s in samples {
            if first {
                let _ = writeln!(w, "\nError samples:\n");
                first = false;
            }
            let _ = writeln!(w, "- {name}: `{}`", one_line(s, 300));
        }
    }
}

/// `s` on one line, at most `max` characters, backticks removed (it goes in code spans).
pub fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c == '\n' || c == '`' { ' ' } else { c })
        .collect();
    if flat.chars().count() > max {
        let cut: String = flat.chars().take(max).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

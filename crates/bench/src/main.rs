//! `bench`: runs the benchmark of issue 5 and writes the report. `make bench` runs it;
//! see bench/README.md.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, ValueEnum};

use bench::machine::{Machine, command_output};
use bench::plan::Plan;
use bench::report::Report;
use bench::scenarios::{self, Ctx};
use bench::stack::Stack;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// `POST /jobs` (echo, 256 KiB hash), the floor (`/sync/...`, `/healthz`) and the listing (`GET /jobs?kind=`).
    Ack,
    /// Jobs through intake and 1, then 2, worker processes (the backlog rows included).
    E2e,
    /// Only the backlog rows of `e2e`: echo jobs queued first, then drained by 1, then 2,
    /// worker processes.
    Backlog,
    /// `thumbnail` in the request versus submit and poll.
    Sync,
    /// One tenant's single job behind another tenant's backlog.
    Fair,
    /// Finished jobs past their TTL deleted by one worker.
    Retention,
}

#[derive(Debug, Parser)]
#[command(about = "Benchmark async-jobs: acknowledgement, floor, end to end, async versus sync")]
struct Args {
    /// The short version (about a minute): fewer jobs, shorter runs. `BENCH_QUICK=1`
    /// (any value but empty, 0, false, no, off).
    #[arg(long, env = "BENCH_QUICK", value_parser = clap::builder::FalseyValueParser::new())]
    quick: bool,
    /// The runtime binary (`spin` or any binary with the same `up` command line);
    /// default: the devhost release build.
    #[arg(long, env = "SPIN_BIN")]
    runtime_bin: Option<PathBuf>,
    /// The manifest wiring intake, worker and bench-sync.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Where the report and charts go.
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Only these scenarios (repeatable); default: all.
    #[arg(long = "only", value_enum)]
    only: Vec<Scenario>,
    /// Threads of the load generator (1 keeps it from taking a core from the app).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Nice value of the worker processes of the async-versus-sync scenario (0: none). On
    /// one shared machine it stands in for what a deployment gives the intake by running
    /// it apart from the workers (separate pods with their own CPU): background work does
    /// not delay receipts. End-to-end workers run at the default priority: that scenario
    /// measures what the whole pipeline gets through on the shared cores.
    #[arg(long, default_value_t = 10)]
    worker_nice: i32,
    /// Echo jobs queued before the workers start, in the backlog rows (default: 40,000;
    /// 2,000 with `--quick`).
    #[arg(long)]
    backlog_jobs: Option<u64>,
    /// Rounds of backlog rows, each 1 then 2 worker processes on a fresh backlog; the
    /// report's verdicts take the median round (default: 3; 1 with `--quick`; 0: no backlog
    /// rows).
    #[arg(long)]
    backlog_rounds: Option<u32>,
    /// The command to record in the report as the one that was run.
    #[arg(long, env = "BENCH_COMMAND")]
    command: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let root = testkit::workspace_root();
    let manifest = args
        .manifest
        .clone()
        .unwrap_or_else(|| root.join("bench/spin.toml"));
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| root.join("bench/results"));
    let runtime_bin = args
        .runtime_bin
        .clone()
        .filter(|b| !b.as_os_str().is_empty());
    let runtime = runtime_bin
        .as_ref()
        .and_then(|b| b.file_name())
        .map_or_else(
            || "devhost".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
    let bin_path = runtime_bin
        .clone()
        .unwrap_or_else(|| testkit::target_dir().join("release").join("devhost"));
    let runtime_version = command_output(&bin_path.to_string_lossy(), &["--version"])
        .unwrap_or_else(|| "unknown".to_owned());
    let argv: Vec<String> = std::env::args().collect();
    let mut plan = Plan::new(args.quick, args.client_threads.max(1));
    plan.worker_nice = args.worker_nice;
    if let Some(jobs) = args.backlog_jobs {
        plan.backlog_jobs = jobs;
    }
    if let Some(rounds) = args.backlog_rounds {
        plan.backlog_rounds = rounds;
    }

    let date = format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    );
    let mut report = Report {
        date: date.clone(),
        runtime: runtime.clone(),
        runtime_version,
        command: args.command.clone().unwrap_or_else(|| argv.join(" ")),
        argv,
        machine: Machine::probe(),
        started_at: format!(
            "{date} {:02}:{:02}:{:02}",
            now.hour(),
            now.minute(),
            now.second()
        ),
        duration_s: 0.0,
        plan: plan.clone(),
        load: Vec::new(),
        e2e: Vec::new(),
        sync_async: Vec::new(),
        fair: Vec::new(),
        retention: Vec::new(),
        problems: Vec::new(),
        charts: Vec::new(),
    };

    let rt = if plan.client_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(plan.client_threads)
            .enable_all()
            .build()
    }
    .context("start the load generator's runtime")?;

    let wanted = |s: Scenario| args.only.is_empty() || args.only.contains(&s);
    match Stack::start(manifest, runtime_bin, plan.worker_nice) {
        Ok(stack) => {
            let ctx = Ctx {
                rt: &rt,
                stack: &stack,
                plan: &plan,
            };
            if wanted(Scenario::Ack) {
                scenarios::ack_and_floor(&ctx, &mut report);
            }
            if wanted(Scenario::E2e) {
                scenarios::end_to_end(&ctx, &mut report, scenarios::Rows::All);
            } else if args.only.contains(&Scenario::Backlog) {
                scenarios::end_to_end(&ctx, &mut report, scenarios::Rows::Backlog);
            }
            if wanted(Scenario::Fair) {
                scenarios::fairness(&ctx, &mut report);
            }
            if wanted(Scenario::Retention) {
                scenarios::retention(&ctx, &mut report);
            }
            if wanted(Scenario::Sync) {
                scenarios::sync_vs_async(&ctx, &mut report);
            }
        }
        Err(e) => report.problems.push(bench::report::Problem {
            scenario: "start redis-server".into(),
            error: format!("{e:#}"),
        }),
    }

    report.machine.loadavg_end = bench::machine::loadavg();
    report.machine.reference_ms_end = bench::machine::reference_ms();
    std::fs::create_dir_all(&out_dir).with_context(|| format!("create {}", out_dir.display()))?;
    let stem = format!("{date}-{runtime}{}", if plan.quick { "-quick" } else { "" });
    match bench::charts::write_all(&report, &out_dir, &stem) {
        Ok(charts) => report.charts = charts,
        Err(e) => report.problems.push(bench::report::Problem {
            scenario: "charts".into(),
            error: format!("{e:#}"),
        }),
    }
    report.duration_s = started.elapsed().as_secs_f64();
    report.machine.ended();
    let md = out_dir.join(format!("{stem}.md"));
    let json = out_dir.join(format!("{stem}.json"));
    std::fs::write(&md, report.markdown()).with_context(|| format!("write {}", md.display()))?;
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("write {}", json.display()))?;
    // The README shows `latest-<runtime>-*`: a full run replaces its runtime's, a quick
    // one never does.
    if !plan.quick {
        let latest = format!("latest-{runtime}");
        for chart in &report.charts {
            let copy = chart.replacen(&stem, &latest, 1);
            std::fs::copy(out_dir.join(chart), out_dir.join(&copy))
                .with_context(|| format!("copy {chart} to {copy}"))?;
        }
        std::fs::copy(&md, out_dir.join(format!("{latest}.md")))
            .with_context(|| format!("copy {} to {latest}.md", md.display()))?;
    }
    eprintln!(
        "bench: done in {:.0} s; report {} (+ .json, {} charts), {} problem(s)",
        report.duration_s,
        md.display(),
        report.charts.len(),
        report.problem_lines().len()
    );
    Ok(())
}

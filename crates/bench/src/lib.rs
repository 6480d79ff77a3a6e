//! The async-jobs benchmark (issue 5): starts its own redis-server and the app, drives
//! it with a closed-loop load generator, and writes a Markdown + JSON report and PNG
//! charts under `bench/results/`.
//!
//! Layout:
//! - [`plan`]: how much of everything (full run, or `BENCH_QUICK=1`).
//! - [`stack`]: redis-server and runtime processes (intake, workers) via testkit.
//! - [`http`]: one keep-alive HTTP/1.1 connection per simulated client.
//! - [`load`]: closed-loop load with a deadline and a count, into HDR histograms.
//! - [`scenarios`]: acknowledgement and floor, end to end, async versus sync.
//! - [`report`]: the results, as JSON and as Markdown.
//! - [`charts`]: PNG charts of the results.
//! - [`cpu`]: CPU time per request of the runtime, redis-server and the client.
//! - [`machine`]: what it ran on.

pub mod charts;
pub mod cpu;
pub mod http;
pub mod load;
pub mod machine;
pub mod plan;
pub mod report;
pub mod scenarios;
pub mod stack;

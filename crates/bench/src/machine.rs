//! What the numbers were measured on: cores, CPU model, memory, kernel, and the
//! versions of what ran.

use std::process::Command;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Cores available to this process (`nproc`).
    pub nproc: usize,
    /// `model name` of /proc/cpuinfo.
    pub cpu_model: String,
    /// `MemTotal` of /proc/meminfo.
    pub memory: String,
    /// /proc/sys/kernel/osrelease.
    pub kernel: String,
    /// `redis-server --version`.
    pub redis: String,
    /// `git describe`-like: the commit and whether the tree had changes.
    pub git: String,
    /// /proc/loadavg when the run started: anything else running skews every number.
    pub loadavg_start: String,
    /// /proc/loadavg when it ended.
    pub loadavg_end: String,
}

/// The 1, 5 and 15-minute load averages.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

impl Machine {
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_else(|| "unknown".to_owned())
        };
        let dirty =
            command_output("git", &["status", "--porcelain"]).is_some_and(|s| !s.trim().is_empty());
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: field(&cpuinfo, "model name"),
            memory: field(&meminfo, "MemTotal"),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned()),
            redis: command_output("redis-server", &["--version"])
                .unwrap_or_else(|| "unknown".to_owned()),
            git: command_output("git", &["rev-parse", "--short=12", "HEAD"]).map_or_else(
                || "unknown".to_owned(),
                |c| {
                    if dirty {
                        format!("{c} (with uncommitted changes)")
                    } else {
                        c
                    }
                },
            ),
            loadavg_start: loadavg(),
            loadavg_end: String::new(),
        }
    }
}

/// The first line of a command's stdout, if it ran.
pub fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.lines().next().unwrap_or("").trim().to_owned())
}

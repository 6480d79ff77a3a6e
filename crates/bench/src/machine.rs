//! What the numbers were measured on: cores, CPU model, memory, kernel, and the
//! versions of what ran.

use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use crate::cpu::MachineTime;

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
    /// [`reference_ms`] when the run started.
    pub reference_ms_start: f64,
    /// [`reference_ms`] when it ended.
    pub reference_ms_end: f64,
    /// The cores the host took from this machine over the whole run, on average (`steal`
    /// in /proc/stat: its cores had work, and the host ran something else on them); set
    /// by [`Machine::ended`], none where /proc/stat does not say.
    pub stolen_cores: Option<f64>,
    /// When the run started, and the machine's CPU time then.
    #[serde(skip)]
    started: Option<(Instant, MachineTime)>,
}

/// Steps of the reference loop: 77 to 103 ms on this machine class (2026-12-01).
const REFERENCE_STEPS: u32 = 5_000_000;

/// Milliseconds one thread takes for a fixed piece of work (random writes into 16 MiB,
/// best of three): how fast the cores ran that day. The same code measured on the same
/// machine class can move by half from one day to the next (the worker's CPU per job
/// did), so reports are compared after comparing this.
pub fn reference_ms() -> f64 {
    let mut buffer = vec![0u64; 2 << 20];
    let mask = buffer.len() as u64 - 1;
    (0..3)
        .map(|_| {
            let start = std::time::Instant::now();
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            for _ in 0..REFERENCE_STEPS {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buffer[(x & mask) as usize] = buffer[(x & mask) as usize].wrapping_add(x);
            }
            std::hint::black_box(&buffer);
            start.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
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
            reference_ms_start: reference_ms(),
            reference_ms_end: 0.0,
            stolen_cores: None,
            started: MachineTime::now().map(|t| (Instant::now(), t)),
        }
    }

    /// At the end of the run: the load average, and the cores stolen since it started.
    pub fn ended(&mut self) {
        self.loadavg_end = loadavg();
        if let (Some((at, then)), Some(now)) = (self.started, MachineTime::now()) {
            self.stolen_cores = now
                .cores_since(&then, at.elapsed().as_secs_f64())
                .map(|c| c.stolen);
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

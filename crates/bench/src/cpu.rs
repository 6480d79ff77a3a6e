//! Where the CPU goes: user + system time of the runtime's process group, of
//! redis-server and of the load generator itself, read from /proc before and after a
//! run. Divided by the requests served, it says what one request costs each party,
//! which is what limits throughput on a machine they all share.

use std::collections::BTreeMap;

use serde::Serialize;

/// Something to measure: a process group (a runtime and any trigger processes it
/// starts) or one process.
#[derive(Debug, Clone, Copy)]
pub enum Who {
    Group(i32),
    Pid(i32),
    Me,
}

/// CPU seconds used so far by each named party.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    seconds: BTreeMap<String, f64>,
}

/// Per-operation CPU cost of each party over a run, and how many cores were busy.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuCost {
    /// Milliseconds of CPU per operation, by party.
    pub ms_per_op: BTreeMap<String, f64>,
    /// CPU seconds of all parties over wall seconds.
    pub busy_cores: f64,
}

fn ticks_per_second() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        crate::machine::command_output("getconf", &["CLK_TCK"])
            .and_then(|s| s.parse().ok())
            .unwrap_or(100.0)
    })
}

/// `(pgrp, utime + stime)` of one /proc/PID/stat.
fn stat_of(path: &str) -> Option<(i32, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    // The command name may hold spaces; fields are counted after its closing paren.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) pgrp(5) ... utime(14) stime(15), 1-based.
    let pgrp = fields.get(2)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((pgrp, utime + stime))
}

fn ticks(who: Who) -> u64 {
    match who {
        Who::Me => stat_of("/proc/self/stat").map_or(0, |s| s.1),
        Who::Pid(pid) => stat_of(&format!("/proc/{pid}/stat")).map_or(0, |s| s.1),
        Who::Group(pgid) => std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            })
            .filter_map(|e| stat_of(&format!("{}/stat", e.path().display())))
            .filter(|(pgrp, _)| *pgrp == pgid)
            .map(|(_, t)| t)
            .sum(),
    }
}

impl Snapshot {
    pub fn take(parties: &[(String, Who)]) -> Snapshot {
        let tck = ticks_per_second();
        Snapshot {
            seconds: parties
                .iter()
                .map(|(name, who)| (name.clone(), ticks(*who) as f64 / tck))
                .collect(),
        }
    }

    /// The cost per operation between `self` (before) and `after`.
    pub fn cost(&self, after: &Snapshot, ops: u64, wall_seconds: f64) -> CpuCost {
        let mut cost = CpuCost::default();
        let mut total = 0.0;
        for (name, before) in &self.seconds {
            let used = (after.seconds.get(name).copied().unwrap_or(*before) - before).max(0.0);
            total += used;
            if ops > 0 {
                cost.ms_per_op
                    .insert(name.clone(), used * 1000.0 / ops as f64);
            }
        }
        if wall_seconds > 0.0 {
            cost.busy_cores = total / wall_seconds;
        }
        cost
    }
}

/// The whole machine's CPU seconds so far, over all its cores, from /proc/stat. Over wall
/// seconds, a difference of two is cores.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MachineTime {
    /// Running this machine's work: every process and the kernel (interrupts included),
    /// which the parties above leave out.
    pub busy: f64,
    /// Stolen: a virtual machine's cores had work, and the host ran something else on
    /// them (`steal`). Neither busy nor idle; on a shared host it comes in bursts.
    pub stolen: f64,
}

impl MachineTime {
    /// Now, from /proc/stat.
    pub fn now() -> Option<MachineTime> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let (busy, stolen) = machine_ticks(text.lines().next()?)?;
        let tick = ticks_per_second();
        Some(MachineTime {
            busy: busy as f64 / tick,
            stolen: stolen as f64 / tick,
        })
    }

    /// From `earlier` to this one, per second of `wall`: cores.
    pub fn cores_since(&self, earlier: &MachineTime, wall: f64) -> Option<MachineTime> {
        (wall > 0.0).then(|| MachineTime {
            busy: (self.busy - earlier.busy) / wall,
            stolen: (self.stolen - earlier.stolen) / wall,
        })
    }
}

/// The busy and the stolen ticks of the `cpu` line of /proc/stat: busy is all but idle,
/// iowait and steal (guest time is counted in user already).
fn machine_ticks(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let ticks: Vec<u64> = fields.map(|f| f.parse().ok()).collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    let [user, nice, system, _idle, _iowait, irq, softirq, steal, ..] = ticks[..] else {
        return None;
    };
    Some((user + nice + system + irq + softirq, steal))
}

/// The pid of the redis-server listening on `port`, found by its command line.
pub fn redis_pid(port: u16) -> Option<i32> {
    let needle = format!(":{port}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_string_lossy().parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let is_ours = cmdline.contains("redis-server")
            && (cmdline.contains(&needle) || cmdline.contains(&format!("--port {port}")));
        is_ours.then_some(pid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_ticks_keep_steal_apart_and_leave_out_idle_and_iowait() {
        let line = "cpu  467925 217 60804 6223895 1668 0 8278 82 0 0";
        assert_eq!(
            machine_ticks(line),
            Some((467_925 + 217 + 60_804 + 8_278, 82))
        );
        // A core's own line, a short line or a bad number is not the total.
        assert_eq!(machine_ticks("cpu0 1 2 3 4 5 6 7 8 0 0"), None);
        assert_eq!(machine_ticks("cpu  1 2 3"), None);
        assert_eq!(machine_ticks("cpu  1 2 x 4 5 6 7 8"), None);
        assert!(MachineTime::now().is_some_and(|t| t.busy > 0.0));
    }

    #[test]
    fn cores_are_seconds_over_wall_seconds() {
        let (a, b) = (
            MachineTime {
                busy: 10.0,
                stolen: 1.0,
            },
            MachineTime {
                busy: 13.0,
                stolen: 2.5,
            },
        );
        let cores = b.cores_since(&a, 2.0).unwrap();
        assert_eq!((cores.busy, cores.stolen), (1.5, 0.75));
        assert_eq!(b.cores_since(&a, 0.0), None);
    }
}

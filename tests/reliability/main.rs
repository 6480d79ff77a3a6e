//! Reliability: no job lost, none run twice (docs/architecture.md, "One job, step by step"), proved with real
//! processes on a real `redis-server`: the intake and each worker run as separate runtime
//! processes (`--component-id`), the key-value store lives on the test's own Redis, and
//! tests kill processes (SIGKILL) and Redis itself.
//!
//! Run: `cargo test --release -p e2e --test reliability -- --nocapture` (after `make
//! build`); the numbers (time to drain, attempts histograms) are printed to stderr.
//!
//! The long runs are sized by environment variables; the defaults keep the whole binary
//! within a few minutes on 2 cores and still prove the point:
//!
//! | Variable | Default | Run |
//! |---|---|---|
//! | `RELIABILITY_JOBS` | 2000 | `count` jobs on three workers |
//! | `RELIABILITY_KILL_JOBS` | 2000 | `count` jobs on three workers, one killed twice |
//! | `LOST_DOORBELL_JOBS` | 200 | jobs submitted while no worker listens |
//! | `RESTART_JOBS` | 300 | jobs across a Redis restart |
//! | `RETENTION_JOBS` | 10000 | short jobs that must expire (`job_ttl_seconds=2`) |
//! | `RELIABILITY_SEED` | the clock | where the workers are killed |
//!
//! Contents:
//! - [`crash`]: a worker killed mid-job; the job finishes on a new one, with 2 attempts.
//! - [`delayed`]: a delayed job starts on time with nobody polling, on one worker and on
//!   three.
//! - [`doorbells`]: a burst of submissions rings fewer doorbells than it has jobs, and
//!   waves of jobs, each submitted just after the last ran, all run with nobody polling.
//! - [`lost_doorbell`]: jobs submitted while no worker listens run once one starts.
//! - [`replicas`]: three workers share the queue: every job runs exactly once, and with
//!   a worker killed twice, each job's executions equal its attempts.
//! - [`redis_restart`]: Redis killed and restarted mid-run: every accepted job finishes.
//! - [`side_by_side`]: runs side by side on three workers keep their leases while quick
//!   jobs pass them; an outcome kept back past its lease never overwrites another's.
//! - [`retention`]: finished jobs, results and idempotency keys expire; storage returns
//!   to its size before the run.
//! - [`drain_endpoint`]: `POST /internal/drain`: hidden without the token, drains with it.
//! - [`test_kinds`]: the test-only `count` kind exists only when enabled.
//! - [`common`]: run sizes, waiting for the queue to drain, histograms.

mod common;
mod crash;
mod delayed;
mod doorbells;
mod drain_endpoint;
mod lost_doorbell;
mod redis_restart;
mod replicas;
mod retention;
mod side_by_side;
mod test_kinds;

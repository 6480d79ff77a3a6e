//! `count` (test only): counts each execution in shared counters, then optionally waits.
//! It exists so end-to-end tests can prove from outside how many times work really ran
//! ("no job lost, none run twice"); it is offered only when `enable_test_kinds` is on.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::job::JobId;
use crate::kind::{InvalidInput, JobKind, Output, RunContext, RunError, Running};

/// Input: `{"ms": 0..=60000, "stall_ms": 0..=60000}` (both optional, default 0). Result:
/// `{"executions": n, "total": t, "attempt": a}`.
///
/// Each run first adds one, atomically, to the counter [`TOTAL`] and to the job's own
/// counter ([`per_job`]), then, on the first attempt only, blocks the instance for
/// `stall_ms` without a heartbeat (so tests can make a lease expire under a computation),
/// then waits `ms` (so tests can crash a worker mid-run). It is not a waiting kind: its
/// wait holds the instance as computing would. Counting
/// first keeps the window between "the worker recorded the attempt" and "the execution
/// was counted" as short as one round trip.
pub struct Count;

/// The counter of every execution of every `count` job.
pub const TOTAL: &str = "total";
/// Longest wait after counting.
pub const MAX_MS: u64 = 60_000;

/// The counter of one job's executions.
pub fn per_job(id: &JobId) -> String {
    format!("job:{}", id.as_str())
}

/// The input of `count`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountInput {
    /// Wait after counting, in milliseconds.
    #[serde(default)]
    #[schemars(range(min = 0, max = MAX_MS))]
    pub ms: u64,
    /// Block the instance on the first attempt, in milliseconds.
    #[serde(default)]
    #[schemars(range(min = 0, max = MAX_MS))]
    pub stall_ms: u64,
}

/// The result of `count`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CountResult {
    /// This job's executions so far, this one included.
    pub executions: u64,
    /// Executions of every `count` job so far.
    pub total: u64,
    pub attempt: u32,
}

impl JobKind for Count {
    const NAME: &'static str = "count";
    type Input = CountInput;
    type Result = CountResult;

    fn check(&self, input: &CountInput) -> Result<(), InvalidInput> {
        super::in_range("ms", input.ms, 0..=MAX_MS)?;
        super::in_range("stall_ms", input.stall_ms, 0..=MAX_MS).map(drop)
    }

    fn run<'a>(&'a self, input: CountInput, ctx: &'a mut dyn RunContext) -> Running<'a> {
        Box::pin(async move {
            let CountInput { ms, stall_ms } = input;
            let id = ctx.job_id().ok_or_else(|| {
                RunError::Permanent("count needs a host that names the running job".into())
            })?;
            let counter = ctx
                .counter()
                .ok_or_else(|| RunError::Permanent("this host lends no counters".into()))?;
            let job = per_job(&id);
            let counts = counter
                .incr(&[TOTAL, &job])
                .map_err(|e| RunError::Transient(format!("counting the execution: {e}")))?;
            let &[total, executions] = counts.as_slice() else {
                return Err(RunError::Transient(format!(
                    "counting the execution: expected 2 counts, got {counts:?}"
                )));
            };
            if stall_ms > 0 && ctx.attempt() == 1 {
                // Blocks the whole instance, no heartbeat: a computation outliving its lease.
                std::thread::sleep(Duration::from_millis(stall_ms));
            }
            if ms > 0 {
                ctx.sleep(Duration::from_millis(ms)).await;
            }
            Ok(Output::json(&CountResult {
                executions,
                total,
                attempt: ctx.attempt(),
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;
    use crate::kind::testing::{TestContext, finish};
    use crate::kind::{Cancelled, Counter};
    use crate::memory::MemoryCounter;
    use serde_json::Value;
    use serde_json::json;

    /// A context that names the job and lends counters, as the worker does.
    struct Counting<'a> {
        inner: TestContext,
        id: JobId,
        counter: &'a MemoryCounter,
    }

    impl RunContext for Counting<'_> {
        fn attempt(&self) -> u32 {
            self.inner.attempt()
        }
        fn progress(&mut self, percent: u8, message: Option<&str>) -> Result<(), Cancelled> {
            self.inner.progress(percent, message)
        }
        fn sleep(
            &mut self,
            duration: Duration,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
            self.inner.sleep(duration)
        }
        fn job_id(&self) -> Option<JobId> {
            Some(self.id)
        }
        fn counter(&self) -> Option<&dyn Counter> {
            Some(self.counter)
        }
    }

    #[test]
    fn each_run_counts_once_in_total_and_per_job_then_waits() {
        let counter = MemoryCounter::new();
        let (a, b) = (JobId::new(), JobId::new());
        let mut ctx = Counting {
            inner: TestContext::new(),
            id: a,
            counter: &counter,
        };
        finish(Kind::run(&Count, &json!({"ms": 250}), &mut ctx)).unwrap();
        let out = finish(Kind::run(&Count, &json!({}), &mut ctx)).unwrap();
        assert_eq!(ctx.inner.slept, Duration::from_millis(250));
        assert_eq!(
            serde_json::from_slice::<Value>(&out.bytes).unwrap(),
            json!({"executions": 2, "total": 2, "attempt": 1})
        );
        ctx.id = b;
        finish(Kind::run(&Count, &json!({"ms": 0}), &mut ctx)).unwrap();
        assert_eq!(counter.get(TOTAL), 3);
        assert_eq!(counter.get(&per_job(&a)), 2);
        assert_eq!(counter.get(&per_job(&b)), 1);
    }

    #[test]
    fn without_counters_the_run_fails_for_good_and_when_they_fail_it_is_retried() {
        let err = finish(Kind::run(&Count, &json!({}), &mut TestContext::new())).unwrap_err();
        assert!(matches!(err, RunError::Permanent(_)), "{err:?}");

        let counter = MemoryCounter::new();
        counter.set_down(true);
        let mut ctx = Counting {
            inner: TestContext::new(),
            id: JobId::new(),
            counter: &counter,
        };
        let err = finish(Kind::run(&Count, &json!({}), &mut ctx)).unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
    }

    #[test]
    fn count_refuses_bad_waits() {
        for input in [
            json!({"ms": -1}),
            json!({"ms": MAX_MS + 1}),
            json!({"n": 1}),
            json!(1),
        ] {
            assert!(Count.validate(&input).is_err(), "{input}");
        }
        assert_eq!(Count.validate(&json!({})), Ok(()));
        assert_eq!(Count.validate(&json!({"ms": MAX_MS})), Ok(()));
    }
}

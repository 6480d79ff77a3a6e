//! `sleep`: waits `ms` milliseconds, reporting progress and stopping when cancelled. A
//! stand-in for slow I/O: it [waits](Kind::waits), so a worker runs several side by side.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::{InvalidInput, JobKind, Output, RunContext, Running};

/// Input: `{"ms": 0..=600000}`. Result: `{"slept_ms": ms}`.
///
/// Sleeps in slices of at most [`SLICE_MS`]. Each progress report costs the worker a
/// record write and a lease renewal, so it reports only when the percentage changes or
/// [`REPORT_EVERY_MS`] have passed; either way often enough to renew the shortest lease
/// and to notice a cancel within half a second.
pub struct Sleep;

pub const MAX_MS: u64 = 600_000;
pub const SLICE_MS: u64 = 100;
pub const REPORT_EVERY_MS: u64 = 500;

/// The input of `sleep`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SleepInput {
    /// How long to wait, in milliseconds.
    #[schemars(range(min = 0, max = MAX_MS))]
    pub ms: u64,
}

/// The result of `sleep`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SleepResult {
    pub slept_ms: u64,
}

impl JobKind for Sleep {
    const NAME: &'static str = "sleep";
    const WAITS: bool = true;
    type Input = SleepInput;
    type Result = SleepResult;

    fn check(&self, input: &SleepInput) -> Result<(), InvalidInput> {
        super::in_range("ms", input.ms, 0..=MAX_MS).map(drop)
    }

    fn run<'a>(&'a self, input: SleepInput, ctx: &'a mut dyn RunContext) -> Running<'a> {
        Box::pin(async move {
            let total = input.ms;
            let mut slept = 0;
            let mut reported_percent = 0;
            let mut since_report = 0;
            while slept < total {
                let slice = SLICE_MS.min(total - slept);
                ctx.sleep(Duration::from_millis(slice)).await;
                slept += slice;
                since_report += slice;
                let percent = u8::try_from(slept * 100 / total).unwrap_or(100);
                if slept < total && (percent != reported_percent || since_report >= REPORT_EVERY_MS)
                {
                    ctx.progress(percent, Some("sleeping"))?;
                    reported_percent = percent;
                    since_report = 0;
                }
            }
            Ok(Output::json(&SleepResult { slept_ms: total }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use crate::kind::Kind;
    use crate::kind::RunError;
    use crate::kind::testing::{TestContext, finish};
    use serde_json::Value;

    #[test]
    fn sleep_waits_the_whole_time_and_says_so() {
        let mut ctx = TestContext::new();
        let out = finish(Kind::run(&Sleep, &json!({"ms": 1234}), &mut ctx)).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&out.bytes).unwrap(),
            json!({"slept_ms": 1234})
        );
        assert_eq!(ctx.slept, Duration::from_millis(1234));
        let percents = ctx.percents();
        assert!(!percents.is_empty());
        assert!(percents.windows(2).all(|w| w[0] < w[1]), "{percents:?}");
        assert!(percents.iter().all(|&p| p < 100));
    }

    #[test]
    fn sleep_of_zero_returns_at_once() {
        let mut ctx = TestContext::new();
        finish(Kind::run(&Sleep, &json!({"ms": 0}), &mut ctx)).unwrap();
        assert_eq!(ctx.slept, Duration::ZERO);
        assert!(ctx.reports.is_empty());
    }

    #[test]
    fn a_long_sleep_reports_at_least_twice_a_second_but_not_every_slice() {
        let mut ctx = TestContext::new();
        finish(Kind::run(&Sleep, &json!({"ms": MAX_MS}), &mut ctx)).unwrap();
        let reports = ctx.reports.len() as u64;
        assert!(reports >= MAX_MS / REPORT_EVERY_MS - 1, "{reports}");
        assert!(reports < MAX_MS / SLICE_MS / 2, "{reports}");
    }

    #[test]
    fn sleep_stops_when_cancelled() {
        let mut ctx = TestContext::new().cancelled_after(3);
        let err = finish(Kind::run(&Sleep, &json!({"ms": 10_000}), &mut ctx)).unwrap_err();
        assert_eq!(err, RunError::Cancelled);
        assert!(ctx.slept < Duration::from_millis(10_000));
    }

    #[test]
    fn sleep_refuses_bad_durations() {
        for input in [
            json!({}),
            json!({"ms": -1}),
            json!({"ms": 600_001}),
            json!({"ms": "100"}),
            json!({"ms": 1.5}),
            json!({"ms": 1, "extra": 2}),
            json!(100),
        ] {
            assert!(Sleep.validate(&input).is_err(), "{input}");
        }
        assert_eq!(Sleep.validate(&json!({"ms": 600_000})), Ok(()));
    }
}

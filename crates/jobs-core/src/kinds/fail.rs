//! `fail`: fails on purpose, a given number of times or always, then succeeds. For
//! tests and demos of retries, backoff and dead jobs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::{InvalidInput, JobKind, Output, RunContext, RunError, Running};

/// Input: `{"fail_times": 0..=25, "permanent": bool = false, "always": bool = false,
/// "message"?: string}`.
///
/// Attempt `n` fails while `n <= fail_times` (or on every attempt when `always`), with a
/// transient error unless `permanent`; otherwise it succeeds with `{"attempts": n}`.
/// `fail_times` defaults to 0, so `{"always": true}` alone is enough.
pub struct Fail;

const MAX_MESSAGE_CHARS: usize = 1000;
const MAX_FAIL_TIMES: u64 = 25;

/// The input of `fail`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailInput {
    /// Fail attempts 1 to `fail_times`.
    #[serde(default)]
    #[schemars(range(min = 0, max = MAX_FAIL_TIMES))]
    pub fail_times: u64,
    /// Fail with a permanent error (never retried) rather than a transient one.
    #[serde(default)]
    pub permanent: bool,
    /// Fail on every attempt.
    #[serde(default)]
    pub always: bool,
    /// The error message.
    #[schemars(length(max = MAX_MESSAGE_CHARS))]
    pub message: Option<String>,
}

/// The result of `fail`, once an attempt got through.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FailResult {
    /// The attempt that succeeded.
    pub attempts: u32,
}

impl JobKind for Fail {
    const NAME: &'static str = "fail";
    type Input = FailInput;
    type Result = FailResult;

    fn check(&self, input: &FailInput) -> Result<(), InvalidInput> {
        super::in_range("fail_times", input.fail_times, 0..=MAX_FAIL_TIMES)?;
        if input
            .message
            .as_ref()
            .is_some_and(|m| m.chars().count() > MAX_MESSAGE_CHARS)
        {
            return Err(InvalidInput::field(
                "message",
                format!("must be at most {MAX_MESSAGE_CHARS} characters"),
            ));
        }
        Ok(())
    }

    fn run<'a>(&'a self, p: FailInput, ctx: &'a mut dyn RunContext) -> Running<'a> {
        Box::pin(async move {
            let attempt = ctx.attempt();
            if p.always || u64::from(attempt) <= p.fail_times {
                let message = p
                    .message
                    .unwrap_or_else(|| format!("failing on purpose (attempt {attempt})"));
                return Err(if p.permanent {
                    RunError::Permanent(message)
                } else {
                    RunError::Transient(message)
                });
            }
            Ok(Output::json(&FailResult { attempts: attempt }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use crate::kind::Kind;
    use crate::kind::testing::{TestContext, finish};
    use serde_json::Value;

    fn run(input: Value, attempt: u32) -> Result<Value, RunError> {
        finish(Kind::run(&Fail, &input, &mut TestContext::attempt(attempt)))
            .map(|out| serde_json::from_slice(&out.bytes).unwrap())
    }

    #[test]
    fn fail_fails_transiently_for_the_first_attempts_then_succeeds() {
        let input = json!({"fail_times": 2});
        assert!(matches!(run(input.clone(), 1), Err(RunError::Transient(_))));
        assert!(matches!(run(input.clone(), 2), Err(RunError::Transient(_))));
        assert_eq!(run(input, 3), Ok(json!({"attempts": 3})));
    }

    #[test]
    fn fail_with_no_options_succeeds_at_once() {
        assert_eq!(run(json!({}), 1), Ok(json!({"attempts": 1})));
    }

    #[test]
    fn fail_permanent_and_always_with_a_message() {
        let input = json!({"always": true, "permanent": true, "message": "nope"});
        assert_eq!(run(input, 20), Err(RunError::Permanent("nope".into())));
        let input = json!({"always": true});
        assert!(matches!(run(input, 25), Err(RunError::Transient(m)) if m.contains("25")));
    }

    #[test]
    fn fail_refuses_bad_options() {
        for (input, field) in [
            (json!({"fail_times": 26}), Some("fail_times")),
            (json!({"fail_times": -1}), Some("fail_times")),
            (json!({"permanent": "yes"}), Some("permanent")),
            (json!({"always": 1}), Some("always")),
            (json!({"message": 5}), Some("message")),
            (json!({"message": "x".repeat(1001)}), Some("message")),
            (json!({"times": 1}), Some("times")),
            (json!("fail"), None),
        ] {
            let err = Fail.validate(&input).unwrap_err();
            assert_eq!(err.field.as_deref(), field, "{input}");
        }
    }
}

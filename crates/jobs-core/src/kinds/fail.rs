//! `fail`: fails on purpose, a given number of times or always, then succeeds. For
//! tests and demos of retries, backoff and dead jobs.

use serde_json::{Value, json};

use super::Fields;
use crate::kind::{InvalidInput, Kind, Output, RunContext, RunError, Running};

/// Input: `{"fail_times": 0..=25, "permanent": bool = false, "always": bool = false,
/// "message"?: string}`.
///
/// Attempt `n` fails while `n <= fail_times` (or on every attempt when `always`), with a
/// transient error unless `permanent`; otherwise it succeeds with `{"attempts": n}`.
/// `fail_times` defaults to 0, so `{"always": true}` alone is enough.
pub struct Fail;

const FIELDS: &[&str] = &["fail_times", "permanent", "always", "message"];
const MAX_MESSAGE_CHARS: usize = 1000;

struct Params<'a> {
    fail_times: u64,
    permanent: bool,
    always: bool,
    message: Option<&'a str>,
}

fn parse(input: &Value) -> Result<Params<'_>, InvalidInput> {
    let f = Fields::of(input, FIELDS)?;
    let message = f.str_opt("message")?;
    if message.is_some_and(|m| m.chars().count() > MAX_MESSAGE_CHARS) {
        return Err(InvalidInput::field(
            "message",
            format!("must be at most {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    Ok(Params {
        fail_times: f.u64_in("fail_times", 0..=25, Some(0))?,
        permanent: f.bool_or("permanent", false)?,
        always: f.bool_or("always", false)?,
        message,
    })
}

impl Kind for Fail {
    fn name(&self) -> &'static str {
        "fail"
    }

    fn validate(&self, input: &Value) -> Result<(), InvalidInput> {
        parse(input).map(drop)
    }

    fn run<'a>(&'a self, input: &'a Value, ctx: &'a mut dyn RunContext) -> Running<'a> {
        Box::pin(async move {
            let p = parse(input).map_err(super::revalidation_failed)?;
            let attempt = ctx.attempt();
            if p.always || u64::from(attempt) <= p.fail_times {
                let message = p
                    .message
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("failing on purpose (attempt {attempt})"));
                return Err(if p.permanent {
                    RunError::Permanent(message)
                } else {
                    RunError::Transient(message)
                });
            }
            Ok(Output::json(&json!({ "attempts": attempt })))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::testing::{TestContext, finish};

    fn run(input: Value, attempt: u32) -> Result<Value, RunError> {
        finish(Fail.run(&input, &mut TestContext::attempt(attempt)))
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

//! What a job kind is: the [`Kind`] trait (validate at intake, run in the worker), what a
//! run may ask of its host ([`RunContext`], and the [`Counter`] capability it may lend),
//! and what it returns. The kinds themselves, and the registry of kinds by name, live in
//! `crate::kinds`.
//!
//! No I/O here: a kind computes; the worker (through the ports) stores and reports.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

use crate::job::{ErrorInfo, JobId};
use crate::ports::PortError;

/// A kind of work, written against its typed input: what a kind's author implements
/// (docs/kinds.md). Every `JobKind` is a [`Kind`]: at intake its input is parsed into
/// [`JobKind::Input`] with serde (give the type `#[serde(deny_unknown_fields)]`, so a
/// misspelt option is a `422`, not silently ignored) and [checked](JobKind::check);
/// before a run it is parsed and checked again, and `run` receives the value.
pub trait JobKind: Send + Sync + 'static {
    /// The name clients put in `kind`, e.g. `"thumbnail"`.
    const NAME: &'static str;
    /// Whether the kind mostly waits rather than computes (see [`Kind::waits`]).
    const WAITS: bool = false;
    /// The input, as clients send it. Its JSON Schema is the kind's input in the OpenAPI
    /// description (`GET /openapi.json`), so declare on the type, with `#[schemars(...)]`,
    /// what [`check`](JobKind::check) enforces where a schema can say it (ranges,
    /// lengths).
    type Input: DeserializeOwned + JsonSchema;
    /// What a successful run returns, as the OpenAPI description shows it: the type
    /// `run` serializes with [`Output::json`], or [`File`] for a kind whose result is a
    /// file (its media types in [`RESULT_MEDIA_TYPES`](JobKind::RESULT_MEDIA_TYPES)).
    type Result: JsonSchema;
    /// The media types the result may have.
    const RESULT_MEDIA_TYPES: &'static [&'static str] = &["application/json"];

    /// What serde cannot say: ranges, lengths, rules across fields, a file's header.
    /// Runs at intake, so it must stay cheap (no real work on the request path).
    fn check(&self, _input: &Self::Input) -> Result<(), InvalidInput> {
        Ok(())
    }

    /// Does the work (see [`Kind::run`]).
    fn run<'a>(&'a self, input: Self::Input, ctx: &'a mut dyn RunContext) -> Running<'a>;
}

impl<K: JobKind> Kind for K {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn validate(&self, input: &Value) -> Result<(), InvalidInput> {
        let input = parse_input::<K::Input>(input)?;
        self.check(&input)
    }

    fn run<'a>(&'a self, input: &'a Value, ctx: &'a mut dyn RunContext) -> Running<'a> {
        let input = parse_input::<K::Input>(input).and_then(|i| self.check(&i).map(|()| i));
        match input {
            Ok(input) => JobKind::run(self, input, ctx),
            // The input passed at intake; if it no longer does (the kind's rules changed
            // between intake and run), retrying cannot help.
            Err(e) => Box::pin(std::future::ready(Err(RunError::Permanent(format!(
                "the stored input is no longer valid: {e}"
            ))))),
        }
    }

    fn waits(&self) -> bool {
        K::WAITS
    }
}

/// Longest field name and reason an [`InvalidInput`] from serde repeats: both may quote
/// what the client sent.
const MAX_QUOTED: usize = 200;

/// JSON Schema, and so the API's description, counts `5.0` as an integer: `value` with
/// every whole number written with a fraction made an integer. Borrowed (no copy) when
/// it has none.
pub fn whole_numbers(value: &Value) -> Cow<'_, Value> {
    fn whole_float(value: &Value) -> Option<Value> {
        value.as_number().filter(|n| n.is_f64()).and(whole(value))
    }
    fn has_any(value: &Value) -> bool {
        match value {
            Value::Array(items) => items.iter().any(has_any),
            Value::Object(fields) => fields.values().any(has_any),
            _ => whole_float(value).is_some(),
        }
    }
    fn rewrite(value: &mut Value) {
        match value {
            Value::Array(items) => items.iter_mut().for_each(rewrite),
            Value::Object(fields) => fields.values_mut().for_each(rewrite),
            _ => {
                if let Some(n) = whole_float(value) {
                    *value = n;
                }
            }
        }
    }
    if !has_any(value) {
        return Cow::Borrowed(value);
    }
    let mut value = value.clone();
    rewrite(&mut value);
    Cow::Owned(value)
}

/// The integer a JSON number stands for, if it is a whole number in range of `i64` or
/// `u64` (`5`, `5.0`, `-3`).
fn whole(value: &Value) -> Option<Value> {
    if value.is_i64() || value.is_u64() {
        return Some(value.clone());
    }
    let f = value.as_f64().filter(|f| f.fract() == 0.0)?;
    // Within ±2^63 every whole f64 is exact as an integer.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (0.0..2.0 * LIMIT).contains(&f) {
        Some(Value::from(f as u64))
    } else if (-LIMIT..0.0).contains(&f) {
        Some(Value::from(f as i64))
    } else {
        None
    }
}

/// A non-negative whole number (`5` or `5.0`), as [`whole_numbers`] reads it.
pub fn whole_u64(value: &Value) -> Option<u64> {
    whole(value).and_then(|n| n.as_u64())
}

/// Parses a kind's input (a JSON object) as `T`; an error names the field at fault.
pub fn parse_input<T: DeserializeOwned>(input: &Value) -> Result<T, InvalidInput> {
    if !input.is_object() {
        return Err(InvalidInput::whole("must be a JSON object"));
    }
    serde_path_to_error::deserialize(&*whole_numbers(input)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // serde quotes names in backticks: "missing field `ms`", "unknown field `x`,
        // expected `ms`", "unknown variant `gif`, expected one of `png`, `jpeg`".
        let quoted = message.split('`').nth(1).map(clip);
        if let Some(field) = message.strip_prefix("missing field ").and(quoted.clone()) {
            return InvalidInput::field(field, "is required");
        }
        if let Some((_, expected)) = message
            .strip_prefix("unknown variant ")
            .and_then(|rest| rest.split_once(", expected "))
        {
            return InvalidInput::field(clip(&path), format!("must be {expected}"));
        }
        match quoted {
            Some(field) if path == "." && message.starts_with("unknown field ") => {
                InvalidInput::field(field, clip(&message))
            }
            _ if path == "." => InvalidInput::whole(clip(&message)),
            _ => InvalidInput::field(clip(&path), clip(&message)),
        }
    })
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_QUOTED).collect()
}

/// A kind of work as the registry and the worker see it. Object safe, so the registry
/// holds `Box<dyn Kind>`. Implement [`JobKind`] instead: this is for hosts and tests.
///
/// `validate` runs at intake and must accept exactly the inputs `run` can process, so
/// a bad input is a `422` at once and never a failed job later.
pub trait Kind: Send + Sync {
    /// The name clients put in `kind`, e.g. `"thumbnail"`.
    fn name(&self) -> &'static str;

    /// Checks an input fully, without doing the work.
    fn validate(&self, input: &Value) -> Result<(), InvalidInput>;

    /// Does the work for an input that passed `validate`. Calls `ctx.progress` now and
    /// then; when it returns `Err(Cancelled)` the kind stops and returns
    /// `Err(RunError::Cancelled)` (the `?` operator does that).
    ///
    /// A future, so that a kind that waits (see [`Kind::waits`]) lets the worker run
    /// others meanwhile. A kind that computes does all its work in the first poll:
    /// `Box::pin(async move { ... })` around a body that never awaits.
    fn run<'a>(&'a self, input: &'a Value, ctx: &'a mut dyn RunContext) -> Running<'a>;

    /// Whether the kind mostly waits (timers, outbound I/O) rather than computes. A worker
    /// instance runs up to `worker_concurrency` waiting runs side by side; computing runs
    /// go one at a time, between their waits.
    fn waits(&self) -> bool {
        false
    }
}

/// A run in progress: what [`Kind::run`] returns.
pub type Running<'a> = Pin<Box<dyn Future<Output = Result<Output, RunError>> + 'a>>;

/// What a running kind may ask of the worker that runs it.
pub trait RunContext {
    /// The attempt being run: 1 for the first.
    fn attempt(&self) -> u32;

    /// Reports progress (0 to 100, an optional short note). The worker records it and
    /// renews the job's lease; `Err(Cancelled)` means a client cancelled the job and
    /// the kind must stop.
    fn progress(&mut self, percent: u8, message: Option<&str>) -> Result<(), Cancelled>;

    /// Waits, letting the worker run other jobs meanwhile (never `std::thread::sleep`,
    /// which would stop them all). The worker keeps the lease through long waits.
    fn sleep(&mut self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + '_>>;

    /// The job being run, when the host knows it (the worker always does).
    fn job_id(&self) -> Option<JobId> {
        None
    }

    /// Counters shared by every worker, when the host lends them (see [`Counter`]).
    fn counter(&self) -> Option<&dyn Counter> {
        None
    }
}

/// Counters shared by every process of a deployment (Redis `INCR` in the components).
/// A capability the worker lends a running kind; only the test-only `count` kind uses
/// it, to prove from outside how often work really ran.
pub trait Counter {
    /// Adds one to each counter in `names` at once (atomically, in one round trip) and
    /// returns their new values in the same order. A counter never set starts at 0.
    fn incr(&self, names: &[&str]) -> Result<Vec<u64>, PortError>;
}

/// The job was cancelled while it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the job was cancelled")]
pub struct Cancelled;

/// A kind's result: bytes and their media type, served as-is by `GET /jobs/{id}/result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Output {
    /// A JSON result (`application/json`): a kind's [`JobKind::Result`].
    pub fn json(value: &impl Serialize) -> Output {
        Output {
            content_type: "application/json".to_owned(),
            bytes: serde_json::to_vec(value).expect("a kind's result always serializes"),
        }
    }
}

/// The [`JobKind::Result`] of a kind whose result is a file (an image, say) rather than
/// JSON: any bytes, of one of the kind's `RESULT_MEDIA_TYPES`.
pub struct File;

impl JsonSchema for File {
    fn schema_name() -> Cow<'static, str> {
        "File".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // OpenAPI 3.1 describes a binary body by its media type alone.
        json_schema!({})
    }
}

/// Why a run did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RunError {
    /// Another attempt may succeed (retried while attempts remain).
    #[error("transient error: {0}")]
    Transient(String),
    /// Retrying cannot help; the job fails now.
    #[error("permanent error: {0}")]
    Permanent(String),
    /// The kind stopped because the job was cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl From<Cancelled> for RunError {
    fn from(_: Cancelled) -> Self {
        RunError::Cancelled
    }
}

impl RunError {
    /// Whether another attempt is worth making.
    pub fn is_retryable(&self) -> bool {
        matches!(self, RunError::Transient(_))
    }

    /// The error as recorded in the job.
    pub fn to_error_info(&self) -> ErrorInfo {
        match self {
            RunError::Transient(m) => ErrorInfo::transient(m.clone()),
            RunError::Permanent(m) => ErrorInfo::permanent(m.clone()),
            RunError::Cancelled => ErrorInfo::cancelled(),
        }
    }
}

/// Why a kind refused an input: which field (if one is to blame) and why, in words meant
/// for the client (it becomes the `detail` of a `422`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct InvalidInput {
    /// The field at fault, as a path inside `input` (`"width"`), or `None` when the input
    /// as a whole is wrong (e.g. not an object).
    pub field: Option<String>,
    /// Why, e.g. "must be an integer from 1 to 2048".
    pub reason: String,
}

impl InvalidInput {
    /// The field `field` is wrong.
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> InvalidInput {
        InvalidInput {
            field: Some(field.into()),
            reason: reason.into(),
        }
    }

    /// The input as a whole is wrong.
    pub fn whole(reason: impl Into<String>) -> InvalidInput {
        InvalidInput {
            field: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "input.{field}: {}", self.reason),
            None => write!(f, "input: {}", self.reason),
        }
    }
}

/// A [`RunContext`] for tests: records progress, sleeps only on paper, and can pretend
/// the job gets cancelled. Public so the application half and other crates may reuse it.
pub mod testing {
    use super::*;

    #[derive(Debug, Clone, Default)]
    pub struct TestContext {
        /// The attempt reported to the kind (set to 1 by [`TestContext::new`]).
        pub attempt: u32,
        /// Every progress report, in order.
        pub reports: Vec<(u8, Option<String>)>,
        /// When `Some(n)`, the report number `n + 1` (and every later one) answers
        /// `Cancelled`; `Some(0)` cancels at the first report.
        pub cancel_after_reports: Option<usize>,
        /// Total time the kind asked to sleep; nothing actually waits.
        pub slept: Duration,
    }

    impl TestContext {
        /// First attempt, never cancelled.
        pub fn new() -> TestContext {
            TestContext::attempt(1)
        }

        /// The given attempt, never cancelled.
        pub fn attempt(attempt: u32) -> TestContext {
            TestContext {
                attempt,
                ..TestContext::default()
            }
        }

        /// Cancelled once `n` progress reports have been accepted.
        pub fn cancelled_after(mut self, n: usize) -> TestContext {
            self.cancel_after_reports = Some(n);
            self
        }

        /// The percentages reported, in order.
        pub fn percents(&self) -> Vec<u8> {
            self.reports.iter().map(|(p, _)| *p).collect()
        }
    }

    impl RunContext for TestContext {
        fn attempt(&self) -> u32 {
            self.attempt
        }

        fn progress(&mut self, percent: u8, message: Option<&str>) -> Result<(), Cancelled> {
            if self
                .cancel_after_reports
                .is_some_and(|n| self.reports.len() >= n)
            {
                return Err(Cancelled);
            }
            self.reports.push((percent, message.map(str::to_owned)));
            Ok(())
        }

        fn sleep(&mut self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + '_>> {
            self.slept += duration;
            Box::pin(std::future::ready(()))
        }
    }

    /// The end of a run under a [`TestContext`], whose sleeps are over at once: polled
    /// once. Panics if the run waits on anything else.
    pub fn finish<T>(run: impl Future<Output = T>) -> T {
        let mut run = std::pin::pin!(run);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match run.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(value) => value,
            std::task::Poll::Pending => panic!("the run waits on something besides its context"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn whole_numbers_written_with_a_fraction_are_integers() {
        use serde_json::json;
        let input = json!({"a": 5.0, "b": [1.5, -3.0, 7], "c": {"d": 1e3}});
        assert_eq!(
            *super::whole_numbers(&input),
            json!({"a": 5, "b": [1.5, -3, 7], "c": {"d": 1000}})
        );
        let plain = json!({"a": 5, "b": 1.5});
        assert!(matches!(
            super::whole_numbers(&plain),
            super::Cow::Borrowed(_)
        ));
        assert_eq!(super::whole_u64(&json!(25.0)), Some(25));
        assert_eq!(super::whole_u64(&json!(-1.0)), None);
        assert_eq!(super::whole_u64(&json!(1e30)), None);
    }

    use super::testing::TestContext;
    use super::*;
    use serde_json::json;

    #[test]
    fn run_errors_map_to_recorded_error_types() {
        use crate::job::ErrorType;
        assert_eq!(
            RunError::Transient("t".into()).to_error_info().kind,
            ErrorType::Transient
        );
        assert_eq!(
            RunError::Permanent("p".into()).to_error_info(),
            ErrorInfo::permanent("p")
        );
        assert_eq!(
            RunError::Cancelled.to_error_info().kind,
            ErrorType::Cancelled
        );
        assert!(RunError::Transient(String::new()).is_retryable());
        assert!(!RunError::Permanent(String::new()).is_retryable());
        assert!(!RunError::Cancelled.is_retryable());
    }

    #[test]
    fn invalid_input_names_the_field_in_its_message() {
        assert_eq!(
            InvalidInput::field("width", "must be an integer from 1 to 2048").to_string(),
            "input.width: must be an integer from 1 to 2048"
        );
        assert_eq!(
            InvalidInput::whole("must be a JSON object").to_string(),
            "input: must be a JSON object"
        );
    }

    #[test]
    fn the_test_context_cancels_after_the_given_number_of_reports() {
        let mut ctx = TestContext::new().cancelled_after(2);
        assert_eq!(ctx.progress(10, None), Ok(()));
        assert_eq!(ctx.progress(20, Some("x")), Ok(()));
        assert_eq!(ctx.progress(30, None), Err(Cancelled));
        assert_eq!(ctx.percents(), [10, 20]);
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        n: u64,
        mode: Option<Mode>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Slow,
    }

    #[test]
    fn a_typed_input_that_does_not_parse_names_its_field_in_words_for_the_client() {
        let refused = |input: Value| parse_input::<Shape>(&input).unwrap_err();
        assert_eq!(
            refused(json!([1])).to_string(),
            "input: must be a JSON object"
        );
        assert_eq!(refused(json!({})).to_string(), "input.n: is required");
        let wrong = refused(json!({"n": "5"}));
        assert_eq!(wrong.field.as_deref(), Some("n"), "{wrong}");
        let variant = refused(json!({"n": 5, "mode": "warp"}));
        assert_eq!(variant.to_string(), "input.mode: must be `fast` or `slow`");
        let unknown = refused(json!({"n": 5, "speed": 1}));
        assert_eq!(unknown.field.as_deref(), Some("speed"), "{unknown}");
        assert!(unknown.reason.starts_with("unknown field"), "{unknown}");
        // What the client sent is quoted back only in part.
        let long = "x".repeat(10_000);
        let unknown = refused(json!({"n": 5, long.clone(): 1}));
        assert!(unknown.to_string().len() < 500, "{unknown}");
        assert!(parse_input::<Shape>(&json!({"n": 5, "mode": null})).is_ok());
    }
}

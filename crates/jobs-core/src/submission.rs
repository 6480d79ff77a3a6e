//! A client's `POST /jobs` body, parsed at the edge into a valid [`NewJob`]: the wire
//! shape, its one conversion into the domain and the typed reasons a submission is
//! refused (the fingerprint idempotency compares is `fingerprint.rs`'s). No I/O.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::config::{MAX_ATTEMPTS_RANGE, Settings};
use crate::job::{Job, JobId, JobInput, Status, Tenant, Timestamp};
use crate::json_values;
use crate::kind::{InvalidInput, whole_u64};
use crate::kinds::Registry;

/// The longest accepted delay: one day.
pub const MAX_DELAY_MS: u64 = 86_400_000;
/// The longest accepted callback URL.
pub const MAX_CALLBACK_URL_LEN: usize = 2048;

/// A submission that passed every check: the kind exists, its input is valid, the
/// options are in range. Defaults (`max_attempts`) are already applied.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: KindName,
    pub input: JobInput,
    pub max_attempts: MaxAttempts,
    /// An absolute `http` or `https` URL, to be called when the job finishes.
    pub callback_url: Option<String>,
    /// Do not run before this many milliseconds from submission; 0 = at once. At most
    /// [`MAX_DELAY_MS`].
    pub delay_ms: u64,
}

/// The name of a registered kind: only a registry lookup makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindName(&'static str);

impl KindName {
    /// The kind `name` of `registry`, if it has one.
    pub fn registered(registry: &Registry, name: &str) -> Option<KindName> {
        registry.get(name).map(|kind| KindName(kind.name()))
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

/// How many attempts a job may take: within [`MAX_ATTEMPTS_RANGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxAttempts(u32);

impl MaxAttempts {
    /// `n` attempts, if within [`MAX_ATTEMPTS_RANGE`].
    pub fn new(n: u64) -> Option<MaxAttempts> {
        u32::try_from(n)
            .ok()
            .filter(|n| MAX_ATTEMPTS_RANGE.contains(n))
            .map(MaxAttempts)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl NewJob {
    /// The job this submission makes: queued, no attempts yet. The idempotency key, if
    /// any, is set by the caller (it comes from a header, not the body).
    pub fn into_job(self, id: JobId, tenant: Tenant, now: Timestamp) -> Job {
        Job {
            id,
            tenant,
            kind: self.kind.as_str().to_owned(),
            input: self.input,
            status: Status::Queued,
            attempts: 0,
            max_attempts: self.max_attempts.get(),
            progress: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            error: None,
            callback_url: self.callback_url,
            idempotency_key: None,
            not_before: (self.delay_ms > 0).then(|| now.plus_ms(self.delay_ms)),
            retry_of: None,
        }
    }
}

/// Why a submission was refused. Nothing is recorded for a refused submission.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubmissionError {
    /// The body is not JSON, or not an object of the expected shape (a missing `kind`
    /// or `input`, an unknown top-level field, `kind` not a string). HTTP `400`.
    #[error("malformed submission: {0}")]
    Malformed(String),
    /// `kind` names no registered kind; `known` lists those that exist. HTTP `422`.
    #[error("unknown kind {kind:?}; known kinds: {}", known.join(", "))]
    UnknownKind {
        kind: String,
        known: Vec<&'static str>,
    },
    /// The kind refused the input; `detail` says which field and why. HTTP `422`.
    #[error("invalid input for kind {kind:?}: {detail}")]
    InvalidInput { kind: String, detail: InvalidInput },
    /// The body holds more JSON values than [`json_values::MAX_VALUES`], whatever its size
    /// in bytes: parsed, it would cost memory out of proportion. HTTP `413`.
    #[error(
        "the body holds about {0} JSON values; at most {max} are accepted in one submission, \
         as each takes memory once parsed",
        max = json_values::MAX_VALUES
    )]
    TooManyValues(usize),
    /// The body nests arrays and objects deeper than [`json_values::MAX_DEPTH`]: its
    /// input, kept a few levels deeper in the job's record, could not be read back.
    /// HTTP `400`.
    #[error(
        "the body nests arrays and objects {0} levels deep; at most {max} are accepted",
        max = json_values::MAX_DEPTH
    )]
    TooDeep(usize),
    /// An option of the submission itself is unusable: `max_attempts` outside 1..=25,
    /// `delay_ms` above one day, `callback_url` not an absolute http(s) URL. HTTP `422`.
    #[error("invalid {field}: {detail}")]
    InvalidField { field: &'static str, detail: String },
}

/// The body exactly as a client sends it. Only the shape is checked here; values are
/// checked by the conversion into [`NewJob`]. The options are taken as raw JSON so
/// that `"max_attempts": -1` is a `422` naming the field, not a shapeless `400`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a submission object")]
pub struct Submission {
    pub kind: String,
    /// Kept as text too, so the record can be written without encoding it again.
    pub input: Box<serde_json::value::RawValue>,
    #[serde(default)]
    pub max_attempts: Option<Value>,
    #[serde(default)]
    pub callback_url: Option<Value>,
    #[serde(default)]
    pub delay_ms: Option<Value>,
}

/// The options of a submission beside `kind` and `input`, as the OpenAPI description
/// shows them: the limits the conversion into [`NewJob`] checks.
#[derive(JsonSchema)]
#[allow(dead_code)] // describes the wire; `Submission` reads it
pub struct SubmissionOptions {
    /// Attempts before the job fails (transient errors are retried with backoff); the
    /// deployment's `default_max_attempts` (3) when absent.
    #[schemars(range(min = *MAX_ATTEMPTS_RANGE.start(), max = *MAX_ATTEMPTS_RANGE.end()))]
    max_attempts: Option<u32>,
    /// Called with a signed event (Standard Webhooks) when the job finishes: an `https`
    /// URL to a public host (plain `http` and internal hosts only where the deployment
    /// sets `webhook_allow_insecure`).
    #[schemars(url, length(max = MAX_CALLBACK_URL_LEN))]
    callback_url: Option<String>,
    /// Do not start the job before this many milliseconds from now (at most one day).
    #[schemars(range(min = 0, max = MAX_DELAY_MS))]
    delay_ms: Option<u64>,
}

impl NewJob {
    /// Parses and validates a request body. Checks run in this order, so a client sees
    /// the most basic problem first: how many values it holds and how deep it nests
    /// (measured before anything is parsed), shape, kind, options, input.
    pub fn parse(
        body: &[u8],
        registry: &Registry,
        settings: &Settings,
    ) -> Result<NewJob, SubmissionError> {
        let measure = json_values::measure(body);
        if measure.values > json_values::MAX_VALUES {
            return Err(SubmissionError::TooManyValues(measure.values));
        }
        if measure.depth > json_values::MAX_DEPTH {
            return Err(SubmissionError::TooDeep(measure.depth));
        }
        let wire: Submission = serde_json::from_slice(body)
            .map_err(|e| SubmissionError::Malformed(describe_json_error(&e)))?;
        NewJob::try_from((wire, registry, settings))
    }
}

impl TryFrom<(Submission, &Registry, &Settings)> for NewJob {
    type Error = SubmissionError;

    fn try_from(
        (wire, registry, settings): (Submission, &Registry, &Settings),
    ) -> Result<NewJob, SubmissionError> {
        let Some(kind) = registry.get(&wire.kind) else {
            return Err(SubmissionError::UnknownKind {
                kind: wire.kind.chars().take(64).collect(),
                known: registry.names(),
            });
        };

        let max_attempts = match wire.max_attempts {
            // The settings checked the range when they were read.
            None => MaxAttempts(settings.default_max_attempts),
            Some(v) => whole_u64(&v).and_then(MaxAttempts::new).ok_or_else(|| {
                SubmissionError::InvalidField {
                    field: "max_attempts",
                    detail: format!(
                        "must be an integer from {} to {}",
                        MAX_ATTEMPTS_RANGE.start(),
                        MAX_ATTEMPTS_RANGE.end()
                    ),
                }
            })?,
        };

        let delay_ms = match wire.delay_ms {
            None => 0,
            Some(v) => whole_u64(&v)
                .filter(|n| *n <= MAX_DELAY_MS)
                .ok_or_else(|| SubmissionError::InvalidField {
                    field: "delay_ms",
                    detail: format!("must be an integer from 0 to {MAX_DELAY_MS} (one day)"),
                })?,
        };

        let callback_url = match wire.callback_url {
            None => None,
            Some(Value::String(url)) => Some(
                check_callback_url(&url, settings.webhook_allow_insecure).map_err(|why| {
                    SubmissionError::InvalidField {
                        field: "callback_url",
                        detail: why.to_owned(),
                    }
                })?,
            ),
            Some(_) => {
                return Err(SubmissionError::InvalidField {
                    field: "callback_url",
                    detail: "must be a string".to_owned(),
                });
            }
        };

        // The text was checked as JSON already; parsing it cannot fail.
        let value: Value = serde_json::from_str(wire.input.get())
            .map_err(|e| SubmissionError::Malformed(describe_json_error(&e)))?;
        kind.validate(&value)
            .map_err(|detail| SubmissionError::InvalidInput {
                kind: kind.name().to_owned(),
                detail,
            })?;

        Ok(NewJob {
            kind: KindName(kind.name()),
            input: JobInput::submitted(value, wire.input),
            max_attempts,
            callback_url,
            delay_ms,
        })
    }
}

/// serde_json's message, minus nothing: it already says what and where ("missing field
/// `input` at line 1 column 17"), which is what a client needs to fix the body.
fn describe_json_error(e: &serde_json::Error) -> String {
    if e.is_eof() && e.line() == 1 && e.column() == 0 {
        "the body is empty; expected a JSON object".to_owned()
    } else {
        e.to_string()
    }
}

/// An absolute `https://` URL (parsed as browsers parse it, so `https://2130706433/` is
/// `127.0.0.1`), without credentials, whose host is a public one: not a loopback,
/// private, link-local, shared, reserved or otherwise internal address, and not a name
/// that only an internal resolver answers (`localhost`, `*.local`, `*.internal`, `*.svc`,
/// single labels such as `redis`). A callback goes out from inside the deployment, so it
/// must not reach what only the deployment can (a cloud's metadata service, the app's
/// own Redis). With `allow_insecure` (the variable `webhook_allow_insecure`, for local
/// development and tests) plain `http://` and internal hosts are allowed too.
///
/// The answer is the URL as it was parsed (`HTTPS://Example.COM` is
/// `https://example.com/`): that text is what a job keeps and what is called, never the
/// raw one, which an HTTP client may read differently (`https:/example.com` is
/// `https://example.com/` here, but `http://https/example.com` to Spin's).
///
/// The worker checks the URL again before every delivery; what a public name resolves to
/// is the platform's to police (`allowed_outbound_hosts`, README "Webhooks").
pub fn check_callback_url(raw: &str, allow_insecure: bool) -> Result<String, &'static str> {
    if raw.len() > MAX_CALLBACK_URL_LEN {
        return Err("must be at most 2048 characters");
    }
    let url = url::Url::parse(raw).map_err(|_| "must be an absolute http:// or https:// URL")?;
    if url.as_str().len() > MAX_CALLBACK_URL_LEN {
        return Err("must be at most 2048 characters once parsed");
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an absolute http:// or https:// URL");
    }
    if url.scheme() == "http" && !allow_insecure {
        return Err("must be an https:// URL (plain http only with webhook_allow_insecure)");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user info (credentials)");
    }
    if url.port() == Some(0) {
        return Err("has an invalid port");
    }
    let internal = "must not point at a loopback, private, link-local or other internal address";
    match url.host() {
        None => Err("must name a host"),
        Some(_) if allow_insecure => Ok(url.into()),
        Some(url::Host::Ipv4(ip)) if !is_public_v4(ip) => Err(internal),
        Some(url::Host::Ipv6(ip)) if !is_public_v6(ip) => Err(internal),
        Some(url::Host::Domain(name)) if is_internal_name(name) => Err(
            "must name a public host (not localhost, a single-label name or an internal domain)",
        ),
        Some(_) => Ok(url.into()),
    }
}

fn is_public_v4(ip: std::net::Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

/// Public: an IPv4-mapped address whose IPv4 address is public, or global unicast
/// (`2000::/3`) outside the blocks that are not reached directly or that tunnel to an
/// IPv4 address (6to4, Teredo). Everything else (loopback, IPv4-compatible `::a.b.c.d`,
/// unique local, link-local, site-local, NAT64, discard) is not.
fn is_public_v6(ip: std::net::Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let [first, second, ..] = ip.segments();
    let blocked = match first {
        // IETF protocol assignments (Teredo among them), and documentation.
        0x2001 => second < 0x0200 || second == 0x0db8,
        // 6to4, which embeds an IPv4 address.
        0x2002 => true,
        // Documentation (RFC 9637).
        0x3fff => second < 0x1000,
        _ => false,
    };
    (first & 0xe000) == 0x2000 && !blocked
}

fn is_internal_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    !name.contains('.')
        || [
            "localhost",
            "local",
            "internal",
            "svc",
            "lan",
            "home.arpa",
            "cluster.local",
        ]
        .iter()
        .any(|suffix| name == *suffix || name.ends_with(&format!(".{suffix}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: &str) -> Result<NewJob, SubmissionError> {
        NewJob::parse(body.as_bytes(), &Registry::builtin(), &Settings::default())
    }

    #[test]
    fn a_minimal_submission_takes_the_defaults() {
        let job = parse(r#"{"kind":"echo","input":{"x":1}}"#).unwrap();
        assert_eq!(
            job,
            NewJob {
                kind: KindName("echo"),
                input: json!({"x": 1}).into(),
                max_attempts: MaxAttempts(3),
                callback_url: None,
                delay_ms: 0,
            }
        );
    }

    #[test]
    fn the_default_max_attempts_comes_from_settings() {
        let settings = Settings {
            default_max_attempts: 7,
            ..Settings::default()
        };
        let job = NewJob::parse(
            br#"{"kind":"echo","input":{}}"#,
            &Registry::builtin(),
            &settings,
        )
        .unwrap();
        assert_eq!(job.max_attempts.get(), 7);
    }

    #[test]
    fn every_option_is_read() {
        let job = parse(
            r#"{"kind":"sleep","input":{"ms":5},"max_attempts":25,
                "callback_url":"https://example.com:8443/hook?x=1","delay_ms":86400000}"#,
        )
        .unwrap();
        assert_eq!(job.max_attempts.get(), 25);
        assert_eq!(
            job.callback_url.as_deref(),
            Some("https://example.com:8443/hook?x=1")
        );
        assert_eq!(job.delay_ms, 86_400_000);
    }

    #[test]
    fn null_options_count_as_absent() {
        let job = parse(
            r#"{"kind":"echo","input":{},"max_attempts":null,"callback_url":null,"delay_ms":null}"#,
        )
        .unwrap();
        assert_eq!(
            (job.max_attempts, job.callback_url, job.delay_ms),
            (MaxAttempts(3), None, 0)
        );
    }

    #[test]
    fn bodies_of_the_wrong_shape_are_malformed() {
        for body in [
            "",
            "not json",
            "[1,2]",
            r#"{"kind":"echo"}"#,
            r#"{"input":{}}"#,
            r#"{"kind":5,"input":{}}"#,
            r#"{"kind":"echo","input":{},"priority":1}"#,
            r#"{"kind":"echo","input":{}} trailing"#,
        ] {
            match parse(body) {
                Err(SubmissionError::Malformed(detail)) => assert!(!detail.is_empty()),
                other => panic!("{body:?} gave {other:?}"),
            }
        }
        assert_eq!(
            parse("").unwrap_err().to_string(),
            "malformed submission: the body is empty; expected a JSON object"
        );
        assert!(
            parse(r#"{"kind":"echo","input":{},"priority":1}"#)
                .unwrap_err()
                .to_string()
                .contains("priority")
        );
    }

    #[test]
    fn an_unknown_kind_lists_the_known_ones() {
        let err = parse(r#"{"kind":"resize","input":{}}"#).unwrap_err();
        assert_eq!(
            err,
            SubmissionError::UnknownKind {
                kind: "resize".into(),
                known: vec!["echo", "fail", "hash", "sleep", "thumbnail"],
            }
        );
        assert!(
            err.to_string()
                .contains("echo, fail, hash, sleep, thumbnail")
        );
    }

    #[test]
    fn input_the_kind_refuses_is_invalid_input_naming_the_field() {
        let err = parse(r#"{"kind":"sleep","input":{"ms":-5}}"#).unwrap_err();
        let SubmissionError::InvalidInput { kind, detail } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(kind, "sleep");
        assert_eq!(detail.field.as_deref(), Some("ms"));
    }

    #[test]
    fn out_of_range_options_are_invalid_fields() {
        let cases = [
            (r#""max_attempts":0"#, "max_attempts"),
            (r#""max_attempts":26"#, "max_attempts"),
            (r#""max_attempts":-1"#, "max_attempts"),
            (r#""max_attempts":2.5"#, "max_attempts"),
            (r#""max_attempts":"3""#, "max_attempts"),
            (r#""max_attempts":99999999999"#, "max_attempts"),
            (r#""delay_ms":86400001"#, "delay_ms"),
            (r#""delay_ms":-1"#, "delay_ms"),
            (r#""callback_url":"ftp://example.com/""#, "callback_url"),
            (r#""callback_url":"example.com""#, "callback_url"),
            (r#""callback_url":"http://""#, "callback_url"),
            (r#""callback_url":"http:///path""#, "callback_url"),
            (
                r#""callback_url":"https://user:pw@example.com/""#,
                "callback_url",
            ),
            (r#""callback_url":"https://exa mple.com/""#, "callback_url"),
            (r#""callback_url":"https://example.com:0/""#, "callback_url"),
            (
                r#""callback_url":"https://example.com:99999/""#,
                "callback_url",
            ),
            (r#""callback_url":"https://[::1/""#, "callback_url"),
            (r#""callback_url":42"#, "callback_url"),
        ];
        for (option, field) in cases {
            let body = format!(r#"{{"kind":"echo","input":{{}},{option}}}"#);
            match parse(&body) {
                Err(SubmissionError::InvalidField { field: f, detail }) => {
                    assert_eq!(f, field, "{option}");
                    assert!(!detail.is_empty());
                }
                other => panic!("{option} gave {other:?}"),
            }
        }
    }

    #[test]
    fn ordinary_callback_urls_are_accepted() {
        for url in [
            "https://hooks.example.com/a/b?c=d#e",
            "HTTPS://Example.COM",
            "https://93.184.215.14:8080/cb",
            "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:3000/x",
            "https://example.com.:8443/",
        ] {
            assert!(check_callback_url(url, false).is_ok(), "{url}");
        }
        // Plain http and internal hosts only when allowed (local development, tests).
        for url in ["http://example.com/", "http://127.0.0.1:8080/hook"] {
            assert!(check_callback_url(url, false).is_err(), "{url}");
            assert_eq!(check_callback_url(url, true).as_deref(), Ok(url));
        }
        assert!(check_callback_url("ftp://example.com/", true).is_err());
    }

    #[test]
    fn a_callback_url_is_kept_as_it_was_parsed_not_as_it_was_written() {
        for (written, parsed) in [
            ("HTTPS://Example.COM", "https://example.com/"),
            // One slash: read as a host here, as a path by a client that parses it alone.
            ("https:/example.com/x", "https://example.com/x"),
            ("https:\\\\example.com\\x", "https://example.com/x"),
            ("https://example.com/a b", "https://example.com/a%20b"),
        ] {
            assert_eq!(check_callback_url(written, false).as_deref(), Ok(parsed));
        }
        let body = br#"{"kind":"echo","input":{},"callback_url":"https:/example.com/x"}"#;
        let job = NewJob::parse(body, &Registry::builtin(), &Settings::default()).unwrap();
        assert_eq!(job.callback_url.as_deref(), Some("https://example.com/x"));
        // Parsing may lengthen it (percent-encoding): the limit holds for what is kept.
        let long = format!(
            "https://example.com/{}",
            " x".repeat((MAX_CALLBACK_URL_LEN - 30) / 2)
        );
        assert!(check_callback_url(&long, false).is_err());
    }

    #[test]
    fn callback_urls_that_reach_inside_the_deployment_are_refused() {
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://2130706433:6379/",
            "http://0x7f.1/",
            "http://127.1/",
            "http://0.0.0.0/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::a00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[2001::1]/",
            "http://[2001:db8::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[fec0::1]/",
            "http://[100::1]/",
            "http://localhost:8080/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://redis:6379/",
            "http://printer.local/",
            "http://jobs.default.svc.cluster.local/",
            "http://metadata.google.internal/",
        ] {
            // Over https, so that the address is what refuses it.
            let url = url.replacen("http://", "https://", 1);
            assert!(
                check_callback_url(&url, false).is_err(),
                "{url} was accepted"
            );
        }
    }

    #[test]
    fn the_kind_is_checked_before_options_and_options_before_input() {
        let err = parse(r#"{"kind":"nope","input":5,"max_attempts":0}"#).unwrap_err();
        assert!(matches!(err, SubmissionError::UnknownKind { .. }));
        let err = parse(r#"{"kind":"echo","input":5,"max_attempts":0}"#).unwrap_err();
        assert!(matches!(err, SubmissionError::InvalidField { .. }));
    }

    #[test]
    fn a_submission_makes_a_queued_job_with_no_attempts_and_its_delay_becomes_not_before() {
        let new = NewJob {
            kind: KindName("echo"),
            input: json!({}).into(),
            max_attempts: MaxAttempts(1),
            callback_url: None,
            delay_ms: 500,
        };
        let job = new.into_job(
            JobId::new(),
            Tenant::default_tenant(),
            Timestamp::from_ms(1_000),
        );
        assert_eq!(job.status, Status::Queued);
        assert_eq!((job.attempts, job.attempts_left()), (0, 1));
        assert_eq!(job.not_before, Some(Timestamp::from_ms(1_500)));
    }
}

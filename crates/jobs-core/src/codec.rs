//! The one encoding of what is stored in the key-value store: job records (`j:` keys)
//! and results (`r:` keys). Every reader and writer goes through here, and the tests
//! round-trip every status and variant, so a record can never mean one thing to the
//! worker and another to the API.
//!
//! A small result (up to [`INLINE_RESULT_MAX`] bytes) travels inside the final record
//! instead of under its own `r:` key: one key-value write per job fewer for the worker,
//! and the result becomes visible in the same write as the `succeeded` status.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::job::{Job, JobInput};
use crate::kind::Output;

/// The record format written by this version. Bump it, and keep reading the old one,
/// when a change is not purely additive.
pub const JOB_VERSION: u64 = 1;

/// The version of a record whose input is stored apart (`"input": null` with
/// `"input_apart": true`): a reader that knows only version 1 would take the `null` for
/// the input, so it must refuse these records instead.
pub const JOB_VERSION_INPUT_APART: u64 = 2;

/// The first line of a stored result starts with this, then the content type.
const RESULT_PREFIX: &[u8] = b"v1 ";

/// Results up to this many bytes are stored inside the job record (base64, so the record
/// grows by at most a third more); larger ones under their own key.
pub const INLINE_RESULT_MAX: usize = 8 * 1024;

/// Inputs whose JSON text is longer than this are stored under their own key (see
/// [`crate::job::JobInput`]); smaller ones ride in the record.
pub use crate::job::INLINE_INPUT_MAX;

/// The record field that says the input is stored apart.
const INPUT_APART_FIELD: &str = "input_apart";

/// Why stored bytes could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// The bytes are not a record of any known version (not JSON, no `v`, or a required
    /// field missing or wrong).
    #[error("malformed stored {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    /// The bytes carry a version this build cannot read (written by a newer build).
    #[error("stored {what} has unsupported version {version}")]
    UnknownVersion { what: &'static str, version: String },
}

#[derive(Serialize)]
struct StoredJob<'a> {
    v: u64,
    #[serde(flatten)]
    job: &'a Job,
    #[serde(rename = "input_apart", skip_serializing_if = "std::ops::Not::not")]
    input_apart: bool,
    #[serde(rename = "result", skip_serializing_if = "Option::is_none")]
    result: Option<InlineResult>,
}

/// A result kept inside its job record.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InlineResult {
    content_type: String,
    base64: String,
}

/// A job record as stored: a JSON object with `"v": 1` beside the record's fields.
pub fn encode_job(job: &Job) -> Vec<u8> {
    encode_job_with_result(job, None)
}

/// A job record carrying its result: `result` must be no larger than
/// [`INLINE_RESULT_MAX`] (see [`fits_inline`]); read it back with [`decode_job_and_result`].
pub fn encode_job_with_result(job: &Job, result: Option<&Output>) -> Vec<u8> {
    let result = result.map(|output| InlineResult {
        content_type: output.content_type.clone(),
        base64: BASE64.encode(&output.bytes),
    });
    // Every field serializes infallibly (ids and timestamps always have a text form), so
    // an error here is a bug in this crate, not bad data.
    serde_json::to_vec(&StoredJob {
        v: if job.input.is_apart() {
            JOB_VERSION_INPUT_APART
        } else {
            JOB_VERSION
        },
        job,
        input_apart: job.input.is_apart(),
        result,
    })
    .expect("a job record always serializes")
}

/// Whether `output` is small enough to travel inside its job record.
pub fn fits_inline(output: &Output) -> bool {
    output.bytes.len() <= INLINE_RESULT_MAX
}

/// Reads a stored job record, refusing versions it does not know. An inline result, if
/// any, is skipped: see [`decode_job_and_result`].
pub fn decode_job(bytes: &[u8]) -> Result<Job, CodecError> {
    decode(bytes, false).map(|(job, _)| job)
}

/// Reads a stored job record and the result it carries inline, if any.
pub fn decode_job_and_result(bytes: &[u8]) -> Result<(Job, Option<Output>), CodecError> {
    decode(bytes, true)
}

/// The fields a stored record carries beside the job's own. Read in a first pass over
/// the bytes that skips everything else without building it; the job is then read
/// straight from the bytes (it ignores these fields). Reading the whole record into a
/// `serde_json::Value` first, as this once did, was a tenth of the worker's CPU under a
/// backlog.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, deserialize_with = "present")]
    v: Option<serde_json::Value>,
    #[serde(default, borrow, deserialize_with = "present", rename = "result")]
    result: Option<&'a serde_json::value::RawValue>,
    #[serde(default, deserialize_with = "present", rename = "input_apart")]
    input_apart: Option<serde_json::Value>,
}

/// A field that is there, `null` included (`Option` alone reads `null` as absent).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

fn decode(bytes: &[u8], want_result: bool) -> Result<(Job, Option<Output>), CodecError> {
    let malformed = |detail: String| CodecError::Malformed {
        what: "job",
        detail,
    };
    let envelope: Envelope<'_> =
        serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
    match envelope.v {
        None => return Err(malformed("no version field \"v\"".to_owned())),
        Some(v) if matches!(v.as_u64(), Some(JOB_VERSION | JOB_VERSION_INPUT_APART)) => {}
        Some(v) => {
            return Err(CodecError::UnknownVersion {
                what: "job",
                version: v.to_string(),
            });
        }
    }
    let result = match envelope.result {
        Some(raw) if want_result => {
            let inline: InlineResult =
                serde_json::from_str(raw.get()).map_err(|e| malformed(format!("result: {e}")))?;
            let bytes = BASE64
                .decode(inline.base64.as_bytes())
                .map_err(|e| malformed(format!("result: {e}")))?;
            Some(Output {
                content_type: inline.content_type,
                bytes,
            })
        }
        _ => None,
    };
    let apart = match envelope.input_apart {
        None => false,
        Some(serde_json::Value::Bool(apart)) => apart,
        Some(other) => return Err(malformed(format!("{INPUT_APART_FIELD}: {other}"))),
    };
    let mut job: Job = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
    if apart {
        job.input = JobInput::apart();
    }
    Ok((job, result))
}

/// An input stored apart, as stored: its JSON text.
pub fn encode_input(input: &JobInput) -> Vec<u8> {
    input.to_json()
}

/// Reads an input stored apart as its text, checked to be JSON without being parsed
/// into values (see [`JobInput`]); the bytes become the text without a copy.
pub fn decode_input(bytes: Vec<u8>) -> Result<Box<RawValue>, CodecError> {
    let malformed = |detail: String| CodecError::Malformed {
        what: "input",
        detail,
    };
    let text = String::from_utf8(bytes).map_err(|e| malformed(e.to_string()))?;
    RawValue::from_string(text).map_err(|e| malformed(e.to_string()))
}

/// A result as stored: `v1 <content type>\n` then the bytes unchanged, so binary
/// results (images) are stored without base64 growth.
pub fn encode_result(output: &Output) -> Vec<u8> {
    // A content type never holds control characters; if a kind ever produced one, it is
    // dropped rather than let it break the line.
    let content_type: String = output
        .content_type
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let mut bytes =
        Vec::with_capacity(RESULT_PREFIX.len() + content_type.len() + 1 + output.bytes.len());
    bytes.extend_from_slice(RESULT_PREFIX);
    bytes.extend_from_slice(content_type.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(&output.bytes);
    bytes
}

/// Reads a stored result.
pub fn decode_result(bytes: &[u8]) -> Result<Output, CodecError> {
    let malformed = |detail: &str| CodecError::Malformed {
        what: "result",
        detail: detail.to_owned(),
    };
    let newline = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| malformed("no header line"))?;
    let (header, body) = (&bytes[..newline], &bytes[newline + 1..]);
    let Some(content_type) = header.strip_prefix(RESULT_PREFIX) else {
        let version = header
            .split(|&b| b == b' ')
            .next()
            .map(|v| String::from_utf8_lossy(v).chars().take(16).collect())
            .unwrap_or_default();
        return Err(CodecError::UnknownVersion {
            what: "result",
            version,
        });
    };
    let content_type = std::str::from_utf8(content_type)
        .ok()
        .filter(|ct| !ct.is_empty() && !ct.chars().any(char::is_control))
        .ok_or_else(|| malformed("bad content type"))?;
    Ok(Output {
        content_type: content_type.to_owned(),
        bytes: body.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::testing::{job_in, new_job};
    use crate::job::{ErrorInfo, ErrorType, JobId, Progress, Status, Tenant, Timestamp};
    use serde_json::json;

    #[test]
    fn a_job_in_every_status_round_trips() {
        for status in Status::ALL {
            let job = job_in(status);
            assert_eq!(job.status, status);
            assert_eq!(decode_job(&encode_job(&job)), Ok(job), "{status}");
        }
    }

    #[test]
    fn every_error_type_round_trips() {
        for kind in ErrorType::ALL {
            let mut job = job_in(Status::Failed);
            job.error = Some(ErrorInfo::new(kind, format!("because {kind}")));
            assert_eq!(decode_job(&encode_job(&job)), Ok(job));
        }
    }

    #[test]
    fn a_submitted_input_is_stored_as_sent_and_reads_back_as_the_same_value() {
        let registry = crate::kinds::Registry::builtin();
        let settings = crate::config::Settings::default();
        let body = br#"{"kind":"echo","input":{ "b" : 1,"a":[1, 2.5,"\u00e9"] }}"#;
        let new = crate::submission::NewJob::parse(body, &registry, &settings).unwrap();
        let job = new.into_job(
            JobId::new(),
            Tenant::default_tenant(),
            Timestamp::from_ms(1_700_000_000_000),
        );
        let stored = encode_job(&job);
        let text = String::from_utf8(stored.clone()).unwrap();
        assert!(
            text.contains(r#""input":{ "b" : 1,"a":[1, 2.5,"\u00e9"] }"#),
            "{text}"
        );
        let back = decode_job(&stored).unwrap();
        assert_eq!(back, job);
        assert_eq!(
            *back.input.value().unwrap(),
            json!({"a": [1, 2.5, "é"], "b": 1})
        );
        // Written again after a read, the input is encoded from its value.
        assert_eq!(decode_job(&encode_job(&back)).unwrap(), job);
    }

    #[test]
    fn an_input_stored_apart_leaves_a_marker_in_the_record_and_round_trips_on_its_own() {
        let registry = crate::kinds::Registry::builtin();
        let settings = crate::config::Settings::default();
        let big = "q".repeat(INLINE_INPUT_MAX);
        let body = serde_json::to_vec(&json!({"kind": "echo", "input": {"s": big}})).unwrap();
        let new = crate::submission::NewJob::parse(&body, &registry, &settings).unwrap();
        let job = new.into_job(
            JobId::new(),
            Tenant::default_tenant(),
            Timestamp::from_ms(1_700_000_000_000),
        );
        assert!(job.input.is_apart());
        let stored: serde_json::Value = serde_json::from_slice(&encode_job(&job)).unwrap();
        assert_eq!(
            (&stored["input"], &stored["input_apart"]),
            (&json!(null), &json!(true))
        );
        // Version 2, which a reader of version 1 refuses rather than run a null input.
        assert_eq!(stored["v"], json!(JOB_VERSION_INPUT_APART));
        // The record reads back with an input to load; written again it stays apart.
        let back = decode_job(&encode_job(&job)).unwrap();
        assert!(back.input.is_apart());
        assert_eq!(*back.input.value().unwrap(), json!(null));
        assert_eq!(decode_job(&encode_job(&back)).unwrap(), back);
        // The input itself round-trips through its own codec.
        let text = decode_input(encode_input(&job.input)).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(text.get()).unwrap(),
            json!({"s": big})
        );
        let mut loaded = back.clone();
        loaded.input.load(text);
        assert_eq!(*loaded.input.value().unwrap(), json!({"s": big}));
        assert_eq!(decode_job(&encode_job(&loaded)).unwrap(), back);
        // A marker that is not a boolean is a malformed record.
        let mut bad = stored.clone();
        bad["input_apart"] = json!("yes");
        assert!(decode_job(&serde_json::to_vec(&bad).unwrap()).is_err());
    }

    #[test]
    fn a_job_with_every_optional_field_set_round_trips() {
        let mut job = new_job(5);
        job.tenant = Tenant::parse("acme").unwrap();
        job.input =
            json!({"nested": {"list": [1, "two", null, 3.5, true]}, "u": "é\u{1F600}"}).into();
        job.progress = Some(Progress::new(42, Some("half".into())));
        job.started_at = Some(Timestamp::from_ms(1_700_000_000_001));
        job.finished_at = Some(Timestamp::from_ms(1_700_000_000_999));
        job.error = Some(ErrorInfo::transient("flaky"));
        job.callback_url = Some("https://example.com/hook".into());
        job.idempotency_key = Some("key-1".into());
        job.not_before = Some(Timestamp::from_ms(1_700_000_100_000));
        job.retry_of = Some(JobId::parse("01890a5d-ac96-774b-bcce-b302099a8057").unwrap());
        job.attempts = 2;
        assert_eq!(decode_job(&encode_job(&job)), Ok(job));
    }

    #[test]
    fn a_stored_job_carries_version_one_and_readable_fields() {
        let job = job_in(Status::Running);
        let value: serde_json::Value = serde_json::from_slice(&encode_job(&job)).unwrap();
        assert_eq!(value["v"], 1);
        assert_eq!(value["status"], "running");
        assert_eq!(value["id"], job.id.as_str());
        assert_eq!(value["tenant"], "default");
        assert_eq!(value["created_at"], "1970-01-01T00:00:01.000Z");
    }

    #[test]
    fn a_stored_job_of_another_version_or_no_version_is_refused() {
        let job = job_in(Status::Queued);
        let mut value: serde_json::Value = serde_json::from_slice(&encode_job(&job)).unwrap();
        value["v"] = json!(3);
        let err = decode_job(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert_eq!(
            err,
            CodecError::UnknownVersion {
                what: "job",
                version: "3".into()
            }
        );
        // A null version is a version this build does not know, not a missing one.
        value["v"] = json!(null);
        assert_eq!(
            decode_job(&serde_json::to_vec(&value).unwrap()).unwrap_err(),
            CodecError::UnknownVersion {
                what: "job",
                version: "null".into()
            }
        );
        value.as_object_mut().unwrap().remove("v");
        assert!(matches!(
            decode_job(&serde_json::to_vec(&value).unwrap()),
            Err(CodecError::Malformed { .. })
        ));
    }

    #[test]
    fn garbage_is_a_codec_error_not_a_panic() {
        for bytes in [
            &b""[..],
            b"\xff\xfe",
            b"[]",
            b"{\"v\":1}",
            b"{\"v\":1,\"id\":\"x\"}",
        ] {
            assert!(decode_job(bytes).is_err());
        }
        let id = JobId::new();
        let bad_status = format!(
            r#"{{"v":1,"id":"{id}","tenant":"default","kind":"echo","input":null,"status":"done",
                "attempts":0,"max_attempts":1,"progress":null,"created_at":"2026-01-01T00:00:00.000Z",
                "started_at":null,"finished_at":null,"error":null,"callback_url":null,
                "idempotency_key":null,"not_before":null}}"#
        );
        assert!(decode_job(bad_status.as_bytes()).is_err());
        let good = bad_status.replace("\"done\"", "\"queued\"");
        assert_eq!(decode_job(good.as_bytes()).unwrap().status, Status::Queued);
    }

    #[test]
    fn results_round_trip_binary_bytes_unchanged() {
        let all_bytes: Vec<u8> = (0..=255u8).chain([b'\n', b'\r', 0]).collect();
        for output in [
            Output {
                content_type: "image/png".into(),
                bytes: all_bytes,
            },
            Output {
                content_type: "application/json".into(),
                bytes: Vec::new(),
            },
            Output::json(&json!({"hex": "ab\ncd"})),
        ] {
            assert_eq!(decode_result(&encode_result(&output)), Ok(output));
        }
    }

    #[test]
    fn a_record_with_an_inline_result_round_trips_both() {
        let job = job_in(Status::Succeeded);
        let all_bytes: Vec<u8> = (0..=255u8).collect();
        for output in [
            Output {
                content_type: "image/png".into(),
                bytes: all_bytes,
            },
            Output::json(&json!({"hex": "ab\ncd"})),
            Output {
                content_type: "application/json".into(),
                bytes: Vec::new(),
            },
        ] {
            assert!(fits_inline(&output));
            let bytes = encode_job_with_result(&job, Some(&output));
            assert_eq!(
                decode_job_and_result(&bytes),
                Ok((job.clone(), Some(output)))
            );
            // Readers of the record alone never see the result.
            assert_eq!(decode_job(&bytes), Ok(job.clone()));
        }
        assert_eq!(
            decode_job_and_result(&encode_job(&job)),
            Ok((job.clone(), None))
        );
    }

    #[test]
    fn only_results_up_to_the_inline_limit_fit_inline() {
        let at = Output {
            content_type: "application/octet-stream".into(),
            bytes: vec![7; INLINE_RESULT_MAX],
        };
        let over = Output {
            bytes: vec![7; INLINE_RESULT_MAX + 1],
            ..at.clone()
        };
        assert!(fits_inline(&at));
        assert!(!fits_inline(&over));
    }

    #[test]
    fn a_malformed_inline_result_is_a_codec_error_not_a_panic() {
        let job = job_in(Status::Succeeded);
        let mut value: serde_json::Value = serde_json::from_slice(&encode_job(&job)).unwrap();
        for bad in [
            json!({"content_type": "text/plain", "base64": "***"}),
            json!({"content_type": "text/plain"}),
            json!("not an object"),
        ] {
            value["result"] = bad;
            let bytes = serde_json::to_vec(&value).unwrap();
            assert!(matches!(
                decode_job_and_result(&bytes),
                Err(CodecError::Malformed { what: "job", .. })
            ));
        }
    }

    #[test]
    fn a_stored_result_starts_with_its_version_and_content_type() {
        let out = Output {
            content_type: "image/webp".into(),
            bytes: b"RIFF".to_vec(),
        };
        assert_eq!(encode_result(&out), b"v1 image/webp\nRIFF");
    }

    #[test]
    fn bad_stored_results_are_refused() {
        assert!(matches!(
            decode_result(b"no newline"),
            Err(CodecError::Malformed { .. })
        ));
        assert!(matches!(
            decode_result(b"v2 image/png\n..."),
            Err(CodecError::UnknownVersion { .. })
        ));
        assert!(matches!(
            decode_result(b"v1 \n..."),
            Err(CodecError::Malformed { .. })
        ));
        assert!(matches!(
            decode_result(b"v1 \xff\n"),
            Err(CodecError::Malformed { .. })
        ));
    }
}

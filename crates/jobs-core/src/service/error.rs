//! Every error a request can meet, one typed enum per service, and [`problem`]: the one
//! function that turns any of them into an RFC 9457 problem. The problem types are listed
//! in docs/problems.md; a test keeps that list and [`PROBLEM_TYPES`] in step.
//!
//! 4xx problems carry a useful `detail`; 5xx problems are opaque (the cause goes to the
//! log through the error's `Display`, never to the client).

use serde::Serialize;

use crate::config::ConfigError;
use crate::job::{InvalidJobId, Status};
use crate::submission::SubmissionError;
use crate::worker::DrainReport;

/// Base of every problem type URI.
pub const PROBLEM_BASE: &str = "https://async-jobs.dev/problems/";

/// Seconds a client should wait before retrying after a `503`.
pub const UNAVAILABLE_RETRY_AFTER_S: u32 = 1;

/// Every problem type slug, for the docs test.
pub const PROBLEM_TYPES: &[&str] = &[
    "malformed-request",
    "invalid-idempotency-key",
    "unknown-kind",
    "invalid-input",
    "idempotency-key-reused",
    "idempotency-key-in-flight",
    "malformed-id",
    "not-found",
    "result-not-ready",
    "job-finished",
    "invalid-filter",
    "route-not-found",
    "method-not-allowed",
    "unsupported-media-type",
    "payload-too-large",
    "unavailable",
    "internal",
];

pub use crate::context::StoreError;

/// `POST /jobs`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Invalid(#[from] SubmissionError),
    #[error("invalid Idempotency-Key: {0}")]
    InvalidIdempotencyKey(&'static str),
    /// The key was used before with a different body.
    #[error("the Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    /// The key is taken but its job cannot be read yet (the first request has not
    /// finished, or it failed and its key has not been released).
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyKeyInFlight,
    /// Nothing was kept: the store or the queue failed, and the record was removed.
    #[error("submit failed and was rolled back: {0}")]
    Unavailable(#[source] StoreError),
}

/// `GET /jobs/{id}` and `GET /jobs/{id}/result`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GetError {
    #[error(transparent)]
    MalformedId(#[from] InvalidJobId),
    #[error("no job with this id")]
    NotFound,
    /// The result exists only for succeeded jobs.
    #[error("the job is {0}, so it has no result")]
    NotReady(Status),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `DELETE /jobs/{id}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CancelError {
    #[error(transparent)]
    MalformedId(#[from] InvalidJobId),
    #[error("no job with this id")]
    NotFound,
    #[error("the job already {0}")]
    Finished(Status),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `GET /jobs?...`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ListError {
    #[error("invalid query parameter {name}: {reason}")]
    InvalidFilter { name: &'static str, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `GET /stats`, `GET /healthz`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HealthError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `POST /internal/drain`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DrainError {
    /// No drain token is configured, or the request does not carry it. Answered exactly
    /// like a path that does not exist, so the endpoint does not reveal itself.
    #[error("no resource at {0}")]
    Hidden(String),
    /// The drain stopped on a store or queue failure (its report says where); jobs it
    /// finished before stay finished.
    #[error("the drain stopped: {}", .0.error.as_deref().unwrap_or("unknown error"))]
    Stopped(DrainReport),
}

/// Failures of the HTTP exchange itself, before any service runs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    #[error("no resource at {0}")]
    RouteNotFound(String),
    #[error("method {method} not allowed; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: &'static str },
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request body could not be read: {0}")]
    BodyUnreadable(String),
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
}

/// Any error a request can end in.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error(transparent)]
    Get(#[from] GetError),
    #[error(transparent)]
    Cancel(#[from] CancelError),
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    Health(#[from] HealthError),
    #[error(transparent)]
    Drain(#[from] DrainError),
}

/// An RFC 9457 problem, ready to serialize as `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Seconds for a `Retry-After` header; not part of the body.
    #[serde(skip)]
    pub retry_after: Option<u32>,
    /// Methods for an `Allow` header (405 only); not part of the body.
    #[serde(skip)]
    pub allow: Option<&'static str>,
}

impl Problem {
    fn new(status: u16, slug: &str, title: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            type_uri: format!("{PROBLEM_BASE}{slug}"),
            title,
            status,
            detail: detail.into(),
            retry_after: None,
            allow: None,
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a problem always serializes")
    }
}

fn unavailable() -> Problem {
    let mut p = Problem::new(
        503,
        "unavailable",
        "Service unavailable",
        "The service could not reach its storage. Nothing was changed; try again later.",
    );
    p.retry_after = Some(UNAVAILABLE_RETRY_AFTER_S);
    p
}

fn internal() -> Problem {
    Problem::new(
        500,
        "internal",
        "Internal error",
        "The service failed to handle the request.",
    )
}

fn store(e: &StoreError) -> Problem {
    match e {
        StoreError::Kv(_) | StoreError::Queue(_) => unavailable(),
        StoreError::Corrupt { .. } => internal(),
    }
}

fn malformed_id(e: &InvalidJobId) -> Problem {
    Problem::new(400, "malformed-id", "Malformed job id", format!("{e}"))
}

fn route_not_found(path: &str) -> Problem {
    Problem::new(
        404,
        "route-not-found",
        "Not found",
        format!("No resource at {path}. See GET /jobs, POST /jobs, GET /stats, GET /healthz."),
    )
}

fn not_found() -> Problem {
    Problem::new(
        404,
        "not-found",
        "Job not found",
        "No job has this id (or it has expired).",
    )
}

/// The one mapping from errors to problems.
pub fn problem(err: &ApiError) -> Problem {
    match err {
        ApiError::Request(e) => match e {
            RequestError::RouteNotFound(path) => route_not_found(path),
            RequestError::MethodNotAllowed { allow, .. } => {
                let mut p = Problem::new(
                    405,
                    "method-not-allowed",
                    "Method not allowed",
                    e.to_string(),
                );
                p.allow = Some(allow);
                p
            }
            RequestError::UnsupportedMediaType => Problem::new(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                "Send the job as JSON with Content-Type: application/json.",
            ),
            RequestError::PayloadTooLarge { .. } => {
                Problem::new(413, "payload-too-large", "Payload too large", e.to_string())
            }
            RequestError::BodyUnreadable(_) => Problem::new(
                400,
                "malformed-request",
                "Malformed request",
                "The request body could not be read.",
            ),
            RequestError::Config(_) => internal(),
        },
        ApiError::Submit(e) => match e {
            SubmitError::Invalid(s) => submission_problem(s),
            SubmitError::InvalidIdempotencyKey(_) => Problem::new(
                400,
                "invalid-idempotency-key",
                "Invalid Idempotency-Key",
                e.to_string(),
            ),
            SubmitError::IdempotencyKeyReused => Problem::new(
                422,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "This Idempotency-Key was already used with a different request body.",
            ),
            SubmitError::IdempotencyKeyInFlight => {
                let mut p = Problem::new(
                    409,
                    "idempotency-key-in-flight",
                    "Request in flight",
                    "A request with this Idempotency-Key is still being processed; retry later.",
                );
                p.retry_after = Some(UNAVAILABLE_RETRY_AFTER_S);
                p
            }
            SubmitError::Unavailable(_) => unavailable(),
        },
        ApiError::Get(e) => match e {
            GetError::MalformedId(id) => malformed_id(id),
            GetError::NotFound => not_found(),
            GetError::NotReady(status) => Problem::new(
                409,
                "result-not-ready",
                "Result not available",
                match status {
                    Status::Queued | Status::Running => {
                        format!(
                            "The job is {status}; its result is available once it has succeeded."
                        )
                    }
                    _ => format!("The job {status}; only succeeded jobs have a result."),
                },
            ),
            GetError::Store(s) => store(s),
        },
        ApiError::Cancel(e) => match e {
            CancelError::MalformedId(id) => malformed_id(id),
            CancelError::NotFound => not_found(),
            CancelError::Finished(status) => Problem::new(
                409,
                "job-finished",
                "Job already finished",
                format!("The job already {status}; it can no longer be cancelled."),
            ),
            CancelError::Store(s) => store(s),
        },
        ApiError::List(e) => match e {
            ListError::InvalidFilter { .. } => {
                Problem::new(400, "invalid-filter", "Invalid filter", e.to_string())
            }
            ListError::Store(s) => store(s),
        },
        ApiError::Health(HealthError::Store(s)) => store(s),
        ApiError::Drain(e) => match e {
            DrainError::Hidden(path) => route_not_found(path),
            DrainError::Stopped(_) => unavailable(),
        },
    }
}

fn submission_problem(e: &SubmissionError) -> Problem {
    match e {
        SubmissionError::Malformed(_) => {
            Problem::new(400, "malformed-request", "Malformed request", e.to_string())
        }
        SubmissionError::UnknownKind { .. } => {
            Problem::new(422, "unknown-kind", "Unknown job kind", e.to_string())
        }
        SubmissionError::InvalidInput { .. } | SubmissionError::InvalidField { .. } => {
            Problem::new(422, "invalid-input", "Invalid job", e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::PortError;

    #[test]
    fn server_errors_are_opaque_and_say_when_to_retry() {
        let err = ApiError::Get(GetError::Store(StoreError::Kv(PortError::Unavailable(
            "redis://10.0.0.7:6379 refused".into(),
        ))));
        let p = problem(&err);
        assert_eq!(p.status, 503);
        assert_eq!(p.retry_after, Some(UNAVAILABLE_RETRY_AFTER_S));
        assert!(!p.detail.contains("10.0.0.7"));
        let corrupt = ApiError::Get(GetError::Store(StoreError::Corrupt {
            key: "j:default:x".into(),
            reason: "eof".into(),
        }));
        let p = problem(&corrupt);
        assert_eq!(p.status, 500);
        assert!(!p.detail.contains("j:default"));
    }

    #[test]
    fn problem_bodies_have_the_rfc_9457_members_only() {
        let p = problem(&ApiError::Cancel(CancelError::NotFound));
        let v: serde_json::Value = serde_json::from_slice(&p.to_json()).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["detail", "status", "title", "type"]);
        assert_eq!(v["type"], "https://async-jobs.dev/problems/not-found");
    }

    #[test]
    fn a_refused_drain_reads_exactly_like_a_missing_route() {
        let hidden = problem(&ApiError::Drain(DrainError::Hidden(
            "/internal/drain".into(),
        )));
        let missing = problem(&ApiError::Request(RequestError::RouteNotFound(
            "/internal/drain".into(),
        )));
        assert_eq!(hidden, missing);
        let stopped = problem(&ApiError::Drain(DrainError::Stopped(DrainReport {
            error: Some("claim: redis://10.0.0.7:6379 refused".into()),
            ..DrainReport::default()
        })));
        assert_eq!(stopped.status, 503);
        assert!(!stopped.detail.contains("10.0.0.7"));
    }

    #[test]
    fn every_problem_type_is_documented() {
        let doc = include_str!("../../../../docs/problems.md");
        for slug in PROBLEM_TYPES {
            assert!(
                doc.contains(&format!("{PROBLEM_BASE}{slug}")),
                "{slug} missing from docs/problems.md"
            );
        }
    }
}

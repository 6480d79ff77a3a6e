//! RFC 9457 problems: every type the API answers ([`ProblemType`], listed in
//! docs/problems.md, which a test keeps in step) and the one mapping from errors to
//! problems ([`problem`]).
//!
//! 4xx problems carry a useful `detail`; 5xx problems are opaque (the cause goes to the
//! log through the error's `Display`, never to the client).

use schemars::JsonSchema;
use serde::Serialize;

use super::error::{ApiError, RequestError};
use crate::context::StoreError;
use crate::job::{InvalidJobId, Status};
use crate::service::error::{
    AdminError, AuthError, BulkError, CancelError, DrainError, GetError, HealthError, ListError,
    RetryError, SubmitError, WebhookError,
};
use crate::submission::SubmissionError;

/// Base of every problem type URI.
pub const PROBLEM_BASE: &str = "https://async-jobs.dev/problems/";

/// Seconds a client should wait before retrying after a `503` or a key in flight.
pub const UNAVAILABLE_RETRY_AFTER_S: u32 = 1;

/// Seconds a client should wait before submitting again to a tenant at its quota.
pub const QUOTA_RETRY_AFTER_S: u32 = 5;

/// Every problem type the API answers: its slug, status and title in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    MalformedRequest,
    InvalidIdempotencyKey,
    MalformedId,
    InvalidFilter,
    NotFound,
    RouteNotFound,
    MethodNotAllowed,
    ResultNotReady,
    JobFinished,
    NotRetryable,
    WebhookUnavailable,
    IdempotencyKeyInFlight,
    PayloadTooLarge,
    UnsupportedMediaType,
    UnknownKind,
    InvalidInput,
    IdempotencyKeyReused,
    Unauthorized,
    Forbidden,
    QuotaExceeded,
    TenantNotFound,
    TenantExists,
    KeyNotFound,
    RotationUnderWay,
    Unavailable,
    Internal,
}

impl ProblemType {
    /// Every type, in the order of docs/problems.md.
    pub const ALL: [ProblemType; 26] = [
        ProblemType::MalformedRequest,
        ProblemType::InvalidIdempotencyKey,
        ProblemType::MalformedId,
        ProblemType::InvalidFilter,
        ProblemType::NotFound,
        ProblemType::RouteNotFound,
        ProblemType::MethodNotAllowed,
        ProblemType::ResultNotReady,
        ProblemType::JobFinished,
        ProblemType::NotRetryable,
        ProblemType::WebhookUnavailable,
        ProblemType::IdempotencyKeyInFlight,
        ProblemType::PayloadTooLarge,
        ProblemType::UnsupportedMediaType,
        ProblemType::UnknownKind,
        ProblemType::InvalidInput,
        ProblemType::IdempotencyKeyReused,
        ProblemType::Unauthorized,
        ProblemType::Forbidden,
        ProblemType::QuotaExceeded,
        ProblemType::TenantNotFound,
        ProblemType::TenantExists,
        ProblemType::KeyNotFound,
        ProblemType::RotationUnderWay,
        ProblemType::Unavailable,
        ProblemType::Internal,
    ];

    /// The last segment of its type URI.
    pub fn slug(self) -> &'static str {
        self.parts().0
    }

    /// The HTTP status it is answered with.
    pub fn status(self) -> u16 {
        self.parts().1
    }

    /// Its `title`: the same for every occurrence.
    pub fn title(self) -> &'static str {
        self.parts().2
    }

    /// Its `type` URI.
    pub fn uri(self) -> String {
        format!("{PROBLEM_BASE}{}", self.slug())
    }

    fn parts(self) -> (&'static str, u16, &'static str) {
        use ProblemType::*;
        match self {
            MalformedRequest => ("malformed-request", 400, "Malformed request"),
            InvalidIdempotencyKey => ("invalid-idempotency-key", 400, "Invalid Idempotency-Key"),
            MalformedId => ("malformed-id", 400, "Malformed job id"),
            InvalidFilter => ("invalid-filter", 400, "Invalid filter"),
            NotFound => ("not-found", 404, "Job not found"),
            RouteNotFound => ("route-not-found", 404, "Not found"),
            MethodNotAllowed => ("method-not-allowed", 405, "Method not allowed"),
            ResultNotReady => ("result-not-ready", 409, "Result not available"),
            JobFinished => ("job-finished", 409, "Job already finished"),
            NotRetryable => ("not-retryable", 409, "Job cannot be retried"),
            WebhookUnavailable => ("webhook-unavailable", 409, "No webhook to deliver"),
            IdempotencyKeyInFlight => ("idempotency-key-in-flight", 409, "Request in flight"),
            PayloadTooLarge => ("payload-too-large", 413, "Payload too large"),
            UnsupportedMediaType => ("unsupported-media-type", 415, "Unsupported media type"),
            UnknownKind => ("unknown-kind", 422, "Unknown job kind"),
            InvalidInput => ("invalid-input", 422, "Invalid job"),
            IdempotencyKeyReused => ("idempotency-key-reused", 422, "Idempotency-Key reused"),
            Unauthorized => ("unauthorized", 401, "Unauthorized"),
            Forbidden => ("forbidden", 403, "Forbidden"),
            QuotaExceeded => ("quota-exceeded", 429, "Too many queued jobs"),
            TenantNotFound => ("tenant-not-found", 404, "Tenant not found"),
            TenantExists => ("tenant-exists", 409, "Tenant exists"),
            KeyNotFound => ("key-not-found", 404, "API key not found"),
            RotationUnderWay => ("rotation-under-way", 409, "Rotation under way"),
            Unavailable => ("unavailable", 503, "Service unavailable"),
            Internal => ("internal", 500, "Internal error"),
        }
    }

    /// The `Retry-After` seconds every problem of this type is sent with, or `None` for
    /// the types sent without one. The answers and the OpenAPI document both take it
    /// from here.
    pub fn retry_after_s(self) -> Option<u32> {
        match self {
            ProblemType::IdempotencyKeyInFlight | ProblemType::Unavailable => {
                Some(UNAVAILABLE_RETRY_AFTER_S)
            }
            ProblemType::QuotaExceeded => Some(QUOTA_RETRY_AFTER_S),
            _ => None,
        }
    }

    /// A problem of this type that says `detail`, with the type's `Retry-After`.
    pub fn with(self, detail: impl Into<String>) -> Problem {
        Problem {
            type_uri: self.uri(),
            title: self.title(),
            status: self.status(),
            detail: detail.into(),
            retry_after: self.retry_after_s(),
            allow: None,
            www_authenticate: None,
        }
    }
}

/// An RFC 9457 problem, ready to serialize as `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
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
    /// A `WWW-Authenticate` challenge (401 only, RFC 6750); not part of the body.
    #[serde(skip)]
    pub www_authenticate: Option<&'static str>,
}

impl Problem {
    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a problem always serializes")
    }
}

fn unavailable() -> Problem {
    ProblemType::Unavailable
        .with("The service could not reach its storage. Nothing was changed; try again later.")
}

fn internal() -> Problem {
    ProblemType::Internal.with("The service failed to handle the request.")
}

fn store(e: &StoreError) -> Problem {
    match e {
        StoreError::Kv(_) | StoreError::Queue(_) => unavailable(),
        StoreError::Corrupt { .. } => internal(),
    }
}

fn malformed_id(e: &InvalidJobId) -> Problem {
    ProblemType::MalformedId.with(e.to_string())
}

fn route_not_found(path: &str) -> Problem {
    ProblemType::RouteNotFound.with(format!(
        "No resource at {path}. The API is described at GET /openapi.json."
    ))
}

fn not_found() -> Problem {
    ProblemType::NotFound.with("No job has this id (or it has expired).")
}

/// The one mapping from errors to problems.
pub fn problem(err: &ApiError) -> Problem {
    match err {
        ApiError::Request(e) => match e {
            RequestError::RouteNotFound(path) => route_not_found(path),
            RequestError::MethodNotAllowed { allow, .. } => {
                let mut p = ProblemType::MethodNotAllowed.with(e.to_string());
                p.allow = Some(allow);
                p
            }
            RequestError::UnsupportedMediaType => ProblemType::UnsupportedMediaType
                .with("Send the job as JSON with Content-Type: application/json."),
            RequestError::PayloadTooLarge { .. } => {
                ProblemType::PayloadTooLarge.with(e.to_string())
            }
            RequestError::BodyUnreadable(_) => {
                ProblemType::MalformedRequest.with("The request body could not be read.")
            }
            RequestError::BodyTooSlow { within_ms } => ProblemType::MalformedRequest.with(format!(
                "The request body did not arrive within {within_ms} ms; send it faster."
            )),
            RequestError::Config(_) => internal(),
        },
        ApiError::Submit(e) => match e {
            SubmitError::Invalid(s) => submission_problem(s),
            SubmitError::InvalidIdempotencyKey(_) => {
                ProblemType::InvalidIdempotencyKey.with(e.to_string())
            }
            SubmitError::IdempotencyKeyReused => ProblemType::IdempotencyKeyReused
                .with("This Idempotency-Key was already used with a different request body."),
            SubmitError::IdempotencyKeyInFlight => ProblemType::IdempotencyKeyInFlight
                .with("A request with this Idempotency-Key is still being processed; retry later."),
            SubmitError::QuotaExceeded { limit, .. } => ProblemType::QuotaExceeded.with(format!(
                "This tenant has {limit} jobs queued, its limit. Nothing was stored; \
                     submit again once some have started."
            )),
            SubmitError::Unavailable(_) => unavailable(),
            SubmitError::OutcomeUnknown(_) => ProblemType::Unavailable.with(
                "The queue stopped answering, so whether the job was queued is not known. \
                     Repeat the request with the same Idempotency-Key: it answers with the job \
                     if it was queued, and queues it if not (without a key, a repeat may \
                     queue it twice).",
            ),
            SubmitError::KeyRefused => problem(&ApiError::Auth(AuthError::Invalid)),
        },
        ApiError::Webhook(WebhookError::Get(e)) | ApiError::Get(e) => match e {
            GetError::MalformedId(id) => malformed_id(id),
            GetError::NotFound => not_found(),
            GetError::NotReady(status) => ProblemType::ResultNotReady.with(match status {
                Status::Queued | Status::Running => {
                    format!("The job is {status}; its result is available once it has succeeded.")
                }
                _ => format!("The job {status}; only succeeded jobs have a result."),
            }),
            GetError::Store(s) => store(s),
        },
        ApiError::Cancel(e) => match e {
            CancelError::MalformedId(id) => malformed_id(id),
            CancelError::NotFound => not_found(),
            CancelError::Finished(status) => ProblemType::JobFinished.with(format!(
                "The job already {status}; it can no longer be cancelled."
            )),
            CancelError::Store(s) => store(s),
            CancelError::Unrecorded(_) => ProblemType::Unavailable.with(
                "The job is cancelled, but the service could not update its record. \
                     Repeat the request to update it; until then the job shows as queued.",
            ),
        },
        ApiError::List(e) => match e {
            ListError::InvalidFilter { .. } => ProblemType::InvalidFilter.with(e.to_string()),
            ListError::Store(s) => store(s),
        },
        ApiError::Health(HealthError::Store(s)) => store(s),
        ApiError::Drain(e) => match e {
            DrainError::Hidden(path) => route_not_found(path),
            DrainError::Stopped(_) => ProblemType::Unavailable.with(
                "The drain stopped midway: the service could not reach its storage. \
                     Jobs it finished stay finished; the others run at a later drain.",
            ),
        },
        ApiError::Webhook(e) => ProblemType::WebhookUnavailable.with(e.to_string()),
        ApiError::Bulk(e) => match e {
            BulkError::List(e) => problem(&ApiError::List(e.clone())),
            BulkError::Cancel(e) => problem(&ApiError::Cancel(e.clone())),
            BulkError::Retry(e) => problem(&ApiError::Retry(e.clone())),
            BulkError::Stopped { affected, cause } => {
                let done = match **cause {
                    BulkError::Cancel(_) => "cancelled",
                    _ => "retried",
                };
                // The cause's own detail would say nothing was done; its text may name
                // the store's address: its title says why.
                let why = problem(&ApiError::Bulk((**cause).clone()));
                Problem {
                    detail: format!(
                        "The request stopped after {affected} jobs of this page were {done} \
                         ({}). Those stay {done}; repeat the request to go on.",
                        why.title.to_lowercase()
                    ),
                    ..why
                }
            }
        },
        ApiError::Retry(e) => match e {
            RetryError::Get(e) => problem(&ApiError::Get(e.clone())),
            RetryError::Submit(e) => problem(&ApiError::Submit(e.clone())),
            RetryError::NotRetryable(_) => ProblemType::NotRetryable.with(e.to_string()),
        },
        ApiError::Auth(e) => match e {
            AuthError::Missing => unauthorized(
                "Send an API key: Authorization: Bearer <key>.",
                r#"Bearer realm="async-jobs""#,
            ),
            AuthError::Invalid | AuthError::Revoked => unauthorized(
                &format!("{e}. Ask the operator for a new key."),
                r#"Bearer realm="async-jobs", error="invalid_token""#,
            ),
            AuthError::ReadOnly => ProblemType::Forbidden.with(e.to_string()),
            AuthError::Store(s) => store(s),
        },
        ApiError::Admin(e) => match e {
            AdminError::Hidden(path) => route_not_found(path),
            AdminError::Invalid(_) => ProblemType::MalformedRequest.with(e.to_string()),
            AdminError::TenantNotFound(_) => ProblemType::TenantNotFound.with(e.to_string()),
            AdminError::TenantExists(_) => ProblemType::TenantExists.with(e.to_string()),
            AdminError::KeyNotFound { .. } => ProblemType::KeyNotFound.with(e.to_string()),
            AdminError::RotationUnderWay(_) => ProblemType::RotationUnderWay.with(e.to_string()),
            AdminError::NoRandomness(_) => internal(),
            AdminError::Store(s) => store(s),
        },
    }
}

fn unauthorized(detail: &str, challenge: &'static str) -> Problem {
    let mut p = ProblemType::Unauthorized.with(detail);
    p.www_authenticate = Some(challenge);
    p
}

fn submission_problem(e: &SubmissionError) -> Problem {
    match e {
        SubmissionError::Malformed(_) | SubmissionError::TooDeep(_) => {
            ProblemType::MalformedRequest.with(e.to_string())
        }
        SubmissionError::TooManyValues(_) => ProblemType::PayloadTooLarge.with(e.to_string()),
        SubmissionError::UnknownKind { .. } => ProblemType::UnknownKind.with(e.to_string()),
        SubmissionError::InvalidInput { .. } | SubmissionError::InvalidField { .. } => {
            ProblemType::InvalidInput.with(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::PortError;
    use crate::worker::DrainReport;

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
    fn a_bulk_page_stopped_midway_says_how_far_it_got_and_why_not_where() {
        let cause = BulkError::Cancel(CancelError::Store(StoreError::Kv(PortError::Unavailable(
            "redis://10.0.0.7:6379 refused".into(),
        ))));
        let p = problem(&ApiError::Bulk(BulkError::Stopped {
            affected: 2,
            cause: Box::new(cause),
        }));
        assert_eq!(p.status, 503);
        assert_eq!(p.retry_after, Some(UNAVAILABLE_RETRY_AFTER_S));
        assert!(p.detail.contains("after 2 jobs"), "{}", p.detail);
        assert!(p.detail.contains("cancelled"), "{}", p.detail);
        assert!(!p.detail.contains("Nothing was changed"), "{}", p.detail);
        assert!(!p.detail.contains("10.0.0.7"), "{}", p.detail);
    }

    #[test]
    fn an_answer_after_something_may_have_changed_never_says_nothing_was() {
        let down = || StoreError::Kv(PortError::Unavailable("redis://10.0.0.7 refused".into()));
        for (err, says) in [
            (
                ApiError::Submit(SubmitError::OutcomeUnknown(down())),
                "Idempotency-Key",
            ),
            (
                ApiError::Drain(DrainError::Stopped(DrainReport::default())),
                "stay finished",
            ),
        ] {
            let p = problem(&err);
            assert_eq!(p.status, 503);
            assert_eq!(p.retry_after, Some(UNAVAILABLE_RETRY_AFTER_S));
            assert!(p.detail.contains(says), "{}", p.detail);
            assert!(!p.detail.contains("Nothing was changed"), "{}", p.detail);
            assert!(!p.detail.contains("10.0.0.7"), "{}", p.detail);
        }
        let nothing = problem(&ApiError::Submit(SubmitError::Unavailable(down())));
        assert!(nothing.detail.contains("Nothing was changed"));
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
        for kind in ProblemType::ALL {
            let row = format!("| `{}` | {} |", kind.uri(), kind.status());
            assert!(
                doc.contains(&row),
                "{kind:?} missing from docs/problems.md: {row}"
            );
        }
    }
}

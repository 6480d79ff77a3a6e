//! Every error a service can end in, one typed enum per service. They say what went
//! wrong in the domain's words; `crate::api` turns them into HTTP problems.

use crate::job::{InvalidJobId, Status};
use crate::submission::SubmissionError;
use crate::worker::DrainReport;

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
    /// The tenant has `limit` jobs queued already; nothing was kept.
    #[error("the tenant has {queued} jobs queued, its limit is {limit}")]
    QuotaExceeded { queued: u64, limit: u64 },
    /// Nothing was kept: the store or the queue failed, and the record was removed.
    #[error("submit failed and was rolled back: {0}")]
    Unavailable(#[source] StoreError),
    /// The queue did not answer, and could not be asked whether it queued the job: the
    /// record stays, in case it did.
    #[error("submit may or may not have taken effect: {0}")]
    OutcomeUnknown(#[source] StoreError),
    /// Nothing was kept: the API key checked with the job ([`super::submit_vouched`]) is
    /// no longer what the instance read (revoked, say). The caller looks the key up to say
    /// why.
    #[error("the API key is not valid")]
    KeyRefused,
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

/// `POST /jobs/{id}/retry`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RetryError {
    #[error(transparent)]
    Get(#[from] GetError),
    /// Only a failed or cancelled job can be retried.
    #[error("the job is {0}; only a failed or cancelled job can be retried")]
    NotRetryable(Status),
    #[error(transparent)]
    Submit(#[from] SubmitError),
}

/// `POST /jobs/bulk-cancel` and `/jobs/bulk-retry`: what stopped a page midway (the jobs
/// acted on before stay so).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BulkError {
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    Cancel(#[from] CancelError),
    #[error(transparent)]
    Retry(#[from] RetryError),
    /// `cause` stopped the page after `affected` of its jobs were acted on: those stay
    /// done, and the same request again skips them and goes on.
    #[error("stopped after {affected} jobs: {cause}")]
    Stopped {
        affected: u32,
        cause: Box<BulkError>,
    },
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
    /// The queue cancelled the job, but its record could not say so: a repeated cancel
    /// writes it.
    #[error("the job is cancelled, but its record was not updated: {0}")]
    Unrecorded(StoreError),
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

/// `POST /jobs/{id}/webhook`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Get(#[from] GetError),
    #[error("the job has no callback_url")]
    NoCallback,
    #[error("the job is {0}; its webhook goes out once it has finished")]
    NotFinished(Status),
    /// Finished before webhooks were delivered: it has no event to send.
    #[error("the job has no webhook event to deliver")]
    NoEvent,
}

impl From<InvalidJobId> for WebhookError {
    fn from(e: InvalidJobId) -> Self {
        WebhookError::Get(GetError::MalformedId(e))
    }
}

impl From<StoreError> for WebhookError {
    fn from(e: StoreError) -> Self {
        WebhookError::Get(GetError::Store(e))
    }
}

/// Authentication of a request (every route but `/healthz`, the admin API and the drain
/// route).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer <key>` header.
    #[error("no API key")]
    Missing,
    /// A key that is malformed, unknown, or not the one its id names.
    #[error("the API key is not valid")]
    Invalid,
    /// A key that was revoked.
    #[error("the API key was revoked")]
    Revoked,
    /// A read-only key, for something that changes a job.
    #[error("this API key is read-only: it may list and read jobs, not change them")]
    ReadOnly,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The admin API (`/admin/...`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdminError {
    /// No admin token is configured, or the request does not carry it: answered exactly
    /// like a path that does not exist.
    #[error("no resource at {0}")]
    Hidden(String),
    /// The request body or a name in the path is not acceptable.
    #[error("{0}")]
    Invalid(String),
    #[error("no tenant {0}")]
    TenantNotFound(String),
    #[error("a tenant named {0} exists already")]
    TenantExists(String),
    #[error("tenant {tenant} has no API key {id}")]
    KeyNotFound { tenant: String, id: String },
    /// A second rotation would drop the previous secret, which receivers may still verify
    /// with.
    #[error(
        "a rotation of tenant {0}'s webhook secret is under way (its previous secret still signs); nothing was changed. GET /admin/tenants/{0}/webhook-secret shows the rotation's new secret; once receivers verify with it, DELETE /admin/tenants/{0}/webhook-secret/previous ends the rotation, and another may begin"
    )]
    RotationUnderWay(String),
    /// The system gave no randomness for a new key.
    #[error("{0}")]
    NoRandomness(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

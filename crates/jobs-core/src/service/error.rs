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

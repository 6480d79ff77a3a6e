//! The errors a request can end in: its own ([`RequestError`]) or a service's.

use crate::config::ConfigError;
use crate::service::error::{
    AdminError, AuthError, BulkError, CancelError, DrainError, GetError, HealthError, ListError,
    RetryError, SubmitError, WebhookError,
};

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
    /// The body had not all arrived within `body_timeout_ms`.
    #[error("the request body did not arrive within {within_ms} ms")]
    BodyTooSlow { within_ms: u64 },
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
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error(transparent)]
    Retry(#[from] RetryError),
    #[error(transparent)]
    Bulk(#[from] BulkError),
}

//! A job's error: its class and message, as recorded and shown.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The class of a job's error: decides whether it is retried and tells clients why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// The kind said retrying cannot help (bad data found only while running).
    Permanent,
    /// The kind said a later attempt may succeed. Terminal only once attempts run out.
    Transient,
    /// The job was cancelled at a client's request.
    Cancelled,
    /// A worker claimed the job and stopped answering (crash, kill, timeout) until its
    /// lease ran out, and no attempts were left to run it again.
    LeaseExpired,
    /// Something in the service itself went wrong (an unreadable record, a kind that is
    /// no longer registered). Not the client's input.
    Internal,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Permanent => "permanent",
            ErrorType::Transient => "transient",
            ErrorType::Cancelled => "cancelled",
            ErrorType::LeaseExpired => "lease_expired",
            ErrorType::Internal => "internal",
        }
    }

    pub const ALL: [ErrorType; 5] = [
        ErrorType::Permanent,
        ErrorType::Transient,
        ErrorType::Cancelled,
        ErrorType::LeaseExpired,
        ErrorType::Internal,
    ];
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job's error, as recorded and shown: `{"type": "transient", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorInfo {
    #[serde(rename = "type")]
    pub kind: ErrorType,
    pub message: String,
}

impl ErrorInfo {
    pub fn new(kind: ErrorType, message: impl Into<String>) -> ErrorInfo {
        ErrorInfo {
            kind,
            message: message.into(),
        }
    }
    pub fn permanent(message: impl Into<String>) -> ErrorInfo {
        ErrorInfo::new(ErrorType::Permanent, message)
    }
    pub fn transient(message: impl Into<String>) -> ErrorInfo {
        ErrorInfo::new(ErrorType::Transient, message)
    }
    pub fn cancelled() -> ErrorInfo {
        ErrorInfo::new(ErrorType::Cancelled, "cancelled at the client's request")
    }
    pub fn lease_expired() -> ErrorInfo {
        ErrorInfo::new(
            ErrorType::LeaseExpired,
            "the worker running the job stopped answering and no attempts are left",
        )
    }
    pub fn internal(message: impl Into<String>) -> ErrorInfo {
        ErrorInfo::new(ErrorType::Internal, message)
    }
}

//! A job's status.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a job is in its life. The lowercase names are the one spelling used on the wire,
/// in stored records and in Redis index keys (`as_str`, `parse` and serde agree; a test
/// checks it).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[schemars(description = "Where a job is in its life.")]
pub enum Status {
    /// Waiting to be claimed (possibly delayed until `not_before`, or waiting to retry).
    Queued,
    /// Claimed by a worker; an attempt is under way.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Finished without a result: a permanent error, or no attempts left.
    Failed,
    /// Stopped at a client's request.
    Cancelled,
}

impl Status {
    /// Every status, in life order.
    pub const ALL: [Status; 5] = [
        Status::Queued,
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    /// The inverse of [`Status::as_str`]; exact, lowercase only.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True when the job will never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Cancelled)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

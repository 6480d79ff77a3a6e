//! The job record and the state machine that is the only way it changes status.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{ErrorInfo, JobId, JobInput, Status, Tenant, Timestamp};

/// How far a running job has come, as its kind reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Progress {
    /// 0 to 100; larger values are capped at 100 by [`Progress::new`] and
    /// [`Job::set_progress`].
    #[schemars(range(max = 100), description = "0 to 100.")]
    pub percent: u8,
    /// A short human note ("resized"), if the kind gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Progress {
    pub fn new(percent: u8, message: Option<String>) -> Progress {
        Progress {
            percent: percent.min(100),
            message,
        }
    }
}

/// Why a state change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The state machine has no arrow from `from` to `to`.
    NotAllowed,
    /// The arrow exists, but every attempt has been used (`start`, `retry`).
    NoAttemptsLeft,
}

/// A refused state change: the record is left exactly as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("cannot move a job from {from} to {to}{}", match .reason {
    Refusal::NotAllowed => "",
    Refusal::NoAttemptsLeft => ": no attempts left",
})]
pub struct TransitionError {
    pub from: Status,
    pub to: Status,
    pub reason: Refusal,
}

/// The stored job record: the truth a client reads.
///
/// Fields are public for reading and for building records in tests; change status only
/// through the transition methods, which refuse illegal moves:
///
/// ```text
///   queued ──start──▶ running ──succeed──▶ succeeded
///     │  ▲              │ │ └────fail────▶ failed
///     │  └────retry─────┘ └───cancel─────▶ cancelled
///     ├──fail───────────────────────────▶ failed     (e.g. lease expired, no attempts)
///     └──cancel─────────────────────────▶ cancelled
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub tenant: Tenant,
    /// A registered kind name, checked at intake.
    pub kind: String,
    /// The kind's input, validated at intake.
    pub input: JobInput,
    pub status: Status,
    /// Attempts started so far (a lease that expired counts as one).
    pub attempts: u32,
    pub max_attempts: u32,
    pub progress: Option<Progress>,
    pub created_at: Timestamp,
    /// When the latest attempt started (kept while queued for a retry).
    pub started_at: Option<Timestamp>,
    /// When the job reached a terminal status.
    pub finished_at: Option<Timestamp>,
    /// Why it failed or was cancelled; while queued for a retry, the last attempt's error.
    pub error: Option<ErrorInfo>,
    pub callback_url: Option<String>,
    pub idempotency_key: Option<String>,
    /// Not to be run before this instant (a submission's `delay_ms`).
    pub not_before: Option<Timestamp>,
    /// The failed or cancelled job this one retries (`POST /jobs/{id}/retry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<JobId>,
}

impl Job {
    /// Attempts not yet started.
    pub fn attempts_left(&self) -> u32 {
        self.max_attempts.saturating_sub(self.attempts)
    }

    fn check(&self, to: Status, from: &[Status]) -> Result<(), TransitionError> {
        if from.contains(&self.status) {
            Ok(())
        } else {
            Err(TransitionError {
                from: self.status,
                to,
                reason: Refusal::NotAllowed,
            })
        }
    }

    fn check_attempts(&self, to: Status) -> Result<(), TransitionError> {
        if self.attempts_left() > 0 {
            Ok(())
        } else {
            Err(TransitionError {
                from: self.status,
                to,
                reason: Refusal::NoAttemptsLeft,
            })
        }
    }

    /// queued → running: a new attempt begins. Refused with
    /// [`Refusal::NoAttemptsLeft`] when every attempt is used (a worker died during the
    /// last one): the caller then records `fail(now, ErrorInfo::lease_expired())`.
    pub fn start(&mut self, now: Timestamp) -> Result<(), TransitionError> {
        self.check(Status::Running, &[Status::Queued])?;
        self.check_attempts(Status::Running)?;
        self.status = Status::Running;
        self.attempts += 1;
        self.started_at = Some(now);
        self.progress = None;
        Ok(())
    }

    /// running → succeeded. Progress becomes 100 and any error of an earlier attempt is
    /// cleared: `error` describes the outcome, and the outcome is success.
    pub fn succeed(&mut self, now: Timestamp) -> Result<(), TransitionError> {
        self.check(Status::Succeeded, &[Status::Running])?;
        self.status = Status::Succeeded;
        self.finished_at = Some(now);
        self.progress = Some(Progress::new(100, None));
        self.error = None;
        Ok(())
    }

    /// running or queued → failed, for good.
    pub fn fail(&mut self, now: Timestamp, error: ErrorInfo) -> Result<(), TransitionError> {
        self.check(Status::Failed, &[Status::Running, Status::Queued])?;
        self.status = Status::Failed;
        self.finished_at = Some(now);
        self.error = Some(error);
        Ok(())
    }

    /// running → queued for another attempt, keeping `error` as the last attempt's.
    /// Refused with [`Refusal::NoAttemptsLeft`] when none remain: then `fail`.
    /// When to run again is the queue's business (`retry::RetryPolicy`).
    pub fn retry(&mut self, error: ErrorInfo) -> Result<(), TransitionError> {
        self.check(Status::Queued, &[Status::Running])?;
        self.check_attempts(Status::Queued)?;
        self.status = Status::Queued;
        self.progress = None;
        self.error = Some(error);
        Ok(())
    }

    /// queued or running → cancelled. Records `error: {type: cancelled}` so a client
    /// never sees a stale error of an earlier attempt as the reason.
    pub fn cancel(&mut self, now: Timestamp) -> Result<(), TransitionError> {
        self.check(Status::Cancelled, &[Status::Queued, Status::Running])?;
        self.status = Status::Cancelled;
        self.finished_at = Some(now);
        self.error = Some(ErrorInfo::cancelled());
        Ok(())
    }

    /// Records progress of the running attempt (percent capped at 100).
    pub fn set_progress(&mut self, progress: Progress) -> Result<(), TransitionError> {
        self.check(Status::Running, &[Status::Running])?;
        self.progress = Some(Progress::new(progress.percent, progress.message));
        Ok(())
    }
}

//! The job record and its vocabulary: ids, tenants, statuses, timestamps, progress,
//! errors, and the state machine that is the only way a record changes status.
//!
//! Pure values: no I/O, no clock (callers pass `now`), no Spin.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::submission::NewJob;

// ---------------------------------------------------------------------------------------
// JobId
// ---------------------------------------------------------------------------------------

/// A job's id: a UUIDv7 kept in its canonical lowercase hyphenated text.
///
/// Why v7: the first 48 bits are the creation time in milliseconds, so ids sort by time
/// (as bytes and as text, which is what the Redis `all` index relies on), and the
/// remaining 74 bits are random, so ids cannot be guessed from one another.
///
/// The text is kept beside the value so [`JobId::as_str`] is free: ids go into every
/// key name and URL.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId {
    // Field order matters for the derived `Ord`: the uuid bytes decide, and they are in
    // time order for v7.
    uuid: Uuid,
    text: [u8; 36],
}

/// Why a string is not a job id. The value is kept (cut to 64 characters) so an error
/// message can show what was received.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid job id {value:?}: {reason}")]
pub struct InvalidJobId {
    /// What was received, cut to at most 64 characters.
    pub value: String,
    /// Why it was refused.
    pub reason: &'static str,
}

impl JobId {
    /// A fresh id for a job created now.
    pub fn new() -> JobId {
        JobId::from_uuid(Uuid::now_v7())
    }

    fn from_uuid(uuid: Uuid) -> JobId {
        let mut text = [0u8; 36];
        uuid.hyphenated().encode_lower(&mut text);
        JobId { uuid, text }
    }

    /// Parses an id as it appears in URLs and keys.
    ///
    /// Only the canonical form is accepted (36 characters, lowercase, hyphenated,
    /// version 7, RFC 9562 variant): one id has exactly one spelling, so it can be used
    /// as a key without normalising and two spellings never name two records.
    pub fn parse(s: &str) -> Result<JobId, InvalidJobId> {
        let refuse = |reason| InvalidJobId {
            value: s.chars().take(64).collect(),
            reason,
        };
        if s.len() != 36 {
            return Err(refuse("expected 36 characters (a hyphenated UUIDv7)"));
        }
        let uuid = Uuid::try_parse(s).map_err(|_| refuse("not a UUID"))?;
        let id = JobId::from_uuid(uuid);
        if id.as_str() != s {
            return Err(refuse("not in canonical lowercase hyphenated form"));
        }
        if uuid.get_version_num() != 7 || uuid.get_variant() != uuid::Variant::RFC4122 {
            return Err(refuse("not a version 7 UUID"));
        }
        Ok(id)
    }

    /// The canonical text: 36 lowercase characters.
    pub fn as_str(&self) -> &str {
        // Filled by `encode_lower`, so always ASCII.
        std::str::from_utf8(&self.text).expect("a JobId holds ASCII text")
    }

    /// When the id was made, in milliseconds since the Unix epoch (the v7 timestamp).
    pub fn created_ms(&self) -> u64 {
        let b = self.uuid.as_bytes();
        u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.uuid
    }
}

impl Default for JobId {
    fn default() -> Self {
        JobId::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({})", self.as_str())
    }
}

impl FromStr for JobId {
    type Err = InvalidJobId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobId::parse(s)
    }
}

impl Serialize for JobId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        JobId::parse(&s).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------
// Tenant
// ---------------------------------------------------------------------------------------

/// Who owns a job. One tenant, `default`, until authentication arrives; it is already in
/// every record and key so isolation needs no migration.
///
/// Valid names are 1 to 32 characters of `a-z`, `0-9` and `-`: safe inside key names
/// (no `:`, `{` or `}`) and URLs without escaping.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

/// Why a string is not a tenant name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid tenant {value:?}: must be 1 to 32 characters of a-z, 0-9 and '-'")]
pub struct InvalidTenant {
    /// What was received, cut to at most 64 characters.
    pub value: String,
}

impl Tenant {
    /// The name of the single tenant that exists before authentication.
    pub const DEFAULT: &'static str = "default";

    /// The single tenant that exists before authentication.
    pub fn default_tenant() -> Tenant {
        Tenant(Tenant::DEFAULT.to_owned())
    }

    /// Parses a tenant name.
    pub fn parse(s: &str) -> Result<Tenant, InvalidTenant> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Tenant(s.to_owned()))
        } else {
            Err(InvalidTenant {
                value: s.chars().take(64).collect(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Tenant {
    fn default() -> Self {
        Tenant::default_tenant()
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tenant({})", self.0)
    }
}

impl FromStr for Tenant {
    type Err = InvalidTenant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tenant::parse(s)
    }
}

impl Serialize for Tenant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Tenant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Tenant::parse(&s).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------

/// Where a job is in its life. The lowercase names are the one spelling used on the wire,
/// in stored records and in Redis index keys (`as_str`, `parse` and serde agree; a test
/// checks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

// ---------------------------------------------------------------------------------------
// Timestamp
// ---------------------------------------------------------------------------------------

/// A point in time, milliseconds since the Unix epoch, UTC.
///
/// On the wire and in records it is RFC 3339 with exactly three fraction digits and a
/// `Z` (`2026-11-27T06:16:35.123Z`), so text order is time order. Values are capped at
/// [`Timestamp::MAX`] (the last millisecond of year 9999) so every timestamp can be
/// written in that form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(u64);

/// Why a string is not an RFC 3339 timestamp this crate can hold.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid timestamp {value:?}: {reason}")]
pub struct InvalidTimestamp {
    pub value: String,
    pub reason: &'static str,
}

const RFC3339_MILLIS: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

impl Timestamp {
    /// 9999-12-31T23:59:59.999Z, the last instant four-digit years can express.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999);

    /// From milliseconds since the epoch; later values are capped at [`Timestamp::MAX`].
    pub fn from_ms(ms: u64) -> Timestamp {
        Timestamp(ms.min(Timestamp::MAX.0))
    }

    pub fn as_ms(self) -> u64 {
        self.0
    }

    /// `ms` later, capped at [`Timestamp::MAX`].
    pub fn plus_ms(self, ms: u64) -> Timestamp {
        Timestamp::from_ms(self.0.saturating_add(ms))
    }

    /// The RFC 3339 form, e.g. `2026-11-27T06:16:35.123Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        // Both steps succeed for every value up to MAX, which `from_ms` guarantees.
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(RFC3339_MILLIS).ok())
            .unwrap_or_else(|| "9999-12-31T23:59:59.999Z".to_owned())
    }

    /// Parses any RFC 3339 timestamp (any offset, any fraction precision) at or after
    /// the epoch; sub-millisecond digits are dropped.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, InvalidTimestamp> {
        let refuse = |reason| InvalidTimestamp {
            value: s.chars().take(64).collect(),
            reason,
        };
        let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| refuse("not RFC 3339"))?;
        let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
        let ms = u64::try_from(ms).map_err(|_| refuse("before 1970"))?;
        Ok(Timestamp::from_ms(ms))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------
// Progress and errors
// ---------------------------------------------------------------------------------------

/// How far a running job has come, as its kind reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// 0 to 100; larger values are capped at 100 by [`Progress::new`] and
    /// [`Job::set_progress`].
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

/// The class of a job's error: decides whether it is retried and tells clients why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

// ---------------------------------------------------------------------------------------
// The record and its state machine
// ---------------------------------------------------------------------------------------

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
}

/// A job's input. A job just submitted also keeps the exact JSON text its input came in,
/// and its record is written with that text: encoding the input again (escaping every
/// byte of a large base64 image) was the largest cost of acknowledging a `thumbnail`.
/// Read back from a record, an input holds the parsed value only.
///
/// An input larger than [`crate::codec::INLINE_INPUT_MAX`] is stored *apart*, under its
/// own key (`i:`), written once at submit: the record, which every status poll reads and
/// every transition rewrites, stays small. Such a record holds `"input": null` and
/// `"input_apart": true`; the worker loads the value before it runs the job.
#[derive(Debug, Clone)]
pub struct JobInput {
    value: serde_json::Value,
    text: Option<Box<serde_json::value::RawValue>>,
    apart: bool,
}

impl JobInput {
    /// An input as submitted: `text` is the JSON that `value` was parsed from.
    pub fn submitted(value: serde_json::Value, text: Box<serde_json::value::RawValue>) -> Self {
        let apart = text.get().len() > crate::codec::INLINE_INPUT_MAX;
        JobInput {
            value,
            text: Some(text),
            apart,
        }
    }

    /// The input of a record that says it is stored apart, not loaded yet (`null`).
    pub fn apart() -> Self {
        JobInput {
            value: serde_json::Value::Null,
            text: None,
            apart: true,
        }
    }

    /// Whether the input is stored under its own key rather than in the record.
    pub fn is_apart(&self) -> bool {
        self.apart
    }

    /// Gives an input stored apart its value, read from its key.
    pub fn load(&mut self, value: serde_json::Value) {
        self.value = value;
        self.text = None;
    }

    /// The JSON text of the input: as submitted when known, else encoded from the value.
    pub fn to_json(&self) -> Vec<u8> {
        match &self.text {
            Some(text) => text.get().as_bytes().to_vec(),
            None => serde_json::to_vec(&self.value).expect("a JSON value always serializes"),
        }
    }

    pub fn value(&self) -> &serde_json::Value {
        &self.value
    }
}

impl From<serde_json::Value> for JobInput {
    fn from(value: serde_json::Value) -> Self {
        JobInput {
            value,
            text: None,
            apart: false,
        }
    }
}

impl std::ops::Deref for JobInput {
    type Target = serde_json::Value;

    fn deref(&self) -> &serde_json::Value {
        &self.value
    }
}

/// Inputs are equal when their values and places are: the text is only how it was
/// written.
impl PartialEq for JobInput {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value && self.apart == other.apart
    }
}

/// In a record: the input itself, or `null` when it is stored apart.
impl Serialize for JobInput {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.text {
            _ if self.apart => serializer.serialize_unit(),
            Some(text) => text.serialize(serializer),
            None => self.value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for JobInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(JobInput::from)
    }
}

impl Job {
    /// A freshly submitted job: queued, no attempts yet. The idempotency key, if any, is
    /// set by the caller (it comes from a header, not the body).
    pub fn new(id: JobId, tenant: Tenant, new: NewJob, now: Timestamp) -> Job {
        Job {
            id,
            tenant,
            kind: new.kind,
            input: new.input,
            status: Status::Queued,
            attempts: 0,
            max_attempts: new.max_attempts,
            progress: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            error: None,
            callback_url: new.callback_url,
            idempotency_key: None,
            not_before: (new.delay_ms > 0).then(|| now.plus_ms(new.delay_ms)),
        }
    }

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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn new_job(max_attempts: u32) -> Job {
        let new = NewJob {
            kind: "echo".into(),
            input: json!({"a": 1}).into(),
            max_attempts,
            callback_url: None,
            delay_ms: 0,
        };
        Job::new(
            JobId::new(),
            Tenant::default_tenant(),
            new,
            Timestamp::from_ms(1_000),
        )
    }

    /// A job in `status`, reached through legal transitions only.
    pub(crate) fn job_in(status: Status) -> Job {
        let mut job = new_job(3);
        let now = Timestamp::from_ms(2_000);
        match status {
            Status::Queued => {}
            Status::Running => job.start(now).unwrap(),
            Status::Succeeded => {
                job.start(now).unwrap();
                job.succeed(now).unwrap();
            }
            Status::Failed => {
                job.start(now).unwrap();
                job.fail(now, ErrorInfo::permanent("bad")).unwrap();
            }
            Status::Cancelled => job.cancel(now).unwrap(),
        }
        job
    }

    #[test]
    fn a_new_id_is_a_canonical_v7_uuid_that_parses_back() {
        let id = JobId::new();
        assert_eq!(id.as_str().len(), 36);
        assert_eq!(id.as_uuid().get_version_num(), 7);
        assert_eq!(JobId::parse(id.as_str()), Ok(id));
        assert_eq!(id.to_string(), id.as_str());
    }

    #[test]
    fn ids_made_later_sort_later_as_values_and_as_text() {
        let ids: Vec<JobId> = (0..200).map(|_| JobId::new()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].as_str() < pair[1].as_str());
        }
    }

    #[test]
    fn created_ms_is_the_v7_timestamp() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let id = JobId::new();
        let after = before + 5_000;
        assert!((before..=after).contains(&id.created_ms()));
        let fixed = JobId::parse("01890a5d-ac96-774b-bcce-b302099a8057").unwrap();
        assert_eq!(fixed.created_ms(), 0x0189_0a5d_ac96);
    }

    #[test]
    fn id_parse_refuses_every_non_canonical_spelling() {
        let good = "01890a5d-ac96-774b-bcce-b302099a8057";
        assert!(JobId::parse(good).is_ok());
        for bad in [
            "",
            "not-a-uuid",
            "01890A5D-AC96-774B-BCCE-B302099A8057", // uppercase
            "01890a5dac96774bbccebb302099a8057",    // simple form
            "{01890a5d-ac96-774b-bcce-b302099a8057}", // braced
            "urn:uuid:01890a5d-ac96-774b-bcce-b302099a8057",
            "01890a5d-ac96-474b-bcce-b302099a8057", // v4
            "01890a5d-ac96-774b-7cce-b302099a8057", // wrong variant
            "01890a5d-ac96-774b-bcce-b302099a805g",
            " 1890a5d-ac96-774b-bcce-b302099a8057",
        ] {
            assert!(JobId::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn an_id_serializes_as_its_text_and_bad_text_does_not_deserialize() {
        let id = JobId::new();
        let text = serde_json::to_string(&id).unwrap();
        assert_eq!(text, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<JobId>(&text).unwrap(), id);
        assert!(serde_json::from_str::<JobId>("\"nope\"").is_err());
    }

    #[test]
    fn tenant_names_are_short_lowercase_alphanumerics_and_dashes() {
        assert_eq!(Tenant::default_tenant().as_str(), "default");
        for good in ["a", "acme-2", &"x".repeat(32)] {
            assert!(Tenant::parse(good).is_ok(), "refused {good:?}");
        }
        for bad in ["", "Acme", "a:b", "a{b}", "a_b", "é", &"x".repeat(33)] {
            assert!(Tenant::parse(bad).is_err(), "accepted {bad:?}");
        }
        assert!(serde_json::from_str::<Tenant>("\"A\"").is_err());
    }

    #[test]
    fn every_status_round_trips_through_as_str_parse_and_serde() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), status);
        }
        assert_eq!(Status::parse("Queued"), None);
        assert_eq!(Status::parse("done"), None);
    }

    #[test]
    fn only_succeeded_failed_and_cancelled_are_terminal() {
        let terminal: Vec<_> = Status::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [Status::Succeeded, Status::Failed, Status::Cancelled]
        );
    }

    #[test]
    fn timestamps_are_written_as_rfc3339_utc_with_milliseconds() {
        let t = Timestamp::from_ms(1_795_760_195_123);
        assert_eq!(t.to_rfc3339(), "2026-11-27T06:16:35.123Z");
        assert_eq!(
            Timestamp::from_ms(0).to_rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-11-27T06:16:35.123Z\""
        );
        assert_eq!(
            serde_json::from_str::<Timestamp>("\"2026-11-27T06:16:35.123Z\"").unwrap(),
            t
        );
    }

    #[test]
    fn timestamps_read_any_offset_and_precision_but_not_garbage() {
        let t = Timestamp::parse_rfc3339("2026-11-27T07:16:35.123456+01:00").unwrap();
        assert_eq!(t.as_ms(), 1_795_760_195_123);
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
        assert!(Timestamp::parse_rfc3339("1969-12-31T23:59:59Z").is_err());
    }

    #[test]
    fn timestamps_beyond_year_9999_are_capped_and_still_format() {
        let t = Timestamp::from_ms(u64::MAX);
        assert_eq!(t, Timestamp::MAX);
        assert_eq!(t.to_rfc3339(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::from_ms(5).plus_ms(u64::MAX), Timestamp::MAX);
    }

    #[test]
    fn an_error_is_shown_with_a_type_field_in_snake_case() {
        let e = ErrorInfo::lease_expired();
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "lease_expired");
        for kind in ErrorType::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn a_new_job_is_queued_with_no_attempts_and_a_delay_becomes_not_before() {
        let job = new_job(3);
        assert_eq!(job.status, Status::Queued);
        assert_eq!(job.attempts, 0);
        assert_eq!(job.attempts_left(), 3);
        assert_eq!(job.not_before, None);

        let new = NewJob {
            kind: "echo".into(),
            input: json!({}).into(),
            max_attempts: 1,
            callback_url: None,
            delay_ms: 500,
        };
        let job = Job::new(
            JobId::new(),
            Tenant::default_tenant(),
            new,
            Timestamp::from_ms(1_000),
        );
        assert_eq!(job.not_before, Some(Timestamp::from_ms(1_500)));
    }

    #[derive(Clone, Copy, Debug)]
    enum Move {
        Start,
        Succeed,
        Fail,
        Retry,
        Cancel,
        Progress,
    }

    fn apply(job: &mut Job, m: Move) -> Result<(), TransitionError> {
        let now = Timestamp::from_ms(9_000);
        match m {
            Move::Start => job.start(now),
            Move::Succeed => job.succeed(now),
            Move::Fail => job.fail(now, ErrorInfo::permanent("x")),
            Move::Retry => job.retry(ErrorInfo::transient("x")),
            Move::Cancel => job.cancel(now),
            Move::Progress => job.set_progress(Progress::new(50, None)),
        }
    }

    #[test]
    fn the_transition_table_allows_exactly_the_legal_moves() {
        use Status::*;
        // (from, move, resulting status if legal)
        let table: &[(Status, Move, Option<Status>)] = &[
            (Queued, Move::Start, Some(Running)),
            (Queued, Move::Succeed, None),
            (Queued, Move::Fail, Some(Failed)),
            (Queued, Move::Retry, None),
            (Queued, Move::Cancel, Some(Cancelled)),
            (Queued, Move::Progress, None),
            (Running, Move::Start, None),
            (Running, Move::Succeed, Some(Succeeded)),
            (Running, Move::Fail, Some(Failed)),
            (Running, Move::Retry, Some(Queued)),
            (Running, Move::Cancel, Some(Cancelled)),
            (Running, Move::Progress, Some(Running)),
        ];
        for &(from, m, to) in table {
            let mut job = job_in(from);
            let before = job.clone();
            let got = apply(&mut job, m);
            match to {
                Some(to) => {
                    assert_eq!(got, Ok(()), "{from} {m:?}");
                    assert_eq!(job.status, to, "{from} {m:?}");
                }
                None => {
                    let err = got.expect_err(&format!("{from} {m:?} was allowed"));
                    assert_eq!(err.from, from);
                    assert_eq!(err.reason, Refusal::NotAllowed);
                    assert_eq!(job, before, "a refused move changed the record");
                }
            }
        }
        // Terminal states accept nothing.
        for from in [Succeeded, Failed, Cancelled] {
            for m in [
                Move::Start,
                Move::Succeed,
                Move::Fail,
                Move::Retry,
                Move::Cancel,
                Move::Progress,
            ] {
                let mut job = job_in(from);
                let before = job.clone();
                let err = apply(&mut job, m).expect_err(&format!("{from} {m:?} was allowed"));
                assert_eq!(err.from, from);
                assert_eq!(job, before);
            }
        }
    }

    #[test]
    fn start_counts_an_attempt_stamps_the_time_and_clears_progress() {
        let mut job = new_job(3);
        job.progress = Some(Progress::new(40, None));
        job.start(Timestamp::from_ms(5)).unwrap();
        assert_eq!(job.attempts, 1);
        assert_eq!(job.started_at, Some(Timestamp::from_ms(5)));
        assert_eq!(job.progress, None);
        assert_eq!(job.attempts_left(), 2);
    }

    #[test]
    fn retry_keeps_the_error_and_a_later_success_clears_it() {
        let mut job = job_in(Status::Running);
        job.retry(ErrorInfo::transient("flaky")).unwrap();
        assert_eq!(job.status, Status::Queued);
        assert_eq!(job.error, Some(ErrorInfo::transient("flaky")));
        job.start(Timestamp::from_ms(7)).unwrap();
        assert_eq!(job.attempts, 2);
        job.succeed(Timestamp::from_ms(8)).unwrap();
        assert_eq!(job.error, None);
        assert_eq!(job.progress, Some(Progress::new(100, None)));
        assert_eq!(job.finished_at, Some(Timestamp::from_ms(8)));
    }

    #[test]
    fn with_no_attempts_left_retry_and_start_are_refused_and_fail_is_not() {
        let mut job = new_job(1);
        job.start(Timestamp::from_ms(1)).unwrap();
        let err = job.retry(ErrorInfo::transient("x")).unwrap_err();
        assert_eq!(err.reason, Refusal::NoAttemptsLeft);
        assert_eq!(job.status, Status::Running);

        // A worker died during the last attempt: the job is queued again by lease expiry
        // (the record may still say queued if it never got written as running).
        let mut job = new_job(1);
        job.attempts = 1;
        let err = job.start(Timestamp::from_ms(2)).unwrap_err();
        assert_eq!(
            (err.from, err.to, err.reason),
            (Status::Queued, Status::Running, Refusal::NoAttemptsLeft)
        );
        assert!(err.to_string().contains("no attempts left"));
        job.fail(Timestamp::from_ms(3), ErrorInfo::lease_expired())
            .unwrap();
        assert_eq!(job.status, Status::Failed);
    }

    #[test]
    fn cancel_records_a_cancelled_error_and_the_finish_time() {
        let mut job = job_in(Status::Running);
        job.cancel(Timestamp::from_ms(11)).unwrap();
        assert_eq!(
            job.error.as_ref().map(|e| e.kind),
            Some(ErrorType::Cancelled)
        );
        assert_eq!(job.finished_at, Some(Timestamp::from_ms(11)));
    }

    #[test]
    fn progress_is_capped_at_one_hundred() {
        let mut job = job_in(Status::Running);
        job.set_progress(Progress {
            percent: 250,
            message: Some("m".into()),
        })
        .unwrap();
        assert_eq!(job.progress, Some(Progress::new(100, Some("m".into()))));
    }

    #[test]
    fn a_refused_move_names_both_states() {
        let mut job = job_in(Status::Succeeded);
        let err = job.cancel(Timestamp::from_ms(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot move a job from succeeded to cancelled"
        );
    }
}

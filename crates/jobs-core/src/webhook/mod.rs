//! Completion webhooks: the event a finished job sends to its `callback_url`, signed per
//! Standard Webhooks v1 ([`signature`]), and when a failed delivery is tried again
//! ([`Schedule`], [`next_step`]). The outbox and delivery state live in Redis beside the
//! queue (`queue/lua/hook_*.lua`); the worker delivers (`worker::hooks`).

pub mod signature;

pub use signature::{Secret, signature_header};

use serde::Serialize;

use crate::job::{Job, Status};
use crate::resource::JobResource;

/// Largest event body: the result is linked, never inlined, and long messages are cut.
pub const MAX_EVENT_BYTES: usize = 20_000;
/// How long one delivery may take, connection to last byte.
pub const SEND_TIMEOUT_MS: u64 = 15_000;
/// The spec's example schedule: the delays before each attempt.
pub const DEFAULT_SCHEDULE: &str = "0s,5s,5m,30m,2h,5h,10h,10h";
/// The longest `Retry-After` honoured (a receiver cannot park a delivery for days).
const MAX_RETRY_AFTER_S: u64 = 10 * 3_600;

/// The `type` of the event of a job that ended in `status`; `None` unless final.
pub fn event_type(status: Status) -> Option<&'static str> {
    match status {
        Status::Succeeded => Some("job.succeeded"),
        Status::Failed => Some("job.failed"),
        Status::Cancelled => Some("job.cancelled"),
        Status::Queued | Status::Running => None,
    }
}

/// The stable `webhook-id` of a job's event: the same on every attempt.
pub fn message_id(job: &Job) -> String {
    format!("msg_{}", job.id.as_str())
}

#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    data: &'a JobResource,
}

/// The body of a finished job's event, `None` unless it has finished: `{type, timestamp,
/// data}`, `data` the job resource (its result behind `links.result`). The same bytes on
/// every attempt. Messages are cut so that it stays under [`MAX_EVENT_BYTES`].
pub fn event_body(job: &Job) -> Option<Vec<u8>> {
    let kind = event_type(job.status)?;
    let mut data = JobResource::from_job(job);
    let timestamp = job.finished_at.unwrap_or(job.created_at).to_rfc3339();
    for limit in [usize::MAX, 1_000, 100] {
        if let Some(error) = data.error.as_mut() {
            cut(&mut error.message, limit);
        }
        if let Some(message) = data.progress.message.as_mut() {
            cut(message, limit);
        }
        let body = serde_json::to_vec(&Event {
            kind,
            timestamp: timestamp.clone(),
            data: &data,
        })
        .expect("an event always serializes");
        if body.len() <= MAX_EVENT_BYTES || limit == 100 {
            return Some(body);
        }
    }
    unreachable!("the last limit returns")
}

fn cut(text: &mut String, limit: usize) {
    if text.chars().count() > limit {
        *text = text.chars().take(limit).collect::<String>() + "…";
    }
}

/// The delays before each attempt, e.g. `0s,5s,5m,30m,2h`: as many attempts as entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule(Vec<u64>);

impl Schedule {
    /// Parses a comma-separated list of delays (`ms`, `s`, `m`, `h`; a bare number is
    /// ms), 1 to 20 of them.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let delays = text
            .split(',')
            .map(|d| {
                parse_delay(d.trim())
                    .ok_or_else(|| format!("{d:?} is not a delay such as 5s, 5m or 2h"))
            })
            .collect::<Result<Vec<u64>, String>>()?;
        if delays.is_empty() || delays.len() > 20 {
            return Err("must list 1 to 20 delays".into());
        }
        Ok(Schedule(delays))
    }

    /// How many attempts an event gets.
    pub fn attempts(&self) -> u32 {
        self.0.len() as u32
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::parse(DEFAULT_SCHEDULE).expect("the default schedule parses")
    }
}

fn parse_delay(d: &str) -> Option<u64> {
    let (number, unit) = match d.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => d.split_at(i),
        None => (d, "ms"),
    };
    let n: u64 = number.parse().ok()?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// What one delivery attempt got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// A response: its status and `Retry-After` in seconds, if it had one.
    Answered {
        status: u16,
        retry_after_s: Option<u64>,
    },
    /// No full response within [`SEND_TIMEOUT_MS`].
    TimedOut,
    /// No response at all (refused, unreachable, a target the policy forbids).
    Failed(String),
}

impl Sent {
    /// `last_status` as the job resource shows it: the HTTP status, or none.
    pub fn status(&self) -> Option<u16> {
        match self {
            Sent::Answered { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Try again at this time (ms).
    RetryAt(u64),
    /// No more attempts: the schedule is spent, or the receiver answered `410 Gone`.
    Failed,
}

/// After attempt number `attempt` (1 = the first) got `sent` at `now_ms`: only a `2xx`
/// delivers (redirects are not followed), `410` stops, `429` and `503` wait at least
/// their `Retry-After`, and anything else is tried again on the schedule.
pub fn next_step(schedule: &Schedule, attempt: u32, sent: &Sent, now_ms: u64) -> Next {
    if let Sent::Answered { status, .. } = sent {
        if (200..300).contains(status) {
            return Next::Delivered;
        }
        if *status == 410 {
            return Next::Failed;
        }
    }
    let Some(delay) = schedule.0.get(attempt as usize) else {
        return Next::Failed;
    };
    let wait = match sent {
        Sent::Answered {
            status: 429 | 503,
            retry_after_s: Some(s),
        } => (*delay).max(s.min(&MAX_RETRY_AFTER_S) * 1_000),
        _ => *delay,
    };
    Next::RetryAt(now_ms.saturating_add(wait))
}

/// `Retry-After` as seconds (the HTTP-date form is not honoured: the schedule applies).
pub fn parse_retry_after(value: &str) -> Option<u64> {
    value.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::testing::job_in;
    use crate::job::{ErrorInfo, ErrorType};

    #[test]
    fn the_default_schedule_is_the_specs_example() {
        let s = Schedule::default();
        assert_eq!(s.attempts(), 8);
        let hour = 3_600_000;
        assert_eq!(
            s.0,
            vec![
                0,
                5_000,
                300_000,
                1_800_000,
                2 * hour,
                5 * hour,
                10 * hour,
                10 * hour
            ]
        );
        assert_eq!(
            Schedule::parse("0,200ms,1s").unwrap().0,
            vec![0, 200, 1_000]
        );
        for bad in ["", "5x", "1,,2", "-1"] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_2xx_delivers_410_stops_and_retry_after_is_honoured() {
        let s = Schedule::parse("0,5s,5m").unwrap();
        let answered = |status, retry_after_s| Sent::Answered {
            status,
            retry_after_s,
        };
        assert_eq!(next_step(&s, 1, &answered(204, None), 0), Next::Delivered);
        assert_eq!(
            next_step(&s, 1, &answered(301, None), 0),
            Next::RetryAt(5_000)
        );
        assert_eq!(
            next_step(&s, 1, &answered(500, None), 0),
            Next::RetryAt(5_000)
        );
        assert_eq!(next_step(&s, 1, &Sent::TimedOut, 10), Next::RetryAt(5_010));
        assert_eq!(next_step(&s, 1, &answered(410, None), 0), Next::Failed);
        assert_eq!(
            next_step(&s, 1, &answered(429, Some(60)), 0),
            Next::RetryAt(60_000)
        );
        assert_eq!(
            next_step(&s, 1, &answered(503, Some(1)), 0),
            Next::RetryAt(5_000)
        );
        assert_eq!(
            next_step(&s, 2, &answered(500, None), 0),
            Next::RetryAt(300_000)
        );
        assert_eq!(next_step(&s, 3, &answered(500, None), 0), Next::Failed);
    }

    #[test]
    fn the_event_links_the_result_and_stays_small() {
        let mut j = job_in(Status::Failed);
        j.error = Some(ErrorInfo::new(ErrorType::Permanent, "x".repeat(50_000)));
        let body = event_body(&j).unwrap();
        assert!(body.len() <= MAX_EVENT_BYTES, "{}", body.len());
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["type"], "job.failed");
        assert_eq!(v["timestamp"], "1970-01-01T00:00:02.000Z");
        assert_eq!(v["data"]["id"], j.id.as_str());
        assert!(v["data"]["links"]["result"].is_string());
        assert!(event_body(&job_in(Status::Running)).is_none());
    }
}

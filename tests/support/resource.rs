//! The API's documents as the tests read them: the job resource, a listing page, and
//! a snapshot of everything a client can count.
//!
//! The readers are strict about what the contract fixes (README, "API (v1)": member names,
//! status names) and say in one place how they read what it leaves open (the shape of
//! `progress`, `links` and a listing page), so aligning with the intake is a change here.

use serde_json::Value;

use crate::reply::Reply;

/// A job resource (`GET /jobs/{id}`, the body of `POST /jobs`, an item of a listing).
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    pub attempts: u64,
    pub max_attempts: u64,
    /// The `error` member (`{type, message}`) when present and not null.
    pub error: Option<Value>,
    /// The whole document, for members the typed fields do not cover.
    pub json: Value,
}

/// The statuses the contract defines.
pub const STATUSES: [&str; 5] = ["queued", "running", "succeeded", "failed", "cancelled"];

impl Job {
    /// Reads a job resource; panics naming the member that is missing or mistyped.
    pub fn from_json(json: Value) -> Job {
        let text = |member: &str| -> String {
            json.get(member)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("job member {member:?} must be a string: {json}"))
                .to_owned()
        };
        let number = |member: &str| -> u64 {
            json.get(member)
                .and_then(Value::as_u64)
                .unwrap_or_else(|| panic!("job member {member:?} must be a number: {json}"))
        };
        let status = text("status");
        assert!(
            STATUSES.contains(&status.as_str()),
            "job status {status:?} is not one of {STATUSES:?}: {json}"
        );
        Job {
            id: text("id"),
            kind: text("kind"),
            status,
            attempts: number("attempts"),
            max_attempts: number("max_attempts"),
            error: json.get("error").filter(|e| !e.is_null()).cloned(),
            json,
        }
    }

    /// Reads the job resource in `reply`'s body.
    pub fn from_reply(reply: &Reply) -> Job {
        assert_eq!(
            reply.media_type().as_deref(),
            Some("application/json"),
            "a job resource is application/json: {reply}"
        );
        Job::from_json(reply.json())
    }

    /// Whether the job has reached a state it never leaves.
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "succeeded" | "failed" | "cancelled")
    }

    /// The `error.type` and `error.message` members, if the job has an error.
    pub fn error_parts(&self) -> Option<(String, String)> {
        let error = self.error.as_ref()?;
        let part = |m: &str| error.get(m).and_then(Value::as_str).map(str::to_owned);
        Some((part("type")?, part("message")?))
    }

    /// Progress in percent: `progress` may be a number or `{percent, message}`.
    pub fn progress_percent(&self) -> Option<f64> {
        match self.json.get("progress")? {
            Value::Number(n) => n.as_f64(),
            Value::Object(o) => o.get("percent").and_then(Value::as_f64),
            _ => None,
        }
    }

    /// The link `rel` (`self`, `result`, `cancel`): `links.rel` as a string or as
    /// `{href}`.
    pub fn link(&self, rel: &str) -> Option<String> {
        href(self.json.get("links")?.get(rel)?)
    }
}

/// One page of `GET /jobs`.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Job>,
    /// The cursor for the next page, if the page says there is one.
    pub next_cursor: Option<String>,
    /// A ready-made link to the next page (path and query), if the page gives one.
    pub next_link: Option<String>,
    pub json: Value,
}

impl Page {
    /// Reads a listing page. Items are under `items` (or `jobs`); the next page is
    /// named by `next_cursor` (or `cursor`, or `next` as a string) and/or `links.next`.
    /// A null or empty cursor means there is no next page.
    pub fn from_reply(reply: &Reply) -> Page {
        assert_eq!(
            reply.media_type().as_deref(),
            Some("application/json"),
            "a listing is application/json: {reply}"
        );
        let json = reply.json();
        let items = ["items", "jobs"]
            .iter()
            .find_map(|k| json.get(*k).and_then(Value::as_array))
            .unwrap_or_else(|| panic!("a listing has an `items` array: {reply}"))
            .iter()
            .cloned()
            .map(Job::from_json)
            .collect();
        let next_cursor = ["next_cursor", "cursor", "next"]
            .iter()
            .find_map(|k| json.get(*k).and_then(Value::as_str))
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        let next_link = json
            .get("links")
            .and_then(|l| l.get("next"))
            .and_then(href)
            .filter(|l| !l.is_empty());
        Page {
            items,
            next_cursor,
            next_link,
            json,
        }
    }

    pub fn ids(&self) -> Vec<String> {
        self.items.iter().map(|j| j.id.clone()).collect()
    }

    pub fn has_next(&self) -> bool {
        self.next_cursor.is_some() || self.next_link.is_some()
    }
}

/// Everything a client can count, taken before and after a request that must store
/// nothing: the stats document without its time-dependent members, every job id the
/// listing shows, and the durable keys of the test's own Redis (which also holds the
/// key-value store), so a half-written record shows up even where the API hides it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub stats: Value,
    pub job_ids: Vec<String>,
    pub redis_keys: Vec<String>,
}

/// Removes members whose value changes with the clock alone (ages, timestamps), at any
/// depth, so two stats documents of an unchanged system compare equal.
pub fn without_clock_members(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    let k = k.to_ascii_lowercase();
                    // `throughput` counts by minute: its buckets move with the clock.
                    !(k.contains("age")
                        || k.contains("oldest")
                        || k.ends_with("_at")
                        || k == "throughput")
                })
                .map(|(k, v)| (k.clone(), without_clock_members(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_clock_members).collect()),
        other => other.clone(),
    }
}

/// A link given as a string or as `{href}`.
fn href(link: &Value) -> Option<String> {
    match link {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("href").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

//! The job as the HTTP API shows it (README, "API (v1)"): the public fields of a record
//! plus links, and its strong ETag. Depends on the record only; the intake serializes it.
//! Internal fields (tenant, input, callback URL, idempotency key) never appear here.

use schemars::JsonSchema;
use serde::Serialize;

use crate::job::{ErrorInfo, Job, JobId, Progress, Status, Timestamp};
use crate::queue::HookState;

/// A job resource: `GET /jobs/{id}`, the body of `202` on submit, an item of a list.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct JobResource {
    pub id: JobId,
    pub kind: String,
    pub status: Status,
    pub attempts: u32,
    pub max_attempts: u32,
    /// 0 to 100 with an optional message; `{"percent": 0}` before the first report.
    pub progress: Progress,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// `{type, message}`: why it failed or was cancelled, or the last attempt's error
    /// while it waits to retry.
    pub error: Option<ErrorInfo>,
    /// The failed or cancelled job this one retries, if it was made by
    /// `POST /jobs/{id}/retry`.
    pub retry_of: Option<JobId>,
    pub links: Links,
    /// The delivery of its completion webhook, once it has finished with a `callback_url`
    /// (`GET /jobs/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<HookState>,
}

/// Where to go next. Always all three, so clients need no special cases: `result` answers
/// `409` until the job has succeeded, `cancel` answers `409` once it has finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Links {
    #[serde(rename = "self")]
    pub self_: String,
    pub result: String,
    pub cancel: String,
}

/// A page of `GET /jobs`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct JobPage {
    pub items: Vec<JobResource>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The path of a job: `/jobs/{id}` (the `Location` of a submit).
pub fn job_path(id: &JobId) -> String {
    format!("/jobs/{}", id.as_str())
}

impl JobResource {
    pub fn from_job(job: &Job) -> Self {
        let path = job_path(&job.id);
        JobResource {
            id: job.id,
            kind: job.kind.clone(),
            status: job.status,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            progress: job
                .progress
                .clone()
                .unwrap_or_else(|| Progress::new(0, None)),
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            error: job.error.clone(),
            retry_of: job.retry_of,
            links: Links {
                result: format!("{path}/result"),
                cancel: path.clone(),
                self_: path,
            },
            webhook: None,
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a job resource always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Tenant;
    use crate::submission::{KindName, MaxAttempts, NewJob};

    fn job() -> Job {
        let registry = crate::kinds::Registry::builtin();
        let new = NewJob {
            kind: KindName::registered(&registry, "echo").unwrap(),
            input: serde_json::json!({"secret": "input"}).into(),
            max_attempts: MaxAttempts::new(3).unwrap(),
            callback_url: None,
            delay_ms: 0,
        };
        new.into_job(
            JobId::parse("01890a5d-ac96-774b-bcce-b302099a8057").unwrap(),
            Tenant::default_tenant(),
            Timestamp::from_ms(1_700_000_000_000),
        )
    }

    #[test]
    fn a_new_job_shows_the_documented_fields_and_links() {
        let value: serde_json::Value =
            serde_json::from_slice(&JobResource::from_job(&job()).to_json()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "id": "01890a5d-ac96-774b-bcce-b302099a8057",
                "kind": "echo",
                "status": "queued",
                "attempts": 0,
                "max_attempts": 3,
                "progress": {"percent": 0},
                "created_at": "2023-11-14T22:13:20.000Z",
                "started_at": null,
                "finished_at": null,
                "error": null,
                "retry_of": null,
                "links": {
                    "self": "/jobs/01890a5d-ac96-774b-bcce-b302099a8057",
                    "result": "/jobs/01890a5d-ac96-774b-bcce-b302099a8057/result",
                    "cancel": "/jobs/01890a5d-ac96-774b-bcce-b302099a8057",
                }
            })
        );
    }
}

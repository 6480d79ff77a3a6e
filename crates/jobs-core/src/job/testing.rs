//! Jobs for tests, in any status, reached through legal transitions only.

use serde_json::json;

use super::*;

/// A queued echo job with `max_attempts`, as a submission makes it.
pub(crate) fn new_job(max_attempts: u32) -> Job {
    Job {
        id: JobId::new(),
        tenant: Tenant::default_tenant(),
        kind: "echo".into(),
        input: json!({"a": 1}).into(),
        status: Status::Queued,
        attempts: 0,
        max_attempts,
        progress: None,
        created_at: Timestamp::from_ms(1_000),
        started_at: None,
        finished_at: None,
        error: None,
        callback_url: None,
        idempotency_key: None,
        not_before: None,
        retry_of: None,
    }
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

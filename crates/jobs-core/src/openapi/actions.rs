//! The operations the dashboard uses beyond submit, read and cancel: `GET /me`, a job's
//! input, retry as a new job, and cancel or retry over a filter.

use serde_json::json;

use super::paths::{Op, Operations, accepted, job_id_param, json_response, list_params};
use super::schemas::Schemas;
use crate::api::ProblemType::*;
use crate::service::Me;
use crate::service::actions::{BULK_LIMIT, BulkOutcome};

pub(super) fn operations(schemas: &mut Schemas) -> Operations {
    let bulk = |schemas: &mut Schemas, id: &str, summary: &str, description: &str| {
        let mut op = Op::new(id, "jobs", summary, description).changes();
        for param in list_params(schemas, BULK_LIMIT) {
            op = op.param(param);
        }
        op.answer(
            200,
            json_response("What this page did.", schemas.written::<BulkOutcome>()),
        )
        .problems(&[InvalidFilter, QuotaExceeded])
        .build()
    };
    vec![
        (
            "/me",
            "get",
            Op::new("getMe", "operations", "Who the key is", "The tenant the API key acts as, and its role: `full`, or `read` (a read-only key gets `403` for anything that changes a job).")
                .answer(200, json_response("The key's tenant and role.", schemas.written::<Me>()))
                .build(),
        ),
        (
            "/jobs/{id}/input",
            "get",
            Op::new("getJobInput", "jobs", "Get a job's input", "The input as it was submitted.")
                .param(job_id_param(schemas))
                .answer(200, json_response("The input.", json!({ "type": "object" })))
                .problems(&[MalformedId, NotFound])
                .build(),
        ),
        (
            "/jobs/{id}/retry",
            "post",
            Op::new(
                "retryJob",
                "jobs",
                "Retry a job as a new job",
                "Submits a failed or cancelled job again, as a new job with the same kind, input and options, whose `retry_of` names this one. Asking again answers the same new job (`Idempotent-Replayed: true`).",
            )
            .changes()
            .param(job_id_param(schemas))
            .answer(202, accepted("Accepted: the new job (`status: queued`).", schemas))
            .problems(&[
                MalformedId,
                NotFound,
                NotRetryable,
                IdempotencyKeyInFlight,
                UnknownKind,
                InvalidInput,
                QuotaExceeded,
            ])
            .build(),
        ),
        (
            "/jobs/bulk-cancel",
            "post",
            bulk(
                schemas,
                "bulkCancelJobs",
                "Cancel every job a filter matches",
                "Cancels one page of the jobs `GET /jobs` lists for the same query (newest first; `limit` up to 100, 100 by default), skipping those that have finished and running ones whose cancel was asked before. Call again with `cursor` set to `next_cursor` until it is `null`.",
            ),
        ),
        (
            "/jobs/bulk-retry",
            "post",
            bulk(
                schemas,
                "bulkRetryJobs",
                "Retry every failed job a filter matches",
                "Retries, as `POST /jobs/{id}/retry` does, the failed jobs among one page of what `GET /jobs` lists for the same query; a job retried before is skipped. Call again with `cursor` set to `next_cursor` until it is `null`.",
            ),
        ),
    ]
}

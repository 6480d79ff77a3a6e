//! What the dashboard needs beyond submit, read and cancel (any client may use it too):
//! a job's input, a failed or cancelled job submitted again as a new one that records
//! its origin, and cancel or retry over everything a `GET /jobs` filter matches, a
//! bounded page per request.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::error::{
    BulkError, CancelError, GetError, ListError, RetryError, StoreError, SubmitError,
};
use super::jobs::{self, ListQuery};
use super::submit::{IdempotencyKey, Submitted, submit_new};
use super::{CancelResult, Context};
use crate::job::{Job, JobId, JobInput, Status};
use crate::keys;
use crate::submission::{KindName, MaxAttempts, NewJob, SubmissionError};

/// `GET /jobs/{id}/input`: the input as it was submitted, as JSON text (never parsed
/// here: a tree of it could take twelve times its size or more).
pub fn input(ctx: &Context<'_>, id: &str) -> Result<Box<RawValue>, GetError> {
    let id = JobId::parse(id)?;
    let job = ctx.load_job(&id)?.ok_or(GetError::NotFound)?;
    let (mut ready, broken) = ctx.load_inputs(vec![job])?;
    match (ready.pop(), broken.into_iter().next()) {
        (Some(job), _) => Ok(job.input.to_raw()),
        // Retention removed the job meanwhile (the record first, then its input).
        (None, Some(_)) if ctx.load_job(&id)?.is_none() => Err(GetError::NotFound),
        (None, Some((job, why))) => Err(GetError::Store(StoreError::Corrupt {
            key: keys::input(&job.tenant, &job.id),
            reason: why,
        })),
        (None, None) => Err(GetError::NotFound),
    }
}

/// The value of `job`'s input, loaded: parsed now if it was read as text.
fn input_value(job: &Job) -> Result<Value, GetError> {
    let value = job.input.value().map_err(|e| StoreError::Corrupt {
        key: keys::input(&job.tenant, &job.id),
        reason: crate::job::unreadable_input(&job.id, e),
    })?;
    Ok(value.into_owned())
}

/// Whether a job in `status` may be submitted again as a new one.
pub fn retryable(status: Status) -> bool {
    matches!(status, Status::Failed | Status::Cancelled)
}

/// `POST /jobs/{id}/retry`: a new job with the same kind, input and options, whose
/// `retry_of` names the old one. Idempotent: the same job again answers the retry made
/// the first time (`replayed`), so a double click or a repeated bulk retry makes one.
pub fn retry(ctx: &Context<'_>, id: &str) -> Result<Submitted, RetryError> {
    let id = JobId::parse(id).map_err(GetError::from)?;
    let job = ctx
        .load_job(&id)
        .map_err(GetError::from)?
        .ok_or(GetError::NotFound)?;
    retry_job(ctx, job)
}

fn retry_job(ctx: &Context<'_>, job: Job) -> Result<Submitted, RetryError> {
    if !retryable(job.status) {
        return Err(RetryError::NotRetryable(job.status));
    }
    let (mut ready, broken) = ctx.load_inputs(vec![job]).map_err(GetError::from)?;
    let Some(job) = ready.pop() else {
        let (job, why) = broken.into_iter().next().ok_or(GetError::NotFound)?;
        // Retention removed the job meanwhile (the record first, then its input), as in
        // `input`.
        if ctx.load_job(&job.id).map_err(GetError::from)?.is_none() {
            return Err(GetError::NotFound.into());
        }
        return Err(GetError::Store(StoreError::Corrupt {
            key: keys::input(&job.tenant, &job.id),
            reason: why,
        })
        .into());
    };
    // A kind that is no longer offered cannot be retried: the same answer as a submit.
    let kind = KindName::registered(ctx.registry, &job.kind).ok_or_else(|| {
        SubmitError::Invalid(SubmissionError::UnknownKind {
            kind: job.kind.clone(),
            known: ctx.registry.names(),
        })
    })?;
    // Its input passed when it was submitted; should the kind have grown stricter since,
    // the retry is refused as a new submission would be, not run to fail.
    let input = input_value(&job)?;
    if let Some(runner) = ctx.registry.get(&job.kind) {
        runner.validate(&input).map_err(|detail| {
            SubmitError::Invalid(SubmissionError::InvalidInput {
                kind: job.kind.clone(),
                detail,
            })
        })?;
    }
    // A stored job's attempts were in range when it was submitted; should the range
    // have narrowed since, the deployment's default applies.
    let max_attempts = MaxAttempts::new(u64::from(job.max_attempts))
        .or_else(|| MaxAttempts::new(u64::from(ctx.settings.default_max_attempts)))
        .expect("the settings check default_max_attempts");
    let new = NewJob {
        kind,
        input: JobInput::new(input),
        max_attempts,
        callback_url: job.callback_url.clone(),
        delay_ms: 0,
    };
    let key = IdempotencyKey::retry_of(&job.id);
    let fingerprinted = key.as_str().as_bytes().to_vec();
    Ok(submit_new(
        ctx,
        new,
        Some(key),
        &fingerprinted,
        (Some(job.id), None),
    )?)
}

/// Most jobs one bulk request acts on.
pub const BULK_LIMIT: u32 = 100;

/// What one bulk request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct BulkOutcome {
    /// Jobs cancelled (or asked to stop), or retried as new jobs.
    pub affected: u32,
    /// Matching jobs left as they were: already finished (cancel), not failed (retry).
    pub skipped: u32,
    /// Send the same request again with this `cursor` for the next page of matches;
    /// `null` when none are left.
    pub next_cursor: Option<String>,
}

/// What a bulk request does to each job the filter matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    /// `POST /jobs/bulk-cancel`: every matching job that has not finished.
    Cancel,
    /// `POST /jobs/bulk-retry`: every matching failed job, as [`retry`] does.
    Retry,
}

/// `POST /jobs/bulk-cancel?...` and `POST /jobs/bulk-retry?...`: `action` on one page
/// (at most `limit`, and [`BULK_LIMIT`]) of what `GET /jobs?...` lists for the same
/// query, newest first (a retry without a `status` lists the failed jobs only).
///
/// A job that cannot be acted on for a reason of its own (finished, gone, a kind no
/// longer offered, an unreadable record or input) is skipped, so that it cannot stop
/// every later page; only the store, the queue or the quota stops a page midway.
pub fn bulk(
    ctx: &Context<'_>,
    query: &ListQuery,
    action: BulkAction,
) -> Result<BulkOutcome, BulkError> {
    let mut query = query.clone();
    query.limit = query.limit.min(BULK_LIMIT);
    if action == BulkAction::Retry && query.status.is_none() {
        query.status = Some(Status::Failed);
    }
    let page = jobs::list(ctx, &query)?;
    let mut outcome = BulkOutcome {
        affected: 0,
        skipped: 0,
        next_cursor: page.next_cursor,
    };
    for item in page.items {
        let id = item.id.as_str();
        let done = match action {
            BulkAction::Cancel => match jobs::cancel(ctx, id) {
                Ok(CancelResult::Cancelled(_) | CancelResult::Requested(_)) => {
                    item.status != Status::Cancelled
                }
                // A running job whose cancel a request before this one asked for.
                Ok(CancelResult::RequestedBefore(_)) => false,
                Err(
                    CancelError::Finished(_)
                    | CancelError::NotFound
                    | CancelError::Store(StoreError::Corrupt { .. }),
                ) => false,
                // Cancelled in the queue, its record not updated: it counts, and stops.
                Err(e @ CancelError::Unrecorded(_)) => {
                    return Err(stopped(outcome.affected + 1, e.into()));
                }
                Err(e) => return Err(stopped(outcome.affected, e.into())),
            },
            BulkAction::Retry => {
                if !retryable(item.status) {
                    false
                } else {
                    match retry(ctx, id) {
                        Ok(submitted) => !submitted.replayed,
                        Err(
                            RetryError::NotRetryable(_)
                            | RetryError::Get(
                                GetError::NotFound | GetError::Store(StoreError::Corrupt { .. }),
                            )
                            | RetryError::Submit(SubmitError::Invalid(_)),
                        ) => false,
                        Err(e) => return Err(stopped(outcome.affected, e.into())),
                    }
                }
            }
        };
        if done {
            outcome.affected += 1;
        } else {
            outcome.skipped += 1;
        }
    }
    Ok(outcome)
}

/// `cause`, which stopped a page after `affected` of its jobs: said as such once any was.
fn stopped(affected: u32, cause: BulkError) -> BulkError {
    match affected {
        0 => cause,
        _ => BulkError::Stopped {
            affected,
            cause: Box::new(cause),
        },
    }
}

/// A bulk request's query: that of `GET /jobs`, whose `limit` defaults to [`BULK_LIMIT`].
pub fn bulk_query(query: &str, known_kinds: &[&str]) -> Result<ListQuery, ListError> {
    ListQuery::parse_with_limit(query, known_kinds, BULK_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::submit;
    use crate::service::testing::World;
    use serde_json::json;

    fn failed(w: &World) -> JobId {
        let id = w.submit(json!({"kind": "fail", "input": {"always": true}, "max_attempts": 1}));
        w.drain(1_000);
        assert_eq!(w.job(&id).status, Status::Failed);
        id
    }

    #[test]
    fn a_retry_is_a_new_job_made_once_whatever_keys_clients_use() {
        let w = World::new();
        let old = failed(&w);
        // A client's own key that looks like the retry's changes nothing.
        let own = format!("retry-of:{old}");
        submit(&w.ctx(), br#"{"kind":"echo","input":{}}"#, Some(&own)).unwrap();

        let first = retry(&w.ctx(), old.as_str()).unwrap();
        let again = retry(&w.ctx(), old.as_str()).unwrap();

        assert!(!first.replayed);
        assert!(again.replayed);
        assert_eq!(first.job.id, again.job.id);
        let new = w.job(&first.job.id);
        assert_eq!((new.retry_of, new.kind.as_str()), (Some(old), "fail"));
        assert_eq!(*new.input.value().unwrap(), json!({"always": true}));
        // The retry can be retried in turn, once it has failed.
        w.drain(1_000);
        let next = retry(&w.ctx(), first.job.id.as_str()).unwrap();
        assert_eq!(w.job(&next.job.id).retry_of, Some(first.job.id));
    }

    #[test]
    fn a_retry_of_a_large_input_stores_it_apart_as_a_submit_does() {
        let w = World::new();
        let big = "x".repeat(crate::job::INLINE_INPUT_MAX * 2);
        let old = w.submit(json!({"kind": "echo", "input": {"big": big}, "delay_ms": 60_000}));
        assert!(w.job(&old).input.is_apart());
        jobs::cancel(&w.ctx(), old.as_str()).unwrap();

        let new = retry(&w.ctx(), old.as_str()).unwrap().job.id;

        assert!(w.job(&new).input.is_apart(), "the record stays small");
        let text = input(&w.ctx(), new.as_str()).unwrap();
        let value: Value = serde_json::from_str(text.get()).unwrap();
        assert_eq!(value["big"], big.as_str());
    }

    #[test]
    fn a_retry_that_meets_retention_midway_is_a_404_not_a_broken_input() {
        use crate::ports::KeyValue;
        let w = World::new();
        let big = "x".repeat(crate::job::INLINE_INPUT_MAX * 2);
        let old = w.submit(json!({"kind": "echo", "input": {"big": big}, "delay_ms": 60_000}));
        jobs::cancel(&w.ctx(), old.as_str()).unwrap();
        let job = w.job(&old);
        // Retention deletes the record, then the input, after the retry read the record.
        let tenant = crate::job::Tenant::default_tenant();
        w.kv.delete(&keys::job(&tenant, &old)).unwrap();
        w.kv.delete(&keys::input(&tenant, &old)).unwrap();

        let answer = retry_job(&w.ctx(), job);

        assert!(
            matches!(answer, Err(RetryError::Get(GetError::NotFound))),
            "{answer:?}"
        );
    }

    #[test]
    fn only_failed_or_cancelled_jobs_are_retried() {
        let w = World::new();
        let queued = w.submit(json!({"kind": "echo", "input": {}}));
        assert_eq!(
            retry(&w.ctx(), queued.as_str()),
            Err(RetryError::NotRetryable(Status::Queued))
        );
        assert!(matches!(
            retry(&w.ctx(), "not-an-id"),
            Err(RetryError::Get(GetError::MalformedId(_)))
        ));
    }

    #[test]
    fn a_bulk_retry_stopped_by_the_quota_says_how_many_it_retried() {
        let mut w = World::new();
        for _ in 0..3 {
            failed(&w);
        }
        // Room for one more queued job.
        w.settings.max_queued_jobs = 1;
        let query = bulk_query("", &["fail"]).unwrap();
        let Err(BulkError::Stopped { affected, cause }) = bulk(&w.ctx(), &query, BulkAction::Retry)
        else {
            panic!("expected a page stopped midway")
        };
        assert_eq!(affected, 1);
        assert!(matches!(
            *cause,
            BulkError::Retry(RetryError::Submit(SubmitError::QuotaExceeded { .. }))
        ));
        // The same request again: the one retried is skipped, and the quota stops it at
        // once, saying nothing was done.
        let again = bulk(&w.ctx(), &query, BulkAction::Retry);
        assert!(
            matches!(
                again,
                Err(BulkError::Retry(RetryError::Submit(
                    SubmitError::QuotaExceeded { .. }
                )))
            ),
            "{again:?}"
        );
    }

    #[test]
    fn a_bulk_request_acts_on_one_bounded_page() {
        let w = World::new();
        for _ in 0..5 {
            w.submit(json!({"kind": "echo", "input": {}, "delay_ms": 60_000}));
        }
        let query = bulk_query("limit=2", &["echo"]).unwrap();
        let page = bulk(&w.ctx(), &query, BulkAction::Cancel).unwrap();
        assert_eq!((page.affected, page.skipped), (2, 0));
        assert!(page.next_cursor.is_some());
        assert_eq!(bulk_query("", &["echo"]).unwrap().limit, BULK_LIMIT);
        let rest = bulk(
            &w.ctx(),
            &bulk_query("", &["echo"]).unwrap(),
            BulkAction::Cancel,
        )
        .unwrap();
        assert_eq!(
            (rest.affected, rest.skipped, rest.next_cursor),
            (3, 2, None)
        );
        // A retry without a status looks at the failed jobs only: none here.
        let all = bulk_query("", &["echo"]).unwrap();
        let retried = bulk(&w.ctx(), &all, BulkAction::Retry).unwrap();
        assert_eq!((retried.affected, retried.skipped), (0, 0));
        // Asked for the cancelled ones, it retries them, as a single retry would.
        let cancelled = bulk_query("status=cancelled&limit=2", &["echo"]).unwrap();
        let retried = bulk(&w.ctx(), &cancelled, BulkAction::Retry).unwrap();
        assert_eq!((retried.affected, retried.skipped), (2, 0));
    }

    #[test]
    fn a_bulk_cancel_stopped_by_a_record_write_counts_the_job_the_queue_cancelled() {
        let w = World::new();
        for _ in 0..2 {
            w.submit(json!({"kind": "echo", "input": {}, "delay_ms": 60_000}));
        }
        w.kv.fail_writes(1);
        let query = bulk_query("", &["echo"]).unwrap();
        let Err(BulkError::Stopped { affected, .. }) = bulk(&w.ctx(), &query, BulkAction::Cancel)
        else {
            panic!("expected a page stopped midway")
        };
        assert_eq!(affected, 1);
    }

    #[test]
    fn a_bulk_cancel_counts_a_running_job_once() {
        use crate::ports::Clock;
        use crate::queue::Queue;
        let w = World::new();
        for _ in 0..2 {
            w.submit(json!({"kind": "echo", "input": {}}));
        }
        let now = w.clock.now_ms();
        w.queue.claim(now, now + 60_000, "worker", 10).unwrap();
        let query = bulk_query("", &["echo"]).unwrap();

        let first = bulk(&w.ctx(), &query, BulkAction::Cancel).unwrap();
        let again = bulk(&w.ctx(), &query, BulkAction::Cancel).unwrap();

        assert_eq!((first.affected, first.skipped), (2, 0));
        assert_eq!(
            (again.affected, again.skipped),
            (0, 2),
            "asked before: unchanged"
        );
    }

    #[test]
    fn a_retry_checks_the_input_again_as_a_submit_would() {
        use crate::ports::KeyValue;
        let w = World::new();
        let old = w.submit(json!({"kind": "sleep", "input": {"ms": 10}, "delay_ms": 60_000}));
        jobs::cancel(&w.ctx(), old.as_str()).unwrap();
        // As if the kind had grown stricter since: its stored input is refused now.
        let key = keys::job(&crate::job::Tenant::default_tenant(), &old);
        let mut job = w.job(&old);
        job.input = JobInput::new(json!({"ms": -5}));
        w.kv.set(&key, &crate::codec::encode_job(&job)).unwrap();

        let err = retry(&w.ctx(), old.as_str()).unwrap_err();

        assert!(
            matches!(
                &err,
                RetryError::Submit(SubmitError::Invalid(SubmissionError::InvalidInput { .. }))
            ),
            "{err:?}"
        );
    }
}

//! The behaviour every [`Queue`] must show, as plain functions that panic on a mismatch.
//! Run against [`crate::memory::MemoryQueue`] by the unit tests and against
//! [`super::RedisQueue`] on a real redis-server by `tests/queue_redis.rs`, so the Lua
//! scripts and the in-memory model the services are tested with cannot drift apart.
//! Each check wants a fresh, empty queue. Test support only: no production caller.

use super::{
    CancelOutcome, Claim, ClaimedJob, Doorbell, Enqueue, Finish, Heartbeat, IdPrefix, IdRange,
    IdempotencyClaim, LIST_SCAN_MAX, ListFilter, MINUTE_MS, MinuteCounts, Ownership, Queue,
    QueueError, RetryOutcome, SubmitOutcome, THROUGHPUT_MINUTES,
};
use crate::job::{JobId, Status, Tenant, Timestamp};

mod claims;
mod hooks;
mod lifecycle;
mod tenants;

/// A check: its name and the function that runs it on a fresh queue.
pub type Check = (&'static str, fn(&dyn Queue));

/// Every check, in a stable order.
pub const CHECKS: &[Check] = &[
    (
        "submitted jobs are claimed oldest first",
        claims::claims_in_fifo_order,
    ),
    (
        "an empty queue reports the next due time",
        claims::empty_reports_next_due,
    ),
    ("a delayed job waits until it is due", claims::delayed_waits),
    (
        "an idempotency key is claimed once",
        claims::idempotency_claimed_once,
    ),
    (
        "a submitted id is known, a duplicate's is not",
        claims::knows_what_took_effect,
    ),
    (
        "an idempotency key goes with its job when retention forgets it",
        claims::a_key_goes_with_its_forgotten_job,
    ),
    (
        "an idempotency key is free once its job is past retention and its event is out",
        claims::a_key_is_free_once_its_job_is_past_retention,
    ),
    (
        "one token at a time holds the watch",
        claims::one_watch_at_a_time,
    ),
    (
        "renew extends and reports only the leases the token owns",
        claims::renew_reports_ownership,
    ),
    (
        "an expired lease puts the job back",
        claims::expired_lease_requeues,
    ),
    (
        "heartbeat, finish and retry check the token",
        claims::token_checked,
    ),
    (
        "finish_and_claim finishes one job and claims the next",
        claims::finish_and_claim_chains,
    ),
    (
        "finish_and_claim_reading brings the claimed jobs' records",
        claims::finish_and_claim_reads_the_claimed_records,
    ),
    (
        "finish_and_claim checks the token and still claims",
        claims::finish_and_claim_token_checked,
    ),
    (
        "a batch is claimed oldest first and finished together",
        claims::batches_claim_and_finish_together,
    ),
    (
        "a heartbeat extends the leases of the whole batch and answers for each job",
        claims::heartbeat_extends_the_batch,
    ),
    (
        "retry schedules the job and counts it",
        lifecycle::retry_schedules,
    ),
    ("cancel follows the job's state", lifecycle::cancel_by_state),
    (
        "a cancel requested during a run wins over a retry",
        lifecycle::cancel_beats_retry,
    ),
    (
        "stats count statuses, depth and counters",
        lifecycle::stats_count,
    ),
    ("list pages newest first, by status", lifecycle::list_pages),
    (
        "list by kind, alone or with a status, and forget leaves no trace",
        lifecycle::list_by_kind,
    ),
    (
        "forget clears the index of a kind no longer served",
        lifecycle::forget_clears_the_index_of_a_kind_no_longer_served,
    ),
    (
        "a listing by kind and status looks at a bounded number of ids",
        lifecycle::list_scan_is_bounded,
    ),
    (
        "a listing keeps the ids of a creation-time window and an id prefix",
        lifecycle::list_by_id_range,
    ),
    (
        "stats count the jobs submitted and finished in each of the last minutes",
        lifecycle::throughput_by_minute,
    ),
    (
        "finished jobs expire and are forgotten",
        lifecycle::expiry_and_forget,
    ),
    (
        "ringing again is rate limited",
        lifecycle::ring_is_rate_limited,
    ),
    ("ping answers", lifecycle::ping_answers),
    (
        "claims go round the tenants with work",
        tenants::claims_go_round_the_tenants,
    ),
    (
        "a tenant whose batch finished goes behind those that came meanwhile",
        tenants::a_tenant_whose_batch_finished_goes_behind_those_that_came_meanwhile,
    ),
    (
        "a delayed job of another tenant gets its turn when due",
        tenants::a_delayed_job_of_another_tenant_gets_its_turn_when_due,
    ),
    (
        "each tenant sees only its own jobs",
        tenants::each_tenant_sees_only_its_own_jobs,
    ),
    (
        "a full tenant is refused and nothing changes",
        tenants::a_full_tenant_is_refused_and_nothing_changes,
    ),
    (
        "retention serves every tenant",
        tenants::retention_serves_every_tenant,
    ),
    (
        "one finish serves several tenants, and each job once",
        tenants::one_finish_serves_several_tenants_and_each_job_once,
    ),
    (
        "an event is delivered under a lease and retried on schedule",
        hooks::an_event_is_delivered_under_a_lease_and_retried_on_schedule,
    ),
    (
        "a postponed delivery gives its attempt back",
        hooks::a_postponed_delivery_gives_its_attempt_back,
    ),
    (
        "a lease that ends makes the delivery due again",
        hooks::a_lease_that_ends_makes_the_delivery_due_again,
    ),
    (
        "a cancel sends the event, and secrets rotate",
        hooks::a_cancel_sends_the_event_and_secrets_rotate,
    ),
    (
        "retention keeps a job while its event is under way",
        hooks::retention_keeps_a_job_while_its_event_is_under_way,
    ),
];

/// The tenant of the contract's jobs, unless a check says otherwise.
pub fn tenant() -> Tenant {
    Tenant::default_tenant()
}

/// A valid UUIDv7 id whose order follows `n`.
pub fn id(n: u64) -> JobId {
    JobId::parse(&format!("01890a5d-ac96-7000-8000-{n:012x}")).expect("valid UUIDv7")
}

pub(super) fn doorbell() -> Doorbell {
    Doorbell {
        channel: "jobs".into(),
        payload: "contract".into(),
    }
}

/// A valid UUIDv7 id made at `ms` (its first 48 bits), `n` telling apart ids of one ms.
pub fn id_at(ms: u64, n: u64) -> JobId {
    let text = format!("{:08x}-{:04x}-7000-8000-{n:012x}", ms >> 16, ms & 0xffff);
    JobId::parse(&text).expect("valid UUIDv7")
}

/// The kinds the contract's jobs have: job `n` is of `KINDS[n % 2]`. A queue under
/// test must be made for these kinds.
pub const KINDS: [&str; 2] = ["even", "odd"];

pub(super) fn enqueue(n: u64, now: u64, due: u64) -> Enqueue {
    Enqueue {
        tenant: tenant(),
        id: id(n),
        kind: KINDS[(n % 2) as usize].to_owned(),
        now_ms: now,
        due_ms: due,
        idempotency: None,
        doorbell: doorbell(),
        max_queued: 1_000_000,
        records: Vec::new(),
        key: None,
    }
}

/// The ids of a listing (panics on an error).
pub(super) fn listed(
    q: &dyn Queue,
    status: Option<Status>,
    kind: Option<&str>,
    before: Option<&JobId>,
    limit: u32,
) -> Vec<JobId> {
    let filter = ListFilter {
        status,
        kind: kind.map(str::to_owned),
        ids: IdRange::ALL,
    };
    q.list(&tenant(), &filter, before, limit).unwrap().ids
}

/// Job `n` of the contract's shape (its kind `KINDS[n % 2]`) under the id `id`, ready at
/// `now`.
pub(super) fn submit_as(q: &dyn Queue, id: JobId, n: u64, now: u64) {
    let job = Enqueue {
        id,
        ..enqueue(n, now, now)
    };
    assert_eq!(q.submit(&job).unwrap(), SubmitOutcome::Enqueued);
}

pub(super) fn submit(q: &dyn Queue, n: u64, now: u64) {
    assert_eq!(
        q.submit(&enqueue(n, now, now)).unwrap(),
        SubmitOutcome::Enqueued
    );
}

pub(super) fn claim(q: &dyn Queue, now: u64, token: &str) -> Claim {
    q.claim(now, now + 1_000, token, 1).unwrap()
}

pub(super) fn claimed(q: &dyn Queue, now: u64, token: &str) -> JobId {
    match claim(q, now, token) {
        Claim::Claimed { jobs, .. } if jobs.len() == 1 => jobs[0].id,
        other => panic!("expected a claim of one job, got {other:?}"),
    }
}

/// A claim of exactly these jobs, none with a cancel request unless listed in `cancel`.
pub(super) fn claim_of(ids: &[JobId], cancel: &[JobId]) -> Claim {
    Claim::Claimed {
        tenant: tenant(),
        jobs: ids
            .iter()
            .map(|id| ClaimedJob {
                id: *id,
                cancel_requested: cancel.contains(id),
            })
            .collect(),
        invalid: Vec::new(),
    }
}

pub(super) fn count(q: &dyn Queue, status: Status) -> u64 {
    count_of(q, &tenant(), status)
}

/// The number of `t`'s jobs indexed as `status`.
pub(super) fn count_of(q: &dyn Queue, t: &Tenant, status: Status) -> u64 {
    let stats = q.stats(t, 0).unwrap();
    stats
        .by_status
        .iter()
        .find(|(s, _)| *s == status)
        .map(|(_, n)| *n)
        .unwrap()
}

/// The ids [`Queue::expired`] answers, all of the contract's tenant (none: empty).
pub(super) fn expired_ids(q: &dyn Queue, cutoff_ms: u64, limit: u32) -> Vec<JobId> {
    match q.expired(cutoff_ms, cutoff_ms, limit).unwrap() {
        Some(expired) => {
            assert_eq!(expired.tenant, tenant());
            expired.ids
        }
        None => Vec::new(),
    }
}

/// Finish one job alone, as a worker's last finish of a drain does (a claim of 0).
pub(super) fn finish_one(
    q: &dyn Queue,
    id: &JobId,
    token: &str,
    status: Status,
    now_ms: u64,
    dead: bool,
) -> Result<Ownership, QueueError> {
    let finish = Finish {
        tenant: tenant(),
        id: *id,
        token: token.to_owned(),
        status,
        dead,
        hook: false,
        record: None,
    };
    let (owned, _) = q.finish_and_claim(&[finish], now_ms, now_ms, "", 0)?;
    Ok(owned[0])
}

pub(super) fn finish(n: u64, token: &str, status: Status, dead: bool) -> Finish {
    Finish {
        tenant: tenant(),
        id: id(n),
        token: token.into(),
        status,
        dead,
        hook: false,
        record: None,
    }
}

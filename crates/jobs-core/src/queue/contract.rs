//! The behaviour every [`Queue`] must show, as plain functions that panic on a mismatch.
//! Run against [`crate::memory::MemoryQueue`] by the unit tests and against
//! [`super::RedisQueue`] on a real redis-server by `tests/queue_redis.rs`, so the Lua
//! scripts and the in-memory model the services are tested with cannot drift apart.
//! Each check wants a fresh, empty queue. Test support only: no production caller.

use super::{
    CancelOutcome, Claim, ClaimedJob, Doorbell, Enqueue, Finish, Heartbeat, IdempotencyClaim,
    Ownership, Queue, RetryOutcome, SubmitOutcome,
};
use crate::job::{JobId, Status};

/// A check: its name and the function that runs it on a fresh queue.
pub type Check = (&'static str, fn(&dyn Queue));

/// Every check, in a stable order.
pub const CHECKS: &[Check] = &[
    (
        "submitted jobs are claimed oldest first",
        claims_in_fifo_order,
    ),
    (
        "an empty queue reports the next due time",
        empty_reports_next_due,
    ),
    ("a delayed job waits until it is due", delayed_waits),
    (
        "an idempotency key is claimed once",
        idempotency_claimed_once,
    ),
    (
        "a submitted id is known, a duplicate's is not",
        knows_what_took_effect,
    ),
    ("one token at a time holds the watch", one_watch_at_a_time),
    (
        "renew extends and reports only the leases the token owns",
        renew_reports_ownership,
    ),
    ("an expired lease puts the job back", expired_lease_requeues),
    ("heartbeat, finish and retry check the token", token_checked),
    (
        "finish_and_claim finishes one job and claims the next",
        finish_and_claim_chains,
    ),
    (
        "finish_and_claim checks the token and still claims",
        finish_and_claim_token_checked,
    ),
    (
        "a batch is claimed oldest first and finished together",
        batches_claim_and_finish_together,
    ),
    (
        "a heartbeat extends the leases of the whole batch",
        heartbeat_extends_the_batch,
    ),
    ("retry schedules the job and counts it", retry_schedules),
    ("cancel follows the job's state", cancel_by_state),
    (
        "a cancel requested during a run wins over a retry",
        cancel_beats_retry,
    ),
    ("stats count statuses, depth and counters", stats_count),
    ("list pages newest first, by status", list_pages),
    ("finished jobs expire and are forgotten", expiry_and_forget),
    ("ringing again is rate limited", ring_is_rate_limited),
    ("ping answers", ping_answers),
];

/// A valid UUIDv7 id whose order follows `n`.
pub fn id(n: u64) -> JobId {
    JobId::parse(&format!("01890a5d-ac96-7000-8000-{n:012x}")).expect("valid UUIDv7")
}

fn doorbell() -> Doorbell {
    Doorbell {
        channel: "jobs".into(),
        payload: "contract".into(),
    }
}

fn enqueue(n: u64, now: u64, due: u64) -> Enqueue {
    Enqueue {
        id: id(n),
        now_ms: now,
        due_ms: due,
        idempotency: None,
        doorbell: doorbell(),
    }
}

fn submit(q: &dyn Queue, n: u64, now: u64) {
    assert_eq!(
        q.submit(&enqueue(n, now, now)).unwrap(),
        SubmitOutcome::Enqueued
    );
}

fn claim(q: &dyn Queue, now: u64, token: &str) -> Claim {
    q.claim(now, now + 1_000, token, 1).unwrap()
}

fn claimed(q: &dyn Queue, now: u64, token: &str) -> JobId {
    match claim(q, now, token) {
        Claim::Claimed { jobs, .. } if jobs.len() == 1 => jobs[0].id,
        other => panic!("expected a claim of one job, got {other:?}"),
    }
}

/// A claim of exactly these jobs, none with a cancel request unless listed in `cancel`.
fn claim_of(ids: &[JobId], cancel: &[JobId]) -> Claim {
    Claim::Claimed {
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

fn count(q: &dyn Queue, status: Status) -> u64 {
    let stats = q.stats(0).unwrap();
    stats
        .by_status
        .iter()
        .find(|(s, _)| *s == status)
        .map(|(_, n)| *n)
        .unwrap()
}

fn claims_in_fifo_order(q: &dyn Queue) {
    for n in 1..=3 {
        submit(q, n, 100);
    }
    assert_eq!(count(q, Status::Queued), 3);
    assert_eq!(claimed(q, 100, "a"), id(1));
    assert_eq!(claimed(q, 100, "a"), id(2));
    assert_eq!(count(q, Status::Running), 2);
    assert_eq!(count(q, Status::Queued), 1);
    assert_eq!(claimed(q, 100, "a"), id(3));
}

fn empty_reports_next_due(q: &dyn Queue) {
    assert_eq!(
        claim(q, 100, "a"),
        Claim::Empty {
            next_due_ms: None,
            next_expiry_ms: None
        }
    );
    q.submit(&enqueue(1, 100, 5_000)).unwrap();
    assert_eq!(
        claim(q, 100, "a"),
        Claim::Empty {
            next_due_ms: Some(5_000),
            next_expiry_ms: None
        }
    );
}

fn delayed_waits(q: &dyn Queue) {
    q.submit(&enqueue(1, 100, 500)).unwrap();
    assert_eq!(count(q, Status::Queued), 1);
    assert!(matches!(claim(q, 499, "a"), Claim::Empty { .. }));
    assert_eq!(claimed(q, 500, "a"), id(1));
}

fn idem(key: &str, fingerprint: &str) -> IdempotencyClaim {
    IdempotencyClaim {
        key: key.into(),
        fingerprint: fingerprint.into(),
        ttl_ms: 60_000,
    }
}

fn idempotency_claimed_once(q: &dyn Queue) {
    let mut first = enqueue(1, 100, 100);
    first.idempotency = Some(idem("k", "fp1"));
    assert_eq!(q.submit(&first).unwrap(), SubmitOutcome::Enqueued);
    let mut second = enqueue(2, 100, 100);
    second.idempotency = Some(idem("k", "fp2"));
    match q.submit(&second).unwrap() {
        SubmitOutcome::Duplicate(rec) => {
            assert_eq!(rec.id, id(1).as_str());
            assert_eq!(rec.fingerprint, "fp1");
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    // The duplicate changed nothing: one job queued.
    assert_eq!(count(q, Status::Queued), 1);
    assert_eq!(q.list(None, None, 10).unwrap(), vec![id(1)]);
}

fn knows_what_took_effect(q: &dyn Queue) {
    let mut job = enqueue(1, 100, 100);
    job.idempotency = Some(idem("k", "fp"));
    q.submit(&job).unwrap();
    let mut duplicate = enqueue(2, 100, 100);
    duplicate.idempotency = Some(idem("k", "fp"));
    assert!(matches!(
        q.submit(&duplicate).unwrap(),
        SubmitOutcome::Duplicate(_)
    ));
    assert!(q.knows(&id(1)).unwrap());
    assert!(!q.knows(&id(2)).unwrap(), "a duplicate's id took no effect");
    assert!(!q.knows(&id(3)).unwrap(), "never submitted");
    q.forget(&[id(1)]).unwrap();
    assert!(!q.knows(&id(1)).unwrap(), "forgotten by retention");
}

fn one_watch_at_a_time(q: &dyn Queue) {
    assert!(q.watch("w1", 60_000).unwrap(), "a free watch is taken");
    assert!(q.watch("w1", 60_000).unwrap(), "its holder keeps it");
    assert!(!q.watch("w2", 60_000).unwrap(), "another token is refused");
}

fn renew_reports_ownership(q: &dyn Queue) {
    submit(q, 1, 100);
    submit(q, 2, 100);
    assert_eq!(claimed(q, 100, "w1"), id(1)); // lease until 1_100
    assert_eq!(claimed(q, 100, "w2"), id(2));
    assert_eq!(
        q.renew("w1", &[id(1), id(2), id(3)], 5_000).unwrap(),
        vec![true, false, false]
    );
    // Extended: nothing has expired at 4_999 but job 2 (w2's lease ran out at 1_100);
    // at 5_000 job 1's lease is gone too, and w1 owns nothing any more.
    assert_eq!(claimed(q, 4_999, "w3"), id(2));
    assert_eq!(claimed(q, 5_000, "w3"), id(1));
    assert_eq!(q.renew("w1", &[id(1)], 9_000).unwrap(), vec![false]);
    assert!(q.renew("w1", &[], 9_000).unwrap().is_empty());
}

fn expired_lease_requeues(q: &dyn Queue) {
    submit(q, 1, 100);
    assert_eq!(claimed(q, 100, "dead-worker"), id(1)); // lease until 1_100
    assert!(matches!(
        claim(q, 1_099, "b"),
        Claim::Empty {
            next_due_ms: None,
            next_expiry_ms: Some(1_100)
        }
    ));
    assert_eq!(claimed(q, 1_100, "b"), id(1));
    assert_eq!(
        q.heartbeat(&id(1), "dead-worker", 5_000).unwrap(),
        Heartbeat::Lost
    );
    assert_eq!(
        q.heartbeat(&id(1), "b", 5_000).unwrap(),
        Heartbeat::Owned {
            cancel_requested: false
        }
    );
}

fn token_checked(q: &dyn Queue) {
    submit(q, 1, 100);
    claimed(q, 100, "a");
    assert_eq!(
        q.finish(&id(1), "b", Status::Succeeded, 200, false)
            .unwrap(),
        Ownership::Lost
    );
    assert_eq!(q.retry(&id(1), "b", 300, 200).unwrap(), RetryOutcome::Lost);
    assert_eq!(
        q.finish(&id(1), "a", Status::Succeeded, 200, false)
            .unwrap(),
        Ownership::Owned
    );
    assert_eq!(count(q, Status::Succeeded), 1);
    assert_eq!(count(q, Status::Running), 0);
    // The lease is gone: nothing comes back after its deadline.
    assert_eq!(
        claim(q, 10_000, "c"),
        Claim::Empty {
            next_due_ms: None,
            next_expiry_ms: None
        }
    );
    assert_eq!(q.heartbeat(&id(1), "a", 5_000).unwrap(), Heartbeat::Lost);
}

fn finish(n: u64, token: &str, status: Status, dead: bool) -> Finish {
    Finish {
        id: id(n),
        token: token.into(),
        status,
        dead,
    }
}

fn finish_and_claim_chains(q: &dyn Queue) {
    submit(q, 1, 100);
    submit(q, 2, 100);
    assert_eq!(claimed(q, 100, "a"), id(1));
    assert_eq!(
        q.finish_and_claim(
            &[finish(1, "a", Status::Succeeded, false)],
            200,
            1_200,
            "b",
            1
        )
        .unwrap(),
        (vec![Ownership::Owned], claim_of(&[id(2)], &[]))
    );
    assert_eq!(count(q, Status::Succeeded), 1);
    assert_eq!(count(q, Status::Running), 1);
    // Finished at the given time (retention), and its lease is gone.
    assert_eq!(q.expired(199, 10).unwrap(), vec![]);
    assert_eq!(q.expired(200, 10).unwrap(), vec![id(1)]);
    assert_eq!(q.heartbeat(&id(1), "a", 5_000).unwrap(), Heartbeat::Lost);
    // The new lease belongs to the new token, until the given deadline.
    assert_eq!(
        q.heartbeat(&id(2), "b", 1_200).unwrap(),
        Heartbeat::Owned {
            cancel_requested: false
        }
    );
    // The last one: nothing left, the claim half reports an empty queue; dead is counted.
    assert_eq!(
        q.finish_and_claim(&[finish(2, "b", Status::Failed, true)], 300, 1_300, "c", 1)
            .unwrap(),
        (
            vec![Ownership::Owned],
            Claim::Empty {
                next_due_ms: None,
                next_expiry_ms: None
            }
        )
    );
    let stats = q.stats(300).unwrap();
    assert_eq!((stats.dead, stats.leased), (1, 0));
    assert_eq!(count(q, Status::Failed), 1);
}

fn batches_claim_and_finish_together(q: &dyn Queue) {
    for n in 1..=5 {
        submit(q, n, 100);
    }
    assert_eq!(q.cancel(&id(2), 100).unwrap(), CancelOutcome::Cancelled);
    submit(q, 6, 100);
    // max 0 claims nothing, and does no housekeeping either.
    assert_eq!(q.claim(100, 1_100, "a", 0).unwrap(), Claim::NOTHING);
    assert_eq!(
        q.claim(100, 1_100, "a", 3).unwrap(),
        claim_of(&[id(1), id(3), id(4)], &[])
    );
    assert_eq!(count(q, Status::Running), 3);
    // One finish lost (stranger's token), one owned; a status that is not final refuses
    // the whole call before anything changes.
    let batch = [
        finish(1, "a", Status::Succeeded, false),
        finish(3, "x", Status::Succeeded, false),
        finish(4, "a", Status::Queued, false),
    ];
    assert!(q.finish_and_claim(&batch, 200, 1_200, "b", 5).is_err());
    assert_eq!(
        (count(q, Status::Running), count(q, Status::Queued)),
        (3, 2)
    );
    let batch = [
        finish(1, "a", Status::Succeeded, false),
        finish(3, "x", Status::Succeeded, false),
        finish(4, "a", Status::Failed, true),
    ];
    assert_eq!(
        q.finish_and_claim(&batch, 200, 1_200, "b", 5).unwrap(),
        (
            vec![Ownership::Owned, Ownership::Lost, Ownership::Owned],
            claim_of(&[id(5), id(6)], &[])
        )
    );
    assert_eq!(count(q, Status::Succeeded), 1);
    assert_eq!(count(q, Status::Failed), 1);
    assert_eq!(count(q, Status::Running), 3); // 3 (still a's), 5 and 6 (b's)
    // max 0 only finishes.
    let batch = [
        finish(5, "b", Status::Succeeded, false),
        finish(6, "b", Status::Succeeded, false),
    ];
    assert_eq!(
        q.finish_and_claim(&batch, 300, 1_300, "c", 0).unwrap(),
        (vec![Ownership::Owned, Ownership::Owned], Claim::NOTHING)
    );
    assert_eq!(count(q, Status::Succeeded), 3);
    assert_eq!(q.stats(300).unwrap().dead, 1);
}

fn heartbeat_extends_the_batch(q: &dyn Queue) {
    for n in 1..=4 {
        submit(q, n, 100);
    }
    assert_eq!(
        q.claim(100, 1_100, "a", 3).unwrap(),
        claim_of(&[id(1), id(2), id(3)], &[])
    );
    assert_eq!(claimed(q, 100, "b"), id(4)); // lease until 1_100, token b
    // a's heartbeat for job 1 extends 2 and 3 too, but not b's job 4.
    let others = [id(2), id(3), id(4)];
    assert_eq!(
        q.heartbeat_batch(&id(1), "a", 5_000, &others).unwrap(),
        Heartbeat::Owned {
            cancel_requested: false
        }
    );
    // At 2_000 only job 4's lease has expired: the next claim takes it back.
    assert_eq!(
        q.claim(2_000, 3_000, "c", 10).unwrap(),
        claim_of(&[id(4)], &[])
    );
    // Lost for a stranger, and nothing of a's is extended by it.
    assert_eq!(
        q.heartbeat_batch(&id(1), "x", 9_000, &others).unwrap(),
        Heartbeat::Lost
    );
    assert!(
        matches!(q.claim(5_001, 6_000, "d", 10).unwrap(), Claim::Claimed { jobs, .. } if jobs.len() == 4)
    );
}

fn finish_and_claim_token_checked(q: &dyn Queue) {
    submit(q, 1, 100);
    submit(q, 2, 100);
    assert_eq!(claimed(q, 100, "a"), id(1)); // lease until 1_100
    // A stranger's finish changes nothing, but the claim half still runs.
    assert_eq!(
        q.finish_and_claim(
            &[finish(1, "x", Status::Succeeded, false)],
            200,
            1_200,
            "b",
            1
        )
        .unwrap(),
        (vec![Ownership::Lost], claim_of(&[id(2)], &[]))
    );
    assert_eq!(count(q, Status::Running), 2);
    assert_eq!(count(q, Status::Succeeded), 0);
    // A status that is not final is refused before anything changes.
    assert!(
        q.finish_and_claim(
            &[finish(2, "b", Status::Running, false)],
            300,
            1_300,
            "c",
            1
        )
        .is_err()
    );
    assert_eq!(count(q, Status::Running), 2);
    // The claim half does the claim's housekeeping: job 1's lease expired meanwhile and a
    // cancel was requested while it ran, so it comes back with the request.
    assert_eq!(q.cancel(&id(1), 500).unwrap(), CancelOutcome::Requested);
    assert_eq!(
        q.finish_and_claim(
            &[finish(2, "b", Status::Succeeded, false)],
            1_100,
            2_100,
            "c",
            1
        )
        .unwrap(),
        (vec![Ownership::Owned], claim_of(&[id(1)], &[id(1)]))
    );
    assert_eq!(
        q.finish(&id(1), "a", Status::Succeeded, 1_200, false)
            .unwrap(),
        Ownership::Lost
    );
}

fn retry_schedules(q: &dyn Queue) {
    submit(q, 1, 100);
    claimed(q, 100, "a");
    assert_eq!(
        q.retry(&id(1), "a", 400, 150).unwrap(),
        RetryOutcome::Scheduled
    );
    assert_eq!(count(q, Status::Queued), 1);
    assert_eq!(
        claim(q, 399, "b"),
        Claim::Empty {
            next_due_ms: Some(400),
            next_expiry_ms: None
        }
    );
    assert_eq!(claimed(q, 400, "b"), id(1));
    q.finish(&id(1), "b", Status::Failed, 500, true).unwrap();
    let stats = q.stats(500).unwrap();
    assert_eq!((stats.retries, stats.dead), (1, 1));
}

fn cancel_by_state(q: &dyn Queue) {
    assert_eq!(q.cancel(&id(9), 100).unwrap(), CancelOutcome::Unknown);
    submit(q, 1, 100);
    submit(q, 2, 100);
    q.submit(&enqueue(3, 100, 9_000)).unwrap();
    assert_eq!(q.cancel(&id(1), 100).unwrap(), CancelOutcome::Cancelled);
    assert_eq!(
        q.cancel(&id(1), 100).unwrap(),
        CancelOutcome::AlreadyCancelled
    );
    assert_eq!(q.cancel(&id(3), 100).unwrap(), CancelOutcome::Cancelled);
    // Job 1 left the ready list: the next claim gets job 2; the delayed job 3 never comes.
    assert_eq!(claimed(q, 100, "a"), id(2));
    assert_eq!(q.cancel(&id(2), 100).unwrap(), CancelOutcome::Requested);
    assert_eq!(
        q.heartbeat(&id(2), "a", 2_000).unwrap(),
        Heartbeat::Owned {
            cancel_requested: true
        }
    );
    q.finish(&id(2), "a", Status::Cancelled, 200, false)
        .unwrap();
    assert_eq!(
        q.cancel(&id(2), 300).unwrap(),
        CancelOutcome::AlreadyCancelled
    );
    assert_eq!(
        claim(q, 10_000, "a"),
        Claim::Empty {
            next_due_ms: None,
            next_expiry_ms: None
        }
    );
    assert_eq!(count(q, Status::Cancelled), 3);
    submit(q, 4, 100);
    claimed(q, 100, "a");
    q.finish(&id(4), "a", Status::Succeeded, 200, false)
        .unwrap();
    assert_eq!(
        q.cancel(&id(4), 300).unwrap(),
        CancelOutcome::Finished(Status::Succeeded)
    );
}

fn cancel_beats_retry(q: &dyn Queue) {
    submit(q, 1, 100);
    claimed(q, 100, "a");
    q.cancel(&id(1), 120).unwrap();
    assert_eq!(
        q.retry(&id(1), "a", 400, 150).unwrap(),
        RetryOutcome::Cancelled
    );
    assert_eq!(count(q, Status::Cancelled), 1);
    assert_eq!(
        claim(q, 10_000, "b"),
        Claim::Empty {
            next_due_ms: None,
            next_expiry_ms: None
        }
    );
    assert_eq!(q.stats(200).unwrap().retries, 0);
}

fn stats_count(q: &dyn Queue) {
    submit(q, 1, 100);
    submit(q, 2, 100);
    submit(q, 3, 100);
    q.submit(&enqueue(4, 100, 1_000)).unwrap();
    claimed(q, 100, "a"); // job 1, lease until 1_100
    let s = q.stats(500).unwrap();
    assert_eq!(
        s.by_status.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        Status::ALL.to_vec()
    );
    assert_eq!(count(q, Status::Queued), 3);
    assert_eq!(count(q, Status::Running), 1);
    assert_eq!(
        (
            s.ready,
            s.delayed,
            s.delayed_due,
            s.leased,
            s.leases_expired
        ),
        (2, 1, 0, 1, 0)
    );
    assert_eq!(s.oldest_ready, Some(id(2)));
    assert_eq!(s.oldest_due_ms, None);
    assert!(s.work_waiting());
    let later = q.stats(2_000).unwrap();
    assert_eq!((later.delayed_due, later.leases_expired), (1, 1));
    assert_eq!(later.oldest_due_ms, Some(1_000));
}

fn list_pages(q: &dyn Queue) {
    for n in 1..=5 {
        submit(q, n, 100);
    }
    claimed(q, 100, "a"); // job 1 running
    let page = q.list(None, None, 2).unwrap();
    assert_eq!(page, vec![id(5), id(4)]);
    let next = q.list(None, Some(&id(4)), 2).unwrap();
    assert_eq!(next, vec![id(3), id(2)]);
    let last = q.list(None, Some(&id(2)), 2).unwrap();
    assert_eq!(last, vec![id(1)]);
    assert!(q.list(None, Some(&id(1)), 2).unwrap().is_empty());
    assert_eq!(
        q.list(Some(Status::Running), None, 10).unwrap(),
        vec![id(1)]
    );
    assert_eq!(q.list(Some(Status::Queued), None, 10).unwrap().len(), 4);
}

fn expiry_and_forget(q: &dyn Queue) {
    for n in 1..=3 {
        submit(q, n, 100);
        claimed(q, 100, "a");
        q.finish(&id(n), "a", Status::Succeeded, 1_000 * n, false)
            .unwrap();
    }
    assert_eq!(q.expired(2_000, 10).unwrap(), vec![id(1), id(2)]);
    assert_eq!(q.expired(2_000, 1).unwrap(), vec![id(1)]);
    q.forget(&[id(1), id(2)]).unwrap();
    assert_eq!(q.expired(5_000, 10).unwrap(), vec![id(3)]);
    assert_eq!(q.list(None, None, 10).unwrap(), vec![id(3)]);
    assert_eq!(count(q, Status::Succeeded), 1);
}

fn ring_is_rate_limited(q: &dyn Queue) {
    assert!(q.ring(&doorbell(), 60_000).unwrap());
    assert!(!q.ring(&doorbell(), 60_000).unwrap());
}

fn ping_answers(q: &dyn Queue) {
    q.ping().unwrap();
}

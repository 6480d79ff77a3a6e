//! Claims, leases, heartbeats and finishes.

use super::*;

pub(super) fn claims_in_fifo_order(q: &dyn Queue) {
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

pub(super) fn empty_reports_next_due(q: &dyn Queue) {
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

pub(super) fn delayed_waits(q: &dyn Queue) {
    q.submit(&enqueue(1, 100, 500)).unwrap();
    assert_eq!(count(q, Status::Queued), 1);
    assert!(matches!(claim(q, 499, "a"), Claim::Empty { .. }));
    assert_eq!(claimed(q, 500, "a"), id(1));
}

pub(super) fn idem(key: &str, fingerprint: &str) -> IdempotencyClaim {
    IdempotencyClaim {
        key: key.into(),
        fingerprint: fingerprint.into(),
        retention_cutoff_ms: 0,
    }
}

pub(super) fn idempotency_claimed_once(q: &dyn Queue) {
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
    assert_eq!(listed(q, None, None, None, 10), vec![id(1)]);
}

pub(super) fn a_key_goes_with_its_forgotten_job(q: &dyn Queue) {
    let mut first = enqueue(1, 100, 100);
    first.idempotency = Some(idem("k", "fp"));
    assert_eq!(q.submit(&first).unwrap(), SubmitOutcome::Enqueued);
    assert_eq!(
        q.cancel(&tenant(), &id(1), 200, false).unwrap(),
        CancelOutcome::Cancelled
    );
    q.forget(&tenant(), &[id(1)]).unwrap();
    // The job it named is gone, and the key with it: it is free again.
    let mut again = enqueue(2, 300, 300);
    again.idempotency = Some(idem("k", "fp"));
    assert_eq!(q.submit(&again).unwrap(), SubmitOutcome::Enqueued);
    let mut third = enqueue(3, 300, 300);
    third.idempotency = Some(idem("k", "fp"));
    assert!(
        matches!(q.submit(&third).unwrap(), SubmitOutcome::Duplicate(rec) if rec.id == id(2).as_str())
    );
}

pub(super) fn a_key_is_free_once_its_job_is_past_retention(q: &dyn Queue) {
    // `with_cutoff(n, c)`: job n with key "k", submitted when the retention cutoff is c.
    let with_cutoff = |n: u64, key: &str, cutoff: u64| {
        let mut job = enqueue(n, 300, 300);
        job.idempotency = Some(IdempotencyClaim {
            retention_cutoff_ms: cutoff,
            ..idem(key, "fp")
        });
        job
    };
    let mut first = enqueue(1, 100, 100);
    first.idempotency = Some(idem("k", "fp"));
    q.submit(&first).unwrap();
    // Its event goes out: a key is kept while the delivery is under way.
    let mut hooked = enqueue(2, 100, 100);
    hooked.idempotency = Some(idem("h", "fp"));
    q.submit(&hooked).unwrap();
    for (n, event) in [(1, false), (2, true)] {
        assert_eq!(
            q.cancel(&tenant(), &id(n), 200, event).unwrap(),
            CancelOutcome::Cancelled
        );
    }
    // Finished at 200: kept while the cutoff is before it.
    assert!(matches!(
        q.submit(&with_cutoff(3, "k", 199)).unwrap(),
        SubmitOutcome::Duplicate(rec) if rec.id == id(1).as_str()
    ));
    assert!(matches!(
        q.submit(&with_cutoff(3, "h", 500)).unwrap(),
        SubmitOutcome::Duplicate(rec) if rec.id == id(2).as_str()
    ));
    // Past it: the key is free though retention has not removed job 1 yet, and the new
    // job takes it.
    assert_eq!(
        q.submit(&with_cutoff(3, "k", 200)).unwrap(),
        SubmitOutcome::Enqueued
    );
    assert!(q.knows(&tenant(), &id(1)).unwrap(), "not removed yet");
    // Retention removing job 1 leaves the key to job 3.
    q.forget(&tenant(), &[id(1)]).unwrap();
    assert!(matches!(
        q.submit(&with_cutoff(4, "k", 500)).unwrap(),
        SubmitOutcome::Duplicate(rec) if rec.id == id(3).as_str()
    ));
    assert_eq!(count(q, Status::Queued), 1);
}

pub(super) fn knows_what_took_effect(q: &dyn Queue) {
    let mut job = enqueue(1, 100, 100);
    job.idempotency = Some(idem("k", "fp"));
    q.submit(&job).unwrap();
    let mut duplicate = enqueue(2, 100, 100);
    duplicate.idempotency = Some(idem("k", "fp"));
    assert!(matches!(
        q.submit(&duplicate).unwrap(),
        SubmitOutcome::Duplicate(_)
    ));
    assert!(q.knows(&tenant(), &id(1)).unwrap());
    assert!(
        !q.knows(&tenant(), &id(2)).unwrap(),
        "a duplicate's id took no effect"
    );
    assert!(!q.knows(&tenant(), &id(3)).unwrap(), "never submitted");
    q.forget(&tenant(), &[id(1)]).unwrap();
    assert!(
        !q.knows(&tenant(), &id(1)).unwrap(),
        "forgotten by retention"
    );
}

pub(super) fn one_watch_at_a_time(q: &dyn Queue) {
    assert!(q.watch("w1", 60_000).unwrap(), "a free watch is taken");
    assert!(q.watch("w1", 60_000).unwrap(), "its holder keeps it");
    assert!(!q.watch("w2", 60_000).unwrap(), "another token is refused");
}

pub(super) fn renew_reports_ownership(q: &dyn Queue) {
    submit(q, 1, 100);
    submit(q, 2, 100);
    assert_eq!(claimed(q, 100, "w1"), id(1)); // lease until 1_100
    assert_eq!(claimed(q, 100, "w2"), id(2));
    assert_eq!(
        q.renew(&tenant(), "w1", &[id(1), id(2), id(3)], 5_000)
            .unwrap(),
        vec![true, false, false]
    );
    // Extended: nothing has expired at 4_999 but job 2 (w2's lease ran out at 1_100);
    // at 5_000 job 1's lease is gone too, and w1 owns nothing any more.
    assert_eq!(claimed(q, 4_999, "w3"), id(2));
    assert_eq!(claimed(q, 5_000, "w3"), id(1));
    assert_eq!(
        q.renew(&tenant(), "w1", &[id(1)], 9_000).unwrap(),
        vec![false]
    );
    assert!(q.renew(&tenant(), "w1", &[], 9_000).unwrap().is_empty());
}

pub(super) fn expired_lease_requeues(q: &dyn Queue) {
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
        q.heartbeat(&tenant(), &id(1), "dead-worker", 5_000)
            .unwrap(),
        Heartbeat::Lost
    );
    assert_eq!(
        q.heartbeat(&tenant(), &id(1), "b", 5_000).unwrap(),
        Heartbeat::Owned {
            cancel_requested: false
        }
    );
}

pub(super) fn token_checked(q: &dyn Queue) {
    submit(q, 1, 100);
    claimed(q, 100, "a");
    assert_eq!(
        finish_one(q, &id(1), "b", Status::Succeeded, 200, false).unwrap(),
        Ownership::Lost
    );
    assert_eq!(
        q.retry(&tenant(), &id(1), "b", 300).unwrap(),
        RetryOutcome::Lost
    );
    assert_eq!(
        finish_one(q, &id(1), "a", Status::Succeeded, 200, false).unwrap(),
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
    assert_eq!(
        q.heartbeat(&tenant(), &id(1), "a", 5_000).unwrap(),
        Heartbeat::Lost
    );
}

pub(super) fn finish_and_claim_reads_the_claimed_records(q: &dyn Queue) {
    // Records written with the submits (as when the store is the queue's Redis): job 2's
    // is empty, job 3 has none.
    let record = |n: u64, value: &[u8]| (crate::keys::job(&tenant(), &id(n)), value.to_vec());
    for (n, records) in [
        (1, vec![record(1, b"one")]),
        (2, vec![record(2, b"")]),
        (3, vec![]),
        (4, vec![record(4, b"four")]),
    ] {
        let job = Enqueue {
            records,
            ..enqueue(n, 100, 100)
        };
        assert_eq!(q.submit(&job).unwrap(), SubmitOutcome::Enqueued);
    }
    let (owned, claim, records) = q.finish_and_claim_reading(&[], 100, 1_100, "a", 3).unwrap();
    assert_eq!(owned, vec![]);
    assert_eq!(claim, claim_of(&[id(1), id(2), id(3)], &[]));
    assert_eq!(
        records,
        vec![Some(b"one".to_vec()), Some(Vec::new()), None],
        "in the order of the claimed jobs; an empty record is not a missing one"
    );
    // With a finish, and the rest of the queue.
    let (owned, claim, records) = q
        .finish_and_claim_reading(
            &[finish(1, "a", Status::Succeeded, false)],
            200,
            1_200,
            "b",
            3,
        )
        .unwrap();
    assert_eq!(owned, vec![Ownership::Owned]);
    assert_eq!(claim, claim_of(&[id(4)], &[]));
    assert_eq!(records, vec![Some(b"four".to_vec())]);
    // Nothing claimed, nothing read.
    let (_, claim, records) = q.finish_and_claim_reading(&[], 300, 1_300, "c", 3).unwrap();
    assert!(matches!(claim, Claim::Empty { .. }), "{claim:?}");
    assert_eq!(records, Vec::<Option<Vec<u8>>>::new());
}

pub(super) fn finish_and_claim_chains(q: &dyn Queue) {
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
    assert_eq!(expired_ids(q, 199, 10), vec![]);
    assert_eq!(expired_ids(q, 200, 10), vec![id(1)]);
    assert_eq!(
        q.heartbeat(&tenant(), &id(1), "a", 5_000).unwrap(),
        Heartbeat::Lost
    );
    // The new lease belongs to the new token, until the given deadline.
    assert_eq!(
        q.heartbeat(&tenant(), &id(2), "b", 1_200).unwrap(),
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
    let stats = q.stats(&tenant(), 300).unwrap();
    assert_eq!((stats.dead, stats.leased), (1, 0));
    assert_eq!(count(q, Status::Failed), 1);
}

pub(super) fn batches_claim_and_finish_together(q: &dyn Queue) {
    for n in 1..=5 {
        submit(q, n, 100);
    }
    assert_eq!(
        q.cancel(&tenant(), &id(2), 100, false).unwrap(),
        CancelOutcome::Cancelled
    );
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
    assert_eq!(q.stats(&tenant(), 300).unwrap().dead, 1);
}

pub(super) fn heartbeat_extends_the_batch(q: &dyn Queue) {
    for n in 1..=4 {
        submit(q, n, 100);
    }
    assert_eq!(
        q.claim(100, 1_100, "a", 3).unwrap(),
        claim_of(&[id(1), id(2), id(3)], &[])
    );
    assert_eq!(claimed(q, 100, "b"), id(4)); // lease until 1_100, token b
    // A client asks to cancel job 3 while it waits in a's batch.
    assert_eq!(
        q.cancel(&tenant(), &id(3), 200, false).unwrap(),
        CancelOutcome::Requested
    );
    // a's heartbeat answers for every job it names: it extends 1, 2 and 3, reports the
    // cancel of 3, and neither extends nor claims b's job 4.
    let batch = [id(1), id(2), id(3), id(4)];
    let owned = Heartbeat::Owned {
        cancel_requested: false,
    };
    let cancel = Heartbeat::Owned {
        cancel_requested: true,
    };
    assert_eq!(
        q.heartbeat_batch(&tenant(), "a", &batch, 5_000).unwrap(),
        [owned, owned, cancel, Heartbeat::Lost]
    );
    // At 2_000 only job 4's lease has expired: the next claim takes it back.
    assert_eq!(
        q.claim(2_000, 3_000, "c", 10).unwrap(),
        claim_of(&[id(4)], &[])
    );
    // Lost for a stranger, and nothing of a's is extended by it.
    assert_eq!(
        q.heartbeat_batch(&tenant(), "x", &batch, 9_000).unwrap(),
        [Heartbeat::Lost; 4]
    );
    assert!(
        q.heartbeat_batch(&tenant(), "a", &[], 9_000)
            .unwrap()
            .is_empty()
    );
    assert!(
        matches!(q.claim(5_001, 6_000, "d", 10).unwrap(), Claim::Claimed { jobs, .. } if jobs.len() == 4)
    );
}

pub(super) fn finish_and_claim_token_checked(q: &dyn Queue) {
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
    assert_eq!(
        q.cancel(&tenant(), &id(1), 500, false).unwrap(),
        CancelOutcome::Requested
    );
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
        finish_one(q, &id(1), "a", Status::Succeeded, 1_200, false).unwrap(),
        Ownership::Lost
    );
}

//! Retries, cancels, stats, listing, expiry, the doorbell and the ping.

use super::*;

pub(super) fn retry_schedules(q: &dyn Queue) {
    submit(q, 1, 100);
    claimed(q, 100, "a");
    assert_eq!(
        q.retry(&tenant(), &id(1), "a", 400).unwrap(),
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
    finish_one(q, &id(1), "b", Status::Failed, 500, true).unwrap();
    let stats = q.stats(&tenant(), 500).unwrap();
    assert_eq!((stats.retries, stats.dead), (1, 1));
}

pub(super) fn cancel_by_state(q: &dyn Queue) {
    assert_eq!(
        q.cancel(&tenant(), &id(9), 100, false).unwrap(),
        CancelOutcome::Unknown
    );
    submit(q, 1, 100);
    submit(q, 2, 100);
    q.submit(&enqueue(3, 100, 9_000)).unwrap();
    assert_eq!(
        q.cancel(&tenant(), &id(1), 100, false).unwrap(),
        CancelOutcome::Cancelled
    );
    // Asked again later: when it was cancelled, so a record written now says that.
    assert_eq!(
        q.cancel(&tenant(), &id(1), 150, false).unwrap(),
        CancelOutcome::AlreadyCancelled { at_ms: Some(100) }
    );
    assert_eq!(
        q.cancel(&tenant(), &id(3), 100, false).unwrap(),
        CancelOutcome::Cancelled
    );
    // Job 1 left the ready list: the next claim gets job 2; the delayed job 3 never comes.
    assert_eq!(claimed(q, 100, "a"), id(2));
    assert_eq!(
        q.cancel(&tenant(), &id(2), 100, false).unwrap(),
        CancelOutcome::Requested
    );
    // Asked again: nothing changes, and the answer says so.
    assert_eq!(
        q.cancel(&tenant(), &id(2), 100, false).unwrap(),
        CancelOutcome::RequestedBefore
    );
    assert_eq!(
        q.heartbeat(&tenant(), &id(2), "a", 2_000).unwrap(),
        Heartbeat::Owned {
            cancel_requested: true
        }
    );
    finish_one(q, &id(2), "a", Status::Cancelled, 200, false).unwrap();
    assert_eq!(
        q.cancel(&tenant(), &id(2), 300, false).unwrap(),
        CancelOutcome::AlreadyCancelled { at_ms: Some(200) }
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
    finish_one(q, &id(4), "a", Status::Succeeded, 200, false).unwrap();
    assert_eq!(
        q.cancel(&tenant(), &id(4), 300, false).unwrap(),
        CancelOutcome::Finished(Status::Succeeded)
    );
}

pub(super) fn cancel_beats_retry(q: &dyn Queue) {
    submit(q, 1, 100);
    claimed(q, 100, "a");
    q.cancel(&tenant(), &id(1), 120, false).unwrap();
    // The retry changes nothing: the holder keeps the job, to record it cancelled first.
    assert_eq!(
        q.retry(&tenant(), &id(1), "a", 400).unwrap(),
        RetryOutcome::CancelRequested
    );
    assert_eq!(count(q, Status::Running), 1);
    assert_eq!(count(q, Status::Cancelled), 0);
    assert_eq!(
        finish_one(q, &id(1), "a", Status::Cancelled, 150, false).unwrap(),
        Ownership::Owned
    );
    assert_eq!(count(q, Status::Cancelled), 1);
    assert_eq!(
        claim(q, 10_000, "b"),
        Claim::Empty {
            next_due_ms: None,
            next_expiry_ms: None
        }
    );
    assert_eq!(q.stats(&tenant(), 200).unwrap().retries, 0);
}

pub(super) fn stats_count(q: &dyn Queue) {
    submit(q, 1, 100);
    submit(q, 2, 100);
    submit(q, 3, 100);
    q.submit(&enqueue(4, 100, 1_000)).unwrap();
    claimed(q, 100, "a"); // job 1, lease until 1_100
    let s = q.stats(&tenant(), 500).unwrap();
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
    let later = q.stats(&tenant(), 2_000).unwrap();
    assert_eq!((later.delayed_due, later.leases_expired), (1, 1));
    assert_eq!(later.oldest_due_ms, Some(1_000));
}

pub(super) fn list_pages(q: &dyn Queue) {
    for n in 1..=5 {
        submit(q, n, 100);
    }
    claimed(q, 100, "a"); // job 1 running
    let page = listed(q, None, None, None, 2);
    assert_eq!(page, vec![id(5), id(4)]);
    let next = listed(q, None, None, Some(&id(4)), 2);
    assert_eq!(next, vec![id(3), id(2)]);
    let last = listed(q, None, None, Some(&id(2)), 2);
    assert_eq!(last, vec![id(1)]);
    assert!(listed(q, None, None, Some(&id(1)), 2).is_empty());
    assert_eq!(
        listed(q, Some(Status::Running), None, None, 10),
        vec![id(1)]
    );
    assert_eq!(listed(q, Some(Status::Queued), None, None, 10).len(), 4);
}

pub(super) fn list_by_id_range(q: &dyn Queue) {
    // Four jobs made a second apart, kinds even, odd, even, odd; the first one runs.
    let t0 = 1_700_000_000_000;
    let ids: Vec<JobId> = (0..4).map(|k| id_at(t0 + 1_000 * k, k)).collect();
    for (k, id) in ids.iter().enumerate() {
        submit_as(q, *id, k as u64, t0 + 5_000);
    }
    assert_eq!(claimed(q, t0 + 5_000, "a"), ids[0]);
    let from = |k: u64| IdRange::created_from(Timestamp::from_ms(t0 + 1_000 * k));
    let before = |k: u64| IdRange::created_before(Timestamp::from_ms(t0 + 1_000 * k));
    let prefix = |p: &str| IdRange::prefixed(&IdPrefix::parse(p).unwrap());
    let list = |status: Option<Status>, kind: Option<&str>, ids: IdRange, cursor, limit| {
        let filter = ListFilter {
            status,
            kind: kind.map(str::to_owned),
            ids,
        };
        let listed = q.list(&tenant(), &filter, cursor, limit).unwrap();
        assert_eq!(listed.scanned_to, None);
        listed.ids
    };
    let all = |ids: IdRange| list(None, None, ids, None, 10);
    assert_eq!(all(from(1)), vec![ids[3], ids[2], ids[1]]);
    assert_eq!(all(before(2)), vec![ids[1], ids[0]]);
    let window = from(1).and(before(3));
    assert_eq!(all(window.clone()), vec![ids[2], ids[1]]);
    assert_eq!(list(None, None, from(1), None, 2), vec![ids[3], ids[2]]);
    // The cursor narrows the range; a cursor above it changes nothing.
    let page = |cursor| list(None, None, window.clone(), Some(cursor), 10);
    assert_eq!(page(&ids[2]), vec![ids[1]]);
    assert_eq!(page(&ids[3]), vec![ids[2], ids[1]]);
    assert!(page(&ids[1]).is_empty());
    assert_eq!(all(prefix(&ids[2].as_str()[..13])), vec![ids[2]]);
    assert_eq!(all(prefix(ids[1].as_str())), vec![ids[1]]);
    assert_eq!(all(prefix(&ids[0].as_str()[..8])).len(), 4);
    assert!(all(prefix("f")).is_empty());
    assert!(all(from(2).and(before(1))).is_empty(), "an empty range");
    // With one index, and with a kind's index checked against a status's.
    let queued = Some(Status::Queued);
    assert_eq!(
        list(queued, None, from(0), None, 10),
        vec![ids[3], ids[2], ids[1]]
    );
    let running = Some(Status::Running);
    assert_eq!(list(running, None, before(1), None, 10), vec![ids[0]]);
    assert_eq!(
        list(None, Some(KINDS[1]), before(3), None, 10),
        vec![ids[1]]
    );
    assert_eq!(
        list(queued, Some(KINDS[0]), from(0), None, 10),
        vec![ids[2]]
    );
    // The scan stops at the lower bound: job 0, below it, is never looked at.
    assert!(list(running, Some(KINDS[0]), from(1), None, 10).is_empty());
    assert_eq!(
        list(running, Some(KINDS[0]), from(0), None, 10),
        vec![ids[0]]
    );
}

pub(super) fn throughput_by_minute(q: &dyn Queue) {
    let minute = 1_699_999_980_000; // a whole minute
    let now = minute + 30_000;
    let early = id_at(now - MINUTE_MS, 1); // made in the minute before
    let late = id_at(now, 2);
    submit_as(q, early, 1, now - MINUTE_MS);
    submit_as(q, late, 2, now);
    submit_as(q, id_at(now - 5 * MINUTE_MS, 3), 3, now); // never finished
    submit_as(q, id_at(now - 11 * MINUTE_MS, 4), 4, now); // too old to count
    assert_eq!(claimed(q, now, "a"), early);
    assert_eq!(claimed(q, now, "a"), late);
    finish_one(q, &early, "a", Status::Succeeded, now + 1_000, false).unwrap();
    finish_one(q, &late, "a", Status::Failed, now + 2_000, true).unwrap();
    let counts = |back: u64, submitted, finished| MinuteCounts {
        start_ms: minute - back * MINUTE_MS,
        submitted,
        finished,
    };
    let mut expected: Vec<MinuteCounts> = (0..u64::from(THROUGHPUT_MINUTES))
        .rev()
        .map(|back| counts(back, 0, 0))
        .collect();
    let current = expected.len() - 1;
    expected[current] = counts(0, 1, 2);
    expected[current - 1] = counts(1, 1, 0);
    expected[current - 5] = counts(5, 1, 0);
    assert_eq!(
        q.stats(&tenant(), now + 3_000).unwrap().throughput,
        expected
    );
    // The last of the current minute, and no minute before the epoch.
    let last_ms = minute + MINUTE_MS - 1;
    assert_eq!(q.stats(&tenant(), last_ms).unwrap().throughput, expected);
    let early_days = q.stats(&tenant(), 3 * MINUTE_MS + 1).unwrap().throughput;
    let starts: Vec<u64> = early_days.iter().map(|m| m.start_ms).collect();
    assert_eq!(starts, vec![0, MINUTE_MS, 2 * MINUTE_MS, 3 * MINUTE_MS]);
}

pub(super) fn expiry_and_forget(q: &dyn Queue) {
    for n in 1..=3 {
        submit(q, n, 100);
        claimed(q, 100, "a");
        finish_one(q, &id(n), "a", Status::Succeeded, 1_000 * n, false).unwrap();
    }
    assert_eq!(expired_ids(q, 2_000, 10), vec![id(1), id(2)]);
    assert_eq!(expired_ids(q, 2_000, 1), vec![id(1)]);
    q.forget(&tenant(), &[id(1), id(2)]).unwrap();
    assert_eq!(expired_ids(q, 5_000, 10), vec![id(3)]);
    assert_eq!(listed(q, None, None, None, 10), vec![id(3)]);
    assert_eq!(count(q, Status::Succeeded), 1);
}

pub(super) fn list_by_kind(q: &dyn Queue) {
    for n in 1..=5 {
        submit(q, n, 100);
    }
    assert_eq!(claimed(q, 100, "a"), id(1));
    let (even, odd) = (Some(KINDS[0]), Some(KINDS[1]));
    assert_eq!(listed(q, None, even, None, 10), vec![id(4), id(2)]);
    assert_eq!(listed(q, None, odd, None, 2), vec![id(5), id(3)]);
    assert_eq!(listed(q, None, odd, Some(&id(3)), 2), vec![id(1)]);
    assert_eq!(listed(q, Some(Status::Running), odd, None, 10), vec![id(1)]);
    assert_eq!(
        listed(q, Some(Status::Queued), odd, None, 10),
        vec![id(5), id(3)]
    );
    assert!(listed(q, Some(Status::Running), even, None, 10).is_empty());
    assert!(listed(q, None, Some("unknown"), None, 10).is_empty());
    q.forget(&tenant(), &[id(3), id(4)]).unwrap();
    assert_eq!(listed(q, None, even, None, 10), vec![id(2)]);
    assert_eq!(listed(q, Some(Status::Queued), odd, None, 10), vec![id(5)]);
}

pub(super) fn forget_clears_the_index_of_a_kind_no_longer_served(q: &dyn Queue) {
    // Job 1 was submitted when its kind was served; the queue (made for KINDS) no longer
    // knows it when retention forgets the job.
    let old = Enqueue {
        kind: "retired".into(),
        ..enqueue(1, 100, 100)
    };
    assert_eq!(q.submit(&old).unwrap(), SubmitOutcome::Enqueued);
    submit(q, 2, 100);
    assert_eq!(listed(q, None, Some("retired"), None, 10), vec![id(1)]);
    q.forget(&tenant(), &[id(1), id(2)]).unwrap();
    assert!(listed(q, None, Some("retired"), None, 10).is_empty());
    assert!(listed(q, None, Some(KINDS[0]), None, 10).is_empty());
    // Used again later: cleared again.
    let again = Enqueue {
        kind: "retired".into(),
        ..enqueue(3, 200, 200)
    };
    assert_eq!(q.submit(&again).unwrap(), SubmitOutcome::Enqueued);
    q.forget(&tenant(), &[id(3)]).unwrap();
    assert!(listed(q, None, Some("retired"), None, 10).is_empty());
}

pub(super) fn list_scan_is_bounded(q: &dyn Queue) {
    // Job 1 (odd) runs; every later odd job is queued, more of them than one scan takes.
    submit(q, 1, 100);
    assert_eq!(claimed(q, 100, "a"), id(1));
    let n = 2 * u64::from(LIST_SCAN_MAX) + 4;
    for k in 2..=n {
        submit(q, k, 100);
    }
    let running = ListFilter {
        status: Some(Status::Running),
        kind: Some(KINDS[1].to_owned()),
        ids: IdRange::ALL,
    };
    let first = q.list(&tenant(), &running, None, 5).unwrap();
    assert!(first.ids.is_empty(), "{first:?}");
    let stop = first.scanned_to.expect("the scan stopped at its bound");
    // It looked at LIST_SCAN_MAX odd jobs, newest first: the next listing goes on from
    // there and finds job 1.
    assert_eq!(stop, id(n + 1 - 2 * u64::from(LIST_SCAN_MAX)));
    let rest = q.list(&tenant(), &running, Some(&stop), 5).unwrap();
    assert_eq!((rest.ids, rest.scanned_to), (vec![id(1)], None));
}

pub(super) fn ring_is_rate_limited(q: &dyn Queue) {
    assert!(q.ring(&doorbell(), 60_000).unwrap());
    assert!(!q.ring(&doorbell(), 60_000).unwrap());
}

pub(super) fn ping_answers(q: &dyn Queue) {
    q.ping().unwrap();
}

//! Retries, cancels, stats, listing, expiry, the doorbell and the ping.

use super::*;

pub(super) fn retry_schedules(q: &dyn Queue) {
    submit(q, 1, 100);
    claimed(q, 100, "a");
    assert_eq!(
        q.retry(&tenant(), &id(1), "a", 400, 150, false).unwrap(),
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
    assert_eq!(
        q.cancel(&tenant(), &id(1), 100, false).unwrap(),
        CancelOutcome::AlreadyCancelled
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
    assert_eq!(
        q.heartbeat(&tenant(), &id(2), "a", 2_000).unwrap(),
        Heartbeat::Owned {
            cancel_requested: true
        }
    );
    finish_one(q, &id(2), "a", Status::Cancelled, 200, false).unwrap();
    assert_eq!(
        q.cancel(&tenant(), &id(2), 300, false).unwrap(),
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
    assert_eq!(
        q.retry(&tenant(), &id(1), "a", 400, 150, false).unwrap(),
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

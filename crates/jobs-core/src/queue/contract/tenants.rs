//! Tenants: claims go round the tenants with work, each tenant sees only its own jobs,
//! its quota holds, and retention serves every tenant.

use super::*;

pub(super) fn named(name: &str) -> Tenant {
    Tenant::parse(name).expect("a valid tenant name")
}

fn enqueue_for(t: &Tenant, n: u64, now: u64, due: u64) -> Enqueue {
    Enqueue {
        tenant: t.clone(),
        ..enqueue(n, now, due)
    }
}

/// The tenant and ids of a claim of up to `max`.
fn claim_for(q: &dyn Queue, now: u64, max: u32) -> (Tenant, Vec<JobId>) {
    match q.claim(now, now + 1_000, "w", max).unwrap() {
        Claim::Claimed { tenant, jobs, .. } => (tenant, jobs.iter().map(|j| j.id).collect()),
        other => panic!("expected a claim, got {other:?}"),
    }
}

pub(super) fn claims_go_round_the_tenants(q: &dyn Queue) {
    let (a, b, c) = (named("a"), named("b"), named("c"));
    // A floods first; B and C submit one job each afterwards.
    for n in 1..=20 {
        q.submit(&enqueue_for(&a, n, 100, 100)).unwrap();
    }
    q.submit(&enqueue_for(&b, 21, 101, 101)).unwrap();
    q.submit(&enqueue_for(&c, 22, 102, 102)).unwrap();
    // One batch of A, then B's and C's jobs before A's next batch.
    assert_eq!(
        claim_for(q, 200, 4),
        (a.clone(), vec![id(1), id(2), id(3), id(4)])
    );
    assert_eq!(claim_for(q, 201, 4), (b.clone(), vec![id(21)]));
    assert_eq!(claim_for(q, 202, 4), (c.clone(), vec![id(22)]));
    assert_eq!(claim_for(q, 203, 4).0, a);
    // A job B submits while A still has work joins the end of the line: after at most
    // one more batch of A.
    q.submit(&enqueue_for(&b, 23, 200, 200)).unwrap();
    q.submit(&enqueue_for(&c, 24, 200, 200)).unwrap();
    assert_eq!(claim_for(q, 200, 4).0, a);
    assert_eq!(claim_for(q, 200, 4), (b, vec![id(23)]));
    assert_eq!(claim_for(q, 200, 4), (c, vec![id(24)]));
    // With one tenant left, every claim is its own, never an empty answer.
    for _ in 0..2 {
        assert_eq!(claim_for(q, 200, 4).0, a);
    }
}

pub(super) fn a_tenant_whose_batch_finished_goes_behind_those_that_came_meanwhile(q: &dyn Queue) {
    let (a, b) = (named("a"), named("b"));
    for n in 1..=10 {
        q.submit(&enqueue_for(&a, n, 100, 100)).unwrap();
    }
    // A's claim puts it at the end of the line; B comes while A's batch runs, behind it.
    assert_eq!(
        claim_for(q, 200, 4),
        (a.clone(), vec![id(1), id(2), id(3), id(4)])
    );
    q.submit(&enqueue_for(&b, 11, 201, 201)).unwrap();
    let done = |n: u64| Finish {
        tenant: a.clone(),
        id: id(n),
        token: "w".into(),
        status: Status::Succeeded,
        dead: false,
        hook: false,
        record: None,
    };
    // A's batch comes back: the claim in the same step is B's, not A's next batch.
    let batch: Vec<Finish> = (1..=4).map(done).collect();
    let (_, claim) = q.finish_and_claim(&batch, 300, 1_300, "w", 4).unwrap();
    match claim {
        Claim::Claimed { tenant, jobs, .. } => {
            assert_eq!(tenant, b);
            assert_eq!(jobs.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id(11)]);
        }
        other => panic!("expected B's claim, got {other:?}"),
    }
    // A finish that finds its lease lost moves nobody: A stays ahead of C, who came
    // after B's claim emptied B's place.
    q.submit(&enqueue_for(&named("c"), 12, 301, 301)).unwrap();
    let (owned, claim) = q.finish_and_claim(&[done(1)], 302, 1_302, "w", 4).unwrap();
    assert_eq!(owned, vec![Ownership::Lost]);
    assert!(
        matches!(claim, Claim::Claimed { ref tenant, .. } if *tenant == a),
        "{claim:?}"
    );
}

pub(super) fn a_delayed_job_of_another_tenant_gets_its_turn_when_due(q: &dyn Queue) {
    let (a, b) = (named("a"), named("b"));
    for n in 1..=10 {
        q.submit(&enqueue_for(&a, n, 100, 100)).unwrap();
    }
    q.submit(&enqueue_for(&b, 11, 100, 300)).unwrap();
    assert_eq!(claim_for(q, 200, 2).0, a);
    assert_eq!(claim_for(q, 299, 2).0, a);
    // Due at 300, B joins the end of the line: behind A, whose turn was at 299.
    assert_eq!(claim_for(q, 300, 2).0, a);
    assert_eq!(claim_for(q, 300, 2), (b, vec![id(11)]));
    assert_eq!(claim_for(q, 300, 2).0, a);
}

pub(super) fn each_tenant_sees_only_its_own_jobs(q: &dyn Queue) {
    let (a, b) = (named("a"), named("b"));
    q.submit(&enqueue_for(&a, 1, 100, 100)).unwrap();
    assert!(q.knows(&a, &id(1)).unwrap());
    assert!(!q.knows(&b, &id(1)).unwrap());
    let all = ListFilter::default();
    assert_eq!(q.list(&a, &all, None, 10).unwrap().ids, vec![id(1)]);
    assert!(q.list(&b, &all, None, 10).unwrap().ids.is_empty());
    assert_eq!(
        q.cancel(&b, &id(1), 100, false).unwrap(),
        CancelOutcome::Unknown
    );
    let queued = |t: &Tenant| {
        let stats = q.stats(t, 100).unwrap();
        stats
            .by_status
            .iter()
            .find(|(s, _)| *s == Status::Queued)
            .unwrap()
            .1
    };
    assert_eq!((queued(&a), queued(&b)), (1, 0));
    // An idempotency key is the tenant's own: B's use of A's key is a new job.
    let mut first = enqueue_for(&a, 2, 100, 100);
    first.idempotency = Some(claims::idem("k", "fp"));
    let mut other = enqueue_for(&b, 3, 100, 100);
    other.idempotency = Some(claims::idem("k", "fp"));
    assert_eq!(q.submit(&first).unwrap(), SubmitOutcome::Enqueued);
    assert_eq!(q.submit(&other).unwrap(), SubmitOutcome::Enqueued);
    // A lease is checked in its own tenant: B cannot heartbeat A's job.
    let (owner, ids) = claim_for(q, 200, 1);
    assert_ne!(owner, b);
    assert_eq!(
        q.heartbeat(&b, &ids[0], "w", 5_000).unwrap(),
        Heartbeat::Lost
    );
}

pub(super) fn a_full_tenant_is_refused_and_nothing_changes(q: &dyn Queue) {
    let (a, b) = (named("a"), named("b"));
    let limited = |t: &Tenant, n: u64| Enqueue {
        max_queued: 2,
        records: Vec::new(),
        key: None,
        ..enqueue_for(t, n, 100, 100)
    };
    assert_eq!(q.submit(&limited(&a, 1)).unwrap(), SubmitOutcome::Enqueued);
    assert_eq!(q.submit(&limited(&a, 2)).unwrap(), SubmitOutcome::Enqueued);
    assert_eq!(
        q.submit(&limited(&a, 3)).unwrap(),
        SubmitOutcome::Full {
            queued: 2,
            limit: 2
        }
    );
    assert!(
        !q.knows(&a, &id(3)).unwrap(),
        "the refused job left no trace"
    );
    // Other tenants count their own.
    assert_eq!(q.submit(&limited(&b, 4)).unwrap(), SubmitOutcome::Enqueued);
    // A job that starts frees a place.
    assert_eq!(claim_for(q, 200, 1).0, a);
    assert_eq!(q.submit(&limited(&a, 5)).unwrap(), SubmitOutcome::Enqueued);
}

pub(super) fn retention_serves_every_tenant(q: &dyn Queue) {
    let (a, b) = (named("a"), named("b"));
    for (t, n) in [(&a, 1), (&b, 2)] {
        q.submit(&enqueue_for(t, n, 100, 100)).unwrap();
        let (owner, ids) = claim_for(q, 100, 1);
        assert_eq!(&owner, t);
        let done = Finish {
            tenant: owner,
            ..finish(n, "w", Status::Succeeded, false)
        };
        assert_eq!(ids, vec![id(n)]);
        q.finish_and_claim(&[done], 100 + n, 100 + n, "", 0)
            .unwrap();
    }
    let first = q
        .expired(1_000, 1_000, 10)
        .unwrap()
        .expect("A's job is due");
    assert_eq!(
        (first.tenant.clone(), first.ids.clone()),
        (a.clone(), vec![id(1)])
    );
    q.forget(&a, &first.ids).unwrap();
    let second = q
        .expired(1_000, 1_000, 10)
        .unwrap()
        .expect("B's job is due");
    assert_eq!(
        (second.tenant.clone(), second.ids.clone()),
        (b.clone(), vec![id(2)])
    );
    q.forget(&b, &second.ids).unwrap();
    assert_eq!(q.expired(1_000, 1_000, 10).unwrap(), None);
}

pub(super) fn one_finish_serves_several_tenants_and_each_job_once(q: &dyn Queue) {
    let (a, b) = (named("a"), named("b"));
    for n in 1..=3 {
        q.submit(&enqueue_for(&a, n, 100, 100)).unwrap();
    }
    q.submit(&enqueue_for(&b, 4, 101, 101)).unwrap();
    assert_eq!(claim_for(q, 200, 3).0, a);
    assert_eq!(claim_for(q, 201, 3), (b.clone(), vec![id(4)]));
    let done = |t: &Tenant, n: u64, status: Status, dead: bool| Finish {
        tenant: t.clone(),
        id: id(n),
        token: "w".into(),
        status,
        dead,
        hook: false,
        record: None,
    };
    // Interleaved tenants; job 1 twice (the second is lost: the first released it).
    let batch = [
        done(&a, 1, Status::Succeeded, false),
        done(&b, 4, Status::Failed, true),
        done(&a, 2, Status::Failed, true),
        done(&a, 1, Status::Failed, false),
        done(&a, 3, Status::Cancelled, false),
    ];
    let (owned, _) = q.finish_and_claim(&batch, 300, 1_300, "w", 0).unwrap();
    use Ownership::{Lost, Owned};
    assert_eq!(owned, vec![Owned, Owned, Owned, Lost, Owned]);
    let counts = |t: &Tenant| {
        [
            Status::Queued,
            Status::Running,
            Status::Succeeded,
            Status::Failed,
            Status::Cancelled,
        ]
        .map(|s| count_of(q, t, s))
    };
    assert_eq!(counts(&a), [0, 0, 1, 1, 1]);
    assert_eq!(counts(&b), [0, 0, 0, 1, 0]);
    assert_eq!(q.stats(&a, 300).unwrap().dead, 1);
    assert_eq!(q.stats(&b, 300).unwrap().dead, 1);
    // Each finished job is due for retention in its own tenant.
    let expired = q
        .expired(301, 301, 10)
        .unwrap()
        .expect("finished jobs to expire");
    let expected = if expired.tenant == a { 3 } else { 1 };
    assert_eq!(expired.ids.len(), expected);
}

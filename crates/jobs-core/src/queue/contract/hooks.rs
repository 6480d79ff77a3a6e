//! The webhook outbox: events enter it with the finish of their job, deliveries are
//! leased, retried and ended under a token, and they can be asked for again.

use super::*;
use crate::queue::{HookDone, HookState, Redeliver, SecretChange, SecretsNow};

fn finished_with_hook(q: &dyn Queue, n: u64, now: u64) {
    submit(q, n, now);
    let job = claimed(q, now, "w");
    let done = Finish {
        hook: true,
        ..finish(n, "w", Status::Succeeded, false)
    };
    assert_eq!(job, id(n));
    let (owned, _) = q.finish_and_claim(&[done], now, now, "", 0).unwrap();
    assert_eq!(owned, vec![Ownership::Owned]);
}

fn state(q: &dyn Queue, n: u64) -> (String, u32, Option<u16>) {
    let s = q.hook(&tenant(), &id(n)).unwrap().expect("a delivery");
    (s.state, s.attempts, s.last_status)
}

pub(super) fn an_event_is_delivered_under_a_lease_and_retried_on_schedule(q: &dyn Queue) {
    finished_with_hook(q, 1, 100);
    // A job finished without a callback has no event.
    submit(q, 2, 100);
    claimed(q, 100, "w");
    q.finish_and_claim(&[finish(2, "w", Status::Succeeded, false)], 100, 100, "", 0)
        .unwrap();
    assert_eq!(q.hook(&tenant(), &id(2)).unwrap(), None);

    let first = q.claim_hooks(100, 1_000, "a", 8).unwrap();
    assert_eq!(first.due.len(), 1);
    let claim = first.due[0].clone();
    assert_eq!((claim.id, claim.attempt), (id(1), 1));
    // Leased: nobody else gets it until the lease ends, when it is due again.
    assert!(q.claim_hooks(500, 1_500, "b", 8).unwrap().due.is_empty());
    let leased = q.hook(&tenant(), &id(1)).unwrap().expect("a delivery");
    assert_eq!(leased.next_attempt_ms, Some(1_000));
    assert_eq!(q.stats(&tenant(), 100).unwrap().hooks_pending, 1);
    // A report without the token changes nothing.
    assert_eq!(
        q.hook_done(&claim, "b", HookDone::Delivered, Some(200), 200)
            .unwrap(),
        Ownership::Lost
    );
    assert_eq!(
        q.hook_done(&claim, "a", HookDone::RetryAt(5_000), Some(500), 200)
            .unwrap(),
        Ownership::Owned
    );
    assert_eq!(state(q, 1), ("pending".into(), 1, Some(500)));
    assert!(q.claim_hooks(4_999, 6_000, "c", 8).unwrap().due.is_empty());
    let second = q.claim_hooks(5_000, 6_000, "c", 8).unwrap();
    assert_eq!(second.due[0].attempt, 2);
    q.hook_done(&second.due[0], "c", HookDone::Delivered, Some(204), 5_000)
        .unwrap();
    assert_eq!(state(q, 1), ("delivered".into(), 2, Some(204)));
    assert_eq!(q.stats(&tenant(), 100).unwrap().hooks_pending, 0);
    assert_eq!(
        q.claim_hooks(99_999, 100_000, "d", 8).unwrap().next_due_ms,
        None
    );
}

pub(super) fn a_postponed_delivery_gives_its_attempt_back(q: &dyn Queue) {
    finished_with_hook(q, 1, 100);
    let first = q.claim_hooks(100, 1_000, "a", 8).unwrap().due[0].clone();
    assert_eq!((first.attempt, first.postponed), (1, 0));
    q.hook_done(&first, "a", HookDone::RetryAt(200), Some(503), 150)
        .unwrap();
    let second = q.claim_hooks(200, 1_200, "b", 8).unwrap().due[0].clone();
    assert_eq!((second.attempt, second.postponed), (2, 0));
    // Only its holder postpones it.
    assert_eq!(
        q.hook_done(&second, "a", HookDone::Postponed(300), None, 250)
            .unwrap(),
        Ownership::Lost
    );
    assert_eq!(
        q.hook_done(&second, "b", HookDone::Postponed(300), None, 250)
            .unwrap(),
        Ownership::Owned
    );
    // The attempt is given back, the last answer stays, and it is due at the time given.
    assert_eq!(state(q, 1), ("pending".into(), 1, Some(503)));
    let s = q.hook(&tenant(), &id(1)).unwrap().expect("a delivery");
    assert_eq!(s.next_attempt_ms, Some(300));
    assert!(q.claim_hooks(299, 1_299, "c", 8).unwrap().due.is_empty());
    let third = q.claim_hooks(300, 1_300, "c", 8).unwrap().due[0].clone();
    assert_eq!((third.attempt, third.postponed), (2, 1));
    q.hook_done(&third, "c", HookDone::Delivered, Some(204), 350)
        .unwrap();
    assert_eq!(state(q, 1), ("delivered".into(), 2, Some(204)));
    // Asked for again: from the first attempt, nothing postponed.
    q.redeliver_hook(&tenant(), &id(1), 400).unwrap();
    let again = q.claim_hooks(400, 1_400, "d", 8).unwrap().due[0].clone();
    assert_eq!((again.attempt, again.postponed), (1, 0));
}

pub(super) fn a_lease_that_ends_makes_the_delivery_due_again(q: &dyn Queue) {
    finished_with_hook(q, 1, 100);
    let lost = q.claim_hooks(100, 1_000, "a", 8).unwrap().due[0].clone();
    let again = q.claim_hooks(1_000, 2_000, "b", 8).unwrap();
    assert_eq!(again.due[0].attempt, 2, "the lost attempt counted");
    assert_eq!(
        q.hook_done(&lost, "a", HookDone::Delivered, Some(200), 1_100)
            .unwrap(),
        Ownership::Lost
    );
    q.hook_done(&again.due[0], "b", HookDone::Failed, Some(410), 1_100)
        .unwrap();
    assert_eq!(state(q, 1), ("failed".into(), 2, Some(410)));
    let stats = q.stats(&tenant(), 1_100).unwrap();
    assert_eq!((stats.hooks_pending, stats.hooks_failed), (0, 1));
    // Asked for again: from the first attempt.
    let pending = HookState {
        state: "pending".into(),
        attempts: 0,
        last_status: None,
        next_attempt_at: Some(crate::job::Timestamp::from_ms(2_000).to_rfc3339()),
        next_attempt_ms: Some(2_000),
    };
    assert_eq!(
        q.redeliver_hook(&tenant(), &id(1), 2_000).unwrap(),
        Redeliver::Queued(pending.clone())
    );
    assert_eq!(state(q, 1), ("pending".into(), 0, None));
    assert_eq!(
        q.redeliver_hook(&tenant(), &id(1), 2_100).unwrap(),
        Redeliver::Pending(pending)
    );
    assert_eq!(
        q.redeliver_hook(&tenant(), &id(9), 2_000).unwrap(),
        Redeliver::NoEvent
    );
    let stats = q.stats(&tenant(), 2_000).unwrap();
    assert_eq!((stats.hooks_pending, stats.hooks_failed), (1, 0));
    assert_eq!(
        q.claim_hooks(2_000, 3_000, "c", 8).unwrap().due[0].attempt,
        1
    );
    // Retention takes the delivery with its job.
    q.forget(&tenant(), &[id(1)]).unwrap();
    assert_eq!(q.hook(&tenant(), &id(1)).unwrap(), None);
    assert_eq!(q.stats(&tenant(), 2_000).unwrap().hooks_pending, 0);
}

pub(super) fn a_cancel_sends_the_event_and_secrets_rotate(q: &dyn Queue) {
    submit(q, 1, 100);
    assert_eq!(
        q.cancel(&tenant(), &id(1), 100, true).unwrap(),
        CancelOutcome::Cancelled
    );
    let claims = q.claim_hooks(100, 1_000, "a", 8).unwrap();
    assert_eq!(claims.due.len(), 1);
    assert!(claims.due[0].secrets.is_empty(), "no secret yet");
    let t = tenant();
    assert_eq!(
        q.hook_secrets(&t, SecretChange::Init, "whsec_a").unwrap(),
        set("whsec_a", None)
    );
    assert_eq!(
        q.hook_secrets(&t, SecretChange::Init, "whsec_x").unwrap(),
        set("whsec_a", None),
        "init keeps a secret"
    );
    assert_eq!(
        q.hook_secrets(&t, SecretChange::Rotate, "whsec_b").unwrap(),
        set("whsec_b", Some("whsec_a"))
    );
    // A second rotation (a retry whose answer was lost, say) would drop whsec_a, which
    // receivers may still verify with: refused, nothing changed.
    assert_eq!(
        q.hook_secrets(&t, SecretChange::Rotate, "whsec_c").unwrap(),
        SecretsNow::RotationUnderWay("whsec_b".into(), "whsec_a".into())
    );
    q.hook_done(&claims.due[0], "a", HookDone::RetryAt(200), None, 100)
        .unwrap();
    let again = q.claim_hooks(200, 1_000, "a", 8).unwrap();
    assert_eq!(
        again.due[0].secrets,
        vec!["whsec_b".to_owned(), "whsec_a".to_owned()]
    );
    assert_eq!(
        q.hook_secrets(&t, SecretChange::End, "whsec_x").unwrap(),
        set("whsec_b", None)
    );
    assert_eq!(
        q.hook_secrets(&t, SecretChange::Rotate, "whsec_c").unwrap(),
        set("whsec_c", Some("whsec_b")),
        "the rotation ended: the next one goes ahead"
    );
    // A tenant without a secret gets the new one, whatever the change.
    assert_eq!(
        q.hook_secrets(
            &super::tenants::named("fresh"),
            SecretChange::End,
            "whsec_n"
        )
        .unwrap(),
        set("whsec_n", None)
    );
    assert_eq!(
        q.hook_secrets(
            &super::tenants::named("fresh-rotated"),
            SecretChange::Rotate,
            "whsec_r"
        )
        .unwrap(),
        set("whsec_r", None)
    );
}

fn set(current: &str, previous: Option<&str>) -> SecretsNow {
    SecretsNow::Set(current.into(), previous.map(Into::into))
}

pub(super) fn retention_keeps_a_job_while_its_event_is_under_way(q: &dyn Queue) {
    // Jobs 1 (with an event) and 2 finish at 100; they are kept 10 s.
    finished_with_hook(q, 1, 100);
    submit(q, 2, 100);
    claimed(q, 100, "w");
    q.finish_and_claim(&[finish(2, "w", Status::Succeeded, false)], 100, 100, "", 0)
        .unwrap();
    let first = q.claim_hooks(100, 1_000, "a", 8).unwrap().due[0].clone();
    q.hook_done(&first, "a", HookDone::RetryAt(50_000), Some(503), 200)
        .unwrap();
    let expired = |now: u64| {
        q.expired(now, now - 10_000, 10)
            .unwrap()
            .map(|e| e.ids)
            .unwrap_or_default()
    };

    // Past their time, only job 2 goes: job 1's event waits for its next attempt.
    assert_eq!(expired(10_100), vec![id(2)]);
    q.forget(&tenant(), &[id(2)]).unwrap();
    assert_eq!(expired(10_100), vec![]);
    assert_eq!(expired(50_000), vec![]);
    // The attempt is due and not made yet; then it is leased: job 1 stays.
    assert_eq!(expired(50_001), vec![]);
    let second = q.claim_hooks(50_002, 51_000, "b", 8).unwrap().due[0].clone();
    assert_eq!(expired(50_500), vec![]);
    // Delivered: it goes once the lease it was sent under has ended.
    q.hook_done(&second, "b", HookDone::Delivered, Some(204), 50_600)
        .unwrap();
    assert_eq!(expired(51_000), vec![]);
    assert_eq!(expired(51_001), vec![id(1)]);
    assert_eq!(state(q, 1), ("delivered".into(), 2, Some(204)));
}

//! The lease a batch was claimed under: the one place that says whether a job is still
//! this worker's. Every write of a job's state asks it first.

use std::cell::{Cell, RefCell};

use super::FLUSH_MS;
use crate::context::{Context, StoreError};
use crate::job::{JobId, Tenant};
use crate::queue::Heartbeat;

/// One token and one deadline for every job of a batch still held: claims and heartbeats
/// set them all alike, so one renewal serves the whole batch.
#[derive(Debug)]
pub(super) struct Lease {
    /// Whose jobs: a claim takes one tenant's.
    tenant: Tenant,
    token: String,
    /// Every id of the batch: a heartbeat extends all their leases.
    ids: Vec<JobId>,
    /// When the lease ends unless extended: the claim's deadline, moved on by every
    /// heartbeat or renewal that found it held.
    until: Cell<u64>,
    lease_ms: u64,
    /// The last heartbeat's answers, one per id, and when they came: a job about to
    /// start shortly after learns from them whether it is still held or cancelled.
    beats: RefCell<Option<(u64, Vec<Heartbeat>)>>,
    /// One per id: found not held by a heartbeat or a renewal (taken by another worker,
    /// or finished and released), or left by this worker after a failure
    /// ([`Lease::abandon`]). The deadline does not vouch for these, and heartbeats and
    /// renewals no longer ask for them: once gone, always gone.
    gone: RefCell<Vec<bool>>,
    /// One per id: prepared to run and not started yet ([`Lease::to_start`]).
    waiting: RefCell<Vec<bool>>,
}

impl Lease {
    pub(super) fn new(
        tenant: Tenant,
        token: String,
        ids: Vec<JobId>,
        until: u64,
        lease_ms: u64,
    ) -> Self {
        let none = || RefCell::new(vec![false; ids.len()]);
        Lease {
            tenant,
            token,
            until: Cell::new(until),
            lease_ms,
            beats: RefCell::new(None),
            gone: none(),
            waiting: none(),
            ids,
        }
    }

    /// `id` is prepared to run: until [`Lease::started`], a failed batch leaves it
    /// ([`Lease::abandon_waiting`]).
    pub(super) fn to_start(&self, id: &JobId) {
        self.set(&self.waiting, id, true);
    }

    /// `id`'s run has started: its outcome, or its failure, is its own.
    pub(super) fn started(&self, id: &JobId) {
        self.set(&self.waiting, id, false);
    }

    /// This worker leaves `id` after a failure: it is no longer extended (while other
    /// jobs of its batch run on), and its lease runs out as if the worker had died.
    pub(super) fn abandon(&self, id: &JobId) {
        self.set(&self.gone, id, true);
    }

    /// A batch that failed leaves the jobs it prepared and did not start.
    pub(super) fn abandon_waiting(&self) {
        let waiting = self.waiting.borrow().clone();
        for (id, _) in self.ids.iter().zip(waiting).filter(|(_, waits)| *waits) {
            self.abandon(id);
        }
    }

    fn set(&self, flags: &RefCell<Vec<bool>>, id: &JobId, value: bool) {
        if let Some(at) = self.ids.iter().position(|held| held == id) {
            flags.borrow_mut()[at] = value;
        }
    }

    /// The ids heartbeats and renewals extend: all but those gone.
    fn kept(&self) -> Vec<JobId> {
        let gone = self.gone.borrow();
        self.ids
            .iter()
            .zip(gone.iter())
            .filter(|(_, gone)| !**gone)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Answers for the kept ids ([`Lease::kept`]) spread over every id of the batch:
    /// `left` for each one gone.
    fn spread<T: Copy>(&self, answers: &[T], left: T) -> Vec<T> {
        let gone = self.gone.borrow();
        let mut answers = answers.iter();
        gone.iter()
            .map(|gone| match gone {
                true => left,
                false => answers.next().copied().unwrap_or(left),
            })
            .collect()
    }

    pub(super) fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    pub(super) fn token(&self) -> &str {
        &self.token
    }

    pub(super) fn ids(&self) -> &[JobId] {
        &self.ids
    }

    /// Held for sure, without asking: a lease changes hands only when a claim finds it
    /// past its deadline, and at least half a lease is left for the writes that follow.
    pub(super) fn surely_held(&self, now: u64) -> bool {
        self.until.get().saturating_sub(now) > self.lease_ms / 2
    }

    /// Heartbeat for `id`, extending the leases of the whole batch where still held (the
    /// deadline moves on when `id`'s does); the answers for every job of the batch are kept
    /// for [`Lease::recent`]. Also says whether a client asked to cancel `id`.
    pub(super) fn heartbeat(&self, ctx: &Context<'_>, id: &JobId) -> Result<Heartbeat, StoreError> {
        let now = ctx.now();
        let until = now.saturating_add(self.lease_ms);
        let kept = self.kept();
        let beats = if kept.is_empty() {
            Vec::new()
        } else {
            ctx.queue
                .heartbeat_batch(&self.tenant, &self.token, &kept, until)?
        };
        let beats = self.spread(&beats, Heartbeat::Lost);
        // A job not of this batch is not held under this lease.
        let beat = self.answer(&beats, id).unwrap_or(Heartbeat::Lost);
        if matches!(beat, Heartbeat::Owned { .. }) {
            self.until.set(until);
        }
        self.note_gone(beats.iter().map(|b| *b == Heartbeat::Lost));
        *self.beats.borrow_mut() = Some((now, beats));
        Ok(beat)
    }

    /// What the last heartbeat said about `id`, if it came less than [`FLUSH_MS`] ago
    /// and the lease is surely held: later jobs of a batch that waited learn of a
    /// cancel or a lost lease from one heartbeat per interval, not one each.
    pub(super) fn recent(&self, now: u64, id: &JobId) -> Option<Heartbeat> {
        if !self.surely_held(now) {
            return None;
        }
        let beats = self.beats.borrow();
        let (at, beats) = beats.as_ref()?;
        if now.saturating_sub(*at) >= FLUSH_MS {
            return None;
        }
        self.answer(beats, id)
    }

    /// `id`'s answer among `beats`, one per id of the batch.
    fn answer(&self, beats: &[Heartbeat], id: &JobId) -> Option<Heartbeat> {
        let at = self.ids.iter().position(|held| held == id)?;
        beats.get(at).copied()
    }

    /// Which of `ids` are still held, in order: while the lease is surely held, all of
    /// them but those found gone; else as Redis says. A renewal extends every job of the
    /// batch still held, not only `ids`, as the one deadline stands for them all.
    pub(super) fn still_held(
        &self,
        ctx: &Context<'_>,
        ids: &[JobId],
    ) -> Result<Vec<bool>, StoreError> {
        let now = ctx.now();
        if !self.surely_held(now) {
            let until = now.saturating_add(self.lease_ms);
            let kept = self.kept();
            let held = if kept.is_empty() {
                Vec::new()
            } else {
                ctx.queue.renew(&self.tenant, &self.token, &kept, until)?
            };
            let held = self.spread(&held, false);
            if held.iter().any(|h| *h) {
                self.until.set(until);
            }
            self.note_gone(held.iter().map(|h| !h));
        }
        let gone = self.gone.borrow();
        Ok(ids
            .iter()
            .map(|id| {
                let at = self.ids.iter().position(|held| held == id);
                at.is_some_and(|at| !gone.get(at).copied().unwrap_or(true))
            })
            .collect())
    }

    /// Remember the jobs an answer (one per id) found gone: once gone, always gone.
    fn note_gone(&self, answers: impl Iterator<Item = bool>) {
        for (gone, now_gone) in self.gone.borrow_mut().iter_mut().zip(answers) {
            *gone |= now_gone;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Claim, Queue};
    use crate::service::testing::World;
    use serde_json::json;

    fn claimed(w: &World, token: &str) -> Lease {
        let now = w.clock.now_ms();
        let lease_ms = w.settings.lease_ms;
        let Claim::Claimed { tenant, jobs, .. } =
            w.queue.claim(now, now + lease_ms, token, 8).unwrap()
        else {
            panic!("nothing to claim");
        };
        Lease::new(
            tenant,
            token.into(),
            jobs.iter().map(|j| j.id).collect(),
            now + lease_ms,
            lease_ms,
        )
    }

    use crate::ports::Clock;

    #[test]
    fn a_young_lease_is_held_without_asking_and_an_old_one_is_renewed() {
        let w = World::new();
        w.submit(json!({"kind": "echo", "input": {}}));
        let lease = claimed(&w, "mine");
        let before = w.queue.calls();
        assert_eq!(lease.still_held(&w.ctx(), lease.ids()).unwrap(), [true]);
        assert_eq!(w.queue.calls(), before, "no round trip while surely held");

        w.clock.advance(w.settings.lease_ms / 2 + 1);
        assert!(!lease.surely_held(w.clock.now_ms()));
        assert_eq!(lease.still_held(&w.ctx(), lease.ids()).unwrap(), [true]);
        assert!(
            lease.surely_held(w.clock.now_ms()),
            "the renewal moved it on"
        );
    }

    #[test]
    fn a_renewal_asked_for_some_jobs_extends_the_whole_batch() {
        let w = World::new();
        w.submit(json!({"kind": "echo", "input": {}}));
        w.submit(json!({"kind": "echo", "input": {}}));
        let lease = claimed(&w, "mine");
        let (first, second) = (lease.ids()[0], lease.ids()[1]);
        w.clock.advance(w.settings.lease_ms / 2 + 1);
        assert_eq!(lease.still_held(&w.ctx(), &[first]).unwrap(), [true]);
        // Past the claim's deadline: the deadline the renewal set stands for both jobs,
        // so the second must still be this worker's in the queue too.
        w.clock.advance(w.settings.lease_ms / 2 + 1);
        let now = w.clock.now_ms();
        let thief = w.queue.claim(now, now + 30_000, "thief", 8).unwrap();
        assert!(matches!(thief, Claim::Empty { .. }), "{thief:?}");
        assert_eq!(lease.still_held(&w.ctx(), &[second]).unwrap(), [true]);
    }

    #[test]
    fn an_abandoned_job_is_no_longer_extended_and_another_claim_takes_it() {
        let w = World::new();
        for _ in 0..3 {
            w.submit(json!({"kind": "echo", "input": {}}));
        }
        let lease = claimed(&w, "mine");
        let ids = lease.ids().to_vec();
        for id in &ids {
            lease.to_start(id);
        }
        // The first started; the second failed in the store; the third never started.
        lease.started(&ids[0]);
        lease.started(&ids[1]);
        lease.abandon(&ids[1]);
        lease.abandon_waiting();
        let ctx = w.ctx();
        assert_eq!(lease.still_held(&ctx, &ids).unwrap(), [true, false, false]);

        // The first job's run goes on, its heartbeats extending the batch's lease.
        let lease_ms = w.settings.lease_ms;
        for _ in 0..3 {
            w.clock.advance(lease_ms / 2);
            let beat = lease.heartbeat(&ctx, &ids[0]).unwrap();
            assert!(matches!(beat, Heartbeat::Owned { .. }), "{beat:?}");
        }
        assert_eq!(lease.heartbeat(&ctx, &ids[2]).unwrap(), Heartbeat::Lost);
        // The other two ran out: another worker claims them; the first is still held.
        let now = w.clock.now_ms();
        let Claim::Claimed { jobs, .. } = w.queue.claim(now, now + lease_ms, "other", 8).unwrap()
        else {
            panic!("the abandoned jobs are claimable");
        };
        let mut taken: Vec<_> = jobs.iter().map(|j| j.id).collect();
        taken.sort();
        let mut left = vec![ids[1], ids[2]];
        left.sort();
        assert_eq!(taken, left);
        assert_eq!(lease.still_held(&ctx, &ids[..1]).unwrap(), [true]);
    }

    #[test]
    fn a_job_found_gone_is_not_vouched_for_by_the_deadline() {
        let w = World::new();
        w.submit(json!({"kind": "echo", "input": {}}));
        w.submit(json!({"kind": "echo", "input": {}}));
        let lease = claimed(&w, "mine");
        let (first, second) = (lease.ids()[0], lease.ids()[1]);
        // The first is finished and released; the second runs on.
        let finish = crate::queue::Finish {
            tenant: lease.tenant().clone(),
            id: first,
            token: "mine".into(),
            status: crate::job::Status::Succeeded,
            dead: false,
            hook: false,
            record: None,
        };
        let now = w.clock.now_ms();
        w.queue
            .finish_and_claim(&[finish], now, now, "", 0)
            .unwrap();
        w.clock.advance(w.settings.lease_ms / 2 + 1);
        assert_eq!(
            lease.still_held(&w.ctx(), &[first, second]).unwrap(),
            [false, true]
        );
        assert!(lease.surely_held(w.clock.now_ms()));
        let before = w.queue.calls();
        assert_eq!(lease.still_held(&w.ctx(), &[first]).unwrap(), [false]);
        assert_eq!(lease.still_held(&w.ctx(), &[second]).unwrap(), [true]);
        assert_eq!(w.queue.calls(), before, "no round trip while surely held");
    }

    #[test]
    fn a_lease_another_worker_took_is_not_held() {
        let w = World::new();
        w.submit(json!({"kind": "echo", "input": {}}));
        let lease = claimed(&w, "mine");
        w.clock.advance(w.settings.lease_ms + 1);
        let _thief = claimed(&w, "thief");
        assert_eq!(lease.still_held(&w.ctx(), lease.ids()).unwrap(), [false]);
        assert_eq!(
            lease.heartbeat(&w.ctx(), &lease.ids()[0]).unwrap(),
            Heartbeat::Lost
        );
    }
}

//! [`MemoryQueue`]: the queue with the semantics of the Lua scripts, in memory.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{ManualClock, down, lock};
use crate::job::{JobId, Status};
use crate::ports::Clock;
use crate::queue::{
    CancelOutcome, Claim, ClaimedJob, Doorbell, Enqueue, Finish, Heartbeat, IdempotencyRecord,
    LIST_SCAN_MAX, ListFilter, Listed, Ownership, Queue, QueueError, QueueStats, RetryOutcome,
    SubmitOutcome,
};

#[derive(Debug, Default)]
struct State {
    /// Front = LPUSH end, back = RPOP (claiming) end, as the Redis list.
    ready: VecDeque<JobId>,
    delayed: HashMap<JobId, u64>,
    leases: HashMap<JobId, u64>,
    owner: HashMap<JobId, String>,
    all: BTreeSet<JobId>,
    /// The kind index: each job's kind.
    kind: HashMap<JobId, String>,
    status: HashMap<JobId, Status>,
    cancel: HashSet<JobId>,
    finished: HashMap<JobId, u64>,
    retries: u64,
    dead: u64,
    /// key → (value, expires at ms)
    idempotency: HashMap<String, (String, u64)>,
    rung_until: u64,
    /// The watch: its token and when it lapses.
    watch: Option<(String, u64)>,
    published: Vec<Doorbell>,
}

impl State {
    fn promote(&mut self, now: u64) {
        let mut due: Vec<(u64, JobId)> = self
            .delayed
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, at)| (*at, *id))
            .collect();
        due.sort();
        for (_, id) in due {
            self.delayed.remove(&id);
            self.ready.push_back(id);
        }
        let mut expired: Vec<(u64, JobId)> = self
            .leases
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, at)| (*at, *id))
            .collect();
        expired.sort();
        for (_, id) in expired {
            self.leases.remove(&id);
            self.owner.remove(&id);
            self.ready.push_back(id);
            self.status.insert(id, Status::Queued);
        }
    }

    fn forget(&mut self, id: &JobId) {
        self.ready.retain(|x| x != id);
        self.delayed.remove(id);
        self.leases.remove(id);
        self.owner.remove(id);
        self.all.remove(id);
        self.kind.remove(id);
        self.cancel.remove(id);
        self.finished.remove(id);
        self.status.remove(id);
    }

    /// The claim script: housekeeping, then lease the oldest ready job.
    fn claim(&mut self, now_ms: u64, lease_until_ms: u64, token: &str, max: u32) -> Claim {
        if max == 0 {
            return Claim::NOTHING;
        }
        self.promote(now_ms);
        let mut jobs = Vec::new();
        while jobs.len() < max as usize {
            let Some(id) = self.ready.pop_back() else {
                break;
            };
            self.leases.insert(id, lease_until_ms);
            self.owner.insert(id, token.to_owned());
            self.status.insert(id, Status::Running);
            jobs.push(ClaimedJob {
                id,
                cancel_requested: self.cancel.contains(&id),
            });
        }
        if jobs.is_empty() {
            return Claim::Empty {
                next_due_ms: self.delayed.values().min().copied(),
                next_expiry_ms: self.leases.values().min().copied(),
            };
        }
        Claim::Claimed {
            jobs,
            invalid: Vec::new(),
        }
    }

    /// The finish script: a status that is not final is refused before anything changes.
    fn finish(
        &mut self,
        id: &JobId,
        token: &str,
        status: Status,
        now_ms: u64,
        dead: bool,
    ) -> Result<Ownership, QueueError> {
        if !status.is_terminal() {
            return Err(QueueError::Reply {
                script: "finish",
                reply: format!("not a final status: {status}"),
            });
        }
        if !self.owns(id, token) {
            return Ok(Ownership::Lost);
        }
        self.leases.remove(id);
        self.owner.remove(id);
        self.cancel.remove(id);
        self.status.insert(*id, status);
        self.finished.insert(*id, now_ms);
        if dead {
            self.dead += 1;
        }
        Ok(Ownership::Owned)
    }

    fn owns(&self, id: &JobId, token: &str) -> bool {
        self.owner.get(id).is_some_and(|t| t == token)
    }

    fn count(&self, status: Status) -> u64 {
        self.status.values().filter(|s| **s == status).count() as u64
    }
}

/// How the next [`Queue::submit`] of a [`MemoryQueue`] goes wrong, for tests of what the
/// intake does when it cannot tell whether a submit took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitFault {
    /// It fails without taking effect.
    Refused,
    /// It takes effect, but its reply is lost.
    ReplyLost,
    /// It takes effect, its reply is lost, and the queue is down from then on.
    ReplyLostThenDown,
}

/// An in-memory [`Queue`] with the semantics of the Lua scripts. Clones share one state.
#[derive(Debug, Clone)]
pub struct MemoryQueue {
    state: Arc<Mutex<State>>,
    clock: ManualClock,
    down: Arc<AtomicBool>,
    submit_fault: Arc<Mutex<Option<SubmitFault>>>,
    /// Operations run, each one Redis round trip in [`crate::queue::RedisQueue`].
    calls: Arc<AtomicU64>,
}

impl MemoryQueue {
    /// A queue whose idempotency and ring windows follow `clock`.
    pub fn new(clock: ManualClock) -> Self {
        Self {
            state: Arc::default(),
            clock,
            down: Arc::default(),
            submit_fault: Arc::default(),
            calls: Arc::default(),
        }
    }

    /// Make the next submit go wrong as `fault` says.
    pub fn fault_next_submit(&self, fault: SubmitFault) {
        *lock(&self.submit_fault) = Some(fault);
    }

    /// Make every call fail with [`PortError::Unavailable`] (or work again).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Every doorbell published so far.
    pub fn published(&self) -> Vec<Doorbell> {
        lock(&self.state).published.clone()
    }

    /// The status index holding `id`, if any.
    pub fn indexed_status(&self, id: &JobId) -> Option<Status> {
        lock(&self.state).status.get(id).copied()
    }

    /// How many queue operations (Redis round trips, for the Redis queue) ran so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, QueueError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(down().into());
        }
        Ok(lock(&self.state))
    }
}

impl MemoryQueue {
    /// What a submit does when nothing goes wrong.
    fn submit_now(&self, job: &Enqueue) -> Result<SubmitOutcome, QueueError> {
        let mut s = self.state()?;

        if let Some(claim) = &job.idempotency {
            let now = self.clock.now_ms();
            match s.idempotency.get(&claim.key) {
                Some((value, expires)) if *expires > now => {
                    return Ok(SubmitOutcome::Duplicate(IdempotencyRecord::decode(value)));
                }
                _ => {
                    let value = IdempotencyRecord::encode(&job.id, &claim.fingerprint);
                    s.idempotency
                        .insert(claim.key.clone(), (value, now + claim.ttl_ms.max(1)));
                }
            }
        }
        if job.due_ms > job.now_ms {
            s.delayed.insert(job.id, job.due_ms);
        } else {
            s.ready.push_front(job.id);
        }
        s.all.insert(job.id);
        s.kind.insert(job.id, job.kind.clone());
        s.status.insert(job.id, Status::Queued);
        s.published.push(job.doorbell.clone());
        Ok(SubmitOutcome::Enqueued)
    }
}

impl Queue for MemoryQueue {
    fn submit(&self, job: &Enqueue) -> Result<SubmitOutcome, QueueError> {
        let fault = lock(&self.submit_fault).take();
        if fault == Some(SubmitFault::Refused) {
            return Err(down().into());
        }
        let outcome = self.submit_now(job)?;
        match fault {
            Some(SubmitFault::ReplyLost) => Err(down().into()),
            Some(SubmitFault::ReplyLostThenDown) => {
                self.set_down(true);
                Err(down().into())
            }
            _ => Ok(outcome),
        }
    }

    fn knows(&self, id: &JobId) -> Result<bool, QueueError> {
        Ok(self.state()?.all.contains(id))
    }

    fn claim(
        &self,
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> Result<Claim, QueueError> {
        Ok(self.state()?.claim(now_ms, lease_until_ms, token, max))
    }

    fn heartbeat_batch(
        &self,
        id: &JobId,
        token: &str,
        lease_until_ms: u64,
        others: &[JobId],
    ) -> Result<Heartbeat, QueueError> {
        let mut s = self.state()?;
        for other in others {
            if s.owns(other, token) {
                s.leases.insert(*other, lease_until_ms);
            }
        }
        if !s.owns(id, token) {
            return Ok(Heartbeat::Lost);
        }
        s.leases.insert(*id, lease_until_ms);
        Ok(Heartbeat::Owned {
            cancel_requested: s.cancel.contains(id),
        })
    }

    fn renew(
        &self,
        token: &str,
        ids: &[JobId],
        lease_until_ms: u64,
    ) -> Result<Vec<bool>, QueueError> {
        let mut s = self.state()?;
        Ok(ids
            .iter()
            .map(|id| {
                let owned = s.owns(id, token);
                if owned {
                    s.leases.insert(*id, lease_until_ms);
                }
                owned
            })
            .collect())
    }

    fn finish_and_claim(
        &self,
        finishes: &[Finish],
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> Result<(Vec<Ownership>, Claim), QueueError> {
        // One lock for all, as the script is one atomic call; a status that is not final
        // is refused before anything changes, as the script does.
        let mut s = self.state()?;
        if let Some(f) = finishes.iter().find(|f| !f.status.is_terminal()) {
            return Err(QueueError::Reply {
                script: "finish_and_claim",
                reply: format!("not a final status: {}", f.status),
            });
        }
        let owned = finishes
            .iter()
            .map(|f| s.finish(&f.id, &f.token, f.status, now_ms, f.dead))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((owned, s.claim(now_ms, lease_until_ms, token, max)))
    }

    fn retry(
        &self,
        id: &JobId,
        token: &str,
        due_ms: u64,
        now_ms: u64,
    ) -> Result<RetryOutcome, QueueError> {
        let mut s = self.state()?;
        if !s.owns(id, token) {
            return Ok(RetryOutcome::Lost);
        }
        s.leases.remove(id);
        s.owner.remove(id);
        if s.cancel.remove(id) {
            s.status.insert(*id, Status::Cancelled);
            s.finished.insert(*id, now_ms);
            return Ok(RetryOutcome::Cancelled);
        }
        s.delayed.insert(*id, due_ms);
        s.status.insert(*id, Status::Queued);
        s.retries += 1;
        Ok(RetryOutcome::Scheduled)
    }

    fn cancel(&self, id: &JobId, now_ms: u64) -> Result<CancelOutcome, QueueError> {
        let mut s = self.state()?;
        match s.status.get(id).copied() {
            None => Ok(CancelOutcome::Unknown),
            Some(Status::Queued) => {
                s.ready.retain(|x| x != id);
                s.delayed.remove(id);
                s.status.insert(*id, Status::Cancelled);
                s.finished.insert(*id, now_ms);
                Ok(CancelOutcome::Cancelled)
            }
            Some(Status::Running) => {
                s.cancel.insert(*id);
                Ok(CancelOutcome::Requested)
            }
            Some(Status::Cancelled) => Ok(CancelOutcome::AlreadyCancelled),
            Some(other) => Ok(CancelOutcome::Finished(other)),
        }
    }

    fn stats(&self, now_ms: u64) -> Result<QueueStats, QueueError> {
        let s = self.state()?;
        Ok(QueueStats {
            by_status: Status::ALL.iter().map(|st| (*st, s.count(*st))).collect(),
            ready: s.ready.len() as u64,
            delayed: s.delayed.len() as u64,
            delayed_due: s.delayed.values().filter(|at| **at <= now_ms).count() as u64,
            leased: s.leases.len() as u64,
            leases_expired: s.leases.values().filter(|at| **at <= now_ms).count() as u64,
            retries: s.retries,
            dead: s.dead,
            oldest_ready: s.ready.back().copied(),
            oldest_due_ms: s
                .delayed
                .values()
                .filter(|at| **at <= now_ms)
                .min()
                .copied(),
        })
    }

    fn expired(&self, cutoff_ms: u64, limit: u32) -> Result<Vec<JobId>, QueueError> {
        let s = self.state()?;
        let mut due: Vec<(u64, JobId)> = s
            .finished
            .iter()
            .filter(|(_, at)| **at <= cutoff_ms)
            .map(|(id, at)| (*at, *id))
            .collect();
        due.sort();
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|(_, id)| id)
            .collect())
    }

    fn forget(&self, ids: &[JobId]) -> Result<(), QueueError> {
        let mut s = self.state()?;
        for id in ids {
            s.forget(id);
        }
        Ok(())
    }

    fn list(
        &self,
        filter: &ListFilter,
        before: Option<&JobId>,
        limit: u32,
    ) -> Result<Listed, QueueError> {
        let s = self.state()?;
        let in_index = |id: &JobId| match &filter.kind {
            Some(kind) => s.kind.get(id) == Some(kind),
            None => filter.status.is_none_or(|st| s.status.get(id) == Some(&st)),
        };
        let mut listed = Listed::default();
        // As the script: a kind and a status together look at LIST_SCAN_MAX ids at most.
        let mut scanned = 0;
        let both = filter.kind.is_some() && filter.status.is_some();
        for id in s.all.iter().rev() {
            if before.is_some_and(|b| id.as_str() >= b.as_str()) || !in_index(id) {
                continue;
            }
            if listed.ids.len() == limit as usize {
                break;
            }
            scanned += 1;
            if !both
                || filter
                    .status
                    .is_some_and(|st| s.status.get(id) == Some(&st))
            {
                listed.ids.push(*id);
                if listed.ids.len() == limit as usize {
                    break;
                }
            }
            if both && scanned >= LIST_SCAN_MAX {
                listed.scanned_to = Some(*id);
                break;
            }
        }
        Ok(listed)
    }

    fn ring(&self, doorbell: &Doorbell, window_ms: u64) -> Result<bool, QueueError> {
        let mut s = self.state()?;
        let now = self.clock.now_ms();
        if now < s.rung_until {
            return Ok(false);
        }
        s.rung_until = now + window_ms.max(1);
        s.published.push(doorbell.clone());
        Ok(true)
    }

    fn watch(&self, token: &str, ttl_ms: u64) -> Result<bool, QueueError> {
        let mut s = self.state()?;
        let now = self.clock.now_ms();
        if let Some((holder, until)) = &s.watch
            && *until > now
            && holder != token
        {
            return Ok(false);
        }
        s.watch = Some((token.to_owned(), now + ttl_ms.max(1)));
        Ok(true)
    }

    fn ping(&self) -> Result<(), QueueError> {
        self.state().map(|_| ())
    }
}

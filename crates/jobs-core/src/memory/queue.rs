//! [`MemoryQueue`]: the queue with the semantics of the Lua scripts, in memory.
//! Its read side (listing, stats) is in `queue/read.rs`, the line of tenants and what
//! they all share in `queue/line.rs`.

mod line;
mod read;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::tenant_queue::TenantState;
use super::{ManualClock, MemoryKv, MemoryTenants, down, lock};
use crate::job::{JobId, Status, Tenant};
use crate::keys;
use crate::ports::{Clock, KeyValue, PortError};
use crate::queue::{
    CancelOutcome, Claim, ClaimedRecords, DOORBELL_ARMED_MS, Doorbell, Enqueue, Expired, Finish,
    Heartbeat, HookClaim, HookClaims, HookDone, HookState, IdempotencyRecord, ListFilter, Listed,
    Ownership, Queue, QueueError, QueueStats, Redeliver, RetryOutcome, SecretChange, SecretsNow,
    SubmitOutcome,
};
use crate::tenancy::{Role, TenantStore};
use line::State;

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
    /// Where a submit writes the records it is given ([`MemoryQueue::writing_to`]).
    store: Arc<Mutex<Option<MemoryKv>>>,
    /// Where a submit checks the key it is given ([`MemoryQueue::checking_keys_in`]).
    tenants: Arc<Mutex<Option<MemoryTenants>>>,
    /// Runs at the start of the next retry ([`MemoryQueue::before_next_retry`]).
    before_retry: Arc<Mutex<Option<BeforeRetry>>>,
    /// The next call that finishes jobs fails ([`MemoryQueue::fail_next_finish`]).
    finish_fault: Arc<AtomicU32>,
    heartbeat_fault: Arc<AtomicBool>,
}

/// What happens just before a retry reaches the queue: another client's call, say.
struct BeforeRetry(Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for BeforeRetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BeforeRetry")
    }
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
            store: Arc::default(),
            tenants: Arc::default(),
            before_retry: Arc::default(),
            finish_fault: Arc::default(),
            heartbeat_fault: Arc::default(),
        }
    }

    /// Make the next call that finishes jobs fail, changing nothing, as a round trip
    /// lost to a broken connection does.
    pub fn fail_next_finish(&self) {
        self.fail_next_finishes(1);
    }

    /// Make the next heartbeat fail, changing nothing.
    pub fn fail_next_heartbeat(&self) {
        self.heartbeat_fault.store(true, Ordering::SeqCst);
    }

    /// [`MemoryQueue::fail_next_finish`], for the next `n` such calls.
    pub fn fail_next_finishes(&self, n: u32) {
        self.finish_fault.store(n, Ordering::SeqCst);
    }

    /// The state for a call finishing `finishes`: [`MemoryQueue::state`], or the failure
    /// [`MemoryQueue::fail_next_finish`] asked for.
    fn finishing_state(&self, finishes: &[Finish]) -> Result<MutexGuard<'_, State>, QueueError> {
        let s = self.state()?;
        let failing = |n: u32| n.checked_sub(1);
        if !finishes.is_empty()
            && self
                .finish_fault
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, failing)
                .is_ok()
        {
            return Err(down().into());
        }
        Ok(s)
    }

    /// Run `then` at the start of the next retry, before it sees the queue: a client's
    /// cancel that arrives between a worker's last heartbeat and its retry, say.
    pub fn before_next_retry(&self, then: impl FnOnce() + Send + 'static) {
        *lock(&self.before_retry) = Some(BeforeRetry(Box::new(then)));
    }

    /// Submits check the key they are given (`Enqueue::key`), and the tenant's own quota,
    /// in `tenants`, as the Redis queue's script reads them beside the queue.
    pub fn checking_keys_in(&self, tenants: MemoryTenants) {
        *lock(&self.tenants) = Some(tenants);
    }

    /// Submits and finishes write the records they are given (`Enqueue::records`,
    /// `Finish::record`) into `kv`, as the Redis queue's scripts do when the store is its
    /// Redis.
    pub fn writing_to(&self, kv: MemoryKv) {
        *lock(&self.store) = Some(kv);
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
        let s = lock(&self.state);
        s.id_tenant(id).and_then(|t| t.status.get(id).copied())
    }

    /// Moves finished `id`'s place in the retention index to `ms`, as a finish sent after
    /// the record was stamped, or a sweep during a webhook delivery, leaves it.
    pub fn move_finished(&self, id: &JobId, ms: u64) {
        let mut s = lock(&self.state);
        if let Some(at) = s.tenants.values_mut().find_map(|t| t.finished.get_mut(id)) {
            *at = ms;
        }
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
    /// `finish_and_claim` in the state `s` the caller has locked: a status that is not
    /// final is refused before anything changes, as the script does.
    fn finish_and_claim_in(
        &self,
        s: &mut State,
        finishes: &[Finish],
        (now_ms, lease_until_ms): (u64, u64),
        token: &str,
        max: u32,
    ) -> Result<(Vec<Ownership>, Claim), QueueError> {
        if let Some(f) = finishes.iter().find(|f| !f.status.is_terminal()) {
            return Err(QueueError::Reply {
                script: "finish_and_claim",
                reply: format!("not a final status: {}", f.status),
            });
        }
        let store = lock(&self.store).clone();
        if finishes.iter().any(|f| f.record.is_some()) && store.is_none() {
            return Err(PortError::Backend("records to write, but no store".into()).into());
        }
        let mut owned = Vec::with_capacity(finishes.len());
        // The tenants of this finish in the order the script comes to them, and whether
        // a job of each finished here.
        let mut served: Vec<(&Tenant, bool)> = Vec::new();
        for f in finishes {
            let holds = s.tenant(&f.tenant).owns(&f.id, &f.token);
            if let (true, Some((key, record)), Some(kv)) = (holds, &f.record, &store) {
                kv.set(key, record)?;
            }
            let o = s
                .tenant(&f.tenant)
                .finish(&f.id, &f.token, f.status, now_ms, f.dead)?;
            if o == Ownership::Owned && f.hook {
                s.hooks.enqueue(&f.tenant, &f.id, now_ms);
            }
            match served.iter_mut().find(|(t, _)| *t == &f.tenant) {
                Some((_, any)) => *any |= o == Ownership::Owned,
                None => served.push((&f.tenant, o == Ownership::Owned)),
            }
            owned.push(o);
        }
        for (t, _) in served.into_iter().filter(|(_, any)| *any) {
            s.back_of_line(t);
        }
        Ok((owned, s.claim(now_ms, lease_until_ms, token, max)))
    }

    /// What a submit does when nothing goes wrong.
    fn submit_now(&self, job: &Enqueue) -> Result<SubmitOutcome, QueueError> {
        let mut state = self.state()?;
        let tenants = lock(&self.tenants).clone();
        // The tenant's own quota, read beside the queue as submit.lua does.
        let max_queued = match &tenants {
            Some(tenants) => tenants
                .tenant(&job.tenant)?
                .and_then(|t| t.max_queued_jobs)
                .unwrap_or(job.max_queued),
            None => job.max_queued,
        };
        if let Some(proof) = &job.key {
            let tenants = tenants.ok_or_else(|| {
                PortError::Backend("a key to check, but no tenants to check it in".into())
            })?;
            let holds = tenants.key(&proof.id)?.is_some_and(|k| {
                k.tenant == job.tenant && k.hash == proof.hash && !k.revoked && k.role == Role::Full
            });
            if !holds {
                return Ok(SubmitOutcome::KeyRefused);
            }
        }
        if let Some(claim) = &job.idempotency
            && let Some(taken) = state.key_holder(&job.tenant, claim)
        {
            return Ok(SubmitOutcome::Duplicate(taken));
        }
        let s = state.tenant(&job.tenant);
        let queued = s.count(Status::Queued);
        if queued >= max_queued {
            return Ok(SubmitOutcome::Full {
                queued,
                limit: max_queued,
            });
        }
        if !job.records.is_empty() {
            let store = lock(&self.store).clone();
            let kv = store.ok_or_else(|| {
                PortError::Backend("records to write, but no store to write them to".into())
            })?;
            kv.set_many(&job.records)?;
        }
        if let Some(claim) = &job.idempotency {
            let value = IdempotencyRecord::encode(&job.id, &claim.fingerprint);
            s.idempotency.insert(claim.key.clone(), value);
        }
        s.all.insert(job.id);
        s.kind.insert(job.id, job.kind.clone());
        s.status.insert(job.id, Status::Queued);
        if job.due_ms > job.now_ms {
            s.delayed.insert(job.id, job.due_ms);
            s.later_by(job.due_ms);
        } else {
            s.ready.push_front(job.id);
            state.queue_turn(&job.tenant);
        }
        if job.now_ms >= state.armed_until {
            state.armed_until = job.now_ms + DOORBELL_ARMED_MS;
            state.published.push(job.doorbell.clone());
        }
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

    fn finished_ms(&self, tenant: &Tenant, id: &JobId) -> Result<Option<u64>, QueueError> {
        Ok(self.state()?.tenant(tenant).finished.get(id).copied())
    }

    fn knows(&self, tenant: &Tenant, id: &JobId) -> Result<bool, QueueError> {
        Ok(self.state()?.tenant(tenant).all.contains(id))
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
        tenant: &Tenant,
        token: &str,
        ids: &[JobId],
        lease_until_ms: u64,
    ) -> Result<Vec<Heartbeat>, QueueError> {
        let mut state = self.state()?;
        if self.heartbeat_fault.swap(false, Ordering::SeqCst) {
            return Err(down().into());
        }
        let s = state.tenant(tenant);
        Ok(ids
            .iter()
            .map(|id| {
                if !s.owns(id, token) {
                    return Heartbeat::Lost;
                }
                s.leases.insert(*id, lease_until_ms);
                Heartbeat::Owned {
                    cancel_requested: s.cancel.contains(id),
                }
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
        // One lock for all, as the script is one atomic call.
        let mut s = self.finishing_state(finishes)?;
        self.finish_and_claim_in(&mut s, finishes, (now_ms, lease_until_ms), token, max)
    }

    fn finish_and_claim_reading(
        &self,
        finishes: &[Finish],
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> Result<(Vec<Ownership>, Claim, ClaimedRecords), QueueError> {
        let mut s = self.finishing_state(finishes)?;
        let Some(kv) = lock(&self.store).clone() else {
            return Err(PortError::Backend("records to read, but no store".into()).into());
        };
        let (owned, claim) =
            self.finish_and_claim_in(&mut s, finishes, (now_ms, lease_until_ms), token, max)?;
        let mut records = Vec::new();
        if let Claim::Claimed { tenant, jobs, .. } = &claim {
            for job in jobs {
                records.push(kv.get(&keys::job(tenant, &job.id))?);
            }
        }
        Ok((owned, claim, records))
    }

    fn retry(
        &self,
        tenant: &Tenant,
        id: &JobId,
        token: &str,
        due_ms: u64,
    ) -> Result<RetryOutcome, QueueError> {
        let before = lock(&self.before_retry).take();
        if let Some(BeforeRetry(then)) = before {
            then();
        }
        let mut state = self.state()?;
        let s = state.tenant(tenant);
        if !s.owns(id, token) {
            return Ok(RetryOutcome::Lost);
        }
        if s.cancel.contains(id) {
            return Ok(RetryOutcome::CancelRequested);
        }
        s.leases.remove(id);
        s.owner.remove(id);
        s.delayed.insert(*id, due_ms);
        s.later_by(due_ms);
        s.status.insert(*id, Status::Queued);
        s.retries += 1;
        Ok(RetryOutcome::Scheduled)
    }

    fn cancel(
        &self,
        tenant: &Tenant,
        id: &JobId,
        now_ms: u64,
        hook: bool,
    ) -> Result<CancelOutcome, QueueError> {
        let mut state = self.state()?;
        let s = state.tenant(tenant);
        match s.status.get(id).copied() {
            None => Ok(CancelOutcome::Unknown),
            Some(Status::Queued) => {
                s.ready.retain(|x| x != id);
                s.delayed.remove(id);
                s.status.insert(*id, Status::Cancelled);
                s.finished.insert(*id, now_ms);
                if hook {
                    state.hooks.enqueue(tenant, id, now_ms);
                }
                Ok(CancelOutcome::Cancelled)
            }
            Some(Status::Running) => Ok(match s.cancel.insert(*id) {
                true => CancelOutcome::Requested,
                false => CancelOutcome::RequestedBefore,
            }),
            Some(Status::Cancelled) => Ok(CancelOutcome::AlreadyCancelled {
                at_ms: s.finished.get(id).copied(),
            }),
            Some(other) => Ok(CancelOutcome::Finished(other)),
        }
    }

    fn stats(&self, tenant: &Tenant, now_ms: u64) -> Result<QueueStats, QueueError> {
        let mut state = self.state()?;
        let hooks = state.hooks.counts(tenant);
        Ok(state.tenant(tenant).stats(now_ms, hooks))
    }

    fn expired(
        &self,
        now_ms: u64,
        cutoff_ms: u64,
        limit: u32,
    ) -> Result<Option<Expired>, QueueError> {
        let mut state = self.state()?;
        let state = &mut *state;
        // As the sweep script: up to 32 tenants, until one has a job to forget.
        for _ in 0..32 {
            // The tenant whose oldest finished job is oldest.
            let oldest = state
                .tenants
                .iter()
                .filter_map(|(t, s)| Some((*s.finished.values().min()?, t)))
                .min();
            let Some((_, tenant)) = oldest.filter(|(at, _)| *at <= cutoff_ms) else {
                return Ok(None);
            };
            let tenant = tenant.clone();
            let s = state.tenants.get_mut(&tenant).expect("found just now");
            let mut due: Vec<(u64, JobId)> = s
                .finished
                .iter()
                .filter(|(_, at)| **at <= cutoff_ms)
                .map(|(id, at)| (*at, *id))
                .collect();
            due.sort();
            let mut ids = Vec::new();
            for (_, id) in due.into_iter().take(limit as usize) {
                match state.hooks.under_way(&tenant, &id) {
                    // Its delivery goes on: due again just after its next attempt.
                    Some(next_ms) => {
                        let at = next_ms.max(now_ms) - now_ms + cutoff_ms + 1;
                        s.finished.insert(id, at);
                    }
                    None => ids.push(id),
                }
            }
            if !ids.is_empty() {
                return Ok(Some(Expired { tenant, ids }));
            }
        }
        Ok(None)
    }

    fn forget(&self, tenant: &Tenant, ids: &[JobId]) -> Result<(), QueueError> {
        let mut state = self.state()?;
        for id in ids {
            state.hooks.forget(tenant, id);
        }
        let s = state.tenant(tenant);
        for id in ids {
            s.forget(id);
        }
        Ok(())
    }

    fn list(
        &self,
        tenant: &Tenant,
        filter: &ListFilter,
        before: Option<&JobId>,
        limit: u32,
    ) -> Result<Listed, QueueError> {
        Ok(self.state()?.tenant(tenant).list(filter, before, limit))
    }

    fn ring(&self, doorbell: &Doorbell, window_ms: u64) -> Result<bool, QueueError> {
        let mut s = self.state()?;
        let now = self.clock.now_ms();
        if s.rung_at.is_some_and(|at| now < at + window_ms.max(1)) {
            return Ok(false);
        }
        s.rung_at = Some(now);
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

    fn claim_hooks(
        &self,
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> Result<HookClaims, QueueError> {
        let mut state = self.state()?;
        Ok(state.hooks.claim(now_ms, lease_until_ms, token, max))
    }

    fn hook_done(
        &self,
        claim: &HookClaim,
        token: &str,
        outcome: HookDone,
        last_status: Option<u16>,
        _now_ms: u64,
    ) -> Result<Ownership, QueueError> {
        let mut state = self.state()?;
        Ok(state.hooks.done(claim, token, outcome, last_status))
    }

    fn redeliver_hook(
        &self,
        tenant: &Tenant,
        id: &JobId,
        now_ms: u64,
    ) -> Result<Redeliver, QueueError> {
        let mut state = self.state()?;
        Ok(state.hooks.redeliver(tenant, id, now_ms))
    }

    fn hook(&self, tenant: &Tenant, id: &JobId) -> Result<Option<HookState>, QueueError> {
        Ok(self.state()?.hooks.state(tenant, id))
    }

    fn hook_secrets(
        &self,
        tenant: &Tenant,
        change: SecretChange,
        new: &str,
    ) -> Result<SecretsNow, QueueError> {
        let mut state = self.state()?;
        Ok(state.hooks.secrets(tenant, change, new))
    }
}

//! One tenant's queue in memory: [`TenantState`], as that tenant's keys in Redis.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use crate::job::{JobId, Status};
use crate::queue::{ClaimedJob, Ownership, QueueError};

/// One tenant's queue, as its keys in Redis.
#[derive(Debug, Default)]
pub(super) struct TenantState {
    /// Its place in line (`aj:turns`), while it has ready jobs.
    pub(super) place: Option<u64>,
    /// When its earliest delayed job is due (`aj:later`), until it joins the line.
    pub(super) later: Option<u64>,
    /// Front = LPUSH end, back = RPOP (claiming) end, as the Redis list.
    pub(super) ready: VecDeque<JobId>,
    pub(super) delayed: HashMap<JobId, u64>,
    pub(super) leases: HashMap<JobId, u64>,
    pub(super) owner: HashMap<JobId, String>,
    pub(super) all: BTreeSet<JobId>,
    /// The kind index: each job's kind.
    pub(super) kind: HashMap<JobId, String>,
    pub(super) status: HashMap<JobId, Status>,
    pub(super) cancel: HashSet<JobId>,
    pub(super) finished: HashMap<JobId, u64>,
    pub(super) retries: u64,
    pub(super) dead: u64,
    /// key → (value, expires at ms)
    /// Idempotency key -> `{id} {fingerprint}`, until retention forgets the job.
    pub(super) idempotency: HashMap<String, String>,
}

impl TenantState {
    pub(super) fn promote(&mut self, now: u64) {
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

    pub(super) fn forget(&mut self, id: &JobId) {
        self.ready.retain(|x| x != id);
        self.delayed.remove(id);
        self.leases.remove(id);
        self.owner.remove(id);
        self.all.remove(id);
        self.kind.remove(id);
        self.cancel.remove(id);
        self.finished.remove(id);
        self.status.remove(id);
        // The key its job took goes with it (`forget` in prelude.lua).
        self.idempotency
            .retain(|_, taken| crate::queue::IdempotencyRecord::decode(taken).id != id.as_str());
    }

    /// The claim script for this tenant: housekeeping, lease the oldest ready jobs, and
    /// the next turn.
    pub(super) fn claim(
        &mut self,
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> Vec<ClaimedJob> {
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
        jobs
    }

    /// In `aj:later` no later than `at`.
    pub(super) fn later_by(&mut self, at: u64) {
        self.later = Some(self.later.map_or(at, |t| t.min(at)));
    }

    /// The finish script: a status that is not final is refused before anything changes.
    pub(super) fn finish(
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

    pub(super) fn owns(&self, id: &JobId, token: &str) -> bool {
        self.owner.get(id).is_some_and(|t| t == token)
    }

    pub(super) fn count(&self, status: Status) -> u64 {
        self.status.values().filter(|s| **s == status).count() as u64
    }
}

//! The line of tenants with ready jobs and what every tenant shares (the schedules, the
//! doorbell, the watch), with the claim script's way through them.

use std::collections::BTreeMap;

use crate::job::{JobId, Tenant};
use crate::memory::hooks::Outbox;
use crate::memory::tenant_queue::TenantState;
use crate::queue::{Claim, Doorbell, IdempotencyClaim, IdempotencyRecord};

/// Every tenant's queue, and what all tenants share.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) tenants: BTreeMap<Tenant, TenantState>,
    pub(super) hooks: Outbox,
    /// The last place in line handed out.
    pub(super) places: u64,
    /// When the doorbell was last rung again (`aj:rung`).
    pub(super) rung_at: Option<u64>,
    /// Until when the doorbell is armed (`aj:armed`): 0 when a claim found the line empty.
    pub(super) armed_until: u64,
    /// The watch: its token and when it lapses.
    pub(super) watch: Option<(String, u64)>,
    pub(super) published: Vec<Doorbell>,
}

impl State {
    pub(super) fn tenant(&mut self, t: &Tenant) -> &mut TenantState {
        self.tenants.entry(t.clone()).or_default()
    }

    /// The job holding `claim`'s key for tenant `t`, if one does: taken, unless retention
    /// has removed its job, or it is past retention with its delivery over (submit.lua).
    pub(super) fn key_holder(
        &self,
        t: &Tenant,
        claim: &IdempotencyClaim,
    ) -> Option<IdempotencyRecord> {
        let s = self.tenants.get(t)?;
        let taken = IdempotencyRecord::decode(s.idempotency.get(&claim.key)?);
        let id = JobId::parse(&taken.id)
            .ok()
            .filter(|id| s.all.contains(id))?;
        let past = s
            .finished
            .get(&id)
            .is_some_and(|at| *at <= claim.retention_cutoff_ms);
        let expired = past && self.hooks.under_way(t, &id).is_none();
        (!expired).then_some(taken)
    }

    /// `t` joins the end of the line unless it is in line (`queue_turn`).
    pub(super) fn queue_turn(&mut self, t: &Tenant) {
        if self.tenant(t).place.is_none() {
            let place = self.next_place();
            self.tenant(t).place = Some(place);
        }
    }

    /// `t`, if in line, goes to its end again: a batch of it finished (`finish_jobs`).
    pub(super) fn back_of_line(&mut self, t: &Tenant) {
        if self.tenant(t).place.is_some() {
            let place = self.next_place();
            self.tenant(t).place = Some(place);
        }
    }

    /// A place past every place handed out (`next_place`).
    fn next_place(&mut self) -> u64 {
        self.places += 1;
        self.places
    }

    /// The claim script: tenants whose delayed jobs or leases came due join the line; the
    /// first in line does its housekeeping, leases its oldest ready jobs, and goes to the
    /// end of the line if it has more (32 tenants tried at most); a finish of its batch
    /// sends it to the end again ([`State::back_of_line`]).
    pub(super) fn claim(
        &mut self,
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> Claim {
        if max == 0 {
            return Claim::NOTHING;
        }
        let due: Vec<Tenant> = self
            .tenants
            .iter()
            .filter(|(_, s)| {
                s.later.is_some_and(|at| at <= now_ms) || s.leases.values().any(|at| *at <= now_ms)
            })
            .map(|(t, _)| t.clone())
            .collect();
        for t in due {
            self.queue_turn(&t);
            self.tenant(&t).later = None;
        }
        for _ in 0..32 {
            let first = self
                .tenants
                .iter()
                .filter_map(|(t, s)| Some((s.place?, t.clone())))
                .min();
            let Some((_, t)) = first else { break };
            let place = self.next_place();
            let s = self.tenant(&t);
            let jobs = s.claim(now_ms, lease_until_ms, token, max);
            s.place = (!s.ready.is_empty()).then_some(place);
            s.later = s.delayed.values().min().copied();
            if !jobs.is_empty() {
                return Claim::Claimed {
                    tenant: t,
                    jobs,
                    invalid: Vec::new(),
                };
            }
        }
        let in_line = self.tenants.values().any(|s| s.place.is_some());
        if !in_line {
            // The line is empty: the next submission rings the doorbell again.
            self.armed_until = 0;
        }
        let all = self.tenants.values();
        Claim::Empty {
            next_due_ms: if in_line {
                Some(now_ms)
            } else {
                all.clone().filter_map(|s| s.later).min()
            },
            next_expiry_ms: all.filter_map(|s| s.leases.values().min().copied()).min(),
        }
    }

    pub(super) fn id_tenant(&self, id: &JobId) -> Option<&TenantState> {
        self.tenants.values().find(|s| s.all.contains(id))
    }
}

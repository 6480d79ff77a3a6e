//! The webhook outbox in memory, as `queue/lua/hook_*.lua` keeps it in Redis.

use std::collections::BTreeMap;

use crate::job::{JobId, Tenant, Timestamp};
use crate::queue::{
    HookClaim, HookClaims, HookDone, HookState, Ownership, Redeliver, SecretChange, SecretsNow,
};

#[derive(Debug, Clone)]
struct Delivery {
    /// `pending`, `delivered` or `failed`.
    state: &'static str,
    attempts: u32,
    last_status: Option<u16>,
    /// Due (or leased until) while pending.
    next_ms: u64,
    token: Option<String>,
    /// Claims that did not send it (`HookDone::Postponed`).
    postponed: u32,
}

/// Every job's delivery, and every tenant's secrets.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    deliveries: BTreeMap<(Tenant, JobId), Delivery>,
    secrets: BTreeMap<Tenant, (String, Option<String>)>,
}

impl Delivery {
    /// A delivery from its first attempt, due at `now_ms`.
    fn pending(now_ms: u64) -> Delivery {
        Delivery {
            state: "pending",
            attempts: 0,
            last_status: None,
            next_ms: now_ms,
            token: None,
            postponed: 0,
        }
    }
}

impl Outbox {
    /// A finished job's event, due at `now_ms` (`enqueue_hook`).
    pub(super) fn enqueue(&mut self, tenant: &Tenant, id: &JobId, now_ms: u64) {
        self.deliveries
            .insert((tenant.clone(), *id), Delivery::pending(now_ms));
    }

    /// When the delivery of `id`'s event is next tried (or its lease ends), while it is
    /// under way (`HOOKS` holds it).
    pub(super) fn under_way(&self, tenant: &Tenant, id: &JobId) -> Option<u64> {
        self.deliveries
            .get(&(tenant.clone(), *id))
            .filter(|d| d.state == "pending")
            .map(|d| d.next_ms)
    }

    pub(super) fn forget(&mut self, tenant: &Tenant, id: &JobId) {
        self.deliveries.remove(&(tenant.clone(), *id));
    }

    /// Pending and failed deliveries of `tenant`.
    pub(super) fn counts(&self, tenant: &Tenant) -> (u64, u64) {
        let of = |state| {
            self.deliveries
                .iter()
                .filter(|((t, _), d)| t == tenant && d.state == state)
                .count() as u64
        };
        (of("pending"), of("failed"))
    }

    pub(super) fn claim(
        &mut self,
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> HookClaims {
        let mut due: Vec<(u64, (Tenant, JobId))> = self
            .deliveries
            .iter()
            .filter(|(_, d)| d.state == "pending" && d.next_ms <= now_ms)
            .map(|(k, d)| (d.next_ms, k.clone()))
            .collect();
        due.sort();
        let mut claims = HookClaims::default();
        for (_, key) in due.into_iter().take(max as usize) {
            let d = self.deliveries.get_mut(&key).expect("listed just now");
            d.token = Some(token.to_owned());
            d.attempts += 1;
            d.next_ms = lease_until_ms;
            let secrets = self
                .secrets
                .get(&key.0)
                .map(|(c, p)| std::iter::once(c.clone()).chain(p.clone()).collect())
                .unwrap_or_default();
            claims.due.push(HookClaim {
                tenant: key.0,
                id: key.1,
                attempt: d.attempts,
                postponed: d.postponed,
                secrets,
            });
        }
        claims.next_due_ms = self
            .deliveries
            .values()
            .filter(|d| d.state == "pending")
            .map(|d| d.next_ms)
            .min();
        claims
    }

    pub(super) fn done(
        &mut self,
        claim: &HookClaim,
        token: &str,
        outcome: HookDone,
        last_status: Option<u16>,
    ) -> Ownership {
        let key = (claim.tenant.clone(), claim.id);
        let Some(d) = self.deliveries.get_mut(&key) else {
            return Ownership::Lost;
        };
        if d.token.as_deref() != Some(token) {
            return Ownership::Lost;
        }
        d.token = None;
        if !matches!(outcome, HookDone::Postponed(_)) {
            d.last_status = last_status;
        }
        match outcome {
            HookDone::Delivered => d.state = "delivered",
            HookDone::RetryAt(at) => d.next_ms = at,
            HookDone::Failed => d.state = "failed",
            HookDone::Postponed(at) => {
                d.attempts = d.attempts.saturating_sub(1);
                d.postponed += 1;
                d.next_ms = at;
            }
        }
        Ownership::Owned
    }

    pub(super) fn redeliver(&mut self, tenant: &Tenant, id: &JobId, now_ms: u64) -> Redeliver {
        let queued = match self.deliveries.get_mut(&(tenant.clone(), *id)) {
            None => return Redeliver::NoEvent,
            Some(d) if d.state == "pending" => false,
            Some(d) => {
                *d = Delivery::pending(now_ms);
                true
            }
        };
        let state = self.state(tenant, id).expect("a delivery");
        if queued {
            Redeliver::Queued(state)
        } else {
            Redeliver::Pending(state)
        }
    }

    pub(super) fn state(&self, tenant: &Tenant, id: &JobId) -> Option<HookState> {
        let d = self.deliveries.get(&(tenant.clone(), *id))?;
        Some(HookState {
            state: d.state.to_owned(),
            attempts: d.attempts,
            last_status: d.last_status,
            next_attempt_at: (d.state == "pending")
                .then(|| Timestamp::from_ms(d.next_ms).to_rfc3339()),
            next_attempt_ms: (d.state == "pending").then_some(d.next_ms),
        })
    }

    pub(super) fn secrets(
        &mut self,
        tenant: &Tenant,
        change: SecretChange,
        new: &str,
    ) -> SecretsNow {
        let fresh = !self.secrets.contains_key(tenant);
        let entry = self.secrets.entry(tenant.clone());
        let s = entry.or_insert_with(|| (new.to_owned(), None));
        match (change, &s.1) {
            (SecretChange::Init, _) => {}
            // A tenant with none has the new one already.
            (SecretChange::Rotate, _) if fresh => {}
            (SecretChange::Rotate, Some(previous)) => {
                return SecretsNow::RotationUnderWay(s.0.clone(), previous.clone());
            }
            (SecretChange::Rotate, None) => {
                s.1 = Some(std::mem::replace(&mut s.0, new.to_owned()));
            }
            (SecretChange::End, _) => s.1 = None,
        }
        SecretsNow::Set(s.0.clone(), s.1.clone())
    }
}

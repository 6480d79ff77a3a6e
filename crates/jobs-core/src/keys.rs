//! Every key name the app uses, in one place (docs/architecture.md, "Where state lives").
//! Depends only on the job identity types; the services and the queue never format a key
//! themselves.
//!
//! Key-value keys are short (`j:{tenant}:{id}`, hosted Spin limits keys to 255 bytes).
//! Redis keys of one tenant wrap its name in literal braces (`aj:{default}:ready`): a Redis
//! Cluster hash tag, so they live in one slot. A few keys are shared by every tenant (the
//! schedules of fair claims, tenants, API keys, the doorbell markers), and the worker's
//! scripts reach several tenants' keys, so the app needs one Redis primary, not a Cluster
//! (docs/architecture.md).

use crate::job::{JobId, Status, Tenant};

/// Key-value: the job record, the truth a client reads.
pub fn job(tenant: &Tenant, id: &JobId) -> String {
    format!("j:{}:{}", tenant.as_str(), id.as_str())
}

/// Key-value: the input of a job whose input is too large to ride in its record
/// ([`crate::codec::INLINE_INPUT_MAX`]); written once, at submit.
pub fn input(tenant: &Tenant, id: &JobId) -> String {
    format!("i:{}:{}", tenant.as_str(), id.as_str())
}

/// Key-value: the result bytes of a succeeded job.
pub fn result(tenant: &Tenant, id: &JobId) -> String {
    format!("r:{}:{}", tenant.as_str(), id.as_str())
}

/// Key-value and Redis alike: a random token, written through the store, that tells an
/// instance whether its key-value store is the queue's Redis (`crate::batch_reads`).
pub const STORE_MARKER: &str = "aj:store-marker";

fn redis(tenant: &Tenant, name: &str) -> String {
    format!("aj:{{{}}}:{name}", tenant.as_str())
}

/// Redis LIST: ids ready to run (LPUSH by submit, RPOP by claim).
pub fn ready(tenant: &Tenant) -> String {
    redis(tenant, "ready")
}

/// Redis ZSET id → due ms: delayed submissions and retries.
pub fn delayed(tenant: &Tenant) -> String {
    redis(tenant, "delayed")
}

/// Redis ZSET id → lease deadline ms of running jobs.
pub fn leases(tenant: &Tenant) -> String {
    redis(tenant, "leases")
}

/// Redis HASH id → token of the worker holding the lease.
pub fn owner(tenant: &Tenant) -> String {
    redis(tenant, "owner")
}

/// Redis ZSET (score 0) of every job; lex order of UUIDv7 ids is time order.
pub fn all(tenant: &Tenant) -> String {
    redis(tenant, "all")
}

/// Redis ZSET (score 0) of the jobs of one kind (a registered kind's name).
pub fn by_kind(tenant: &Tenant, kind: &str) -> String {
    redis(tenant, &format!("k:{kind}"))
}

/// Redis SET of the kind indexes ([`by_kind`]) a tenant's submissions wrote to, so that
/// retention clears a job from its kind's index even after that kind is no longer served.
pub fn kind_indexes(tenant: &Tenant) -> String {
    redis(tenant, "kinds")
}

/// Redis ZSET (score 0) of the jobs in one status.
pub fn by_status(tenant: &Tenant, status: Status) -> String {
    redis(tenant, &format!("s:{}", status.as_str()))
}

/// Redis SET of running jobs whose cancellation was requested.
pub fn cancel(tenant: &Tenant) -> String {
    redis(tenant, "cancel")
}

/// Redis ZSET id → finished ms, swept for retention.
pub fn finished(tenant: &Tenant) -> String {
    redis(tenant, "finished")
}

/// Redis HASH of counters (`retries`, `dead`).
pub fn counters(tenant: &Tenant) -> String {
    redis(tenant, "counters")
}

/// Redis STRING `{id} {fingerprint}`: an idempotency key claimed by a submission.
pub fn idempotency(tenant: &Tenant, key: &str) -> String {
    redis(tenant, &format!("idem:{key}"))
}

/// Redis HASH: job id -> the idempotency key (its Redis key) the job took, so that the
/// key goes with the job.
pub fn idempotency_of(tenant: &Tenant) -> String {
    redis(tenant, "idem-of")
}

/// Redis HASH: a tenant's own settings (`max_queued_jobs`) and its creation time.
pub fn tenant_settings(tenant: &Tenant) -> String {
    redis(tenant, "tenant")
}

/// Redis HASH: the webhook delivery state of a finished job with a callback URL.
pub fn hook(tenant: &Tenant, id: &JobId) -> String {
    redis(tenant, &format!("hook:{}", id.as_str()))
}

/// Redis HASH: a tenant's webhook signing secrets (`current`, `previous`).
pub fn webhook_secrets(tenant: &Tenant) -> String {
    redis(tenant, "whsec")
}

/// Redis ZSET `tenant/id` → ms: webhook deliveries due, every tenant's.
pub fn hooks() -> String {
    "aj:hooks".to_owned()
}

/// Redis ZSET key id → created ms: the API keys of a tenant.
pub fn tenant_keys(tenant: &Tenant) -> String {
    redis(tenant, "keys")
}

/// Redis ZSET tenant → place in line: the tenants with ready jobs, served in turn by
/// claims (a new place is one past the last). Like every key below it but the API keys,
/// one for all tenants (no hash tag); the Lua prelude names the same keys.
pub fn turns() -> String {
    "aj:turns".to_owned()
}

/// Redis ZSET tenant → ms: when each tenant's earliest delayed job is due (it then joins
/// the line).
pub fn later() -> String {
    "aj:later".to_owned()
}

/// Redis ZSET tenant → ms: when each tenant's earliest lease may expire.
pub fn expiry() -> String {
    "aj:expiry".to_owned()
}

/// Redis ZSET tenant → ms: when each tenant's earliest finished job finished (retention).
pub fn retain() -> String {
    "aj:retain".to_owned()
}

/// Redis ZSET tenant → created ms: every tenant.
pub fn tenants() -> String {
    "aj:tenants".to_owned()
}

/// Redis HASH: an API key by its public id (`tenant`, `hash`, `created_ms`,
/// `revoked_ms`).
pub fn api_key(key_id: &str) -> String {
    format!("aj:key:{key_id}")
}

/// Redis STRING with a short expiry: "the doorbell was rung again recently".
pub fn rung() -> String {
    "aj:rung".to_owned()
}

/// Redis STRING with a short expiry: "a submission rang the doorbell and no claim has
/// found the line empty since" (`queue::DOORBELL_ARMED_MS`).
pub fn armed() -> String {
    "aj:armed".to_owned()
}

/// Redis STRING with an expiry: the token of the worker that keeps the watch for work
/// due later (see `Queue::watch`).
pub fn watch() -> String {
    "aj:watch".to_owned()
}

/// Redis STRING (an integer): a counter of the test-only `count` kind, e.g. `total`.
pub fn counter(tenant: &Tenant, name: &str) -> String {
    redis(tenant, &format!("count:{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> JobId {
        JobId::parse("01890a5d-ac96-774b-bcce-b302099a8057").unwrap()
    }

    #[test]
    fn key_value_keys_are_short_and_name_tenant_and_id() {
        let t = Tenant::default_tenant();
        assert_eq!(
            job(&t, &id()),
            "j:default:01890a5d-ac96-774b-bcce-b302099a8057"
        );
        assert_eq!(
            result(&t, &id()),
            "r:default:01890a5d-ac96-774b-bcce-b302099a8057"
        );
    }

    #[test]
    fn redis_keys_share_the_tenant_hash_tag() {
        let t = Tenant::default_tenant();
        let keys = [
            (ready(&t), "aj:{default}:ready"),
            (delayed(&t), "aj:{default}:delayed"),
            (leases(&t), "aj:{default}:leases"),
            (owner(&t), "aj:{default}:owner"),
            (all(&t), "aj:{default}:all"),
            (cancel(&t), "aj:{default}:cancel"),
            (finished(&t), "aj:{default}:finished"),
            (counters(&t), "aj:{default}:counters"),
            (idempotency(&t, "k-1"), "aj:{default}:idem:k-1"),
            (counter(&t, "total"), "aj:{default}:count:total"),
        ];
        for (got, want) in keys {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn the_lua_prelude_names_the_shared_schedules_as_here() {
        let prelude = include_str!("queue/lua/prelude.lua");
        for key in [turns(), later(), expiry(), retain(), hooks()] {
            assert!(
                prelude.contains(&format!("'{key}'")),
                "{key} in prelude.lua"
            );
        }
        let tenant = Tenant::parse("t").unwrap();
        for name in [
            "ready", "delayed", "leases", "owner", "all", "cancel", "finished",
        ] {
            assert_eq!(redis(&tenant, name), format!("aj:{{t}}:{name}"));
            assert!(
                prelude.contains(&format!("'{name}'")),
                "{name} in tenant_keys"
            );
        }
    }

    #[test]
    fn every_status_has_its_own_index_that_reads_back_to_the_status() {
        let t = Tenant::default_tenant();
        for status in Status::ALL {
            let key = by_status(&t, status);
            let name = key.strip_prefix("aj:{default}:s:").unwrap();
            assert_eq!(Status::parse(name).unwrap(), status);
        }
    }
}

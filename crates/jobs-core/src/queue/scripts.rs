//! The Lua scripts of the queue protocol, one file each under `lua/`, each prefixed with
//! `lua/prelude.lua` (key layout and shared helpers). Only [`super::redis`] runs them, by
//! SHA1 (EVALSHA) with the text sent only when Redis does not know the script yet.
//! The SHA1s are computed by `build.rs`: every component instance is fresh, so hashing
//! here would cost every request.

mod generated {
    include!(concat!(env!("OUT_DIR"), "/script_shas.rs"));
}

macro_rules! script {
    ($name:literal) => {
        Script::new(
            $name,
            concat!(
                include_str!("lua/prelude.lua"),
                include_str!(concat!("lua/", $name, ".lua"))
            ),
        )
    };
}

/// One script: its name (its file under `lua/`, for errors) and its text.
#[derive(Debug)]
pub struct Script {
    pub name: &'static str,
    pub source: &'static str,
}

impl Script {
    const fn new(name: &'static str, source: &'static str) -> Self {
        Self { name, source }
    }

    /// The lowercase hex SHA1 of the text: the name Redis caches the script under.
    pub fn sha(&self) -> &'static str {
        generated::sha_of(self.name)
            .unwrap_or_else(|| unreachable!("build.rs hashes every file in lua/"))
    }
}

/// Claim the idempotency key, enqueue, index, PUBLISH the doorbell: one round trip.
pub static SUBMIT: Script = script!("submit");
/// Housekeeping (due retries, expired leases) then take one job under a lease.
pub static CLAIM: Script = script!("claim");
/// Extend the leases a token still owns and say which, with their cancel requests (a
/// running job's heartbeat, for its whole batch; the check before kept-back writes).
pub static HEARTBEAT: Script = script!("heartbeat");
/// Finish a batch (release each lease, index the final status), then `claim`, in one
/// round trip; with max 0 it only finishes.
pub static FINISH_AND_CLAIM: Script = script!("finish_and_claim");
/// Release the lease and queue the job again at a due time.
pub static RETRY: Script = script!("retry");
/// Cancel a queued job or request cancellation of a running one.
pub static CANCEL: Script = script!("cancel");
/// Counts for `GET /stats`.
pub static STATS: Script = script!("stats");
/// Ids finished before a cutoff (retention).
pub static SWEEP: Script = script!("sweep");
/// Remove ids from the queue and every index.
pub static FORGET: Script = script!("forget");
/// A page of ids, newest first.
pub static LIST: Script = script!("list");
/// Ring the doorbell unless it was rung within a window.
pub static RING: Script = script!("ring");

/// Take or keep the watch for work due later (one worker at a time).
pub static WATCH: Script = script!("watch");

/// Create a tenant unless it exists.
pub static TENANT_CREATE: Script = script!("tenant_create");
/// Set or clear a tenant's own quota.
pub static TENANT_UPDATE: Script = script!("tenant_update");
/// Record a new API key of a tenant.
pub static KEY_ISSUE: Script = script!("key_issue");
/// A tenant's API keys.
pub static KEY_LIST: Script = script!("key_list");
/// Revoke an API key.
pub static KEY_REVOKE: Script = script!("key_revoke");
/// What an API key names, with its tenant's queue against its quota.
pub static KEY_LOOKUP: Script = script!("key_lookup");

/// Lease due webhook deliveries.
pub static HOOK_CLAIM: Script = script!("hook_claim");
/// Record how a delivery attempt ended.
pub static HOOK_DONE: Script = script!("hook_done");
/// Deliver a job's event again.
pub static HOOK_REDELIVER: Script = script!("hook_redeliver");
/// A tenant's webhook signing secrets: set, rotate, end a rotation.
pub static HOOK_SECRET: Script = script!("hook_secret");

/// Every script, for tests that check they all load.
pub static ALL: [&Script; 22] = [
    &SUBMIT,
    &CLAIM,
    &HEARTBEAT,
    &FINISH_AND_CLAIM,
    &RETRY,
    &CANCEL,
    &STATS,
    &SWEEP,
    &FORGET,
    &LIST,
    &RING,
    &WATCH,
    &TENANT_CREATE,
    &TENANT_UPDATE,
    &KEY_ISSUE,
    &KEY_LIST,
    &KEY_REVOKE,
    &KEY_LOOKUP,
    &HOOK_CLAIM,
    &HOOK_DONE,
    &HOOK_REDELIVER,
    &HOOK_SECRET,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sha_built_in_is_the_sha1_of_the_text_in_lowercase_hex() {
        for s in ALL {
            let computed = sha1_smol::Sha1::from(s.source).digest().to_string();
            assert_eq!(s.sha(), computed, "{}", s.name);
            assert!(s.sha().bytes().all(|b| !b.is_ascii_uppercase()));
        }
    }

    #[test]
    fn the_scripts_arm_the_doorbell_for_as_long_as_the_queue_says() {
        let line = format!("local ARMED_MS = {}\n", super::super::DOORBELL_ARMED_MS);
        assert!(include_str!("lua/prelude.lua").contains(&line), "{line}");
    }

    #[test]
    fn every_script_file_is_in_the_list() {
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/queue/lua"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name() != "prelude.lua")
            .count();
        assert_eq!(files, ALL.len());
    }
}

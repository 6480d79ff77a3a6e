//! The Lua scripts of the queue protocol, one file each under `lua/`, each prefixed with
//! `lua/prelude.lua` (key layout and shared helpers). Only [`super::redis`] runs them, by
//! SHA1 (EVALSHA) with the text sent only when Redis does not know the script yet.

use std::sync::OnceLock;

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

/// One script: its name (for errors), its text, and its SHA1 (computed once).
#[derive(Debug)]
pub struct Script {
    pub name: &'static str,
    pub source: &'static str,
    sha: OnceLock<String>,
}

impl Script {
    const fn new(name: &'static str, source: &'static str) -> Self {
        Self {
            name,
            source,
            sha: OnceLock::new(),
        }
    }

    /// The lowercase hex SHA1 of the text: the name Redis caches the script under.
    pub fn sha(&self) -> &str {
        self.sha
            .get_or_init(|| sha1_smol::Sha1::from(self.source).digest().to_string())
    }
}

/// Claim the idempotency key, enqueue, index, PUBLISH the doorbell: one round trip.
pub static SUBMIT: Script = script!("submit");
/// Undo a submit the intake could not confirm; release its idempotency key.
pub static WITHDRAW: Script = script!("withdraw");
/// Housekeeping (due retries, expired leases) then take one job under a lease.
pub static CLAIM: Script = script!("claim");
/// Extend a lease the token still owns; report a cancel request.
pub static HEARTBEAT: Script = script!("heartbeat");
/// Release the lease and index the final status.
pub static FINISH: Script = script!("finish");
/// `finish` then `claim` in one round trip, for a worker that keeps draining.
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

/// Every script, for tests that check they all load.
pub static ALL: [&Script; 13] = [
    &SUBMIT,
    &WITHDRAW,
    &CLAIM,
    &HEARTBEAT,
    &FINISH,
    &FINISH_AND_CLAIM,
    &RETRY,
    &CANCEL,
    &STATS,
    &SWEEP,
    &FORGET,
    &LIST,
    &RING,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sha_is_the_sha1_of_the_text_in_lowercase_hex() {
        // SHA1("") is well known; a script's is 40 lowercase hex digits and stable.
        assert_eq!(
            Script::new("empty", "").sha(),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        for s in ALL {
            assert_eq!(s.sha().len(), 40, "{}", s.name);
            assert!(
                s.sha()
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            assert_eq!(s.sha(), s.sha());
        }
    }
}

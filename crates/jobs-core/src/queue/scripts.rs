//! The Lua scripts of the queue protocol, one file each under `lua/`, each prefixed with
//! `lua/prelude.lua` (key layout and shared helpers). Only [`super::redis`] runs them.

macro_rules! script {
    ($file:literal) => {
        concat!(
            include_str!("lua/prelude.lua"),
            include_str!(concat!("lua/", $file))
        )
    };
}

/// Claim the idempotency key, enqueue, index, PUBLISH the doorbell: one round trip.
pub const SUBMIT: &str = script!("submit.lua");
/// Undo a submit the intake could not confirm; release its idempotency key.
pub const WITHDRAW: &str = script!("withdraw.lua");
/// Housekeeping (due retries, expired leases) then take one job under a lease.
pub const CLAIM: &str = script!("claim.lua");
/// Extend a lease the token still owns; report a cancel request.
pub const HEARTBEAT: &str = script!("heartbeat.lua");
/// Release the lease and index the final status.
pub const FINISH: &str = script!("finish.lua");
/// Release the lease and queue the job again at a due time.
pub const RETRY: &str = script!("retry.lua");
/// Cancel a queued job or request cancellation of a running one.
pub const CANCEL: &str = script!("cancel.lua");
/// Counts for `GET /stats`.
pub const STATS: &str = script!("stats.lua");
/// Ids finished before a cutoff (retention).
pub const SWEEP: &str = script!("sweep.lua");
/// Remove ids from the queue and every index.
pub const FORGET: &str = script!("forget.lua");
/// A page of ids, newest first.
pub const LIST: &str = script!("list.lua");
/// Ring the doorbell unless it was rung within a window.
pub const RING: &str = script!("ring.lua");

/// Every script with its name, for tests that check they all load.
pub const ALL: [(&str, &str); 12] = [
    ("submit", SUBMIT),
    ("withdraw", WITHDRAW),
    ("claim", CLAIM),
    ("heartbeat", HEARTBEAT),
    ("finish", FINISH),
    ("retry", RETRY),
    ("cancel", CANCEL),
    ("stats", STATS),
    ("sweep", SWEEP),
    ("forget", FORGET),
    ("list", LIST),
    ("ring", RING),
];

//! Operations endpoints: `GET /stats` (from the queue's indexes and counters, one round
//! trip; rings the doorbell when work waits) and `GET /healthz` (both backends answer).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::Context;
use super::error::{HealthError, StoreError};
use crate::job::Timestamp;
use crate::queue::{MinuteCounts, QueueStats};

/// The body of `GET /stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Stats {
    /// Jobs per status (every status present, finished jobs until retention removes them).
    pub counts: BTreeMap<&'static str, u64>,
    /// Jobs a worker could claim right now (ready, plus delayed jobs already due).
    pub queue_depth: u64,
    /// Jobs waiting for a later time (a `delay_ms`, or backoff before a retry).
    pub delayed: u64,
    /// Age of the longest-waiting claimable job, in ms; `null` when none waits.
    pub oldest_queued_age_ms: Option<u64>,
    /// Retries scheduled since the queue began.
    pub retries: u64,
    /// Jobs that ended failed (a permanent error, or attempts used up).
    pub dead: u64,
    /// Running jobs whose worker stopped answering (picked up by the next claim).
    pub leases_expired: u64,
    /// Webhook deliveries on their way, and given up on.
    pub webhooks: WebhookCounts,
    /// Jobs submitted and finished per minute over the last ten minutes, oldest first,
    /// the current (partial) minute last. Counted from the jobs still kept, so minutes
    /// older than the retention period read low.
    pub throughput: Vec<Minute>,
}

/// One minute of `GET /stats`' `throughput`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Minute {
    /// When the minute began (a whole minute, UTC).
    pub start: Timestamp,
    /// Jobs created in the minute.
    pub submitted: u64,
    /// Jobs that finished in the minute: succeeded, failed or cancelled.
    pub finished: u64,
}

impl From<&MinuteCounts> for Minute {
    fn from(m: &MinuteCounts) -> Minute {
        Minute {
            start: Timestamp::from_ms(m.start_ms),
            submitted: m.submitted,
            finished: m.finished,
        }
    }
}

/// `GET /stats`' `webhooks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct WebhookCounts {
    pub pending: u64,
    pub failed: u64,
}

impl Stats {
    fn from_queue(q: &QueueStats, now: u64) -> Stats {
        let ready_age = q.oldest_ready.map(|id| now.saturating_sub(id.created_ms()));
        let due_age = q.oldest_due_ms.map(|at| now.saturating_sub(at));
        let oldest = match (ready_age, due_age) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Stats {
            counts: q.by_status.iter().map(|(s, n)| (s.as_str(), *n)).collect(),
            queue_depth: q.ready + q.delayed_due,
            delayed: q.delayed - q.delayed_due.min(q.delayed),
            oldest_queued_age_ms: oldest,
            retries: q.retries,
            webhooks: WebhookCounts {
                pending: q.hooks_pending,
                failed: q.hooks_failed,
            },
            dead: q.dead,
            leases_expired: q.leases_expired,
            throughput: q.throughput.iter().map(Minute::from).collect(),
        }
    }
}

/// `GET /stats`.
pub fn stats(ctx: &Context<'_>) -> Result<Stats, HealthError> {
    let now = ctx.now();
    let q = ctx
        .queue
        .stats(&ctx.tenant, now)
        .map_err(StoreError::from)?;
    if q.work_waiting() {
        ctx.ring_again("stats");
    }
    Ok(Stats::from_queue(&q, now))
}

/// `GET /me`: the tenant an API key acts as, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Me {
    pub tenant: String,
    pub role: crate::tenancy::Role,
}

/// The body of a healthy `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Health {
    #[schemars(extend("const" = "ok"))]
    pub status: &'static str,
    #[schemars(extend("const" = "ok"))]
    pub kv: &'static str,
    #[schemars(extend("const" = "ok"))]
    pub redis: &'static str,
}

/// A key read by the health check; it never exists, reading it proves the store answers.
const HEALTH_PROBE_KEY: &str = "healthz";

/// `GET /healthz`: `Ok` when the key-value store and Redis both answer.
pub fn health(ctx: &Context<'_>) -> Result<Health, HealthError> {
    // Redis first, so that the answer says which is down (the store is asked only while
    // Redis answers: `liveness`).
    ctx.queue.ping().map_err(StoreError::from)?;
    ctx.kv.get(HEALTH_PROBE_KEY).map_err(StoreError::from)?;
    Ok(Health {
        status: "ok",
        kv: "ok",
        redis: "ok",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::World;
    use serde_json::json;

    #[test]
    fn stats_count_jobs_and_ring_when_work_waits() {
        let w = World::new();
        let start = crate::ports::Clock::now_ms(&w.clock);
        let ready = w.submit(json!({"kind": "echo", "input": {}}));
        w.submit(json!({"kind": "echo", "input": {}, "delay_ms": 60000}));
        w.clock.advance(1500);
        let s = stats(&w.ctx()).unwrap();
        assert_eq!(s.counts["queued"], 2);
        assert_eq!(s.counts["succeeded"], 0);
        assert_eq!(s.queue_depth, 1);
        assert_eq!(s.delayed, 1);
        // The age is the ready job's, counted from its id's time, which the system clock
        // gave: a millisecond or so after the test clock started, on a busy machine.
        let skew = ready.created_ms().saturating_sub(start);
        let age = s.oldest_queued_age_ms.unwrap();
        assert_eq!(age, 1500u64.saturating_sub(skew), "skew {skew}");
        assert_eq!(
            w.queue.published().len(),
            2,
            "the first submit rings (the second finds the doorbell armed), and stats ring"
        );
        // Ids take their time from the system clock: both were made within ten minutes.
        assert_eq!(s.throughput.len(), 10);
        let submitted: u64 = s.throughput.iter().map(|m| m.submitted).sum();
        assert_eq!(submitted, 2);
        assert!(s.throughput.iter().all(|m| m.finished == 0));
        let starts: Vec<u64> = s.throughput.iter().map(|m| m.start.as_ms()).collect();
        assert!(
            starts.windows(2).all(|w| w[1] == w[0] + 60_000),
            "{starts:?}"
        );
        let now = crate::ports::Clock::now_ms(&w.clock);
        assert!(
            starts[9] <= now && now < starts[9] + 60_000,
            "the current minute last"
        );
    }

    #[test]
    fn health_needs_both_backends() {
        let w = World::new();
        assert!(health(&w.ctx()).is_ok());
        w.queue.set_down(true);
        assert!(health(&w.ctx()).is_err());
        w.queue.set_down(false);
        w.kv.set_down(true);
        assert!(health(&w.ctx()).is_err());
    }
}

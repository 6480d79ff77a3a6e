//! What the worker's tests share: kinds that stall or look around while they run, as
//! another worker would see the store, and small helpers.

use std::time::Duration;

use serde_json::json;

use crate::codec;
use crate::job::{ErrorInfo, JobId, Status, Timestamp};
use crate::keys;
use crate::kind::{RunContext, Running};
use crate::queue::Claim;
use crate::service::testing::World;

/// A kind that works for `ms` of (manual) clock time without a heartbeat, then
/// optionally lets another worker take its job, as if its lease had expired unseen, and
/// optionally has a client ask to cancel the job `cancel` names.
pub(super) struct Stall {
    pub(super) clock: crate::memory::ManualClock,
    pub(super) queue: crate::memory::MemoryQueue,
    pub(super) ms: u64,
    pub(super) thief: bool,
    pub(super) cancel: std::sync::Arc<std::sync::Mutex<Option<JobId>>>,
}

impl crate::kind::Kind for Stall {
    fn name(&self) -> &'static str {
        "stall"
    }
    fn validate(&self, _: &serde_json::Value) -> Result<(), crate::kind::InvalidInput> {
        Ok(())
    }
    fn run<'a>(&'a self, _: &'a serde_json::Value, ctx: &'a mut dyn RunContext) -> Running<'a> {
        Box::pin(async move {
            use crate::ports::Clock;
            use crate::queue::Queue;
            self.clock.advance(self.ms);
            if self.thief {
                let now = self.clock.now_ms();
                let claim = self.queue.claim(now, now + 30_000, "thief", 1).unwrap();
                assert!(
                    matches!(claim, Claim::Claimed { jobs, .. } if Some(jobs[0].id) == ctx.job_id())
                );
            }
            if let Some(id) = *self.cancel.lock().unwrap() {
                let tenant = crate::job::Tenant::default_tenant();
                let now = self.clock.now_ms();
                let asked = self.queue.cancel(&tenant, &id, now, false).unwrap();
                assert_eq!(asked, crate::queue::CancelOutcome::Requested);
            }
            Ok(crate::kind::Output::json(&json!({"done": true})))
        })
    }
}

/// A slow kind that heartbeats (through `sleep`) for two leases, then, as another
/// worker would, claims whatever it can and checks what the store shows meanwhile.
pub(super) struct SlowThenLook {
    pub(super) clock: crate::memory::ManualClock,
    pub(super) queue: crate::memory::MemoryQueue,
    pub(super) kv: crate::memory::MemoryKv,
    pub(super) seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl crate::kind::Kind for SlowThenLook {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn validate(&self, _: &serde_json::Value) -> Result<(), crate::kind::InvalidInput> {
        Ok(())
    }
    fn run<'a>(&'a self, _: &'a serde_json::Value, ctx: &'a mut dyn RunContext) -> Running<'a> {
        Box::pin(async move {
            use crate::ports::{Clock, KeyValue};
            use crate::queue::Queue;
            ctx.sleep(Duration::from_millis(2 * w_lease())).await;
            let now = self.clock.now_ms();
            let mut seen = self.seen.lock().unwrap();
            match self.queue.claim(now, now + 30_000, "thief", 32).unwrap() {
                Claim::Claimed { jobs, .. } => seen.push(format!("thief took {}", jobs.len())),
                Claim::Empty { .. } => seen.push("thief took 0".into()),
            }
            for key in self.kv.keys() {
                let job = codec::decode_job(&self.kv.get(&key).unwrap().unwrap()).unwrap();
                seen.push(format!(
                    "{} {}",
                    job.input.value().unwrap()["n"],
                    job.status
                ));
            }
            Ok(crate::kind::Output::json(&json!({"done": true})))
        })
    }
}

pub(super) fn with_stall(ms: u64, thief: bool) -> World {
    let mut w = World::new();
    let kind = Stall {
        clock: w.clock.clone(),
        queue: w.queue.clone(),
        ms,
        thief,
        cancel: Default::default(),
    };
    w.registry.register(Box::new(kind));
    w
}

/// A kind that stalls past its lease without a heartbeat, while another worker takes
/// over every expired job of its batch and finishes the one named `victim` (its
/// record `succeeded`, written by that worker), as in issue "Trust", item 1.
pub(super) struct StallWhileAnotherWorkerFinishes {
    pub(super) clock: crate::memory::ManualClock,
    pub(super) queue: crate::memory::MemoryQueue,
    pub(super) kv: crate::memory::MemoryKv,
    pub(super) victim: std::sync::Arc<std::sync::Mutex<Option<JobId>>>,
}

impl crate::kind::Kind for StallWhileAnotherWorkerFinishes {
    fn name(&self) -> &'static str {
        "stall-then-other"
    }
    fn validate(&self, _: &serde_json::Value) -> Result<(), crate::kind::InvalidInput> {
        Ok(())
    }
    fn run<'a>(&'a self, _: &'a serde_json::Value, _: &'a mut dyn RunContext) -> Running<'a> {
        Box::pin(async move {
            use crate::ports::{Clock, KeyValue};
            use crate::queue::Queue;
            self.clock.advance(w_lease() + 1);
            let now = self.clock.now_ms();
            let claim = self.queue.claim(now, now + 30_000, "other", 32).unwrap();
            let victim = self.victim.lock().unwrap().unwrap();
            assert!(
                matches!(&claim, Claim::Claimed { jobs, .. } if jobs.iter().any(|j| j.id == victim)),
                "{claim:?}"
            );
            let tenant = crate::job::Tenant::default_tenant();
            let key = keys::job(&tenant, &victim);
            let tenant = tenant.clone();
            let mut job = codec::decode_job(&self.kv.get(&key).unwrap().unwrap()).unwrap();
            // As the other worker's claim does with a job whose lease expired.
            job.retry(ErrorInfo::lease_expired()).unwrap();
            job.start(Timestamp::from_ms(now)).unwrap();
            job.succeed(Timestamp::from_ms(now)).unwrap();
            self.kv.set(&key, &codec::encode_job(&job)).unwrap();
            let finish = crate::queue::Finish {
                tenant,
                id: victim,
                token: "other".into(),
                status: Status::Succeeded,
                dead: false,
                hook: false,
                record: None,
            };
            let (owned, _) = self
                .queue
                .finish_and_claim(&[finish], now, now, "", 0)
                .unwrap();
            assert_eq!(owned, [crate::queue::Ownership::Owned]);
            Ok(crate::kind::Output::json(&json!({"done": true})))
        })
    }
}

/// A computing kind that works for `ms` of (manual) clock time without a heartbeat, then
/// claims what it can as another worker would, and notes what it took.
pub(super) struct ComputeThenSteal {
    pub(super) clock: crate::memory::ManualClock,
    pub(super) queue: crate::memory::MemoryQueue,
    pub(super) ms: u64,
    pub(super) taken: std::sync::Arc<std::sync::Mutex<Vec<JobId>>>,
}

impl crate::kind::Kind for ComputeThenSteal {
    fn name(&self) -> &'static str {
        "compute"
    }
    fn validate(&self, _: &serde_json::Value) -> Result<(), crate::kind::InvalidInput> {
        Ok(())
    }
    fn run<'a>(&'a self, _: &'a serde_json::Value, _: &'a mut dyn RunContext) -> Running<'a> {
        Box::pin(async move {
            use crate::ports::Clock;
            use crate::queue::Queue;
            self.clock.advance(self.ms);
            let now = self.clock.now_ms();
            if let Claim::Claimed { jobs, .. } =
                self.queue.claim(now, now + 30_000, "thief", 32).unwrap()
            {
                self.taken.lock().unwrap().extend(jobs.iter().map(|j| j.id));
            }
            Ok(crate::kind::Output::json(&json!({"done": true})))
        })
    }
}

pub(super) fn w_lease() -> u64 {
    crate::config::Settings::default().lease_ms
}

/// When `id` finished, in ms after `start`.
pub(super) fn finished_after(w: &World, id: &JobId, start: u64) -> u64 {
    w.job(id).finished_at.expect("finished").as_ms() - start
}

//! More than one runtime process on one app: extra processes that run one component
//! each (`--component-id`) on the same Redis, manifest, runtime config and variables as
//! the [`TestApp`]; the test's view of that Redis (key counts, the doorbell, the
//! counters of the test-only `count` kind); and many requests at once.
//!
//! A typical fleet: `spawn_app_with_spec` with `component_ids: ["intake"]`, then
//! [`TestApp::start_worker`] as often as the test needs workers. The test owns the
//! worker processes ([`App`]s), so it can kill and restart them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use testkit::App;

use crate::app::{TestApp, check_receipt};
use crate::resource::Job;

/// How long a freshly started worker gets to subscribe to the doorbell channel.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(60);
/// Client threads for [`TestApp::submit_many`] and [`TestApp::jobs_many`]: enough to
/// keep a runtime busy, few enough for a 2-core machine.
pub const CLIENT_THREADS: usize = 8;
/// The tenant's prefix of the Redis keys the test reads (the `count` kind's counters).
const TENANT_PREFIX: &str = "aj:{default}:";

impl TestApp {
    /// Starts another runtime process running only `component` (`--component-id`) of
    /// the same app, and waits for its readiness line.
    pub fn start_component(&self, component: &str) -> App {
        let mut options = self.options.clone();
        options.component_ids = vec![component.to_owned()];
        if component == "worker" {
            options = options.without_http();
        }
        App::start(options)
            .unwrap_or_else(|e| panic!("the {component} process did not start: {e:#}"))
    }

    /// Starts a worker process and waits until it has subscribed to the doorbell
    /// channel (one subscriber more than before: pub/sub drops what is published
    /// before that).
    pub fn start_worker(&self) -> App {
        let before = self.subscribers();
        let worker = self.start_component("worker");
        self.wait_for_subscribers(before + 1, SUBSCRIBE_TIMEOUT);
        worker
    }

    /// How many clients are subscribed to the doorbell channel (one per worker process).
    pub fn subscribers(&self) -> u64 {
        self.stack.redis.subscribers(&self.channel)
    }

    /// Waits until exactly `n` clients are subscribed to the doorbell channel (after a
    /// kill, until Redis has noticed the dead connection).
    pub fn wait_for_subscribers(&self, n: u64, timeout: Duration) {
        self.stack
            .redis
            .wait_for_subscribers(&self.channel, n, timeout);
    }

    /// Rings the doorbell from outside, as any submit would: every subscribed worker
    /// drains once.
    pub fn ring(&self) {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg("test")
            .query(&mut self.stack.redis.connection())
            .expect("PUBLISH on the test's Redis");
    }

    /// How many doorbells have been rung on the test's Redis so far: the `PUBLISH`
    /// commands it served (`INFO commandstats`), scripts' included.
    pub fn doorbells_rung(&self) -> u64 {
        self.stack
            .redis
            .command_calls()
            .get("publish")
            .copied()
            .unwrap_or(0)
    }

    /// How many keys the test's Redis holds (the queue and, through the runtime
    /// config, the key-value store): `DBSIZE`.
    pub fn redis_key_count(&self) -> u64 {
        redis::cmd("DBSIZE")
            .query(&mut self.stack.redis.connection())
            .expect("DBSIZE on the test's Redis")
    }

    /// Submits every body from [`CLIENT_THREADS`] threads at once and returns the
    /// accepted jobs in the order of `bodies`. Panics on any answer but `202`.
    pub fn submit_many(&self, bodies: &[Value]) -> Vec<Job> {
        self.on_threads(bodies, |app, body| check_receipt(&app.submit(body)))
    }

    /// `GET /jobs/{id}` of every id, from [`CLIENT_THREADS`] threads at once.
    pub fn jobs_many(&self, ids: &[String]) -> Vec<Job> {
        self.on_threads(ids, |app, id| app.job(id))
    }

    /// Runs `f` on every item from [`CLIENT_THREADS`] threads; results in item order.
    fn on_threads<T: Sync, R: Send>(
        &self,
        items: &[T],
        f: impl Fn(&Self, &T) -> R + Sync,
    ) -> Vec<R> {
        let chunk = items.len().div_ceil(CLIENT_THREADS).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = items
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(|| part.iter().map(|item| f(self, item)).collect::<Vec<R>>())
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }

    /// The status index of job `id`, read from Redis (`s:{status}`), not through the
    /// API: for tests where nobody may poll, since a poll of a late job rings the
    /// doorbell itself.
    pub fn indexed_status(&self, id: &str) -> Option<String> {
        let mut con = self.stack.redis.connection();
        ["queued", "running", "succeeded", "failed", "cancelled"]
            .into_iter()
            .find(|status| {
                let score: Option<f64> = redis::cmd("ZSCORE")
                    .arg(format!("{TENANT_PREFIX}s:{status}"))
                    .arg(id)
                    .query(&mut con)
                    .expect("ZSCORE on the test's Redis");
                score.is_some()
            })
            .map(str::to_owned)
    }

    /// Counts per status from `GET /stats` (`counts.{status}`), 0 when absent.
    #[track_caller]
    pub fn status_counts(&self) -> BTreeMap<String, u64> {
        let stats = self.stats_json();
        stats
            .get("counts")
            .and_then(Value::as_object)
            .map(|counts| {
                counts
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    }

    // ----- the test-only `count` kind (enable_test_kinds = true) -----

    /// Executions of every `count` job together (its counter `total`).
    pub fn total_executions(&self) -> u64 {
        let total: Option<u64> = redis::cmd("GET")
            .arg(format!("{TENANT_PREFIX}count:total"))
            .query(&mut self.stack.redis.connection())
            .expect("GET the total counter");
        total.unwrap_or(0)
    }

    /// Executions of each of the `count` jobs `ids` (their counters `job:{id}`), in
    /// order; 0 for a job never executed.
    pub fn executions(&self, ids: &[String]) -> Vec<u64> {
        let mut con = self.stack.redis.connection();
        let mut out = Vec::with_capacity(ids.len());
        for part in ids.chunks(500) {
            let keys: Vec<String> = part
                .iter()
                .map(|id| format!("{TENANT_PREFIX}count:job:{id}"))
                .collect();
            let counts: Vec<Option<u64>> = redis::cmd("MGET")
                .arg(&keys)
                .query(&mut con)
                .expect("MGET the job counters");
            out.extend(counts.into_iter().map(Option::unwrap_or_default));
        }
        out
    }
}

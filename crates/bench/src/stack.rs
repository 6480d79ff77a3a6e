//! The system under test: one throwaway redis-server for the whole benchmark (the
//! queue, the indexes, the doorbell and the key-value store, through a runtime config)
//! and runtime processes started from `bench/spin.toml` with `--component-id`, through
//! testkit, so intake and workers can run as separate processes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use jobs_core::job::Tenant;
use jobs_core::keys;
use jobs_core::tenancy::ApiKey;
use testkit::App;

/// The doorbell channel (`queue_channel`'s default in the manifest).
pub const CHANNEL: &str = "jobs";
/// The second tenant of the fairness scenario.
pub const OTHER_TENANT: &str = "bench-b";
/// How long a worker process gets to subscribe.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Redis plus what every runtime process needs to share it.
pub struct Stack {
    stack: testkit::Stack,
    /// The API key of the benchmark's tenant (`default`), written into Redis at start
    /// and after every flush; every request carries it (`http::AUTHORIZATION`).
    api_key: ApiKey,
    /// The key of a second tenant, [`OTHER_TENANT`], for the fairness scenario.
    other_key: ApiKey,
    manifest: PathBuf,
    bin: Option<PathBuf>,
    worker_nice: i32,
}

/// The app-wide quota of queued jobs per tenant in the bench: far above what any row
/// queues.
pub const BENCH_MAX_QUEUED_JOBS: u64 = 100_000_000;

/// A runtime process serving HTTP.
pub struct HttpApp {
    pub app: App,
    pub addr: SocketAddr,
}

impl Stack {
    /// Starts redis-server and writes the runtime config that puts the key-value
    /// store on it.
    pub fn start(
        manifest: PathBuf,
        bin: Option<PathBuf>,
        worker_nice: i32,
    ) -> anyhow::Result<Stack> {
        let stack = std::panic::catch_unwind(testkit::Stack::start)
            .map_err(|p| anyhow::anyhow!("redis-server did not start: {}", panic_text(&p)))?;
        let api_key = ApiKey::generate()?;
        let other_key = ApiKey::generate()?;
        let _ = crate::http::AUTHORIZATION.set(format!("Bearer {}", api_key.reveal()));
        let stack = Stack {
            stack,
            api_key,
            other_key,
            manifest,
            bin,
            worker_nice,
        };
        stack.seed()?;
        Ok(stack)
    }

    /// Writes the tenants `default` and [`OTHER_TENANT`] and their API keys, as the admin
    /// API would.
    fn seed(&self) -> anyhow::Result<()> {
        let other = Tenant::parse(OTHER_TENANT)?;
        let mut con = self.connection()?;
        for (tenant, key) in [
            (Tenant::default_tenant(), &self.api_key),
            (other, &self.other_key),
        ] {
            let _: () = redis::pipe()
                .hset(keys::tenant_settings(&tenant), "created_ms", 1)
                .zadd(keys::tenants(), tenant.as_str(), 1)
                .hset_multiple(
                    keys::api_key(key.id()),
                    &[
                        ("tenant", tenant.as_str().to_owned()),
                        ("hash", key.hash()),
                        ("created_ms", "1".to_owned()),
                    ],
                )
                .zadd(keys::tenant_keys(&tenant), key.id(), 1)
                .query(&mut con)?;
        }
        Ok(())
    }

    /// `Authorization` of [`OTHER_TENANT`]'s requests.
    pub fn other_authorization(&self) -> String {
        format!("Bearer {}", self.other_key.reveal())
    }

    /// Starts the runtime with only `components`, and waits for its readiness line.
    pub fn process(&self, components: &[&str]) -> anyhow::Result<App> {
        self.process_with(components, &[])
    }

    /// [`Stack::process`] with more variables (`name`, `value`).
    pub fn process_with(
        &self,
        components: &[&str],
        variables: &[(&str, &str)],
    ) -> anyhow::Result<App> {
        // The worker alone has no HTTP trigger, and Spin refuses `--listen` then.
        let http = components.iter().any(|c| *c != "worker");
        let mut options = self.stack.app_options(self.manifest.clone());
        // The acknowledgement rows queue jobs with no worker running, more than the
        // default quota (100,000) on a fast day; a 429 there would measure the quota.
        options.variables.push((
            "max_queued_jobs".to_owned(),
            BENCH_MAX_QUEUED_JOBS.to_string(),
        ));
        options.variables.extend(
            variables
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        );
        if !http {
            options = options.without_http();
        }
        options.component_ids = components.iter().map(|c| (*c).to_owned()).collect();
        options.bin = self.bin.clone();
        App::start(options).with_context(|| format!("start the runtime with {components:?}"))
    }

    /// Starts an HTTP-serving process with `components` and reads its address.
    pub fn http(&self, components: &[&str]) -> anyhow::Result<HttpApp> {
        let app = self.process(components)?;
        if !app.has_http() {
            bail!("the runtime with {components:?} announced no HTTP listener");
        }
        let url = app.base_url().to_owned();
        let addr: SocketAddr = url
            .trim_start_matches("http://")
            .parse()
            .with_context(|| format!("the runtime's address {url:?}"))?;
        Ok(HttpApp { app, addr })
    }

    /// Starts one more worker process and waits until the doorbell channel has
    /// `expected` subscribers in all. A `background` worker runs at the stack's worker
    /// nice value (`--worker-nice`).
    pub fn worker(&self, expected: usize, background: bool) -> anyhow::Result<App> {
        let app = self.worker_with(expected, &[])?;
        if background && self.worker_nice != 0 {
            renice(app.pid(), self.worker_nice)?;
        }
        Ok(app)
    }

    /// One more worker process with more variables, as [`Stack::worker`] (in front).
    pub fn worker_with(&self, expected: usize, variables: &[(&str, &str)]) -> anyhow::Result<App> {
        let app = self.process_with(&["worker"], variables)?;
        let subscribed = std::panic::catch_unwind(|| {
            self.stack
                .redis
                .wait_for_subscribers(CHANNEL, expected as u64, SUBSCRIBE_TIMEOUT)
        });
        match subscribed {
            Ok(()) => Ok(app),
            Err(p) => bail!("{}; output:\n{}", panic_text(&p), app.logs()),
        }
    }

    /// Empties Redis (jobs, queue, key-value) between scenario steps, so each starts
    /// from nothing and memory stays bounded.
    pub fn flush(&self) -> anyhow::Result<()> {
        let mut con = self.connection()?;
        let _: () = redis::cmd("FLUSHALL").query(&mut con)?;
        self.seed()
    }

    /// The stack's Redis (for its command statistics).
    pub fn redis(&self) -> &testkit::RedisServer {
        &self.stack.redis
    }

    /// The redis-server's pid, for CPU accounting.
    pub fn redis_pid(&self) -> Option<i32> {
        crate::cpu::redis_pid(self.stack.redis.port())
    }

    /// The parties whose CPU time a run accounts: the given runtime processes (by
    /// process group), redis-server and this load generator.
    pub fn parties(&self, runtimes: &[(&str, &App)]) -> Vec<(String, crate::cpu::Who)> {
        use crate::cpu::Who;
        let mut parties: Vec<(String, Who)> = runtimes
            .iter()
            .map(|(name, app)| ((*name).to_owned(), Who::Group(app.pid())))
            .collect();
        if let Some(pid) = self.redis_pid() {
            parties.push(("redis".to_owned(), Who::Pid(pid)));
        }
        parties.push(("client".to_owned(), Who::Me));
        parties
    }

    fn connection(&self) -> anyhow::Result<redis::Connection> {
        self.stack
            .redis
            .client()
            .get_connection_with_timeout(Duration::from_secs(5))
            .with_context(|| format!("connect to {}", self.stack.redis.url()))
    }
}

/// The message of a caught panic.
pub fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".to_owned())
}

/// Sets the nice value of every thread of `pid` (Linux nice is per thread; threads
/// started later inherit it from the thread that starts them).
fn renice(pid: i32, nice: i32) -> anyhow::Result<()> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("list the threads of process {pid}"))?;
    for task in tasks {
        let tid: libc::id_t = task?
            .file_name()
            .to_string_lossy()
            .parse()
            .context("a thread id under /proc")?;
        // SAFETY: setpriority only reads its integer arguments.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("set the nice value of thread {tid} to {nice}"));
        }
    }
    Ok(())
}

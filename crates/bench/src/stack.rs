//! The system under test: one throwaway redis-server for the whole benchmark (the
//! queue, the indexes, the doorbell and the key-value store, through a runtime config)
//! and runtime processes started from `bench/spin.toml` with `--component-id`, through
//! testkit, so intake and workers can run as separate processes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;
use testkit::{App, AppOptions, RedisServer};

/// The doorbell channel (`queue_channel`'s default in the manifest).
pub const CHANNEL: &str = "jobs";
/// How long a worker process gets to subscribe.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Redis plus what every runtime process needs to share it.
pub struct Stack {
    redis: RedisServer,
    manifest: PathBuf,
    runtime_config: PathBuf,
    bin: Option<PathBuf>,
    worker_nice: i32,
    _dir: TempDir,
}

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
        let redis = std::panic::catch_unwind(RedisServer::start)
            .map_err(|p| anyhow::anyhow!("redis-server did not start: {}", panic_text(&p)))?;
        let dir = tempfile::Builder::new()
            .prefix("bench-")
            .tempdir()
            .context("create a temporary directory for the runtime config")?;
        let runtime_config = dir.path().join("runtime-config.toml");
        std::fs::write(
            &runtime_config,
            format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                redis.url()
            ),
        )
        .context("write the runtime config")?;
        Ok(Stack {
            redis,
            manifest,
            runtime_config,
            bin,
            worker_nice,
            _dir: dir,
        })
    }

    /// Starts the runtime with only `components`, and waits for its readiness line.
    pub fn process(&self, components: &[&str]) -> anyhow::Result<App> {
        // The worker alone has no HTTP trigger, and Spin refuses `--listen` then.
        let http = components.iter().any(|c| *c != "worker");
        App::start(AppOptions {
            manifest: self.manifest.clone(),
            listen: http.then(|| testkit::app::ANY_PORT.to_owned()),
            runtime_config: Some(self.runtime_config.clone()),
            variables: vec![("redis_address".to_owned(), self.redis.url())],
            component_ids: components.iter().map(|c| (*c).to_owned()).collect(),
            bin: self.bin.clone(),
        })
        .with_context(|| format!("start the runtime with {components:?}"))
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
        let app = self.process(&["worker"])?;
        if background && self.worker_nice != 0 {
            renice(app.pid(), self.worker_nice)?;
        }
        let deadline = Instant::now() + SUBSCRIBE_TIMEOUT;
        loop {
            let n = self.subscribers()?;
            if n >= expected {
                return Ok(app);
            }
            if Instant::now() >= deadline {
                bail!(
                    "{n} of {expected} workers subscribed to {CHANNEL:?} within {SUBSCRIBE_TIMEOUT:?}; output:\n{}",
                    app.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many clients are subscribed to the doorbell channel.
    pub fn subscribers(&self) -> anyhow::Result<usize> {
        let mut con = self.connection()?;
        let counts: Vec<(String, usize)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(CHANNEL)
            .query(&mut con)?;
        Ok(counts.first().map_or(0, |(_, n)| *n))
    }

    /// Empties Redis (jobs, queue, key-value) between scenario steps, so each starts
    /// from nothing and memory stays bounded.
    pub fn flush(&self) -> anyhow::Result<()> {
        let mut con = self.connection()?;
        let _: () = redis::cmd("FLUSHALL").query(&mut con)?;
        Ok(())
    }

    /// The redis-server's pid, for CPU accounting.
    pub fn redis_pid(&self) -> Option<i32> {
        crate::cpu::redis_pid(self.redis.port())
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
        self.redis
            .client()
            .get_connection_with_timeout(Duration::from_secs(5))
            .with_context(|| format!("connect to {}", self.redis.url()))
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

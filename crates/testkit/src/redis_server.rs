//! A throwaway `redis-server` per test: its own free port on 127.0.0.1 and its
//! own data directory, so tests never share keys, subscribers or persistence.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::wait::wait_until;

/// How long a fresh redis-server gets to answer `PING`.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How many ports to try when another process takes the free port first.
const PORT_ATTEMPTS: usize = 8;

/// How the server is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisOptions {
    /// Keep an append-only file in the data directory, so data survives
    /// [`RedisServer::stop`] + [`RedisServer::restart`]. Off: nothing persists.
    pub appendonly: bool,
}

/// A running `redis-server`, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    opts: RedisOptions,
    bin: PathBuf,
    /// Data directory (and log file); lives as long as the server value, so a
    /// restart finds its append-only file again.
    dir: TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server with no persistence and waits until it answers `PING`.
    pub fn start() -> RedisServer {
        RedisServer::start_with(RedisOptions::default())
    }

    /// Starts a server with `opts` and waits until it answers `PING`.
    pub fn start_with(opts: RedisOptions) -> RedisServer {
        let bin = find_redis_server();
        let dir = tempfile::Builder::new()
            .prefix("testkit-redis-")
            .tempdir()
            .expect("create a temporary directory for redis-server");
        let mut server = RedisServer {
            port: 0,
            opts,
            bin,
            dir,
            child: None,
        };
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port();
            match server.launch() {
                Ok(()) => return server,
                // Most likely another process bound the port between our
                // probe and redis-server's bind: try another one.
                Err(e) => last_error = e,
            }
        }
        panic!("could not start redis-server after {PORT_ATTEMPTS} attempts: {last_error}");
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's data directory (holds `redis.log` and any append-only file).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A client for this server (connections are opened lazily by the caller).
    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("a valid redis URL")
    }

    /// A synchronous connection, for arranging and inspecting test data.
    pub fn connection(&self) -> redis::Connection {
        self.client()
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to redis at {}: {e}", self.url()))
    }

    /// Stops the server at once (SIGKILL, then reaps it). Whatever redis had
    /// written to its append-only file stays there for [`RedisServer::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the server process is running (false after [`RedisServer::stop`]
    /// or if it died).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts the server again on the same port with the same data directory.
    /// Stops it first if it is still running.
    pub fn restart(&mut self) {
        self.stop();
        // The port was just ours; a clash here is a real failure, but give the
        // kernel a moment to release it by retrying within a deadline.
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.launch() {
                Ok(()) => return,
                Err(e) if Instant::now() >= deadline => {
                    panic!("could not restart redis-server on port {}: {e}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// How many clients are subscribed to `channel` (`PUBSUB NUMSUB`); 0 when the
    /// server does not answer.
    pub fn subscribers(&self, channel: &str) -> u64 {
        let counts: Option<Vec<(String, u64)>> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query(&mut self.connection())
            .ok();
        counts.and_then(|c| c.first().map(|(_, n)| *n)).unwrap_or(0)
    }

    /// Waits until exactly `n` clients are subscribed to `channel`: a runtime's Redis
    /// trigger is only ready once it has (pub/sub drops messages published before
    /// that), and after a kill Redis takes a moment to notice the dead connection.
    pub fn wait_for_subscribers(&self, channel: &str, n: u64, timeout: Duration) {
        wait_until(
            timeout,
            &format!("{n} subscriber(s) on channel {channel:?}"),
            || (self.subscribers(channel) == n).then_some(()),
        );
    }

    /// Waits until at least one client subscribes to `channel`.
    pub fn wait_for_subscriber(&self, channel: &str, timeout: Duration) {
        wait_until(
            timeout,
            &format!("a subscriber on channel {channel:?}"),
            || (self.subscribers(channel) > 0).then_some(()),
        );
    }

    /// Starts the server's command statistics afresh (`CONFIG RESETSTAT`).
    pub fn reset_command_stats(&self) {
        let () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut self.connection())
            .expect("CONFIG RESETSTAT");
    }

    /// How many times the server ran each command since its statistics were last reset
    /// (`INFO commandstats`), by lowercase name.
    pub fn command_calls(&self) -> std::collections::HashMap<String, u64> {
        self.command_stats()
            .into_iter()
            .map(|(name, (calls, _))| (name, calls))
            .collect()
    }

    /// Each command's calls and the microseconds the server spent in them since its
    /// statistics were last reset (`INFO commandstats`), by lowercase name. A script's
    /// time counts under `evalsha` and again under each command it ran.
    pub fn command_stats(&self) -> std::collections::HashMap<String, (u64, u64)> {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut self.connection())
            .expect("INFO commandstats");
        info.lines()
            .filter_map(|line| {
                let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let field = |key: &str| {
                    rest.split(',')
                        .find_map(|f| f.strip_prefix(key))?
                        .parse::<u64>()
                        .ok()
                };
                Some((name.to_owned(), (field("calls=")?, field("usec=")?)))
            })
            .collect()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// Spawns redis-server and waits for `PING`; on failure the child is reaped
    /// and the error carries its log.
    fn launch(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        let child = Command::new(&self.bin)
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .args(["--save", ""])
            .args([
                "--appendonly",
                if self.opts.appendonly { "yes" } else { "no" },
            ])
            .arg("--logfile")
            .arg(self.log_path())
            .args(["--daemonize", "no"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.bin.display()))?;
        self.child = Some(child);

        let client = self.client();
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!(
                    "redis-server on port {} exited with {status}; log:\n{}",
                    self.port,
                    self.log()
                ));
            }
            let pong = client
                .get_connection_with_timeout(Duration::from_millis(500))
                .and_then(|mut con| redis::cmd("PING").query::<String>(&mut con));
            if pong.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(format!(
                    "redis-server on port {} did not answer PING within {READY_TIMEOUT:?}; log:\n{}",
                    self.port,
                    self.log()
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago. Racy by nature; callers retry on a clash.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0 to find a free port")
        .port()
}

fn find_redis_server() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|candidate| candidate.is_file())
    });
    let fallback = PathBuf::from("/usr/bin/redis-server");
    match on_path {
        Some(bin) => bin,
        None if fallback.is_file() => fallback,
        None => panic!(
            "redis-server not found: run `make test` (it installs it) or apt-get install redis-server"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_server_answers_and_is_gone_after_stop() {
        let mut server = RedisServer::start();
        let mut con = server.connection();
        let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
        let got: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
        assert_eq!(got, "v");
        assert!(server.is_running());
        server.stop();
        assert!(!server.is_running());
        assert!(
            server
                .client()
                .get_connection_with_timeout(Duration::from_millis(200))
                .is_err()
        );
    }

    #[test]
    fn data_survives_a_restart_with_appendonly() {
        let mut server = RedisServer::start_with(RedisOptions { appendonly: true });
        let port = server.port();
        let _: () = redis::cmd("SET")
            .arg("kept")
            .arg("yes")
            .query(&mut server.connection())
            .unwrap();
        server.restart();
        assert_eq!(server.port(), port);
        let got: Option<String> = redis::cmd("GET")
            .arg("kept")
            .query(&mut server.connection())
            .unwrap();
        assert_eq!(got.as_deref(), Some("yes"));
    }

    #[test]
    fn data_is_gone_after_a_restart_without_persistence() {
        let mut server = RedisServer::start();
        let _: () = redis::cmd("SET")
            .arg("kept")
            .arg("yes")
            .query(&mut server.connection())
            .unwrap();
        server.restart();
        let got: Option<String> = redis::cmd("GET")
            .arg("kept")
            .query(&mut server.connection())
            .unwrap();
        assert_eq!(got, None);
    }
}

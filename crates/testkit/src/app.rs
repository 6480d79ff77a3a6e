//! The runtime under test (`devhost up`, or `spin up` via `SPIN_BIN`) as a child
//! process: started on port 0, ready when it prints its readiness line, its
//! output captured for assertions and for the report of a failing test.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::paths::runtime_bin;

/// How long the runtime gets to print its readiness line (compiling components
/// on a busy 2-core machine is slow).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`App::terminate`] waits for a graceful exit.
pub const TERMINATE_TIMEOUT: Duration = Duration::from_secs(30);

/// The readiness line of an app with an HTTP trigger; the address follows it.
const SERVING: &str = "Serving http://";
/// The readiness line of an app with only Redis triggers.
const LISTENING_REDIS: &str = "Listening for Redis messages";
/// What real Spin prints once its Redis trigger starts subscribing.
const SPIN_ACTIVE_CHANNELS: &str = "Active Channels on";

/// `--listen` on a free port of the loopback interface.
pub const ANY_PORT: &str = "127.0.0.1:0";

/// What to run: the arguments of `<bin> up`.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// The `spin.toml` to run (`-f`).
    pub manifest: PathBuf,
    /// `--listen`, for apps that run an HTTP trigger. `None` for an app (or a
    /// `--component-id` selection) with only Redis triggers: Spin refuses `--listen`
    /// there, as an argument it does not know.
    pub listen: Option<String>,
    /// `--runtime-config-file`, if any.
    pub runtime_config: Option<PathBuf>,
    /// `--variable NAME=VALUE`, in order.
    pub variables: Vec<(String, String)>,
    /// `--component-id ID`, in order; empty runs every component.
    pub component_ids: Vec<String>,
    /// The runtime binary; `None` means [`runtime_bin()`].
    pub bin: Option<PathBuf>,
}

impl AppOptions {
    /// Options that run `manifest` with its HTTP trigger on a free port (`--listen
    /// 127.0.0.1:0`) and everything else defaulted.
    pub fn new(manifest: impl Into<PathBuf>) -> AppOptions {
        AppOptions {
            manifest: manifest.into(),
            listen: Some(ANY_PORT.to_owned()),
            ..AppOptions::default()
        }
    }

    /// These options for an app that runs no HTTP trigger (no `--listen`).
    pub fn without_http(mut self) -> AppOptions {
        self.listen = None;
        self
    }
}

/// Environment changes for the child, on top of the test's own environment.
#[derive(Debug, Clone, Default)]
pub struct AppEnv {
    /// Variables to set, e.g. `SPIN_VARIABLE_GREETING`.
    pub set: Vec<(String, String)>,
    /// Variables to remove.
    pub remove: Vec<String>,
}

/// A running runtime, killed on drop (with its logs printed if the test is
/// failing).
#[derive(Debug)]
pub struct App {
    child: Option<Child>,
    pid: i32,
    base_url: OnceLock<String>,
    logs: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    exit: Option<ExitStatus>,
}

impl App {
    /// Starts the runtime and waits (up to [`READY_TIMEOUT`]) for its
    /// readiness line. Errs, with the runtime's output, if it exits or stays
    /// silent instead.
    pub fn start(opts: AppOptions) -> anyhow::Result<App> {
        App::start_with_env(opts, AppEnv::default())
    }

    /// [`App::start`] with environment changes for the child.
    pub fn start_with_env(opts: AppOptions, env: AppEnv) -> anyhow::Result<App> {
        let mut app = App::spawn_with_env(opts, env)?;
        app.wait_ready(READY_TIMEOUT)?;
        Ok(app)
    }

    /// Spawns the runtime without waiting for it to be ready: for tests that
    /// expect it to refuse to start (see [`App::wait_exit`]).
    pub fn spawn(opts: AppOptions) -> anyhow::Result<App> {
        App::spawn_with_env(opts, AppEnv::default())
    }

    /// [`App::spawn`] with environment changes for the child.
    pub fn spawn_with_env(opts: AppOptions, env: AppEnv) -> anyhow::Result<App> {
        use std::os::unix::process::CommandExt;

        let bin = opts.bin.clone().unwrap_or_else(runtime_bin);
        let mut cmd = Command::new(&bin);
        cmd.arg("up").arg("-f").arg(&opts.manifest);
        if let Some(listen) = &opts.listen {
            cmd.arg("--listen").arg(listen);
        }
        if let Some(rc) = &opts.runtime_config {
            cmd.arg("--runtime-config-file").arg(rc);
        }
        for (name, value) in &opts.variables {
            cmd.arg("--variable").arg(format!("{name}={value}"));
        }
        for id in &opts.component_ids {
            cmd.arg("--component-id").arg(id);
        }
        for name in &env.remove {
            cmd.env_remove(name);
        }
        for (name, value) in &env.set {
            cmd.env(name, value);
        }
        // Its own process group, so signals reach every process the runtime
        // starts (real `spin up` runs each trigger as a child process) and a
        // Ctrl-C in the test's terminal does not.
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("failed to spawn {}", bin.display()))?;
        let pid = i32::try_from(child.id()).context("child pid does not fit in i32")?;

        let logs = Arc::new(Mutex::new(String::new()));
        let echo = std::env::var_os("TESTKIT_ECHO").is_some();
        let readers = vec![
            capture(child.stdout.take().expect("piped stdout"), &logs, echo),
            capture(child.stderr.take().expect("piped stderr"), &logs, echo),
        ];
        Ok(App {
            child: Some(child),
            pid,
            base_url: OnceLock::new(),
            logs,
            readers,
            exit: None,
        })
    }

    /// Waits until the runtime prints its readiness line, and reads the HTTP
    /// address from it if it has one.
    pub fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            let logs = self.logs();
            if let Some(url) = serving_url(&logs)? {
                let _ = self.base_url.set(url);
                return Ok(());
            }
            if logs
                .lines()
                .any(|l| l.contains(LISTENING_REDIS) || l.starts_with(SPIN_ACTIVE_CHANNELS))
            {
                return Ok(());
            }
            if let Some(status) = self.try_wait() {
                self.join_readers();
                bail!(
                    "runtime exited with {status} before it was ready; output:\n{}",
                    self.logs()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "runtime printed no readiness line ({SERVING:?} or {LISTENING_REDIS:?}) \
                     within {timeout:?}; output:\n{logs}"
                );
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Whether the runtime has announced an HTTP listener.
    pub fn has_http(&self) -> bool {
        self.base_url.get().is_some() || matches!(serving_url(&self.logs()), Ok(Some(_)))
    }

    /// `http://127.0.0.1:PORT`. Panics if the app has no HTTP listener.
    ///
    /// Real Spin may announce its Redis trigger before its HTTP listener, so
    /// this waits a little for the address if it has not been seen yet.
    pub fn base_url(&self) -> &str {
        if let Some(url) = self.base_url.get() {
            return url;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(url)) = serving_url(&self.logs()) {
                return self.base_url.get_or_init(|| url);
            }
            if Instant::now() >= deadline {
                panic!(
                    "the app has no HTTP listener (no {SERVING:?} line); output:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `base_url() + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Everything the runtime printed so far, stdout and stderr interleaved by line.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The OS process id of the runtime (also its process group id).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The peak resident memory (`VmHWM`) of every process of the runtime's process
    /// group, summed, in bytes: what the runtime (real `spin up` runs its triggers as
    /// child processes) held at its most, so far.
    pub fn peak_rss_bytes(&self) -> u64 {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return 0;
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| process_group(*pid) == Some(self.pid))
            .filter_map(peak_rss_of)
            .sum()
    }

    /// Sends SIGTERM and waits up to [`TERMINATE_TIMEOUT`] for the exit.
    /// Panics (after killing it) if it does not exit in time.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        match self.wait_exit(TERMINATE_TIMEOUT) {
            Some(status) => status,
            None => {
                self.kill();
                panic!(
                    "runtime did not exit within {TERMINATE_TIMEOUT:?} after SIGTERM; output:\n{}",
                    self.logs()
                );
            }
        }
    }

    /// Sends `signal` to the runtime's process group.
    pub fn signal(&self, signal: i32) {
        if self.exit.is_none() {
            // SAFETY: kill(2) with a negative pid signals a process group we
            // created; it touches no memory of ours.
            unsafe {
                libc::kill(-self.pid, signal);
            }
        }
    }

    /// SIGKILL to the whole process group, then reaps it: a crash.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        if let Some(child) = self.child.as_mut()
            && let Ok(status) = child.wait()
        {
            self.exit = Some(status);
        }
        self.join_readers();
    }

    /// Waits up to `timeout` for the runtime to exit on its own; `None` if it
    /// is still running. Once it has exited, its output is complete in [`App::logs`].
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(status) = self.try_wait() {
                self.join_readers();
                return Some(status);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none()
            && let Some(child) = self.child.as_mut()
        {
            self.exit = child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Lets the output readers finish (they end at EOF), without hanging if a
    /// leftover grandchild still holds the pipes open.
    fn join_readers(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        for reader in std::mem::take(&mut self.readers) {
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if self.exit.is_none() {
            self.kill();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- runtime output (pid {}) -----\n{}----- end of runtime output -----",
                self.pid,
                self.logs()
            );
        }
    }
}

/// The process group of `pid`, from `/proc/PID/stat` (field 5, after the command name,
/// which may itself hold spaces and parentheses).
fn process_group(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(2)?.parse().ok()
}

/// `VmHWM` of `pid`, in bytes.
fn peak_rss_of(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The `http://ADDR` of the first readiness line in `logs`, if any.
fn serving_url(logs: &str) -> anyhow::Result<Option<String>> {
    let Some(line) = logs.lines().find(|l| l.contains(SERVING)) else {
        return Ok(None);
    };
    let at = line.find(SERVING).expect("line contains SERVING");
    let addr: String = line[at + SERVING.len()..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '/')
        .collect();
    if addr.is_empty() {
        bail!("readiness line without an address: {line:?}");
    }
    Ok(Some(format!("http://{addr}")))
}

/// Copies `stream` line by line into `logs` on its own thread.
fn capture(
    stream: impl Read + Send + 'static,
    logs: &Arc<Mutex<String>>,
    echo: bool,
) -> JoinHandle<()> {
    let logs = Arc::clone(logs);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let mut text = String::from_utf8_lossy(&line).into_owned();
                    if !text.ends_with('\n') {
                        text.push('\n');
                    }
                    if echo {
                        eprint!("{text}");
                    }
                    logs.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_str(&text);
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in runtime: a shell script, so these tests need no build.
    fn fake_runtime(dir: &std::path::Path, body: &str) -> PathBuf {
        let path = dir.join("fake-runtime");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// `App::start`, retried while the kernel says the fresh script is busy: another test
    /// thread may have forked while this one still held the script open for writing,
    /// and until that child execs, executing the script fails with ETXTBSY.
    fn start(bin: PathBuf) -> anyhow::Result<App> {
        crate::wait_until(
            Duration::from_secs(10),
            "the fake runtime to spawn",
            || match App::start(opts(bin.clone())) {
                Err(e) if format!("{e:#}").contains("Text file busy") => None,
                other => Some(other),
            },
        )
    }

    fn opts(bin: PathBuf) -> AppOptions {
        AppOptions {
            manifest: PathBuf::from("spin.toml"),
            listen: Some(ANY_PORT.to_owned()),
            runtime_config: None,
            variables: vec![("a".into(), "1".into())],
            component_ids: vec!["web".into()],
            bin: Some(bin),
        }
    }

    #[test]
    fn start_reads_the_address_from_the_readiness_line_and_terminate_returns_the_exit_status() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_runtime(
            dir.path(),
            "trap 'echo bye; exit 0' TERM\necho \"args: $*\" >&2\necho 'Serving http://127.0.0.1:4321'\nwhile :; do sleep 0.05; done",
        );
        let mut app = start(bin).unwrap();
        assert_eq!(app.base_url(), "http://127.0.0.1:4321");
        assert!(app.logs().contains(
            "args: up -f spin.toml --listen 127.0.0.1:0 --variable a=1 --component-id web"
        ));
        let status = app.terminate();
        assert!(status.success(), "{status}");
        assert!(app.logs().contains("bye"));
    }

    #[test]
    fn start_fails_with_the_output_when_the_runtime_exits_early() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_runtime(dir.path(), "echo 'bad manifest: unknown field' >&2\nexit 3");
        let err = start(bin).unwrap_err().to_string();
        assert!(err.contains("bad manifest: unknown field"), "{err}");
        assert!(err.contains("exit status: 3"), "{err}");
    }

    #[test]
    fn a_redis_only_app_is_ready_without_an_http_address() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_runtime(
            dir.path(),
            "echo 'Listening for Redis messages'\nexec sleep 30",
        );
        let mut app = start(bin).unwrap();
        app.kill();
        assert!(app.wait_exit(Duration::from_secs(1)).is_some());
    }
}

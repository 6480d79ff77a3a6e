//! Arrange helpers: a manifest written into a fresh directory, the running app
//! with one typed helper per fixture operation, and a stub HTTP server for
//! outbound requests. Assertions stay in the tests.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tempfile::TempDir;
use testkit::{App, AppOptions, app::AppEnv};

/// Time allowed for anything a test waits on after the app is ready.
pub const WAIT: Duration = Duration::from_secs(20);
/// How long [`TestApp::try_get`] waits for an answer that may never come.
pub const SHORT_WAIT: Duration = Duration::from_secs(3);

/// A manifest in its own directory, so its `.spin/` state is the test's alone.
pub struct AppDir {
    pub dir: TempDir,
    pub manifest: PathBuf,
    /// Whether the manifest has an HTTP trigger (else it runs without `--listen`,
    /// which Spin refuses for an app with only Redis triggers).
    http: bool,
}

impl AppDir {
    /// Writes `toml` as `spin.toml`, replacing `HTTP_WASM`, `HTTP_P3_WASM` and
    /// `REDIS_WASM` with the absolute paths of the built fixtures.
    pub fn new(toml: &str) -> AppDir {
        let dir = tempfile::Builder::new()
            .prefix("devhost-test-")
            .tempdir()
            .expect("create a temporary app directory");
        let manifest = dir.path().join("spin.toml");
        let mut text = toml.to_string();
        if text.contains("HTTP_WASM") {
            text = text.replace("HTTP_WASM", &toml_path(&testkit::wasm_path("fixture-http")));
        }
        if text.contains("HTTP_P3_WASM") {
            text = text.replace(
                "HTTP_P3_WASM",
                &toml_path(&testkit::wasm_path("fixture-http-p3")),
            );
        }
        if text.contains("REDIS_WASM") {
            text = text.replace(
                "REDIS_WASM",
                &toml_path(&testkit::wasm_path("fixture-redis")),
            );
        }
        std::fs::write(&manifest, &text).expect("write spin.toml");
        let http = text.contains("[[trigger.http]]");
        AppDir {
            dir,
            manifest,
            http,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes another file into the app directory (a runtime config, say).
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write file into the app directory");
        path
    }

    pub fn options(&self) -> AppOptions {
        let options = AppOptions::new(&self.manifest);
        if self.http {
            options
        } else {
            options.without_http()
        }
    }

    /// Starts the app with `opts` (built from [`AppDir::options`]).
    pub fn start(&self, opts: AppOptions) -> TestApp {
        self.start_with_env(opts, AppEnv::default())
    }

    pub fn start_with_env(&self, opts: AppOptions, env: AppEnv) -> TestApp {
        let app = App::start_with_env(opts, env).unwrap_or_else(|e| panic!("{e:#}"));
        TestApp::new(app)
    }

    /// Runs the app expecting it to refuse to start: returns its exit status
    /// and everything it printed.
    pub fn run_expecting_refusal(
        &self,
        opts: AppOptions,
        env: AppEnv,
    ) -> (std::process::ExitStatus, String) {
        let mut app = App::spawn_with_env(opts, env).expect("spawn the runtime");
        match app.wait_exit(Duration::from_secs(60)) {
            Some(status) => (status, app.logs()),
            None => panic!(
                "the runtime kept running; expected it to refuse to start. output:\n{}",
                app.logs()
            ),
        }
    }
}

/// A TOML basic string holding `path`.
pub fn toml_path(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

/// The running app plus an HTTP client that never turns a status into an error.
pub struct TestApp {
    pub app: App,
    agent: ureq::Agent,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {:?}", self.body))
    }

    /// The `spin-*` header `name` the fixture saw, from its describe answer.
    pub fn spin_header(&self, name: &str) -> Option<String> {
        self.json()["headers"][name].as_str().map(str::to_string)
    }
}

impl TestApp {
    pub fn new(app: App) -> TestApp {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        TestApp { app, agent }
    }

    pub fn get(&self, path_and_query: &str) -> Reply {
        let url = self.app.url(path_and_query);
        let response = self
            .agent
            .get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        read(response)
    }

    pub fn get_with_headers<V: AsRef<[u8]>>(
        &self,
        path_and_query: &str,
        headers: &[(&str, V)],
    ) -> Reply {
        let url = self.app.url(path_and_query);
        let mut request = self.agent.get(&url);
        for (name, value) in headers {
            request = request.header(*name, value.as_ref());
        }
        let response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
        read(response)
    }

    /// `GET`, with a transport failure (the runtime died, or gave no answer within
    /// [`SHORT_WAIT`]) as an `Err` instead of a panic.
    pub fn try_get(&self, path_and_query: &str) -> Result<Reply, String> {
        let url = self.app.url(path_and_query);
        self.agent
            .get(&url)
            .config()
            .timeout_global(Some(SHORT_WAIT))
            .build()
            .call()
            .map(read)
            .map_err(|e| format!("GET {url}: {e}"))
    }

    pub fn post(&self, path_and_query: &str, body: &str) -> Reply {
        let url = self.app.url(path_and_query);
        let response = self
            .agent
            .post(&url)
            .send(body)
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        read(response)
    }

    /// The fixture's describe answer for `path`: method, uri, `spin-*` headers.
    pub fn describe(&self, path: &str) -> Reply {
        let reply = self.get(path);
        assert_eq!(reply.status, 200, "GET {path}: {reply:?}");
        reply
    }

    pub fn kv_set(&self, store: &str, key: &str, value: &str) -> Reply {
        self.post(&format!("/?op=kv-set&store={store}&key={key}"), value)
    }

    pub fn kv_get(&self, store: &str, key: &str) -> Reply {
        self.get(&format!("/?op=kv-get&store={store}&key={key}"))
    }

    pub fn variable(&self, name: &str) -> Reply {
        self.get(&format!("/?op=var&name={name}"))
    }

    /// One outbound Redis command through the fixture; `query` carries its
    /// arguments (`key=..&value=..`).
    pub fn redis(&self, cmd: &str, query: &str) -> Reply {
        self.get(&format!("/?op=redis&cmd={cmd}&{query}"))
    }

    pub fn logs(&self) -> String {
        self.app.logs()
    }
}

fn read(mut response: ureq::http::Response<ureq::Body>) -> Reply {
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .expect("read the response body");
    Reply { status, body }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A stub HTTP server on 127.0.0.1 that answers every request with `200 hello`
/// and counts the connections it accepted.
pub struct StubServer {
    pub port: u16,
    connections: Arc<AtomicUsize>,
}

impl StubServer {
    pub fn start() -> StubServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stub server");
        let port = listener.local_addr().expect("stub address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        // The thread lives until the test binary exits; it holds nothing else.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
                );
            }
        });
        StubServer { port, connections }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

//! The app under test: its own Redis, its own runtime process, and one typed helper per
//! endpoint of the HTTP contract (README, "API (v1)").

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use testkit::{App, AppOptions, RedisOptions, Stack, StackOptions, wait_until_seen};

use crate::reply::Reply;
use crate::resource::{Job, Page, Snapshot, without_clock_members};

/// The channel the worker subscribes to unless a test sets `queue_channel`
/// (the default in `spin.toml`).
const DEFAULT_QUEUE_CHANNEL: &str = "jobs";
/// How long the worker's Redis trigger gets to subscribe after the HTTP side is up.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest any single HTTP exchange may take before the test fails.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest body a test reads (a result is at most what the key-value store holds).
const BODY_LIMIT: u64 = 64 * 1024 * 1024;
/// The admin token of a test's app unless the test sets `admin_token` itself.
pub const TEST_ADMIN_TOKEN: &str = "test-admin-token";
/// The tenant a test's requests act as, with a key made for it at start.
pub const TEST_TENANT: &str = "default";

/// Keys expiring sooner than this are throttles and caches, not stored state.
const SHORT_LIVED: Duration = Duration::from_secs(3600);

/// How to run the app for one test.
#[derive(Debug, Clone, Default)]
pub struct AppSpec {
    /// `--variable NAME=VALUE` on top of `redis_address`, which always names the
    /// test's own Redis.
    pub variables: Vec<(String, String)>,
    /// Give Redis an append-only file, so its data survives `stop()` + `restart()`.
    pub appendonly: bool,
    /// Run only these components (`--component-id`); empty runs intake and worker.
    pub component_ids: Vec<String>,
    /// The manifest, relative to the repository; `None` is the app's `spin.toml`.
    pub manifest: Option<&'static str>,
    /// Where the key-value store lives.
    pub store: Store,
    /// `max_instance_memory` in the runtime config: how far one instance's memory may
    /// grow, in bytes (a hosted Spin platform gives 128 MiB).
    pub max_instance_memory: Option<usize>,
    /// `[outbound_networking] block_networks` in the runtime config.
    pub block_networks: &'static [&'static str],
}

/// The key-value store of a test's app, chosen by the runtime config file.
pub use testkit::KvStore as Store;

/// Starts the app (intake and worker) with `spin.toml`'s defaults.
pub fn spawn_app() -> TestApp {
    spawn_app_with_spec(AppSpec::default())
}

/// Starts the app (intake and worker) with these Spin variables set.
pub fn spawn_app_with(variables: &[(&str, &str)]) -> TestApp {
    spawn_app_with_spec(AppSpec {
        variables: variables
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..AppSpec::default()
    })
}

/// Starts the app as `spec` says and waits until it serves HTTP and, when the worker
/// runs, until the worker has subscribed to the doorbell channel (pub/sub drops a
/// message published before that).
pub fn spawn_app_with_spec(spec: AppSpec) -> TestApp {
    let manifest = spec
        .manifest
        .map_or_else(manifest, |m| testkit::workspace_root().join(m));
    let manifest_text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("read {}: {e}", manifest.display()));
    let runs = |component: &str| {
        manifest_text.contains(&format!("[component.{component}]"))
            && (spec.component_ids.is_empty() || spec.component_ids.iter().any(|c| c == component))
    };
    // Fail with the command that builds them rather than with a runtime error.
    for component in ["intake", "worker", "dashboard"] {
        if runs(component) {
            testkit::wasm_path(component);
        }
    }

    let stack = Stack::start_with(StackOptions {
        redis: RedisOptions {
            appendonly: spec.appendonly,
        },
        store: spec.store,
        max_instance_memory: spec.max_instance_memory,
        block_networks: spec.block_networks,
    });
    let channel = spec
        .variables
        .iter()
        .find(|(k, _)| k == "queue_channel")
        .map_or(DEFAULT_QUEUE_CHANNEL.to_owned(), |(_, v)| v.clone());

    let mut options = stack.app_options(manifest);
    let variable = |name: &str| {
        spec.variables
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let admin_token = variable("admin_token").unwrap_or_else(|| TEST_ADMIN_TOKEN.to_owned());
    let auth_on = variable("auth").is_none_or(|a| a != "off");
    options.variables.extend(
        spec.variables
            .iter()
            .filter(|(k, _)| k != "redis_address")
            .cloned(),
    );
    if variable("admin_token").is_none() {
        options
            .variables
            .push(("admin_token".to_owned(), admin_token.clone()));
    }
    // Only the worker has no HTTP trigger, and Spin refuses `--listen` then.
    if !runs("intake") {
        options = options.without_http();
    }
    options.component_ids = spec.component_ids.clone();
    let app =
        App::start(options.clone()).unwrap_or_else(|e| panic!("the app did not start: {e:#}"));
    if runs("worker") {
        stack.redis.wait_for_subscriber(&channel, SUBSCRIBE_TIMEOUT);
    }

    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(HTTP_TIMEOUT))
        .build();
    let mut test_app = TestApp {
        base_url: app.base_url().to_owned(),
        app,
        stack,
        agent: ureq::Agent::new_with_config(config),
        options,
        channel,
        admin_token: (!admin_token.is_empty()).then_some(admin_token),
        api_key: None,
    };
    // Every request of the test acts as the tenant `default`, with a key of its own.
    if runs("intake") && auth_on && test_app.admin_token.is_some() {
        test_app.create_tenant(TEST_TENANT);
        test_app.api_key = Some(test_app.issue_key(TEST_TENANT));
    }
    test_app
}

/// The repository's real manifest; its `source` paths are relative to it.
fn manifest() -> PathBuf {
    testkit::workspace_root().join("spin.toml")
}

/// A running app and its Redis. Dropping it stops the runtime, then Redis (fields
/// drop in declaration order), and prints the runtime's output if the test failed.
pub struct TestApp {
    pub app: App,
    /// The test's Redis (`stack.redis`) and runtime config.
    pub stack: Stack,
    pub base_url: String,
    agent: ureq::Agent,
    /// How `app` was started, so more runtime processes can join it (see `fleet`).
    pub(crate) options: AppOptions,
    /// The doorbell channel the worker subscribes to.
    pub(crate) channel: String,
    /// The admin token the app was started with, if any.
    pub admin_token: Option<String>,
    /// The API key [`TestApp::request`] sends, unless a request carries its own
    /// `Authorization` (none when `auth` is off or there is no admin token).
    pub api_key: Option<String>,
}

impl TestApp {
    // ----- raw HTTP -----

    /// Sends one request as the test's tenant (with its API key, unless `headers` has an
    /// `Authorization` of its own) and reads the whole response. Only a transport failure
    /// panics; every status comes back as a [`Reply`].
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        let has_own = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"));
        match &self.api_key {
            Some(key) if !has_own => self.as_client(key).request(method, path, headers, body),
            _ => self.request_raw(method, path, headers, body),
        }
    }

    /// Sends one request exactly as given: no API key is added.
    pub fn request_raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
        self.request_bytes(method, path, &headers, body)
    }

    /// [`TestApp::request_raw`] with header values as bytes, which HTTP allows past ASCII.
    pub fn request_bytes(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &[u8])],
        body: Option<&[u8]>,
    ) -> Reply {
        let url = format!("{}{path}", self.base_url);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let result = match body {
            Some(bytes) => self
                .agent
                .run(builder.body(bytes.to_vec()).expect("a valid request")),
            None => self.agent.run(builder.body(()).expect("a valid request")),
        };
        let response = result.unwrap_or_else(|e| panic!("{method} {url} failed: {e}"));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .into_body()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()
            .unwrap_or_else(|e| panic!("{method} {url}: reading the body failed: {e}"));
        Reply {
            request: format!("{method} {path}"),
            status,
            headers,
            body,
        }
    }

    /// POSTs `body` to `path` as `content_type`.
    pub fn post_raw(&self, path: &str, content_type: &str, body: &[u8]) -> Reply {
        self.request("POST", path, &[("content-type", content_type)], Some(body))
    }

    // ----- the admin API -----

    /// A request to the admin API with the app's admin token.
    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let token = self
            .admin_token
            .as_deref()
            .expect("the app was started with an admin token");
        let bearer = format!("Bearer {token}");
        let body = body.map(|b| b.to_string().into_bytes());
        self.request_raw(
            method,
            path,
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            body.as_deref(),
        )
    }

    /// Creates the tenant `name`; panics unless `201`.
    #[track_caller]
    pub fn create_tenant(&self, name: &str) -> Value {
        let reply = self.admin(
            "POST",
            "/admin/tenants",
            Some(&serde_json::json!({ "name": name })),
        );
        reply.expect_status(201);
        reply.json()
    }

    /// Issues an API key for the tenant `name` and returns it; panics unless `201`.
    #[track_caller]
    pub fn issue_key(&self, name: &str) -> String {
        let reply = self.admin("POST", &format!("/admin/tenants/{name}/keys"), None);
        reply.expect_status(201);
        reply.json()["key"]
            .as_str()
            .unwrap_or_else(|| panic!("an issued key has `key`: {reply}"))
            .to_owned()
    }

    /// This app as another client: the same runtime, requests with `api_key`.
    pub fn as_client(&self, api_key: &str) -> Client<'_> {
        Client {
            app: self,
            bearer: format!("Bearer {api_key}"),
        }
    }

    // ----- POST /jobs -----

    /// `POST /jobs` with a JSON body.
    pub fn submit(&self, body: &Value) -> Reply {
        self.post_raw("/jobs", "application/json", body.to_string().as_bytes())
    }

    /// `POST /jobs` with a JSON body and an `Idempotency-Key`.
    pub fn submit_with_key(&self, body: &Value, key: &str) -> Reply {
        self.request(
            "POST",
            "/jobs",
            &[
                ("content-type", "application/json"),
                ("idempotency-key", key),
            ],
            Some(body.to_string().as_bytes()),
        )
    }

    /// Submits `body`, checks the `202` receipt (status, `Location`, `Retry-After`, a
    /// `queued` job resource) and returns the job.
    #[track_caller]
    pub fn submit_ok(&self, body: &Value) -> Job {
        let reply = self.submit(body);
        let job = check_receipt(&reply);
        assert_eq!(job.status, "queued", "a new job is queued: {reply}");
        job
    }

    // ----- GET /jobs/{id} -----

    pub fn get_job(&self, id: &str) -> Reply {
        self.request("GET", &format!("/jobs/{id}"), &[], None)
    }

    /// `GET /jobs/{id}` with `If-None-Match: etag`.
    pub fn get_job_if_none_match(&self, id: &str, etag: &str) -> Reply {
        self.request(
            "GET",
            &format!("/jobs/{id}"),
            &[("if-none-match", etag)],
            None,
        )
    }

    /// The job resource; panics unless `GET /jobs/{id}` answers `200`.
    #[track_caller]
    pub fn job(&self, id: &str) -> Job {
        let reply = self.get_job(id);
        reply.expect_status(200);
        Job::from_reply(&reply)
    }

    /// Polls `GET /jobs/{id}` until the job has `status`, and returns it. Panics with
    /// the last resource seen when `timeout` passes, or at once if the job reaches a
    /// different final state (it would never get there).
    #[track_caller]
    pub fn wait_for_status(&self, id: &str, status: &str, timeout: Duration) -> Job {
        wait_until_seen(timeout, &format!("job {id} to be {status:?}"), || {
            let job = self.job(id);
            if job.status == status {
                return Ok(job);
            }
            assert!(
                !job.is_finished(),
                "waited for job {id} to be {status:?} but it finished as {:?}: {}",
                job.status,
                job.json
            );
            Err(job.json)
        })
    }

    // ----- GET /jobs/{id}/result -----

    pub fn get_result(&self, id: &str) -> Reply {
        self.request("GET", &format!("/jobs/{id}/result"), &[], None)
    }

    // ----- DELETE /jobs/{id} -----

    pub fn cancel(&self, id: &str) -> Reply {
        self.request("DELETE", &format!("/jobs/{id}"), &[], None)
    }

    // ----- GET /jobs -----

    /// `GET /jobs?{query}` (`query` without the `?`, may be empty).
    pub fn list(&self, query: &str) -> Reply {
        if query.is_empty() {
            self.request("GET", "/jobs", &[], None)
        } else {
            self.request("GET", &format!("/jobs?{query}"), &[], None)
        }
    }

    /// One listing page; panics unless the listing answers `200`.
    #[track_caller]
    pub fn list_page(&self, query: &str) -> Page {
        let reply = self.list(query);
        reply.expect_status(200);
        Page::from_reply(&reply)
    }

    /// The page after `page`, of the listing `query` started.
    #[track_caller]
    pub fn next_page(&self, query: &str, page: &Page) -> Option<Page> {
        let reply = if let Some(cursor) = &page.next_cursor {
            let query = if query.is_empty() {
                format!("cursor={}", percent_encode(cursor))
            } else {
                format!("{query}&cursor={}", percent_encode(cursor))
            };
            self.list(&query)
        } else if let Some(link) = &page.next_link {
            let path = link.strip_prefix(&self.base_url).unwrap_or(link);
            self.request("GET", path, &[], None)
        } else {
            return None;
        };
        reply.expect_status(200);
        Some(Page::from_reply(&reply))
    }

    /// Every job id the listing `query` shows, following pages to the end.
    #[track_caller]
    pub fn list_all_ids(&self, query: &str) -> Vec<String> {
        let mut page = self.list_page(query);
        let mut ids = page.ids();
        // A bound, so a cursor that never ends fails instead of looping.
        for _ in 0..1000 {
            match self.next_page(query, &page) {
                Some(next) => {
                    ids.extend(next.ids());
                    page = next;
                }
                None => return ids,
            }
        }
        panic!("listing {query:?} did not end after 1000 pages");
    }

    // ----- GET /stats, GET /healthz -----

    pub fn stats(&self) -> Reply {
        self.request("GET", "/stats", &[], None)
    }

    /// The stats document; panics unless `GET /stats` answers `200` with JSON.
    #[track_caller]
    pub fn stats_json(&self) -> Value {
        let reply = self.stats();
        reply.expect_status(200);
        reply.json()
    }

    pub fn healthz(&self) -> Reply {
        self.request("GET", "/healthz", &[], None)
    }

    // ----- observations -----

    /// What a request that must store nothing is checked against (see [`Snapshot`]).
    #[track_caller]
    pub fn snapshot(&self) -> Snapshot {
        let stats = without_clock_members(&self.stats_json());
        let job_ids = self.list_all_ids("");
        Snapshot {
            stats,
            job_ids,
            redis_keys: self.durable_redis_keys(),
        }
    }

    /// Every key in the test's Redis that has no expiry or outlives [`SHORT_LIVED`],
    /// sorted. Short-lived keys (such as one that limits how often the doorbell rings)
    /// come and go with the clock and say nothing about what a request stored.
    pub fn durable_redis_keys(&self) -> Vec<String> {
        let mut con = self.stack.redis.connection();
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query(&mut con)
            .expect("KEYS on the test's Redis");
        if keys.is_empty() {
            return keys;
        }
        keys.sort();
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("PTTL").arg(key);
        }
        let ttls: Vec<i64> = pipe.query(&mut con).expect("PTTL on the test's Redis");
        let short_ms = i64::try_from(SHORT_LIVED.as_millis()).unwrap_or(i64::MAX);
        keys.into_iter()
            .zip(ttls)
            .filter(|(_, ttl)| *ttl == -1 || *ttl > short_ms)
            .map(|(key, _)| key)
            .collect()
    }

    /// Everything the runtime printed so far.
    pub fn logs(&self) -> String {
        self.app.logs()
    }
}

/// Checks a `202` receipt for a new (or replayed) job and returns the job: `Location`
/// names the job, `Retry-After` says when to look, the body is the job resource.
#[track_caller]
pub fn check_receipt(reply: &Reply) -> Job {
    reply.expect_status(202);
    let job = Job::from_reply(reply);
    let location = reply
        .header("location")
        .unwrap_or_else(|| panic!("a receipt has a Location header: {reply}"));
    assert!(
        location.ends_with(&format!("/jobs/{}", job.id)),
        "Location {location:?} does not name job {}: {reply}",
        job.id
    );
    let retry_after = reply
        .header("retry-after")
        .unwrap_or_else(|| panic!("a receipt has a Retry-After header: {reply}"));
    assert!(
        retry_after.trim().parse::<u64>().is_ok(),
        "Retry-After {retry_after:?} is not a number of seconds: {reply}"
    );
    job
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for a cursor in a
/// query string.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The app seen by a client with its own API key ([`TestApp::as_client`]).
pub struct Client<'a> {
    app: &'a TestApp,
    bearer: String,
}

impl Client<'_> {
    /// A request with this client's key (and `headers`).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        let mut with_key = headers.to_vec();
        with_key.push(("authorization", &self.bearer));
        self.app.request_raw(method, path, &with_key, body)
    }

    /// `POST /jobs` with a JSON body.
    pub fn submit(&self, body: &Value) -> Reply {
        let body = body.to_string();
        self.request(
            "POST",
            "/jobs",
            &[("content-type", "application/json")],
            Some(body.as_bytes()),
        )
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], None)
    }
}

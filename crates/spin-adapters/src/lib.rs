//! The jobs-core ports over the Spin SDK, in one place for both components: key-value
//! ([`SpinKv`]), outbound Redis ([`SpinRedis`], one connection per instance, opened on
//! first use), settings from Spin variables ([`load_settings`]) and the [`Wiring`] that
//! puts them together into a service [`Context`], with the store asked only while Redis
//! answers (`jobs_core::liveness`) and read in batches through Redis when it is Redis
//! (`jobs_core::batch_reads`). No application logic: that lives in
//! `jobs_core::service`. [`http3`]: the WASIp3 edge of an HTTP component. Builds for
//! `wasm32-wasip2` only in practice.

pub mod http3;

use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};

use jobs_core::batch_reads::BatchReads;
use jobs_core::config::{ConfigError, Settings};
use jobs_core::counter::RedisCounter;
use jobs_core::job::Tenant;
use jobs_core::kinds::Registry;
use jobs_core::liveness::{Liveness, RedisFirst, WINDOW_MS, WatchedRedis};
use jobs_core::ports::{Clock, HttpAnswer, HttpPost, KeyValue, PortError, Redis, RedisParam};
use jobs_core::ports::{RedisValue, Sending};
use jobs_core::ports::{SystemClock, SystemRandom, Wait};
use jobs_core::queue::{RedisQueue, is_noscript};
use jobs_core::service::{Caller, Context, KnownKeys};
use jobs_core::tenancy::RedisTenants;
use spin_sdk::key_value::{self, Store};
use spin_sdk::redis::{self, Connection, RedisParameter, RedisResult};
use spin_sdk::wit::wasi::keyvalue as wasi_kv;
use wasi::clocks::monotonic_clock;

/// Settings from the component's Spin variables; an unset variable takes its default.
pub fn load_settings() -> Result<Settings, ConfigError> {
    Settings::from_lookup(|name| spin_sdk::variables::get(name).ok())
}

/// What a component instance keeps from one request to the next: its settings, its
/// Redis connections, with the [`Liveness`] of the queue's, and its key-value store.
///
/// On Spin 4 an instance of a WASIp3 HTTP component (the intake) serves up to 128
/// requests, 16 at a time, and drops after a second idle; opening these once per instance
/// instead of once per request is most of what a submission costs (docs/architecture.md,
/// "One intake instance, many requests"). The worker's instance serves one doorbell and keeps
/// them for that one. Each request gets its own [`Wiring`]: the keys it wrote itself
/// (`jobs_core::batch_reads`) are its own, and whatever was kept is proven again before
/// it is trusted (a `PING` on a quiet Redis connection, one more try on a store whose
/// first call fails: [`SpinRedis::recheck`], [`SpinKv::recheck`]). Whether the store is
/// the queue's Redis is asked once per instance: it follows from the configuration.
pub struct Kept {
    settings: Settings,
    connection: Rc<SpinRedis>,
    redis: Rc<AppRedis>,
    liveness: Liveness,
    queue: RedisQueue<Rc<AppRedis>>,
    tenants: RedisTenants<Rc<AppRedis>>,
    registry: Registry,
    /// The key-value store, opened on the first request that uses it.
    kv: Rc<SpinKv>,
    /// Whether the store is the queue's Redis, once a request has asked
    /// (`jobs_core::batch_reads`).
    store_is_redis: Rc<OnceCell<bool>>,
    /// For the test-only `count` kind. Its own connection, opened only if that kind runs.
    counter: RedisCounter<Rc<SpinRedis>>,
    counter_connection: Rc<SpinRedis>,
    /// The API keys this instance has looked up that may submit (`KnownKeys`).
    known_keys: KnownKeys,
}

/// The queue's Redis connection, watched: the store trusts its answers (`liveness`).
type AppRedis = WatchedRedis<Rc<SpinRedis>, SystemClock>;

/// The instance's store as one request sees it: asked only while Redis answers, and read
/// in batches through Redis when it is that Redis.
type RequestKv =
    BatchReads<RedisFirst<Rc<SpinKv>, Rc<AppRedis>, SystemClock>, Rc<AppRedis>, SystemRandom>;

impl Kept {
    /// Reads the settings. Nothing is opened yet: Redis and the key-value store are opened
    /// on first use, Redis first (see `jobs_core::liveness`).
    pub fn open() -> Result<Kept, ConfigError> {
        let settings = load_settings()?;
        let address = settings.redis_address.clone();
        let liveness = Liveness::new();
        let connection = Rc::new(SpinRedis::new(address.clone()));
        let redis = Rc::new(WatchedRedis::new(
            connection.clone(),
            liveness.clone(),
            SystemClock,
        ));
        let registry = Registry::for_settings(&settings);
        let counter_connection = Rc::new(SpinRedis::new(address));
        Ok(Kept {
            queue: RedisQueue::new(redis.clone(), &registry.names()),
            tenants: RedisTenants::new(redis.clone()),
            connection,
            redis,
            liveness,
            registry,
            kv: Rc::new(SpinKv::default_store()),
            store_is_redis: Rc::default(),
            counter: RedisCounter::new(counter_connection.clone(), Tenant::default_tenant()),
            counter_connection,
            known_keys: KnownKeys::default(),
            settings,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The ports for one request. A connection kept from an earlier request is pinged
    /// before its first command in this one, and replaced if it does not answer (Redis
    /// restarted meanwhile), so no command of this request is lost on a dead connection.
    pub fn wiring(self: &Rc<Kept>) -> Wiring {
        // The queue's connection answered a moment ago if its `Liveness` says so (the
        // window the store's guard trusts, `liveness::WINDOW_MS`): under load, requests
        // follow each other closer than that and skip the ping.
        let quiet = !self.liveness.fresh(SystemClock.now_ms(), WINDOW_MS);
        self.connection.recheck(quiet);
        self.counter_connection.recheck(true);
        self.kv.recheck();
        let kv = BatchReads::sharing(
            RedisFirst::new(
                self.kv.clone(),
                self.redis.clone(),
                self.liveness.clone(),
                SystemClock,
            ),
            self.redis.clone(),
            SystemRandom::new(),
            self.store_is_redis.clone(),
        );
        Wiring {
            kept: self.clone(),
            kv,
            random: SystemRandom::new(),
        }
    }
}

/// The ports of one request or one doorbell, lent to `jobs_core::service` as a
/// [`Context`]: what its instance keeps ([`Kept`]), and a key-value store of its own.
pub struct Wiring {
    kept: Rc<Kept>,
    kv: RequestKv,
    random: SystemRandom,
}

impl Wiring {
    /// The ports of an instance that serves one request or doorbell (the worker).
    pub fn open() -> Result<Wiring, ConfigError> {
        Ok(Rc::new(Kept::open()?).wiring())
    }

    pub fn settings(&self) -> &Settings {
        &self.kept.settings
    }

    /// Tenants and API keys, in the queue's Redis.
    pub fn tenants(&self) -> &RedisTenants<Rc<AppRedis>> {
        &self.kept.tenants
    }

    /// The API keys this instance has looked up that may submit.
    pub fn known_keys(&self) -> &KnownKeys {
        &self.kept.known_keys
    }

    /// Whether an earlier request of this instance found the store to be the queue's
    /// Redis (false when none has asked yet: this asks nothing).
    pub fn store_is_queue_redis(&self) -> bool {
        self.kept.store_is_redis.get() == Some(&true)
    }

    /// The service context over these ports, for requests of `tenant`. (The worker's
    /// drain serves every tenant, whatever this says.)
    pub fn context(&self, tenant: Tenant) -> Context<'_> {
        self.context_for(Caller {
            tenant,
            role: jobs_core::tenancy::Role::Full,
            quota: None,
        })
    }

    /// The service context for an authenticated caller.
    pub fn context_for(&self, caller: Caller) -> Context<'_> {
        Context {
            kv: &self.kv,
            queue: &self.kept.queue,
            clock: &SpinClock,
            random: &self.random,
            settings: &self.kept.settings,
            registry: &self.kept.registry,
            counter: Some(&self.kept.counter),
            http: Some(&SpinHttp),
            tenant: caller.tenant,
            quota: caller.quota,
        }
    }
}

/// Outbound HTTP through Spin (`wasi:http/outgoing-handler`, on Spin's executor, so other
/// runs go on while a request waits). Spin refuses a target the component's
/// `allowed_outbound_hosts` does not list; redirects are not followed; the answer's body
/// is not read.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpinHttp;

impl HttpPost for SpinHttp {
    fn post<'a>(
        &'a self,
        url: &'a str,
        headers: &'a [(String, String)],
        body: &'a [u8],
    ) -> Sending<'a> {
        Box::pin(async move {
            let mut builder = spin_sdk::http::Request::builder();
            builder.method(spin_sdk::http::Method::Post).uri(url);
            for (name, value) in headers {
                builder.header(name.as_str(), value.as_str());
            }
            let request = builder.body(body.to_vec()).build();
            let response: spin_sdk::http::IncomingResponse = spin_sdk::http::send(request)
                .await
                .map_err(|e| PortError::Unavailable(format!("POST: {e}")))?;
            let retry_after = response
                .headers()
                .get("retry-after")
                .first()
                .and_then(|v| String::from_utf8(v.clone()).ok());
            Ok(HttpAnswer {
                status: response.status(),
                retry_after,
            })
        })
    }
}

/// The clock of a component: wall time from the system clock, and waits that are
/// `wasi:clocks` pollables handed to Spin's executor (the one that runs an `async`
/// handler), so that while one run waits, the instance's other futures go on.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpinClock;

impl Clock for SpinClock {
    fn now_ms(&self) -> u64 {
        SystemClock.now_ms()
    }

    fn wait_ms(&self, ms: u64) -> Wait {
        let end = monotonic_clock::now().saturating_add(ms.saturating_mul(1_000_000));
        Box::pin(PollableWait { end, token: None })
    }
}

/// [`SpinClock::wait_ms`]: pending at least once, then until the monotonic clock reaches
/// `end`. Its pollable is registered once, and dropped with the wait.
struct PollableWait {
    end: monotonic_clock::Instant,
    token: Option<spin_executor::CancelOnDropToken>,
}

impl Future for PollableWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.token.is_some() && monotonic_clock::now() >= self.end {
            return Poll::Ready(());
        }
        if self.token.is_none() {
            let pollable = monotonic_clock::subscribe_instant(self.end);
            let token = spin_executor::push_waker_and_get_token(pollable, cx.waker().clone());
            self.token = Some(token.into());
        }
        Poll::Pending
    }
}

/// Spin's key-value store `default`: single keys through `fermyon:spin/key-value`, batch
/// writes through `wasi:keyvalue/batch` on the same store (opened on the first batch).
/// Batch reads keep the port's default, one `get` per key, never
/// `wasi:keyvalue/batch.get-many`: Spin 4.0.2 implements that with `KEYS` on its Redis
/// backend and panics on the reply, taking the whole `spin up` down (docs/devhost.md).
/// Spin's key-value connection to Redis is pooled, so each get is one round trip on a
/// warm connection; when the store is the queue's Redis, the [`Wiring`] reads batches
/// with one `MGET` instead (`jobs_core::batch_reads`).
///
/// The store is opened on first use, not before: on Spin's Redis backend even opening it
/// blocks while Redis is down (docs/devhost.md). An instance keeps it for its later
/// requests ([`Kept`]); the first call of a request on a store kept from an earlier one
/// that fails is tried once more on the store opened afresh ([`SpinKv::recheck`]).
pub struct SpinKv {
    store: RefCell<Option<Rc<Store>>>,
    bucket: RefCell<Option<Rc<wasi_kv::store::Bucket>>>,
    /// Set by [`SpinKv::recheck`]: no call of this request has answered yet on a store
    /// opened by an earlier one.
    unproven: Cell<bool>,
}

impl SpinKv {
    /// The store labelled `default` (it must be listed in the component's
    /// `key_value_stores`), opened on first use.
    pub fn default_store() -> Self {
        SpinKv {
            store: RefCell::new(None),
            bucket: RefCell::new(None),
            unproven: Cell::new(false),
        }
    }

    /// A new request begins. If Redis restarted since the store was opened, Spin's store
    /// meets the broken connection on its next call, which fails and sets that
    /// connection reconnecting; opening the store again pings it, which waits for the
    /// reconnection. So a failed first call is tried once more on a store opened afresh.
    /// Every call the port makes may run twice: writes put whole values.
    pub fn recheck(&self) {
        let opened = self.store.borrow().is_some() || self.bucket.borrow().is_some();
        self.unproven.set(opened);
    }

    /// `call` on the handle in `slot` (opened by `open` if there is none), tried once more
    /// on a handle opened afresh when it fails while the store is unproven.
    fn call<H, T, E>(
        &self,
        slot: &RefCell<Option<Rc<H>>>,
        open: impl Fn() -> Result<H, PortError>,
        call: impl Fn(&H) -> Result<T, E>,
        error: impl Fn(E) -> PortError,
    ) -> Result<T, PortError> {
        let handle = |slot: &RefCell<Option<Rc<H>>>| -> Result<Rc<H>, PortError> {
            if let Some(handle) = slot.borrow().clone() {
                return Ok(handle);
            }
            let handle = Rc::new(open()?);
            slot.replace(Some(handle.clone()));
            Ok(handle)
        };
        match call(&*handle(slot)?) {
            Ok(value) => {
                self.unproven.set(false);
                Ok(value)
            }
            Err(_) if self.unproven.replace(false) => {
                self.store.replace(None);
                self.bucket.replace(None);
                call(&*handle(slot)?).map_err(error)
            }
            Err(e) => Err(error(e)),
        }
    }

    fn with_store<T>(
        &self,
        what: impl Fn() -> String,
        call: impl Fn(&Store) -> Result<T, key_value::Error>,
    ) -> Result<T, PortError> {
        let open = || Store::open_default().map_err(|e| kv_error("open store default", e));
        self.call(&self.store, open, call, |e| kv_error(&what(), e))
    }

    fn with_bucket<T>(
        &self,
        what: impl Fn() -> String,
        call: impl Fn(&wasi_kv::store::Bucket) -> Result<T, wasi_kv::store::Error>,
    ) -> Result<T, PortError> {
        let open =
            || wasi_kv::store::open("default").map_err(|e| wasi_kv_error("open bucket default", e));
        self.call(&self.bucket, open, call, |e| wasi_kv_error(&what(), e))
    }
}

fn wasi_kv_error(what: &str, e: wasi_kv::store::Error) -> PortError {
    match e {
        wasi_kv::store::Error::Other(msg) => PortError::Backend(format!("{what}: {msg}")),
        other => PortError::Unavailable(format!("{what}: {other:?}")),
    }
}

fn kv_error(what: &str, e: key_value::Error) -> PortError {
    match e {
        key_value::Error::Other(msg) => PortError::Backend(format!("{what}: {msg}")),
        other => PortError::Unavailable(format!("{what}: {other}")),
    }
}

impl KeyValue for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.with_store(|| format!("get {key}"), |store| store.get(key))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        self.with_store(|| format!("set {key}"), |store| store.set(key, value))
    }

    fn delete(&self, key: &str) -> Result<(), PortError> {
        self.with_store(|| format!("delete {key}"), |store| store.delete(key))
    }

    fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        if pairs.is_empty() {
            return Ok(());
        }
        self.with_bucket(
            || format!("set {} keys", pairs.len()),
            |bucket| wasi_kv::batch::set_many(bucket, pairs),
        )
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), PortError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.with_bucket(
            || format!("delete {} keys", keys.len()),
            |bucket| wasi_kv::batch::delete_many(bucket, keys),
        )
    }
}

/// Outbound Redis at one address. Every `Connection::open` is a new TCP connection on
/// Spin (its outbound Redis does not pool), so one is opened on first use and kept for
/// the instance; a failed open is retried on the next call, and a command that fails
/// drops the connection, so the next call opens a fresh one.
pub struct SpinRedis {
    address: String,
    conn: RefCell<Option<Rc<Connection>>>,
    /// Set by [`SpinRedis::recheck`]: the kept connection must answer a `PING` before
    /// its next command.
    unproven: Cell<bool>,
}

impl SpinRedis {
    pub fn new(address: impl Into<String>) -> Self {
        SpinRedis {
            address: address.into(),
            conn: RefCell::new(None),
            unproven: Cell::new(false),
        }
    }

    /// A new request begins: a connection kept from an earlier one may have died since
    /// (Redis restarted), so it is pinged before it is trusted with a command, unless the
    /// caller knows Redis answered on it a moment ago (`quiet` false).
    pub fn recheck(&self, quiet: bool) {
        self.unproven.set(quiet && self.conn.borrow().is_some());
    }

    /// The connection, and whether Redis answered on it just now (opened, or pinged).
    fn conn(&self) -> Result<(Rc<Connection>, bool), PortError> {
        let kept = self.conn.borrow().clone();
        if let Some(conn) = kept {
            if !self.unproven.replace(false) {
                return Ok((conn, false));
            }
            if conn.execute("PING", &[]).is_ok() {
                return Ok((conn, true));
            }
        }
        self.conn.replace(None);
        let conn = Connection::open(&self.address)
            .map_err(|e| PortError::Unavailable(format!("open redis {}: {e}", self.address)))?;
        let conn = Rc::new(conn);
        self.conn.replace(Some(conn.clone()));
        Ok((conn, true))
    }

    /// `result`, after dropping the connection if it failed, so that the next command
    /// goes out on a fresh one. Only NOSCRIPT (a script not cached yet, which the queue
    /// answers with `EVAL` at once) keeps it: the connection did its job.
    fn kept<T>(&self, result: Result<T, PortError>) -> Result<T, PortError> {
        if let Err(e) = &result
            && !is_noscript(e)
        {
            self.conn.replace(None);
        }
        result
    }
}

fn redis_error(what: &str, e: redis::Error) -> PortError {
    match e {
        redis::Error::Other(msg) => PortError::Backend(format!("{what}: {msg}")),
        other => PortError::Unavailable(format!("{what}: {other}")),
    }
}

impl Redis for SpinRedis {
    fn execute(&self, command: &str, args: &[RedisParam]) -> Result<Vec<RedisValue>, PortError> {
        let params: Vec<RedisParameter> = args
            .iter()
            .map(|a| match a {
                RedisParam::Int(i) => RedisParameter::Int64(*i),
                RedisParam::Bytes(b) => RedisParameter::Binary(b.clone()),
            })
            .collect();
        let (conn, _) = self.conn()?;
        let reply = self.kept(
            conn.execute(command, &params)
                .map_err(|e| redis_error(command, e)),
        )?;
        Ok(reply
            .into_iter()
            .map(|r| match r {
                RedisResult::Nil => RedisValue::Nil,
                RedisResult::Status(s) => RedisValue::Status(s),
                RedisResult::Int64(i) => RedisValue::Int(i),
                RedisResult::Binary(b) => RedisValue::Bytes(b),
            })
            .collect())
    }

    fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), PortError> {
        let (conn, _) = self.conn()?;
        self.kept(
            conn.publish(channel, payload)
                .map_err(|e| redis_error("PUBLISH", e)),
        )
    }

    fn connect(&self) -> Result<bool, PortError> {
        self.conn().map(|(_, answered)| answered)
    }
}

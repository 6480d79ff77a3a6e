//! The jobs-core ports over the Spin SDK, in one place for both components: key-value
//! ([`SpinKv`]), outbound Redis ([`SpinRedis`], one connection per instance, opened on
//! first use), settings from Spin variables ([`load_settings`]) and the [`Wiring`] that
//! puts them together into a service [`Context`]. No application logic: that lives in
//! `jobs_core::service`. Builds for `wasm32-wasip2` only in practice.

use std::cell::OnceCell;

use jobs_core::config::{ConfigError, Settings};
use jobs_core::counter::RedisCounter;
use jobs_core::job::Tenant;
use jobs_core::kind::Registry;
use jobs_core::ports::{KeyValue, PortError, Redis, RedisParam, RedisValue};
use jobs_core::ports::{SystemClock, SystemRandom};
use jobs_core::queue::RedisQueue;
use jobs_core::service::Context;
use spin_sdk::key_value::{self, Store};
use spin_sdk::redis::{self, Connection, RedisParameter, RedisResult};
use spin_sdk::wit::wasi::keyvalue as wasi_kv;

/// Settings from the component's Spin variables; an unset variable takes its default.
pub fn load_settings() -> Result<Settings, ConfigError> {
    Settings::from_lookup(|name| spin_sdk::variables::get(name).ok())
}

/// The ports of one component instance (one request or one doorbell), built from the
/// component's variables, lent to `jobs_core::service` as a [`Context`].
pub struct Wiring {
    settings: Settings,
    kv: SpinKv,
    queue: RedisQueue<SpinRedis>,
    registry: Registry,
    random: SystemRandom,
    /// For the test-only `count` kind. Its own connection, opened only if that kind runs.
    counter: RedisCounter<SpinRedis>,
}

/// Why a component instance could not be wired.
#[derive(Debug)]
pub enum WiringError {
    /// A Spin variable has a bad value.
    Config(ConfigError),
    /// The key-value store `default` could not be opened.
    Store(PortError),
}

impl std::fmt::Display for WiringError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WiringError::Config(e) => write!(f, "configuration error: {e}"),
            WiringError::Store(e) => write!(f, "cannot open the key-value store: {e}"),
        }
    }
}

impl Wiring {
    /// Reads the settings and opens the key-value store; Redis is opened on first use.
    pub fn open() -> Result<Wiring, WiringError> {
        let settings = load_settings().map_err(WiringError::Config)?;
        let kv = SpinKv::open_default().map_err(WiringError::Store)?;
        let tenant = Tenant::default_tenant();
        let address = settings.redis_address.clone();
        Ok(Wiring {
            kv,
            queue: RedisQueue::new(SpinRedis::new(address.clone()), tenant.clone()),
            registry: Registry::for_settings(&settings),
            random: SystemRandom::new(),
            counter: RedisCounter::new(SpinRedis::new(address), tenant),
            settings,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The service context over these ports, for the default tenant.
    pub fn context(&self) -> Context<'_> {
        Context {
            kv: &self.kv,
            queue: &self.queue,
            clock: &SystemClock,
            random: &self.random,
            settings: &self.settings,
            registry: &self.registry,
            counter: Some(&self.counter),
            tenant: Tenant::default_tenant(),
        }
    }
}

/// Spin's key-value store `default`: single keys through `fermyon:spin/key-value`, batches
/// through `wasi:keyvalue/batch` on the same store (opened on the first batch).
pub struct SpinKv {
    store: Store,
    bucket: OnceCell<wasi_kv::store::Bucket>,
}

impl SpinKv {
    /// Open the store labelled `default` (it must be listed in the component's
    /// `key_value_stores`).
    pub fn open_default() -> Result<Self, PortError> {
        Store::open_default()
            .map(|store| SpinKv {
                store,
                bucket: OnceCell::new(),
            })
            .map_err(|e| kv_error("open store default", e))
    }

    fn bucket(&self) -> Result<&wasi_kv::store::Bucket, PortError> {
        if let Some(bucket) = self.bucket.get() {
            return Ok(bucket);
        }
        let bucket =
            wasi_kv::store::open("default").map_err(|e| wasi_kv_error("open bucket default", e))?;
        Ok(self.bucket.get_or_init(|| bucket))
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
        self.store
            .get(key)
            .map_err(|e| kv_error(&format!("get {key}"), e))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        self.store
            .set(key, value)
            .map_err(|e| kv_error(&format!("set {key}"), e))
    }

    fn delete(&self, key: &str) -> Result<(), PortError> {
        self.store
            .delete(key)
            .map_err(|e| kv_error(&format!("delete {key}"), e))
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let found = wasi_kv::batch::get_many(self.bucket()?, keys)
            .map_err(|e| wasi_kv_error(&format!("get {} keys", keys.len()), e))?;
        // Pairs are matched by key, not by position: the interface names each value.
        let mut found: std::collections::HashMap<String, Option<Vec<u8>>> =
            found.into_iter().collect();
        Ok(keys.iter().map(|key| found.remove(key).flatten()).collect())
    }

    fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        if pairs.is_empty() {
            return Ok(());
        }
        wasi_kv::batch::set_many(self.bucket()?, pairs)
            .map_err(|e| wasi_kv_error(&format!("set {} keys", pairs.len()), e))
    }
}

/// Outbound Redis at one address. Every `Connection::open` is a new TCP connection on
/// Spin, so one is opened on first use and kept for the instance (one request, or one
/// doorbell); a failed open is retried on the next call.
pub struct SpinRedis {
    address: String,
    conn: OnceCell<Connection>,
}

impl SpinRedis {
    pub fn new(address: impl Into<String>) -> Self {
        SpinRedis {
            address: address.into(),
            conn: OnceCell::new(),
        }
    }

    fn conn(&self) -> Result<&Connection, PortError> {
        if let Some(conn) = self.conn.get() {
            return Ok(conn);
        }
        let conn = Connection::open(&self.address)
            .map_err(|e| PortError::Unavailable(format!("open redis {}: {e}", self.address)))?;
        Ok(self.conn.get_or_init(|| conn))
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
        let reply = self
            .conn()?
            .execute(command, &params)
            .map_err(|e| redis_error(command, e))?;
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
        self.conn()?
            .publish(channel, payload)
            .map_err(|e| redis_error("PUBLISH", e))
    }
}

//! Ports: the traits through which the services reach the key-value store, Redis, the
//! clock and randomness. Components implement them over Spin; tests over memory or a real
//! redis-server. Nothing here knows about Spin.
//!
//! The [`Redis`] port mirrors Spin's outbound `execute`, including its one surprise: the
//! host flattens a reply into one flat list, nested arrays spliced in, and Spin 3.x drops
//! nil and `OK` entries while Spin 4.x keeps them. The queue scripts therefore return flat,
//! nil-free arrays of strings and integers, so positions mean the same on every host.

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a port call failed. Every variant is an infrastructure failure: the services turn
/// each into `503 Service Unavailable` (retry later) or log and skip, never into a 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The backend could not be reached or refused the connection (Redis down, store not
    /// configured). Retrying later may work.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with an error (a Redis error reply, a script error, a store
    /// error). Carries the backend's message for the log.
    #[error("backend error: {0}")]
    Backend(String),
    /// The backend answered something the caller cannot interpret (wrong reply shape).
    #[error("unexpected reply: {0}")]
    Protocol(String),
}

/// A key-value store of byte values (Spin's `key_value::Store`). No compare-and-swap and
/// no increment on purpose: docs/devhost.md says why Spin's cannot be trusted.
pub trait KeyValue {
    /// The value of `key`, `None` when absent.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError>;
    /// Set `key` to `value`, creating or overwriting it.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError>;
    /// Delete `key`; deleting an absent key succeeds.
    fn delete(&self, key: &str) -> Result<(), PortError>;
    /// The values of `keys`, in order: one round trip where the store has a batch call
    /// (Spin's `wasi:keyvalue/batch`), else one `get` each.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
        keys.iter().map(|key| self.get(key)).collect()
    }
    /// Set every pair: one round trip where the store has a batch call. Not atomic: on an
    /// error some pairs may have been written.
    fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        pairs
            .iter()
            .try_for_each(|(key, value)| self.set(key, value))
    }
    /// Delete every key (absent ones too): one round trip where the store has a batch
    /// call. Not atomic: on an error some keys may have been deleted.
    fn delete_many(&self, keys: &[String]) -> Result<(), PortError> {
        keys.iter().try_for_each(|key| self.delete(key))
    }
    /// Whether this store is the queue's Redis, its keys plain strings under their own
    /// names, so that a queue script may write them (`batch_reads`). False unless known.
    fn is_queue_redis(&self) -> bool {
        false
    }
    /// Whether this instance wrote (or deleted) `key` alone, so that a value of it read
    /// past the store (by a queue script) must be read through the store instead: a
    /// store may apply such a write after the call returns (Spin 3.0 to 3.1 did).
    fn wrote_alone(&self, _key: &str) -> bool {
        false
    }
}

/// One argument of a Redis command, as Spin's `redis-parameter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisParam {
    Int(i64),
    Bytes(Vec<u8>),
}

impl From<&str> for RedisParam {
    fn from(value: &str) -> Self {
        RedisParam::Bytes(value.as_bytes().to_vec())
    }
}

impl From<String> for RedisParam {
    fn from(value: String) -> Self {
        RedisParam::Bytes(value.into_bytes())
    }
}

impl From<i64> for RedisParam {
    fn from(value: i64) -> Self {
        RedisParam::Int(value)
    }
}

/// One entry of a flattened Redis reply, as Spin's `redis-result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisValue {
    Nil,
    Status(String),
    Int(i64),
    Bytes(Vec<u8>),
}

impl RedisValue {
    /// The entry as text: bulk strings and status replies; integers in decimal.
    pub fn to_text(&self) -> Option<String> {
        match self {
            RedisValue::Bytes(b) => String::from_utf8(b.clone()).ok(),
            RedisValue::Status(s) => Some(s.clone()),
            RedisValue::Int(i) => Some(i.to_string()),
            RedisValue::Nil => None,
        }
    }

    /// The entry as an integer: integer replies, or bulk strings holding a decimal.
    pub fn to_int(&self) -> Option<i64> {
        match self {
            RedisValue::Int(i) => Some(*i),
            RedisValue::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            RedisValue::Status(s) => s.trim().parse().ok(),
            RedisValue::Nil => None,
        }
    }
}

impl fmt::Display for RedisValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisValue::Nil => f.write_str("(nil)"),
            RedisValue::Status(s) => write!(f, "+{s}"),
            RedisValue::Int(i) => write!(f, ":{i}"),
            RedisValue::Bytes(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
        }
    }
}

/// Outbound Redis, shaped like Spin's `Connection`.
pub trait Redis {
    /// Run one command; the reply comes back flattened (see the module docs).
    fn execute(&self, command: &str, args: &[RedisParam]) -> Result<Vec<RedisValue>, PortError>;
    /// PUBLISH `payload` on `channel`.
    fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), PortError>;
    /// Open the connection the next commands use, if it is not open yet: a Redis that is
    /// down fails here. True when this call opened it (so the server answered just now);
    /// false when it was open already, or the host connects per command.
    fn connect(&self) -> Result<bool, PortError> {
        Ok(false)
    }
}

/// An answer to an outbound HTTP request: its status and `Retry-After`, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub retry_after: Option<String>,
}

/// An outbound HTTP request in flight: a future for the host's executor.
pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<HttpAnswer, PortError>> + 'a>>;

/// Outbound HTTP, for webhook deliveries: one `POST`, redirects not followed, the answer's
/// body not read. The caller bounds how long it may take (by dropping it).
pub trait HttpPost {
    fn post<'a>(
        &'a self,
        url: &'a str,
        headers: &'a [(String, String)],
        body: &'a [u8],
    ) -> Sending<'a>;
}

/// A wait that lets other work go on meanwhile: a future for the host's executor.
pub type Wait = Pin<Box<dyn Future<Output = ()>>>;

/// Wall-clock time and waiting. Milliseconds since the Unix epoch, as stored in records.
pub trait Clock {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Ready once `ms` milliseconds have passed. It always yields to the executor once,
    /// even for 0 ms, so other futures (the attempts a worker runs side by side) move on
    /// while it waits. On Spin it is a `wasi:clocks` pollable (`spin_adapters`).
    fn wait_ms(&self, ms: u64) -> Wait;
}

/// A source of random numbers for jitter and lease tokens. Not for secrets.
pub trait Random {
    /// A uniformly random 64-bit number.
    fn next_u64(&self) -> u64;

    /// A uniformly random number in `[0, 1)`.
    fn next_f64(&self) -> f64 {
        // 53 random bits are all an f64 mantissa holds.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A fresh 128-bit token in lowercase hex (lease owners).
    fn token(&self) -> String {
        format!("{:016x}{:016x}", self.next_u64(), self.next_u64())
    }
}

/// The system clock: `SystemTime`, which works on `wasm32-wasip2` too. Its waits run on a
/// thread each, so they are for native hosts and tests only: a component waits through
/// `spin_adapters::SpinClock`, whose waits are WASI pollables.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    fn wait_ms(&self, ms: u64) -> Wait {
        Box::pin(ThreadWait {
            ms,
            done: Arc::new(AtomicBool::new(false)),
            started: false,
        })
    }
}

/// [`SystemClock::wait_ms`]: a thread sleeps, then wakes the task.
struct ThreadWait {
    ms: u64,
    done: Arc<AtomicBool>,
    started: bool,
}

impl Future for ThreadWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if !self.started {
            self.started = true;
            let (done, waker, ms) = (self.done.clone(), cx.waker().clone(), self.ms);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(ms));
                done.store(true, Ordering::Release);
                waker.wake();
            });
        }
        Poll::Pending
    }
}

/// Randomness from the standard library's randomly seeded hasher (seeded from the OS, or
/// from WASI `random` in a component), stirred with a counter so each call differs.
#[derive(Debug, Default)]
pub struct SystemRandom {
    seed: std::collections::hash_map::RandomState,
    counter: AtomicU64,
}

impl SystemRandom {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Random for SystemRandom {
    fn next_u64(&self) -> u64 {
        let mut hasher = self.seed.build_hasher();
        hasher.write_u64(self.counter.fetch_add(1, Ordering::Relaxed));
        hasher.finish()
    }
}

/// Forwards every call, the batch ones included (a default would split them up).
macro_rules! forward_key_value {
    ($($ty:ty),*) => {$(
        impl<T: KeyValue + ?Sized> KeyValue for $ty {
            fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
                (**self).get(key)
            }
            fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
                (**self).set(key, value)
            }
            fn delete(&self, key: &str) -> Result<(), PortError> {
                (**self).delete(key)
            }
            fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
                (**self).get_many(keys)
            }
            fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), PortError> {
                (**self).set_many(pairs)
            }
            fn delete_many(&self, keys: &[String]) -> Result<(), PortError> {
                (**self).delete_many(keys)
            }
            fn is_queue_redis(&self) -> bool {
                (**self).is_queue_redis()
            }
            fn wrote_alone(&self, key: &str) -> bool {
                (**self).wrote_alone(key)
            }
        }
    )*};
}

forward_key_value!(&T, std::rc::Rc<T>);

macro_rules! forward_redis {
    ($($ty:ty),*) => {$(
        impl<T: Redis + ?Sized> Redis for $ty {
            fn execute(&self, command: &str, args: &[RedisParam]) -> Result<Vec<RedisValue>, PortError> {
                (**self).execute(command, args)
            }
            fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), PortError> {
                (**self).publish(channel, payload)
            }
            fn connect(&self) -> Result<bool, PortError> {
                (**self).connect()
            }
        }
    )*};
}

forward_redis!(&T, std::rc::Rc<T>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_random_differs_call_to_call_and_f64_stays_in_range() {
        let r = SystemRandom::new();
        let a = r.next_u64();
        let b = r.next_u64();
        assert_ne!(a, b);
        for _ in 0..1000 {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
        }
        assert_eq!(r.token().len(), 32);
    }

    #[test]
    fn redis_values_read_as_text_and_int() {
        assert_eq!(RedisValue::Bytes(b"42".to_vec()).to_int(), Some(42));
        assert_eq!(RedisValue::Int(7).to_text().as_deref(), Some("7"));
        assert_eq!(RedisValue::Nil.to_int(), None);
    }
}

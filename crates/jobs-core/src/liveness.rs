//! Redis before the store: the key-value store is asked only while Redis is known to
//! answer.
//!
//! Why: on Spin 4.0.2 a key-value call to a store on Redis made while Redis is down
//! neither fails nor answers, and the store stays stuck even after Redis is back, until
//! the runtime restarts (docs/devhost.md). A refused outbound Redis connection, on the
//! other hand, fails at once. So every key-value call first makes sure Redis answered a
//! moment ago: [`WatchedRedis`] notes when Redis last answered (any reply, or a
//! connection just opened), and [`RedisFirst`] pings before a key-value call when that
//! is older than its window. A request then answers `503` at once while Redis is down,
//! and leaves the store working for when it is back. What remains is the window itself:
//! Redis dying between its last answer and the next key-value call.
//!
//! Costs: nothing in the intake (a request opens its Redis connection anyway, and the
//! open is the proof); in the worker, one PING before a key-value call that comes more
//! than the window after the last Redis reply (a slow job's outcome, say).

use std::cell::Cell;
use std::rc::Rc;

use crate::ports::{Clock, KeyValue, PortError, Redis, RedisParam, RedisValue};

/// How long a Redis answer vouches for Redis: a key-value call later than this after the
/// last answer pings first.
pub const WINDOW_MS: u64 = 2;

/// When Redis last answered, in ms since the epoch; shared by a [`WatchedRedis`] and the
/// [`RedisFirst`] store that trusts it. One instance's worth of state (not `Send`).
#[derive(Debug, Clone, Default)]
pub struct Liveness(Rc<Cell<Option<u64>>>);

impl Liveness {
    pub fn new() -> Self {
        Self::default()
    }

    fn answered(&self, at_ms: u64) {
        self.0.set(Some(at_ms));
    }

    /// Whether Redis answered at most `window_ms` before `now_ms`.
    pub fn fresh(&self, now_ms: u64, window_ms: u64) -> bool {
        self.0
            .get()
            .is_some_and(|at| now_ms.saturating_sub(at) <= window_ms)
    }
}

/// A Redis port that notes in its [`Liveness`] every time Redis answers.
pub struct WatchedRedis<R, C> {
    inner: R,
    liveness: Liveness,
    clock: C,
}

impl<R: Redis, C: Clock> WatchedRedis<R, C> {
    pub fn new(inner: R, liveness: Liveness, clock: C) -> Self {
        WatchedRedis {
            inner,
            liveness,
            clock,
        }
    }

    fn noted<T>(&self, result: Result<T, PortError>) -> Result<T, PortError> {
        if result.is_ok() {
            self.liveness.answered(self.clock.now_ms());
        }
        result
    }
}

impl<R: Redis, C: Clock> Redis for WatchedRedis<R, C> {
    fn execute(&self, command: &str, args: &[RedisParam]) -> Result<Vec<RedisValue>, PortError> {
        self.noted(self.inner.execute(command, args))
    }

    fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), PortError> {
        self.noted(self.inner.publish(channel, payload))
    }

    fn connect(&self) -> Result<bool, PortError> {
        let opened = self.inner.connect()?;
        if opened {
            self.liveness.answered(self.clock.now_ms());
        }
        Ok(opened)
    }
}

/// A key-value store asked only after Redis answered within [`WINDOW_MS`] (see the
/// module docs). When Redis does not answer, the call fails with
/// [`PortError::Unavailable`] and the store is not asked.
pub struct RedisFirst<K, R, C> {
    kv: K,
    redis: R,
    liveness: Liveness,
    clock: C,
}

impl<K: KeyValue, R: Redis, C: Clock> RedisFirst<K, R, C> {
    /// `redis` is the [`WatchedRedis`] (or a handle to it) that shares `liveness`.
    pub fn new(kv: K, redis: R, liveness: Liveness, clock: C) -> Self {
        RedisFirst {
            kv,
            redis,
            liveness,
            clock,
        }
    }

    /// Makes sure Redis answered a moment ago: opening the connection is an answer; an
    /// open one is pinged unless it answered within the window.
    fn redis_answers(&self) -> Result<(), PortError> {
        if self.liveness.fresh(self.clock.now_ms(), WINDOW_MS) {
            return Ok(());
        }
        if self.redis.connect()? {
            return Ok(());
        }
        self.redis.execute("PING", &[]).map(drop)
    }

    fn checked<T>(&self, call: impl FnOnce(&K) -> Result<T, PortError>) -> Result<T, PortError> {
        self.redis_answers().map_err(|e| {
            PortError::Unavailable(format!(
                "Redis does not answer, so the key-value store was not asked: {e}"
            ))
        })?;
        call(&self.kv)
    }
}

impl<K: KeyValue, R: Redis, C: Clock> KeyValue for RedisFirst<K, R, C> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.checked(|kv| kv.get(key))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        self.checked(|kv| kv.set(key, value))
    }

    fn delete(&self, key: &str) -> Result<(), PortError> {
        self.checked(|kv| kv.delete(key))
    }

    /// One check for all the keys: a batch is one step of the caller's.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
        self.checked(|kv| kv.get_many(keys))
    }

    fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        self.checked(|kv| kv.set_many(pairs))
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), PortError> {
        self.checked(|kv| kv.delete_many(keys))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::memory::{ManualClock, MemoryKv};

    /// A Redis that answers or not, and lists what it was asked.
    #[derive(Default)]
    struct FakeRedis {
        down: Cell<bool>,
        connected: Cell<bool>,
        calls: RefCell<Vec<String>>,
    }

    impl Redis for FakeRedis {
        fn execute(&self, command: &str, _: &[RedisParam]) -> Result<Vec<RedisValue>, PortError> {
            self.calls.borrow_mut().push(command.to_owned());
            if self.down.get() {
                return Err(PortError::Unavailable("connection refused".into()));
            }
            Ok(vec![RedisValue::Status("PONG".into())])
        }
        fn publish(&self, _: &str, _: &[u8]) -> Result<(), PortError> {
            Ok(())
        }
        fn connect(&self) -> Result<bool, PortError> {
            if self.down.get() {
                return Err(PortError::Unavailable("connection refused".into()));
            }
            Ok(!self.connected.replace(true))
        }
    }

    /// A store that fails the test if asked: what Spin's would do then is hang.
    struct Untouchable;

    impl KeyValue for Untouchable {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
            panic!("the store was asked for {key} while Redis was down")
        }
        fn set(&self, key: &str, _: &[u8]) -> Result<(), PortError> {
            panic!("the store was written ({key}) while Redis was down")
        }
        fn delete(&self, key: &str) -> Result<(), PortError> {
            panic!("the store was written ({key}) while Redis was down")
        }
    }

    type Watched = Rc<WatchedRedis<Rc<FakeRedis>, ManualClock>>;

    fn setup<K: KeyValue>(
        kv: K,
    ) -> (
        Watched,
        RedisFirst<K, Watched, ManualClock>,
        Rc<FakeRedis>,
        ManualClock,
    ) {
        let clock = ManualClock::new(1_000);
        let liveness = Liveness::new();
        let fake = Rc::new(FakeRedis::default());
        let redis = Rc::new(WatchedRedis::new(
            fake.clone(),
            liveness.clone(),
            clock.clone(),
        ));
        let kv = RedisFirst::new(kv, redis.clone(), liveness, clock.clone());
        (redis, kv, fake, clock)
    }

    #[test]
    fn with_redis_down_the_store_is_never_asked_and_the_call_is_unavailable() {
        let (_redis, kv, fake, _clock) = setup(Untouchable);
        fake.down.set(true);

        let read = kv.get("j:x");
        let write = kv.set("j:x", b"v");

        assert!(matches!(read, Err(PortError::Unavailable(_))), "{read:?}");
        assert!(matches!(write, Err(PortError::Unavailable(_))), "{write:?}");
    }

    #[test]
    fn a_connection_just_opened_vouches_for_redis_without_a_ping() {
        let (_redis, kv, fake, _clock) = setup(MemoryKv::new());

        kv.set("k", b"v").unwrap();
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"v"[..]));

        assert!(fake.calls.borrow().is_empty(), "{:?}", fake.calls.borrow());
    }

    #[test]
    fn a_redis_answer_within_the_window_vouches_and_an_older_one_is_pinged() {
        let (redis, kv, fake, clock) = setup(MemoryKv::new());
        redis.connect().unwrap();
        redis.execute("EVALSHA", &[]).unwrap();

        clock.advance(WINDOW_MS);
        kv.get("a").unwrap();
        let pings_within = fake.calls.borrow().len();
        clock.advance(WINDOW_MS + 1);
        kv.get("b").unwrap();

        assert_eq!(
            pings_within,
            1,
            "only the EVALSHA: {:?}",
            fake.calls.borrow()
        );
        assert_eq!(*fake.calls.borrow(), vec!["EVALSHA", "PING"]);
    }

    #[test]
    fn redis_going_down_after_an_answer_is_caught_once_the_window_has_passed() {
        let (redis, kv, fake, clock) = setup(MemoryKv::new());
        redis.connect().unwrap();
        fake.down.set(true);
        clock.advance(WINDOW_MS + 1);

        let read = kv.get("a");

        assert!(matches!(read, Err(PortError::Unavailable(_))), "{read:?}");
    }
}

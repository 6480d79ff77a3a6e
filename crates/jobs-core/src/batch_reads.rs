//! Batch reads in one round trip when the key-value store is the queue's Redis.
//!
//! Spin's key-value API reads one key per call (its batch read, `get-many`, crashes Spin
//! on its Redis backend: docs/devhost.md), so reading n records costs n round trips: a
//! worker's batch of up to 32 claimed jobs, a page of 100 in `GET /jobs`. When the
//! store *is* the queue's Redis, as `make up` and the tests run it
//! (deploy/runtime-config.redis.toml), one `MGET` on the Redis connection the instance
//! holds anyway reads them all: Spin's Redis store keeps every key under its own name
//! in the database its URL names.
//!
//! Whether it is, an instance finds out on its first batch read, once: it reads one
//! marker key both ways. The store's value of [`keys::STORE_MARKER`] (a random token,
//! written through the store when absent) must be exactly what Redis holds under that
//! name, the store read again when instances raced to write it. A store on SQLite, on
//! another Redis or another database, or any error on the way, keeps the store's own
//! reads; so does everything but `get_many`, and every write goes through the store.
//! Even on the same Redis, a key the instance wrote alone is read back through the store
//! (Spin 3.0 to 3.1 applied single writes after returning), and a chunk whose `MGET`
//! fails or answers oddly is read through the store.
//!
//! One case it cannot tell: two Redis servers, one restored from a copy of the other,
//! carry the same marker. Delete `aj:store-marker` from one of them after such a copy.

use std::cell::{OnceCell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;

use crate::keys;
use crate::ports::{KeyValue, PortError, Random, Redis, RedisParam, RedisValue};

/// Most keys in one `MGET`: a page of `GET /jobs` (up to 101 records) in one. Records
/// are small (inputs and results ride inside only up to 8 KiB); inputs stored apart, up
/// to the body limit each, are read at most `worker::INPUT_BYTES_AT_ONCE` (32 MiB) of
/// them at a time, so a reply stays well under the 128 MiB a hosted Spin instance has.
pub const MGET_KEYS: usize = 128;

/// How many times the marker is compared with Redis while other instances keep writing
/// theirs (see [`BatchReads::is_redis`]).
const MARKER_LOOKS: usize = 3;

/// A key-value store whose `get_many` reads through `redis` when the two are one.
pub struct BatchReads<K, R, N> {
    kv: K,
    redis: R,
    random: N,
    /// Whether the store is `redis`, once the marker has been read; shared by the requests
    /// of an instance ([`BatchReads::sharing`]).
    same: Rc<OnceCell<bool>>,
    /// The keys this instance wrote or deleted one at a time.
    written: RefCell<HashSet<String>>,
}

impl<K: KeyValue, R: Redis, N: Random> BatchReads<K, R, N> {
    /// `random` makes the marker's token if no instance has written it yet.
    pub fn new(kv: K, redis: R, random: N) -> Self {
        Self::sharing(kv, redis, random, Rc::default())
    }

    /// As [`BatchReads::new`], with what `same` already knows: whether the store is the
    /// queue's Redis depends only on the configuration, so an instance asks once for all
    /// its requests. What a request wrote is its own.
    pub fn sharing(kv: K, redis: R, random: N, same: Rc<OnceCell<bool>>) -> Self {
        BatchReads {
            kv,
            redis,
            random,
            same,
            written: RefCell::new(HashSet::new()),
        }
    }

    /// Whether the store is the queue's Redis (asked once per instance; a probe that
    /// fails answers no, and is asked again next time).
    pub fn is_redis(&self) -> bool {
        if let Some(&same) = self.same.get() {
            return same;
        }
        match self.probe() {
            Ok(same) => *self.same.get_or_init(|| same),
            Err(_) => false,
        }
    }

    /// Reads the marker through the store (writing it first when absent) and through
    /// Redis: the same bytes both ways means the same keys.
    fn probe(&self) -> Result<bool, PortError> {
        let marker = keys::STORE_MARKER;
        let stored = match self.kv.get(marker)? {
            Some(token) => token,
            None => {
                self.kv.set(marker, self.random.token().as_bytes())?;
                match self.kv.get(marker)? {
                    Some(token) => token,
                    None => return Ok(false),
                }
            }
        };
        // Instances that start together on a store without the marker each write their
        // own token, and the last write wins: Redis may answer with a token written after
        // this instance read its own back. So a different answer is settled by reading the
        // store again: unchanged, the two are different stores; changed, another instance
        // wrote meanwhile, and the new token is compared in turn. A marker that keeps
        // changing settles nothing, and the next batch read asks again. (Before, such an
        // instance read every page key by key for its whole life. After the bench emptied
        // Redis, nine instances in one `--only ack` run on Spin found their token
        // overwritten, and three of them found it changed again on a second look.)
        let mut stored = stored;
        for _ in 0..MARKER_LOOKS {
            let seen = self.redis.execute("GET", &[RedisParam::from(marker)])?;
            if matches!(seen.as_slice(), [RedisValue::Bytes(token)] if *token == stored) {
                return Ok(true);
            }
            match self.kv.get(marker)? {
                Some(again) if again != stored => stored = again,
                _ => return Ok(false),
            }
        }
        Err(PortError::Unavailable(
            "the store's marker kept changing while it was compared with Redis".into(),
        ))
    }

    /// The values of `keys`: one `MGET` per chunk, except for the keys this instance
    /// wrote one at a time (read through the store, which may hold them back), and for a
    /// chunk whose `MGET` fails or answers anything but one value per key (Spin 3.x drops
    /// nil entries; a reply over Spin's limit is an error): that chunk is read through the
    /// store instead.
    fn mget(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
        let mut values: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        let (mine, rest): (Vec<usize>, Vec<usize>) =
            (0..keys.len()).partition(|&i| self.wrote_alone(&keys[i]));
        for i in mine {
            values[i] = self.kv.get(&keys[i])?;
        }
        for chunk in rest.chunks(MGET_KEYS) {
            let args: Vec<RedisParam> = chunk
                .iter()
                .map(|&i| RedisParam::from(keys[i].as_str()))
                .collect();
            let reply = match self.redis.execute("MGET", &args) {
                Ok(reply) if reply.len() == chunk.len() => reply
                    .into_iter()
                    .map(|value| match value {
                        RedisValue::Nil => Some(None),
                        RedisValue::Bytes(bytes) => Some(Some(bytes)),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>(),
                _ => None,
            };
            let reply = match reply {
                Some(reply) => reply,
                None => {
                    let owned: Vec<String> = chunk.iter().map(|&i| keys[i].clone()).collect();
                    self.kv.get_many(&owned)?
                }
            };
            for (&i, value) in chunk.iter().zip(reply) {
                values[i] = value;
            }
        }
        Ok(values)
    }

    /// Notes a key written (or deleted) alone: a store may apply such a write after the
    /// call returns (Spin 3.0 to 3.1 did), so this instance reads it back through the store.
    fn wrote(&self, key: &str) {
        self.written.borrow_mut().insert(key.to_owned());
    }
}

impl<K: KeyValue, R: Redis, N: Random> KeyValue for BatchReads<K, R, N> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.kv.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        self.wrote(key);
        self.kv.set(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), PortError> {
        self.wrote(key);
        self.kv.delete(key)
    }

    /// One `MGET` per [`MGET_KEYS`] keys when the store is Redis, else the store's own.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
        match keys.len() {
            0 => Ok(Vec::new()),
            1 => Ok(vec![self.kv.get(&keys[0])?]),
            _ if self.is_redis() => self.mget(keys),
            _ => self.kv.get_many(keys),
        }
    }

    fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        self.kv.set_many(pairs)
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), PortError> {
        self.kv.delete_many(keys)
    }

    fn is_queue_redis(&self) -> bool {
        self.is_redis()
    }

    fn wrote_alone(&self, key: &str) -> bool {
        self.written.borrow().contains(key)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::memory::MemoryKv;
    use crate::ports::SystemRandom;

    /// Redis over a map: the store's own (`MemoryKv`, the same keys) or another.
    struct MapRedis<'a> {
        keys: &'a MemoryKv,
        calls: RefCell<Vec<String>>,
        /// Leave nil entries out of replies, as Spin 3.x does.
        drop_nils: bool,
        /// Other instances' markers, one written into the map just before each `GET`
        /// answers: instances that found no marker, the others writing last.
        rivals: RefCell<Vec<&'static [u8]>>,
    }

    impl<'a> MapRedis<'a> {
        fn over(keys: &'a MemoryKv) -> Self {
            MapRedis {
                keys,
                calls: RefCell::new(Vec::new()),
                drop_nils: false,
                rivals: RefCell::new(Vec::new()),
            }
        }

        fn calls(&self) -> Vec<String> {
            self.calls.borrow().clone()
        }
    }

    fn text(param: &RedisParam) -> String {
        match param {
            RedisParam::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
            RedisParam::Int(i) => i.to_string(),
        }
    }

    impl Redis for MapRedis<'_> {
        fn execute(
            &self,
            command: &str,
            args: &[RedisParam],
        ) -> Result<Vec<RedisValue>, PortError> {
            self.calls
                .borrow_mut()
                .push(format!("{command} {}", args.len()));
            let value = |key: String| match self.keys.get(&key).unwrap() {
                Some(bytes) => RedisValue::Bytes(bytes),
                None => RedisValue::Nil,
            };
            if command == "GET" && !self.rivals.borrow().is_empty() {
                let token = self.rivals.borrow_mut().remove(0);
                self.keys.set(keys::STORE_MARKER, token).unwrap();
            }
            match command {
                "GET" | "MGET" => Ok(args
                    .iter()
                    .map(|a| value(text(a)))
                    .filter(|v| !(self.drop_nils && *v == RedisValue::Nil))
                    .collect()),
                other => Err(PortError::Backend(format!("unexpected {other}"))),
            }
        }

        fn publish(&self, _: &str, _: &[u8]) -> Result<(), PortError> {
            Ok(())
        }
    }

    fn records(kv: &MemoryKv, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let key = format!("j:t:{i}");
                if i % 3 != 0 {
                    kv.set(&key, format!("record {i}").as_bytes()).unwrap();
                }
                key
            })
            .collect()
    }

    fn expected(keys: &[String]) -> Vec<Option<Vec<u8>>> {
        keys.iter()
            .enumerate()
            .map(|(i, _)| (i % 3 != 0).then(|| format!("record {i}").into_bytes()))
            .collect()
    }

    #[test]
    fn a_store_that_is_the_queues_redis_is_read_with_one_mget_per_chunk() {
        let kv = MemoryKv::new();
        let keys = records(&kv, 300);
        let redis = MapRedis::over(&kv);
        let reads = BatchReads::new(&kv, &redis, SystemRandom::new());
        let before = kv.reads();

        assert_eq!(reads.get_many(&keys).unwrap(), expected(&keys));
        assert!(reads.is_redis());
        // The marker: read (absent), written, read again; then never through the store
        // (the map Redis reads the same map, once per key).
        assert_eq!(kv.reads() - before, 2 + 1 + keys.len() as u64);
        assert_eq!(redis.calls(), ["GET 1", "MGET 128", "MGET 128", "MGET 44"]);

        // Asked once per instance.
        assert_eq!(reads.get_many(&keys[..3]).unwrap(), expected(&keys[..3]));
        assert_eq!(redis.calls().len(), 5);
    }

    #[test]
    fn another_store_keeps_its_own_reads() {
        let kv = MemoryKv::new();
        let keys = records(&kv, 40);
        // Redis holds other keys: the marker read through it is absent.
        let elsewhere = MemoryKv::new();
        let redis = MapRedis::over(&elsewhere);
        let reads = BatchReads::new(&kv, &redis, SystemRandom::new());
        let before = kv.reads();

        assert_eq!(reads.get_many(&keys).unwrap(), expected(&keys));
        assert!(!reads.is_redis());
        // The marker: read (absent), read back after its write, and once more when Redis
        // answered otherwise; then every key through the store.
        assert_eq!(kv.reads() - before, 3 + keys.len() as u64);
        assert_eq!(redis.calls(), ["GET 1"]);
    }

    #[test]
    fn an_instance_whose_marker_another_overwrote_still_finds_its_store_is_the_queues_redis() {
        let kv = MemoryKv::new();
        let keys = records(&kv, 100);
        let redis = MapRedis {
            rivals: RefCell::new(vec![b"another instance's token"]),
            ..MapRedis::over(&kv)
        };
        let reads = BatchReads::new(&kv, &redis, SystemRandom::new());

        assert_eq!(reads.get_many(&keys).unwrap(), expected(&keys));
        assert!(reads.is_redis());
        // The marker compared twice: with this instance's token, then with the other's.
        assert_eq!(redis.calls(), ["GET 1", "GET 1", "MGET 100"]);
        assert_eq!(
            kv.get(keys::STORE_MARKER).unwrap().as_deref(),
            Some(&b"another instance's token"[..])
        );
    }

    #[test]
    fn a_marker_that_keeps_changing_settles_nothing_and_is_compared_again_next_time() {
        let kv = MemoryKv::new();
        let keys = records(&kv, 10);
        let redis = MapRedis {
            rivals: RefCell::new(vec![b"first", b"second", b"third", b"fourth"]),
            ..MapRedis::over(&kv)
        };
        let reads = BatchReads::new(&kv, &redis, SystemRandom::new());

        // Three looks, each at a new token: read through the store, nothing kept.
        assert_eq!(reads.get_many(&keys).unwrap(), expected(&keys));
        assert_eq!(redis.calls(), ["GET 1"; MARKER_LOOKS]);
        // The writes stop after one more: the next read compares again, and settles.
        assert_eq!(reads.get_many(&keys).unwrap(), expected(&keys));
        assert!(reads.is_redis());
        assert_eq!(redis.calls()[MARKER_LOOKS..], ["GET 1", "GET 1", "MGET 10"]);
    }

    #[test]
    fn a_marker_that_differs_is_another_store_even_when_both_have_one() {
        let kv = MemoryKv::new();
        let keys = records(&kv, 5);
        kv.set(keys::STORE_MARKER, b"ours").unwrap();
        let elsewhere = MemoryKv::new();
        elsewhere.set(keys::STORE_MARKER, b"theirs").unwrap();
        let redis = MapRedis::over(&elsewhere);
        let reads = BatchReads::new(&kv, &redis, SystemRandom::new());

        assert_eq!(reads.get_many(&keys).unwrap(), expected(&keys));
        assert!(!reads.is_redis());
        assert_eq!(redis.calls(), ["GET 1"]);
    }

    #[test]
    fn a_reply_without_its_nils_is_read_through_the_store() {
        let kv = MemoryKv::new();
        let keys = records(&kv, 40);
        let redis = MapRedis {
            drop_nils: true,
            ..MapRedis::over(&kv)
        };
        let reads = BatchReads::new(&kv, &redis, SystemRandom::new());

        assert_eq!(reads.get_many(&keys).unwrap(), expected(&keys));
        assert!(reads.is_redis());
        assert_eq!(redis.calls(), ["GET 1", "MGET 40"]);
    }

    #[test]
    fn a_key_written_alone_is_read_back_through_the_store() {
        // The store holds a write back from Redis (as Spin 3.0 to 3.1 did): Redis still
        // has the old value of the key just written.
        let kv = MemoryKv::new();
        let keys = records(&kv, 6);
        kv.set(keys::STORE_MARKER, b"m").unwrap();
        let lagging = MemoryKv::new();
        for key in kv.keys() {
            lagging.set(&key, &kv.get(&key).unwrap().unwrap()).unwrap();
        }
        let redis = MapRedis::over(&lagging);
        let reads = BatchReads::new(&kv, &redis, SystemRandom::new());

        reads.set(&keys[1], b"new").unwrap();
        let got = reads.get_many(&keys).unwrap();

        let mut want = expected(&keys);
        want[1] = Some(b"new".to_vec());
        assert_eq!(got, want);
        assert!(reads.is_redis());
        assert_eq!(redis.calls(), ["GET 1", "MGET 5"]);
    }

    #[test]
    fn one_key_or_none_is_no_reason_to_ask() {
        let kv = MemoryKv::new();
        let keys = records(&kv, 2);
        let redis = MapRedis::over(&kv);
        let reads = BatchReads::new(&kv, &redis, SystemRandom::new());

        assert_eq!(reads.get_many(&[]).unwrap(), Vec::<Option<Vec<u8>>>::new());
        assert_eq!(reads.get_many(&keys[1..]).unwrap(), expected(&keys)[1..]);
        assert!(redis.calls().is_empty());
        assert_eq!(kv.get(keys::STORE_MARKER).unwrap(), None);
    }
}

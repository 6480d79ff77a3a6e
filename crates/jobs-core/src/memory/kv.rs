//! Deterministic randomness, an in-memory key-value store and in-memory counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{down, lock};
use crate::kind::Counter;
use crate::ports::{KeyValue, PortError, Random};

/// Deterministic randomness (SplitMix64 from a seed).
#[derive(Debug)]
pub struct SeqRandom(AtomicU64);

impl SeqRandom {
    pub fn new(seed: u64) -> Self {
        Self(AtomicU64::new(seed))
    }
}

impl Random for SeqRandom {
    fn next_u64(&self) -> u64 {
        let mut z = self
            .0
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// An in-memory key-value store. Clones share one map.
#[derive(Debug, Clone, Default)]
pub struct MemoryKv {
    map: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    down: Arc<AtomicBool>,
    /// Writes still to fail ([`MemoryKv::fail_writes`]).
    failing_writes: Arc<AtomicU32>,
    reads: Arc<AtomicU64>,
    /// Says it is the queue's Redis ([`MemoryKv::be_queue_redis`]).
    queue_redis: Arc<AtomicBool>,
}

impl MemoryKv {
    pub fn new() -> Self {
        Self::default()
    }
    /// Make every call fail with [`PortError::Unavailable`] (or work again).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
    /// Make the next `n` writes (`set`, `delete`; a batch fails at its first) fail with
    /// [`PortError::Unavailable`] while reads go on; `u32::MAX`: every write until this is
    /// called again.
    pub fn fail_writes(&self, n: u32) {
        self.failing_writes.store(n, Ordering::SeqCst);
    }
    /// Whether this write fails ([`MemoryKv::fail_writes`]), counting it.
    fn write_fails(&self) -> bool {
        let left = self.failing_writes.load(Ordering::SeqCst);
        if left > 0 && left < u32::MAX {
            self.failing_writes.store(left - 1, Ordering::SeqCst);
        }
        left > 0
    }
    /// Every key, sorted.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.map).keys().cloned().collect()
    }
    /// Answer `is_queue_redis` with yes: the services then hand records to the queue to
    /// write (`MemoryQueue::writing_to` must name this store).
    pub fn be_queue_redis(&self) {
        self.queue_redis.store(true, Ordering::SeqCst);
    }
    /// How many reads (`get`) were made so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }
}

impl KeyValue for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(down());
        }
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(lock(&self.map).get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        if self.down.load(Ordering::SeqCst) || self.write_fails() {
            return Err(down());
        }
        lock(&self.map).insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), PortError> {
        if self.down.load(Ordering::SeqCst) || self.write_fails() {
            return Err(down());
        }
        lock(&self.map).remove(key);
        Ok(())
    }
    fn is_queue_redis(&self) -> bool {
        self.queue_redis.load(Ordering::SeqCst)
    }
}

/// In-memory counters (the worker's are Redis `INCR`s). Clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct MemoryCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    down: Arc<AtomicBool>,
}

impl MemoryCounter {
    pub fn new() -> Self {
        Self::default()
    }
    /// Make every call fail with [`PortError::Unavailable`] (or work again).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
    /// The count of `name`; 0 when never counted.
    pub fn get(&self, name: &str) -> u64 {
        lock(&self.counts).get(name).copied().unwrap_or(0)
    }
}

impl Counter for MemoryCounter {
    fn incr(&self, names: &[&str]) -> Result<Vec<u64>, PortError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(down());
        }
        let mut counts = lock(&self.counts);
        Ok(names
            .iter()
            .map(|name| {
                let n = counts.entry((*name).to_owned()).or_insert(0);
                *n += 1;
                *n
            })
            .collect())
    }
}

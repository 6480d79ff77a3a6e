//! In-memory ports for unit tests: a key-value store, a queue with the same behaviour as
//! the Lua scripts (checked by [`crate::queue::contract`]), tenants and API keys, a clock that only moves when
//! told, and deterministic randomness. Each can be switched "down" to test outages.
//! Never used by the components.

use std::sync::{Mutex, MutexGuard};

use crate::ports::PortError;

mod clock;
mod hooks;
mod kv;
mod queue;
mod tenant_queue;
mod tenants;

pub use clock::ManualClock;
pub use kv::{MemoryCounter, MemoryKv, SeqRandom};
pub use queue::{MemoryQueue, SubmitFault};
pub use tenants::MemoryTenants;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn down() -> PortError {
    PortError::Unavailable("memory port switched down".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::KeyValue;
    use crate::queue::contract;

    #[test]
    fn memory_queue_keeps_the_queue_contract() {
        for (name, check) in contract::CHECKS {
            let q = MemoryQueue::new(ManualClock::new(0));
            // As the Redis queue, whose store is its own Redis in the contract's checks.
            q.writing_to(MemoryKv::new());
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&q)));
            assert!(result.is_ok(), "contract check failed: {name}");
        }
    }

    #[test]
    fn memory_kv_round_trips_and_can_go_down() {
        let kv = MemoryKv::new();
        kv.set("a", b"1").unwrap();
        assert_eq!(kv.get("a").unwrap(), Some(b"1".to_vec()));
        kv.delete("a").unwrap();
        assert_eq!(kv.get("a").unwrap(), None);
        kv.set_down(true);
        assert!(kv.get("a").is_err());
    }
}

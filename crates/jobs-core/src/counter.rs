//! [`RedisCounter`]: the [`Counter`] capability over the [`Redis`] port. One tenant's
//! counters live at `aj:{tenant}:count:{name}` (see [`keys::counter`]), so they share the
//! queue's Redis Cluster slot, and one script increments several of them atomically.

use crate::job::Tenant;
use crate::keys;
use crate::kind::Counter;
use crate::ports::{PortError, Redis, RedisParam, RedisValue};

/// `INCR` each key in KEYS; reply: the new values, in order (a flat list of integers).
const INCR_ALL: &str = "local r = {}\n\
    for i, key in ipairs(KEYS) do r[i] = redis.call('INCR', key) end\n\
    return r";

/// The counters of one tenant in Redis.
#[derive(Debug, Clone)]
pub struct RedisCounter<R> {
    redis: R,
    tenant: Tenant,
}

impl<R: Redis> RedisCounter<R> {
    pub fn new(redis: R, tenant: Tenant) -> Self {
        Self { redis, tenant }
    }
}

impl<R: Redis> Counter for RedisCounter<R> {
    fn incr(&self, names: &[&str]) -> Result<Vec<u64>, PortError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut params = Vec::with_capacity(2 + names.len());
        params.push(RedisParam::from(INCR_ALL));
        params.push(RedisParam::Int(names.len() as i64));
        params.extend(
            names
                .iter()
                .map(|name| RedisParam::from(keys::counter(&self.tenant, name))),
        );
        let reply = self.redis.execute("EVAL", &params)?;
        let counts: Option<Vec<u64>> = reply
            .iter()
            .map(|v| v.to_int().and_then(|n| u64::try_from(n).ok()))
            .collect();
        match counts {
            Some(counts) if counts.len() == names.len() => Ok(counts),
            _ => Err(PortError::Protocol(format!(
                "INCR of {} counters answered [{}]",
                names.len(),
                reply
                    .iter()
                    .map(RedisValue::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A port that records the command and answers with a canned reply.
    struct Canned {
        reply: Vec<RedisValue>,
        seen: RefCell<Vec<RedisParam>>,
    }

    impl Redis for Canned {
        fn execute(
            &self,
            command: &str,
            args: &[RedisParam],
        ) -> Result<Vec<RedisValue>, PortError> {
            assert_eq!(command, "EVAL");
            self.seen.replace(args.to_vec());
            Ok(self.reply.clone())
        }
        fn publish(&self, _: &str, _: &[u8]) -> Result<(), PortError> {
            unreachable!("counters never publish")
        }
    }

    #[test]
    fn counters_are_tenant_keys_incremented_by_one_script() {
        let port = Canned {
            reply: vec![RedisValue::Int(7), RedisValue::Int(1)],
            seen: RefCell::new(Vec::new()),
        };
        let counter = RedisCounter::new(&port, Tenant::default_tenant());
        assert_eq!(counter.incr(&["total", "job:x"]).unwrap(), [7, 1]);
        let seen = port.seen.borrow();
        assert_eq!(seen[1], RedisParam::Int(2));
        assert_eq!(seen[2], RedisParam::from("aj:{default}:count:total"));
        assert_eq!(seen[3], RedisParam::from("aj:{default}:count:job:x"));
    }

    #[test]
    fn a_reply_of_the_wrong_shape_is_a_protocol_error() {
        let port = Canned {
            reply: vec![RedisValue::Int(7)],
            seen: RefCell::new(Vec::new()),
        };
        let counter = RedisCounter::new(&port, Tenant::default_tenant());
        assert!(matches!(
            counter.incr(&["a", "b"]),
            Err(PortError::Protocol(_))
        ));
        assert_eq!(counter.incr(&[]).unwrap(), Vec::<u64>::new());
    }
}

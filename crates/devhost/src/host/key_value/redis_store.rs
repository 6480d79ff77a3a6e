//! The Redis backend of the key-value stores, with what an app sees on Spin 4.0.2's
//! Redis store when Redis goes away (measured, docs/devhost.md): a call made while Redis
//! is unreachable neither fails nor answers, and the store stays that way after Redis is
//! back (on Spin, no call answered for as long as we watched, 90 s; here, never), until
//! the runtime restarts. Outages with no call in them leave the store working.
//!
//! An app that must answer while Redis is down, and keep working after it returns, has
//! to find out that Redis is down through another path (outbound Redis fails at once)
//! before it touches the store. The devhost behaves like this so that an app that does
//! not fails here too, instead of only on Spin.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use redis::aio::ConnectionManager;
use redis::{Cmd, FromRedisValue, RedisError};

use super::Error;

/// Retries of a call whose connection died while Redis answers fresh connections.
const RECONNECT_ATTEMPTS: u32 = 3;

/// A key-value store kept in one Redis database, keys stored as plain Redis keys.
pub struct RedisStore {
    url: String,
    client: redis::Client,
    manager: ConnectionManager,
    /// Set by the first call that found Redis unreachable: from then on no call answers.
    stuck: AtomicBool,
}

/// Whether `e` means Redis could not be reached (as opposed to an error reply).
fn unreachable(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

impl RedisStore {
    /// Connects to `url`. A Redis that cannot be reached leaves the open waiting for good,
    /// as a call would.
    pub async fn open(url: &str) -> anyhow::Result<RedisStore> {
        let client =
            redis::Client::open(url).with_context(|| format!("invalid Redis URL {url:?}"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(None)
            .set_number_of_retries(1);
        match client.get_connection_manager_with_config(config).await {
            Ok(manager) => Ok(RedisStore {
                url: url.to_string(),
                client,
                manager,
                stuck: AtomicBool::new(false),
            }),
            Err(e) if unreachable(&e) => {
                report_stuck(url, &e);
                std::future::pending().await
            }
            Err(e) => Err(e).with_context(|| format!("failed to connect to Redis at {url}")),
        }
    }

    /// The URL the store was opened with (compare-and-swap opens its own connection).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `cmd`; an error reply is an `Error::Other` with Redis's message. Never
    /// answers once the store is stuck (see the module docs).
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Error> {
        if self.stuck.load(Ordering::Relaxed) {
            return std::future::pending().await;
        }
        let mut attempts = 0;
        loop {
            match cmd.query_async(&mut self.manager.clone()).await {
                Ok(value) => return Ok(value),
                // A connection that died while Redis restarted, with Redis back now: the
                // pooled connection reconnects and the call goes through, as on Spin.
                Err(e)
                    if unreachable(&e) && attempts < RECONNECT_ATTEMPTS && self.answers().await =>
                {
                    attempts += 1;
                }
                Err(e) if unreachable(&e) => {
                    if !self.stuck.swap(true, Ordering::Relaxed) {
                        report_stuck(&self.url, &e);
                    }
                    return std::future::pending().await;
                }
                Err(e) => return Err(Error::Other(e.to_string())),
            }
        }
    }

    /// Whether Redis answers a fresh connection now.
    async fn answers(&self) -> bool {
        let probe = async {
            let mut conn = self.client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<()>(&mut conn).await
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), probe).await,
            Ok(Ok(()))
        )
    }
}

fn report_stuck(url: &str, e: &RedisError) {
    eprintln!(
        "devhost: a key-value call found the store's Redis at {url} unreachable ({e}). As on \
         Spin 4.0.2, this and every later key-value call now waits for good, even once Redis \
         is back; restart the runtime (docs/devhost.md)"
    );
}

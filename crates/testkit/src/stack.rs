//! [`Stack`]: a throwaway `redis-server` and the runtime config that puts the app's
//! key-value store where a test wants it. Every suite that runs the app starts from one:
//! the end-to-end and reliability suites, the benchmark, and (through
//! [`kv_on_redis`]) the devhost's own tests.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::{AppOptions, RedisOptions, RedisServer};

/// Where the app's key-value store `default` lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KvStore {
    /// On the stack's Redis, as `make up` runs the app.
    #[default]
    Redis,
    /// SQLite (Spin's default backend), in the stack's own directory.
    Sqlite,
}

/// How to start a [`Stack`].
#[derive(Debug, Clone, Copy, Default)]
pub struct StackOptions {
    pub redis: RedisOptions,
    pub store: KvStore,
    /// `max_instance_memory` in the runtime config, in bytes.
    pub max_instance_memory: Option<usize>,
    /// `[outbound_networking] block_networks` in the runtime config.
    pub block_networks: &'static [&'static str],
}

/// The runtime config text that puts the key-value store `default` on the Redis at
/// `url`.
pub fn kv_on_redis(url: &str) -> String {
    format!("[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}\"\n")
}

/// A Redis, and a runtime config file for the app beside it. Dropping it stops Redis
/// and removes the directory.
pub struct Stack {
    pub redis: RedisServer,
    runtime_config: PathBuf,
    dir: TempDir,
}

impl Stack {
    /// The key-value store on Redis, no limits.
    pub fn start() -> Stack {
        Stack::start_with(StackOptions::default())
    }

    pub fn start_with(opts: StackOptions) -> Stack {
        let redis = RedisServer::start_with(opts.redis);
        let dir = tempfile::Builder::new()
            .prefix("stack-")
            .tempdir()
            .expect("create a temporary directory for the runtime config");
        // The default SQLite store would sit beside spin.toml and be shared by every
        // test; on the stack's own Redis, or in its own SQLite file, each sees only its
        // own jobs.
        let store = match opts.store {
            KvStore::Redis => kv_on_redis(&redis.url()),
            KvStore::Sqlite => format!(
                "[key_value_store.default]\ntype = \"spin\"\npath = \"{}\"\n",
                dir.path().join("key_value.db").display()
            ),
        };
        let limits = opts
            .max_instance_memory
            .map(|bytes| format!("max_instance_memory = {bytes}\n"))
            .unwrap_or_default();
        let blocked = if opts.block_networks.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = opts
                .block_networks
                .iter()
                .map(|n| format!("{n:?}"))
                .collect();
            format!(
                "[outbound_networking]\nblock_networks = [{}]\n",
                list.join(", ")
            )
        };
        let runtime_config = dir.path().join("runtime-config.toml");
        std::fs::write(&runtime_config, limits + &blocked + &store)
            .expect("write the runtime config");
        Stack {
            redis,
            runtime_config,
            dir,
        }
    }

    pub fn runtime_config(&self) -> &Path {
        &self.runtime_config
    }

    /// The stack's own directory (the runtime config; the SQLite store).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Options to run `manifest` on this stack: its runtime config, and the variable
    /// `redis_address` naming its Redis (set any others after it).
    pub fn app_options(&self, manifest: impl Into<PathBuf>) -> AppOptions {
        let mut options = AppOptions::new(manifest.into());
        options.runtime_config = Some(self.runtime_config.clone());
        options
            .variables
            .push(("redis_address".to_owned(), self.redis.url()));
        options
    }
}

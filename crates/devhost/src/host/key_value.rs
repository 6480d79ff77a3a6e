//! `fermyon:spin/key-value@2.0.0` and its backends. A component may open only
//! the labels it declares (`access-denied` otherwise); a label that is neither
//! `default` nor configured stops the app at load (`app`), as on Spin.
//! `default` always exists: SQLite at `.spin/sqlite_key_value.db` beside the
//! manifest unless the runtime config moves it. SQLite uses Spin's table
//! layout (`spin_key_value`), in WAL mode with a busy timeout so the two
//! processes of a split run can share it; Redis stores each key as a plain
//! Redis key, as Spin's Redis store does, and waits while Redis is unreachable
//! as Spin's does (`redis_store`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::OnceCell;
use wasmtime::component::Resource;

use super::HostState;
use super::bindings::fermyon::spin2_0_0::key_value::{Error, Host, HostStore};
use crate::runtime_config::KvBackend;

mod redis_store;
/// `wasi:keyvalue` over these same stores.
pub(crate) mod wasi_keyvalue;

use redis_store::RedisStore;

/// An open store, as held in an instance's resource table.
pub struct StoreHandle {
    store: Arc<Backend>,
}

/// Every configured label, opened on first use and then shared by all
/// instances of all components.
pub struct KvStores {
    stores: HashMap<String, (KvBackend, OnceCell<Arc<Backend>>)>,
}

enum Backend {
    Sqlite(SqliteStore),
    Redis(RedisStore),
}

struct SqliteStore {
    label: String,
    conn: Arc<Mutex<rusqlite::Connection>>,
}

impl KvStores {
    /// `configured` is the runtime config's labels; `default_path` is where
    /// `default` lives when the runtime config does not say.
    pub fn new(
        configured: &std::collections::BTreeMap<String, KvBackend>,
        default_path: PathBuf,
    ) -> KvStores {
        let mut stores: HashMap<String, (KvBackend, OnceCell<Arc<Backend>>)> = configured
            .iter()
            .map(|(label, backend)| (label.clone(), (backend.clone(), OnceCell::new())))
            .collect();
        stores
            .entry("default".to_string())
            .or_insert_with(|| (KvBackend::Sqlite(Some(default_path)), OnceCell::new()));
        KvStores { stores }
    }

    async fn open(&self, label: &str) -> Result<Arc<Backend>, Error> {
        let Some((backend, cell)) = self.stores.get(label) else {
            return Err(Error::NoSuchStore);
        };
        cell.get_or_try_init(|| async {
            let opened = match backend {
                KvBackend::Sqlite(path) => {
                    let path = path.clone();
                    let label = label.to_string();
                    tokio::task::spawn_blocking(move || open_sqlite(label, path.as_deref()))
                        .await
                        .context("SQLite open task failed")?
                }
                KvBackend::Redis(url) => open_redis(url).await,
            }
            .with_context(|| format!("failed to open key-value store {label:?}"));
            opened.map(Arc::new)
        })
        .await
        .cloned()
        .map_err(|e: anyhow::Error| {
            eprintln!("{e:#}");
            Error::Other(format!("{e:#}"))
        })
    }
}

fn open_sqlite(label: String, path: Option<&Path>) -> anyhow::Result<Backend> {
    let conn = match path {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("failed to create {}", dir.display()))?;
            }
            rusqlite::Connection::open(path)
                .with_context(|| format!("failed to open SQLite file {}", path.display()))?
        }
        None => rusqlite::Connection::open_in_memory()?,
    };
    conn.busy_timeout(Duration::from_secs(10))?;
    // WAL lets a reader in one process run beside a writer in another.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS spin_key_value (
            store TEXT NOT NULL,
            key   TEXT NOT NULL,
            value BLOB NOT NULL,
            PRIMARY KEY (store, key)
        )",
        [],
    )?;
    Ok(Backend::Sqlite(SqliteStore {
        label,
        conn: Arc::new(Mutex::new(conn)),
    }))
}

async fn open_redis(url: &str) -> anyhow::Result<Backend> {
    RedisStore::open(url).await.map(Backend::Redis)
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

impl SqliteStore {
    /// Runs `f` on the connection off the async threads.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection, &str) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        let conn = self.conn.clone();
        let label = self.label.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            f(&conn, &label)
        })
        .await
        .map_err(other)?
        .map_err(other)
    }
}

/// One value of a SQLite store, or `None`; both key-value interfaces read through here
/// (a transaction derefs to its connection).
pub(crate) fn read_value(
    c: &rusqlite::Connection,
    label: &str,
    key: &str,
) -> rusqlite::Result<Option<Vec<u8>>> {
    use rusqlite::OptionalExtension;
    c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
        .query_row(rusqlite::params![label, key], |row| row.get(0))
        .optional()
}

/// Sets one value of a SQLite store, overwriting; both key-value interfaces write
/// through here.
pub(crate) fn write_value(
    c: &rusqlite::Connection,
    label: &str,
    key: &str,
    value: &[u8],
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
    )?
    .execute(rusqlite::params![label, key, value])
    .map(drop)
}

impl Backend {
    async fn get(&self, key: String) -> Result<Option<Vec<u8>>, Error> {
        match self {
            Backend::Sqlite(s) => s.with(move |c, label| read_value(c, label, &key)).await,
            Backend::Redis(r) => r.query(redis::cmd("GET").arg(key)).await,
        }
    }

    async fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        match self {
            Backend::Sqlite(s) => {
                s.with(move |c, label| write_value(c, label, &key, &value))
                    .await
            }
            Backend::Redis(r) => r.query(redis::cmd("SET").arg(key).arg(value)).await,
        }
    }

    async fn delete(&self, key: String) -> Result<(), Error> {
        match self {
            Backend::Sqlite(s) => {
                s.with(move |c, label| {
                    c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                        .execute(rusqlite::params![label, key])
                        .map(drop)
                })
                .await
            }
            Backend::Redis(r) => r.query(redis::cmd("DEL").arg(key)).await,
        }
    }

    async fn exists(&self, key: String) -> Result<bool, Error> {
        match self {
            Backend::Sqlite(s) => {
                s.with(move |c, label| {
                    c.prepare_cached(
                        "SELECT EXISTS(SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)",
                    )?
                    .query_row(rusqlite::params![label, key], |row| row.get(0))
                })
                .await
            }
            Backend::Redis(r) => r.query(redis::cmd("EXISTS").arg(key)).await,
        }
    }

    async fn get_keys(&self) -> Result<Vec<String>, Error> {
        match self {
            Backend::Sqlite(s) => {
                s.with(move |c, label| {
                    let mut stmt =
                        c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?;
                    let keys = stmt
                        .query_map(rusqlite::params![label], |row| row.get(0))?
                        .collect::<rusqlite::Result<Vec<String>>>()?;
                    Ok(keys)
                })
                .await
            }
            // Spin's Redis store lists every key of the database.
            Backend::Redis(r) => r.query(redis::cmd("KEYS").arg("*")).await,
        }
    }
}

impl HostState {
    fn kv_store(&mut self, store: &Resource<StoreHandle>) -> wasmtime::Result<Arc<Backend>> {
        Ok(self.table().get(store)?.store.clone())
    }
}

impl Host for HostState {}

impl HostStore for HostState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, Error>> {
        if !self.env.kv_labels.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let store = match self.env.kv.open(&label).await {
            Ok(store) => store,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self
            .table()
            .push(StoreHandle { store })
            .map_err(|_| Error::StoreTableFull))
    }

    async fn get(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let store = self.kv_store(&store)?;
        Ok(store.get(key).await)
    }

    async fn set(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let store = self.kv_store(&store)?;
        Ok(store.set(key, value).await)
    }

    async fn delete(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let store = self.kv_store(&store)?;
        Ok(store.delete(key).await)
    }

    async fn exists(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let store = self.kv_store(&store)?;
        Ok(store.exists(key).await)
    }

    async fn get_keys(
        &mut self,
        store: Resource<StoreHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let store = self.kv_store(&store)?;
        Ok(store.get_keys().await)
    }

    async fn drop(&mut self, store: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table().delete(store)?;
        Ok(())
    }
}

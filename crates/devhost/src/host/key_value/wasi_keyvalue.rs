//! `wasi:keyvalue@0.2.0-draft2` (`store`, `atomics`, `batch`) over the same
//! backends and access rules as `fermyon:spin/key-value`: a bucket is a store
//! label the component declares (`access-denied` otherwise, `no-such-store`
//! when the label is not configured), and both interfaces see the same data.
//! It lives under [`super`] to reuse its backends; it owns only the wasi
//! shapes and the operations Spin's key-value interface lacks.
//!
//! What a guest can observe matches Spin 4.0.2's stores (crates/key-value-spin,
//! crates/key-value-redis), bugs included, so that an app cannot come to rely
//! here on what breaks there (docs/devhost.md):
//! - `increment` keeps an 8-byte little-endian integer on SQLite and a decimal
//!   string on Redis (`INCRBY`);
//! - `list-keys` answers every key in one page and refuses a cursor;
//! - compare-and-swap: on SQLite, `swap` updates only if the key still holds
//!   what `current` read, but a key `current` found absent is written
//!   whatever happened since; on Redis, `current` WATCHes the key on the
//!   `cas`'s own connection and `swap` runs MULTI/SET/EXEC and then
//!   `UNWATCH <key>`, which Redis refuses, so every swap reports failure
//!   (its write applied unless the key changed meanwhile);
//! - get-many: on SQLite it lists only the keys found; on Redis it sends
//!   `KEYS <the keys>`: several keys are an error reply, one absent key finds
//!   nothing, and one present key is a reply Spin panics on ([`SpinPanic`]).

use std::sync::Arc;

use redis::aio::MultiplexedConnection;
use rusqlite::TransactionBehavior;
use wasmtime::component::{HasSelf, Linker, Resource};

use super::{Backend, Error as SpinError, read_value, write_value};
use crate::host::{HostState, SpinPanic};
use bindings::wasi::keyvalue::atomics::{self, CasError};
use bindings::wasi::keyvalue::batch;
use bindings::wasi::keyvalue::store::{self, Error, KeyResponse};

/// Bindings generated from `wit/deps/keyvalue-0.2.0-draft2`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/deps/keyvalue-0.2.0-draft2",
        world: "wasi:keyvalue/imports",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": crate::host::key_value::wasi_keyvalue::Bucket,
            "wasi:keyvalue/atomics.cas": crate::host::key_value::wasi_keyvalue::Cas,
        },
    });
}

/// Offers the three interfaces; a component that imports none of them never
/// touches them.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    bindings::Imports::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

/// An open bucket, as held in an instance's resource table.
pub struct Bucket {
    store: Arc<Backend>,
}

/// A pending compare-and-swap, shaped as Spin's: the key, what `current` last
/// read there, and on Redis the connection of its own that WATCHes the key.
pub struct Cas {
    store: Arc<Backend>,
    key: String,
    /// What `current` read (`None`: absent, or `current` not called yet).
    seen: Option<Vec<u8>>,
    /// Redis only: opened by `new`, as Spin opens one per `cas`.
    watch: Option<MultiplexedConnection>,
}

fn to_wasi(e: SpinError) -> Error {
    match e {
        SpinError::NoSuchStore => Error::NoSuchStore,
        SpinError::AccessDenied => Error::AccessDenied,
        SpinError::StoreTableFull => Error::Other("store table full".to_string()),
        SpinError::Other(msg) => Error::Other(msg),
    }
}

/// Spin's SQLite store keeps a counter as exactly 8 little-endian bytes.
fn decode_counter(key: &str, bytes: Vec<u8>) -> Result<i64, SpinError> {
    let raw: [u8; 8] = bytes.try_into().map_err(|bytes: Vec<u8>| {
        SpinError::Other(format!(
            "value of {key:?} is {} bytes, not an 8-byte little-endian integer",
            bytes.len()
        ))
    })?;
    Ok(i64::from_le_bytes(raw))
}

impl Backend {
    async fn increment(&self, key: String, delta: i64) -> Result<i64, SpinError> {
        match self {
            Backend::Sqlite(s) => {
                s.with(move |c, label| {
                    let tx =
                        rusqlite::Transaction::new_unchecked(c, TransactionBehavior::Immediate)?;
                    let stored = read_value(&tx, label, &key)?;
                    let current = match stored {
                        Some(bytes) => match decode_counter(&key, bytes) {
                            Ok(n) => n,
                            Err(e) => return Ok(Err(e)),
                        },
                        None => 0,
                    };
                    let Some(next) = current.checked_add(delta) else {
                        return Ok(Err(SpinError::Other(format!(
                            "incrementing {key:?} ({current}) by {delta} overflows"
                        ))));
                    };
                    write_value(&tx, label, &key, &next.to_le_bytes())?;
                    tx.commit()?;
                    Ok(Ok(next))
                })
                .await?
            }
            Backend::Redis(r) => r.query(redis::cmd("INCRBY").arg(key).arg(delta)).await,
        }
    }

    /// SQLite's swap as Spin's: an `UPDATE` guarded by the value `current` read
    /// (`seen`), or, when it read nothing, an unguarded upsert. Says whether one
    /// row changed.
    async fn swap_sqlite(
        &self,
        key: String,
        seen: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Result<bool, SpinError> {
        let Backend::Sqlite(s) = self else {
            return Err(SpinError::Other("not a SQLite store".into()));
        };
        s.with(move |c, label| {
            let changed = match seen {
                Some(old) => c
                    .prepare_cached(
                        "UPDATE spin_key_value SET value = ?4
                         WHERE store = ?1 AND key = ?2 AND value = ?3",
                    )?
                    .execute(rusqlite::params![label, key, old, value])?,
                None => {
                    write_value(c, label, &key, &value)?;
                    1
                }
            };
            Ok(changed == 1)
        })
        .await
    }

    /// Spin's get-many: the keys found, with their values (see the module docs
    /// for Redis). `Err(SpinPanic)` is a reply Spin 4.0.2 panics on.
    async fn get_many(
        &self,
        keys: Vec<String>,
    ) -> Result<Result<Vec<(String, Option<Vec<u8>>)>, SpinError>, SpinPanic> {
        if keys.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        match self {
            Backend::Sqlite(s) => Ok(s
                .with(move |c, label| {
                    // One read transaction, so the values are from one moment.
                    let tx = c.unchecked_transaction()?;
                    let mut found = Vec::with_capacity(keys.len());
                    for key in keys {
                        if let Some(value) = read_value(&tx, label, &key)? {
                            found.push((key, Some(value)));
                        }
                    }
                    tx.commit()?;
                    Ok(found)
                })
                .await),
            Backend::Redis(r) => {
                let reply: redis::Value = match r.query(redis::cmd("KEYS").arg(&keys)).await {
                    Ok(reply) => reply,
                    Err(e) => return Ok(Err(e)),
                };
                match reply {
                    redis::Value::Array(items) if items.is_empty() => Ok(Ok(Vec::new())),
                    other => Err(SpinPanic(format!(
                        "wasi:keyvalue/batch.get-many on a Redis store: Spin 4.0.2 sends KEYS \
                         and panics reading its reply ({other:?}); its runtime stops here, and \
                         so does the devhost's (docs/devhost.md)"
                    ))),
                }
            }
        }
    }

    async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), SpinError> {
        if pairs.is_empty() {
            return Ok(());
        }
        match self {
            Backend::Sqlite(s) => {
                s.with(move |c, label| {
                    let tx =
                        rusqlite::Transaction::new_unchecked(c, TransactionBehavior::Immediate)?;
                    for (key, value) in pairs {
                        write_value(&tx, label, &key, &value)?;
                    }
                    tx.commit()
                })
                .await
            }
            Backend::Redis(r) => r.query(redis::cmd("MSET").arg(&pairs)).await,
        }
    }

    async fn delete_many(&self, keys: Vec<String>) -> Result<(), SpinError> {
        if keys.is_empty() {
            return Ok(());
        }
        match self {
            Backend::Sqlite(s) => {
                s.with(move |c, label| {
                    let tx =
                        rusqlite::Transaction::new_unchecked(c, TransactionBehavior::Immediate)?;
                    {
                        let mut stmt = tx.prepare_cached(
                            "DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2",
                        )?;
                        for key in keys {
                            stmt.execute(rusqlite::params![label, key])?;
                        }
                    }
                    tx.commit()
                })
                .await
            }
            Backend::Redis(r) => r.query(redis::cmd("DEL").arg(keys)).await,
        }
    }
}

impl HostState {
    fn bucket(&mut self, bucket: &Resource<Bucket>) -> wasmtime::Result<Arc<Backend>> {
        Ok(self.table().get(bucket)?.store.clone())
    }

    /// A `cas` for `key`, as Spin's `new`: nothing read yet, and on Redis a
    /// connection of its own for the WATCH.
    async fn new_cas(
        &mut self,
        store: Arc<Backend>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, Error>> {
        let watch = match &*store {
            Backend::Redis(r) => match open_connection(r.url()).await {
                Ok(conn) => Some(conn),
                Err(e) => return Ok(Err(e)),
            },
            Backend::Sqlite(_) => None,
        };
        Ok(self
            .table()
            .push(Cas {
                store,
                key,
                seen: None,
                watch,
            })
            .map_err(|e| Error::Other(e.to_string())))
    }

    /// `current`: reads the key (on Redis, after WATCHing it on the `cas`'s
    /// connection) and remembers what it read for the swap.
    async fn cas_current(
        &mut self,
        cas: &Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let (store, key, watch) = {
            let cas = self.table().get(cas)?;
            (cas.store.clone(), cas.key.clone(), cas.watch.clone())
        };
        let seen = match watch {
            Some(mut conn) => watch_and_get(&mut conn, &key).await,
            None => store.get(key).await.map_err(to_wasi),
        };
        Ok(match seen {
            Ok(seen) => {
                self.table().get_mut(cas)?.seen.clone_from(&seen);
                Ok(seen)
            }
            Err(e) => Err(e),
        })
    }
}

async fn open_connection(url: &str) -> Result<MultiplexedConnection, Error> {
    let client = redis::Client::open(url).map_err(|e| Error::Other(e.to_string()))?;
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| Error::Other(e.to_string()))
}

async fn watch_and_get(
    conn: &mut MultiplexedConnection,
    key: &str,
) -> Result<Option<Vec<u8>>, Error> {
    let watched: redis::RedisResult<()> = redis::cmd("WATCH").arg(key).query_async(conn).await;
    let read = match watched {
        Ok(()) => redis::cmd("GET").arg(key).query_async(conn).await,
        Err(e) => Err(e),
    };
    read.map_err(|e| Error::Other(e.to_string()))
}

/// Spin's Redis swap: MULTI/SET/EXEC on the watching connection, then
/// `UNWATCH <key>`; a failure of either is a failed swap. Redis refuses an
/// UNWATCH with an argument, so this is never true on a real Redis.
async fn redis_swap(conn: &mut MultiplexedConnection, key: &str, value: Vec<u8>) -> bool {
    let exec: redis::RedisResult<redis::Value> = redis::pipe()
        .atomic()
        .set(key, value)
        .query_async(conn)
        .await;
    let unwatch: redis::RedisResult<redis::Value> =
        redis::cmd("UNWATCH").arg(key).query_async(conn).await;
    exec.is_ok() && unwatch.is_ok()
}

impl store::Host for HostState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, Error>> {
        if !self.env.kv_labels.contains(&identifier) {
            return Ok(Err(Error::AccessDenied));
        }
        let store = match self.env.kv.open(&identifier).await {
            Ok(store) => store,
            Err(e) => return Ok(Err(to_wasi(e))),
        };
        Ok(self
            .table()
            .push(Bucket { store })
            .map_err(|e| Error::Other(e.to_string())))
    }
}

impl store::HostBucket for HostState {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let store = self.bucket(&bucket)?;
        Ok(store.get(key).await.map_err(to_wasi))
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let store = self.bucket(&bucket)?;
        Ok(store.set(key, value).await.map_err(to_wasi))
    }

    async fn delete(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let store = self.bucket(&bucket)?;
        Ok(store.delete(key).await.map_err(to_wasi))
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let store = self.bucket(&bucket)?;
        Ok(store.exists(key).await.map_err(to_wasi))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<KeyResponse, Error>> {
        let store = self.bucket(&bucket)?;
        // The whole listing is one page, so no cursor is ever handed out.
        if cursor.is_some() {
            return Ok(Err(Error::Other(
                "list-keys: cursors are not supported".to_string(),
            )));
        }
        Ok(store
            .get_keys()
            .await
            .map(|keys| KeyResponse { keys, cursor: None })
            .map_err(to_wasi))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table().delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for HostState {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, Error>> {
        let store = self.bucket(&bucket)?;
        Ok(store.increment(key, delta).await.map_err(to_wasi))
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), CasError>> {
        let Cas {
            store,
            key,
            seen,
            watch,
        } = self.table().delete(cas)?;
        let swapped = match watch {
            Some(mut conn) => Ok(redis_swap(&mut conn, &key, value).await),
            None => store.swap_sqlite(key.clone(), seen, value).await,
        };
        match swapped {
            Ok(true) => Ok(Ok(())),
            // As Spin: hand back a fresh `cas` that has already run `current`.
            Ok(false) => {
                let retry = match self.new_cas(store, key).await? {
                    Ok(retry) => retry,
                    Err(e) => return Ok(Err(CasError::StoreError(e))),
                };
                Ok(Err(match self.cas_current(&retry).await? {
                    Ok(_) => CasError::CasFailed(retry),
                    Err(e) => CasError::StoreError(e),
                }))
            }
            Err(e) => Ok(Err(CasError::StoreError(to_wasi(e)))),
        }
    }
}

impl atomics::HostCas for HostState {
    async fn new(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, Error>> {
        let store = self.bucket(&bucket)?;
        self.new_cas(store, key).await
    }

    async fn current(
        &mut self,
        cas: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        self.cas_current(&cas).await
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table().delete(cas)?;
        Ok(())
    }
}

impl batch::Host for HostState {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, Error>> {
        let store = self.bucket(&bucket)?;
        match store.get_many(keys).await {
            Ok(found) => Ok(found.map_err(to_wasi)),
            // Not an error the guest sees: Spin's host panics here.
            Err(panic) => Err(panic.into()),
        }
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let store = self.bucket(&bucket)?;
        Ok(store.set_many(key_values).await.map_err(to_wasi))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let store = self.bucket(&bucket)?;
        Ok(store.delete_many(keys).await.map_err(to_wasi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_round_trips_through_spins_sqlite_encoding() {
        for n in [0, 1, -1, 42, i64::MIN, i64::MAX] {
            assert_eq!(decode_counter("k", n.to_le_bytes().to_vec()).unwrap(), n);
        }
    }

    #[test]
    fn a_value_that_is_not_eight_bytes_is_not_a_counter() {
        assert!(matches!(
            decode_counter("k", b"12".to_vec()),
            Err(SpinError::Other(msg)) if msg.contains("2 bytes")
        ));
    }
}

//! `wasi:keyvalue@0.2.0-draft2` (`store`, `atomics`, `batch`) over the same
//! backends and access rules as `fermyon:spin/key-value`: a bucket is a store
//! label the component declares (`access-denied` otherwise, `no-such-store`
//! when the label is not configured), and both interfaces see the same data.
//! It lives under [`super`] to reuse its backends; it owns only the wasi
//! shapes and the operations Spin's key-value interface lacks.
//!
//! What a guest can observe matches Spin's stores: `increment` keeps an
//! 8-byte little-endian integer on SQLite (crates/key-value-spin) and a
//! decimal string on Redis (`INCRBY`, crates/key-value-redis); `list-keys`
//! answers every key in one page and refuses a cursor. Unlike Spin's Redis
//! store, compare-and-swap is a real one on both backends: the write happens
//! only if the key still holds what the `cas` last read (a transaction on
//! SQLite, a Lua script on Redis), and `swap` reports exactly that.

use std::sync::{Arc, LazyLock};

use redis::AsyncCommands;
use rusqlite::TransactionBehavior;
use wasmtime::component::{HasSelf, Linker, Resource};

use super::{Backend, Error as SpinError, other, read_value, write_value};
use crate::host::HostState;
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

/// A pending compare-and-swap: the key and what the guest last saw there.
pub struct Cas {
    store: Arc<Backend>,
    key: String,
    /// The value the swap compares against; `None` means "absent".
    seen: Option<Vec<u8>>,
}

/// Swaps only if the key holds `ARGV[2]` (when `ARGV[1]` is `1`) or is
/// absent (otherwise), so the read and the write are one step on the server.
static REDIS_SWAP: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
",
    )
});

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
            Backend::Redis(m) => m.clone().incr(key, delta).await.map_err(other),
        }
    }

    /// Writes `value` if `key` holds `expected` (`None`: is absent); says
    /// whether it did.
    async fn swap(
        &self,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Result<bool, SpinError> {
        match self {
            Backend::Sqlite(s) => {
                s.with(move |c, label| {
                    let tx =
                        rusqlite::Transaction::new_unchecked(c, TransactionBehavior::Immediate)?;
                    let stored = read_value(&tx, label, &key)?;
                    if stored != expected {
                        return Ok(false);
                    }
                    write_value(&tx, label, &key, &value)?;
                    tx.commit()?;
                    Ok(true)
                })
                .await
            }
            Backend::Redis(m) => {
                let (present, expected) = match expected {
                    Some(bytes) => ("1", bytes),
                    None => ("0", Vec::new()),
                };
                let swapped: i64 = REDIS_SWAP
                    .key(key)
                    .arg(present)
                    .arg(expected)
                    .arg(value)
                    .invoke_async(&mut m.clone())
                    .await
                    .map_err(other)?;
                Ok(swapped == 1)
            }
        }
    }

    /// Every requested key, in order, with its value or `None`.
    async fn get_many(
        &self,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, SpinError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Backend::Sqlite(s) => {
                s.with(move |c, label| {
                    // One read transaction, so the values are from one moment.
                    let tx = c.unchecked_transaction()?;
                    let mut found = Vec::with_capacity(keys.len());
                    for key in keys {
                        let value = read_value(&tx, label, &key)?;
                        found.push((key, value));
                    }
                    tx.commit()?;
                    Ok(found)
                })
                .await
            }
            Backend::Redis(m) => {
                // MGET even for one key: the values come back as a list.
                let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                    .arg(&keys)
                    .query_async(&mut m.clone())
                    .await
                    .map_err(other)?;
                Ok(keys.into_iter().zip(values).collect())
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
            Backend::Redis(m) => redis::cmd("MSET")
                .arg(&pairs)
                .query_async(&mut m.clone())
                .await
                .map_err(other),
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
            Backend::Redis(m) => m.clone().del(keys).await.map_err(other),
        }
    }
}

impl HostState {
    fn bucket(&mut self, bucket: &Resource<Bucket>) -> wasmtime::Result<Arc<Backend>> {
        Ok(self.table().get(bucket)?.store.clone())
    }

    /// A `cas` for `key` that has read the key's current value.
    async fn new_cas(
        &mut self,
        store: Arc<Backend>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, Error>> {
        let seen = match store.get(key.clone()).await {
            Ok(seen) => seen,
            Err(e) => return Ok(Err(to_wasi(e))),
        };
        Ok(self
            .table()
            .push(Cas { store, key, seen })
            .map_err(|e| Error::Other(e.to_string())))
    }
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
        let Cas { store, key, seen } = self.table().delete(cas)?;
        match store.swap(key.clone(), seen, value).await {
            Ok(true) => Ok(Ok(())),
            // Lost the race: hand back a `cas` that has read the new value.
            Ok(false) => Ok(Err(match self.new_cas(store, key).await? {
                Ok(retry) => CasError::CasFailed(retry),
                Err(e) => CasError::StoreError(e),
            })),
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
        let (store, key) = {
            let cas = self.table().get(&cas)?;
            (cas.store.clone(), cas.key.clone())
        };
        // What the guest reads now is what the swap must find.
        let seen = match store.get(key).await {
            Ok(seen) => seen,
            Err(e) => return Ok(Err(to_wasi(e))),
        };
        self.table().get_mut(&cas)?.seen.clone_from(&seen);
        Ok(Ok(seen))
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
        Ok(store.get_many(keys).await.map_err(to_wasi))
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

//! The runtime config file (`--runtime-config-file`): which backend serves
//! each key-value store label, `max_instance_memory` (bytes of linear
//! memory one instance may grow to, as Spin's) and `[outbound_networking]
//! block_networks` (see `blocked_networks`). Only those are understood; any
//! other table or field is refused. Owns parsing; opening the stores is
//! `host::key_value`, the memory limit `host`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// Where one key-value label lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvBackend {
    /// A SQLite file (Spin's `type = "spin"`); `None` is an in-memory store.
    Sqlite(Option<PathBuf>),
    /// A Redis server; keys are stored as plain Redis keys.
    Redis(String),
}

/// The parsed file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntimeConfig {
    /// Store label to its backend.
    #[serde(default)]
    key_value_store: BTreeMap<String, RawKvStore>,
    /// Most bytes of memory one instance may grow to; none means wasmtime's 4 GiB.
    #[serde(default)]
    max_instance_memory: Option<usize>,
    /// `[outbound_networking]`: only `block_networks`.
    #[serde(default)]
    outbound_networking: Option<RawOutboundNetworking>,
}

/// The `[outbound_networking]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutboundNetworking {
    #[serde(default)]
    block_networks: Vec<String>,
}

/// One `[key_value_store.<label>]` table.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum RawKvStore {
    /// SQLite; `path` is relative to the runtime config file's directory.
    #[serde(rename = "spin")]
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// Redis at `url` (`redis://host:port[/db]`).
    #[serde(rename = "redis")]
    Redis { url: String },
}

/// Key-value labels configured by the runtime config, in addition to the
/// built-in `default` (SQLite beside the manifest).
#[derive(Debug, Default)]
pub struct RuntimeConfig {
    pub key_value: BTreeMap<String, KvBackend>,
    /// `max_instance_memory`: a memory growth past it fails inside the guest.
    pub max_instance_memory: Option<usize>,
    /// `[outbound_networking] block_networks`.
    pub blocked_networks: crate::blocked_networks::BlockedNetworks,
}

impl RuntimeConfig {
    /// Reads the file at `path`.
    pub fn load(path: &Path) -> anyhow::Result<RuntimeConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read runtime config {}", path.display()))?;
        let dir = path
            .canonicalize()
            .with_context(|| format!("failed to resolve runtime config {}", path.display()))?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        RuntimeConfig::parse(&text, path, &dir)
    }

    /// Parses file text; relative SQLite paths resolve against `dir`.
    pub fn parse(text: &str, path: &Path, dir: &Path) -> anyhow::Result<RuntimeConfig> {
        let raw: RawRuntimeConfig = toml::from_str(text)
            .with_context(|| format!("invalid runtime config {}", path.display()))?;
        let mut key_value = BTreeMap::new();
        for (label, store) in raw.key_value_store {
            let backend = match store {
                RawKvStore::Spin { path } => KvBackend::Sqlite(path.map(|p| dir.join(p))),
                RawKvStore::Redis { url } => {
                    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                        bail!(
                            "invalid runtime config {}: key_value_store.{label}.url must be a \
                             redis:// URL, got {url:?}",
                            path.display()
                        );
                    }
                    KvBackend::Redis(url)
                }
            };
            key_value.insert(label, backend);
        }
        Ok(RuntimeConfig {
            key_value,
            max_instance_memory: raw.max_instance_memory,
            blocked_networks: crate::blocked_networks::BlockedNetworks::parse(
                &raw.outbound_networking.unwrap_or_default().block_networks,
            )
            .with_context(|| format!("invalid runtime config {}", path.display()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<RuntimeConfig> {
        RuntimeConfig::parse(text, Path::new("/cfg/rc.toml"), Path::new("/cfg"))
    }

    #[test]
    fn redis_and_sqlite_stores_parse() {
        let rc = parse(
            r#"
[key_value_store.default]
type = "redis"
url = "redis://127.0.0.1:6379"

[key_value_store.local]
type = "spin"
path = "data/kv.db"

[key_value_store.memory]
type = "spin"
"#,
        )
        .unwrap();
        assert_eq!(
            rc.key_value["default"],
            KvBackend::Redis("redis://127.0.0.1:6379".into())
        );
        assert_eq!(
            rc.key_value["local"],
            KvBackend::Sqlite(Some(PathBuf::from("/cfg/data/kv.db")))
        );
        assert_eq!(rc.key_value["memory"], KvBackend::Sqlite(None));
    }

    #[test]
    fn an_absolute_sqlite_path_is_kept() {
        let rc =
            parse("[key_value_store.default]\ntype = \"spin\"\npath = \"/abs/kv.db\"\n").unwrap();
        assert_eq!(
            rc.key_value["default"],
            KvBackend::Sqlite(Some(PathBuf::from("/abs/kv.db")))
        );
    }

    #[test]
    fn unknown_fields_tables_and_types_are_refused() {
        for text in [
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://x\"\nextra = 1\n",
            "[sqlite_database.default]\ntype = \"spin\"\n",
            "[key_value_store.default]\ntype = \"azure_cosmos\"\n",
            "[key_value_store.default]\ntype = \"redis\"\n",
        ] {
            let err = parse(text).unwrap_err();
            assert!(format!("{err:#}").contains("/cfg/rc.toml"), "{err:#}");
        }
    }

    #[test]
    fn an_empty_file_configures_nothing() {
        let rc = parse("").unwrap();
        assert!(rc.key_value.is_empty());
        assert_eq!(rc.max_instance_memory, None);
    }

    #[test]
    fn max_instance_memory_is_read_in_bytes() {
        let rc = parse("max_instance_memory = 134217728\n").unwrap();
        assert_eq!(rc.max_instance_memory, Some(128 << 20));
    }
}

//! The wasmtime engine and the on-disk cache of compiled components. The
//! engine uses the pooling allocator (instances come and go with requests, so
//! their memories and stacks are recycled instead of mapped afresh) and falls
//! back to on-demand allocation where the pool cannot be reserved. Compiled
//! components are cached under `.spin/devhost-cache/` beside the manifest,
//! keyed by the SHA-256 of the wasm bytes and the engine's compatibility hash
//! (wasmtime version plus every setting that affects compiled code).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Builds the engine shared by every component.
pub fn engine() -> anyhow::Result<Engine> {
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(1_000)
        .total_core_instances(4_000)
        .total_memories(2_000)
        .total_tables(4_000)
        .total_stacks(1_000)
        .max_memories_per_component(8)
        .max_tables_per_component(16)
        .max_core_instances_per_component(32)
        // Recycled slots keep their first pages mapped instead of being
        // decommitted and faulted in again on every request.
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(64 << 10)
        // Where the kernel offers PAGEMAP_SCAN (Linux 6.7+), only the pages an
        // instance actually dirtied are reset, instead of memsetting the whole
        // keep-resident prefix (megabytes) on every request.
        .pagemap_scan(Enabled::Auto);
    let mut config = base_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    match Engine::new(&config) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            eprintln!("devhost: pooling allocator unavailable ({e}); using on-demand allocation");
            Engine::new(&base_config())
                .map_err(anyhow::Error::from)
                .context("failed to create the wasmtime engine")
        }
    }
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // WASIp3 components (`wasi:http/handler@0.3`) are async components run in
    // a concurrent store, as Spin 4 runs them. WASIp2 ones run as before; their
    // stores merely carry concurrent state they never use.
    config.wasm_component_model_async(true);
    config.concurrency_support(true);
    // `DEVHOST_PROFILE=perfmap` names guest functions for `perf` (see bench/README.md).
    if std::env::var_os("DEVHOST_PROFILE").is_some_and(|v| v == "perfmap") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

/// Loads `wasm_path` compiled for `engine`, from the cache in `cache_dir` when
/// an entry matches, else compiling it and storing the result.
pub fn load_component(
    engine: &Engine,
    wasm_path: &Path,
    cache_dir: &Path,
) -> anyhow::Result<Component> {
    let bytes = std::fs::read(wasm_path)
        .with_context(|| format!("failed to read component {}", wasm_path.display()))?;
    let entry = cache_entry(engine, &bytes, cache_dir);
    if entry.is_file() {
        match deserialize_cached(engine, &entry) {
            Ok(component) => return Ok(component),
            Err(e) => eprintln!("devhost: ignoring cache entry {}: {e:#}", entry.display()),
        }
    }
    let component = Component::new(engine, &bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("failed to compile component {}", wasm_path.display()))?;
    if let Err(e) = store_cached(&component, &entry) {
        eprintln!(
            "devhost: could not write cache entry {}: {e:#}",
            entry.display()
        );
    }
    Ok(component)
}

fn cache_entry(engine: &Engine, bytes: &[u8], cache_dir: &Path) -> PathBuf {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    cache_dir.join(format!("{hex}-{:016x}.cwasm", hasher.finish()))
}

/// Reads a cache entry this program wrote.
#[allow(unsafe_code)]
fn deserialize_cached(engine: &Engine, entry: &Path) -> anyhow::Result<Component> {
    // SAFETY: `deserialize_file` trusts its input to be code wasmtime itself
    // produced. The entry lives in the app's private `.spin/devhost-cache`,
    // is written only by `store_cached` (whole, via rename) from a component
    // this engine compiled, and is named by the hash of the source bytes and
    // of the engine's settings; wasmtime additionally checks the version and
    // configuration header before using it.
    unsafe { Component::deserialize_file(engine, entry) }.map_err(anyhow::Error::from)
}

fn store_cached(component: &Component, entry: &Path) -> anyhow::Result<()> {
    let dir = entry.parent().context("cache entry has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let serialized = component.serialize()?;
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    std::fs::write(&tmp, serialized)?;
    std::fs::rename(&tmp, entry)?;
    Ok(())
}

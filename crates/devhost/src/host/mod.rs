//! The per-instance host state a guest sees, and the linker that offers it:
//! WASI p2 and p3 (cli, clocks, random, io; no preopens), `wasi:http` p2 and
//! p3 (outgoing requests checked against `allowed_outbound_hosts`) and Spin's
//! `fermyon:spin` interfaces. One [`HostState`] lives exactly as long as one
//! instance: a WASIp2 HTTP component and a Redis handler get a fresh one per
//! request or message, a WASIp3 HTTP component's instance (and its state) is
//! reused for many requests, as on Spin (`http_trigger`). What is shared
//! between instances (key-value store backends) lives in [`ComponentEnv`] and
//! carries no per-guest state. Outbound Redis connections are per instance, as
//! on Spin.

pub mod key_value;
pub mod outbound_http;
pub mod redis;
pub mod variables;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, p2, p3};

use crate::allowed_hosts::AllowedHosts;
use crate::logs::ComponentOutput;

/// Bindings generated from `wit/` for the interfaces the host implements.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "devhost:host/platform",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/key-value@2.0.0.store": crate::host::key_value::StoreHandle,
            "fermyon:spin/redis@2.0.0.connection": crate::host::redis::ConnectionHandle,
        },
    });
}

/// A host call that panics inside Spin 4.0.2's host. The guest traps (an HTTP
/// request answers an empty `500`), and a Redis trigger stops the whole runtime,
/// as Spin's does when its trigger task panics (docs/devhost.md).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SpinPanic(pub String);

impl SpinPanic {
    /// Whether `e` (a trap, with its context) came from a [`SpinPanic`].
    pub fn is_in(e: &anyhow::Error) -> bool {
        e.chain()
            .any(|cause| cause.downcast_ref::<SpinPanic>().is_some())
    }
}

/// What every instance of one component shares: its permissions, resolved
/// variables, and handles to host-wide backends.
pub struct ComponentEnv {
    /// The component id (log prefix, messages).
    pub id: String,
    /// Key-value labels from `key_value_stores`.
    pub kv_labels: HashSet<String>,
    /// Every configured key-value store of the app.
    pub kv: Arc<key_value::KvStores>,
    /// `[component.ID.variables]`, rendered.
    pub variables: HashMap<String, String>,
    /// `allowed_outbound_hosts`, expanded.
    pub allowed_hosts: Arc<AllowedHosts>,
    /// `environment`, passed to WASI.
    pub environment: Vec<(String, String)>,
    /// Where guest stdout/stderr go.
    pub output: ComponentOutput,
    /// The runtime config's `max_instance_memory`, as Spin applies it to each instance.
    pub max_instance_memory: Option<usize>,
    /// The runtime config's `block_networks`, checked on outbound HTTP.
    pub blocked_networks: Arc<crate::blocked_networks::BlockedNetworks>,
}

/// The data of one `Store`: one guest instance.
pub struct HostState {
    limits: wasmtime::StoreLimits,
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: outbound_http::OutboundHooks,
    pub(crate) env: Arc<ComponentEnv>,
}

impl HostState {
    /// A fresh store for one instance of the component `env` describes, with its
    /// memory limit in force.
    pub fn new_store(engine: &wasmtime::Engine, env: &Arc<ComponentEnv>) -> wasmtime::Store<Self> {
        let mut store = wasmtime::Store::new(engine, HostState::new(env));
        store.limiter(|state| &mut state.limits);
        store
    }

    /// Fresh state for one instance of the component `env` describes.
    pub fn new(env: &Arc<ComponentEnv>) -> HostState {
        let mut builder = WasiCtx::builder();
        builder
            .stdout(env.output.stdout())
            .stderr(env.output.stderr())
            .envs(&env.environment);
        let mut limits = wasmtime::StoreLimitsBuilder::new();
        if let Some(bytes) = env.max_instance_memory {
            limits = limits.memory_size(bytes);
        }
        HostState {
            limits: limits.build(),
            wasi: builder.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: outbound_http::OutboundHooks::new(
                env.id.clone(),
                env.allowed_hosts.clone(),
                env.blocked_networks.clone(),
            ),
            env: env.clone(),
        }
    }

    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl p2::WasiHttpView for HostState {
    fn http(&mut self) -> p2::WasiHttpCtxView<'_> {
        p2::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl p3::WasiHttpView for HostState {
    fn http(&mut self) -> p3::WasiHttpCtxView<'_> {
        p3::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// A linker offering everything the devhost implements. A component that
/// imports anything else fails to pre-instantiate, naming the import.
pub fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    p2::add_only_http_to_linker_async(&mut linker)?;
    // A WASIp3 component imports both: the p3 interfaces it uses itself and
    // the p2 ones that spin-sdk's bindings (and the wasip2 target) pull in.
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    p3::add_to_linker(&mut linker)?;
    bindings::Platform::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
    key_value::wasi_keyvalue::add_to_linker(&mut linker)?;
    Ok(linker)
}

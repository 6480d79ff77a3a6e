//! Loading an application for `devhost up`: manifest, variables, runtime
//! config, the selected components compiled and pre-instantiated, routes and
//! Redis subscriptions resolved. Everything that can be wrong with the app is
//! found here, before anything listens.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use wasmtime::Engine;
use wasmtime::component::InstancePre;

use crate::allowed_hosts::AllowedHosts;
use crate::host::{self, ComponentEnv, HostState};
use crate::http_trigger::HttpHandler;
use crate::logs::ComponentOutput;
use crate::manifest::Manifest;
use crate::redis_trigger::RedisHandlerPre;
use crate::routes::Router;
use crate::runtime_config::RuntimeConfig;
use crate::template;

/// What `devhost up` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct UpConfig {
    /// The manifest (`-f`).
    pub manifest: PathBuf,
    /// `--runtime-config-file`.
    pub runtime_config: Option<PathBuf>,
    /// `--variable NAME=VALUE`, in order (later wins).
    pub variables: Vec<(String, String)>,
    /// `--component-id`; empty selects every component.
    pub component_ids: Vec<String>,
    /// Environment lookups (`SPIN_VARIABLE_*`); `None` reads the process
    /// environment.
    pub env: Option<HashMap<String, String>>,
}

/// A component ready to instantiate.
pub struct LoadedComponent {
    pub env: Arc<ComponentEnv>,
    /// Set when an HTTP trigger uses the component.
    pub http: Option<HttpHandler>,
    /// Set when a Redis trigger uses the component.
    pub redis: Option<RedisHandlerPre<HostState>>,
}

/// One Redis address and what to call per channel.
#[derive(Debug, Clone)]
pub struct RedisSubscription {
    pub address: String,
    /// Channel to component ids.
    pub channels: BTreeMap<String, Vec<String>>,
}

/// A loaded application.
pub struct App {
    pub engine: Engine,
    pub components: HashMap<String, LoadedComponent>,
    /// `None` when no HTTP trigger is selected (then nothing listens).
    pub router: Option<Router>,
    pub subscriptions: Vec<RedisSubscription>,
}

impl App {
    /// Loads and checks everything `config` names.
    pub fn load(config: &UpConfig) -> anyhow::Result<App> {
        let manifest = Manifest::load(&config.manifest)?;
        let file = manifest.path.display().to_string();
        let env_lookup = |name: &str| match &config.env {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        let app_values = crate::variables::resolve_application(
            &manifest.raw.variables,
            &config.variables,
            &env_lookup,
        )
        .with_context(|| format!("invalid variables for {file}"))?;
        let runtime_config = match &config.runtime_config {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };

        for id in &config.component_ids {
            if !manifest.raw.component.contains_key(id) {
                bail!("--component-id {id}: {file} has no component {id:?}");
            }
        }
        let selected = |id: &str| {
            config.component_ids.is_empty() || config.component_ids.iter().any(|c| c == id)
        };

        // Triggers that point at selected components.
        let http_triggers: Vec<_> = manifest
            .raw
            .trigger
            .http
            .iter()
            .filter(|t| selected(&t.component))
            .collect();
        let router = if http_triggers.is_empty() {
            None
        } else {
            Some(
                Router::build(
                    manifest.http_base(),
                    http_triggers
                        .iter()
                        .map(|t| (t.component.as_str(), t.route.as_str())),
                )
                .with_context(|| format!("invalid route in {file}"))?,
            )
        };
        let default_address = manifest
            .raw
            .application
            .trigger
            .redis
            .as_ref()
            .and_then(|r| r.address.clone());
        let mut by_address: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        let mut redis_components = HashSet::new();
        for (i, t) in manifest.raw.trigger.redis.iter().enumerate() {
            if !selected(&t.component) {
                continue;
            }
            let address_expr = t
                .address
                .clone()
                .or_else(|| default_address.clone())
                .unwrap_or_default();
            let address = template::expand(
                &address_expr,
                &app_values,
                &format!("{file}: trigger.redis[{i}].address"),
            )?;
            let channel = template::expand(
                &t.channel,
                &app_values,
                &format!("{file}: trigger.redis[{i}].channel"),
            )?;
            by_address
                .entry(address)
                .or_default()
                .entry(channel)
                .or_default()
                .push(t.component.clone());
            redis_components.insert(t.component.clone());
        }
        let subscriptions = by_address
            .into_iter()
            .map(|(address, channels)| RedisSubscription { address, channels })
            .collect();
        let http_components: HashSet<String> =
            http_triggers.iter().map(|t| t.component.clone()).collect();

        let engine = crate::engine::engine()?;
        let linker = host::linker(&engine)?;
        let cache_dir = manifest.dir.join(".spin").join("devhost-cache");
        let kv = Arc::new(host::key_value::KvStores::new(
            &runtime_config.key_value,
            manifest.dir.join(".spin").join("sqlite_key_value.db"),
        ));

        let mut components = HashMap::new();
        for (id, decl) in &manifest.raw.component {
            let is_http = http_components.contains(id);
            let is_redis = redis_components.contains(id);
            if !(is_http || is_redis) {
                continue;
            }
            // As Spin: a label must be `default` or configured by the runtime config,
            // checked before anything runs (not at `open`, as no-such-store).
            if let Some(label) = decl
                .key_value_stores
                .iter()
                .find(|label| *label != "default" && !runtime_config.key_value.contains_key(*label))
            {
                bail!(
                    "{file}: component.{id}.key_value_stores: unknown key_value_stores label \
                     {label:?} for component {id:?} (neither `default` nor configured by the \
                     runtime config)"
                );
            }
            let source = manifest.source_path(id, decl)?;
            if !source.is_file() {
                bail!(
                    "{file}: component.{id}.source: file {} does not exist",
                    source.display()
                );
            }
            let mut hosts = Vec::new();
            for (j, entry) in decl.allowed_outbound_hosts.iter().enumerate() {
                hosts.push(template::expand(
                    entry,
                    &app_values,
                    &format!("{file}: component.{id}.allowed_outbound_hosts[{j}]"),
                )?);
            }
            let allowed_hosts = AllowedHosts::parse(&hosts)
                .with_context(|| format!("{file}: component.{id}.allowed_outbound_hosts"))?;
            let variables = crate::variables::resolve_component(id, &decl.variables, &app_values)
                .with_context(|| format!("invalid variables in {file}"))?;
            let env = Arc::new(ComponentEnv {
                id: id.clone(),
                kv_labels: decl.key_value_stores.iter().cloned().collect(),
                kv: kv.clone(),
                variables,
                allowed_hosts: Arc::new(allowed_hosts),
                environment: decl.environment.clone().into_iter().collect(),
                output: ComponentOutput::new(id),
                max_instance_memory: runtime_config.max_instance_memory,
                blocked_networks: Arc::new(runtime_config.blocked_networks.clone()),
            });

            let component = crate::engine::load_component(&engine, &source, &cache_dir)?;
            let pre: InstancePre<HostState> = linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!(
                        "component {id:?} ({}) cannot run on devhost",
                        source.display()
                    )
                })?;
            let http = if is_http {
                Some(
                    HttpHandler::new(&engine, &env, pre.clone())
                        .with_context(|| format!("component {id:?} is used by an HTTP trigger"))?,
                )
            } else {
                None
            };
            let redis = if is_redis {
                Some(RedisHandlerPre::new(pre).map_err(anyhow::Error::from).with_context(|| {
                    format!("component {id:?} is used by a Redis trigger but does not export fermyon:spin/inbound-redis")
                })?)
            } else {
                None
            };
            components.insert(id.clone(), LoadedComponent { env, http, redis });
        }

        Ok(App {
            engine,
            components,
            router,
            subscriptions,
        })
    }

    /// Whether an HTTP listener is needed.
    pub fn needs_listener(&self) -> bool {
        self.router.is_some()
    }
}

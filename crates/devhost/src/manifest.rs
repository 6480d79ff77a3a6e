//! The Spin application manifest (`spin.toml`, `spin_manifest_version = 2`):
//! its shape, with unknown fields refused as Spin refuses them, and the checks
//! that must stop the host before it serves anything. Owns parsing and
//! validation only; resolving expressions is `template`/`variables`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// A parsed manifest plus where it came from.
#[derive(Debug)]
pub struct Manifest {
    /// The manifest file, as given.
    pub path: PathBuf,
    /// The directory relative `source` paths are resolved against.
    pub dir: PathBuf,
    pub raw: RawManifest,
}

/// The top level of `spin.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawManifest {
    /// Must be 2.
    pub spin_manifest_version: i64,
    pub application: Application,
    /// Application variables, by name.
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDecl>,
    /// Triggers by type; only `http` and `redis` are known.
    #[serde(default)]
    pub trigger: Triggers,
    /// Components by id.
    #[serde(default)]
    pub component: BTreeMap<String, ComponentDecl>,
}

/// `[application]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    /// Application-wide trigger settings.
    #[serde(default)]
    pub trigger: ApplicationTriggers,
    /// Deployment targets: meaningless to a local host, accepted and ignored.
    #[serde(default)]
    pub targets: Option<toml::Value>,
    /// Settings for Spin plugins; ignored.
    #[serde(default)]
    pub tool: Option<toml::Value>,
}

/// `[application.trigger]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationTriggers {
    #[serde(default)]
    pub http: Option<ApplicationHttp>,
    #[serde(default)]
    pub redis: Option<ApplicationRedis>,
}

/// `[application.trigger.http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationHttp {
    /// Prefix for every route (Spin's `base`, default `/`).
    #[serde(default)]
    pub base: Option<String>,
}

/// `[application.trigger.redis]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationRedis {
    /// The default address of `[[trigger.redis]]` entries (may hold `{{ var }}`).
    #[serde(default)]
    pub address: Option<String>,
}

/// One entry of `[variables]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    /// The value used when neither `--variable` nor the environment sets one.
    #[serde(default)]
    pub default: Option<String>,
    /// Whether start-up fails when no value is found.
    #[serde(default)]
    pub required: bool,
    /// Whether the value must be kept out of logs.
    #[serde(default)]
    pub secret: bool,
}

/// `[trigger]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
    #[serde(default)]
    pub redis: Vec<RedisTrigger>,
}

/// One `[[trigger.http]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    #[serde(default)]
    pub id: Option<String>,
    /// The route pattern: exact, `/prefix/...`, `:name` segments.
    pub route: String,
    /// The id of the component that serves this route.
    pub component: String,
    /// Spin's executor selection; only the default (`wasi:http`) is supported.
    #[serde(default)]
    pub executor: Option<toml::Value>,
}

/// One `[[trigger.redis]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisTrigger {
    #[serde(default)]
    pub id: Option<String>,
    /// The channel to SUBSCRIBE to (may hold `{{ var }}`).
    pub channel: String,
    /// The id of the component called per message.
    pub component: String,
    /// Overrides `[application.trigger.redis] address` (may hold `{{ var }}`).
    #[serde(default)]
    pub address: Option<String>,
}

/// `[component.ID]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentDecl {
    #[serde(default)]
    pub description: Option<String>,
    /// Path to the `.wasm` file, relative to the manifest's directory.
    pub source: toml::Value,
    /// Files to mount; not supported (the devhost gives guests no filesystem).
    #[serde(default)]
    pub files: Vec<toml::Value>,
    #[serde(default)]
    pub exclude_files: Vec<String>,
    /// Hosts the component may reach (HTTP and Redis), may hold `{{ var }}`.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// The pre-2.0 spelling of outbound HTTP permissions; refused with a hint.
    #[serde(default)]
    pub allowed_http_hosts: Option<toml::Value>,
    /// Key-value store labels the component may open.
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// Environment variables the guest sees.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Component variables: name to template over application variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Build settings for `spin build`; ignored at run time.
    #[serde(default)]
    pub build: Option<toml::Value>,
    /// Settings for Spin plugins; ignored.
    #[serde(default)]
    pub tool: Option<toml::Value>,
    /// Spin features the devhost does not implement; refused if present.
    #[serde(default)]
    pub sqlite_databases: Option<toml::Value>,
    #[serde(default)]
    pub ai_models: Option<toml::Value>,
    #[serde(default)]
    pub dependencies: Option<toml::Value>,
    #[serde(default)]
    pub dependencies_inherit_configuration: Option<toml::Value>,
}

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read manifest {}", path.display()))?;
        let dir = path
            .canonicalize()
            .with_context(|| format!("failed to resolve manifest path {}", path.display()))?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Manifest::parse(&text, path, dir)
    }

    /// Parses manifest text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path, dir: PathBuf) -> anyhow::Result<Manifest> {
        let file = path.display();
        let raw: RawManifest =
            toml::from_str(text).with_context(|| format!("invalid manifest {file}"))?;
        if raw.spin_manifest_version != 2 {
            bail!(
                "invalid manifest {file}: spin_manifest_version = {} is not supported (only 2)",
                raw.spin_manifest_version
            );
        }
        let manifest = Manifest {
            path: path.to_path_buf(),
            dir,
            raw,
        };
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> anyhow::Result<()> {
        let file = self.path.display();
        for (id, c) in &self.raw.component {
            let unsupported = [
                ("files", !c.files.is_empty()),
                ("exclude_files", !c.exclude_files.is_empty()),
                ("sqlite_databases", c.sqlite_databases.is_some()),
                ("ai_models", c.ai_models.is_some()),
                ("dependencies", c.dependencies.is_some()),
                (
                    "dependencies_inherit_configuration",
                    c.dependencies_inherit_configuration.is_some(),
                ),
            ];
            for (field, present) in unsupported {
                if present {
                    bail!("{file}: component.{id}.{field} is not supported by devhost");
                }
            }
            if c.allowed_http_hosts.is_some() {
                bail!(
                    "{file}: component.{id}.allowed_http_hosts is not supported in manifest \
                     version 2; use allowed_outbound_hosts"
                );
            }
            self.source_path(id, c)?;
        }
        for (i, t) in self.raw.trigger.http.iter().enumerate() {
            if !self.raw.component.contains_key(&t.component) {
                bail!(
                    "{file}: trigger.http[{i}].component refers to unknown component {:?}",
                    t.component
                );
            }
            if t.executor.is_some() {
                bail!("{file}: trigger.http[{i}].executor is not supported by devhost");
            }
        }
        for (i, t) in self.raw.trigger.redis.iter().enumerate() {
            if !self.raw.component.contains_key(&t.component) {
                bail!(
                    "{file}: trigger.redis[{i}].component refers to unknown component {:?}",
                    t.component
                );
            }
            let has_default = self
                .raw
                .application
                .trigger
                .redis
                .as_ref()
                .is_some_and(|r| r.address.is_some());
            if t.address.is_none() && !has_default {
                bail!(
                    "{file}: trigger.redis[{i}] has no address and \
                     [application.trigger.redis] sets no default address"
                );
            }
        }
        Ok(())
    }

    /// The absolute path of component `id`'s `.wasm`.
    pub fn source_path(&self, id: &str, c: &ComponentDecl) -> anyhow::Result<PathBuf> {
        let file = self.path.display();
        let toml::Value::String(source) = &c.source else {
            bail!(
                "{file}: component.{id}.source must be a path to a .wasm file \
                 (URL and registry sources are not supported by devhost)"
            );
        };
        Ok(self.dir.join(source))
    }

    /// The HTTP base path (`[application.trigger.http] base`, default `/`).
    pub fn http_base(&self) -> &str {
        self.raw
            .application
            .trigger
            .http
            .as_ref()
            .and_then(|h| h.base.as_deref())
            .unwrap_or("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Manifest> {
        Manifest::parse(text, Path::new("/app/spin.toml"), PathBuf::from("/app"))
    }

    const GOOD: &str = r#"
spin_manifest_version = 2

[application]
name = "demo"
version = "0.1.0"
authors = ["someone"]

[application.trigger.redis]
address = "{{ redis_address }}"

[variables]
redis_address = { default = "redis://127.0.0.1:6379" }
token = { required = true, secret = true }

[[trigger.http]]
route = "/..."
component = "web"

[[trigger.redis]]
channel = "jobs"
component = "worker"

[component.web]
source = "web.wasm"
key_value_stores = ["default"]
allowed_outbound_hosts = ["{{ redis_address }}"]
[component.web.variables]
token = "{{ token }}"
[component.web.build]
command = "cargo build"

[component.worker]
source = "/abs/worker.wasm"
"#;

    #[test]
    fn a_full_manifest_parses() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.raw.application.name, "demo");
        assert_eq!(m.raw.trigger.http[0].route, "/...");
        assert_eq!(m.raw.trigger.redis[0].channel, "jobs");
        assert!(m.raw.variables["token"].required);
        let web = &m.raw.component["web"];
        assert_eq!(
            m.source_path("web", web).unwrap(),
            PathBuf::from("/app/web.wasm")
        );
        let worker = &m.raw.component["worker"];
        assert_eq!(
            m.source_path("worker", worker).unwrap(),
            PathBuf::from("/abs/worker.wasm")
        );
    }

    #[test]
    fn an_unknown_field_is_refused_naming_the_field_and_the_file() {
        let text = GOOD.replace("key_value_stores", "key_value_storez");
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(err.contains("key_value_storez"), "{err}");
        assert!(err.contains("/app/spin.toml"), "{err}");
    }

    #[test]
    fn an_unknown_trigger_type_is_refused() {
        let text = format!("{GOOD}\n[[trigger.cron]]\ncomponent = \"web\"\n");
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(err.contains("cron"), "{err}");
    }

    #[test]
    fn a_wrong_manifest_version_is_refused() {
        let text = GOOD.replace("spin_manifest_version = 2", "spin_manifest_version = 1");
        assert!(parse(&text).is_err());
    }

    #[test]
    fn a_trigger_naming_an_unknown_component_is_refused() {
        let text = GOOD.replace("component = \"worker\"", "component = \"nobody\"");
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(err.contains("nobody"), "{err}");
    }

    #[test]
    fn unsupported_component_features_are_refused_by_name() {
        let text = GOOD.replace(
            "source = \"web.wasm\"",
            "source = \"web.wasm\"\nfiles = [\"a\"]",
        );
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(err.contains("component.web.files"), "{err}");
    }

    #[test]
    fn unparseable_toml_names_the_file() {
        let err = format!("{:#}", parse("spin_manifest_version = ").unwrap_err());
        assert!(err.contains("/app/spin.toml"), "{err}");
    }
}

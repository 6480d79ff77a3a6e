//! Tenants and their API keys: who may call the API, as whom, and each tenant's own
//! settings. Everything lives in Redis beside the queue ([`RedisTenants`]), so keys are
//! managed at run time, without a redeploy. The services in `crate::service::auth` and
//! `crate::service::admin` use it through [`TenantStore`].

pub mod api_key;
mod redis;

pub use api_key::ApiKey;
pub use redis::RedisTenants;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::job::Tenant;
use crate::ports::PortError;

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything its tenant may: submit, cancel, retry, read.
    #[default]
    Full,
    /// Read only: a `403` for anything that changes a job (for dashboards and viewers).
    Read,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Full => "full",
            Role::Read => "read",
        }
    }

    /// A stored role. A key from before roles has none: [`Role::Full`]. Anything this
    /// build does not know (a damaged field, a role of a later version) fails closed:
    /// [`Role::Read`].
    pub fn from_stored(text: Option<&str>) -> Role {
        match text {
            None | Some("" | "full") => Role::Full,
            Some(_) => Role::Read,
        }
    }
}

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    pub name: Tenant,
    pub created_ms: u64,
    /// Its own quota; `None` takes the app-wide `max_queued_jobs`.
    pub max_queued_jobs: Option<u64>,
}

/// An API key as listed: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The public id (`ajk_{id}` is the key's prefix).
    pub id: String,
    pub created_ms: u64,
    pub revoked_ms: Option<u64>,
    pub role: Role,
}

/// What the store holds for a key id, to check a presented key against, and where its
/// tenant stands against its quota (read in the same round trip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub tenant: Tenant,
    /// SHA-256 of the key, hex.
    pub hash: String,
    pub revoked: bool,
    pub role: Role,
    pub quota: QuotaSeen,
}

/// A tenant's queued jobs and its own quota, as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaSeen {
    pub queued: u64,
    /// Its own `max_queued_jobs`; `None` takes the app-wide one.
    pub max_queued_jobs: Option<u64>,
}

/// The outcome of a write that needs its tenant (or key) to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Done,
    /// No such tenant (or key of that tenant).
    Missing,
    /// It exists already (a tenant of that name, a key of that id).
    Exists,
}

/// Tenants and API keys. Each method is one Redis round trip.
pub trait TenantStore {
    /// The record of the key `id`, if any, with its tenant's quota.
    fn key(&self, id: &str) -> Result<Option<StoredKey>, PortError>;
    /// Create `tenant` unless it exists.
    fn create_tenant(
        &self,
        tenant: &Tenant,
        now_ms: u64,
        max_queued_jobs: Option<u64>,
    ) -> Result<Written, PortError>;
    fn tenant(&self, tenant: &Tenant) -> Result<Option<TenantInfo>, PortError>;
    /// Every tenant's name, oldest first (at most 1000).
    fn tenants(&self) -> Result<Vec<Tenant>, PortError>;
    /// Set (or clear) a tenant's own quota.
    fn set_max_queued_jobs(&self, tenant: &Tenant, max: Option<u64>) -> Result<Written, PortError>;
    /// Record `key` (its hash) for `tenant`.
    fn issue_key(
        &self,
        tenant: &Tenant,
        key: &ApiKey,
        role: Role,
        now_ms: u64,
    ) -> Result<Written, PortError>;
    /// The keys of `tenant`, oldest first; `None` when there is no such tenant.
    fn keys(&self, tenant: &Tenant) -> Result<Option<Vec<KeyInfo>>, PortError>;
    /// Revoke the key `id` of `tenant` (idempotent); `None` when it has no such key.
    fn revoke_key(
        &self,
        tenant: &Tenant,
        id: &str,
        now_ms: u64,
    ) -> Result<Option<KeyInfo>, PortError>;
}

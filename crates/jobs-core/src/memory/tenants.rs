//! [`MemoryTenants`]: tenants and API keys in memory, as `tenancy::RedisTenants` keeps
//! them in Redis.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::job::Tenant;
use crate::ports::PortError;
use crate::tenancy::{
    ApiKey, KeyInfo, QuotaSeen, Role, StoredKey, TenantInfo, TenantStore, Written,
};

#[derive(Debug, Default)]
struct State {
    /// Reading a tenant fails ([`MemoryTenants::fail_tenant_reads`]).
    tenant_reads_fail: bool,
    tenants: BTreeMap<Tenant, TenantInfo>,
    /// key id → (tenant, hash, created, revoked, role)
    keys: BTreeMap<String, (Tenant, String, u64, Option<u64>, Role)>,
}

/// Tenants and keys in memory. Clones share one state.
#[derive(Debug, Clone, Default)]
pub struct MemoryTenants {
    state: Arc<Mutex<State>>,
}

impl MemoryTenants {
    /// Make reading a tenant ([`TenantStore::tenant`]) fail with
    /// [`PortError::Unavailable`] while every other call goes on (or work again).
    pub fn fail_tenant_reads(&self, fail: bool) {
        lock(&self.state).tenant_reads_fail = fail;
    }
}

impl TenantStore for MemoryTenants {
    fn key(&self, id: &str) -> Result<Option<StoredKey>, PortError> {
        let s = lock(&self.state);
        Ok(s.keys
            .get(id)
            .map(|(tenant, hash, _, revoked, role)| StoredKey {
                tenant: tenant.clone(),
                hash: hash.clone(),
                revoked: revoked.is_some(),
                role: *role,
                quota: QuotaSeen {
                    queued: 0,
                    max_queued_jobs: s.tenants.get(tenant).and_then(|t| t.max_queued_jobs),
                },
            }))
    }

    fn create_tenant(
        &self,
        tenant: &Tenant,
        now_ms: u64,
        max_queued_jobs: Option<u64>,
    ) -> Result<Written, PortError> {
        let mut s = lock(&self.state);
        if s.tenants.contains_key(tenant) {
            return Ok(Written::Exists);
        }
        let info = TenantInfo {
            name: tenant.clone(),
            created_ms: now_ms,
            max_queued_jobs,
        };
        s.tenants.insert(tenant.clone(), info);
        Ok(Written::Done)
    }

    fn tenant(&self, tenant: &Tenant) -> Result<Option<TenantInfo>, PortError> {
        let s = lock(&self.state);
        if s.tenant_reads_fail {
            return Err(PortError::Unavailable("tenant reads fail".into()));
        }
        Ok(s.tenants.get(tenant).cloned())
    }

    fn tenants(&self) -> Result<Vec<Tenant>, PortError> {
        let s = lock(&self.state);
        let mut all: Vec<&TenantInfo> = s.tenants.values().collect();
        all.sort_by_key(|t| (t.created_ms, t.name.clone()));
        Ok(all.into_iter().map(|t| t.name.clone()).collect())
    }

    fn set_max_queued_jobs(&self, tenant: &Tenant, max: Option<u64>) -> Result<Written, PortError> {
        match lock(&self.state).tenants.get_mut(tenant) {
            Some(info) => {
                info.max_queued_jobs = max;
                Ok(Written::Done)
            }
            None => Ok(Written::Missing),
        }
    }

    fn issue_key(
        &self,
        tenant: &Tenant,
        key: &ApiKey,
        role: Role,
        now_ms: u64,
    ) -> Result<Written, PortError> {
        let mut s = lock(&self.state);
        if !s.tenants.contains_key(tenant) {
            return Ok(Written::Missing);
        }
        if s.keys.contains_key(key.id()) {
            return Ok(Written::Exists);
        }
        let record = (tenant.clone(), key.hash(), now_ms, None, role);
        s.keys.insert(key.id().to_owned(), record);
        Ok(Written::Done)
    }

    fn keys(&self, tenant: &Tenant) -> Result<Option<Vec<KeyInfo>>, PortError> {
        let s = lock(&self.state);
        if !s.tenants.contains_key(tenant) {
            return Ok(None);
        }
        let mut keys: Vec<KeyInfo> = s
            .keys
            .iter()
            .filter(|(_, (t, ..))| t == tenant)
            .map(|(id, (_, _, created, revoked, role))| KeyInfo {
                id: id.clone(),
                created_ms: *created,
                revoked_ms: *revoked,
                role: *role,
            })
            .collect();
        keys.sort_by_key(|k| (k.created_ms, k.id.clone()));
        Ok(Some(keys))
    }

    fn revoke_key(
        &self,
        tenant: &Tenant,
        id: &str,
        now_ms: u64,
    ) -> Result<Option<KeyInfo>, PortError> {
        let mut s = lock(&self.state);
        match s.keys.get_mut(id) {
            Some((t, _, created, revoked, role)) if t == tenant => {
                let revoked_ms = *revoked.get_or_insert(now_ms);
                Ok(Some(KeyInfo {
                    id: id.to_owned(),
                    created_ms: *created,
                    revoked_ms: Some(revoked_ms),
                    role: *role,
                }))
            }
            _ => Ok(None),
        }
    }
}

//! [`RedisTenants`]: the [`TenantStore`] over the [`Redis`] port (keys in `crate::keys`,
//! scripts under `queue/lua/`).

use super::{ApiKey, KeyInfo, QuotaSeen, Role, StoredKey, TenantInfo, TenantStore, Written};
use crate::job::Tenant;
use crate::keys;
use crate::ports::{PortError, Redis, RedisParam, RedisValue};
use crate::queue::QueueError;
use crate::queue::scripts::{self, Script};
use crate::queue::wire::eval;

/// Tenants and keys in Redis.
#[derive(Debug, Clone)]
pub struct RedisTenants<R> {
    redis: R,
}

impl<R: Redis> RedisTenants<R> {
    pub fn new(redis: R) -> Self {
        RedisTenants { redis }
    }

    fn run(
        &self,
        script: &'static Script,
        keys: Vec<String>,
        args: Vec<RedisParam>,
    ) -> Result<Vec<RedisValue>, PortError> {
        eval(&self.redis, script, keys, args).map_err(|e| match e {
            QueueError::Port(p) => p,
            other => PortError::Protocol(other.to_string()),
        })
    }

    /// A flat `field, value, ...` reply (HGETALL) as pairs.
    fn hash(&self, key: String) -> Result<Vec<(String, String)>, PortError> {
        let reply = self.redis.execute("HGETALL", &[key.into()])?;
        Ok(reply
            .chunks(2)
            .filter_map(|pair| Some((pair.first()?.to_text()?, pair.get(1)?.to_text()?)))
            .collect())
    }
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(f, _)| f == name)
        .map(|(_, v)| v.as_str())
}

fn status(script: &str, reply: &[RedisValue]) -> Result<String, PortError> {
    reply
        .first()
        .and_then(RedisValue::to_text)
        .ok_or_else(|| PortError::Protocol(format!("{script}: unexpected reply {reply:?}")))
}

fn written(script: &str, reply: &[RedisValue]) -> Result<Written, PortError> {
    match status(script, reply)?.as_str() {
        "created" | "updated" | "issued" => Ok(Written::Done),
        "missing" => Ok(Written::Missing),
        "exists" | "collision" => Ok(Written::Exists),
        other => Err(PortError::Protocol(format!(
            "{script}: unexpected reply {other}"
        ))),
    }
}

fn optional_ms(v: Option<&RedisValue>) -> Option<u64> {
    v.and_then(RedisValue::to_int)
        .and_then(|n| u64::try_from(n).ok())
}

fn max_param(max: Option<u64>) -> RedisParam {
    max.map(|m| m.to_string()).unwrap_or_default().into()
}

impl<R: Redis> TenantStore for RedisTenants<R> {
    fn key(&self, id: &str) -> Result<Option<StoredKey>, PortError> {
        let reply = self.run(&scripts::KEY_LOOKUP, vec![keys::api_key(id)], Vec::new())?;
        if reply.is_empty() {
            return Ok(None);
        }
        let (Some(tenant), Some(hash)) = (
            reply.first().and_then(RedisValue::to_text),
            reply.get(1).and_then(RedisValue::to_text),
        ) else {
            return Err(PortError::Protocol(format!(
                "key_lookup: unexpected reply {reply:?}"
            )));
        };
        let Ok(tenant) = Tenant::parse(&tenant) else {
            return Ok(None);
        };
        Ok(Some(StoredKey {
            tenant,
            hash,
            revoked: reply.get(2).and_then(RedisValue::to_int) == Some(1),
            role: Role::from_stored(reply.get(5).and_then(RedisValue::to_text).as_deref()),
            quota: QuotaSeen {
                queued: optional_ms(reply.get(3)).unwrap_or(0),
                max_queued_jobs: optional_ms(reply.get(4)),
            },
        }))
    }

    fn create_tenant(
        &self,
        tenant: &Tenant,
        now_ms: u64,
        max_queued_jobs: Option<u64>,
    ) -> Result<Written, PortError> {
        let reply = self.run(
            &scripts::TENANT_CREATE,
            vec![keys::tenant_settings(tenant), keys::tenants()],
            vec![
                tenant.as_str().into(),
                now_ms.to_string().into(),
                max_param(max_queued_jobs),
            ],
        )?;
        written("tenant_create", &reply)
    }

    fn tenant(&self, tenant: &Tenant) -> Result<Option<TenantInfo>, PortError> {
        let pairs = self.hash(keys::tenant_settings(tenant))?;
        let Some(created) = field(&pairs, "created_ms") else {
            return Ok(None);
        };
        Ok(Some(TenantInfo {
            name: tenant.clone(),
            created_ms: created.parse().unwrap_or(0),
            max_queued_jobs: field(&pairs, "max_queued_jobs").and_then(|m| m.parse().ok()),
        }))
    }

    fn tenants(&self) -> Result<Vec<Tenant>, PortError> {
        let reply = self.redis.execute(
            "ZRANGE",
            &[
                keys::tenants().into(),
                RedisParam::Int(0),
                RedisParam::Int(999),
            ],
        )?;
        Ok(reply
            .iter()
            .filter_map(|v| Tenant::parse(&v.to_text()?).ok())
            .collect())
    }

    fn set_max_queued_jobs(&self, tenant: &Tenant, max: Option<u64>) -> Result<Written, PortError> {
        let reply = self.run(
            &scripts::TENANT_UPDATE,
            vec![keys::tenant_settings(tenant)],
            vec![max_param(max)],
        )?;
        written("tenant_update", &reply)
    }

    fn issue_key(
        &self,
        tenant: &Tenant,
        key: &ApiKey,
        role: Role,
        now_ms: u64,
    ) -> Result<Written, PortError> {
        let reply = self.run(
            &scripts::KEY_ISSUE,
            vec![
                keys::tenant_settings(tenant),
                keys::api_key(key.id()),
                keys::tenant_keys(tenant),
            ],
            vec![
                tenant.as_str().into(),
                key.id().into(),
                key.hash().into(),
                now_ms.to_string().into(),
                role.as_str().into(),
            ],
        )?;
        written("key_issue", &reply)
    }

    fn keys(&self, tenant: &Tenant) -> Result<Option<Vec<KeyInfo>>, PortError> {
        let reply = self.run(
            &scripts::KEY_LIST,
            vec![keys::tenant_settings(tenant), keys::tenant_keys(tenant)],
            Vec::new(),
        )?;
        if status("key_list", &reply)? == "missing" {
            return Ok(None);
        }
        Ok(Some(
            reply[1..]
                .chunks(4)
                .filter_map(|k| {
                    Some(KeyInfo {
                        id: k.first()?.to_text()?,
                        created_ms: optional_ms(k.get(1)).unwrap_or(0),
                        revoked_ms: optional_ms(k.get(2)),
                        role: Role::from_stored(k.get(3).and_then(RedisValue::to_text).as_deref()),
                    })
                })
                .collect(),
        ))
    }

    fn revoke_key(
        &self,
        tenant: &Tenant,
        id: &str,
        now_ms: u64,
    ) -> Result<Option<KeyInfo>, PortError> {
        let reply = self.run(
            &scripts::KEY_REVOKE,
            vec![keys::api_key(id)],
            vec![tenant.as_str().into(), now_ms.to_string().into()],
        )?;
        if status("key_revoke", &reply)? == "missing" {
            return Ok(None);
        }
        Ok(Some(KeyInfo {
            id: id.to_owned(),
            created_ms: optional_ms(reply.get(1)).unwrap_or(0),
            revoked_ms: optional_ms(reply.get(2)),
            role: Role::from_stored(reply.get(3).and_then(RedisValue::to_text).as_deref()),
        }))
    }
}

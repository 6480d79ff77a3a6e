//! The admin API: tenants and their API keys, behind the secret `admin_token` (see
//! `auth::admin_allowed`). A key is shown once, when it is issued; afterwards only its
//! prefix, creation and revocation times are.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::AdminError;
use crate::context::StoreError;
use crate::job::{Tenant, Timestamp};
use crate::kind::{whole_numbers, whole_u64};
use crate::ports::PortError;
use crate::queue::QueueError;
use crate::tenancy::{ApiKey, KeyInfo, Role, TenantInfo, TenantStore, Written, api_key};

/// A tenant as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TenantResource {
    pub name: String,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    /// Its own quota; `null` takes the app-wide `max_queued_jobs`.
    pub max_queued_jobs: Option<u64>,
}

/// An API key as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct KeyResource {
    pub id: String,
    /// The start of the key, to recognise it: `ajk_{id}`.
    pub prefix: String,
    #[schemars(extend("format" = "date-time"))]
    pub created_at: String,
    #[schemars(extend("format" = "date-time"))]
    pub revoked_at: Option<String>,
    pub role: Role,
}

/// A key just issued: the only time the key itself is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct IssuedKey {
    pub tenant: String,
    /// The API key. Store it now: it cannot be shown again.
    pub key: String,
    #[serde(flatten)]
    pub info: KeyResource,
}

/// A tenant's webhook signing secrets: receivers verify with either while both are set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SecretResource {
    pub tenant: String,
    /// Signs every delivery: `whsec_` + base64.
    pub current: String,
    /// During a rotation, also signs every delivery until it is dropped.
    pub previous: Option<String>,
}

/// `GET /admin/tenants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TenantList {
    pub items: Vec<TenantResource>,
}

/// `GET /admin/tenants/{name}/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct KeyList {
    pub items: Vec<KeyResource>,
}

/// `POST /admin/tenants`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// 1 to 32 characters of `a-z`, `0-9` and `-`.
    #[schemars(regex(pattern = TENANT_PATTERN))]
    name: String,
    /// Its own quota; absent or `null` takes the app-wide `max_queued_jobs`.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_QUOTA))]
    max_queued_jobs: Option<u64>,
}

/// `PATCH /admin/tenants/{name}`: `max_queued_jobs` a number, or `null` for the default;
/// required, so that `{}` changes nothing by mistake.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantChange {
    /// Its own quota, or `null` for the app-wide `max_queued_jobs`.
    #[schemars(
        with = "Option<u64>",
        range(min = 1, max = MAX_QUOTA),
        required,
        extend("type" = ["integer", "null"])
    )]
    max_queued_jobs: serde_json::Value,
}

/// A tenant name, as a JSON Schema pattern ([`Tenant::parse`]).
pub const TENANT_PATTERN: &str = "^[a-z0-9-]{1,32}$";

fn store(e: PortError) -> AdminError {
    AdminError::Store(StoreError::Queue(QueueError::Port(e)))
}

fn time(ms: u64) -> String {
    Timestamp::from_ms(ms).to_rfc3339()
}

fn tenant_resource(info: &TenantInfo) -> TenantResource {
    TenantResource {
        name: info.name.to_string(),
        created_at: time(info.created_ms),
        max_queued_jobs: info.max_queued_jobs,
    }
}

fn key_resource(info: &KeyInfo) -> KeyResource {
    KeyResource {
        id: info.id.clone(),
        prefix: api_key::prefix_of(&info.id),
        created_at: time(info.created_ms),
        revoked_at: info.revoked_ms.map(time),
        role: info.role,
    }
}

/// A tenant name from the path or a body.
pub fn tenant_name(name: &str) -> Result<Tenant, AdminError> {
    Tenant::parse(name).map_err(|e| AdminError::Invalid(e.to_string()))
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    let invalid = |e: serde_json::Error| AdminError::Invalid(format!("the body: {e}"));
    let value: serde_json::Value = serde_json::from_slice(body).map_err(invalid)?;
    T::deserialize(&*whole_numbers(&value)).map_err(invalid)
}

/// The largest quota a tenant may have: 2^53 - 1. Redis scripts hold numbers as doubles,
/// and a larger one would come back from them changed (as a JavaScript client would read
/// it too).
pub const MAX_QUOTA: u64 = (1 << 53) - 1;

fn valid_max(max: Option<u64>) -> Result<Option<u64>, AdminError> {
    match max {
        Some(0) => Err(AdminError::Invalid(
            "max_queued_jobs must be at least 1 (or null for the default)".into(),
        )),
        Some(n) if n > MAX_QUOTA => Err(AdminError::Invalid(format!(
            "max_queued_jobs must be at most {MAX_QUOTA} (2^53 - 1)"
        ))),
        other => Ok(other),
    }
}

/// `POST /admin/tenants`: a new tenant.
pub fn create_tenant(
    tenants: &dyn TenantStore,
    now_ms: u64,
    body: &[u8],
) -> Result<TenantResource, AdminError> {
    let new: NewTenant = parse(body)?;
    let name = tenant_name(&new.name)?;
    let max = valid_max(new.max_queued_jobs)?;
    match tenants.create_tenant(&name, now_ms, max).map_err(store)? {
        Written::Done => Ok(tenant_resource(&TenantInfo {
            name,
            created_ms: now_ms,
            max_queued_jobs: max,
        })),
        _ => Err(AdminError::TenantExists(name.to_string())),
    }
}

/// `GET /admin/tenants`: every tenant's name, oldest first.
pub fn list_tenants(tenants: &dyn TenantStore) -> Result<Vec<TenantResource>, AdminError> {
    let mut out = Vec::new();
    for name in tenants.tenants().map_err(store)? {
        if let Some(info) = tenants.tenant(&name).map_err(store)? {
            out.push(tenant_resource(&info));
        }
    }
    Ok(out)
}

/// `GET /admin/tenants/{name}`.
pub fn get_tenant(tenants: &dyn TenantStore, name: &str) -> Result<TenantResource, AdminError> {
    let name = tenant_name(name)?;
    tenants
        .tenant(&name)
        .map_err(store)?
        .map(|info| tenant_resource(&info))
        .ok_or_else(|| AdminError::TenantNotFound(name.to_string()))
}

/// `PATCH /admin/tenants/{name}`: its own quota.
pub fn update_tenant(
    tenants: &dyn TenantStore,
    name: &str,
    body: &[u8],
) -> Result<TenantResource, AdminError> {
    let tenant = tenant_name(name)?;
    let change: TenantChange = parse(body)?;
    let max = match change.max_queued_jobs {
        serde_json::Value::Null => None,
        n => Some(whole_u64(&n).ok_or_else(|| {
            AdminError::Invalid("max_queued_jobs must be a whole number or null".into())
        })?),
    };
    let max = valid_max(max)?;
    // Read before the change, not after: a failing read after it would answer that
    // nothing was changed.
    let gone = || AdminError::TenantNotFound(tenant.to_string());
    let mut info = tenants.tenant(&tenant).map_err(store)?.ok_or_else(gone)?;
    match tenants.set_max_queued_jobs(&tenant, max).map_err(store)? {
        Written::Done => {
            info.max_queued_jobs = max;
            Ok(tenant_resource(&info))
        }
        _ => Err(gone()),
    }
}

/// `POST /admin/tenants/{name}/keys`: its body, optional.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// `full` (the default) or `read`: a read-only key may list and read, and gets a
    /// `403` for anything that changes a job.
    #[serde(default)]
    role: Role,
}

/// `POST /admin/tenants/{name}/keys`: a new API key, shown this once. `body` may be
/// empty (a key with every right).
pub fn issue_key(
    tenants: &dyn TenantStore,
    now_ms: u64,
    name: &str,
    body: &[u8],
) -> Result<IssuedKey, AdminError> {
    let tenant = tenant_name(name)?;
    let NewKey { role } = if body.iter().all(u8::is_ascii_whitespace) {
        NewKey::default()
    } else {
        parse(body)?
    };
    // 64 random bits of id: a collision is unlikely, and refused, never overwritten.
    for _ in 0..3 {
        let key = ApiKey::generate().map_err(|e| AdminError::NoRandomness(e.to_string()))?;
        match tenants
            .issue_key(&tenant, &key, role, now_ms)
            .map_err(store)?
        {
            Written::Done => {
                let info = KeyInfo {
                    id: key.id().to_owned(),
                    created_ms: now_ms,
                    revoked_ms: None,
                    role,
                };
                return Ok(IssuedKey {
                    tenant: tenant.to_string(),
                    key: key.reveal().to_owned(),
                    info: key_resource(&info),
                });
            }
            Written::Missing => return Err(AdminError::TenantNotFound(tenant.to_string())),
            Written::Exists => continue,
        }
    }
    Err(AdminError::NoRandomness(
        "three new key ids in a row were taken".into(),
    ))
}

/// `/admin/tenants/{name}/webhook-secret`: `Init` (`GET`: the secrets, made on first
/// use), `Rotate` (`POST`: a new current one, the old one kept as previous; refused while
/// a rotation is under way) or `End` (`DELETE .../previous`: the rotation is over).
pub fn webhook_secret(
    tenants: &dyn TenantStore,
    queue: &dyn crate::queue::Queue,
    name: &str,
    change: crate::queue::SecretChange,
) -> Result<SecretResource, AdminError> {
    let tenant = tenant_name(name)?;
    if tenants.tenant(&tenant).map_err(store)?.is_none() {
        return Err(AdminError::TenantNotFound(tenant.to_string()));
    }
    let new = crate::webhook::Secret::generate().map_err(AdminError::NoRandomness)?;
    let now = queue
        .hook_secrets(&tenant, change, new.reveal())
        .map_err(|e| AdminError::Store(StoreError::Queue(e)))?;
    let (current, previous) = match now {
        crate::queue::SecretsNow::Set(current, previous) => (current, previous),
        crate::queue::SecretsNow::RotationUnderWay(..) => {
            return Err(AdminError::RotationUnderWay(tenant.to_string()));
        }
    };
    Ok(SecretResource {
        tenant: tenant.to_string(),
        current,
        previous,
    })
}

/// `GET /admin/tenants/{name}/keys`: prefixes and times, never the keys.
pub fn list_keys(tenants: &dyn TenantStore, name: &str) -> Result<Vec<KeyResource>, AdminError> {
    let tenant = tenant_name(name)?;
    let keys = tenants.keys(&tenant).map_err(store)?;
    let keys = keys.ok_or_else(|| AdminError::TenantNotFound(tenant.to_string()))?;
    Ok(keys.iter().map(key_resource).collect())
}

/// `DELETE /admin/tenants/{name}/keys/{id}`: revoke (again: no change).
pub fn revoke_key(
    tenants: &dyn TenantStore,
    now_ms: u64,
    name: &str,
    id: &str,
) -> Result<KeyResource, AdminError> {
    let tenant = tenant_name(name)?;
    let missing = || AdminError::KeyNotFound {
        tenant: tenant.to_string(),
        id: id.chars().take(32).collect(),
    };
    if !api_key::is_key_id(id) {
        return Err(missing());
    }
    let revoked = tenants.revoke_key(&tenant, id, now_ms).map_err(store)?;
    revoked.map(|info| key_resource(&info)).ok_or_else(missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::memory::MemoryTenants;
    use crate::service::auth::authenticate;
    use crate::service::error::AuthError;

    #[test]
    fn a_tenant_gets_keys_that_work_until_revoked_and_are_listed_without_the_secret() {
        let store = MemoryTenants::default();
        let t = create_tenant(&store, 1_000, br#"{"name": "acme"}"#).unwrap();
        assert_eq!((t.name.as_str(), t.max_queued_jobs), ("acme", None));
        let issued = issue_key(&store, 2_000, "acme", b"").unwrap();
        let header = format!("Bearer {}", issued.key);
        let settings = Settings::default();
        assert_eq!(
            authenticate(
                &store,
                &settings,
                Some(&header),
                crate::service::auth::Origin::Other
            )
            .unwrap()
            .tenant
            .as_str(),
            "acme"
        );
        let listed = list_keys(&store, "acme").unwrap();
        assert_eq!(listed, vec![issued.info.clone()]);
        assert!(issued.key.starts_with(&listed[0].prefix));
        let json = serde_json::to_string(&listed).unwrap();
        assert!(!json.contains(&issued.key[21..]), "{json}");

        let revoked = revoke_key(&store, 3_000, "acme", &issued.info.id).unwrap();
        assert!(revoked.revoked_at.is_some());
        assert_eq!(
            authenticate(
                &store,
                &settings,
                Some(&header),
                crate::service::auth::Origin::Other
            ),
            Err(AuthError::Revoked)
        );
        // Revoking again changes nothing.
        assert_eq!(
            revoke_key(&store, 4_000, "acme", &issued.info.id),
            Ok(revoked)
        );
    }

    #[test]
    fn names_bodies_and_ids_are_checked() {
        let store = MemoryTenants::default();
        create_tenant(&store, 1, br#"{"name": "acme", "max_queued_jobs": 5}"#).unwrap();
        assert_eq!(
            create_tenant(&store, 1, br#"{"name": "acme"}"#),
            Err(AdminError::TenantExists("acme".into()))
        );
        for bad in [
            &br#"{"name": "Acme"}"#[..],
            br#"{"name": "a:b"}"#,
            br#"{"name": "ok", "extra": 1}"#,
            br#"{"name": "ok", "max_queued_jobs": 0}"#,
            br#"{"name": "ok", "max_queued_jobs": 9007199254740992}"#,
            b"not json",
        ] {
            assert!(
                matches!(create_tenant(&store, 1, bad), Err(AdminError::Invalid(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            issue_key(&store, 1, "nobody", b""),
            Err(AdminError::TenantNotFound(_))
        ));
        assert!(matches!(
            revoke_key(&store, 1, "acme", "../../etc"),
            Err(AdminError::KeyNotFound { .. })
        ));
        let most = format!(r#"{{"max_queued_jobs": {MAX_QUOTA}}}"#);
        let changed = update_tenant(&store, "acme", most.as_bytes()).unwrap();
        assert_eq!(changed.max_queued_jobs, Some(MAX_QUOTA));
        let changed = update_tenant(&store, "acme", br#"{"max_queued_jobs": null}"#).unwrap();
        assert_eq!(changed.max_queued_jobs, None);
        for bad in [
            &b"{}"[..],
            br#"{"max_queued_jobs": "9"}"#,
            br#"{"max_queued_jobs": -1}"#,
            br#"{"max_queued_jobs": 18446744073709551615}"#,
        ] {
            assert!(matches!(
                update_tenant(&store, "acme", bad),
                Err(AdminError::Invalid(_))
            ));
        }
        assert_eq!(list_tenants(&store).unwrap().len(), 1);
    }

    #[test]
    fn a_quota_change_whose_answer_cannot_be_read_changes_nothing() {
        let store = MemoryTenants::default();
        create_tenant(&store, 1, br#"{"name": "acme"}"#).unwrap();
        store.fail_tenant_reads(true);

        let err = update_tenant(&store, "acme", br#"{"max_queued_jobs": 5}"#).unwrap_err();

        // Answered "unavailable, nothing was changed": and so it is.
        assert!(matches!(err, AdminError::Store(_)), "{err:?}");
        store.fail_tenant_reads(false);
        assert_eq!(get_tenant(&store, "acme").unwrap().max_queued_jobs, None);
    }

    #[test]
    fn one_tenant_cannot_revoke_another_tenants_key() {
        let store = MemoryTenants::default();
        create_tenant(&store, 1, br#"{"name": "a"}"#).unwrap();
        create_tenant(&store, 1, br#"{"name": "b"}"#).unwrap();
        let key = issue_key(&store, 1, "a", b"").unwrap();
        assert!(matches!(
            revoke_key(&store, 2, "b", &key.info.id),
            Err(AdminError::KeyNotFound { .. })
        ));
        assert_eq!(list_keys(&store, "a").unwrap()[0].revoked_at, None);
    }
}

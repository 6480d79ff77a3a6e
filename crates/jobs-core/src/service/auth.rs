//! Who is calling: the tenant of a request's API key, and the secret tokens of the admin
//! API and the drain route. Keys are checked against their stored hash in constant time
//! (`tenancy::api_key`); tokens likewise ([`same_secret`]).

use std::cell::RefCell;
use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::error::AuthError;
use crate::config::Settings;
use crate::context::StoreError;
use crate::job::Tenant;
use crate::queue::{KeyProof, QueueError};
use crate::tenancy::{ApiKey, QuotaSeen, Role, TenantStore};

/// Who a request is: its tenant, and where that tenant stood against its quota when the
/// key was looked up (`None` with `auth` off: nothing was looked up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: Tenant,
    /// What its key may do ([`Role::Full`] with `auth` off, and in local mode).
    pub role: Role,
    pub quota: Option<QuotaSeen>,
}

/// Where a request came from, as far as the runtime says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A client on this machine, straight to the runtime (no proxy in between).
    Loopback,
    /// Anything else, or not known.
    Other,
}

/// The caller whose API key the raw `Authorization` header value carries. With `auth`
/// off every request is the tenant `default`, and nothing is looked up.
///
/// Local mode: while no `admin_token` is configured, no key can be issued, so a request
/// without a key from [`Origin::Loopback`] is served as the tenant `default` (a plain
/// `spin up` on a laptop works at once); from anywhere else keys are required all the
/// same. Setting `admin_token` ends local mode.
pub fn authenticate(
    store: &dyn TenantStore,
    settings: &Settings,
    authorization: Option<&str>,
    origin: Origin,
) -> Result<Caller, AuthError> {
    authenticate_remembering(
        store,
        settings,
        authorization,
        origin,
        &KnownKeys::default(),
    )
}

/// [`authenticate`], remembering in `known` a key that may submit, so that the next
/// submission with it in this instance needs no lookup ([`KnownKeys::vouch`]).
pub fn authenticate_remembering(
    store: &dyn TenantStore,
    settings: &Settings,
    authorization: Option<&str>,
    origin: Origin,
    known: &KnownKeys,
) -> Result<Caller, AuthError> {
    if !needs_key(settings, authorization, origin) {
        return Ok(Caller {
            tenant: Tenant::default_tenant(),
            role: Role::Full,
            quota: None,
        });
    }
    let key = presented(authorization)?;
    let stored = store
        .key(key.id())
        .map_err(|e| AuthError::Store(StoreError::Queue(QueueError::Port(e))))?
        .ok_or(AuthError::Invalid)?;
    // The secret first: only the holder of a key learns that it was revoked.
    if !key.matches(&stored.hash) {
        return Err(AuthError::Invalid);
    }
    if stored.revoked {
        known.forget(key.id());
        return Err(AuthError::Revoked);
    }
    if stored.role == Role::Full {
        known.remember(key.id(), &stored.tenant, &stored.hash);
    }
    Ok(Caller {
        tenant: stored.tenant,
        role: stored.role,
        quota: Some(stored.quota),
    })
}

/// Whether a request must present a key: `auth` is on, and it is not a keyless request
/// in local mode (allowed, no admin token, from loopback).
fn needs_key(settings: &Settings, authorization: Option<&str>, origin: Origin) -> bool {
    let local = settings.local_mode && settings.admin_token.is_none() && origin == Origin::Loopback;
    settings.auth && !(local && authorization.is_none())
}

/// The API key of the raw `Authorization` header value.
fn presented(authorization: Option<&str>) -> Result<ApiKey, AuthError> {
    let given = authorization
        .and_then(bearer_token)
        .ok_or(AuthError::Missing)?;
    ApiKey::parse(given).ok_or(AuthError::Invalid)
}

/// Most keys an instance remembers ([`KnownKeys`]); past that it starts afresh.
const KNOWN_KEYS_MAX: usize = 64;

/// The API keys an instance has looked up that may submit: each one's tenant and the
/// hash of its secret, never the secret. A submission with one of them skips the lookup
/// (one Redis round trip): the submit script checks, atomically with the job, that the
/// key is still as read, and the request falls back to the lookup when it is not
/// (`intake` routes). Nothing else trusts it: every other request looks its key up.
#[derive(Debug, Default)]
pub struct KnownKeys {
    keys: RefCell<HashMap<String, (Tenant, String)>>,
}

impl KnownKeys {
    fn remember(&self, id: &str, tenant: &Tenant, hash: &str) {
        let mut keys = self.keys.borrow_mut();
        if keys.len() >= KNOWN_KEYS_MAX && !keys.contains_key(id) {
            keys.clear();
        }
        keys.insert(id.to_owned(), (tenant.clone(), hash.to_owned()));
    }

    /// Forget the key with this id: it was refused.
    pub fn forget(&self, id: &str) {
        self.keys.borrow_mut().remove(id);
    }

    /// The caller of a submission whose key this instance knows and whose secret matches
    /// the known hash (compared as [`authenticate`] does), with the proof the submit
    /// script checks. `None` when the request needs no key or its key is not known here
    /// (or does not match): it is looked up as any other.
    pub fn vouch(
        &self,
        settings: &Settings,
        authorization: Option<&str>,
        origin: Origin,
    ) -> Option<(Caller, KeyProof)> {
        if !needs_key(settings, authorization, origin) {
            return None;
        }
        let key = presented(authorization).ok()?;
        let keys = self.keys.borrow();
        let (tenant, hash) = keys.get(key.id())?;
        if !key.matches(hash) {
            return None;
        }
        let caller = Caller {
            tenant: tenant.clone(),
            role: Role::Full,
            quota: None,
        };
        let proof = KeyProof {
            id: key.id().to_owned(),
            hash: hash.clone(),
        };
        Some((caller, proof))
    }
}

/// Whether the raw `Authorization` header value carries the configured admin token.
/// Always false when none is configured.
pub fn admin_allowed(settings: &Settings, authorization: Option<&str>) -> bool {
    let Some(expected) = settings.admin_token.as_deref() else {
        return false;
    };
    authorization
        .and_then(bearer_token)
        .is_some_and(|given| same_secret(given, expected))
}

/// The token of `Bearer <token>` (the scheme is case-insensitive, RFC 9110 section 11.1).
pub(super) fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Compares two secrets in time that depends on neither: both are hashed to 32 bytes
/// first, then every byte pair is looked at, so neither a matching prefix nor the
/// length of the right token shows in how long a refusal takes.
pub(super) fn same_secret(given: &str, expected: &str) -> bool {
    crate::tenancy::api_key::same_bytes(
        &Sha256::digest(given.as_bytes()),
        &Sha256::digest(expected.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryTenants;

    fn store_with(tenant: &str) -> (MemoryTenants, ApiKey) {
        let store = MemoryTenants::default();
        let tenant = Tenant::parse(tenant).unwrap();
        store.create_tenant(&tenant, 1, None).unwrap();
        let key = ApiKey::generate().unwrap();
        store.issue_key(&tenant, &key, Role::Full, 2).unwrap();
        (store, key)
    }

    fn bearer(key: &str) -> String {
        format!("Bearer {key}")
    }

    #[test]
    fn a_key_names_its_tenant_and_nothing_else_gets_in() {
        let (store, key) = store_with("acme");
        let on = Settings::default();
        let ok = authenticate(&store, &on, Some(&bearer(key.reveal())), Origin::Other);
        assert_eq!(ok.unwrap().tenant.as_str(), "acme");
        assert_eq!(
            authenticate(&store, &on, None, Origin::Other),
            Err(AuthError::Missing)
        );
        assert_eq!(
            authenticate(&store, &on, Some("Basic abc"), Origin::Other),
            Err(AuthError::Missing)
        );
        let unknown = ApiKey::generate().unwrap();
        // The right id with another secret: the secret is what counts.
        let forged = format!("{}{}", &key.reveal()[..21], &unknown.reveal()[21..]);
        for refused in ["not-a-key", unknown.reveal(), &forged] {
            assert_eq!(
                authenticate(&store, &on, Some(&bearer(refused)), Origin::Other),
                Err(AuthError::Invalid),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_revoked_key_is_refused_and_auth_off_needs_no_key() {
        let (store, key) = store_with("acme");
        let on = Settings::default();
        store
            .revoke_key(&Tenant::parse("acme").unwrap(), key.id(), 3)
            .unwrap();
        assert_eq!(
            authenticate(&store, &on, Some(&bearer(key.reveal())), Origin::Other),
            Err(AuthError::Revoked)
        );
        let off = Settings {
            auth: false,
            ..Settings::default()
        };
        assert_eq!(
            authenticate(&store, &off, None, Origin::Other)
                .unwrap()
                .tenant,
            Tenant::default_tenant()
        );
    }

    #[test]
    fn an_instance_vouches_only_for_keys_it_looked_up_that_may_submit() {
        let (store, key) = store_with("acme");
        let acme = Tenant::parse("acme").unwrap();
        let viewer = ApiKey::generate().unwrap();
        store.issue_key(&acme, &viewer, Role::Read, 3).unwrap();
        let on = Settings::default();
        let known = KnownKeys::default();
        let vouch = |k: &str| known.vouch(&on, Some(&bearer(k)), Origin::Other);
        assert_eq!(vouch(key.reveal()), None, "not looked up yet");

        for k in [&key, &viewer] {
            authenticate_remembering(
                &store,
                &on,
                Some(&bearer(k.reveal())),
                Origin::Other,
                &known,
            )
            .unwrap();
        }

        let (caller, proof) = vouch(key.reveal()).expect("a full key once looked up");
        assert_eq!((caller.tenant, caller.role), (acme.clone(), Role::Full));
        assert_eq!(caller.quota, None, "the submit script checks the quota");
        assert_eq!((proof.id.as_str(), proof.hash), (key.id(), key.hash()));
        assert_eq!(
            vouch(viewer.reveal()),
            None,
            "a read-only key is always looked up"
        );
        // The right id with another secret is not vouched for: looked up, it is a 401.
        let forged = format!("{}{}", &key.reveal()[..21], &viewer.reveal()[21..]);
        assert_eq!(vouch(&forged), None);
        // Auth off and keyless local requests need no key at all.
        let off = Settings {
            auth: false,
            ..Settings::default()
        };
        assert_eq!(
            known.vouch(&off, Some(&bearer(key.reveal())), Origin::Other),
            None
        );
        assert_eq!(known.vouch(&on, None, Origin::Loopback), None);
        // A lookup that finds the key revoked forgets it.
        store.revoke_key(&acme, key.id(), 4).unwrap();
        assert_eq!(
            authenticate_remembering(
                &store,
                &on,
                Some(&bearer(key.reveal())),
                Origin::Other,
                &known
            ),
            Err(AuthError::Revoked)
        );
        assert_eq!(vouch(key.reveal()), None);
    }

    #[test]
    fn an_instance_remembers_a_bounded_number_of_keys() {
        let known = KnownKeys::default();
        let acme = Tenant::parse("acme").unwrap();
        for n in 0..KNOWN_KEYS_MAX * 3 {
            known.remember(&format!("{n:016x}"), &acme, "h");
            assert!(known.keys.borrow().len() <= KNOWN_KEYS_MAX);
        }
    }

    #[test]
    fn without_an_admin_token_only_local_requests_need_no_key() {
        let (store, key) = store_with("acme");
        let on = Settings::default();
        assert!(on.admin_token.is_none());
        let local = authenticate(&store, &on, None, Origin::Loopback).unwrap();
        assert_eq!(local.tenant, Tenant::default_tenant());
        assert_eq!(
            authenticate(&store, &on, None, Origin::Other),
            Err(AuthError::Missing),
            "from anywhere else a key is required"
        );
        // A key sent locally is checked as anywhere.
        let with_key = authenticate(&store, &on, Some(&bearer(key.reveal())), Origin::Loopback);
        assert_eq!(with_key.unwrap().tenant.as_str(), "acme");
        assert_eq!(
            authenticate(&store, &on, Some("Bearer nope"), Origin::Loopback),
            Err(AuthError::Invalid)
        );
        // An admin token ends local mode, and so does `local_mode` off (a deployment
        // whose proxies connect over loopback).
        let configured = Settings {
            admin_token: Some("adm1n".into()),
            ..Settings::default()
        };
        let off = Settings {
            local_mode: false,
            ..Settings::default()
        };
        for settings in [&configured, &off] {
            assert_eq!(
                authenticate(&store, settings, None, Origin::Loopback),
                Err(AuthError::Missing)
            );
        }
    }

    #[test]
    fn only_the_configured_admin_token_opens_the_admin_api() {
        let mut settings = Settings::default();
        assert!(!admin_allowed(&settings, Some("Bearer anything")));
        settings.admin_token = Some("adm1n".into());
        assert!(admin_allowed(&settings, Some("Bearer adm1n")));
        for refused in [
            None,
            Some("Bearer adm1"),
            Some("adm1n"),
            Some("Basic adm1n"),
        ] {
            assert!(!admin_allowed(&settings, refused), "{refused:?}");
        }
    }
}

//! The tenant a job belongs to: part of every key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Who owns a job: the tenant of the API key that submitted it (`default` with `auth`
/// off, and for jobs from before API keys). It is in every record and key.
///
/// Valid names are 1 to 32 characters of `a-z`, `0-9` and `-`: safe inside key names
/// (no `:`, `{` or `}`) and URLs without escaping.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

/// Why a string is not a tenant name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid tenant {value:?}: must be 1 to 32 characters of a-z, 0-9 and '-'")]
pub struct InvalidTenant {
    /// What was received, cut to at most 64 characters.
    pub value: String,
}

impl Tenant {
    /// The tenant of requests with `auth` off, and of jobs from before API keys.
    pub const DEFAULT: &'static str = "default";

    /// The tenant [`Tenant::DEFAULT`].
    pub fn default_tenant() -> Tenant {
        Tenant(Tenant::DEFAULT.to_owned())
    }

    /// Parses a tenant name.
    pub fn parse(s: &str) -> Result<Tenant, InvalidTenant> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Tenant(s.to_owned()))
        } else {
            Err(InvalidTenant {
                value: s.chars().take(64).collect(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Tenant {
    fn default() -> Self {
        Tenant::default_tenant()
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tenant({})", self.0)
    }
}

impl FromStr for Tenant {
    type Err = InvalidTenant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tenant::parse(s)
    }
}

impl Serialize for Tenant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Tenant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Tenant::parse(&s).map_err(serde::de::Error::custom)
    }
}

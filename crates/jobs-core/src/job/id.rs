//! A job's id: a UUIDv7.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;
use uuid::Uuid;

/// A job's id: a UUIDv7 kept in its canonical lowercase hyphenated text.
///
/// Why v7: the first 48 bits are the creation time in milliseconds, so ids sort by time
/// (as bytes and as text, which is what the Redis `all` index relies on), and the
/// remaining 74 bits are random, so ids cannot be guessed from one another.
///
/// The text is kept beside the value so [`JobId::as_str`] is free: ids go into every
/// key name and URL.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId {
    // Field order matters for the derived `Ord`: the uuid bytes decide, and they are in
    // time order for v7.
    uuid: Uuid,
    text: [u8; 36],
}

/// Why a string is not a job id. The value is kept (cut to 64 characters) so an error
/// message can show what was received.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid job id {value:?}: {reason}")]
pub struct InvalidJobId {
    /// What was received, cut to at most 64 characters.
    pub value: String,
    /// Why it was refused.
    pub reason: &'static str,
}

impl JobId {
    /// A fresh id for a job created now.
    pub fn new() -> JobId {
        JobId::from_uuid(Uuid::now_v7())
    }

    fn from_uuid(uuid: Uuid) -> JobId {
        let mut text = [0u8; 36];
        uuid.hyphenated().encode_lower(&mut text);
        JobId { uuid, text }
    }

    /// Parses an id as it appears in URLs and keys.
    ///
    /// Only the canonical form is accepted (36 characters, lowercase, hyphenated,
    /// version 7, RFC 9562 variant): one id has exactly one spelling, so it can be used
    /// as a key without normalising and two spellings never name two records.
    pub fn parse(s: &str) -> Result<JobId, InvalidJobId> {
        let refuse = |reason| InvalidJobId {
            value: s.chars().take(64).collect(),
            reason,
        };
        if s.len() != 36 {
            return Err(refuse("expected 36 characters (a hyphenated UUIDv7)"));
        }
        let uuid = Uuid::try_parse(s).map_err(|_| refuse("not a UUID"))?;
        let id = JobId::from_uuid(uuid);
        if id.as_str() != s {
            return Err(refuse("not in canonical lowercase hyphenated form"));
        }
        if uuid.get_version_num() != 7 || uuid.get_variant() != uuid::Variant::RFC4122 {
            return Err(refuse("not a version 7 UUID"));
        }
        Ok(id)
    }

    /// The canonical text: 36 lowercase characters.
    pub fn as_str(&self) -> &str {
        // Filled by `encode_lower`, so always ASCII.
        std::str::from_utf8(&self.text).expect("a JobId holds ASCII text")
    }

    /// When the id was made, in milliseconds since the Unix epoch (the v7 timestamp).
    pub fn created_ms(&self) -> u64 {
        let b = self.uuid.as_bytes();
        u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.uuid
    }
}

impl Default for JobId {
    fn default() -> Self {
        JobId::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({})", self.as_str())
    }
}

impl FromStr for JobId {
    type Err = InvalidJobId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobId::parse(s)
    }
}

impl JsonSchema for JobId {
    fn schema_name() -> Cow<'static, str> {
        "JobId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "uuid",
            "description": "A job's id: a UUIDv7, lowercase and hyphenated.",
            "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
            "examples": ["0193b5a2-6f1e-7c3d-9a41-2b8e5d7f0c16"],
        })
    }
}

impl Serialize for JobId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        JobId::parse(&s).map_err(serde::de::Error::custom)
    }
}

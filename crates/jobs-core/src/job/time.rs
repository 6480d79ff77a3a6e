//! Timestamps: milliseconds since the Unix epoch, shown as RFC 3339 UTC.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A point in time, milliseconds since the Unix epoch, UTC.
///
/// On the wire and in records it is RFC 3339 with exactly three fraction digits and a
/// `Z` (`2026-11-27T06:16:35.123Z`), so text order is time order. Values are capped at
/// [`Timestamp::MAX`] (the last millisecond of year 9999) so every timestamp can be
/// written in that form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(u64);

/// The length of a timestamp's RFC 3339 form: `2026-11-27T06:16:35.123Z`.
const RFC3339_LEN: usize = 24;

/// Why a string is not an RFC 3339 timestamp this crate can hold.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid timestamp {value:?}: {reason}")]
pub struct InvalidTimestamp {
    pub value: String,
    pub reason: &'static str,
}

impl Timestamp {
    /// 9999-12-31T23:59:59.999Z, the last instant four-digit years can express.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999);

    /// From milliseconds since the epoch; later values are capped at [`Timestamp::MAX`].
    pub fn from_ms(ms: u64) -> Timestamp {
        Timestamp(ms.min(Timestamp::MAX.0))
    }

    pub fn as_ms(self) -> u64 {
        self.0
    }

    /// `ms` later, capped at [`Timestamp::MAX`].
    pub fn plus_ms(self, ms: u64) -> Timestamp {
        Timestamp::from_ms(self.0.saturating_add(ms))
    }

    /// The RFC 3339 form, e.g. `2026-11-27T06:16:35.123Z`.
    pub fn to_rfc3339(self) -> String {
        self.write_rfc3339(&mut [0; RFC3339_LEN]).to_owned()
    }

    /// The RFC 3339 form, written into `buf`. The calendar is the `time` crate's; the
    /// digits are placed here, because its general formatter cost the worker a fifth of
    /// its own CPU under a backlog (every record carries up to three timestamps).
    fn write_rfc3339(self, buf: &mut [u8; RFC3339_LEN]) -> &str {
        // `from_ms` caps every value at MAX, so the seconds always make a date.
        let t = i64::try_from(self.0 / 1000)
            .ok()
            .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let (year, month, day) = t.to_calendar_date();
        let (hour, minute, second) = t.to_hms();
        *buf = *b"0000-00-00T00:00:00.000Z";
        let fields = [
            (0..4, u64::try_from(year).unwrap_or(0)),
            (5..7, u64::from(u8::from(month))),
            (8..10, u64::from(day)),
            (11..13, u64::from(hour)),
            (14..16, u64::from(minute)),
            (17..19, u64::from(second)),
            (20..23, self.0 % 1000),
        ];
        for (at, mut value) in fields {
            for digit in buf[at].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        std::str::from_utf8(buf).unwrap_or("1970-01-01T00:00:00.000Z")
    }

    /// Parses any RFC 3339 timestamp (any offset, any fraction precision) at or after
    /// the epoch; sub-millisecond digits are dropped.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, InvalidTimestamp> {
        let ms = Timestamp::parse_rfc3339_ms(s)?;
        u64::try_from(ms)
            .map(Timestamp::from_ms)
            .map_err(|_| InvalidTimestamp {
                value: s.chars().take(64).collect(),
                reason: "before 1970",
            })
    }

    /// Parses any RFC 3339 timestamp, a time before the epoch as the epoch: for the
    /// bounds of a filter, where "after 1900" means "from the start".
    pub fn parse_rfc3339_clamped(s: &str) -> Result<Timestamp, InvalidTimestamp> {
        let ms = Timestamp::parse_rfc3339_ms(s)?;
        Ok(Timestamp::from_ms(u64::try_from(ms).unwrap_or(0)))
    }

    fn parse_rfc3339_ms(s: &str) -> Result<i128, InvalidTimestamp> {
        let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| InvalidTimestamp {
            value: s.chars().take(64).collect(),
            reason: "not RFC 3339",
        })?;
        Ok(t.unix_timestamp_nanos().div_euclid(1_000_000))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.write_rfc3339(&mut [0; RFC3339_LEN]))
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "examples": ["2026-01-05T10:00:00.000Z"],
        })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.write_rfc3339(&mut [0; RFC3339_LEN]))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

//! Ranges of job ids, for listings: a creation-time window, an id prefix and a page
//! cursor are each one interval of ids in text order, and together their intersection.
//! That works because a UUIDv7 in canonical text sorts by creation time (its first 48
//! bits, the first 13 characters `xxxxxxxx-xxxx`, are the ms since the epoch) and the
//! Redis indexes sort their members as text (`lua/list.lua`), so a range costs the
//! scripts nothing but the bounds of their `ZREVRANGEBYLEX`.

use crate::job::{JobId, Timestamp};

/// A character that sorts after every character of an id (hex digits and `-`), so every
/// id that starts with `P` sorts before `P~`.
const PAST_EVERY_ID_CHAR: char = '~';

/// The ids in text order from `lower` (inclusive) to `upper` (exclusive); an absent
/// bound does not bound. Bounds need not be ids: a time is the 13-character prefix of the
/// ids made at that millisecond, an id prefix `P` is `[P, P~)`. Built only from times,
/// ids and [`IdPrefix`]es, so a bound is always text the scripts can pass to Redis as it
/// is. A range whose lower bound is not below its upper one is empty, and so is the page
/// of a listing asked for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdRange {
    lower: Option<String>,
    upper: Option<String>,
}

impl IdRange {
    /// Every id.
    pub const ALL: IdRange = IdRange {
        lower: None,
        upper: None,
    };

    /// Ids made at or after `t`.
    pub fn created_from(t: Timestamp) -> IdRange {
        IdRange {
            lower: Some(time_prefix(t)),
            upper: None,
        }
    }

    /// Ids made strictly before `t`.
    pub fn created_before(t: Timestamp) -> IdRange {
        IdRange {
            lower: None,
            upper: Some(time_prefix(t)),
        }
    }

    /// Ids that start with `prefix`.
    pub fn prefixed(prefix: &IdPrefix) -> IdRange {
        IdRange {
            lower: Some(prefix.0.clone()),
            upper: Some(format!("{}{PAST_EVERY_ID_CHAR}", prefix.0)),
        }
    }

    /// Ids strictly older than `id`: the page after a cursor.
    pub fn older_than(id: &JobId) -> IdRange {
        IdRange {
            lower: None,
            upper: Some(id.as_str().to_owned()),
        }
    }

    /// The ids in both ranges: the higher lower bound and the lower upper bound.
    pub fn and(self, other: IdRange) -> IdRange {
        let higher = |a: Option<String>, b: Option<String>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let lower_of = |a: Option<String>, b: Option<String>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        IdRange {
            lower: higher(self.lower, other.lower),
            upper: lower_of(self.upper, other.upper),
        }
    }

    /// This range below a listing's cursor, if it has one: what a page of it may hold.
    pub fn below(&self, cursor: Option<&JobId>) -> IdRange {
        match cursor {
            Some(id) => self.clone().and(IdRange::older_than(id)),
            None => self.clone(),
        }
    }

    /// The inclusive lower bound, if any.
    pub fn lower(&self) -> Option<&str> {
        self.lower.as_deref()
    }

    /// The exclusive upper bound, if any.
    pub fn upper(&self) -> Option<&str> {
        self.upper.as_deref()
    }

    /// Whether `id` is in the range.
    pub fn contains(&self, id: &JobId) -> bool {
        let id = id.as_str();
        self.lower.as_deref().is_none_or(|lower| id >= lower)
            && self.upper.as_deref().is_none_or(|upper| id < upper)
    }

    /// True when no text at all is in the range.
    pub fn is_empty(&self) -> bool {
        matches!((&self.lower, &self.upper), (Some(lower), Some(upper)) if lower >= upper)
    }
}

/// The first 13 characters of the ids made at `t`: its ms as 12 hex digits, written as
/// `xxxxxxxx-xxxx`. Every [`Timestamp`] is below 2^48 ms, so the digits never overflow
/// into a 13th (which would break the text order).
fn time_prefix(t: Timestamp) -> String {
    let ms = t.as_ms();
    format!("{:08x}-{:04x}", ms >> 16, ms & 0xffff)
}

/// The start of a job id, as `GET /jobs?id_prefix=` takes it: 1 to 36 characters, each a
/// lowercase hex digit or `-`. Not every such text starts an id (a `-` may be out of
/// place): that prefix simply matches no job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPrefix(String);

/// Why a text is not an [`IdPrefix`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid id prefix: {reason}")]
pub struct InvalidIdPrefix {
    pub reason: &'static str,
}

impl IdPrefix {
    /// The longest prefix: a whole id.
    pub const MAX_LEN: usize = 36;

    pub fn parse(s: &str) -> Result<IdPrefix, InvalidIdPrefix> {
        if s.is_empty() || s.len() > IdPrefix::MAX_LEN {
            return Err(InvalidIdPrefix {
                reason: "expected 1 to 36 characters",
            });
        }
        if !s
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'-'))
        {
            return Err(InvalidIdPrefix {
                reason: "expected lowercase hex digits and '-' only",
            });
        }
        Ok(IdPrefix(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An id made at `ms`, `n` telling apart ids of one ms.
    fn id_at(ms: u64, n: u64) -> JobId {
        let text = format!("{:08x}-{:04x}-7000-8000-{n:012x}", ms >> 16, ms & 0xffff);
        JobId::parse(&text).unwrap()
    }

    #[test]
    fn a_time_bound_splits_ids_at_their_millisecond() {
        let t = Timestamp::from_ms(1_700_000_000_123);
        let (before, at, after) = (
            id_at(t.as_ms() - 1, 9),
            id_at(t.as_ms(), 0),
            id_at(t.as_ms() + 1, 0),
        );
        assert_eq!(time_prefix(t), &at.as_str()[..13]);
        assert_eq!(at.created_ms(), t.as_ms());
        let from = IdRange::created_from(t);
        assert_eq!(
            (
                from.contains(&before),
                from.contains(&at),
                from.contains(&after)
            ),
            (false, true, true)
        );
        let until = IdRange::created_before(t);
        assert_eq!(
            (
                until.contains(&before),
                until.contains(&at),
                until.contains(&after)
            ),
            (true, false, false)
        );
        assert_eq!(time_prefix(Timestamp::MAX).len(), 13);
        assert_eq!(time_prefix(Timestamp::from_ms(0)), "00000000-0000");
    }

    #[test]
    fn a_prefix_holds_exactly_the_ids_that_start_with_it() {
        let id = id_at(1_700_000_000_000, 7);
        for len in 1..=36 {
            let p = IdPrefix::parse(&id.as_str()[..len]).unwrap();
            assert!(IdRange::prefixed(&p).contains(&id), "{len}");
        }
        let whole = IdRange::prefixed(&IdPrefix::parse(id.as_str()).unwrap());
        assert!(!whole.contains(&id_at(1_700_000_000_000, 8)));
        assert!(!whole.contains(&id_at(1_700_000_000_000, 6)));
        let other = IdRange::prefixed(&IdPrefix::parse("f").unwrap());
        assert!(!other.contains(&id));
    }

    #[test]
    fn ranges_combine_to_their_intersection_and_can_be_empty() {
        let ids: Vec<JobId> = (0..4).map(|k| id_at(1_000_000 + 1_000 * k, k)).collect();
        let window = IdRange::created_from(Timestamp::from_ms(1_001_000))
            .and(IdRange::created_before(Timestamp::from_ms(1_003_000)));
        let held = |r: &IdRange| {
            ids.iter()
                .filter(|id| r.contains(id))
                .copied()
                .collect::<Vec<_>>()
        };
        assert_eq!(held(&window), vec![ids[1], ids[2]]);
        assert_eq!(held(&window.below(Some(&ids[2]))), vec![ids[1]]);
        assert_eq!(held(&window.below(Some(&ids[3]))), vec![ids[1], ids[2]]);
        assert_eq!(window.below(None), window);
        assert!(!window.is_empty() && !IdRange::ALL.is_empty());
        // Below the oldest of the window: no id of ours, though ids of its ms could be.
        let none = window.below(Some(&ids[1]));
        assert!(!none.is_empty() && held(&none).is_empty());
        let crossed = IdRange::created_from(Timestamp::from_ms(1_002_000))
            .and(IdRange::created_before(Timestamp::from_ms(1_001_000)));
        assert!(crossed.is_empty());
        assert_eq!(held(&IdRange::ALL), ids);
    }

    #[test]
    fn id_prefixes_are_checked() {
        for good in ["0", "0190", "0190abcd-", "-", &"a".repeat(36)] {
            assert_eq!(IdPrefix::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "0190ABCD", "g", "01 90", "~", "0190%", &"a".repeat(37)] {
            assert!(IdPrefix::parse(bad).is_err(), "{bad}");
        }
    }
}

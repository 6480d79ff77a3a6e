//! The query of `GET /jobs`, parsed at the edge: its filters (status, kind, a creation-time
//! window, an id prefix), page size and cursor, each value checked once here so that
//! [`super::list`] works with valid values only.

use serde::Deserialize;

use crate::job::{JobId, Status, Timestamp};
use crate::queue::{IdPrefix, IdRange};
use crate::service::error::ListError;

/// Page size bounds for `GET /jobs`.
pub const LIMIT_RANGE: std::ops::RangeInclusive<u32> = 1..=100;
pub const DEFAULT_LIMIT: u32 = 20;

/// A parsed `GET /jobs` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub status: Option<Status>,
    pub kind: Option<String>,
    pub limit: u32,
    /// List jobs strictly older than this one.
    pub after: Option<JobId>,
    /// Only jobs created at or after this time.
    pub created_after: Option<Timestamp>,
    /// Only jobs created strictly before this time.
    pub created_before: Option<Timestamp>,
    /// Only jobs whose id starts with this.
    pub id_prefix: Option<IdPrefix>,
}

/// The parameters of `GET /jobs` as sent, before their values are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListQuery {
    status: Option<String>,
    kind: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    created_after: Option<String>,
    created_before: Option<String>,
    id_prefix: Option<String>,
}

impl ListQuery {
    /// Parse a query string (`status=&kind=&limit=&cursor=&created_after=&created_before=
    /// &id_prefix=`). Unknown and repeated
    /// parameters are refused, like unknown JSON fields, and so are empty values: leave
    /// a filter out to not filter.
    pub fn parse(query: &str, known_kinds: &[&str]) -> Result<ListQuery, ListError> {
        ListQuery::parse_with_limit(query, known_kinds, DEFAULT_LIMIT)
    }

    /// [`ListQuery::parse`], with `default_limit` when the query gives no `limit`.
    pub fn parse_with_limit(
        query: &str,
        known_kinds: &[&str],
        default_limit: u32,
    ) -> Result<ListQuery, ListError> {
        let raw: RawListQuery =
            serde_urlencoded::from_str(query).map_err(|e| ListError::InvalidFilter {
                name: "query",
                reason: e.to_string().chars().take(200).collect(),
            })?;
        let status = raw
            .status
            .map(|value| {
                Status::parse(&value).ok_or_else(|| ListError::InvalidFilter {
                    name: "status",
                    reason: format!(
                        "expected one of {}",
                        Status::ALL.map(|s| s.as_str()).join(", ")
                    ),
                })
            })
            .transpose()?;
        let kind = raw
            .kind
            .map(|value| {
                if known_kinds.contains(&value.as_str()) {
                    Ok(value)
                } else {
                    Err(ListError::InvalidFilter {
                        name: "kind",
                        reason: format!("expected one of {}", known_kinds.join(", ")),
                    })
                }
            })
            .transpose()?;
        let limit = raw
            .limit
            .map(|value| {
                value
                    .parse()
                    .ok()
                    .filter(|n| LIMIT_RANGE.contains(n))
                    .ok_or_else(|| ListError::InvalidFilter {
                        name: "limit",
                        reason: format!("expected a whole number from 1 to {}", LIMIT_RANGE.end()),
                    })
            })
            .transpose()?
            .unwrap_or(default_limit);
        let after = raw.cursor.map(|value| decode_cursor(&value)).transpose()?;
        let time = |name: &'static str, value: Option<String>| {
            value
                .map(|value| {
                    Timestamp::parse_rfc3339_clamped(&value).map_err(|e| ListError::InvalidFilter {
                        name,
                        reason: format!(
                            "{}: expected an RFC 3339 time such as 2026-01-05T10:00:00Z \
                             (a `+` in an offset is sent as %2B)",
                            e.reason
                        ),
                    })
                })
                .transpose()
        };
        let created_after = time("created_after", raw.created_after)?;
        let created_before = time("created_before", raw.created_before)?;
        let id_prefix = raw
            .id_prefix
            .map(|value| {
                IdPrefix::parse(&value).map_err(|e| ListError::InvalidFilter {
                    name: "id_prefix",
                    reason: format!("{} (the start of a job id)", e.reason),
                })
            })
            .transpose()?;
        Ok(ListQuery {
            status,
            kind,
            limit,
            after,
            created_after,
            created_before,
            id_prefix,
        })
    }

    /// The ids the query's filters allow, the cursor aside (it moves page by page): the
    /// creation-time window and the id prefix as one range, since ids sort by creation
    /// time. Filters that exclude each other give an empty range, and an empty page.
    pub fn ids(&self) -> IdRange {
        let from = self
            .created_after
            .map_or(IdRange::ALL, IdRange::created_from);
        let before = self
            .created_before
            .map_or(IdRange::ALL, IdRange::created_before);
        let prefix = self
            .id_prefix
            .as_ref()
            .map_or(IdRange::ALL, IdRange::prefixed);
        from.and(before).and(prefix)
    }
}

/// The cursor of the page after `id`: the id itself (jobs strictly older than it
/// follow), so any job id is a valid cursor and the OpenAPI description can say exactly
/// what one is.
pub fn encode_cursor(id: &JobId) -> String {
    id.as_str().to_owned()
}

fn decode_cursor(cursor: &str) -> Result<JobId, ListError> {
    JobId::parse(cursor).map_err(|_| ListError::InvalidFilter {
        name: "cursor",
        reason: "expected a job id (the next_cursor of a page)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_queries_are_checked() {
        let kinds = ["echo"];
        assert_eq!(ListQuery::parse("", &kinds).unwrap().limit, DEFAULT_LIMIT);
        for bad in [
            "status=&kind=",
            "cursor=",
            "limit=0",
            "limit=101",
            "limit=x",
            "status=done",
            "kind=nope",
            "cursor=zz",
            "color=red",
            "limit=5&limit=6",
        ] {
            assert!(ListQuery::parse(bad, &kinds).is_err(), "{bad}");
        }
        let q = ListQuery::parse("kind=%65cho&status=running&limit=7", &kinds).unwrap();
        assert_eq!(
            (q.kind.as_deref(), q.status, q.limit),
            (Some("echo"), Some(Status::Running), 7)
        );
        assert_eq!(
            (q.created_after, q.created_before, q.id_prefix.clone()),
            (None, None, None)
        );
        assert_eq!(q.ids(), IdRange::ALL);
    }

    /// The error of a query that should be refused, with the parameter it names.
    fn refused(query: &str) -> &'static str {
        match ListQuery::parse(query, &["echo"]) {
            Err(ListError::InvalidFilter { name, .. }) => name,
            other => panic!("{query}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn time_filters_take_rfc_3339_and_refuse_anything_else() {
        let q = ListQuery::parse(
            "created_after=2026-01-05T10:00:00Z&created_before=2026-01-05T12:30:00.250%2B02:00",
            &["echo"],
        )
        .unwrap();
        let after = Timestamp::parse_rfc3339("2026-01-05T10:00:00.000Z").unwrap();
        let before = Timestamp::parse_rfc3339("2026-01-05T10:30:00.250Z").unwrap();
        assert_eq!(
            (q.created_after, q.created_before),
            (Some(after), Some(before))
        );
        // Before 1970 is the start of time: everything is after it, nothing before.
        let early = ListQuery::parse(
            "created_after=0263-01-03T02:31:56Z&created_before=1969-12-31T23:59:59Z",
            &["echo"],
        )
        .unwrap();
        assert_eq!(early.created_after, Some(Timestamp::from_ms(0)));
        assert_eq!(early.created_before, Some(Timestamp::from_ms(0)));
        for (bad, name) in [
            ("created_after=", "created_after"),
            ("created_after=yesterday", "created_after"),
            ("created_after=2026-01-05", "created_after"),
            ("created_after=2026-01-05T10:00:00", "created_after"),
            // An unencoded `+` arrives as a space.
            ("created_before=2026-01-05T10:00:00+02:00", "created_before"),
            ("created_before=1736071200000", "created_before"),
            ("created_before=", "created_before"),
        ] {
            assert_eq!(refused(bad), name, "{bad}");
        }
        assert_eq!(
            refused("created_after=2026-01-05T10:00:00Z&created_after=2026-01-06T10:00:00Z"),
            "query",
            "repeated"
        );
    }

    #[test]
    fn an_id_prefix_is_1_to_36_lowercase_hex_digits_and_hyphens() {
        for good in [
            "0",
            "0193b5a2-6f1e",
            "0193b5a2-6f1e-7c3d-9a41-2b8e5d7f0c16",
            "-",
        ] {
            let q = ListQuery::parse(&format!("id_prefix={good}"), &["echo"]).unwrap();
            assert_eq!(q.id_prefix.as_ref().map(IdPrefix::as_str), Some(good));
        }
        let too_long = "0".repeat(37);
        for bad in ["", "0193B5A2", "0193b5a2_6f1e", "xyz", "%7E", &too_long] {
            assert_eq!(refused(&format!("id_prefix={bad}")), "id_prefix", "{bad}");
        }
        assert_eq!(refused("id_prefix=01&id_prefix=02"), "query");
    }
}

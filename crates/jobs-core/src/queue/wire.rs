//! Talking to the queue's scripts: run one by its SHA1 ([`eval`]), the keys of a tenant
//! ([`keys_of`]), and the readers of their flat replies. Shared by [`super::RedisQueue`],
//! the webhook outbox and the tenant store.

use super::scripts::Script;
use super::{Claim, ClaimedJob, ClaimedRecords, Ownership, QueueError};
use crate::job::{JobId, Status, Tenant};
use crate::keys;
use crate::ports::{PortError, Redis, RedisParam, RedisValue};

/// Run `script` by its SHA1, sending its text only when Redis does not have it yet.
pub(crate) fn eval<R: Redis>(
    redis: &R,
    script: &Script,
    keys: Vec<String>,
    args: Vec<RedisParam>,
) -> Result<Vec<RedisValue>, QueueError> {
    let mut params = Vec::with_capacity(2 + keys.len() + args.len());
    params.push(RedisParam::from(script.sha()));
    params.push(RedisParam::Int(keys.len() as i64));
    params.extend(keys.into_iter().map(RedisParam::from));
    params.extend(args);
    match redis.execute("EVALSHA", &params) {
        Err(e) if is_noscript(&e) => {
            params[0] = RedisParam::from(script.source);
            Ok(redis.execute("EVAL", &params)?)
        }
        other => Ok(other?),
    }
}

/// KEYS 1..=13 of `t` shared by every script about one tenant (see `lua/prelude.lua`),
/// then `extra`.
pub(super) fn keys_of(t: &Tenant, extra: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut keys = vec![
        keys::ready(t),
        keys::delayed(t),
        keys::leases(t),
        keys::owner(t),
        keys::all(t),
        keys::cancel(t),
        keys::finished(t),
        keys::counters(t),
        keys::by_status(t, Status::Queued),
        keys::by_status(t, Status::Running),
        keys::by_status(t, Status::Succeeded),
        keys::by_status(t, Status::Failed),
        keys::by_status(t, Status::Cancelled),
    ];
    keys.extend(extra);
    keys
}

/// Whether an error is Redis's NOSCRIPT reply (the script is not cached). Hosts word it
/// differently: a raw reply reads `NOSCRIPT No matching script. Please use EVAL.`, the
/// `redis` crate (behind Spin's `execute` and the devhost) may print its own name for the
/// kind before the server's text, and Spin wraps it in `Error::Other`. So look for either
/// the code or the server's message, in any case, anywhere in the text; any other error
/// (a script error included) is returned as it is, never retried.
pub fn is_noscript(e: &PortError) -> bool {
    let text = match e {
        PortError::Backend(t) | PortError::Protocol(t) => t,
        PortError::Unavailable(_) => return false,
    };
    let text = text.to_ascii_lowercase();
    text.contains("noscript") || text.contains("no matching script")
}

/// Parse the three claim entries at the start of `reply` (`script` names the caller).
pub(super) fn parse_claim(script: &'static str, reply: &[RedisValue]) -> Result<Claim, QueueError> {
    parse_claim_reading(script, reply, false).map(|(claim, _)| claim)
}

/// A claim reply; with `read`, each entry carries the job's record too (see
/// `claim_jobs` in prelude.lua), returned in the order of the claimed jobs.
pub(super) fn parse_claim_reading(
    script: &'static str,
    reply: &[RedisValue],
    read: bool,
) -> Result<(Claim, ClaimedRecords), QueueError> {
    let whole = || unexpected(script, reply);
    let width = if read { 4 } else { 2 };
    match text(reply.first()).as_deref() {
        Some("claimed") => {
            let tenant = text(reply.get(1))
                .and_then(|t| Tenant::parse(&t).ok())
                .ok_or_else(whole)?;
            let n = int(reply.get(2)).and_then(|n| usize::try_from(n).ok());
            let entries = n
                .and_then(|n| reply.get(3..3 + width * n))
                .filter(|entries| !entries.is_empty())
                .ok_or_else(whole)?;
            let (mut jobs, mut invalid, mut records) = (Vec::new(), Vec::new(), Vec::new());
            for entry in entries.chunks(width) {
                let raw = text(entry.first()).ok_or_else(whole)?;
                let cancel_requested = int(entry.get(1)) == Some(1);
                let Ok(id) = JobId::parse(&raw) else {
                    invalid.push(raw);
                    continue;
                };
                jobs.push(ClaimedJob {
                    id,
                    cancel_requested,
                });
                if read {
                    records.push(match (int(entry.get(2)), entry.get(3)) {
                        (Some(1), Some(RedisValue::Bytes(bytes))) => Some(bytes.clone()),
                        (Some(0), Some(_)) => None,
                        _ => return Err(whole()),
                    });
                }
            }
            let claim = Claim::Claimed {
                tenant,
                jobs,
                invalid,
            };
            Ok((claim, records))
        }
        Some("empty") => {
            let (due, expiry) = match (int(reply.get(1)), int(reply.get(2))) {
                (Some(due), Some(expiry)) => (due, expiry),
                _ => return Err(whole()),
            };
            let claim = Claim::Empty {
                next_due_ms: u64::try_from(due).ok(),
                next_expiry_ms: u64::try_from(expiry).ok(),
            };
            Ok((claim, Vec::new()))
        }
        _ => Err(whole()),
    }
}

pub(super) fn parse_finish(
    script: &'static str,
    reply: &[RedisValue],
) -> Result<Ownership, QueueError> {
    match text(reply.first()).as_deref() {
        Some("finished") => Ok(Ownership::Owned),
        Some("lost") => Ok(Ownership::Lost),
        _ => Err(unexpected(script, reply)),
    }
}

pub(super) fn unexpected(script: &'static str, reply: &[RedisValue]) -> QueueError {
    let reply = reply
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    QueueError::Reply {
        script,
        reply: format!("[{reply}]"),
    }
}

/// [`unexpected`] for a script whose reply holds secrets (webhook signing secrets): the
/// error, which the worker logs, shows each entry's shape, never its value.
pub(super) fn unexpected_withheld(script: &'static str, reply: &[RedisValue]) -> QueueError {
    let reply = reply
        .iter()
        .map(|v| match v {
            RedisValue::Nil => "(nil)".to_owned(),
            RedisValue::Status(_) => "+(status)".to_owned(),
            RedisValue::Int(_) => ":(integer)".to_owned(),
            RedisValue::Bytes(b) => format!("({} bytes)", b.len()),
        })
        .collect::<Vec<_>>()
        .join(", ");
    QueueError::Reply {
        script,
        reply: format!("[{reply}] (values withheld: they hold secrets)"),
    }
}

pub(super) fn text(v: Option<&RedisValue>) -> Option<String> {
    v.and_then(RedisValue::to_text)
}

pub(super) fn int(v: Option<&RedisValue>) -> Option<i64> {
    v.and_then(RedisValue::to_int)
}

pub(super) fn count(
    script: &'static str,
    reply: &[RedisValue],
    i: usize,
) -> Result<u64, QueueError> {
    int(reply.get(i))
        .map(|n| n.max(0) as u64)
        .ok_or_else(|| unexpected(script, reply))
}

pub(super) fn int_param(n: u64) -> RedisParam {
    RedisParam::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Ids from a reply; an entry that is not an id is skipped (it will be swept or
/// forgotten by whoever can act on it).
pub(super) fn ids(reply: &[RedisValue]) -> Vec<JobId> {
    reply
        .iter()
        .filter_map(|v| JobId::parse(&v.to_text()?).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noscript_is_recognised_however_the_host_words_it() {
        let noscript = [
            // The raw error reply.
            "NOSCRIPT No matching script. Please use EVAL.",
            // redis 1.x (devhost), behind the adapter's `{command}: ` prefix.
            "EVALSHA: NOSCRIPT: No matching script. Please use EVAL.",
            // redis 0.2x (Spin's host): description, kind, detail.
            "EVALSHA: An error was signalled by the server - NoScriptError: No matching script. Please use EVAL.",
            // Only the server's message left.
            "No matching script. Please use EVAL.",
        ];
        for text in noscript {
            assert!(is_noscript(&PortError::Backend(text.into())), "{text}");
        }
        let other = [
            PortError::Backend("ERR user_script:1: finish: not a final status: running".into()),
            PortError::Backend("BUSY Redis is busy running a script".into()),
            PortError::Unavailable("NOSCRIPT (a connection error is never retried)".into()),
        ];
        for e in other {
            assert!(!is_noscript(&e), "{e}");
        }
    }

    #[test]
    fn a_reply_that_holds_secrets_is_described_without_them() {
        let reply = [
            RedisValue::Int(-1),
            RedisValue::Bytes(b"Not A Tenant".to_vec()),
            RedisValue::Status("OK".into()),
            RedisValue::Nil,
            RedisValue::Bytes(b"whsec_c2VjcmV0".to_vec()),
        ];
        let err = unexpected_withheld("hook_claim", &reply).to_string();
        assert!(!err.contains("whsec_") && !err.contains("Tenant"), "{err}");
        assert!(
            err.contains("[:(integer), (12 bytes), +(status), (nil), (14 bytes)]"),
            "{err}"
        );
        assert!(
            unexpected("hook_claim", &reply)
                .to_string()
                .contains("whsec_")
        );
    }
}

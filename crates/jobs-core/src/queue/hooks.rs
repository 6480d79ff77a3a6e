//! The webhook outbox as the queue keeps it: which deliveries are due (every tenant's),
//! who is sending one, and each job's delivery state. An event enters the outbox in the
//! same script that finishes its job (`Finish::hook`, `Queue::cancel`),
//! so no finished job loses its event and no unfinished job has one. The Redis side is
//! `lua/hook_*.lua`; [`super::RedisQueue`] runs it through the functions here.

use super::scripts;
use super::wire::{eval, int_param, text, unexpected, unexpected_withheld};
use super::{Ownership, QueueError};
use crate::job::{JobId, Tenant};
use crate::keys;
use crate::ports::{Redis, RedisValue};

/// A delivery leased to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookClaim {
    pub tenant: Tenant,
    pub id: JobId,
    /// This attempt's number, 1 for the first.
    pub attempt: u32,
    /// How often the event was claimed and not sent, its attempt given back
    /// ([`HookDone::Postponed`]).
    pub postponed: u32,
    /// The tenant's signing secrets as stored (`whsec_...`): the current one, then the
    /// previous one during a rotation. Empty when the tenant has none yet.
    pub secrets: Vec<String>,
}

/// What [`super::Queue::claim_hooks`] leased, and when the next delivery is due.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HookClaims {
    pub due: Vec<HookClaim>,
    pub next_due_ms: Option<u64>,
}

/// How a delivery attempt ended, as the outbox records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookDone {
    Delivered,
    /// Try again at this time (ms).
    RetryAt(u64),
    Failed,
    /// Not sent, through no fault of the receiver: the claim's attempt is given back and
    /// the delivery is due again at this time (ms); its last status stays.
    Postponed(u64),
}

/// A job's delivery, as `GET /jobs/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct HookState {
    /// `pending`, `delivered` or `failed`.
    #[schemars(extend("enum" = ["pending", "delivered", "failed"]))]
    pub state: String,
    pub attempts: u32,
    /// The HTTP status of the last attempt; `null` before the first answer, or when the
    /// last attempt got none (timeout, refused connection).
    pub last_status: Option<u16>,
    /// When the next attempt is due (RFC 3339), while pending.
    pub next_attempt_at: Option<String>,
    /// The same, in ms (not shown).
    #[serde(skip)]
    pub next_attempt_ms: Option<u64>,
}

/// A tenant's signing secrets after [`super::Queue::hook_secrets`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretsNow {
    /// As the change left them: the current one, and the previous one during a rotation.
    Set(String, Option<String>),
    /// `Rotate` changed nothing: a rotation is under way already (its previous secret
    /// still signs, and another rotation would drop it). The current and previous ones.
    RotationUnderWay(String, String),
}

impl SecretsNow {
    /// The current secret, and the previous one during a rotation.
    pub fn into_parts(self) -> (String, Option<String>) {
        match self {
            SecretsNow::Set(current, previous) => (current, previous),
            SecretsNow::RotationUnderWay(current, previous) => (current, Some(previous)),
        }
    }
}

/// The outcome of [`super::Queue::redeliver_hook`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeliver {
    /// Queued again from the first attempt; the delivery state now.
    Queued(HookState),
    /// A delivery is on its way already; its state.
    Pending(HookState),
    /// The job has no event (no callback URL, or not finished).
    NoEvent,
}

/// What [`super::Queue::hook_secrets`] does to a tenant's signing secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretChange {
    /// Keep the current one, or set `new` if there is none.
    Init,
    /// `new` becomes current, the current one previous: both sign until `End`.
    Rotate,
    /// Drop the previous one.
    End,
}

pub(super) fn claim<R: Redis>(
    redis: &R,
    now_ms: u64,
    lease_until_ms: u64,
    token: &str,
    max: u32,
) -> Result<HookClaims, QueueError> {
    if max == 0 {
        return Ok(HookClaims::default());
    }
    let reply = eval(
        redis,
        &scripts::HOOK_CLAIM,
        Vec::new(),
        vec![
            int_param(now_ms),
            int_param(lease_until_ms),
            token.into(),
            int_param(max.into()),
        ],
    )?;
    let bad = || unexpected_withheld("hook_claim", &reply);
    let next = reply.first().and_then(RedisValue::to_int).ok_or_else(bad)?;
    let mut due = Vec::new();
    for entry in reply[1..].chunks(6) {
        let (Some(tenant), Some(id), Some(attempt), Some(postponed)) = (
            text(entry.first()).and_then(|t| Tenant::parse(&t).ok()),
            text(entry.get(1)).and_then(|i| JobId::parse(&i).ok()),
            entry.get(2).and_then(RedisValue::to_int),
            entry.get(3).and_then(RedisValue::to_int),
        ) else {
            return Err(bad());
        };
        let secrets = entry[4..]
            .iter()
            .filter_map(RedisValue::to_text)
            .filter(|s| !s.is_empty())
            .collect();
        due.push(HookClaim {
            tenant,
            id,
            attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
            postponed: u32::try_from(postponed).unwrap_or(u32::MAX),
            secrets,
        });
    }
    Ok(HookClaims {
        due,
        next_due_ms: u64::try_from(next).ok(),
    })
}

pub(super) fn done<R: Redis>(
    redis: &R,
    claim: &HookClaim,
    token: &str,
    outcome: HookDone,
    last_status: Option<u16>,
    now_ms: u64,
) -> Result<Ownership, QueueError> {
    let (what, next) = match outcome {
        HookDone::Delivered => ("delivered", 0),
        HookDone::RetryAt(at) => ("retry", at),
        HookDone::Failed => ("failed", 0),
        HookDone::Postponed(at) => ("postponed", at),
    };
    let reply = eval(
        redis,
        &scripts::HOOK_DONE,
        Vec::new(),
        vec![
            claim.tenant.as_str().into(),
            claim.id.as_str().into(),
            token.into(),
            what.into(),
            last_status
                .map(|s| s.to_string())
                .unwrap_or_default()
                .into(),
            int_param(next),
            int_param(now_ms),
        ],
    )?;
    match text(reply.first()).as_deref() {
        Some("done") => Ok(Ownership::Owned),
        Some("lost") => Ok(Ownership::Lost),
        _ => Err(unexpected("hook_done", &reply)),
    }
}

pub(super) fn redeliver<R: Redis>(
    redis: &R,
    keys: Vec<String>,
    id: &JobId,
    now_ms: u64,
) -> Result<Redeliver, QueueError> {
    let reply = eval(
        redis,
        &scripts::HOOK_REDELIVER,
        keys,
        vec![id.as_str().into(), int_param(now_ms)],
    )?;
    let state = || parse_state(&reply[1..]).ok_or_else(|| unexpected("hook_redeliver", &reply));
    match text(reply.first()).as_deref() {
        Some("queued") => Ok(Redeliver::Queued(state()?)),
        Some("pending") => Ok(Redeliver::Pending(state()?)),
        Some("none") => Ok(Redeliver::NoEvent),
        _ => Err(unexpected("hook_redeliver", &reply)),
    }
}

pub(super) fn state<R: Redis>(
    redis: &R,
    tenant: &Tenant,
    id: &JobId,
) -> Result<Option<HookState>, QueueError> {
    let reply = redis.execute("HGETALL", &[keys::hook(tenant, id).into()])?;
    Ok(parse_state(&reply))
}

/// A delivery state from its hash's fields and values (as HGETALL gives them); `None`
/// when it has no state (no event).
fn parse_state(reply: &[RedisValue]) -> Option<HookState> {
    let pairs: Vec<(String, String)> = reply
        .chunks(2)
        .filter_map(|p| Some((p.first()?.to_text()?, p.get(1)?.to_text()?)))
        .collect();
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, v)| v.as_str())
    };
    let state = field("state")?;
    let next_attempt_ms: Option<u64> = (state == "pending")
        .then(|| field("next_ms").and_then(|n| n.parse().ok()))
        .flatten();
    Some(HookState {
        state: state.to_owned(),
        attempts: field("attempts").and_then(|a| a.parse().ok()).unwrap_or(0),
        last_status: field("last_status").and_then(|s| s.parse().ok()),
        next_attempt_at: next_attempt_ms.map(|ms| crate::job::Timestamp::from_ms(ms).to_rfc3339()),
        next_attempt_ms,
    })
}

pub(super) fn secrets<R: Redis>(
    redis: &R,
    tenant: &Tenant,
    change: SecretChange,
    new: &str,
) -> Result<SecretsNow, QueueError> {
    let what = match change {
        SecretChange::Init => "init",
        SecretChange::Rotate => "rotate",
        SecretChange::End => "end",
    };
    let reply = eval(
        redis,
        &scripts::HOOK_SECRET,
        vec![keys::webhook_secrets(tenant)],
        vec![what.into(), new.into()],
    )?;
    let bad = || unexpected_withheld("hook_secret", &reply);
    let current = text(reply.get(1)).ok_or_else(bad)?;
    let previous = text(reply.get(2)).filter(|p| !p.is_empty());
    match (text(reply.first()).as_deref(), previous) {
        (Some("set"), previous) => Ok(SecretsNow::Set(current, previous)),
        (Some("rotating"), Some(previous)) => Ok(SecretsNow::RotationUnderWay(current, previous)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{PortError, RedisParam};

    /// A Redis whose every script answers `reply`.
    struct Answers(Vec<RedisValue>);

    impl Redis for Answers {
        fn execute(&self, _: &str, _: &[RedisParam]) -> Result<Vec<RedisValue>, PortError> {
            Ok(self.0.clone())
        }
        fn publish(&self, _: &str, _: &[u8]) -> Result<(), PortError> {
            unreachable!("claims never publish")
        }
    }

    #[test]
    fn a_claim_reply_it_cannot_read_is_an_error_that_names_no_secret() {
        let secret = "whsec_c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw==";
        let reply = Answers(vec![
            RedisValue::Int(-1),
            RedisValue::Bytes(b"NOT A TENANT".to_vec()),
            RedisValue::Bytes(b"0190f0f0-0000-7000-8000-000000000000".to_vec()),
            RedisValue::Int(1),
            RedisValue::Int(0),
            RedisValue::Bytes(secret.as_bytes().to_vec()),
            RedisValue::Bytes(Vec::new()),
        ]);

        let err = claim(&reply, 1_000, 21_000, "token", 1)
            .unwrap_err()
            .to_string();

        assert!(err.contains("hook_claim"), "{err}");
        assert!(!err.contains("whsec_"), "{err}");
    }
}

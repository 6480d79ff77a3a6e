//! [`RedisQueue`]: the [`Queue`] protocol run as Lua scripts with EVAL over the
//! [`Redis`] port. One tenant per queue value. EVALSHA with an EVAL fallback would save
//! sending the script text each time; it is left for when a benchmark asks for it.

use super::scripts;
use super::{
    CancelOutcome, Claim, Doorbell, Enqueue, Heartbeat, IdempotencyClaim, IdempotencyRecord,
    Ownership, Queue, QueueError, QueueStats, RetryOutcome, SubmitOutcome,
};
use crate::job::{JobId, Status, Tenant};
use crate::keys;
use crate::ports::{Redis, RedisParam, RedisValue};

/// The Redis queue of one tenant.
#[derive(Debug, Clone)]
pub struct RedisQueue<R> {
    redis: R,
    tenant: Tenant,
}

impl<R: Redis> RedisQueue<R> {
    pub fn new(redis: R, tenant: Tenant) -> Self {
        Self { redis, tenant }
    }

    /// The Redis port underneath (tests inspect keys through it).
    pub fn redis(&self) -> &R {
        &self.redis
    }

    /// KEYS 1..=13 shared by every script (see `lua/prelude.lua`), then `extra`.
    fn keys(&self, extra: Option<String>) -> Vec<String> {
        let t = &self.tenant;
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

    fn eval(
        &self,
        script: &str,
        keys: Vec<String>,
        args: Vec<RedisParam>,
    ) -> Result<Vec<RedisValue>, QueueError> {
        let mut params = Vec::with_capacity(2 + keys.len() + args.len());
        params.push(RedisParam::from(script));
        params.push(RedisParam::Int(keys.len() as i64));
        params.extend(keys.into_iter().map(RedisParam::from));
        params.extend(args);
        Ok(self.redis.execute("EVAL", &params)?)
    }
}

fn unexpected(script: &'static str, reply: &[RedisValue]) -> QueueError {
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

fn text(v: Option<&RedisValue>) -> Option<String> {
    v.and_then(RedisValue::to_text)
}

fn int(v: Option<&RedisValue>) -> Option<i64> {
    v.and_then(RedisValue::to_int)
}

fn count(script: &'static str, reply: &[RedisValue], i: usize) -> Result<u64, QueueError> {
    int(reply.get(i))
        .map(|n| n.max(0) as u64)
        .ok_or_else(|| unexpected(script, reply))
}

fn int_param(n: u64) -> RedisParam {
    RedisParam::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// Ids from a reply; an entry that is not an id is skipped (it will be swept or
/// forgotten by whoever can act on it).
fn ids(reply: &[RedisValue]) -> Vec<JobId> {
    reply
        .iter()
        .filter_map(|v| JobId::parse(&v.to_text()?).ok())
        .collect()
}

impl<R: Redis> Queue for RedisQueue<R> {
    fn submit(&self, job: &Enqueue) -> Result<SubmitOutcome, QueueError> {
        let idem_key = job
            .idempotency
            .as_ref()
            .map(|c| keys::idempotency(&self.tenant, &c.key));
        let (idem_value, idem_ttl) = match &job.idempotency {
            Some(c) => (
                IdempotencyRecord::encode(&job.id, &c.fingerprint),
                c.ttl_ms.max(1),
            ),
            None => (String::new(), 1),
        };
        let reply = self.eval(
            scripts::SUBMIT,
            self.keys(idem_key),
            vec![
                job.id.as_str().into(),
                int_param(job.now_ms),
                int_param(job.due_ms),
                job.doorbell.channel.as_str().into(),
                job.doorbell.payload.as_str().into(),
                idem_value.into(),
                int_param(idem_ttl),
            ],
        )?;
        match text(reply.first()).as_deref() {
            Some("queued") => Ok(SubmitOutcome::Enqueued),
            Some("duplicate") => {
                let value = text(reply.get(1)).unwrap_or_default();
                Ok(SubmitOutcome::Duplicate(IdempotencyRecord::decode(&value)))
            }
            _ => Err(unexpected("submit", &reply)),
        }
    }

    fn withdraw(
        &self,
        id: &JobId,
        idempotency: Option<&IdempotencyClaim>,
    ) -> Result<(), QueueError> {
        let idem_key = idempotency.map(|c| keys::idempotency(&self.tenant, &c.key));
        let idem_value = idempotency
            .map(|c| IdempotencyRecord::encode(id, &c.fingerprint))
            .unwrap_or_default();
        self.eval(
            scripts::WITHDRAW,
            self.keys(idem_key),
            vec![id.as_str().into(), idem_value.into()],
        )?;
        Ok(())
    }

    fn claim(&self, now_ms: u64, lease_until_ms: u64, token: &str) -> Result<Claim, QueueError> {
        let reply = self.eval(
            scripts::CLAIM,
            self.keys(None),
            vec![int_param(now_ms), int_param(lease_until_ms), token.into()],
        )?;
        match text(reply.first()).as_deref() {
            Some("claimed") => {
                let raw = text(reply.get(1)).ok_or_else(|| unexpected("claim", &reply))?;
                let cancel_requested = int(reply.get(2)) == Some(1);
                match JobId::parse(&raw) {
                    Ok(id) => Ok(Claim::Claimed {
                        id,
                        cancel_requested,
                    }),
                    Err(_) => {
                        // Not a job id: nobody can run it. Remove it so it is not claimed
                        // again; the raw value goes to the caller's log.
                        self.eval(scripts::FORGET, self.keys(None), vec![raw.as_str().into()])?;
                        Ok(Claim::Invalid { raw })
                    }
                }
            }
            Some("empty") => {
                let (due, expiry) = match (int(reply.get(1)), int(reply.get(2))) {
                    (Some(due), Some(expiry)) => (due, expiry),
                    _ => return Err(unexpected("claim", &reply)),
                };
                Ok(Claim::Empty {
                    next_due_ms: u64::try_from(due).ok(),
                    next_expiry_ms: u64::try_from(expiry).ok(),
                })
            }
            _ => Err(unexpected("claim", &reply)),
        }
    }

    fn heartbeat(
        &self,
        id: &JobId,
        token: &str,
        lease_until_ms: u64,
    ) -> Result<Heartbeat, QueueError> {
        let reply = self.eval(
            scripts::HEARTBEAT,
            self.keys(None),
            vec![id.as_str().into(), token.into(), int_param(lease_until_ms)],
        )?;
        match text(reply.first()).as_deref() {
            Some("owned") => Ok(Heartbeat::Owned {
                cancel_requested: int(reply.get(1)) == Some(1),
            }),
            Some("lost") => Ok(Heartbeat::Lost),
            _ => Err(unexpected("heartbeat", &reply)),
        }
    }

    fn finish(
        &self,
        id: &JobId,
        token: &str,
        status: Status,
        now_ms: u64,
        dead: bool,
    ) -> Result<Ownership, QueueError> {
        let reply = self.eval(
            scripts::FINISH,
            self.keys(None),
            vec![
                id.as_str().into(),
                token.into(),
                status.as_str().into(),
                int_param(now_ms),
                (if dead { "1" } else { "0" }).into(),
            ],
        )?;
        match text(reply.first()).as_deref() {
            Some("finished") => Ok(Ownership::Owned),
            Some("lost") => Ok(Ownership::Lost),
            _ => Err(unexpected("finish", &reply)),
        }
    }

    fn retry(
        &self,
        id: &JobId,
        token: &str,
        due_ms: u64,
        now_ms: u64,
    ) -> Result<RetryOutcome, QueueError> {
        let reply = self.eval(
            scripts::RETRY,
            self.keys(None),
            vec![
                id.as_str().into(),
                token.into(),
                int_param(due_ms),
                int_param(now_ms),
            ],
        )?;
        match text(reply.first()).as_deref() {
            Some("scheduled") => Ok(RetryOutcome::Scheduled),
            Some("cancelled") => Ok(RetryOutcome::Cancelled),
            Some("lost") => Ok(RetryOutcome::Lost),
            _ => Err(unexpected("retry", &reply)),
        }
    }

    fn cancel(&self, id: &JobId, now_ms: u64) -> Result<CancelOutcome, QueueError> {
        let reply = self.eval(
            scripts::CANCEL,
            self.keys(None),
            vec![id.as_str().into(), int_param(now_ms)],
        )?;
        match text(reply.first()).as_deref() {
            Some("cancelled") => Ok(CancelOutcome::Cancelled),
            Some("requested") => Ok(CancelOutcome::Requested),
            Some("already") => Ok(CancelOutcome::AlreadyCancelled),
            Some("unknown") => Ok(CancelOutcome::Unknown),
            Some("finished") => text(reply.get(1))
                .and_then(|s| Status::parse(&s))
                .map(CancelOutcome::Finished)
                .ok_or_else(|| unexpected("cancel", &reply)),
            _ => Err(unexpected("cancel", &reply)),
        }
    }

    fn stats(&self, now_ms: u64) -> Result<QueueStats, QueueError> {
        let reply = self.eval(scripts::STATS, self.keys(None), vec![int_param(now_ms)])?;
        if reply.len() != 14 {
            return Err(unexpected("stats", &reply));
        }
        let order = [
            Status::Queued,
            Status::Running,
            Status::Succeeded,
            Status::Failed,
            Status::Cancelled,
        ];
        let mut by_status = Vec::with_capacity(order.len());
        for (i, status) in order.into_iter().enumerate() {
            by_status.push((status, count("stats", &reply, i)?));
        }
        by_status.sort_by_key(|(s, _)| Status::ALL.iter().position(|x| x == s));
        Ok(QueueStats {
            by_status,
            ready: count("stats", &reply, 5)?,
            delayed: count("stats", &reply, 6)?,
            delayed_due: count("stats", &reply, 7)?,
            leased: count("stats", &reply, 8)?,
            leases_expired: count("stats", &reply, 9)?,
            retries: count("stats", &reply, 10)?,
            dead: count("stats", &reply, 11)?,
            oldest_ready: text(reply.get(12)).and_then(|s| JobId::parse(&s).ok()),
            oldest_due_ms: int(reply.get(13)).and_then(|n| u64::try_from(n).ok()),
        })
    }

    fn expired(&self, cutoff_ms: u64, limit: u32) -> Result<Vec<JobId>, QueueError> {
        let reply = self.eval(
            scripts::SWEEP,
            self.keys(None),
            vec![int_param(cutoff_ms), RedisParam::Int(i64::from(limit))],
        )?;
        Ok(ids(&reply))
    }

    fn forget(&self, ids: &[JobId]) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        let args = ids.iter().map(|id| RedisParam::from(id.as_str())).collect();
        self.eval(scripts::FORGET, self.keys(None), args)?;
        Ok(())
    }

    fn list(
        &self,
        status: Option<Status>,
        before: Option<&JobId>,
        limit: u32,
    ) -> Result<Vec<JobId>, QueueError> {
        let index = match status {
            Some(s) => keys::by_status(&self.tenant, s),
            None => keys::all(&self.tenant),
        };
        let cursor = before.map(|id| id.as_str().to_owned()).unwrap_or_default();
        let reply = self.eval(
            scripts::LIST,
            self.keys(Some(index)),
            vec![cursor.into(), RedisParam::Int(i64::from(limit))],
        )?;
        Ok(ids(&reply))
    }

    fn ring(&self, doorbell: &Doorbell, window_ms: u64) -> Result<bool, QueueError> {
        let reply = self.eval(
            scripts::RING,
            self.keys(Some(keys::rung(&self.tenant))),
            vec![
                doorbell.channel.as_str().into(),
                doorbell.payload.as_str().into(),
                int_param(window_ms.max(1)),
            ],
        )?;
        match int(reply.first()) {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(unexpected("ring", &reply)),
        }
    }

    fn ping(&self) -> Result<(), QueueError> {
        self.redis.execute("PING", &[])?;
        Ok(())
    }
}

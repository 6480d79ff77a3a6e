//! [`RedisQueue`]: the [`Queue`] protocol run as Lua scripts over the [`Redis`] port.
//! One value serves every tenant: each method names its tenant, and claims go round the
//! tenants with work (`lua/prelude.lua`). Scripts run with EVALSHA, so a request carries the 40-byte
//! SHA1 instead of the script text; when Redis answers NOSCRIPT (first use since it
//! started, or after SCRIPT FLUSH) the same call is sent once more with EVAL, which also
//! caches the script. A NOSCRIPT reply means the script did not run, so the retry cannot
//! apply anything twice.

use super::hooks::{
    self, HookClaim, HookClaims, HookDone, HookState, Redeliver, SecretChange, SecretsNow,
};
use super::scripts::{self, Script};
use super::wire::{
    count, eval, ids, int, int_param, keys_of, parse_claim, parse_claim_reading, parse_finish,
    text, unexpected,
};
use super::{
    CancelOutcome, Claim, ClaimedRecords, Doorbell, Enqueue, Expired, Finish, Heartbeat,
    IdempotencyRecord, LIST_SCAN_MAX, ListFilter, Listed, MinuteCounts, Ownership, Queue,
    QueueError, QueueStats, RetryOutcome, SubmitOutcome, THROUGHPUT_MINUTES,
};
use crate::job::{JobId, Status, Tenant};
use crate::keys;
use crate::ports::{Redis, RedisParam, RedisValue};

/// The Redis queue of every tenant.
#[derive(Debug, Clone)]
pub struct RedisQueue<R> {
    redis: R,
    /// Every registered kind, so retention removes a job from its kind's index.
    kinds: Vec<String>,
}

impl<R: Redis> RedisQueue<R> {
    /// The queue for jobs of `kinds` (the registry's names).
    pub fn new(redis: R, kinds: &[&str]) -> Self {
        Self {
            redis,
            kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    /// The Redis port underneath (tests inspect keys through it).
    pub fn redis(&self) -> &R {
        &self.redis
    }

    /// The [`Claim`] of a parsed claim reply. An entry of the ready list that is not a job
    /// id cannot be run by anyone: it is removed so it is not claimed again, and the raw
    /// value goes to the caller's log.
    fn claimed(&self, claim: Claim) -> Result<Claim, QueueError> {
        if let Claim::Claimed {
            tenant, invalid, ..
        } = &claim
            && !invalid.is_empty()
        {
            let args = invalid.iter().map(|raw| raw.as_str().into()).collect();
            self.eval(&scripts::FORGET, keys_of(tenant, []), args)?;
        }
        Ok(claim)
    }

    /// The `finish_and_claim` script, the claimed records read with the claim when `read`.
    fn finish_and_claim_with(
        &self,
        finishes: &[Finish],
        (now_ms, lease_until_ms): (u64, u64),
        token: &str,
        max: u32,
        read: bool,
    ) -> Result<(Vec<Ownership>, Claim, ClaimedRecords), QueueError> {
        let mut args = vec![
            int_param(now_ms),
            int_param(lease_until_ms),
            token.into(),
            int_param(max.into()),
            (if read { "1" } else { "0" }).into(),
            int_param(finishes.len() as u64),
        ];
        for f in finishes {
            args.extend([
                f.tenant.as_str().into(),
                f.id.as_str().into(),
                f.token.as_str().into(),
                f.status.as_str().into(),
                (if f.dead { "1" } else { "0" }).into(),
                (if f.hook { "1" } else { "0" }).into(),
            ]);
            let (key, record) = f.record.clone().unwrap_or_default();
            args.extend([key.into(), RedisParam::Bytes(record)]);
        }
        let reply = self.eval(&scripts::FINISH_AND_CLAIM, Vec::new(), args)?;
        let (outcomes, rest) = reply
            .split_at_checked(finishes.len())
            .ok_or_else(|| unexpected("finish_and_claim", &reply))?;
        let owned = outcomes
            .iter()
            .map(|o| parse_finish("finish_and_claim", std::slice::from_ref(o)))
            .collect::<Result<Vec<_>, _>>()?;
        let (claim, records) = parse_claim_reading("finish_and_claim", rest, read)?;
        Ok((owned, self.claimed(claim)?, records))
    }

    fn eval(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<RedisParam>,
    ) -> Result<Vec<RedisValue>, QueueError> {
        eval(&self.redis, script, keys, args)
    }
}

impl<R: Redis> Queue for RedisQueue<R> {
    fn submit(&self, job: &Enqueue) -> Result<SubmitOutcome, QueueError> {
        let t = &job.tenant;
        let idem_key = job
            .idempotency
            .as_ref()
            .map(|c| keys::idempotency(t, &c.key));
        let idem_value = match &job.idempotency {
            Some(c) => IdempotencyRecord::encode(&job.id, &c.fingerprint),
            None => String::new(),
        };
        let mut args = vec![
            job.id.as_str().into(),
            int_param(job.now_ms),
            int_param(job.due_ms),
            job.doorbell.channel.as_str().into(),
            job.doorbell.payload.as_str().into(),
            idem_value.into(),
            int_param(job.max_queued),
            int_param(job.records.len() as u64),
        ];
        for (key, value) in &job.records {
            args.push(key.as_str().into());
            args.push(RedisParam::Bytes(value.clone()));
        }
        match &job.key {
            Some(proof) => {
                args.push(keys::api_key(&proof.id).into());
                args.push(proof.hash.as_str().into());
            }
            None => args.extend(["".into(), "".into()]),
        }
        let cutoff = job
            .idempotency
            .as_ref()
            .map_or(0, |c| c.retention_cutoff_ms);
        args.push(int_param(cutoff));
        let reply = self.eval(
            &scripts::SUBMIT,
            keys_of(
                t,
                [keys::by_kind(t, &job.kind), keys::tenant_settings(t)]
                    .into_iter()
                    .chain(idem_key),
            ),
            args,
        )?;
        match text(reply.first()).as_deref() {
            Some("queued") => Ok(SubmitOutcome::Enqueued),
            Some("duplicate") => {
                let value = text(reply.get(1)).unwrap_or_default();
                Ok(SubmitOutcome::Duplicate(IdempotencyRecord::decode(&value)))
            }
            Some("full") => Ok(SubmitOutcome::Full {
                queued: count("submit", &reply, 1)?,
                limit: count("submit", &reply, 2)?,
            }),
            Some("key") if job.key.is_some() => Ok(SubmitOutcome::KeyRefused),
            _ => Err(unexpected("submit", &reply)),
        }
    }

    fn finished_ms(&self, tenant: &Tenant, id: &JobId) -> Result<Option<u64>, QueueError> {
        let reply = self.redis.execute(
            "ZSCORE",
            &[keys::finished(tenant).into(), id.as_str().into()],
        )?;
        // A score is a bulk string (Spin 3.x drops a nil reply, Spin 4.x keeps it).
        Ok(text(reply.first())
            .and_then(|s| s.parse::<f64>().ok())
            .map(|ms| ms as u64))
    }

    fn knows(&self, tenant: &Tenant, id: &JobId) -> Result<bool, QueueError> {
        // The submit script adds every id to `all` with everything else, atomically.
        let reply = self
            .redis
            .execute("ZSCORE", &[keys::all(tenant).into(), id.as_str().into()])?;
        // Spin 3.x drops a nil reply entirely, Spin 4.x keeps it: either way, no score.
        Ok(reply.iter().any(|v| *v != RedisValue::Nil))
    }

    fn claim(
        &self,
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> Result<Claim, QueueError> {
        if max == 0 {
            return Ok(Claim::NOTHING);
        }
        let reply = self.eval(
            &scripts::CLAIM,
            Vec::new(),
            vec![
                int_param(now_ms),
                int_param(lease_until_ms),
                token.into(),
                int_param(max.into()),
            ],
        )?;
        self.claimed(parse_claim("claim", &reply)?)
    }

    fn heartbeat_batch(
        &self,
        tenant: &Tenant,
        token: &str,
        ids: &[JobId],
        lease_until_ms: u64,
    ) -> Result<Vec<Heartbeat>, QueueError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec![token.into(), int_param(lease_until_ms)];
        args.extend(ids.iter().map(|id| id.as_str().into()));
        let reply = self.eval(&scripts::HEARTBEAT, keys_of(tenant, []), args)?;
        if reply.len() != ids.len() {
            return Err(unexpected("heartbeat", &reply));
        }
        reply
            .iter()
            .map(|answer| match answer.to_int() {
                Some(0) => Ok(Heartbeat::Lost),
                Some(n @ (1 | 2)) => Ok(Heartbeat::Owned {
                    cancel_requested: n == 2,
                }),
                _ => Err(unexpected("heartbeat", &reply)),
            })
            .collect()
    }

    fn finish_and_claim(
        &self,
        finishes: &[Finish],
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> Result<(Vec<Ownership>, Claim), QueueError> {
        if finishes.is_empty() {
            return Ok((Vec::new(), self.claim(now_ms, lease_until_ms, token, max)?));
        }
        let (owned, claim, _) =
            self.finish_and_claim_with(finishes, (now_ms, lease_until_ms), token, max, false)?;
        Ok((owned, claim))
    }

    fn finish_and_claim_reading(
        &self,
        finishes: &[Finish],
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> Result<(Vec<Ownership>, Claim, ClaimedRecords), QueueError> {
        self.finish_and_claim_with(finishes, (now_ms, lease_until_ms), token, max, true)
    }

    fn retry(
        &self,
        tenant: &Tenant,
        id: &JobId,
        token: &str,
        due_ms: u64,
    ) -> Result<RetryOutcome, QueueError> {
        let reply = self.eval(
            &scripts::RETRY,
            keys_of(tenant, []),
            vec![id.as_str().into(), token.into(), int_param(due_ms)],
        )?;
        match text(reply.first()).as_deref() {
            Some("scheduled") => Ok(RetryOutcome::Scheduled),
            Some("cancel") => Ok(RetryOutcome::CancelRequested),
            Some("lost") => Ok(RetryOutcome::Lost),
            _ => Err(unexpected("retry", &reply)),
        }
    }

    fn cancel(
        &self,
        tenant: &Tenant,
        id: &JobId,
        now_ms: u64,
        hook: bool,
    ) -> Result<CancelOutcome, QueueError> {
        let reply = self.eval(
            &scripts::CANCEL,
            keys_of(tenant, []),
            vec![
                id.as_str().into(),
                int_param(now_ms),
                (if hook { "1" } else { "0" }).into(),
            ],
        )?;
        match text(reply.first()).as_deref() {
            Some("cancelled") => Ok(CancelOutcome::Cancelled),
            Some("requested") => Ok(CancelOutcome::Requested),
            Some("requested-before") => Ok(CancelOutcome::RequestedBefore),
            Some("already") => Ok(CancelOutcome::AlreadyCancelled {
                at_ms: reply
                    .get(1)
                    .and_then(RedisValue::to_int)
                    .and_then(|ms| u64::try_from(ms).ok()),
            }),
            Some("unknown") => Ok(CancelOutcome::Unknown),
            Some("finished") => text(reply.get(1))
                .and_then(|s| Status::parse(&s))
                .map(CancelOutcome::Finished)
                .ok_or_else(|| unexpected("cancel", &reply)),
            _ => Err(unexpected("cancel", &reply)),
        }
    }

    fn stats(&self, tenant: &Tenant, now_ms: u64) -> Result<QueueStats, QueueError> {
        let reply = self.eval(
            &scripts::STATS,
            keys_of(tenant, []),
            vec![
                int_param(now_ms),
                RedisParam::Int(i64::from(THROUGHPUT_MINUTES)),
            ],
        )?;
        // 16 counts, then three entries (start, submitted, finished) per minute.
        let minutes = reply.len().saturating_sub(16);
        if reply.len() < 16 || minutes % 3 != 0 || minutes / 3 > THROUGHPUT_MINUTES as usize {
            return Err(unexpected("stats", &reply));
        }
        let throughput = (16..reply.len())
            .step_by(3)
            .map(|at| {
                Ok(MinuteCounts {
                    start_ms: count("stats", &reply, at)?,
                    submitted: count("stats", &reply, at + 1)?,
                    finished: count("stats", &reply, at + 2)?,
                })
            })
            .collect::<Result<_, QueueError>>()?;
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
            hooks_pending: count("stats", &reply, 14)?,
            hooks_failed: count("stats", &reply, 15)?,
            throughput,
        })
    }

    fn expired(
        &self,
        now_ms: u64,
        cutoff_ms: u64,
        limit: u32,
    ) -> Result<Option<Expired>, QueueError> {
        let reply = self.eval(
            &scripts::SWEEP,
            Vec::new(),
            vec![
                int_param(cutoff_ms),
                RedisParam::Int(i64::from(limit)),
                int_param(now_ms),
            ],
        )?;
        let Some(first) = reply.first() else {
            return Ok(None);
        };
        let tenant = first
            .to_text()
            .and_then(|t| Tenant::parse(&t).ok())
            .ok_or_else(|| unexpected("sweep", &reply))?;
        Ok(Some(Expired {
            tenant,
            ids: ids(&reply[1..]),
        }))
    }

    fn forget(&self, tenant: &Tenant, ids: &[JobId]) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        let args = ids.iter().map(|id| RedisParam::from(id.as_str())).collect();
        let indexes = self.kinds.iter().map(|k| keys::by_kind(tenant, k));
        self.eval(&scripts::FORGET, keys_of(tenant, indexes), args)?;
        Ok(())
    }

    fn list(
        &self,
        tenant: &Tenant,
        filter: &ListFilter,
        before: Option<&JobId>,
        limit: u32,
    ) -> Result<Listed, QueueError> {
        let t = tenant;
        let indexes: Vec<String> = match (&filter.kind, filter.status) {
            (Some(kind), status) => std::iter::once(keys::by_kind(t, kind))
                .chain(status.map(|s| keys::by_status(t, s)))
                .collect(),
            (None, Some(s)) => vec![keys::by_status(t, s)],
            (None, None) => vec![keys::all(t)],
        };
        let range = filter.ids.below(before);
        if range.is_empty() {
            return Ok(Listed::default());
        }
        let reply = self.eval(
            &scripts::LIST,
            keys_of(t, indexes),
            vec![
                range.upper().unwrap_or_default().into(),
                RedisParam::Int(i64::from(limit)),
                RedisParam::Int(i64::from(LIST_SCAN_MAX)),
                range.lower().unwrap_or_default().into(),
            ],
        )?;
        let scanned_to = text(reply.first())
            .filter(|t| !t.is_empty())
            .and_then(|t| JobId::parse(&t).ok());
        Ok(Listed {
            ids: ids(reply.get(1..).unwrap_or_default()),
            scanned_to,
        })
    }

    fn ring(&self, doorbell: &Doorbell, window_ms: u64) -> Result<bool, QueueError> {
        let reply = self.eval(
            &scripts::RING,
            vec![keys::rung()],
            vec![
                doorbell.channel.as_str().into(),
                doorbell.payload.as_str().into(),
                int_param(window_ms.max(1)),
                int_param(window_ms.max(super::RING_WINDOW_MS)),
            ],
        )?;
        match int(reply.first()) {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(unexpected("ring", &reply)),
        }
    }

    fn watch(&self, token: &str, ttl_ms: u64) -> Result<bool, QueueError> {
        let reply = self.eval(
            &scripts::WATCH,
            vec![keys::watch()],
            vec![token.into(), int_param(ttl_ms.max(1))],
        )?;
        match int(reply.first()) {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(unexpected("watch", &reply)),
        }
    }

    fn ping(&self) -> Result<(), QueueError> {
        self.redis.execute("PING", &[])?;
        Ok(())
    }

    fn claim_hooks(
        &self,
        now_ms: u64,
        lease_until_ms: u64,
        token: &str,
        max: u32,
    ) -> Result<HookClaims, QueueError> {
        hooks::claim(&self.redis, now_ms, lease_until_ms, token, max)
    }

    fn hook_done(
        &self,
        claim: &HookClaim,
        token: &str,
        outcome: HookDone,
        last_status: Option<u16>,
        now_ms: u64,
    ) -> Result<Ownership, QueueError> {
        hooks::done(&self.redis, claim, token, outcome, last_status, now_ms)
    }

    fn redeliver_hook(
        &self,
        tenant: &Tenant,
        id: &JobId,
        now_ms: u64,
    ) -> Result<Redeliver, QueueError> {
        hooks::redeliver(&self.redis, keys_of(tenant, []), id, now_ms)
    }

    fn hook(&self, tenant: &Tenant, id: &JobId) -> Result<Option<HookState>, QueueError> {
        hooks::state(&self.redis, tenant, id)
    }

    fn hook_secrets(
        &self,
        tenant: &Tenant,
        change: SecretChange,
        new: &str,
    ) -> Result<SecretsNow, QueueError> {
        hooks::secrets(&self.redis, tenant, change, new)
    }
}

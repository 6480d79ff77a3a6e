//! `POST /jobs`: validate, write the record, run the submit script (idempotency claim,
//! enqueue, index, doorbell in one round trip; with the store in the queue's Redis the
//! script writes the record too, all or nothing). A failure after the record was written is
//! settled by asking the queue whether the submit took effect: the record is deleted only
//! when nothing refers to it, so nothing half-written remains and nothing acknowledged
//! vanishes (docs/architecture.md, step 1).
//! Idempotency follows the IETF draft "The Idempotency-Key HTTP Header Field".

use super::error::{AuthError, StoreError, SubmitError};
use super::{Caller, Context};
use crate::fingerprint::body_fingerprint;
use crate::job::{JobId, Timestamp};
use crate::queue::{Enqueue, IdempotencyClaim, KeyProof, SubmitOutcome};
use crate::resource::JobResource;
use crate::submission::NewJob;
use crate::tenancy::Role;

/// Longest accepted idempotency key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// An accepted submission.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    pub job: JobResource,
    /// True when an idempotency key matched an earlier identical request: the job is that
    /// request's (header `Idempotent-Replayed: true`).
    pub replayed: bool,
}

/// The key of an `Idempotency-Key` header: 1 to 255 printable ASCII characters; or the
/// service's own key for a retry ([`IdempotencyKey::retry_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Reads a header value. The draft defines the field as a Structured Field string
    /// (`"abc"`); unquoted keys are accepted too, as most clients send them.
    pub fn parse(raw: &str) -> Result<IdempotencyKey, SubmitError> {
        parse_idempotency_key(raw).map(IdempotencyKey)
    }

    /// The key of the retry of job `id`: it starts with U+2192, which no client can send
    /// (theirs are printable ASCII), so a client's own keys never collide with it.
    pub(crate) fn retry_of(id: &JobId) -> IdempotencyKey {
        IdempotencyKey(format!("\u{2192}retry-of:{id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn parse_idempotency_key(raw: &str) -> Result<String, SubmitError> {
    let raw = raw.trim();
    let key = match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => unescape_sf_string(inner)?,
        None => raw.to_owned(),
    };
    if key.is_empty() {
        return Err(SubmitError::InvalidIdempotencyKey("must not be empty"));
    }
    if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(SubmitError::InvalidIdempotencyKey(
            "must be at most 255 characters",
        ));
    }
    if !key.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(SubmitError::InvalidIdempotencyKey(
            "must be printable ASCII",
        ));
    }
    Ok(key)
}

fn unescape_sf_string(inner: &str) -> Result<String, SubmitError> {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('"' | '\\')) => out.push(e),
                _ => return Err(SubmitError::InvalidIdempotencyKey("has an invalid escape")),
            },
            '"' => return Err(SubmitError::InvalidIdempotencyKey("has an unescaped quote")),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Submit the JSON `body`, with the raw `Idempotency-Key` header value if there was one.
pub fn submit(
    ctx: &Context<'_>,
    body: &[u8],
    idempotency_key: Option<&str>,
) -> Result<Submitted, SubmitError> {
    let key = idempotency_key.map(IdempotencyKey::parse).transpose()?;
    let new = NewJob::parse(body, ctx.registry, ctx.settings)?;
    submit_new(ctx, new, key, body, (None, None))
}

/// [`submit`] for a caller whose API key was not looked up for this request but checked
/// against the hash the instance read earlier (`service::KnownKeys`): the submit script
/// makes sure the key is still as read, atomically with the job, and refuses it with
/// [`SubmitError::KeyRefused`] (nothing kept) when it is not.
pub fn submit_vouched(
    ctx: &Context<'_>,
    body: &[u8],
    idempotency_key: Option<&str>,
    proof: KeyProof,
) -> Result<Submitted, SubmitError> {
    let key = idempotency_key.map(IdempotencyKey::parse).transpose()?;
    let new = NewJob::parse(body, ctx.registry, ctx.settings)?;
    submit_new(ctx, new, key, body, (None, Some(proof)))
}

/// What follows a [`submit_vouched`] that failed with `failed`, once the caller's key has
/// been looked up afresh (`lookup`).
#[derive(Debug, Clone, PartialEq)]
pub enum AfterVouched {
    /// The script refused a key that is valid after all: submit again, the usual way.
    SubmitAgain(Caller),
    /// The key is no longer good (or the lookup failed, and nothing was kept): say so.
    Refuse(AuthError),
    /// The submission's own error, which may say that something was changed.
    Fail(SubmitError),
}

/// The answer to a [`submit_vouched`] that failed: a key no longer valid is refused before
/// anything else is said, as it would be without the shortcut, unless the job may have
/// been queued. Then neither a refusal nor a lookup that fails in the store replaces the
/// error that says so: the script checks the key before it queues anything, so a job it
/// queued had a valid key, and a key revoked since must not make it "not accepted".
pub fn after_vouched(failed: SubmitError, lookup: Result<Caller, AuthError>) -> AfterVouched {
    if matches!(failed, SubmitError::OutcomeUnknown(_)) {
        return AfterVouched::Fail(failed);
    }
    let refused = failed == SubmitError::KeyRefused;
    match lookup {
        Err(AuthError::Store(_)) if !refused => AfterVouched::Fail(failed),
        Err(e) => AfterVouched::Refuse(e),
        Ok(_) if !refused => AfterVouched::Fail(failed),
        Ok(caller) if caller.role != Role::Full => AfterVouched::Refuse(AuthError::ReadOnly),
        Ok(caller) => AfterVouched::SubmitAgain(caller),
    }
}

/// Records and enqueues `new`: what [`submit`] does once the body is parsed, and what a
/// retry does with a finished job's submission (`retry_of`). `body` is what an
/// idempotency key's fingerprint is taken of; `proof`, the API key the queue checks
/// ([`submit_vouched`]).
pub(crate) fn submit_new(
    ctx: &Context<'_>,
    new: NewJob,
    key: Option<IdempotencyKey>,
    body: &[u8],
    (retry_of, proof): (Option<JobId>, Option<KeyProof>),
) -> Result<Submitted, SubmitError> {
    // Over the quota as last seen: refused before anything is written. With an
    // idempotency key the script decides (a replay is answered even at the quota).
    if let Some(seen) = ctx.quota.filter(|_| key.is_none()) {
        let limit = seen.max_queued_jobs.unwrap_or(ctx.settings.max_queued_jobs);
        if seen.queued >= limit {
            return Err(SubmitError::QuotaExceeded {
                queued: seen.queued,
                limit,
            });
        }
    }
    let now = ctx.now();
    let delay_ms = new.delay_ms;
    let mut job = new.into_job(JobId::new(), ctx.tenant.clone(), Timestamp::from_ms(now));
    job.idempotency_key = key.as_ref().map(|key| key.as_str().to_owned());
    job.retry_of = retry_of;

    // When the store is the queue's Redis, the submit script writes the record with the
    // job (one round trip, all or nothing); else the store holds it before the queue
    // may name it.
    let records = if ctx.kv.is_queue_redis() {
        Context::new_job_records(&job)
    } else {
        ctx.save_new_job(&job).map_err(SubmitError::Unavailable)?;
        Vec::new()
    };
    let ours_to_forget = records.is_empty();
    let forget = |job: &crate::job::Job| {
        if ours_to_forget {
            ctx.forget_new_job(job);
        }
    };

    let claim = key.map(|key| IdempotencyClaim {
        key: key.0,
        fingerprint: body_fingerprint(body),
        retention_cutoff_ms: ctx.retention_cutoff(now),
    });
    let enqueue = Enqueue {
        tenant: job.tenant.clone(),
        id: job.id,
        kind: job.kind.clone(),
        now_ms: now,
        due_ms: now.saturating_add(delay_ms),
        idempotency: claim.clone(),
        doorbell: ctx.doorbell(job.id.as_str()),
        max_queued: ctx.settings.max_queued_jobs,
        records,
        key: proof,
    };
    match ctx.queue.submit(&enqueue) {
        Ok(SubmitOutcome::Enqueued) => Ok(Submitted {
            job: JobResource::from_job(&job),
            replayed: false,
        }),
        Ok(SubmitOutcome::Duplicate(earlier)) => {
            // Our record (if the store holds it) is not referenced by anything: remove it.
            // If that fails it is an unreachable orphan, harmless.
            forget(&job);
            let ours = claim
                .as_ref()
                .map(|c| c.fingerprint.as_str())
                .unwrap_or_default();
            if earlier.fingerprint != ours {
                return Err(SubmitError::IdempotencyKeyReused);
            }
            let original = JobId::parse(&earlier.id)
                .ok()
                .map(|id| ctx.load_stored_job(&id))
                .transpose()
                .map_err(SubmitError::Unavailable)?
                .flatten();
            match original {
                Some(job) => Ok(Submitted {
                    job: JobResource::from_job(&job),
                    replayed: true,
                }),
                None => Err(SubmitError::IdempotencyKeyInFlight),
            }
        }
        Ok(SubmitOutcome::Full { queued, limit }) => {
            forget(&job);
            Err(SubmitError::QuotaExceeded { queued, limit })
        }
        Ok(SubmitOutcome::KeyRefused) => {
            forget(&job);
            Err(SubmitError::KeyRefused)
        }
        Err(e) => match ctx.queue.knows(&job.tenant, &job.id) {
            // Only the reply was lost: the job is queued, indexed and rung.
            Ok(true) => Ok(Submitted {
                job: JobResource::from_job(&job),
                replayed: false,
            }),
            // The script did not run (or found the key taken): nothing refers to the
            // record, so it goes (the script writes it only with the job).
            Ok(false) => {
                forget(&job);
                Err(SubmitError::Unavailable(StoreError::Queue(e)))
            }
            // Unknown: the queue or an idempotency key may name this job (another
            // request may even have been answered with it), so the record stays.
            Err(_) => Err(SubmitError::OutcomeUnknown(StoreError::Queue(e))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Status;
    use crate::job::Tenant;
    use crate::memory::SubmitFault;
    use crate::ports::PortError;
    use crate::service::testing::World;
    use crate::{codec, keys};
    use serde_json::json;

    fn body(v: serde_json::Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    #[test]
    fn an_input_nested_as_deep_as_accepted_stays_readable_and_a_deeper_one_changes_nothing() {
        use crate::json_values::MAX_DEPTH;
        use crate::submission::SubmissionError;
        // The body object, the input object, then arrays: `levels` deep in all.
        let nested = |levels: usize| {
            let arrays = levels - 2;
            format!(
                r#"{{"kind":"echo","input":{{"a":{}{}}}}}"#,
                "[".repeat(arrays),
                "]".repeat(arrays)
            )
        };
        let w = World::new();
        let ctx = w.ctx();
        let id = submit(&ctx, nested(MAX_DEPTH).as_bytes(), None)
            .unwrap()
            .job
            .id;
        w.drain(1_000);
        // Its record (input and output, a few levels deeper) reads back, as do its
        // resource and result.
        assert_eq!(w.job(&id).status, Status::Succeeded);
        crate::service::get(&ctx, id.as_str()).unwrap();
        crate::service::result(&ctx, id.as_str()).unwrap();

        let (calls, keys) = (w.queue.calls(), w.kv.keys());
        let err = submit(&ctx, nested(MAX_DEPTH + 1).as_bytes(), None).unwrap_err();
        assert!(
            matches!(
                err,
                SubmitError::Invalid(SubmissionError::TooDeep(d)) if d == MAX_DEPTH + 1
            ),
            "{err:?}"
        );
        assert_eq!((w.queue.calls(), w.kv.keys()), (calls, keys));
    }

    #[test]
    fn a_valid_submission_is_recorded_queued_and_rung() {
        let w = World::new();
        let s = submit(
            &w.ctx(),
            &body(json!({"kind": "echo", "input": {"a": 1}})),
            None,
        )
        .unwrap();
        assert!(!s.replayed);
        assert_eq!(s.job.status, Status::Queued);
        assert_eq!(w.job(&s.job.id).status, Status::Queued);
        assert_eq!(w.queue.indexed_status(&s.job.id), Some(Status::Queued));
        assert_eq!(w.queue.published().len(), 1);
    }

    #[test]
    fn a_submission_rings_only_when_no_drain_will_claim_its_job() {
        use crate::ports::Clock;
        use crate::queue::{DOORBELL_ARMED_MS, Queue};
        let w = World::new();
        let rings = || w.queue.published().len();
        let echo = || w.submit(json!({"kind": "echo", "input": {}}));
        echo();
        echo();
        assert_eq!(rings(), 1, "the doorbell rung for the first is armed");
        // A drain claims them and finds the line empty after: the next submission rings.
        let now = w.clock.now_ms();
        assert!(matches!(
            w.queue.claim(now, now + 1000, "t", 10).unwrap(),
            crate::queue::Claim::Claimed { .. }
        ));
        echo();
        assert_eq!(rings(), 1, "claimed while the doorbell was armed");
        w.queue.claim(now, now + 1000, "t", 10).unwrap();
        assert_eq!(
            w.queue.claim(now, now + 1000, "t", 10).unwrap(),
            crate::queue::Claim::Empty {
                next_due_ms: None,
                next_expiry_ms: Some(now + 1000),
            }
        );
        echo();
        assert_eq!(rings(), 2, "the line was found empty");
        // A doorbell nobody acted on holds the next ones back for a while only.
        w.clock.advance(DOORBELL_ARMED_MS - 1);
        echo();
        assert_eq!(rings(), 2);
        w.clock.advance(1);
        echo();
        assert_eq!(rings(), 3);
    }

    #[test]
    fn a_tenant_seen_at_its_quota_is_refused_before_anything_is_written() {
        use crate::tenancy::QuotaSeen;
        let w = World::new();
        let at = |queued, max_queued_jobs| crate::context::Context {
            quota: Some(QuotaSeen {
                queued,
                max_queued_jobs,
            }),
            ..w.ctx()
        };
        let body = body(json!({"kind": "echo", "input": {}}));
        let refused = submit(&at(100_000, None), &body, None);
        assert_eq!(
            refused.unwrap_err(),
            SubmitError::QuotaExceeded {
                queued: 100_000,
                limit: 100_000
            }
        );
        let own = submit(&at(3, Some(3)), &body, None);
        assert!(matches!(
            own,
            Err(SubmitError::QuotaExceeded { limit: 3, .. })
        ));
        assert!(w.kv.keys().is_empty(), "nothing was written");
        assert!(w.queue.published().is_empty());
        // Below it, or with a key the script decides: accepted here.
        assert!(submit(&at(2, Some(3)), &body, None).is_ok());
        assert!(submit(&at(3, Some(3)), &body, Some("k-1")).is_ok());
    }

    #[test]
    fn a_half_failed_write_of_a_large_input_leaves_nothing_behind() {
        use crate::memory::MemoryKv;
        use crate::ports::{KeyValue, PortError};
        /// Writes inputs, refuses records: the input is written, then the submit fails.
        struct RefusesRecords(MemoryKv);
        impl KeyValue for RefusesRecords {
            fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
                self.0.get(key)
            }
            fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
                if key.starts_with("j:") {
                    return Err(PortError::Unavailable("records refused".into()));
                }
                self.0.set(key, value)
            }
            fn delete(&self, key: &str) -> Result<(), PortError> {
                self.0.delete(key)
            }
        }
        let w = World::new();
        let kv = RefusesRecords(w.kv.clone());
        let mut ctx = w.ctx();
        ctx.kv = &kv;
        let big = "b".repeat(crate::codec::INLINE_INPUT_MAX);
        let err = submit(
            &ctx,
            &body(json!({"kind": "echo", "input": {"s": big}})),
            None,
        )
        .unwrap_err();
        assert!(matches!(err, SubmitError::Unavailable(_)), "{err:?}");
        assert!(w.kv.keys().is_empty(), "{:?}", w.kv.keys());
        assert!(w.queue.published().is_empty());
    }

    /// The store of [`World::with_store_in_queue`], refusing every write itself, so only
    /// the queue can have written a record.
    struct QueueRedis(crate::memory::MemoryKv);
    impl crate::ports::KeyValue for QueueRedis {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, crate::ports::PortError> {
            self.0.get(key)
        }
        fn set(&self, key: &str, _: &[u8]) -> Result<(), crate::ports::PortError> {
            panic!("the store wrote {key}: the submit script should have")
        }
        fn delete(&self, key: &str) -> Result<(), crate::ports::PortError> {
            panic!("the store deleted {key}: the submit script wrote nothing to delete")
        }
        fn is_queue_redis(&self) -> bool {
            self.0.is_queue_redis()
        }
    }

    #[test]
    fn with_an_idempotency_key_the_queue_holds_the_tenants_own_quota() {
        use crate::memory::MemoryTenants;
        use crate::tenancy::TenantStore;
        let w = World::new();
        let tenants = MemoryTenants::default();
        w.queue.checking_keys_in(tenants.clone());
        let tenant = crate::job::Tenant::default_tenant();
        tenants.create_tenant(&tenant, 1, Some(2)).unwrap();
        let body = body(json!({"kind": "echo", "input": {}}));

        for key in ["k-1", "k-2"] {
            submit(&w.ctx(), &body, Some(key)).unwrap();
        }
        let third = submit(&w.ctx(), &body, Some("k-3"));

        assert!(
            matches!(
                third,
                Err(SubmitError::QuotaExceeded {
                    queued: 2,
                    limit: 2
                })
            ),
            "{third:?}"
        );
    }

    #[test]
    fn a_vouched_submission_is_kept_only_while_its_key_is_as_read() {
        use crate::memory::MemoryTenants;
        use crate::queue::KeyProof;
        use crate::tenancy::{ApiKey, Role, TenantStore};
        let w = World::new().with_store_in_queue();
        let tenants = MemoryTenants::default();
        w.queue.checking_keys_in(tenants.clone());
        let tenant = crate::job::Tenant::default_tenant();
        tenants.create_tenant(&tenant, 1, None).unwrap();
        let key = ApiKey::generate().unwrap();
        tenants.issue_key(&tenant, &key, Role::Full, 1).unwrap();
        let proof = || KeyProof {
            id: key.id().to_owned(),
            hash: key.hash(),
        };
        let body = body(json!({"kind": "echo", "input": {}}));
        let kv = QueueRedis(w.kv.clone());
        let mut ctx = w.ctx();
        ctx.kv = &kv;

        let kept = submit_vouched(&ctx, &body, None, proof()).unwrap();
        tenants.revoke_key(&tenant, key.id(), 2).unwrap();
        let refused = submit_vouched(&ctx, &body, Some("k-2"), proof());

        assert_eq!(w.job(&kept.job.id).status, Status::Queued);
        assert_eq!(refused.unwrap_err(), SubmitError::KeyRefused);
        assert_eq!(
            w.kv.keys().len(),
            1,
            "only the first job's record: {:?}",
            w.kv.keys()
        );
        assert_eq!(w.queue.published().len(), 1);
        // Its idempotency key was not taken either.
        let again = submit(&ctx, &body, Some("k-2")).unwrap();
        assert!(!again.replayed);
    }

    #[test]
    fn when_the_store_is_the_queues_redis_the_submit_writes_the_record_with_the_job() {
        use crate::ports::KeyValue;
        let w = World::new().with_store_in_queue();
        let kv = QueueRedis(w.kv.clone());
        let mut ctx = w.ctx();
        ctx.kv = &kv;
        let big = "r".repeat(crate::codec::INLINE_INPUT_MAX);
        let small = submit(&ctx, &body(json!({"kind": "echo", "input": {}})), None).unwrap();
        let large = submit(
            &ctx,
            &body(json!({"kind": "echo", "input": {"s": big}})),
            None,
        )
        .unwrap();
        let tenant = crate::job::Tenant::default_tenant();
        for s in [&small, &large] {
            let record = w.kv.get(&keys::job(&tenant, &s.job.id)).unwrap().unwrap();
            assert_eq!(codec::decode_job(&record).unwrap().status, Status::Queued);
            assert_eq!(w.queue.indexed_status(&s.job.id), Some(Status::Queued));
        }
        let input = w.kv.get(&keys::input(&tenant, &large.job.id)).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(
                codec::decode_input(input.unwrap()).unwrap().get()
            )
            .unwrap(),
            json!({"s": big})
        );
        assert_eq!(w.kv.keys().len(), 3, "{:?}", w.kv.keys());

        // A replay, a full queue and a refused submit write nothing.
        let key = Some("k-1");
        let first = submit(&ctx, &body(json!({"kind": "echo", "input": {}})), key).unwrap();
        let replay = submit(&ctx, &body(json!({"kind": "echo", "input": {}})), key).unwrap();
        assert!(replay.replayed && replay.job.id == first.job.id);
        assert_eq!(w.kv.keys().len(), 4, "{:?}", w.kv.keys());
        w.queue.fault_next_submit(SubmitFault::Refused);
        let err = submit(&ctx, &body(json!({"kind": "echo", "input": {}})), None).unwrap_err();
        assert!(matches!(err, SubmitError::Unavailable(_)), "{err:?}");
        let mut settings = w.settings.clone();
        settings.max_queued_jobs = 3;
        ctx.settings = &settings;
        let err = submit(&ctx, &body(json!({"kind": "echo", "input": {}})), None).unwrap_err();
        assert!(matches!(err, SubmitError::QuotaExceeded { .. }), "{err:?}");
        assert_eq!(w.kv.keys().len(), 4, "{:?}", w.kv.keys());
    }

    #[test]
    fn an_invalid_submission_changes_nothing() {
        let w = World::new();
        let err = submit(&w.ctx(), b"{nope", None).unwrap_err();
        assert!(matches!(err, SubmitError::Invalid(_)));
        let err = submit(&w.ctx(), &body(json!({"kind": "nope", "input": {}})), None).unwrap_err();
        assert!(matches!(err, SubmitError::Invalid(_)));
        assert!(w.kv.keys().is_empty());
        assert!(w.queue.published().is_empty());
    }

    #[test]
    fn when_the_submit_did_not_take_effect_the_record_is_removed_and_the_answer_is_unavailable() {
        let w = World::new();
        w.queue.fault_next_submit(SubmitFault::Refused);
        let err = submit(&w.ctx(), &body(json!({"kind": "echo", "input": {}})), None).unwrap_err();
        assert!(matches!(err, SubmitError::Unavailable(_)));
        assert!(w.kv.keys().is_empty());
    }

    #[test]
    fn a_vouched_submit_that_may_have_queued_its_job_says_so_whatever_the_lookup_after() {
        let caller = |role| Caller {
            tenant: Tenant::default_tenant(),
            role,
            quota: None,
        };
        let gone = || StoreError::Kv(PortError::Unavailable("connection reset".into()));
        let unknown = SubmitError::OutcomeUnknown(gone());
        let down = || Err(AuthError::Store(gone()));

        // Redis went away during the script and is still away for the lookup.
        assert_eq!(
            after_vouched(unknown.clone(), down()),
            AfterVouched::Fail(unknown.clone())
        );
        // The key was revoked after the script may have queued the job with it: the
        // answer still says the job may be queued.
        assert_eq!(
            after_vouched(unknown.clone(), Err(AuthError::Revoked)),
            AfterVouched::Fail(unknown.clone())
        );
        // An error that says nothing was kept: a key no longer valid is refused first,
        // as without the shortcut.
        let full = SubmitError::QuotaExceeded {
            queued: 10,
            limit: 10,
        };
        assert_eq!(
            after_vouched(full.clone(), Err(AuthError::Revoked)),
            AfterVouched::Refuse(AuthError::Revoked)
        );
        assert_eq!(
            after_vouched(full.clone(), Ok(caller(Role::Full))),
            AfterVouched::Fail(full)
        );
        assert_eq!(
            after_vouched(unknown.clone(), Ok(caller(Role::Full))),
            AfterVouched::Fail(unknown)
        );
        // The script refused the key; nothing was kept.
        assert_eq!(
            after_vouched(SubmitError::KeyRefused, down()),
            AfterVouched::Refuse(AuthError::Store(gone()))
        );
        assert_eq!(
            after_vouched(SubmitError::KeyRefused, Ok(caller(Role::Full))),
            AfterVouched::SubmitAgain(caller(Role::Full))
        );
        assert_eq!(
            after_vouched(SubmitError::KeyRefused, Ok(caller(Role::Read))),
            AfterVouched::Refuse(AuthError::ReadOnly)
        );
    }

    #[test]
    fn a_submit_that_took_effect_with_its_reply_lost_is_accepted() {
        let w = World::new();
        w.queue.fault_next_submit(SubmitFault::ReplyLost);

        let s = submit(&w.ctx(), &body(json!({"kind": "echo", "input": {}})), None).unwrap();

        assert!(!s.replayed);
        assert_eq!(w.job(&s.job.id).status, Status::Queued);
        assert_eq!(w.queue.indexed_status(&s.job.id), Some(Status::Queued));
    }

    #[test]
    fn a_record_the_queue_may_refer_to_is_kept_and_a_retry_with_the_key_gets_that_job() {
        // R1's script takes effect (key k names its job X), the reply is lost and Redis
        // goes down before R1 can ask: R1 answers 503, but must not delete X's record,
        // which the key names (and which another request may already have been given).
        let w = World::new();
        let b = body(json!({"kind": "echo", "input": {"a": 1}}));
        w.queue.fault_next_submit(SubmitFault::ReplyLostThenDown);

        let first = submit(&w.ctx(), &b, Some("k")).unwrap_err();
        w.queue.set_down(false);
        let retry = submit(&w.ctx(), &b, Some("k")).unwrap();

        assert!(matches!(first, SubmitError::OutcomeUnknown(_)), "{first:?}");
        assert!(retry.replayed);
        assert_eq!(w.job(&retry.job.id).status, Status::Queued);
        assert_eq!(w.queue.indexed_status(&retry.job.id), Some(Status::Queued));
    }

    #[test]
    fn when_the_store_is_down_nothing_is_enqueued() {
        let w = World::new();
        w.kv.set_down(true);
        let err = submit(&w.ctx(), &body(json!({"kind": "echo", "input": {}})), None).unwrap_err();
        assert!(matches!(err, SubmitError::Unavailable(_)));
        assert!(w.queue.published().is_empty());
    }

    #[test]
    fn the_same_key_and_body_replays_the_original_job() {
        let w = World::new();
        let b = body(json!({"kind": "echo", "input": {"a": 1}}));
        let first = submit(&w.ctx(), &b, Some("key-1")).unwrap();
        let again = submit(&w.ctx(), &b, Some("\"key-1\"")).unwrap();
        assert!(again.replayed);
        assert_eq!(again.job.id, first.job.id);
        assert_eq!(w.kv.keys().len(), 1, "the duplicate's record was removed");
    }

    #[test]
    fn a_key_lives_as_long_as_its_job() {
        let mut w = World::new();
        w.settings.job_ttl_seconds = 1;
        let b = body(json!({"kind": "echo", "input": {}, "delay_ms": 5_000}));
        let first = submit(&w.ctx(), &b, Some("later")).unwrap();
        let replays = |w: &World| {
            let again = submit(&w.ctx(), &b, Some("later")).unwrap();
            again.replayed && again.job.id == first.job.id
        };
        // Past the TTL from submit, before the job is due; then long past its due time,
        // not run yet (no worker, or a backlog before it): the same job.
        w.clock.advance(4_000);
        assert!(replays(&w));
        w.clock.advance(60_000);
        assert!(replays(&w));
        // It runs, and is kept the TTL after it finished.
        w.drain(1_000);
        let done = w.job(&first.job.id);
        assert_eq!(done.status, Status::Succeeded);
        let finished = done.finished_at.unwrap().as_ms();
        w.clock.set(finished + 999);
        assert!(replays(&w));
        // Then it is past retention: the key takes a new job, before retention has run
        // (nothing rang: an idle deployment), and keeps it after.
        w.clock.set(finished + 1_000);
        let fresh = submit(&w.ctx(), &b, Some("later")).unwrap();
        assert!(!fresh.replayed);
        assert_ne!(fresh.job.id, first.job.id);
        w.drain(1_000);
        let again = submit(&w.ctx(), &b, Some("later")).unwrap();
        assert!(again.replayed);
        assert_eq!(again.job.id, fresh.job.id);
    }

    #[test]
    fn the_same_key_with_another_body_is_refused() {
        let w = World::new();
        submit(
            &w.ctx(),
            &body(json!({"kind": "echo", "input": {"a": 1}})),
            Some("k"),
        )
        .unwrap();
        let err = submit(
            &w.ctx(),
            &body(json!({"kind": "echo", "input": {"a": 2}})),
            Some("k"),
        )
        .unwrap_err();
        assert_eq!(err, SubmitError::IdempotencyKeyReused);
    }

    #[test]
    fn idempotency_keys_must_be_short_printable_ascii() {
        assert_eq!(IdempotencyKey::parse(" abc ").unwrap().as_str(), "abc");
        assert_eq!(
            IdempotencyKey::parse("\"a\\\"b\"").unwrap().as_str(),
            "a\"b"
        );
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("\"\"").is_err());
        assert!(IdempotencyKey::parse(&"x".repeat(256)).is_err());
        assert!(IdempotencyKey::parse(&"x".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse("caf\u{e9}").is_err());
        assert!(IdempotencyKey::parse("a\tb").is_err());
    }

    #[test]
    fn a_delayed_job_waits_in_the_queue() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}, "delay_ms": 5000}));
        let job = w.job(&id);
        assert_eq!(
            job.not_before.map(|t| t.as_ms()),
            Some(w.clock_now() + 5000)
        );
    }

    impl World {
        fn clock_now(&self) -> u64 {
            use crate::ports::Clock;
            self.clock.now_ms()
        }
    }
}

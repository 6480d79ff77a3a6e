//! Webhook deliveries in the worker: due deliveries are claimed into the free slots of
//! the runs going side by side (`worker_concurrency`), so a slow receiver holds one slot
//! for at most [`SEND_TIMEOUT_MS`] and never delays other jobs. Each delivery reads its
//! job's record, signs the event with the tenant's secrets (Standard Webhooks v1), POSTs
//! it, and records what follows (`webhook::next_step`) under its lease.

use super::outbox::Outbox;
use super::side::SideBySide;
use crate::context::{Context, StoreError};
use crate::queue::{HookClaim, HookDone, SecretChange};
use crate::submission::check_callback_url;
use crate::webhook::{
    self, Next, SEND_TIMEOUT_MS, Secret, Sent, event_body, message_id, parse_retry_after,
    signature_header,
};

/// How often a draining worker looks for due deliveries.
pub const HOOK_POLL_MS: u64 = 100;
/// How long a claimed delivery is held: its timeout and a margin for the writes around it.
/// A worker that dies holding one delays it by this much.
pub const HOOK_LEASE_MS: u64 = SEND_TIMEOUT_MS + 5_000;
/// How often a delivery claimed and not sent (see [`Unsent::NotYet`]) gives its attempt
/// back; after that, such a claim counts as an attempt, so an event that can never be
/// sent still ends on its schedule.
pub const POSTPONE_AT_MOST: u32 = 5;
/// When an event whose record is not final yet is tried again: the cancel that made the
/// job final writes its record right after its script.
const NOT_FINAL_RETRY_MS: u64 = 1_000;
/// Less of the send window than this left when a delivery starts: it is not sent (see
/// [`Unsent::NotYet`]) rather than charged to a receiver given no time to answer.
const MIN_SEND_MS: u64 = 1_000;
/// A drain whose last batch ran this long inline (computing jobs) is *computing*: a
/// delivery it claimed would wait for its next batch, most likely past the send window.
/// It leaves deliveries to drains free to send them, looking for them only every
/// [`COMPUTING_LOOK_MS`], so that a stream of long jobs on one worker delays events
/// rather than holding them for ever.
const COMPUTING_RUN_MS: u64 = SEND_TIMEOUT_MS / 3;
/// How often a computing drain looks for due deliveries all the same.
const COMPUTING_LOOK_MS: u64 = 60_000;

/// When the drain looks for deliveries next, and when the next one is due.
#[derive(Debug, Default)]
pub(super) struct Hooks {
    next_look: u64,
    /// Finishes just sent put events in the outbox that nobody has looked for yet.
    expected: bool,
    /// When the earliest delivery not yet claimed is due, as last seen.
    pub(super) next_due: Option<u64>,
    /// The last batch ran long inline ([`COMPUTING_RUN_MS`]).
    computing: bool,
}

impl Hooks {
    /// Finishes just sent put events in the outbox: look for them at once.
    pub(super) fn expect_events(&mut self) {
        self.expected = true;
    }

    /// Whether events are expected that nobody has looked for yet.
    pub(super) fn look_now(&self) -> bool {
        self.expected
    }

    /// A batch ran its inline jobs for `run_ms` (0: the drain found nothing to run) at
    /// `now`: whether the drain is computing ([`COMPUTING_RUN_MS`]) from now on. True when
    /// it stopped computing just now.
    pub(super) fn batch_ran(&mut self, run_ms: u64, now: u64) -> bool {
        let computing = run_ms >= COMPUTING_RUN_MS;
        if computing && !self.computing {
            self.next_look = self.next_look.max(now.saturating_add(COMPUTING_LOOK_MS));
        }
        let stopped = !computing && self.computing;
        if stopped {
            self.next_look = now;
        }
        self.computing = computing;
        stopped
    }

    /// [`Hooks::start_due`], then one turn of the runs side by side if it started any:
    /// the new deliveries' requests are out before the drain runs anything inline (their
    /// send windows count from the claim), so a computing job does not hold them back.
    pub(super) async fn send_due<'d>(
        &mut self,
        ctx: &'d Context<'_>,
        outbox: &'d Outbox,
        side: &mut SideBySide<'d>,
    ) -> Result<(), StoreError> {
        if self.start_due(ctx, outbox, side) {
            side.turn(ctx, outbox).await?;
        }
        Ok(())
    }

    /// Claim due deliveries into the free slots (at most every [`HOOK_POLL_MS`], or at
    /// once when one is due by now) and start them side by side. True when it started
    /// any.
    fn start_due<'d>(
        &mut self,
        ctx: &'d Context<'_>,
        outbox: &'d Outbox,
        side: &mut SideBySide<'d>,
    ) -> bool {
        let now = ctx.now();
        let due_now =
            !self.computing && (self.expected || self.next_due.is_some_and(|at| at <= now));
        if now < self.next_look && !due_now {
            return false;
        }
        let free = side.free_slots();
        if free == 0 {
            return false;
        }
        self.next_look = now
            + if self.computing {
                COMPUTING_LOOK_MS
            } else {
                HOOK_POLL_MS
            };
        self.expected = false;
        let token = ctx.random.token();
        let claims = match ctx
            .queue
            .claim_hooks(now, now + HOOK_LEASE_MS, &token, free as u32)
        {
            Ok(claims) => claims,
            Err(e) => {
                outbox.warn(format!("claiming webhook deliveries: {e}"));
                return false;
            }
        };
        self.next_due = claims.next_due_ms;
        let started = !claims.due.is_empty();
        for claim in claims.due {
            let token = token.clone();
            side.start_free(Box::pin(async move {
                deliver(ctx, outbox, (claim, now), &token).await;
                Ok(())
            }));
        }
        // More may be due than there were slots: look again soon.
        if side.free_slots() == 0 && !self.computing {
            self.next_look = now;
        }
        started
    }
}

/// One delivery attempt, claimed at `claimed_at`, to its end: failures are recorded on the
/// delivery and logged, never a failure of the drain.
async fn deliver(
    ctx: &Context<'_>,
    outbox: &Outbox,
    (claim, claimed_at): (HookClaim, u64),
    token: &str,
) {
    // Every claim counts an attempt, also one whose worker lost its lease before it could
    // record how the attempt ended (it died, or computed past the lease): past the
    // schedule, the delivery ends without another send.
    let allowed = ctx.settings.webhook_retry_schedule.attempts();
    if claim.attempt > allowed {
        outbox.warn(format!(
            "webhook of job {} ({}): claimed for attempt {} of the schedule's {allowed} \
             (earlier claims ended unrecorded, or the schedule is shorter now); not sent",
            claim.id, claim.tenant, claim.attempt
        ));
        record(ctx, outbox, (&claim, token), HookDone::Failed, None);
        return;
    }
    let tried = match attempt(ctx, &claim, claimed_at).await {
        Ok(sent) => Ok(sent),
        Err(Unsent::NotYet { why, due_ms }) if claim.postponed < POSTPONE_AT_MOST => {
            // Its attempt is given back, and it is due again at `due_ms`.
            outbox.warn(format!(
                "webhook of job {}: {why}; tried again, not counted as an attempt",
                claim.id
            ));
            record(
                ctx,
                outbox,
                (&claim, token),
                HookDone::Postponed(due_ms),
                None,
            );
            return;
        }
        // The store or the queue failed this time, or the event could not be sent too
        // often: the schedule applies, as to a receiver that did not answer.
        Err(Unsent::Later(why) | Unsent::NotYet { why, .. }) => Ok(Sent::Failed(why)),
        Err(Unsent::ForGood(why)) => Err(why),
    };
    let (sent, next) = match tried {
        Ok(sent) => {
            let next = webhook::next_step(
                &ctx.settings.webhook_retry_schedule,
                claim.attempt,
                &sent,
                ctx.now(),
            );
            (sent, next)
        }
        Err(why) => {
            outbox.warn(format!(
                "webhook of job {} ({}): {why}",
                claim.id, claim.tenant
            ));
            (Sent::Failed(why), Next::Failed)
        }
    };
    if let Sent::Failed(why) = &sent {
        outbox.warn(format!(
            "webhook of job {} attempt {}: {why}",
            claim.id, claim.attempt
        ));
    }
    let outcome = match next {
        Next::Delivered => HookDone::Delivered,
        Next::RetryAt(at) => HookDone::RetryAt(at),
        Next::Failed => HookDone::Failed,
    };
    record(ctx, outbox, (&claim, token), outcome, sent.status());
}

/// Record how `claim`'s attempt ended, under its token, and count it.
fn record(
    ctx: &Context<'_>,
    outbox: &Outbox,
    (claim, token): (&HookClaim, &str),
    outcome: HookDone,
    last_status: Option<u16>,
) {
    match ctx
        .queue
        .hook_done(claim, token, outcome, last_status, ctx.now())
    {
        Ok(_) => outbox.note(|r| match outcome {
            HookDone::Delivered => r.webhooks_delivered += 1,
            HookDone::RetryAt(_) | HookDone::Postponed(_) => r.webhooks_retried += 1,
            HookDone::Failed => r.webhooks_failed += 1,
        }),
        Err(e) => outbox.warn(format!("recording the webhook of job {}: {e}", claim.id)),
    }
}

/// Why an event was not sent.
enum Unsent {
    /// Its job or target is gone or refused: the delivery fails for good.
    ForGood(String),
    /// The store or the queue failed: it is tried again on the schedule.
    Later(String),
    /// It could not be sent yet, through no fault of the receiver: it is tried again at
    /// `due_ms` without counting an attempt ([`POSTPONE_AT_MOST`] times).
    NotYet { why: String, due_ms: u64 },
}

/// Sign and send the event of `claim`'s job: what came back, or why nothing was sent.
/// The send ends [`SEND_TIMEOUT_MS`] after the claim, not after its start: a delivery
/// starts when the drain next turns its runs over, which a computing job can put off, and
/// its answer must come while its lease ([`HOOK_LEASE_MS`]) holds, or another worker sends
/// the event again.
async fn attempt(ctx: &Context<'_>, claim: &HookClaim, claimed_at: u64) -> Result<Sent, Unsent> {
    let job = match ctx.load_job_of(&claim.tenant, &claim.id) {
        Ok(Some(job)) => job,
        Ok(None) => return Err(Unsent::ForGood("its record is gone".into())),
        Err(e @ StoreError::Corrupt { .. }) => {
            return Err(Unsent::ForGood(format!("its record: {e}")));
        }
        Err(e) => return Err(Unsent::Later(format!("its record: {e}"))),
    };
    let Some(url) = job.callback_url.clone() else {
        return Err(Unsent::ForGood("the job has no callback URL".into()));
    };
    let Some(body) = event_body(&job) else {
        // The queue made the job final before its record says so: a cancel writes the
        // record after its script. Nothing to send yet.
        return Err(Unsent::NotYet {
            why: "the job's record is not final yet".into(),
            due_ms: ctx.now().saturating_add(NOT_FINAL_RETRY_MS),
        });
    };
    // What is called is the URL as checked, not the text kept (from before that text was
    // the parsed one).
    let url = check_callback_url(&url, ctx.settings.webhook_allow_insecure)
        .map_err(|why| Unsent::ForGood(format!("callback_url {why}")))?;
    let secrets = secrets(ctx, claim)?;
    let Some(http) = ctx.http else {
        return Ok(Sent::Failed("this host has no outbound HTTP".into()));
    };
    let msg_id = message_id(&job);
    let timestamp = ctx.now() / 1_000;
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("user-agent".to_owned(), "async-jobs-webhooks/1".to_owned()),
        ("content-length".to_owned(), body.len().to_string()),
        ("webhook-id".to_owned(), msg_id.clone()),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
        (
            "webhook-signature".to_owned(),
            signature_header(&secrets, &msg_id, timestamp, &body),
        ),
    ];
    let left_ms = claimed_at
        .saturating_add(SEND_TIMEOUT_MS)
        .saturating_sub(ctx.now());
    if left_ms < MIN_SEND_MS {
        // Due again at once: a drain free to send it takes it (a computing one leaves it).
        let busy_ms = ctx.now().saturating_sub(claimed_at);
        return Err(Unsent::NotYet {
            why: format!("not sent: the worker was busy for {busy_ms} ms after claiming it"),
            due_ms: ctx.now(),
        });
    }
    let send = http.post(&url, &headers, &body);
    let timeout = ctx.clock.wait_ms(left_ms);
    Ok(match futures::future::select(send, timeout).await {
        futures::future::Either::Left((Ok(answer), _)) => Sent::Answered {
            status: answer.status,
            retry_after_s: answer.retry_after.as_deref().and_then(parse_retry_after),
        },
        futures::future::Either::Left((Err(e), _)) => Sent::Failed(e.to_string()),
        futures::future::Either::Right(_) => Sent::TimedOut,
    })
}

/// The tenant's signing secrets; a tenant without one gets one now.
fn secrets(ctx: &Context<'_>, claim: &HookClaim) -> Result<Vec<Secret>, Unsent> {
    let stored = if claim.secrets.is_empty() {
        let new =
            Secret::generate().map_err(|e| Unsent::Later(format!("a signing secret: {e}")))?;
        let (current, previous) = ctx
            .queue
            .hook_secrets(&claim.tenant, SecretChange::Init, new.reveal())
            .map_err(|e| Unsent::Later(format!("the tenant's signing secret: {e}")))?
            .into_parts();
        std::iter::once(current).chain(previous).collect()
    } else {
        claim.secrets.clone()
    };
    let secrets: Vec<Secret> = stored.iter().filter_map(|s| Secret::parse(s)).collect();
    if secrets.is_empty() {
        return Err(Unsent::ForGood(
            "the tenant's signing secret is unreadable".into(),
        ));
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use serde_json::json;

    use crate::job::JobId;
    use crate::ports::{Clock, HttpAnswer, HttpPost, KeyValue, PortError, Sending};
    use crate::queue::{Queue, SecretChange};
    use crate::service::testing::World;
    use crate::webhook::{Schedule, Secret};

    /// One request as sent: URL, headers, body.
    type Sent = (String, Vec<(String, String)>, Vec<u8>);

    /// Outbound HTTP that answers from a script (`None`: never answers) and keeps what
    /// was sent.
    #[derive(Default)]
    struct Scripted {
        answers: RefCell<VecDeque<Option<u16>>>,
        sent: RefCell<Vec<Sent>>,
    }

    impl HttpPost for Scripted {
        fn post<'a>(
            &'a self,
            url: &'a str,
            headers: &'a [(String, String)],
            body: &'a [u8],
        ) -> Sending<'a> {
            self.sent
                .borrow_mut()
                .push((url.to_owned(), headers.to_vec(), body.to_vec()));
            match self.answers.borrow_mut().pop_front().flatten() {
                Some(status) => Box::pin(async move {
                    Ok::<_, PortError>(HttpAnswer {
                        status,
                        retry_after: None,
                    })
                }),
                None => Box::pin(futures::future::pending()),
            }
        }
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    fn with_callback(w: &World) -> JobId {
        w.submit(json!({
            "kind": "echo",
            "input": {},
            "callback_url": "https://hooks.example.com/done"
        }))
    }

    /// A job with a callback, run and its event delivered (answered 204) in one drain.
    fn delivered(w: &World, http: &Scripted) -> (JobId, crate::worker::DrainReport) {
        http.answers.borrow_mut().push_back(Some(204));
        let id = with_callback(w);
        let ctx = crate::context::Context {
            http: Some(http),
            ..w.ctx()
        };
        (id, w.clock.block_on(super::super::drain(&ctx, 2_000)))
    }

    #[test]
    fn a_finished_job_is_delivered_signed_in_the_drain_that_ran_it() {
        let w = World::new();
        let http = Scripted::default();

        let (id, report) = delivered(&w, &http);

        assert_eq!(
            (report.succeeded, report.webhooks_delivered),
            (1, 1),
            "{report:?}"
        );
        let sent = http.sent.borrow();
        let (url, headers, body) = &sent[0];
        assert_eq!(url, "https://hooks.example.com/done");
        assert_eq!(header(headers, "webhook-id"), format!("msg_{id}"));
        let (secret, _) = w
            .queue
            .hook_secrets(
                &crate::job::Tenant::default_tenant(),
                SecretChange::Init,
                "",
            )
            .unwrap()
            .into_parts();
        let timestamp: u64 = header(headers, "webhook-timestamp").parse().unwrap();
        let expected = Secret::parse(&secret)
            .unwrap()
            .sign(&format!("msg_{id}"), timestamp, body);
        assert_eq!(header(headers, "webhook-signature"), expected);
        let event: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(event["type"], "job.succeeded");
        let state = w
            .queue
            .hook(&crate::job::Tenant::default_tenant(), &id)
            .unwrap();
        assert_eq!(state.unwrap().state, "delivered");
    }

    #[test]
    fn a_callback_url_kept_as_written_is_called_as_it_was_checked() {
        let w = World::new();
        let http = Scripted::default();
        http.answers.borrow_mut().push_back(Some(204));
        let id = with_callback(&w);
        // A record from before submissions kept the parsed URL: one slash, which a client
        // parsing it alone would send to the host `https`.
        let key = crate::keys::job(&crate::job::Tenant::default_tenant(), &id);
        let mut record: serde_json::Value =
            serde_json::from_slice(&w.kv.get(&key).unwrap().unwrap()).unwrap();
        record["callback_url"] = json!("https:/hooks.example.com/done");
        w.kv.set(&key, &serde_json::to_vec(&record).unwrap())
            .unwrap();
        let ctx = crate::context::Context {
            http: Some(&http),
            ..w.ctx()
        };

        let report = w.clock.block_on(super::super::drain(&ctx, 2_000));

        assert_eq!(report.webhooks_delivered, 1, "{report:?}");
        assert_eq!(http.sent.borrow()[0].0, "https://hooks.example.com/done");
    }

    #[test]
    fn a_redelivery_answers_from_its_own_round_trip() {
        let w = World::new();
        let (id, _) = delivered(&w, &Scripted::default());
        let (calls, reads) = (w.queue.calls(), w.kv.reads());

        let resource = crate::service::redeliver(&w.ctx(), id.as_str()).unwrap();

        let webhook = resource.webhook.expect("its delivery state");
        assert_eq!((webhook.state.as_str(), webhook.attempts), ("pending", 0));
        assert_eq!(resource.status, crate::job::Status::Succeeded);
        // The record read before, the script that queued the delivery and the doorbell:
        // nothing read after the change, which could fail and say nothing changed.
        assert_eq!((w.queue.calls() - calls, w.kv.reads() - reads), (2, 1));
    }

    #[test]
    fn an_event_whose_record_is_not_final_yet_is_tried_again_not_failed() {
        let mut w = World::new();
        // One attempt only: a try that sends nothing must not spend it.
        w.settings.webhook_retry_schedule = Schedule::parse("0").unwrap();
        let http = Scripted::default();
        http.answers.borrow_mut().push_back(Some(204));
        let id = with_callback(&w);
        let tenant = crate::job::Tenant::default_tenant();
        // A cancel's script has run (the event is due), its record write not yet.
        let now = w.clock.now_ms();
        let outcome = w.queue.cancel(&tenant, &id, now, true).unwrap();
        assert_eq!(outcome, crate::queue::CancelOutcome::Cancelled);
        let ctx = crate::context::Context {
            http: Some(&http),
            ..w.ctx()
        };

        let report = w.clock.block_on(super::super::drain(&ctx, 500));
        assert_eq!(
            (report.webhooks_retried, report.webhooks_failed),
            (1, 0),
            "{report:?}"
        );
        assert!(http.sent.borrow().is_empty());
        let state = w.queue.hook(&tenant, &id).unwrap().unwrap();
        assert_eq!((state.state.as_str(), state.attempts), ("pending", 0));
        assert_eq!(state.next_attempt_ms, Some(now + super::NOT_FINAL_RETRY_MS));

        // The record follows; the next try sends the event.
        let mut job = w.job(&id);
        job.cancel(crate::job::Timestamp::from_ms(now)).unwrap();
        w.ctx().save_job(&job).unwrap();
        w.clock.advance(1_000);
        let report = w.clock.block_on(super::super::drain(&ctx, 500));
        assert_eq!(report.webhooks_delivered, 1, "{report:?}");
        let event: serde_json::Value = serde_json::from_slice(&http.sent.borrow()[0].2).unwrap();
        assert_eq!(event["type"], "job.cancelled");
        let state = w.queue.hook(&tenant, &id).unwrap().unwrap();
        assert_eq!((state.state.as_str(), state.attempts), ("delivered", 1));
    }

    #[test]
    fn an_event_that_is_never_final_gives_its_attempt_back_a_few_times_then_fails() {
        let mut w = World::new();
        w.settings.webhook_retry_schedule = Schedule::parse("0").unwrap();
        let http = Scripted::default();
        let id = with_callback(&w);
        let tenant = crate::job::Tenant::default_tenant();
        // The cancel's script ran and its record write never came.
        let now = w.clock.now_ms();
        w.queue.cancel(&tenant, &id, now, true).unwrap();
        let ctx = crate::context::Context {
            http: Some(&http),
            ..w.ctx()
        };

        for _ in 0..super::POSTPONE_AT_MOST {
            let report = w.clock.block_on(super::super::drain(&ctx, 500));
            assert_eq!(report.webhooks_retried, 1, "{report:?}");
            let state = w.queue.hook(&tenant, &id).unwrap().unwrap();
            assert_eq!((state.state.as_str(), state.attempts), ("pending", 0));
            w.clock.advance(super::NOT_FINAL_RETRY_MS);
        }
        let report = w.clock.block_on(super::super::drain(&ctx, 500));
        assert_eq!(report.webhooks_failed, 1, "{report:?}");
        let state = w.queue.hook(&tenant, &id).unwrap().unwrap();
        assert_eq!((state.state.as_str(), state.attempts), ("failed", 1));
        assert!(http.sent.borrow().is_empty());
    }

    #[test]
    fn attempts_whose_workers_lost_their_leases_count_and_end_the_delivery_unsent() {
        let mut w = World::new();
        w.settings.webhook_retry_schedule = Schedule::parse("0,1s").unwrap();
        let http = Scripted::default();
        let (id, _) = one_due_event(&w);
        let tenant = crate::job::Tenant::default_tenant();
        // Two workers claimed it in turn and never said how their attempts ended.
        for _ in 0..2 {
            let now = w.clock.now_ms();
            let claims = w
                .queue
                .claim_hooks(now, now + super::HOOK_LEASE_MS, "gone", 8)
                .unwrap();
            assert_eq!(claims.due.len(), 1);
            w.clock.advance(super::HOOK_LEASE_MS);
        }
        let ctx = crate::context::Context {
            http: Some(&http),
            ..w.ctx()
        };

        let report = w.clock.block_on(super::super::drain(&ctx, 500));

        assert_eq!(report.webhooks_failed, 1, "{report:?}");
        let state = w.queue.hook(&tenant, &id).unwrap().unwrap();
        assert_eq!((state.state.as_str(), state.attempts), ("failed", 3));
        assert!(http.sent.borrow().is_empty(), "sent past its schedule");
    }

    #[test]
    fn a_record_the_store_cannot_read_for_now_is_tried_again_not_failed() {
        let mut w = World::new();
        w.settings.webhook_retry_schedule = Schedule::parse("0,1s").unwrap();
        let http = Scripted::default();
        http.answers.borrow_mut().push_back(Some(204));
        let id = with_callback(&w);
        crate::service::cancel(&w.ctx(), id.as_str()).unwrap();
        let ctx = crate::context::Context {
            http: Some(&http),
            ..w.ctx()
        };
        let tenant = crate::job::Tenant::default_tenant();

        w.kv.set_down(true);
        let report = w.clock.block_on(super::super::drain(&ctx, 500));
        assert_eq!(
            (report.webhooks_retried, report.webhooks_failed),
            (1, 0),
            "{report:?}"
        );
        assert_eq!(
            w.queue.hook(&tenant, &id).unwrap().unwrap().state,
            "pending"
        );

        w.kv.set_down(false);
        w.clock.advance(1_000);
        let report = w.clock.block_on(super::super::drain(&ctx, 500));
        assert_eq!(report.webhooks_delivered, 1, "{report:?}");
        assert_eq!(
            w.queue.hook(&tenant, &id).unwrap().unwrap().state,
            "delivered"
        );
    }

    #[test]
    fn a_delivery_started_late_ends_within_its_lease_and_one_started_too_late_is_not_sent() {
        let w = World::new();
        let http = Scripted::default();
        http.answers.borrow_mut().extend([None, None]);
        let id = with_callback(&w);
        crate::service::cancel(&w.ctx(), id.as_str()).unwrap();
        let tenant = crate::job::Tenant::default_tenant();
        let ctx = crate::context::Context {
            http: Some(&http),
            ..w.ctx()
        };
        let outbox = super::Outbox::default();
        let claim = |token: &str| {
            let now = w.clock.now_ms();
            let claims = w
                .queue
                .claim_hooks(now, now + super::HOOK_LEASE_MS, token, 1)
                .unwrap();
            assert_eq!(claims.due.len(), 1, "{claims:?}");
            (claims.due.into_iter().next().unwrap(), now)
        };

        // Claimed, then the drain was busy for 10 s (a computing job) before the delivery
        // started: the receiver, which never answers, gets what is left of the 15 s.
        let (first, claimed_at) = claim("t1");
        w.clock.advance(10_000);
        w.clock
            .block_on(super::deliver(&ctx, &outbox, (first, claimed_at), "t1"));
        assert_eq!(w.clock.now_ms(), claimed_at + super::SEND_TIMEOUT_MS);
        assert!(w.clock.now_ms() < claimed_at + super::HOOK_LEASE_MS);
        assert_eq!(http.sent.borrow().len(), 1);
        let state = w.queue.hook(&tenant, &id).unwrap().unwrap();
        assert_eq!((state.state.as_str(), state.attempts), ("pending", 1));

        // Claimed again, and busy until less than a second of the send window is left: not
        // sent at all (another worker may take the delivery as soon as the lease ends, and
        // the receiver would get no time to answer). The attempt is given back, and the
        // delivery is due at once for a worker free to send it.
        w.clock
            .advance(state.next_attempt_ms.unwrap() - w.clock.now_ms());
        let (second, claimed_at) = claim("t2");
        assert_eq!(second.attempt, 2);
        w.clock
            .advance(super::SEND_TIMEOUT_MS - super::MIN_SEND_MS + 1);
        w.clock
            .block_on(super::deliver(&ctx, &outbox, (second, claimed_at), "t2"));
        assert_eq!(http.sent.borrow().len(), 1);
        let state = w.queue.hook(&tenant, &id).unwrap().unwrap();
        assert_eq!((state.state.as_str(), state.attempts), ("pending", 1));
        assert_eq!(state.next_attempt_ms, Some(w.clock.now_ms()));
        let (third, _) = claim("t3");
        assert_eq!((third.attempt, third.postponed), (2, 1));
        let report = outbox.into_report();
        assert_eq!(report.webhooks_retried, 2, "{report:?}");
    }

    /// A due event (of a cancelled job), and a drain's `Hooks` that expects it.
    fn one_due_event(w: &World) -> (JobId, super::Hooks) {
        let id = with_callback(w);
        crate::service::cancel(&w.ctx(), id.as_str()).unwrap();
        let mut hooks = super::Hooks::default();
        hooks.expect_events();
        (id, hooks)
    }

    /// How many attempts the delivery of `id`'s event has had.
    fn attempts(w: &World, id: &JobId) -> u32 {
        let tenant = crate::job::Tenant::default_tenant();
        w.queue.hook(&tenant, id).unwrap().unwrap().attempts
    }

    #[test]
    fn a_drain_computing_long_batches_leaves_deliveries_to_others_but_not_for_ever() {
        let w = World::new();
        let (id, mut hooks) = one_due_event(&w);
        let (ctx, outbox) = (w.ctx(), super::Outbox::default());
        let mut side = super::SideBySide::new(8, u64::MAX);

        // Its last batch computed for 5 s: the due event is not claimed.
        hooks.batch_ran(super::COMPUTING_RUN_MS, w.clock.now_ms());
        hooks.start_due(&ctx, &outbox, &mut side);
        assert_eq!(attempts(&w, &id), 0);
        w.clock.advance(super::COMPUTING_LOOK_MS - 1);
        hooks.start_due(&ctx, &outbox, &mut side);
        assert_eq!(attempts(&w, &id), 0);
        // Still computing a minute later: it looks once all the same.
        w.clock.advance(1);
        hooks.start_due(&ctx, &outbox, &mut side);
        assert_eq!(attempts(&w, &id), 1);
    }

    #[test]
    fn a_drain_done_computing_claims_due_deliveries_at_once() {
        let w = World::new();
        let (id, mut hooks) = one_due_event(&w);
        let (ctx, outbox) = (w.ctx(), super::Outbox::default());
        let mut side = super::SideBySide::new(8, u64::MAX);
        hooks.batch_ran(super::COMPUTING_RUN_MS, w.clock.now_ms());
        hooks.start_due(&ctx, &outbox, &mut side);
        assert_eq!(attempts(&w, &id), 0);

        // A short batch (or none): it claims what is due at once.
        w.clock.advance(10);
        hooks.batch_ran(super::COMPUTING_RUN_MS - 1, w.clock.now_ms());
        hooks.start_due(&ctx, &outbox, &mut side);
        assert_eq!(attempts(&w, &id), 1);
    }

    #[test]
    fn a_delivery_claimed_before_a_long_inline_job_is_sent_before_it_runs() {
        // A fresh drain (no batch behind it yet) claims a due delivery, then a job that
        // computes inline for longer than the send window.
        let w = super::super::testing::with_stall(super::SEND_TIMEOUT_MS + 1_000, false);
        let http = Scripted::default();
        http.answers.borrow_mut().push_back(Some(204));
        let (id, _) = one_due_event(&w);
        let stall = w.submit(json!({"kind": "stall", "input": {}}));
        let ctx = crate::context::Context {
            http: Some(&http),
            ..w.ctx()
        };

        let report = w.clock.block_on(super::super::drain(&ctx, 500));

        // The request went out before the job held the instance.
        assert_eq!(
            (report.webhooks_delivered, report.succeeded),
            (1, 1),
            "{report:?}"
        );
        let tenant = crate::job::Tenant::default_tenant();
        let state = w.queue.hook(&tenant, &id).unwrap().unwrap();
        assert_eq!((state.state.as_str(), state.attempts), ("delivered", 1));
        assert_eq!(w.job(&stall).status, crate::job::Status::Succeeded);
    }

    #[test]
    fn a_receiver_that_never_answers_times_out_and_other_jobs_go_on() {
        let mut w = World::new();
        w.settings.webhook_retry_schedule = Schedule::parse("0,1s").unwrap();
        let http = Scripted::default();
        http.answers.borrow_mut().extend([None, Some(200)]);
        let hooked = with_callback(&w);
        let start = w.clock.now_ms();
        let ctx = crate::context::Context {
            http: Some(&http),
            ..w.ctx()
        };
        // Another job arrives while the first delivery hangs.
        let report = w.clock.block_on(async {
            let drain = super::super::drain(&ctx, 60_000);
            let later = async {
                w.clock.wait_ms(1_000).await;
                w.submit(json!({"kind": "echo", "input": {}}))
            };
            futures::future::join(drain, later).await
        });
        let (report, other) = report;

        assert_eq!(
            (report.webhooks_retried, report.webhooks_delivered),
            (1, 1),
            "{report:?}"
        );
        assert_eq!(report.succeeded, 2, "{report:?}");
        let other = w.job(&other);
        assert!(
            other.finished_at.unwrap().as_ms() < start + super::SEND_TIMEOUT_MS,
            "the other job did not wait for the hanging delivery"
        );
        let state = w
            .queue
            .hook(&crate::job::Tenant::default_tenant(), &hooked)
            .unwrap()
            .unwrap();
        assert_eq!((state.state.as_str(), state.attempts), ("delivered", 2));
        assert!(w.clock.now_ms() >= start + super::SEND_TIMEOUT_MS + 1_000);
    }
}

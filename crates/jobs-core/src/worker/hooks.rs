//! Webhook deliveries in the worker: due deliveries are claimed into the free slots of
//! the runs going side by side (`worker_concurrency`), so a slow receiver holds one slot
//! for at most [`SEND_TIMEOUT_MS`] and never delays other jobs. Each delivery reads its
//! job's record, signs the event with the tenant's secrets (Standard Webhooks v1), POSTs
//! it, and records what follows (`webhook::next_step`) under its lease.

use super::outbox::Outbox;
use super::side::SideBySide;
use crate::context::Context;
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

/// When the drain looks for deliveries next, and when the next one is due.
#[derive(Debug, Default)]
pub(super) struct Hooks {
    next_look: u64,
    /// When the earliest delivery not yet claimed is due, as last seen.
    pub(super) next_due: Option<u64>,
}

impl Hooks {
    /// Finishes just sent put events in the outbox: look for them at once.
    pub(super) fn expect_events(&mut self) {
        self.next_look = 0;
    }

    /// Whether events are expected that nobody has looked for yet.
    pub(super) fn look_now(&self) -> bool {
        self.next_look == 0
    }

    /// Claim due deliveries into the free slots (at most every [`HOOK_POLL_MS`], or at
    /// once when one is due by now) and start them side by side.
    pub(super) fn start_due<'d>(
        &mut self,
        ctx: &'d Context<'_>,
        outbox: &'d Outbox,
        side: &mut SideBySide<'d>,
    ) {
        let now = ctx.now();
        let due_now = self.next_due.is_some_and(|at| at <= now);
        if now < self.next_look && !due_now {
            return;
        }
        let free = side.free_slots();
        if free == 0 {
            return;
        }
        self.next_look = now.max(1) + HOOK_POLL_MS;
        let token = ctx.random.token();
        let claims = match ctx
            .queue
            .claim_hooks(now, now + HOOK_LEASE_MS, &token, free as u32)
        {
            Ok(claims) => claims,
            Err(e) => {
                outbox.warn(format!("claiming webhook deliveries: {e}"));
                return;
            }
        };
        self.next_due = claims.next_due_ms;
        for claim in claims.due {
            let token = token.clone();
            side.start_free(Box::pin(async move {
                deliver(ctx, outbox, claim, &token).await;
                Ok(())
            }));
        }
        // More may be due than there were slots: look again soon.
        if side.free_slots() == 0 {
            self.next_look = now.max(1);
        }
    }
}

/// One delivery attempt, to its end: failures are recorded on the delivery and logged,
/// never a failure of the drain.
async fn deliver(ctx: &Context<'_>, outbox: &Outbox, claim: HookClaim, token: &str) {
    let (sent, next) = match attempt(ctx, &claim).await {
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
    match ctx
        .queue
        .hook_done(&claim, token, outcome, sent.status(), ctx.now())
    {
        Ok(_) => outbox.note(|r| match outcome {
            HookDone::Delivered => r.webhooks_delivered += 1,
            HookDone::RetryAt(_) => r.webhooks_retried += 1,
            HookDone::Failed => r.webhooks_failed += 1,
        }),
        Err(e) => outbox.warn(format!("recording the webhook of job {}: {e}", claim.id)),
    }
}

/// Sign and send the event of `claim`'s job: what came back, or why nothing could be
/// sent at all (the delivery then fails for good: its job or target is gone or refused).
async fn attempt(ctx: &Context<'_>, claim: &HookClaim) -> Result<Sent, String> {
    let job = ctx
        .load_job_of(&claim.tenant, &claim.id)
        .map_err(|e| format!("its record: {e}"))?
        .ok_or("its record is gone")?;
    let (Some(url), Some(body)) = (job.callback_url.clone(), event_body(&job)) else {
        return Err("the job has no callback URL or has not finished".into());
    };
    check_callback_url(&url, ctx.settings.webhook_allow_insecure)
        .map_err(|why| format!("callback_url {why}"))?;
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
    let send = http.post(&url, &headers, &body);
    let timeout = ctx.clock.wait_ms(SEND_TIMEOUT_MS);
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
fn secrets(ctx: &Context<'_>, claim: &HookClaim) -> Result<Vec<Secret>, String> {
    let stored = if claim.secrets.is_empty() {
        let new = Secret::generate().map_err(|e| format!("a signing secret: {e}"))?;
        let (current, previous) = ctx
            .queue
            .hook_secrets(&claim.tenant, SecretChange::Init, new.reveal())
            .map_err(|e| format!("the tenant's signing secret: {e}"))?;
        std::iter::once(current).chain(previous).collect()
    } else {
        claim.secrets.clone()
    };
    let secrets: Vec<Secret> = stored.iter().filter_map(|s| Secret::parse(s)).collect();
    if secrets.is_empty() {
        return Err("the tenant's signing secret is unreadable".into());
    }
    Ok(secrets)
}

//! The job resource: read one (`GET /jobs/{id}`), its result, cancel it, list them.
//! Records are read from key-value; the queue is asked only for what it alone knows
//! (cancel state, list order) and rung again when a polled job looks forgotten.

use super::error::{CancelError, GetError, ListError, StoreError, WebhookError};
use super::{Context, STALE_QUEUED_MS};
use crate::codec;
use crate::job::{Job, JobId, Status, Timestamp};
use crate::keys;
use crate::kind::Output;
use crate::queue::{CancelOutcome, ListFilter, Redeliver};
use crate::resource::JobResource;

mod query;

pub use query::{DEFAULT_LIMIT, LIMIT_RANGE, ListQuery, encode_cursor};

fn load(ctx: &Context<'_>, id: &JobId) -> Result<Job, GetError> {
    ctx.load_job(id)?.ok_or(GetError::NotFound)
}

/// `GET /jobs/{id}`. A job that waits longer than it should (queued past its due time, or
/// running past a lease) rings the doorbell again, in case a doorbell was lost.
pub fn get(ctx: &Context<'_>, id: &str) -> Result<JobResource, GetError> {
    let id = JobId::parse(id)?;
    let job = load(ctx, &id)?;
    let now = ctx.now();
    let stale = match job.status {
        Status::Queued => {
            let due = job.not_before.unwrap_or(job.created_at).max(job.created_at);
            now > due.as_ms().saturating_add(STALE_QUEUED_MS)
        }
        Status::Running => job
            .started_at
            .is_some_and(|t| now > t.as_ms().saturating_add(ctx.settings.lease_ms)),
        _ => false,
    };
    if stale {
        ctx.ring_again("poll");
    }
    let mut resource = JobResource::from_job(&job);
    if job.callback_url.is_some() && job.status.is_terminal() {
        resource.webhook = ctx.queue.hook(&ctx.tenant, &id).map_err(StoreError::from)?;
        // A delivery long overdue may have lost its doorbell (a worker died holding it):
        // a poll rings again, as for a job.
        let overdue = resource
            .webhook
            .as_ref()
            .and_then(|w| w.next_attempt_ms)
            .is_some_and(|at| now > at.saturating_add(STALE_QUEUED_MS));
        if overdue {
            ctx.ring_again("webhook");
        }
    }
    Ok(resource)
}

/// `POST /jobs/{id}/webhook`: deliver a finished job's event again, from the first
/// attempt (nothing changes while a delivery is on its way). The job as `get` shows it.
pub fn redeliver(ctx: &Context<'_>, id: &str) -> Result<JobResource, WebhookError> {
    let job_id = JobId::parse(id)?;
    let job = load(ctx, &job_id)?;
    if job.callback_url.is_none() {
        return Err(WebhookError::NoCallback);
    }
    if !job.status.is_terminal() {
        return Err(WebhookError::NotFinished(job.status));
    }
    let state = match ctx
        .queue
        .redeliver_hook(&ctx.tenant, &job_id, ctx.now())
        .map_err(StoreError::from)?
    {
        Redeliver::Queued(state) => {
            ctx.ring_again("webhook");
            state
        }
        Redeliver::Pending(state) => state,
        Redeliver::NoEvent => return Err(WebhookError::NoEvent),
    };
    // The answer comes from what was read before and the script's reply: no read after
    // the change that could fail and say nothing changed.
    let mut resource = JobResource::from_job(&job);
    resource.webhook = Some(state);
    Ok(resource)
}

/// `GET /jobs/{id}/result`: the output of a succeeded job.
pub fn result(ctx: &Context<'_>, id: &str) -> Result<Output, GetError> {
    let id = JobId::parse(id)?;
    let (job, inline) = ctx.load_job_and_result(&id)?.ok_or(GetError::NotFound)?;
    if job.status != Status::Succeeded {
        return Err(GetError::NotReady(job.status));
    }
    if let Some(output) = inline {
        return Ok(output);
    }
    let key = keys::result(&ctx.tenant, &id);
    // The worker writes the result before the final record, so a succeeded job without a
    // result is damage, not a race; unless retention removed the job meanwhile (the
    // record first, then the result).
    let Some(bytes) = ctx.kv.get(&key).map_err(StoreError::from)? else {
        if ctx.load_job(&id)?.is_none() {
            return Err(GetError::NotFound);
        }
        return Err(StoreError::Corrupt {
            key,
            reason: "succeeded job has no result".into(),
        }
        .into());
    };
    codec::decode_result(&bytes).map_err(|e| {
        GetError::Store(StoreError::Corrupt {
            key,
            reason: e.to_string(),
        })
    })
}

/// What `DELETE /jobs/{id}` did.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelResult {
    /// The job was queued (or cancelled before) and is cancelled now: `200`.
    Cancelled(JobResource),
    /// The job is running; the worker stops at its next heartbeat: `202`.
    Requested(JobResource),
    /// The job is running and its cancel was asked before: `202`, nothing changed.
    RequestedBefore(JobResource),
}

/// `DELETE /jobs/{id}`.
pub fn cancel(ctx: &Context<'_>, id: &str) -> Result<CancelResult, CancelError> {
    let id = JobId::parse(id)?;
    let mut job = ctx.load_job(&id)?.ok_or(CancelError::NotFound)?;
    match job.status {
        // Again: 200, so a client may retry after a lost answer.
        Status::Cancelled => return Ok(CancelResult::Cancelled(JobResource::from_job(&job))),
        s if s.is_terminal() => return Err(CancelError::Finished(s)),
        _ => {}
    }
    let now = ctx.now();
    match ctx
        .queue
        .cancel(&ctx.tenant, &id, now, job.callback_url.is_some())
        .map_err(StoreError::from)?
    {
        CancelOutcome::Requested => Ok(CancelResult::Requested(JobResource::from_job(&job))),
        CancelOutcome::RequestedBefore => {
            Ok(CancelResult::RequestedBefore(JobResource::from_job(&job)))
        }
        CancelOutcome::Finished(status) => Err(CancelError::Finished(status)),
        // Queued, cancelled before (a retry after a failed record write, or a cancel at
        // the same moment: the record says when the first one was), or unknown to the
        // queue (it will never run): the record says cancelled from now on.
        outcome @ (CancelOutcome::Cancelled
        | CancelOutcome::AlreadyCancelled { .. }
        | CancelOutcome::Unknown) => {
            let at = match outcome {
                CancelOutcome::AlreadyCancelled { at_ms: Some(at) } => at,
                _ => now,
            };
            job.cancel(Timestamp::from_ms(at))
                .map_err(|e| StoreError::Corrupt {
                    key: keys::job(&ctx.tenant, &id),
                    reason: e.to_string(),
                })?;
            // The queue has cancelled it already: a failure here is not "nothing changed".
            ctx.save_job(&job).map_err(CancelError::Unrecorded)?;
            if job.callback_url.is_some() {
                // Its event is in the outbox: wake a worker to deliver it.
                ctx.ring_again("webhook");
            }
            Ok(CancelResult::Cancelled(JobResource::from_job(&job)))
        }
    }
}

/// Most records one list request reads, so records that lag their index cannot make a
/// request read every record; the page then ends early with a cursor.
pub const MAX_SCAN: usize = 500;

/// A page of jobs, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<JobResource>,
    /// The cursor for the next page; `None` when this is the last.
    pub next_cursor: Option<String>,
    /// Records that could not be decoded and were left out (for the log).
    pub skipped: Vec<JobId>,
}

/// `GET /jobs`: an index in Redis (the kind's, the status's, or all jobs) gives the
/// order and the ids, so only the records of the page are read, in one batch read
/// (`crate::batch_reads`: one `MGET` when the store is the queue's Redis, else one read
/// each, since Spin's batch read cannot be used: docs/devhost.md). Each record is
/// checked against the filter again, so the page agrees with it even while an index
/// lags a record. The time and
/// prefix filters narrow the index's scan itself (`ListQuery::ids`).
pub fn list(ctx: &Context<'_>, q: &ListQuery) -> Result<Page, ListError> {
    let limit = q.limit as usize;
    let filter = ListFilter {
        status: q.status,
        kind: q.kind.clone(),
        ids: q.ids(),
    };
    let mut page = Page {
        items: Vec::new(),
        next_cursor: None,
        skipped: Vec::new(),
    };
    let mut after = q.after;
    let mut read = 0;
    let mut rang = false;
    loop {
        // One id more than the page needs tells whether another page follows.
        let want = (limit - page.items.len()) as u32 + 1;
        let listed = ctx
            .queue
            .list(&ctx.tenant, &filter, after.as_ref(), want)
            .map_err(StoreError::from)?;
        let exhausted = listed.ids.len() < want as usize && listed.scanned_to.is_none();
        // The records in batch reads: of as many ids as the page still has room for
        // (each is read, and adds at most one item), then of the next ones while
        // records the filter leaves out keep room.
        let mut rest = listed.ids.as_slice();
        while !rest.is_empty() {
            if page.items.len() == limit {
                page.next_cursor = after.as_ref().map(encode_cursor);
                return Ok(page);
            }
            let (batch, tail) = rest.split_at((limit - page.items.len()).min(rest.len()));
            rest = tail;
            let records = ctx.load_jobs(&ctx.tenant, batch)?;
            for (id, record) in batch.iter().zip(records) {
                after = Some(*id);
                read += 1;
                let job = match record {
                    Ok(Some(job)) => job,
                    Ok(None) => continue, // expired between index and record
                    Err(StoreError::Corrupt { .. }) => {
                        page.skipped.push(*id);
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                let status_differs = q.status.is_some_and(|s| s != job.status);
                let kind_differs = q.kind.as_ref().is_some_and(|k| *k != job.kind);
                let outside = !filter.ids.contains(&job.id);
                if status_differs || kind_differs || outside {
                    continue;
                }
                // Past retention, as `get` would answer (404): left out, and a drain
                // asked for (once per page) to remove it.
                if ctx.expired(&job)? {
                    if !rang {
                        ctx.ring_again("retention");
                        rang = true;
                    }
                    continue;
                }
                page.items.push(JobResource::from_job(&job));
            }
        }
        if let Some(to) = listed.scanned_to {
            // The index scan stopped at its bound: a short page, and a cursor to go on.
            page.next_cursor = Some(encode_cursor(&to));
            return Ok(page);
        }
        if exhausted {
            return Ok(page);
        }
        if page.items.len() == limit {
            // A probe that stopped at its scan bound has not looked at everything: there
            // may be more.
            let probe = ctx
                .queue
                .list(&ctx.tenant, &filter, after.as_ref(), 1)
                .map_err(StoreError::from)?;
            let more = !probe.ids.is_empty() || probe.scanned_to.is_some();
            page.next_cursor = after.as_ref().filter(|_| more).map(encode_cursor);
            return Ok(page);
        }
        if read >= MAX_SCAN {
            page.next_cursor = after.as_ref().map(encode_cursor);
            return Ok(page);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryKv;
    use crate::ports::{KeyValue, PortError};
    use crate::service::testing::World;
    use serde_json::json;

    /// A store in which retention removes the job (record, result, input) just before
    /// the read of its result or input stored apart.
    struct SweptMidway {
        kv: MemoryKv,
        job: [String; 3],
    }

    impl KeyValue for SweptMidway {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
            if key != self.job[0] {
                for key in &self.job {
                    self.kv.delete(key)?;
                }
            }
            self.kv.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
            self.kv.set(key, value)
        }
        fn delete(&self, key: &str) -> Result<(), PortError> {
            self.kv.delete(key)
        }
    }

    /// A succeeded echo job whose input and result are both stored apart, and a store
    /// that removes it while it is read.
    fn swept_while_read() -> (World, JobId, SweptMidway) {
        let w = World::new();
        let big = "x".repeat(crate::job::INLINE_INPUT_MAX * 2);
        let id = w.submit(json!({"kind": "echo", "input": {"big": big}}));
        w.drain(1_000);
        assert_eq!(w.job(&id).status, Status::Succeeded);
        let t = &w.ctx().tenant;
        let job = [keys::job(t, &id), keys::result(t, &id), keys::input(t, &id)];
        let kv = SweptMidway {
            kv: w.kv.clone(),
            job,
        };
        (w, id, kv)
    }

    #[test]
    fn a_result_removed_with_its_job_while_read_is_not_found() {
        let (w, id, kv) = swept_while_read();
        let ctx = Context { kv: &kv, ..w.ctx() };
        assert_eq!(result(&ctx, id.as_str()).map(drop), Err(GetError::NotFound));
    }

    #[test]
    fn an_input_removed_with_its_job_while_read_is_not_found() {
        let (w, id, kv) = swept_while_read();
        let ctx = Context { kv: &kv, ..w.ctx() };
        let read = crate::service::actions::input(&ctx, id.as_str());
        assert_eq!(read.map(drop), Err(GetError::NotFound));
    }

    #[test]
    fn get_shows_a_submitted_job_and_refuses_bad_ids() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        assert_eq!(get(&w.ctx(), id.as_str()).unwrap().status, Status::Queued);
        assert!(matches!(
            get(&w.ctx(), "nope"),
            Err(GetError::MalformedId(_))
        ));
        let other = JobId::new();
        assert_eq!(get(&w.ctx(), other.as_str()), Err(GetError::NotFound));
    }

    #[test]
    fn polling_a_stale_queued_job_rings_again_once_per_window() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        assert_eq!(w.queue.published().len(), 1);
        get(&w.ctx(), id.as_str()).unwrap();
        assert_eq!(w.queue.published().len(), 1, "fresh: no ring");
        w.clock.advance(STALE_QUEUED_MS + 1);
        get(&w.ctx(), id.as_str()).unwrap();
        get(&w.ctx(), id.as_str()).unwrap();
        assert_eq!(w.queue.published().len(), 2, "stale: one ring per window");
    }

    #[test]
    fn a_result_is_not_ready_until_the_job_succeeded() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        assert_eq!(
            result(&w.ctx(), id.as_str()),
            Err(GetError::NotReady(Status::Queued))
        );
    }

    #[test]
    fn cancelling_a_queued_job_is_immediate_and_repeatable() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        let CancelResult::Cancelled(job) = cancel(&w.ctx(), id.as_str()).unwrap() else {
            panic!("expected cancelled")
        };
        assert_eq!(job.status, Status::Cancelled);
        assert_eq!(w.queue.indexed_status(&id), Some(Status::Cancelled));
        assert!(matches!(
            cancel(&w.ctx(), id.as_str()),
            Ok(CancelResult::Cancelled(_))
        ));
        assert_eq!(
            cancel(&w.ctx(), JobId::new().as_str()),
            Err(CancelError::NotFound)
        );
    }

    #[test]
    fn a_cancel_whose_record_write_fails_says_it_took_effect_and_a_repeat_records_it() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {}}));
        w.kv.fail_writes(u32::MAX);
        assert!(matches!(
            cancel(&w.ctx(), id.as_str()),
            Err(CancelError::Unrecorded(_))
        ));
        assert_eq!(w.queue.indexed_status(&id), Some(Status::Cancelled));
        w.kv.fail_writes(0);
        assert_eq!(w.job(&id).status, Status::Queued);
        let cancelled_at = Timestamp::from_ms(crate::ports::Clock::now_ms(&w.clock));
        w.clock.advance(5_000);
        // Repeated once the store takes writes: the record follows the queue, with the
        // time of the cancel that took effect (what its webhook event says too), not now.
        assert!(matches!(
            cancel(&w.ctx(), id.as_str()),
            Ok(CancelResult::Cancelled(_))
        ));
        let job = w.job(&id);
        assert_eq!(job.status, Status::Cancelled);
        assert_eq!(job.finished_at, Some(cancelled_at));
    }

    /// `id`'s finished time, then the clock set `ms` past its retention cutoff (-1: the
    /// last ms it is kept).
    fn to_retention(w: &World, id: &JobId, past: i64) {
        let finished = w.job(id).finished_at.expect("finished").as_ms();
        let at = finished + w.settings.job_ttl_seconds * 1_000;
        w.clock.set(at.checked_add_signed(past).unwrap());
    }

    #[test]
    fn a_job_past_retention_reads_as_gone_and_asks_for_the_drain_that_removes_it() {
        let w = World::new();
        let id = w.submit(json!({"kind": "echo", "input": {"a": 1}}));
        let other = w.submit(json!({"kind": "echo", "input": {"b": 2}}));
        assert_eq!(w.drain(2_000).succeeded, 2);
        to_retention(&w, &id, -1);
        assert_eq!(
            get(&w.ctx(), id.as_str()).unwrap().status,
            Status::Succeeded
        );
        let kinds = w.registry.names();
        let all = ListQuery::parse("", &kinds).unwrap();
        assert_eq!(list(&w.ctx(), &all).unwrap().items.len(), 2);
        let rung = w.queue.published().len();

        // Nothing rings at the TTL on an idle deployment: the job is still stored.
        to_retention(&w, &id, 0);
        assert!(
            w.kv.get(&keys::job(&w.ctx().tenant, &id))
                .unwrap()
                .is_some()
        );
        assert_eq!(get(&w.ctx(), id.as_str()), Err(GetError::NotFound));
        assert_eq!(
            result(&w.ctx(), id.as_str()).map(drop),
            Err(GetError::NotFound)
        );
        assert_eq!(
            cancel(&w.ctx(), id.as_str()).map(drop),
            Err(CancelError::NotFound)
        );
        let page = list(&w.ctx(), &all).unwrap();
        let listed: Vec<JobId> = page.items.iter().map(|j| j.id).collect();
        assert!(!listed.contains(&id), "{listed:?}");
        // The read rang, once for its window, for the drain that removes it.
        assert_eq!(w.queue.published().len(), rung + 1);
        assert_eq!(w.drain(2_000).swept, 2);
        assert!(w.kv.keys().is_empty(), "{:?}", w.kv.keys());
        assert_eq!(get(&w.ctx(), other.as_str()), Err(GetError::NotFound));
    }

    #[test]
    fn reads_and_the_idempotency_key_judge_retention_by_the_queues_finish_time() {
        let w = World::new();
        let body = br#"{"kind":"echo","input":{}}"#;
        let first = crate::service::submit(&w.ctx(), body, Some("k")).unwrap();
        let id = first.job.id;
        assert_eq!(w.drain(2_000).succeeded, 1);
        let finished = w.job(&id).finished_at.unwrap().as_ms();
        // The queue took the finish 300 ms after the record was stamped.
        w.queue.move_finished(&id, finished + 300);
        to_retention(&w, &id, 0);
        // Past the cutoff by the record, not by the queue: kept, and its key replays.
        assert_eq!(
            get(&w.ctx(), id.as_str()).unwrap().status,
            Status::Succeeded
        );
        let again = crate::service::submit(&w.ctx(), body, Some("k")).unwrap();
        assert!(again.replayed && again.job.id == id, "{again:?}");
        // Past it by both: gone, and the key takes a new job.
        to_retention(&w, &id, 300);
        assert_eq!(get(&w.ctx(), id.as_str()), Err(GetError::NotFound));
        let fresh = crate::service::submit(&w.ctx(), body, Some("k")).unwrap();
        assert!(!fresh.replayed && fresh.job.id != id, "{fresh:?}");
    }

    #[test]
    fn a_job_past_retention_with_its_webhook_still_under_way_is_kept_in_view() {
        let w = World::new();
        let id = w.submit(json!({
            "kind": "echo",
            "input": {},
            "callback_url": "https://hooks.example.com/done"
        }));
        // No HTTP here: the delivery fails and waits for its next attempt.
        assert_eq!(w.drain(2_000).succeeded, 1);
        to_retention(&w, &id, 0);
        let job = get(&w.ctx(), id.as_str()).unwrap();
        assert_eq!(job.webhook.map(|h| h.state).as_deref(), Some("pending"));
        let kinds = w.registry.names();
        let all = ListQuery::parse("", &kinds).unwrap();
        assert_eq!(list(&w.ctx(), &all).unwrap().items.len(), 1);
    }

    #[test]
    fn list_pages_newest_first_and_filters() {
        let w = World::new();
        let mut ids = Vec::new();
        for i in 0..5 {
            let kind = if i % 2 == 0 { "echo" } else { "sleep" };
            let input = if kind == "echo" {
                json!({})
            } else {
                json!({"ms": 1})
            };
            ids.push(w.submit(json!({"kind": kind, "input": input})));
            w.clock.advance(1);
        }
        let kinds = w.registry.names();
        let q = ListQuery::parse("limit=2", &kinds).unwrap();
        let first = list(&w.ctx(), &q).unwrap();
        assert_eq!(
            first.items.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![ids[4], ids[3]]
        );
        let cursor = first.next_cursor.unwrap();
        let q = ListQuery::parse(&format!("limit=2&cursor={cursor}"), &kinds).unwrap();
        let second = list(&w.ctx(), &q).unwrap();
        assert_eq!(
            second.items.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![ids[2], ids[1]]
        );
        let cursor = second.next_cursor.unwrap();
        let q = ListQuery::parse(&format!("limit=1&cursor={cursor}"), &kinds).unwrap();
        let last = list(&w.ctx(), &q).unwrap();
        assert_eq!(last.items.len(), 1);
        assert_eq!(last.next_cursor, None, "a full last page has no cursor");
        let q = ListQuery::parse("kind=echo&status=queued", &kinds).unwrap();
        let echoes = list(&w.ctx(), &q).unwrap();
        assert_eq!(echoes.items.len(), 3);
        assert_eq!(echoes.next_cursor, None);
    }

    #[test]
    fn a_listing_by_kind_reads_only_the_records_of_its_page() {
        let w = World::new();
        let sleeps: Vec<JobId> = (0..3)
            .map(|_| w.submit(json!({"kind": "sleep", "input": {"ms": 1}})))
            .collect();
        for n in 0..300 {
            w.submit(json!({"kind": "echo", "input": {"n": n}}));
        }
        let kinds = w.registry.names();

        let before = w.kv.reads();
        let q = ListQuery::parse("kind=sleep", &kinds).unwrap();
        let page = list(&w.ctx(), &q).unwrap();
        let newest_first: Vec<JobId> = sleeps.iter().rev().copied().collect();
        assert_eq!(
            page.items.iter().map(|j| j.id).collect::<Vec<_>>(),
            newest_first
        );
        assert_eq!(w.kv.reads() - before, 3, "one read per job of the page");

        let before = w.kv.reads();
        let q = ListQuery::parse("kind=echo&status=queued&limit=5", &kinds).unwrap();
        let page = list(&w.ctx(), &q).unwrap();
        assert_eq!(page.items.len(), 5);
        assert!(page.next_cursor.is_some());
        assert_eq!(w.kv.reads() - before, 5);
    }

    #[test]
    fn list_keeps_the_jobs_of_a_time_window_and_an_id_prefix() {
        let w = World::new();
        let kinds = w.registry.names();
        let mut ids: Vec<JobId> = Vec::new();
        for _ in 0..4 {
            // Ids take their time from the system clock, not the world's: each its own ms.
            let last = ids.last().map_or(0, JobId::created_ms);
            while JobId::new().created_ms() <= last {}
            ids.push(w.submit(json!({"kind": "echo", "input": {}})));
        }
        let at = |id: &JobId| Timestamp::from_ms(id.created_ms()).to_rfc3339();
        let listed = |query: &str| -> Vec<JobId> {
            let q = ListQuery::parse(query, &kinds).unwrap();
            list(&w.ctx(), &q)
                .unwrap()
                .items
                .iter()
                .map(|j| j.id)
                .collect()
        };
        let window = format!(
            "created_after={}&created_before={}",
            at(&ids[1]),
            at(&ids[3])
        );
        assert_eq!(listed(&window), vec![ids[2], ids[1]]);
        assert_eq!(
            listed(&format!("{window}&limit=1&cursor={}", ids[2])),
            vec![ids[1]]
        );
        assert_eq!(
            listed(&format!("{window}&status=queued&kind=echo")),
            vec![ids[2], ids[1]]
        );
        assert_eq!(
            listed(&format!("id_prefix={}", &ids[2].as_str()[..13])),
            vec![ids[2]]
        );
        assert_eq!(listed(&format!("id_prefix={}", ids[0])), vec![ids[0]]);
        let crossed = format!(
            "created_after={}&created_before={}",
            at(&ids[3]),
            at(&ids[1])
        );
        assert!(listed(&crossed).is_empty(), "an empty range: an empty page");
        let first = ListQuery::parse(&format!("{window}&limit=1"), &kinds).unwrap();
        let page = list(&w.ctx(), &first).unwrap();
        assert_eq!(page.next_cursor, Some(encode_cursor(&ids[2])));
    }
}

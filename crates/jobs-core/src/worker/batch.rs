//! One claimed batch: read the records in one call, decide for each job, mark every job
//! about to run as running in one write (so each attempt is counted before anything
//! runs), then run them in order. A computing kind runs to its end here; a waiting kind
//! starts side by side and the batch moves on. Outcomes are kept back and written
//! together, sooner once the batch has run [`FLUSH_MS`].

use std::rc::Rc;

use super::FLUSH_MS;
use super::attempt::Attempt;
use super::lease::Lease;
use super::outbox::{Count, Outbox, Pending};
use super::side::SideBySide;
use crate::context::{Context, StoreError};
use crate::job::{ErrorInfo, Job, JobId, Status};
use crate::queue::ClaimedJob;

/// What a batch's runs took, for the size of the next claim.
pub(super) struct Ran {
    /// Time spent running computing kinds (not the store calls around them).
    pub(super) run_ms: u64,
    /// Whether any job of the batch was of a waiting kind.
    pub(super) waiting: bool,
}

/// Run the batch `jobs`, claimed under `lease`. `Err` only when the store or queue fails
/// (the drain stops; the leases expire and the jobs run again).
pub(super) async fn run<'d>(
    ctx: &'d Context<'_>,
    outbox: &'d Outbox,
    jobs: &[ClaimedJob],
    lease: Rc<Lease>,
    side: &mut SideBySide<'d>,
) -> Result<Ran, StoreError> {
    let claimed_at = ctx.now();
    let attempt = || Attempt {
        ctx,
        outbox,
        lease: lease.clone(),
        claimed_at,
    };
    let records = ctx.load_jobs(lease.ids())?;
    let mut to_run = Vec::with_capacity(jobs.len());
    for (claimed, record) in jobs.iter().zip(records) {
        let id = claimed.id;
        let job = match record {
            Ok(Some(job)) => job,
            Ok(None) => {
                // Never recorded (a submit rolled back after its script ran) or swept.
                outbox.note(|r| r.skipped += 1);
                outbox.warn(format!(
                    "claimed {id} has no record; dropped from the queue"
                ));
                ctx.queue.forget(&[id])?;
                continue;
            }
            Err(StoreError::Corrupt { key, reason }) => {
                outbox.note(|r| r.skipped += 1);
                outbox.warn(format!(
                    "claimed {id} has a malformed record at {key}: {reason}; indexed as failed"
                ));
                outbox.pend(Pending::new(
                    &lease,
                    &id,
                    Status::Failed,
                    true,
                    Count::Skipped,
                ));
                continue;
            }
            Err(e) => return Err(e),
        };
        to_run.extend(attempt().prepare(job, claimed.cancel_requested));
    }
    // Inputs stored apart are read (one call) before anything is marked running; a job
    // whose input is gone cannot run at all.
    let (to_run, broken) = ctx.load_inputs(to_run)?;
    for (job, why) in broken {
        attempt().fail(job, ErrorInfo::internal(why));
    }
    // Still ours after the reads? (Surely, unless they took half a lease.)
    let ids: Vec<JobId> = to_run.iter().map(|job| job.id).collect();
    let held = lease.still_held(ctx, &ids)?;
    let to_run: Vec<Job> = to_run
        .into_iter()
        .zip(held)
        .filter_map(|(job, held)| held.then_some(job))
        .collect();
    let lost = (ids.len() - to_run.len()) as u32;
    outbox.note(|r| r.lost += lost);
    ctx.save_jobs(&to_run)?;

    let mut ran = Ran {
        run_ms: 0,
        waiting: false,
    };
    for job in to_run {
        let waits = ctx.registry.get(&job.kind).is_some_and(|kind| kind.waits());
        if waits {
            ran.waiting = true;
            let id = job.id;
            side.start(lease.clone(), id, Box::pin(attempt().execute(job)), outbox);
            continue;
        }
        let started = ctx.now();
        attempt().execute(job).await?;
        ran.run_ms += ctx.now().saturating_sub(started);
        if ctx.now().saturating_sub(claimed_at) >= FLUSH_MS {
            outbox.flush(ctx)?;
        }
    }
    Ok(ran)
}

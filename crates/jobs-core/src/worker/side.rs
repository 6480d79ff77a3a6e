//! Runs of waiting kinds going on side by side inside one worker instance: up to
//! `worker_concurrency` at once, the rest parked (claimed, leased and kept renewed)
//! until a slot is free. The drain loop turns them over between its own steps.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use futures::future::{Either, select};
use futures::stream::{FuturesUnordered, StreamExt};

use super::lease::Lease;
use super::outbox::Outbox;
use crate::context::{Context, StoreError};
use crate::job::JobId;

/// One attempt in progress: done when its outcome is kept back in the outbox.
pub(super) type Going<'d> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + 'd>>;

pub(super) struct SideBySide<'d> {
    limit: usize,
    going: FuturesUnordered<Going<'d>>,
    parked: VecDeque<Parked<'d>>,
}

/// An attempt waiting for a slot, and the lease to keep meanwhile.
struct Parked<'d> {
    lease: Rc<Lease>,
    id: JobId,
    attempt: Going<'d>,
}

impl<'d> SideBySide<'d> {
    pub(super) fn new(limit: usize) -> Self {
        SideBySide {
            limit: limit.max(1),
            going: FuturesUnordered::new(),
            parked: VecDeque::new(),
        }
    }

    /// Nothing going and nothing parked.
    pub(super) fn is_empty(&self) -> bool {
        self.going.is_empty() && self.parked.is_empty()
    }

    /// Every slot taken: a claim now takes one job at a time.
    pub(super) fn is_full(&self) -> bool {
        self.going.len() >= self.limit
    }

    /// Some attempt waits for a slot: claim nothing more until it has one.
    pub(super) fn has_parked(&self) -> bool {
        !self.parked.is_empty()
    }

    /// Start `attempt` (it runs when the drain next turns things over), or park it.
    pub(super) fn start(
        &mut self,
        lease: Rc<Lease>,
        id: JobId,
        attempt: Going<'d>,
        outbox: &Outbox,
    ) {
        if self.is_full() {
            self.parked.push_back(Parked { lease, id, attempt });
        } else {
            self.going.push(attempt);
            let going = self.going.len() as u32;
            outbox.note(|r| r.most_side_by_side = r.most_side_by_side.max(going));
        }
    }

    /// Let every attempt whose wait is over move on, without waiting for any: one turn
    /// of the host's executor (a wait of 0 ms). Parked attempts take the freed slots.
    pub(super) async fn turn(
        &mut self,
        ctx: &Context<'_>,
        outbox: &Outbox,
    ) -> Result<(), StoreError> {
        if self.going.is_empty() {
            return Ok(());
        }
        let mut tick = ctx.clock.wait_ms(0);
        loop {
            match select(self.going.next(), tick).await {
                Either::Left((Some(done), rest)) => {
                    done?;
                    self.unpark(outbox);
                    if self.going.is_empty() {
                        return Ok(());
                    }
                    tick = rest;
                }
                Either::Left((None, _)) | Either::Right(_) => return Ok(()),
            }
        }
    }

    /// Wait until an attempt is done or `ms` have passed, whichever is first.
    pub(super) async fn wait(
        &mut self,
        ctx: &Context<'_>,
        outbox: &Outbox,
        ms: u64,
    ) -> Result<(), StoreError> {
        if self.going.is_empty() {
            ctx.clock.wait_ms(ms).await;
            return Ok(());
        }
        if let Either::Left((Some(done), _)) =
            select(self.going.next(), ctx.clock.wait_ms(ms)).await
        {
            done?;
            self.unpark(outbox);
        }
        Ok(())
    }

    /// Keep the leases of the parked attempts (a renewal only when half is spent); an
    /// attempt whose job another worker took is dropped and counted as lost.
    pub(super) fn keep_parked(
        &mut self,
        ctx: &Context<'_>,
        outbox: &Outbox,
    ) -> Result<(), StoreError> {
        let mut kept = VecDeque::with_capacity(self.parked.len());
        for parked in std::mem::take(&mut self.parked) {
            if parked.lease.still_held(ctx, &[parked.id])?[0] {
                kept.push_back(parked);
            } else {
                outbox.note(|r| r.lost += 1);
            }
        }
        self.parked = kept;
        Ok(())
    }

    fn unpark(&mut self, outbox: &Outbox) {
        while !self.is_full() {
            let Some(Parked { lease, id, attempt }) = self.parked.pop_front() else {
                return;
            };
            self.start(lease, id, attempt, outbox);
        }
    }
}

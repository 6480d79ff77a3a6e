//! The read side of one tenant's queue in memory: what the `list` and `stats` scripts
//! answer, from a [`TenantState`]. Only reads: nothing here changes the queue.

use super::TenantState;
use crate::job::{JobId, Status};
use crate::queue::{
    LIST_SCAN_MAX, ListFilter, Listed, MINUTE_MS, MinuteCounts, QueueStats, THROUGHPUT_MINUTES,
};

impl TenantState {
    /// The list script: up to `limit` ids newest first, in the filter's range below
    /// `before`; a kind and a status together look at [`LIST_SCAN_MAX`] ids at most, and
    /// only ids in the range count (the script's scan never leaves the range).
    pub(super) fn list(&self, filter: &ListFilter, before: Option<&JobId>, limit: u32) -> Listed {
        let range = filter.ids.below(before);
        let in_index = |id: &JobId| match &filter.kind {
            Some(kind) => self.kind.get(id) == Some(kind),
            None => filter
                .status
                .is_none_or(|st| self.status.get(id) == Some(&st)),
        };
        let mut listed = Listed::default();
        let mut scanned = 0;
        let both = filter.kind.is_some() && filter.status.is_some();
        for id in self.all.iter().rev() {
            if !range.contains(id) || !in_index(id) {
                continue;
            }
            if listed.ids.len() == limit as usize {
                break;
            }
            scanned += 1;
            if !both
                || filter
                    .status
                    .is_some_and(|st| self.status.get(id) == Some(&st))
            {
                listed.ids.push(*id);
                if listed.ids.len() == limit as usize {
                    break;
                }
            }
            if both && scanned >= LIST_SCAN_MAX {
                listed.scanned_to = Some(*id);
                break;
            }
        }
        listed
    }

    /// The stats script at `now_ms`, with the tenant's webhook counts (pending, failed)
    /// from the outbox.
    pub(super) fn stats(&self, now_ms: u64, hooks: (u64, u64)) -> QueueStats {
        QueueStats {
            by_status: Status::ALL
                .iter()
                .map(|st| (*st, self.count(*st)))
                .collect(),
            ready: self.ready.len() as u64,
            delayed: self.delayed.len() as u64,
            delayed_due: self.delayed.values().filter(|at| **at <= now_ms).count() as u64,
            leased: self.leases.len() as u64,
            leases_expired: self.leases.values().filter(|at| **at <= now_ms).count() as u64,
            retries: self.retries,
            dead: self.dead,
            oldest_ready: self.ready.back().copied(),
            oldest_due_ms: self
                .delayed
                .values()
                .filter(|at| **at <= now_ms)
                .min()
                .copied(),
            hooks_pending: hooks.0,
            hooks_failed: hooks.1,
            throughput: self.throughput(now_ms),
        }
    }

    /// Jobs made and finished per minute, as the stats script counts them: the last
    /// [`THROUGHPUT_MINUTES`] up to the current one, oldest first, none before the epoch.
    fn throughput(&self, now_ms: u64) -> Vec<MinuteCounts> {
        let current = now_ms - now_ms % MINUTE_MS;
        (0..u64::from(THROUGHPUT_MINUTES))
            .rev()
            .filter_map(|back| current.checked_sub(back * MINUTE_MS))
            .map(|start| {
                let minute = start..start + MINUTE_MS;
                MinuteCounts {
                    start_ms: start,
                    submitted: self
                        .all
                        .iter()
                        .filter(|id| minute.contains(&id.created_ms()))
                        .count() as u64,
                    finished: self
                        .finished
                        .values()
                        .filter(|at| minute.contains(at))
                        .count() as u64,
                }
            })
            .collect()
    }
}

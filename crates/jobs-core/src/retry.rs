//! When to run a job again after a transient error: exponential backoff with full
//! jitter, capped. Pure arithmetic; the caller supplies the random number, so the policy
//! is deterministic under test.

/// Exponential backoff with "full jitter": the delay before retry number `attempt` is
/// uniform in `[0, min(cap_ms, base_ms * 2^(attempt-1))]`.
///
/// Why full jitter: after an outage every failed job retries at once; spreading each
/// retry over the whole window keeps the workers and whatever the jobs call from being
/// hit by synchronized waves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The window of the first retry.
    pub base_ms: u64,
    /// The largest window, reached after a few doublings.
    pub cap_ms: u64,
}

impl Default for RetryPolicy {
    /// 500 ms doubling up to one minute.
    fn default() -> Self {
        RetryPolicy {
            base_ms: 500,
            cap_ms: 60_000,
        }
    }
}

impl RetryPolicy {
    /// The upper bound of the window after attempt `attempt` (1 = the first attempt
    /// failed). Attempt 0 is treated as 1. Never overflows: large attempts give `cap_ms`.
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let doublings = attempt.saturating_sub(1);
        let grown = 1u64
            .checked_shl(doublings)
            .and_then(|factor| self.base_ms.checked_mul(factor))
            .unwrap_or(u64::MAX);
        grown.min(self.cap_ms)
    }

    /// The delay before the next attempt, given the attempt that just failed and any
    /// uniformly random `u64` (e.g. from `getrandom` or the id's random bits).
    pub fn delay_ms(&self, attempt: u32, random: u64) -> u64 {
        let ceiling = self.ceiling_ms(attempt);
        match ceiling.checked_add(1) {
            Some(span) => random % span,
            None => random,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_half_a_second_capped_at_a_minute() {
        assert_eq!(
            RetryPolicy::default(),
            RetryPolicy {
                base_ms: 500,
                cap_ms: 60_000
            }
        );
    }

    #[test]
    fn the_window_doubles_per_attempt_until_the_cap() {
        let p = RetryPolicy::default();
        let ceilings: Vec<u64> = (1..=9).map(|a| p.ceiling_ms(a)).collect();
        assert_eq!(
            ceilings,
            [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]
        );
        assert_eq!(p.ceiling_ms(0), 500);
    }

    #[test]
    fn delays_stay_within_zero_and_the_window() {
        let p = RetryPolicy::default();
        for attempt in 0..100 {
            let ceiling = p.ceiling_ms(attempt);
            for random in [
                0,
                1,
                499,
                500,
                501,
                12345,
                u64::MAX / 3,
                u64::MAX - 1,
                u64::MAX,
            ] {
                let d = p.delay_ms(attempt, random);
                assert!(d <= ceiling, "attempt {attempt} random {random}: {d}");
            }
        }
        assert_eq!(p.delay_ms(1, 0), 0);
        assert_eq!(p.delay_ms(1, 500), 500);
        assert_eq!(p.delay_ms(1, 501), 0);
    }

    #[test]
    fn huge_attempts_and_bases_do_not_overflow() {
        let p = RetryPolicy {
            base_ms: u64::MAX / 2,
            cap_ms: u64::MAX,
        };
        assert_eq!(p.ceiling_ms(1), u64::MAX / 2);
        assert_eq!(p.ceiling_ms(3), u64::MAX);
        assert_eq!(p.ceiling_ms(u32::MAX), u64::MAX);
        assert_eq!(p.delay_ms(u32::MAX, 7), 7);
        assert_eq!(RetryPolicy::default().ceiling_ms(u32::MAX), 60_000);
    }

    #[test]
    fn delays_spread_over_the_whole_window() {
        // A simple deterministic generator is enough to see the spread.
        let p = RetryPolicy::default();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let (mut low, mut high) = (0, 0);
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let d = p.delay_ms(4, x);
            if d < 1000 {
                low += 1;
            }
            if d > 3000 {
                high += 1;
            }
        }
        assert!(low > 150 && high > 150, "low {low} high {high}");
    }

    #[test]
    fn a_zero_base_never_waits() {
        let p = RetryPolicy {
            base_ms: 0,
            cap_ms: 60_000,
        };
        assert_eq!(p.delay_ms(5, u64::MAX), 0);
    }
}

//! Waiting with a deadline. Tests never sleep for a fixed time hoping something
//! happened: they poll a condition and fail loudly, naming what they waited
//! for, when the deadline passes.

use std::fmt::Debug;
use std::time::{Duration, Instant};

/// Calls `f` until it returns `Some`, and returns that value.
///
/// Polls with a short, growing backoff (5 ms up to 100 ms) so fast conditions
/// are seen quickly without spinning a core. Panics naming `what` if `timeout`
/// passes first.
#[track_caller]
pub fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    wait_until_seen(timeout, what, || f().ok_or(()))
}

/// [`wait_until`] for a condition that says what it saw when it is not met yet
/// (`Err`): the panic at the deadline shows the last of it.
#[track_caller]
pub fn wait_until_seen<T, S: Debug>(
    timeout: Duration,
    what: &str,
    mut f: impl FnMut() -> Result<T, S>,
) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        let seen = match f() {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        let now = Instant::now();
        if now >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last seen: {seen:?}");
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_value_the_condition_gives() {
        let mut calls = 0;
        let got = wait_until(Duration::from_secs(5), "third call", || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(got, 3);
    }

    #[test]
    #[should_panic(expected = "last seen: 41")]
    fn the_panic_shows_the_last_thing_seen() {
        let mut n = 0;
        wait_until_seen(Duration::from_millis(30), "n to reach 1000", || {
            n += 1;
            if n >= 1000 { Ok(()) } else { Err(41) }
        });
    }

    #[test]
    #[should_panic(expected = "waiting for something that never happens")]
    fn panics_naming_what_it_waited_for() {
        wait_until(
            Duration::from_millis(50),
            "something that never happens",
            || None::<()>,
        );
    }
}

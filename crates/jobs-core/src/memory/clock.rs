//! [`ManualClock`]: time that moves only when told, or when every task waits.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Wake, Waker};

use super::lock;
use crate::ports::{Clock, Wait};

/// A clock that stands still until [`ManualClock::advance`] moves it, or until
/// [`ManualClock::block_on`] finds every task waiting and moves it to the earliest wait's
/// end: time passes only in waits, as fast as the test runs. Clones share one time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
    /// Waits not over yet: when each ends, and the task to wake then.
    waits: Arc<Mutex<Vec<(u64, Waker)>>>,
}

impl ManualClock {
    pub fn new(now_ms: u64) -> Self {
        Self {
            now: Arc::new(AtomicU64::new(now_ms)),
            waits: Arc::default(),
        }
    }
    pub fn advance(&self, ms: u64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn set(&self, now_ms: u64) {
        self.now.store(now_ms, Ordering::SeqCst);
    }

    /// Runs `future` to its end on this thread. Whenever it is pending, every wait whose
    /// end has come is woken, as a host's executor wakes every ready pollable before the
    /// next poll (so a wait that ended while the future computed is not passed over); and
    /// whenever it waits on nothing but this clock, the clock jumps to the end of the
    /// earliest wait. Panics when the future waits on something else, which would never
    /// come.
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        let mut future = std::pin::pin!(future);
        let woken = Arc::new(Flag::default());
        let waker = Waker::from(woken.clone());
        let mut cx = TaskContext::from_waker(&waker);
        loop {
            if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
                return value;
            }
            self.wake_due();
            if woken.0.swap(false, Ordering::SeqCst) {
                continue;
            }
            let end = lock(&self.waits)
                .iter()
                .map(|(end, _)| *end)
                .min()
                .expect("the future waits on something other than the clock");
            if end > self.now_ms() {
                self.set(end);
            }
            self.wake_due();
        }
    }

    /// Wake the waits whose end has come.
    fn wake_due(&self) {
        let now = self.now_ms();
        let mut waits = lock(&self.waits);
        let (due, later): (Vec<_>, Vec<_>) = waits.drain(..).partition(|(end, _)| *end <= now);
        *waits = later;
        drop(waits);
        due.into_iter().for_each(|(_, waker)| waker.wake());
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
    fn wait_ms(&self, ms: u64) -> Wait {
        Box::pin(ManualWait {
            clock: self.clone(),
            end: self.now_ms().saturating_add(ms),
            registered: false,
        })
    }
}

/// [`ManualClock::wait_ms`]: pending once at least, then until the clock reaches `end`.
struct ManualWait {
    clock: ManualClock,
    end: u64,
    registered: bool,
}

impl Future for ManualWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.registered && self.clock.now_ms() >= self.end {
            return Poll::Ready(());
        }
        self.registered = true;
        lock(&self.clock.waits).push((self.end, cx.waker().clone()));
        Poll::Pending
    }
}

/// A waker that only notes that it was woken.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

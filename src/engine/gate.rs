//! A producer waiting for room in its full ring, and the writer waking it (both threads).
//!
//! With [`FullPolicy::Block`](crate::FullPolicy::Block), a thread whose ring is full must wait
//! until the writer has read enough of it. It spins briefly first, watching the ring (the
//! writer hands space back every few kilobytes it reads, so a short wait ends there without a
//! system call); past that it raises [`Gate::waiting`] and sleeps on the gate's condition
//! variable. The writer reads rings with a waiting producer first and, each time it hands back
//! space in such a ring, wakes the producer. No fixed sleep: a producer resumes as soon as
//! there is room. (The sleep has a timeout only as a safety net; the wake-up is what ends it.)
//!
//! The flag and the ring's read position form a Dekker pair, both sides sequentially
//! consistent: the producer raises the flag, then checks for room; the writer publishes room,
//! then checks the flag. One of the two always sees the other, so no wake-up is lost.

use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The longest a waiting producer first sleeps before it looks at its ring again by itself.
pub(crate) const SAFETY_NET: Duration = Duration::from_millis(5);

/// The safety net doubles each time it runs out in one wait, up to this. A writer serving a
/// thousand waiting producers can take longer than 5 ms to reach each ring: with a fixed net,
/// every one of them woke every 5 ms (up to 200,000 wake-ups a second) and took the CPU the
/// writer needed. `scenario burst-threads 2000 1000 100`, debug build, 5 runs: 6.9-27.5 s with
/// the fixed net, 1.3-2.0 s with this one.
pub(crate) const SAFETY_NET_MAX: Duration = Duration::from_millis(200);

/// The waiting state of one ring's producer. Shared by the producer's thread and the writer.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// Set by the producer before it sleeps; cleared by the writer when it wakes it.
    waiting: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Gate {
    /// Whether the producer is asleep (or about to be) waiting for room.
    #[inline]
    pub fn waiting(&self) -> bool {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Called by the writer after it has handed back space: wakes the producer if it waits.
    #[inline]
    pub fn wake(&self) {
        if self.waiting.load(Ordering::SeqCst) {
            self.waiting.store(false, Ordering::SeqCst);
            // Taking the lock orders this wake-up after the producer's check in `sleep`.
            let _g = self.lock.lock();
            self.cv.notify_one();
        }
    }

    /// Puts the producer to sleep until the writer wakes it, unless `room()` (checked after
    /// raising the flag) says there is room already, or `timeout` passes (a safety net,
    /// [`SAFETY_NET`]). False if it slept until the timeout.
    pub fn sleep(&self, room: impl Fn() -> bool, timeout: Duration) -> bool {
        let mut g = self.lock.lock();
        self.waiting.store(true, Ordering::SeqCst);
        if room() {
            self.waiting.store(false, Ordering::SeqCst);
            return true;
        }
        // A wake between the check and this wait takes the lock first, so it cannot come in
        // between: it is either seen by `room()` above or delivered to this wait.
        let timed_out = self.cv.wait_for(&mut g, timeout).timed_out();
        self.waiting.store(false, Ordering::SeqCst);
        !timed_out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn no_wake_up_is_lost() {
        // The "ring": a count of free slots. The producer takes one per round and sleeps while
        // there is none; the writer makes room, then wakes it, sometimes after the producer has
        // raised its flag and sometimes racing with it. The timeout is far longer than any
        // scheduling delay: a sleep that reaches it is a lost wake-up.
        let gate = Arc::new(Gate::default());
        let room = Arc::new(AtomicU64::new(0));
        let rounds = if cfg!(miri) { 50 } else { 5_000 };
        let t = {
            let (gate, room) = (gate.clone(), room.clone());
            std::thread::spawn(move || {
                let mut timeouts = 0;
                for _ in 0..rounds {
                    while room.load(Ordering::SeqCst) == 0 {
                        let free = || room.load(Ordering::SeqCst) > 0;
                        if !gate.sleep(free, Duration::from_secs(30)) {
                            timeouts += 1;
                        }
                    }
                    room.fetch_sub(1, Ordering::SeqCst);
                }
                timeouts
            })
        };
        for i in 0..rounds {
            while room.load(Ordering::SeqCst) > 0 || (i % 2 == 0 && !gate.waiting()) {
                std::hint::spin_loop();
            }
            room.fetch_add(1, Ordering::SeqCst);
            gate.wake();
        }
        assert_eq!(t.join().unwrap(), 0, "a sleep ran to its timeout");
    }
}

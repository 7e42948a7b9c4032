//! Single-writer shards: a metric cell that one thread claims and then updates with a plain load
//! and store instead of an atomic read-modify-write.
//!
//! An uncontended `lock xadd` still costs several times a plain add and keeps two threads on one
//! physical core from scaling. A shard is claimed by the first thread (by thread index) that
//! writes to it, and given back when that thread exits; a thread whose shard belongs to another
//! live thread writes to a shared shard with atomic read-modify-writes instead. A cell must never
//! be written both ways at once: a plain store could overwrite another thread's increment.
//! Giving a shard back is a release store and taking it an acquire exchange, so the next owner's
//! plain loads see every store of the previous one. Readers (the writer thread, at export) only
//! load, so every access stays atomic and a reader sees each shard's last store.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// No thread owns the shard.
const NO_OWNER: u32 = u32::MAX;

/// Which thread, if any, owns a shard.
#[derive(Debug)]
pub(crate) struct Owner(AtomicU32);

impl Owner {
    /// A shard nobody owns yet.
    pub(crate) const fn new() -> Self {
        Owner(AtomicU32::new(NO_OWNER))
    }

    /// True when thread `thread` is (now) the shard's only writer: it already was, or the shard
    /// had no owner and `thread` took it (and registered it to give back when it exits).
    /// `u32::MAX` (no thread index) never owns a shard.
    #[inline]
    pub(crate) fn claim(&'static self, thread: u32) -> bool {
        let o = self.0.load(Ordering::Relaxed);
        if o == thread {
            return thread != NO_OWNER;
        }
        o == NO_OWNER && thread != NO_OWNER && self.take(thread)
    }

    #[cold]
    #[inline(never)]
    fn take(&'static self, thread: u32) -> bool {
        // Only while this thread's state is alive: its destructor gives the shard back.
        crate::global::LOCAL
            .try_with(|l| {
                let Ok(mut owned) = l.owned.try_borrow_mut() else {
                    return false;
                };
                let won = self
                    .0
                    .compare_exchange(NO_OWNER, thread, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok();
                if won {
                    owned.push(self);
                }
                won
            })
            .unwrap_or(false)
    }

    /// Gives the shard back (its owner is exiting).
    pub(crate) fn release(&self) {
        self.0.store(NO_OWNER, Ordering::Release);
    }
}

/// Adds `v` (wrapping) to a cell that only the calling thread writes.
#[inline(always)]
pub(crate) fn add_owned(cell: &AtomicU64, v: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(v),
        Ordering::Relaxed,
    );
}

/// A sum shard: its owner and its value.
#[derive(Debug)]
pub(crate) struct SumShard {
    pub owner: Owner,
    pub value: AtomicU64,
}

impl SumShard {
    pub(crate) const fn new() -> Self {
        SumShard {
            owner: Owner::new(),
            value: AtomicU64::new(0),
        }
    }
}

/// The shard the calling thread writes to, among `shards` whose last one is shared, and whether
/// it owns it: its own shard (by index) when `claim` gives it, else the shared one.
#[inline(always)]
pub(crate) fn pick<T>(
    shards: &'static [T],
    thread: u32,
    claim: impl Fn(&'static T, u32) -> bool,
) -> (&'static T, bool) {
    let shared = shards.len() - 1;
    let own = &shards[thread as usize & (shared - 1)];
    if claim(own, thread) {
        (own, true)
    } else {
        (&shards[shared], false)
    }
}

/// Adds `v` to the sum sharded over `shards` (the last one shared; see [`pick`]).
#[inline(always)]
pub(crate) fn add(shards: &'static [crossbeam_utils::CachePadded<SumShard>], thread: u32, v: u64) {
    match pick(shards, thread, |s, t| s.owner.claim(t)) {
        (s, true) => add_owned(&s.value, v),
        (s, false) => {
            s.value.fetch_add(v, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_utils::CachePadded;

    fn leak<T>(v: T) -> &'static T {
        Box::leak(Box::new(v))
    }

    #[test]
    fn one_owner_per_shard_given_back_at_thread_exit() {
        let o = leak(Owner::new());
        // `join` (not a scope, which may return before the thread's thread-local destructors
        // have run) waits for the thread to be gone entirely.
        std::thread::spawn(|| {
            assert!(o.claim(3));
            assert!(o.claim(3), "the owner keeps it");
            assert!(!o.claim(4), "another thread does not get it");
        })
        .join()
        .unwrap();
        assert_eq!(o.0.load(Ordering::Acquire), NO_OWNER, "given back at exit");
        assert!(o.claim(5));
        assert!(!leak(Owner::new()).claim(NO_OWNER));
    }

    #[test]
    fn sums_are_exact_with_owned_shared_and_handed_over_shards() {
        let shards: &'static [CachePadded<SumShard>] = Box::leak(
            (0..5)
                .map(|_| CachePadded::new(SumShard::new()))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        // 3 waves of 12 "threads" over 4 own shards: in each wave 4 own a shard (handed over
        // from the previous wave's owners, who have exited) and 8 use the shared one.
        for wave in 0..3u32 {
            std::thread::scope(|s| {
                for t in 0..12u32 {
                    s.spawn(move || {
                        for _ in 0..10_000 {
                            add(shards, wave * 100 + t, 1);
                        }
                    });
                }
            });
        }
        let total: u64 = shards.iter().map(|s| s.value.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 360_000);
    }
}

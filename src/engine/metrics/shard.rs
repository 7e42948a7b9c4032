//! Per-thread shards: each live thread gets a small slot number of its own, and a metric cell
//! kept per slot is written by that thread alone, with a plain load and store instead of an
//! atomic read-modify-write.
//!
//! An uncontended `lock xadd` still costs several times a plain add, and it keeps two threads on
//! one physical core from scaling. A series keeps one shard per slot below the shard count and
//! a last one shared by every other thread, which uses atomic read-modify-writes there. A cell
//! must never be written both ways at once: a plain store could overwrite another thread's
//! increment; slots are what rule that out.
//!
//! Slots are unique among live threads: a thread takes the lowest free slot on its first
//! measurement and gives it back when it exits, so the first threads alive at once each get a
//! shard of their own however many threads came and went before (a thread pool that respawns
//! workers keeps low slots). Both go through one lock (once per thread), whose release and
//! acquire order the previous owner's last plain store before the next owner's first load.
//! Readers (the writer thread, at export) only load, so every access stays atomic and a reader
//! sees each shard's last store.

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};

/// No slot: the value a thread has before its first measurement, and the one used while its
/// thread-local state is torn down. It is above every shard count, so it picks the shared shard.
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// Which slots are free: the lowest goes first.
struct Pool {
    /// Slots never handed out start here.
    next: u32,
    /// Slots given back by exited threads, lowest first.
    free: BinaryHeap<Reverse<u32>>,
}

impl Pool {
    const fn new() -> Self {
        Pool {
            next: 0,
            free: BinaryHeap::new(),
        }
    }

    fn take(&mut self) -> u32 {
        match self.free.pop() {
            Some(Reverse(s)) => s,
            None => {
                let s = self.next;
                // Never hand out NO_SLOT. (Past four billion live threads, NO_SLOT - 1 is handed
                // out again: above every shard count, so it means the shared shard anyway.)
                self.next = (s + 1).min(NO_SLOT - 1);
                s
            }
        }
    }

    fn give_back(&mut self, slot: u32) {
        if slot != NO_SLOT {
            self.free.push(Reverse(slot));
        }
    }
}

static POOL: Mutex<Pool> = Mutex::new(Pool::new());

/// Takes the lowest slot no live thread holds. The caller must [`give_back`] it when it exits.
#[cold]
#[inline(never)]
pub(crate) fn take() -> u32 {
    POOL.lock().take()
}

/// Gives back a slot from [`take`]; the calling thread must write no shard of it afterwards.
pub(crate) fn give_back(slot: u32) {
    POOL.lock().give_back(slot);
}

/// Series whose sum was found at the end of its range, once each.
static OVERFLOWS: AtomicU64 = AtomicU64::new(0);

/// See [`OVERFLOWS`] and [`Stats::metric_overflows`](crate::Stats).
pub fn overflow_count() -> u64 {
    OVERFLOWS.load(Ordering::Relaxed)
}

/// Counts one series whose sum reached the end of its range.
#[cold]
#[inline(never)]
pub(crate) fn overflowed() {
    OVERFLOWS.fetch_add(1, Ordering::Relaxed);
}

/// The fix-up of an owned add that wrapped.
#[cold]
#[inline(never)]
fn pin_at_end(cell: &AtomicU64) {
    cell.store(u64::MAX, Ordering::Relaxed);
}

/// Adds `v` to a cell that only the calling thread writes, saturating at `u64::MAX` (the export
/// finds the cell there and counts it).
#[inline(always)]
pub(crate) fn add_owned(cell: &AtomicU64, v: u64) {
    // A wrapping add, then a branch on its carry to a cold fix-up: the add stays one
    // read-modify-write instruction (`saturating_add` costs four more per call).
    let (sum, carry) = cell.load(Ordering::Relaxed).overflowing_add(v);
    cell.store(sum, Ordering::Relaxed);
    if carry {
        pin_at_end(cell);
    }
}

/// A series' cells: one per thread slot below the shard count, each written by the thread
/// holding that slot, and one shared by every other thread. The shared one is a field apart, not
/// the last of the slice: picking a cell is one compare of the slot against the slice's length
/// (with the shared cell at `len - 1` of one slice, it took two, the compiler unable to rule out
/// an empty slice).
pub(crate) struct Shards<T> {
    own: Box<[CachePadded<T>]>,
    /// Boxed, so that a series stays small whatever `T` is (a histogram's cells are large).
    shared: Box<CachePadded<T>>,
}

impl<T> Shards<T> {
    /// `own` cells for the slots below it, and the shared one, each made by `make`.
    pub(crate) fn new(own: usize, mut make: impl FnMut() -> T) -> Self {
        Shards {
            own: (0..own).map(|_| CachePadded::new(make())).collect(),
            shared: Box::new(CachePadded::new(make())),
        }
    }

    /// The cell that the thread holding `slot` writes to, and whether it is that thread's own:
    /// the slot's cell, or the shared one for slots past the others (and [`NO_SLOT`]).
    #[inline(always)]
    pub(crate) fn pick(&self, slot: u32) -> (&T, bool) {
        match self.own.get(slot as usize) {
            Some(s) => (s, true),
            None => (&**self.shared, false),
        }
    }

    /// Every cell, the shared one last.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.own
            .iter()
            .map(|s| &**s)
            .chain(std::iter::once(&**self.shared))
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Shards<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Adds `v` to the sum sharded over `shards` (see [`Shards::pick`]), each shard saturating at
/// `u64::MAX` (a counter that reached the end of its range stays there).
#[inline(always)]
pub(crate) fn add(shards: &Shards<AtomicU64>, slot: u32, v: u64) {
    match shards.pick(slot) {
        (s, true) => add_owned(s, v),
        (s, false) => {
            if s.fetch_add(v, Ordering::Relaxed).checked_add(v).is_none() {
                // Wrapped: pin it at the end (a racing add that wraps it again does the same).
                s.store(u64::MAX, Ordering::Relaxed);
            }
        }
    }
}

/// [`add`] for a signed sum (the shards hold `i64`s), saturating at `i64::MIN` and `i64::MAX`.
#[inline(always)]
pub(crate) fn add_signed(shards: &Shards<AtomicU64>, slot: u32, v: i64) {
    match shards.pick(slot) {
        (s, true) => s.store(
            (s.load(Ordering::Relaxed) as i64).saturating_add(v) as u64,
            Ordering::Relaxed,
        ),
        (s, false) => {
            let old = s.fetch_add(v as u64, Ordering::Relaxed) as i64;
            if old.checked_add(v).is_none() {
                let end = if v > 0 { i64::MAX } else { i64::MIN };
                s.store(end as u64, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    fn sums(own: usize) -> Shards<AtomicU64> {
        Shards::new(own, || AtomicU64::new(0))
    }

    #[test]
    fn sums_saturate_at_the_ends_of_their_range() {
        let shards = sums(1);
        for slot in [0, NO_SLOT] {
            add(&shards, slot, u64::MAX - 1);
            add(&shards, slot, 5);
            add(&shards, slot, 5);
        }
        assert!(shards.iter().all(|s| s.load(Ordering::Relaxed) == u64::MAX));
        let signed = sums(1);
        for slot in [0, NO_SLOT] {
            add_signed(&signed, slot, i64::MIN);
            add_signed(&signed, slot, -1);
        }
        assert!(
            signed
                .iter()
                .all(|s| s.load(Ordering::Relaxed) as i64 == i64::MIN)
        );
        add_signed(&signed, 0, i64::MAX);
        add_signed(&signed, NO_SLOT, 1);
        assert_eq!(signed.pick(0).0.load(Ordering::Relaxed) as i64, -1);
        assert_eq!(
            signed.pick(NO_SLOT).0.load(Ordering::Relaxed) as i64,
            i64::MIN + 1
        );
    }

    #[test]
    fn slots_are_distinct_and_the_lowest_free_one_comes_back_first() {
        let mut p = Pool::new();
        let held: Vec<u32> = (0..6).map(|_| p.take()).collect();
        assert_eq!(held, [0, 1, 2, 3, 4, 5]);
        p.give_back(4);
        p.give_back(1);
        p.give_back(NO_SLOT); // ignored
        assert_eq!((p.take(), p.take(), p.take()), (1, 4, 6));
        // The global pool hands out distinct slots too (other tests use it: no exact numbers).
        let a = take();
        let b = take();
        assert_ne!(a, b);
        give_back(a);
        give_back(b);
    }

    #[test]
    fn sums_are_exact_with_owned_shared_and_handed_over_shards() {
        let shards = sums(4);
        // 3 waves of 12 threads over 4 own shards: slots are handed over from one wave to the
        // next, and every thread whose slot is 4 or more (at least 8 a wave) uses the shared
        // shard; those with NO_SLOT too.
        let start = Barrier::new(12);
        for _wave in 0..3 {
            std::thread::scope(|s| {
                for t in 0..12 {
                    let (shards, start) = (&shards, &start);
                    s.spawn(move || {
                        let slot = if t == 11 { NO_SLOT } else { take() };
                        start.wait();
                        for _ in 0..10_000 {
                            add(shards, slot, 1);
                        }
                        give_back(slot);
                    });
                }
            });
        }
        let total: u64 = shards.iter().map(|s| s.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 360_000);
        assert!(shards.pick(NO_SLOT).0.load(Ordering::Relaxed) >= 3 * 8 * 10_000);
    }
}

//! The calling thread's own state: its ring producer (created on the thread's first record and
//! handed to the writer) and its metric shard slot. [`emit`] is the one way a record enters a
//! ring. (The current span is in `current.rs`, the id generator in `ids.rs`: neither needs a
//! destructor, which makes them cheaper to reach. The ring and the slot are kept the same way,
//! and [`Local`]'s destructor gives them back.)

use crate::engine::gate::{self, Gate};
use crate::engine::metrics::shard;
use crate::engine::ring::{self, Buffer, Producer};
use crate::engine::shared::{ALWAYS_FITS, Global, RingEntry, is_enabled};
use crate::engine::sys::with_local;
use crate::model::config::FullPolicy;
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Per-thread state with a destructor, which gives back the thread's ring and metric slot.
pub(crate) struct Local {
    /// Set on the writer thread: it must never wait for room in its own ring (a record it
    /// makes, e.g. from a panic hook or an observable callback, is dropped and counted instead).
    pub is_writer: Cell<bool>,
    pub index: Cell<u32>,
    /// The slot in `SLOT`, kept here too for the destructor to give back.
    slot: Cell<u32>,
}

impl Drop for Local {
    fn drop(&mut self) {
        // Runs after this thread's last measurement through its slot: once the state is being
        // torn down, `LOCAL.try_with` fails and measurements go to the shared shard. The copy
        // kept here is the one given back: where thread-locals are not native, `SLOT` may be
        // gone already (then `try_with` fails, and nothing reads it again).
        let _ = SLOT.try_with(|s| s.set(shard::NO_SLOT));
        shard::give_back(self.slot.replace(shard::NO_SLOT));
        // Dropping the producer tells the writer that the ring gets nothing more: it drains the
        // ring and frees it. A record made after this (by a later destructor) finds no ring, and
        // `register` makes none while `LOCAL` is gone: it is counted as lost. (Where `RING`
        // drops its own ring, it may have done so already: then there is nothing to take.)
        let ring = RING.try_with(|r| {
            let taken = r.try_borrow_mut().map(|mut r| r.take());
            debug_assert!(taken.is_ok(), "ring borrowed during the thread's teardown");
            taken.ok().flatten()
        });
        drop(ring);
    }
}

thread_local! {
    pub(crate) static LOCAL: Local = const {
        Local {
            is_writer: Cell::new(false),
            index: Cell::new(u32::MAX),
            slot: Cell::new(shard::NO_SLOT),
        }
    };
}

/// A thread's ring producer, and the gate where it waits for room in it.
type ThreadRing = (Producer, Arc<Gate>);

/// Where a thread keeps its ring ([`RingCell`]), by kind of thread-local.
///
/// With native thread-locals, a cell with no destructor: reaching it is one address
/// computation, with no test of a destructor's state on every record, and `Local`'s destructor
/// gives the ring back (`register` makes one only while `LOCAL` is alive, and native
/// destructors run last registered, first run).
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    all(windows, target_env = "msvc")
))]
mod cell {
    use super::ThreadRing;
    use std::cell::RefCell;
    use std::mem::ManuallyDrop;

    pub(super) type RingCell = ManuallyDrop<RefCell<Option<ThreadRing>>>;

    pub(super) const fn empty() -> RingCell {
        ManuallyDrop::new(RefCell::new(None))
    }
}

/// Where a thread keeps its ring ([`RingCell`]), by kind of thread-local.
///
/// Where thread-locals may be built on OS keys, whose destructors run in no set order (and a
/// key read after its destructor starts afresh), the cell drops its ring itself, whichever of it
/// and `LOCAL` goes first.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    all(windows, target_env = "msvc")
)))]
mod cell {
    use super::ThreadRing;
    use std::cell::RefCell;

    pub(super) type RingCell = RefCell<Option<ThreadRing>>;

    pub(super) const fn empty() -> RingCell {
        RefCell::new(None)
    }
}

use cell::RingCell;

thread_local! {
    /// This thread's ring, and the gate where it waits for room in it (see [`RingCell`]).
    static RING: RingCell = const { cell::empty() };
}

thread_local! {
    /// This thread's metric shard slot (see `engine/metrics/shard.rs`), taken on first use and given back
    /// by `Local`'s destructor. Kept apart from `LOCAL` so that reading it is one load, with no
    /// check of a destructor's state: a bound metric handle's add reads nothing else of this
    /// thread's.
    static SLOT: Cell<u32> = const { Cell::new(shard::NO_SLOT) };
}

/// This thread's metric shard slot: small, and unique among live threads (taken on first use;
/// see `engine/metrics/shard.rs`). [`NO_SLOT`](shard::NO_SLOT), the shared shard, once this
/// thread's state is torn down.
#[inline(always)]
pub(crate) fn thread_slot() -> u32 {
    let s = SLOT.get();
    if s != shard::NO_SLOT {
        return s;
    }
    take_slot()
}

#[cold]
#[inline(never)]
fn take_slot() -> u32 {
    // Only while `LOCAL` is alive (this registers its destructor, which gives the slot back).
    LOCAL
        .try_with(|l| {
            let s = shard::take();
            l.slot.set(s);
            SLOT.set(s);
            s
        })
        .unwrap_or(shard::NO_SLOT)
}

static THREAD_INDEX: AtomicU32 = AtomicU32::new(0);

impl Local {
    /// This thread's small dense index (assigned on first use).
    #[inline]
    pub fn index(&self) -> u32 {
        let i = self.index.get();
        if i != u32::MAX {
            return i;
        }
        let i = THREAD_INDEX.fetch_add(1, Ordering::Relaxed) % (u32::MAX - 1);
        self.index.set(i);
        i
    }
}

/// The size of a new thread's ring, taken from the budget: the configured size while the
/// budget allows, else the largest power of two left, but never less than the floor.
fn take_ring_bytes(g: &Global) -> usize {
    let s = &g.settings;
    let used = &g.counters.ring_bytes;
    let mut cur = used.load(Ordering::Relaxed);
    loop {
        let left = s.ring_budget.saturating_sub(cur);
        let bytes = if left >= s.ring_capacity {
            s.ring_capacity
        } else {
            // The largest power of two that fits what is left (0 if nothing is).
            let pow2 = if left == 0 { 0 } else { 1 << left.ilog2() };
            pow2.max(s.ring_floor)
        };
        match used.compare_exchange_weak(cur, cur + bytes, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return bytes,
            Err(now) => cur = now,
        }
    }
}

/// A new ring for this thread, handed to the writer; `None` once this thread's `LOCAL` is torn
/// down (its destructor would not give the ring back).
fn register(g: &Global) -> Option<ThreadRing> {
    // First, so that `LOCAL`'s destructor is registered (and will give the ring back) before
    // the ring exists.
    let idx = LOCAL.try_with(|l| l.index()).ok()?;
    let bytes = take_ring_bytes(g);
    // A spare buffer made by the writer ahead of need, if one of this size is left; else one
    // made here.
    let spare = if bytes == g.settings.ring_capacity {
        g.spare_rings.lock().pop()
    } else {
        None
    };
    let (p, c) = ring::ring_in(spare.unwrap_or_else(|| Buffer::new(bytes)));
    let gate = Arc::new(Gate::default());
    let t = std::thread::current();
    g.new_rings
        .lock()
        .push(RingEntry::new(c, gate.clone(), t.name().unwrap_or(""), idx));
    Some((p, gate))
}

/// Encodes one record of `len` bytes into this thread's ring, applying the full-ring policy.
/// Never panics or blocks forever: if the writer is gone the record is counted as lost. Always
/// inlined, as is every function between a public call and this: left to the compiler, the
/// copy for one shape of record stays out of line as soon as two calls share it. Not in builds
/// with debug assertions: unoptimised, each inlined call keeps its own stack slots, and a test
/// with about 50 such calls in one function overflowed its thread's 2 MiB stack.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn emit<F: FnOnce(&mut [u8])>(g: &Global, len: usize, fill: F) {
    push::<true, F>(g, len, fill)
}

/// [`emit`] for a record that another follows at once from the same call site (a span's part,
/// its end record after it): published as soon as written, without the half-full test, which
/// the record after it makes.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn emit_part<F: FnOnce(&mut [u8])>(g: &Global, len: usize, fill: F) {
    push::<false, F>(g, len, fill)
}

/// [`emit`] and [`emit_part`]: `FULL` for the half-full test.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
fn push<const FULL: bool, F: FnOnce(&mut [u8])>(g: &Global, len: usize, fill: F) {
    if !is_enabled() {
        // A span started before shutdown that ends after it: its ring is no longer drained.
        g.counters.lost.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // Through `with_local`, not `try_with`, so that the whole push is inlined at every call
    // (see `sys::with_local`); not `with`, which was not inlined here (its panic path). With
    // native thread-locals this key has no destructor and never fails; elsewhere it fails once
    // the thread's ring is dropped, and the record is counted as lost.
    let r = with_local(
        &RING,
        #[cfg_attr(debug_assertions, inline)]
        #[cfg_attr(not(debug_assertions), inline(always))]
        |r| {
            let Ok(mut slot) = r.try_borrow_mut() else {
                return false;
            };
            let (p, gate) = match slot.as_mut() {
                Some(pg) => pg,
                None => match register_into(&mut slot, g) {
                    Some(pg) => pg,
                    None => return false,
                },
            };
            if len > ALWAYS_FITS && len > p.max_record_len() {
                // The encoders size records to fit; never panic the host if one does not.
                debug_assert!(false, "record of {len} bytes does not fit the ring");
                return false;
            }
            let mut fill = fill;
            loop {
                match p.try_push_with(len, fill) {
                    Ok(()) => {
                        // The estimate uses a stale view of the consumer; confirm before waking it,
                        // so a writer that keeps up is never woken (a system call) by a stale
                        // estimate.
                        if FULL && p.used_estimate() > p.capacity() / 2 {
                            wake_if_half_full(g, p);
                        }
                        return true;
                    }
                    // The record is retried here, inline: the cold path only waits, so the record's
                    // closure is never passed to a call (which would build it in memory first).
                    Err(f) => fill = f,
                }
                match wait_for_room(g, p, gate, len) {
                    Room::Now => {}
                    Room::Dropped => return true,
                    Room::Never => return false,
                }
            }
        },
    );
    if r != Some(true) {
        g.counters.lost.fetch_add(1, Ordering::Relaxed);
    }
}

/// This thread's first record: its ring, made and handed to the writer. Out of line, as the
/// other cold paths of [`emit`], which is inlined where records are made.
#[cold]
#[inline(never)]
fn register_into<'s>(slot: &'s mut Option<ThreadRing>, g: &Global) -> Option<&'s mut ThreadRing> {
    Some(slot.insert(register(g)?))
}

/// Wakes the writer when the ring is more than half full as of the consumer's latest release,
/// after the producer's stale estimate said so.
#[cold]
#[inline(never)]
fn wake_if_half_full(g: &Global, p: &mut Producer) {
    if p.used() > p.capacity() / 2 {
        g.wake();
    }
}

/// How long a producer facing a full ring watches it before it sleeps: the writer hands space
/// back every [`RELEASE_EVERY`](ring::RELEASE_EVERY) bytes it reads, a few microseconds apart
/// when it is busy, so most waits end within this without a system call. Longer than those
/// hand-backs because a sleep costs more than its system calls: on a VM, the sleeper's idle
/// CPU halts and its wake-up can take hundreds of microseconds. Saturated back-to-back
/// requests (200,000, one producer) slept 70-143 times per run with 20 µs, 1-7 times with this
/// (a temporary counter), and only one producer spins at a time per spare CPU ([`Spinner`]).
const SPIN: Duration = Duration::from_micros(200);

/// What a producer that found its ring full does next.
enum Room {
    /// There is room now: push again.
    Now,
    /// The record is dropped and counted (drop policy, or the writer's own record).
    Dropped,
    /// The writer has stopped: the record is lost.
    Never,
}

#[cold]
#[inline(never)]
fn wait_for_room(g: &Global, p: &mut Producer, gate: &Gate, len: usize) -> Room {
    if LOCAL.try_with(|l| l.is_writer.get()).unwrap_or(false) {
        // Never block the writer on itself (a record it makes from a panic hook or an
        // observable callback): drop and count it.
        p.count_dropped();
        return Room::Dropped;
    }
    if g.settings.full_policy == FullPolicy::Drop {
        p.count_dropped();
        g.wake();
        return Room::Dropped;
    }
    // Lossless: wait for exactly as long as the writer takes to hand back room. No fixed
    // sleep; see `engine::gate`.
    g.counters.waits.fetch_add(1, Ordering::Relaxed);
    // The writer may be napping: wake it now (it reads rings with a waiting producer first).
    let wake_writer = || {
        g.idle.store(false, Ordering::Relaxed);
        if let Some(t) = g.writer.get() {
            t.unpark();
        }
    };
    wake_writer();
    // Watch the ring for a moment before sleeping, if a CPU is left for it: with more waiting
    // producers than CPUs besides the writer's, each one spinning would take the writer's CPU
    // from it (1,000 threads waiting at once on 2 CPUs: 13-20 s for `scenario burst-threads`'
    // first wave, 5.1-7.7 s with this limit).
    let mut spin = Spinner::enter();
    let start = Instant::now();
    let mut spins = 0u32;
    let mut net = gate::SAFETY_NET;
    loop {
        if !g.writer_running.load(Ordering::Acquire) {
            return Room::Never;
        }
        if spin.is_some() && (spins < 64 || start.elapsed() < SPIN) {
            std::hint::spin_loop();
            spins += 1;
        } else {
            // Once asleep, the writer's wake-up is what ends the wait: no more spinning.
            spin = None;
            let stopped = || !g.writer_running.load(Ordering::SeqCst);
            if !gate.sleep(|| p.has_room(len) || stopped(), net) {
                // Not woken within the safety net: make sure the writer is not napping, and
                // look again later each time (see `gate::SAFETY_NET_MAX`).
                wake_writer();
                net = (net * 2).min(gate::SAFETY_NET_MAX);
            }
        }
        if p.has_room(len) {
            return Room::Now;
        }
    }
}

/// Producers spinning on a full ring now.
static SPINNING: AtomicUsize = AtomicUsize::new(0);

/// A place among the producers allowed to spin on a full ring: one fewer than the CPUs, the
/// writer's CPU left to it (none on one CPU). Given back when dropped.
struct Spinner;

impl Spinner {
    fn enter() -> Option<Spinner> {
        static MAX: OnceLock<usize> = OnceLock::new();
        let max =
            *MAX.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()) - 1);
        if SPINNING.fetch_add(1, Ordering::Relaxed) < max {
            Some(Spinner)
        } else {
            SPINNING.fetch_sub(1, Ordering::Relaxed);
            None
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        SPINNING.fetch_sub(1, Ordering::Relaxed);
    }
}

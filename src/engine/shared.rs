//! The state that the calling threads and the writer thread share: the enabled flag, the
//! settings producers read, the rings handed to the writer, the writer's control block and the
//! engine's own counters.

use crate::engine::gate::Gate;
use crate::engine::record;
use crate::engine::ring::{Buffer, Consumer};
use crate::model::config::{Config, FullPolicy, MIN_RING_CAPACITY, RING_FLOOR, SpanLimits};
use crate::model::level::Level;
use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;

/// Spare ring buffers kept ready for new threads (each maps in 64 KiB).
pub(crate) const SPARE_RINGS: usize = 4;

/// The byte every hot path reads first (Relaxed): [`ON`], clear before init, when disabled and
/// after shutdown, and [`PARENT_BASED`], the sampler's rule, so that a span start reads both in
/// one load.
static FLAGS: AtomicU8 = AtomicU8::new(PARENT_BASED);
/// The bit of [`flags`] set while telemetry is on.
pub(crate) const ON: u8 = 1;
/// The bit of [`flags`] set when the sampler follows the parent's decision (the default).
pub(crate) const PARENT_BASED: u8 = 2;

/// [`ON`] and [`PARENT_BASED`], in one load.
#[inline(always)]
pub(crate) fn flags() -> u8 {
    FLAGS.load(Ordering::Relaxed)
}

/// Turns telemetry on or off (`order` as the caller's protocol needs).
pub(crate) fn set_enabled(on: bool, order: Ordering) {
    if on {
        FLAGS.fetch_or(ON, order);
    } else {
        FLAGS.fetch_and(!ON, order);
    }
}
/// The engine's shared state, set once by `init`.
pub(crate) static GLOBAL: OnceLock<Global> = OnceLock::new();

/// True when telemetry is initialised, enabled and not shut down.
#[inline(always)]
pub fn is_enabled() -> bool {
    flags() & ON != 0
}

/// Settings the calling threads read.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The ring a thread gets while the budget allows.
    pub ring_capacity: usize,
    /// The smallest ring a thread gets (the largest record fits it).
    pub ring_floor: usize,
    /// All rings together, past which threads get smaller rings.
    pub ring_budget: usize,
    pub full_policy: FullPolicy,
    /// Longest attribute value kept (the value length limit).
    pub max_str: usize,
    /// Longest span name, event name, log body or status message kept (a quarter of the ring,
    /// independent of the value length limit).
    pub max_text: usize,
    pub span_limits: SpanLimits,
    /// Attribute values one span sends (`record::span_attr_values`).
    pub span_attr_values: u32,
    pub cardinality_limit: usize,
}

impl Settings {
    /// The settings `cfg` gives.
    pub fn new(cfg: &Config) -> Settings {
        let ring_capacity = cfg.ring_bytes();
        // The smallest ring the budget gives: 64 KiB, or enough for four of the longest
        // values asked for (so that asking for long values keeps them), at most the ring.
        let for_values = cfg.max_value_len.saturating_mul(4).min(ring_capacity);
        let ring_floor = ring_capacity.min(RING_FLOOR.max(for_values.next_power_of_two()));
        Settings {
            ring_capacity,
            ring_floor,
            ring_budget: cfg.ring_budget,
            full_policy: cfg.full_policy,
            // One record may use half the smallest ring; keep room for keys and framing around
            // a long string.
            max_str: cfg.max_value_len.min(ring_floor / 4),
            max_text: ring_floor / 4,
            span_limits: cfg.span_limits,
            span_attr_values: record::span_attr_values(&cfg.span_limits),
            cardinality_limit: cfg.cardinality_limit,
        }
    }

    /// The largest record every thread's ring takes (half the smallest ring, less the frame
    /// header).
    #[inline(always)]
    pub fn max_record(&self) -> usize {
        self.ring_floor / 2 - 8
    }

    /// Whether a record of `len` bytes fits every thread's ring. The first test is against a
    /// constant ([`ALWAYS_FITS`]): where the compiler bounds `len` below it (a call's record
    /// of static keys and fixed-size values, its strings cut at known lengths), the settings are
    /// not read and the test is gone (`log` 139 -> 130 instructions, `span_attrs` 497 -> 485).
    #[inline(always)]
    pub fn fits(&self, len: usize) -> bool {
        len <= ALWAYS_FITS || len <= self.max_record()
    }
}

/// A record this long fits every ring of every configuration: half the smallest ring a
/// configuration makes, less the frame header.
pub(crate) const ALWAYS_FITS: usize = MIN_RING_CAPACITY / 2 - 8;

/// Counters shared by producers and the writer; read them with [`stats`](crate::stats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub written: AtomicU64,
    pub lost: AtomicU64,
    pub write_errors: AtomicU64,
    pub corrupt: AtomicU64,
    /// Records dropped by full rings, summed by the writer at each pass.
    pub dropped: AtomicU64,
    /// Records formatted but not delivered because the sink failed.
    pub unwritten: AtomicU64,
    /// Whether the writer evicts the ring lines it has read, as it decided at start.
    pub evicting: AtomicBool,
    /// Times a producer found its ring full and waited for the writer (block policy).
    pub waits: AtomicU64,
    /// Bytes of rings held by threads (against `Settings::ring_budget`).
    pub ring_bytes: AtomicUsize,
}

#[derive(Debug, Default)]
pub(crate) struct Control {
    pub flush_requested: u64,
    pub flush_done: u64,
    pub shutdown: bool,
    pub writer_exited: bool,
}

pub(crate) struct Global {
    /// Read by every producer on every call: kept on cache lines the writer never writes.
    pub settings: CachePadded<Settings>,
    pub new_rings: Mutex<Vec<RingEntry>>,
    /// The rings the writer held when it stopped. A record that lands in one after the writer's
    /// last drain (a producer that was mid-push at shutdown) is counted as lost by `stats()`.
    pub orphans: Mutex<Vec<RingEntry>>,
    pub writer: OnceLock<Thread>,
    pub writer_running: AtomicBool,
    /// Set by the writer just before it parks, cleared by whoever wakes it. Written tens of
    /// thousands of times a second: on its own cache line, away from `settings`.
    pub idle: CachePadded<AtomicBool>,
    /// Written by the writer on every pass and by producers when they count a loss.
    pub counters: CachePadded<Counters>,
    pub control: Mutex<Control>,
    pub control_cv: Condvar,
    /// Buffers for new threads' rings, made (and mapped in) ahead of need, and recycled from
    /// rings whose thread exited: a thread's first record takes one instead of allocating.
    pub spare_rings: Mutex<Vec<Buffer>>,
}

impl Global {
    /// A global that no writer thread serves, for rendering records in isolation (fuzzing).
    pub(crate) fn detached(settings: Settings) -> Global {
        Global {
            settings: CachePadded::new(settings),
            new_rings: Mutex::new(Vec::new()),
            orphans: Mutex::new(Vec::new()),
            writer: OnceLock::new(),
            writer_running: AtomicBool::new(false),
            idle: CachePadded::new(AtomicBool::new(false)),
            counters: CachePadded::new(Counters::default()),
            control: Mutex::new(Control::default()),
            control_cv: Condvar::new(),
            spare_rings: Mutex::new(Vec::new()),
        }
    }

    /// Makes spare ring buffers (of the configured size) until there are [`SPARE_RINGS`].
    /// Called at init and by the writer after each pass; the allocation is made outside the
    /// lock.
    pub fn refill_spare_rings(&self) {
        while self.spare_rings.lock().len() < SPARE_RINGS {
            let b = Buffer::new(self.settings.ring_capacity);
            self.spare_rings.lock().push(b);
        }
    }

    /// Keeps the buffer of a ring whose thread exited as a spare (its pages past the first
    /// 64 KiB given back), if it has the configured size and spares are wanted; else frees it.
    pub fn recycle_ring(&self, mut buf: Buffer) {
        if buf.capacity() != self.settings.ring_capacity
            || self.spare_rings.lock().len() >= SPARE_RINGS
        {
            return;
        }
        buf.trim();
        let mut spares = self.spare_rings.lock();
        if spares.len() < SPARE_RINGS {
            spares.push(buf);
        }
    }

    /// Wakes the writer if it is parked (one `unpark` per sleep, whoever gets there first).
    #[inline]
    pub fn wake(&self) {
        if self.idle.load(Ordering::Relaxed) && self.idle.swap(false, Ordering::AcqRel) {
            if let Some(t) = self.writer.get() {
                t.unpark();
            }
        }
    }
}

#[inline]
pub(crate) fn global() -> Option<&'static Global> {
    GLOBAL.get()
}

/// A ring as the writer knows it: handed over by its thread on the thread's first record.
pub(crate) struct RingEntry {
    pub consumer: Consumer,
    /// Where the ring's producer waits for room, and the writer wakes it.
    pub gate: Arc<Gate>,
    pub thread_name: String,
    pub thread_index: u32,
    /// The thread's dropped count as last reported in the output.
    pub reported_dropped: u64,
}

impl RingEntry {
    pub fn new(consumer: Consumer, gate: Arc<Gate>, thread_name: &str, thread_index: u32) -> Self {
        RingEntry {
            consumer,
            gate,
            thread_name: thread_name.to_string(),
            thread_index,
            reported_dropped: 0,
        }
    }
}

/// The threshold of a root's decision under the sampler's rule (`Sampler::rule`; whether
/// children follow their parent is [`PARENT_BASED`]). Set by `init`; read by every span start.
static SAMPLE_THRESHOLD: AtomicU64 = AtomicU64::new(0);

/// Installs the sampler's rule.
pub(crate) fn set_sampler(parent_based: bool, threshold: u64) {
    if parent_based {
        FLAGS.fetch_or(PARENT_BASED, Ordering::Relaxed);
    } else {
        FLAGS.fetch_and(!PARENT_BASED, Ordering::Relaxed);
    }
    SAMPLE_THRESHOLD.store(threshold, Ordering::Relaxed);
}

/// Whether a span of trace `trace_id` is sampled, given whether it has a (valid) parent and
/// that parent's decision: the parent's decision under a parent-based sampler, else the trace
/// id's 56 least significant bits against the threshold.
#[inline(always)]
pub(crate) fn sampled(trace_id: u128, has_parent: bool, parent_sampled: bool) -> bool {
    decide(
        trace_id,
        has_parent,
        parent_sampled,
        parent_based(),
        SAMPLE_THRESHOLD.load(Ordering::Relaxed),
    )
}

/// True when the sampler follows the parent's decision (the default).
#[inline(always)]
fn parent_based() -> bool {
    flags() & PARENT_BASED != 0
}

/// The decision of [`sampled`] under a given rule.
#[inline(always)]
fn decide(
    trace_id: u128,
    has_parent: bool,
    parent_sampled: bool,
    parent_based: bool,
    threshold: u64,
) -> bool {
    if has_parent && parent_based {
        parent_sampled
    } else {
        (trace_id as u64 & ((1 << 56) - 1)) >= threshold
    }
}

/// Whether exceptions capture a backtrace (`Config::exception_backtraces`).
static EXCEPTION_BACKTRACES: AtomicBool = AtomicBool::new(false);

/// Sets whether exceptions capture a backtrace.
pub(crate) fn set_exception_backtraces(capture: bool) {
    EXCEPTION_BACKTRACES.store(capture, Ordering::Relaxed);
}

/// True when exceptions capture a backtrace.
pub(crate) fn exception_backtraces() -> bool {
    EXCEPTION_BACKTRACES.load(Ordering::Relaxed)
}

static MIN_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the least severe log level written.
pub(crate) fn set_min_level(level: Level) {
    MIN_LEVEL.store(level as u8, Ordering::Relaxed);
}

/// The least severe log level written.
#[cfg_attr(not(feature = "log"), allow(dead_code))]
pub(crate) fn min_level() -> Level {
    Level::from_severity(MIN_LEVEL.load(Ordering::Relaxed))
}

/// True when a record at `level` would be written: telemetry is running and `level` is at least
/// the configured minimum. Two relaxed loads.
#[inline(always)]
pub fn level_enabled(level: Level) -> bool {
    is_enabled() && level as u8 >= MIN_LEVEL.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::Sampler;

    #[test]
    fn the_smallest_ring_fits_the_longest_values_asked_for() {
        let floor = |cfg: Config| {
            let s = Settings::new(&cfg);
            (s.ring_floor, s.max_str, s.max_text)
        };
        let cfg = || Config::new("s", "1", "t");
        // Defaults: 64 KiB, and values of 16 KiB as before the budget.
        assert_eq!(floor(cfg()), (64 << 10, 16 << 10, 16 << 10));
        // Long values asked for keep their length, given a ring that holds them.
        let long = cfg().ring_capacity(16 << 20).max_value_len(1 << 20);
        assert_eq!(floor(long), (4 << 20, 1 << 20, 1 << 20));
        // Never more than the ring itself.
        let small = cfg().ring_capacity(8 << 10).max_value_len(1 << 20);
        assert_eq!(floor(small), (8 << 10, 2 << 10, 2 << 10));
    }

    #[test]
    fn a_record_of_always_fits_bytes_fits_the_smallest_configuration() {
        for (ring, value) in [
            (0, 0),
            (1, 1),
            (4 << 10, 1 << 20),
            (8 << 10, 1),
            (1 << 20, 64),
        ] {
            let s = Settings::new(
                &Config::new("s", "1", "t")
                    .ring_capacity(ring)
                    .max_value_len(value),
            );
            assert!(s.max_record() >= ALWAYS_FITS, "ring {ring}, value {value}");
            assert!(s.max_text >= crate::engine::record::MIN_MAX_TEXT);
            assert!(s.fits(ALWAYS_FITS) && s.fits(s.max_record()) && !s.fits(s.max_record() + 1));
            // Every thread's ring is at least the floor, so `emit`'s test agrees.
            let (p, _c) = crate::engine::ring::ring(s.ring_floor);
            assert!(p.max_record_len() >= ALWAYS_FITS);
        }
    }

    #[test]
    fn ratio_samplers_sample_their_fraction_and_children_follow_parents() {
        // 100,000 trace ids from a 64-bit generator (splitmix64), the lower half varying.
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let ids: Vec<u128> = (0..100_000)
            .map(|_| ((next() as u128) << 64) | next() as u128)
            .collect();
        for ratio in [0.0, 0.01, 0.1, 0.25, 0.5, 0.9, 1.0] {
            let (pb, t) = Sampler::TraceIdRatio(ratio).rule();
            let n = ids
                .iter()
                .filter(|&&id| decide(id, false, false, pb, t))
                .count();
            let got = n as f64 / ids.len() as f64;
            assert!((got - ratio).abs() <= 0.01, "ratio {ratio}: sampled {got}");
        }
        // The same trace id gets the same decision at every ratio above its own: a trace
        // sampled at 10 % is sampled at 50 %.
        let (_, t10) = Sampler::TraceIdRatio(0.1).rule();
        let (_, t50) = Sampler::TraceIdRatio(0.5).rule();
        for &id in &ids {
            if decide(id, false, false, false, t10) {
                assert!(decide(id, false, false, false, t50));
            }
        }
        // Parent-based: the parent decides, whatever the ratio; not parent-based: the id.
        let (pb, never) = Sampler::ParentBasedAlwaysOff.rule();
        assert!(decide(ids[0], true, true, pb, never));
        assert!(
            !decide(ids[0], false, true, pb, never),
            "a root under always-off"
        );
        let (pb, always) = Sampler::ParentBasedAlwaysOn.rule();
        assert!(!decide(ids[0], true, false, pb, always));
        let (pb, always) = Sampler::AlwaysOn.rule();
        assert!(decide(ids[0], true, false, pb, always));
    }
}

//! A lock-free, high-dynamic-range histogram that many threads record into and the writer reads.
//!
//! Values are bucketed log-linearly straight from their IEEE-754 bits: the exponent picks an
//! octave and the top [`SUB_BITS`] mantissa bits a sub-bucket, so every bucket is at most
//! 2^-7 (0.78 %) wide relative to its value, from 2^-64 (5.4e-20) to 2^64 (1.8e19): nanosecond
//! latencies, byte counts and tiny ratios alike. Values outside that range still count exactly
//! in count, sum, min and max; in the percentiles they fall in the first or last bucket, which
//! report min and max, and they are counted in `Stats::histogram_out_of_range`.
//! Octaves are allocated on first use, so a latency histogram that spans a few decades costs a
//! few KiB.
//! Count, sum, min and max are exact, and so are the counts on OpenTelemetry's default explicit
//! bucket boundaries; percentiles come from the log-linear buckets, clamped to [min, max].
//!
//! Why not the `hdrhistogram` crate: its `Histogram` is not safe to read while another thread
//! records, so per-thread recording would need a lock or a hand-off on the calling thread. This
//! type is the same idea (log-linear buckets with bounded relative error) on atomics.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Mantissa bits used for sub-buckets.
pub const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
const MIN_EXP: i32 = -64;
const OCTAVES: usize = 128;
// `HistAcc::used` has one bit per octave.
const _: () = assert!(OCTAVES <= 128);

/// Positive values recorded outside [2^MIN_EXP, 2^(MIN_EXP + OCTAVES)).
static OUT_OF_RANGE: AtomicU64 = AtomicU64::new(0);

/// Histogram values recorded outside the log-linear buckets' range (see the module docs).
pub fn out_of_range_count() -> u64 {
    OUT_OF_RANGE.load(Ordering::Relaxed)
}

#[cold]
#[inline(never)]
fn out_of_range<T>(bucket: T) -> T {
    OUT_OF_RANGE.fetch_add(1, Ordering::Relaxed);
    bucket
}

/// The scale of [`HistAcc::exponential`]: 2^5 = 32 buckets per power of two, each 2.2 % wide.
pub const EXP_SCALE: i32 = 5;

/// OpenTelemetry's default explicit bucket boundaries.
pub const DEFAULT_BOUNDS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// One shard of a histogram series.
///
/// A shard is written either by the one thread whose slot it is
/// ([`record_owned`](Self::record_owned): plain loads and stores, no read-modify-write) or by
/// any number of threads ([`record`](Self::record): atomic read-modify-writes), never both (see
/// `src/shard.rs`).
pub struct AtomicHistogram {
    // No separate count: it is the sum of the explicit buckets (one atomic add fewer per value).
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
    /// Values <= 0 (not in the log-linear buckets).
    non_positive: AtomicU64,
    explicit: [AtomicU64; DEFAULT_BOUNDS.len() + 1],
    octaves: [OnceLock<Box<[AtomicU64; SUB]>>; OCTAVES],
}

impl std::fmt::Debug for AtomicHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count: u64 = self
            .explicit
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum();
        f.debug_struct("AtomicHistogram")
            .field("count", &count)
            .finish()
    }
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        AtomicHistogram {
            sum: AtomicU64::new(0f64.to_bits()),
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
            non_positive: AtomicU64::new(0),
            explicit: [const { AtomicU64::new(0) }; DEFAULT_BOUNDS.len() + 1],
            octaves: [const { OnceLock::new() }; OCTAVES],
        }
    }
}

#[inline]
fn log_bucket(v: f64) -> (usize, usize) {
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    if exp < MIN_EXP {
        return out_of_range((0, 0));
    }
    let o = (exp - MIN_EXP) as usize;
    if o >= OCTAVES {
        return out_of_range((OCTAVES - 1, SUB - 1));
    }
    (o, ((bits >> (52 - SUB_BITS)) as usize) & (SUB - 1))
}

/// For each log-linear bucket, how many explicit bounds lie below its lower edge.
static BOUNDS_BELOW: [u8; OCTAVES * SUB] = {
    let mut t = [0u8; OCTAVES * SUB];
    let mut o = 0;
    while o < OCTAVES {
        // 2^(o + MIN_EXP), built from its bits (a const context has no powi).
        let base = f64::from_bits(((o as i64 + MIN_EXP as i64 + 1023) as u64) << 52);
        let mut s = 0;
        while s < SUB {
            let lo = base * (1.0 + s as f64 / SUB as f64);
            let mut n = 0;
            while n < DEFAULT_BOUNDS.len() && DEFAULT_BOUNDS[n] < lo {
                n += 1;
            }
            t[o * SUB + s] = n as u8;
            s += 1;
        }
        o += 1;
    }
    t
};

/// The explicit bucket of a positive `v` in log-linear bucket `(o, s)`: the number of bounds
/// below `v`. A log-linear bucket is under 1 % wide and the bounds are further apart, so at most
/// one bound lies between its lower edge and `v`: a table lookup and one comparison, where a
/// binary search over varying values mispredicts about every other step.
#[inline(always)]
fn explicit_bucket(v: f64, o: usize, s: usize) -> usize {
    let below = BOUNDS_BELOW[o * SUB + s] as usize;
    match DEFAULT_BOUNDS.get(below) {
        Some(&b) if b < v => below + 1,
        _ => below,
    }
}

/// The octaves whose bits are set in `used`, in increasing order.
fn octaves(mut used: u128) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if used == 0 {
            return None;
        }
        let o = used.trailing_zeros() as usize;
        used &= used - 1;
        Some(o)
    })
}

/// The middle of a log-linear bucket.
fn bucket_mid(o: usize, s: usize) -> f64 {
    let base = 2f64.powi(o as i32 + MIN_EXP);
    base * (1.0 + (s as f64 + 0.5) / SUB as f64)
}

impl AtomicHistogram {
    /// Records a value; any number of threads may call this at once. Returns false (recording
    /// nothing) for NaN and infinities.
    #[inline]
    pub fn record(&self, v: f64) -> bool {
        self.record_as::<false>(v)
    }

    /// Records a value with plain loads and stores (about three atomic read-modify-writes
    /// cheaper). Only for the shard's one writer (the thread holding its slot): a concurrent
    /// writer would lose counts (never memory safety: every access is atomic).
    #[inline]
    pub fn record_owned(&self, v: f64) -> bool {
        self.record_as::<true>(v)
    }

    #[inline(always)]
    fn record_as<const OWNED: bool>(&self, v: f64) -> bool {
        if !v.is_finite() {
            return false;
        }
        let bump = |c: &AtomicU64| {
            if OWNED {
                // Plain load and store, wrapping: a count cannot reach 2^64.
                c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
            } else {
                c.fetch_add(1, Ordering::Relaxed);
            }
        };
        if OWNED {
            let sum = f64::from_bits(self.sum.load(Ordering::Relaxed)) + v;
            self.sum.store(sum.to_bits(), Ordering::Relaxed);
            if v < f64::from_bits(self.min.load(Ordering::Relaxed)) {
                self.min.store(v.to_bits(), Ordering::Relaxed);
            }
            if v > f64::from_bits(self.max.load(Ordering::Relaxed)) {
                self.max.store(v.to_bits(), Ordering::Relaxed);
            }
        } else {
            let mut cur = self.sum.load(Ordering::Relaxed);
            loop {
                let new = (f64::from_bits(cur) + v).to_bits();
                match self
                    .sum
                    .compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => break,
                    Err(c) => cur = c,
                }
            }
            if v < f64::from_bits(self.min.load(Ordering::Relaxed)) {
                update(&self.min, v, |new, old| new < old);
            }
            if v > f64::from_bits(self.max.load(Ordering::Relaxed)) {
                update(&self.max, v, |new, old| new > old);
            }
        }
        if v > 0.0 {
            let (o, s) = log_bucket(v);
            bump(&self.explicit[explicit_bucket(v, o, s)]);
            let oct = self.octaves[o].get_or_init(|| Box::new([const { AtomicU64::new(0) }; SUB]));
            bump(&oct[s]);
        } else {
            // No bound is below v (the first is 0).
            bump(&self.explicit[0]);
            bump(&self.non_positive);
        }
        true
    }

    /// Adds this shard's counts into `acc`.
    pub fn add_into(&self, acc: &mut HistAcc) {
        acc.sum += f64::from_bits(self.sum.load(Ordering::Relaxed));
        acc.min = acc
            .min
            .min(f64::from_bits(self.min.load(Ordering::Relaxed)));
        acc.max = acc
            .max
            .max(f64::from_bits(self.max.load(Ordering::Relaxed)));
        acc.non_positive += self.non_positive.load(Ordering::Relaxed);
        for (a, e) in acc.explicit.iter_mut().zip(&self.explicit) {
            let c = e.load(Ordering::Relaxed);
            *a += c;
            acc.count += c;
        }
        for (o, oct) in self.octaves.iter().enumerate() {
            if let Some(oct) = oct.get() {
                acc.used |= 1 << o;
                let dst = &mut acc.log[o * SUB..(o + 1) * SUB];
                for (d, c) in dst.iter_mut().zip(oct.iter()) {
                    *d += c.load(Ordering::Relaxed);
                }
            }
        }
    }
}

fn update(cell: &AtomicU64, v: f64, better: impl Fn(f64, f64) -> bool) {
    let mut cur = cell.load(Ordering::Relaxed);
    while better(v, f64::from_bits(cur)) {
        match cell.compare_exchange_weak(cur, v.to_bits(), Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(c) => cur = c,
        }
    }
}

/// A merged view of several shards, owned by the writer and reused between exports.
#[derive(Debug, Clone)]
pub struct HistAcc {
    /// Number of values.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    non_positive: u64,
    /// Counts per explicit bucket (`DEFAULT_BOUNDS.len() + 1`).
    pub explicit: [u64; DEFAULT_BOUNDS.len() + 1],
    log: Vec<u64>,
    /// Bit `o`: octave `o` of `log` may be non-zero (the others are skipped).
    used: u128,
}

impl Default for HistAcc {
    fn default() -> Self {
        HistAcc {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            non_positive: 0,
            explicit: [0; DEFAULT_BOUNDS.len() + 1],
            log: vec![0; OCTAVES * SUB],
            used: 0,
        }
    }
}

impl HistAcc {
    /// Empties the accumulator, keeping its allocation.
    pub fn reset(&mut self) {
        self.count = 0;
        self.sum = 0.0;
        self.min = f64::INFINITY;
        self.max = f64::NEG_INFINITY;
        self.non_positive = 0;
        self.explicit = [0; DEFAULT_BOUNDS.len() + 1];
        for o in octaves(self.used) {
            self.log[o * SUB..(o + 1) * SUB].fill(0);
        }
        self.used = 0;
    }

    /// The counts as an OpenTelemetry exponential histogram of scale [`EXP_SCALE`]: the count
    /// of values <= 0 (as the zero bucket: the engine keeps no distribution of negative
    /// values), the index of the first positive bucket, and the counts from there. Bucket `i`
    /// holds the values in (2^(i / 2^scale), 2^((i+1) / 2^scale)]; each log-linear bucket goes
    /// whole into the exponential bucket of its middle, so a value may land one bucket off, by
    /// at most the log-linear bucket's width (2^-7 relative).
    pub fn exponential(&self, counts: &mut Vec<u64>) -> (u64, i32) {
        counts.clear();
        let mut offset = 0i32;
        let per_octave = f64::from(1u32 << EXP_SCALE);
        for o in octaves(self.used) {
            for s in 0..SUB {
                let c = self.log[o * SUB + s];
                if c == 0 {
                    continue;
                }
                let i = ((bucket_mid(o, s).log2() * per_octave).ceil() as i32) - 1;
                if counts.is_empty() {
                    offset = i;
                }
                let at = (i - offset) as usize;
                if counts.len() <= at {
                    counts.resize(at + 1, 0);
                }
                counts[at] += c;
            }
        }
        (self.non_positive, offset)
    }

    /// The value at quantile `q` (0..=1): the middle of the bucket holding it, clamped to
    /// [min, max]. Values <= 0 count as `min`; the first and last buckets (which also hold
    /// the values outside the range) report `min` and `max`.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = self.non_positive;
        if seen >= rank {
            return self.min;
        }
        let buckets = octaves(self.used).flat_map(|o| o * SUB..(o + 1) * SUB);
        for (i, c) in buckets.map(|i| (i, self.log[i])) {
            seen += c;
            if seen >= rank {
                // min/max and the counts are read without a common snapshot: clamp only when
                // they are consistent (f64::clamp panics if min > max).
                // The first and last buckets also hold the values below and above the range:
                // they report min and max.
                let mid = match i {
                    0 => self.min,
                    i if i == OCTAVES * SUB - 1 => self.max,
                    i => bucket_mid(i / SUB, i % SUB),
                };
                return if self.min <= self.max {
                    mid.clamp(self.min, self.max)
                } else {
                    mid
                };
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_stats_and_bounded_percentile_error() {
        let h = AtomicHistogram::default();
        for i in 1..=10_000 {
            assert!(h.record(i as f64 / 10.0));
        }
        assert!(!h.record(f64::NAN));
        assert!(!h.record(f64::INFINITY));
        let mut acc = HistAcc::default();
        h.add_into(&mut acc);
        assert_eq!(acc.count, 10_000);
        assert_eq!(acc.min, 0.1);
        assert_eq!(acc.max, 1000.0);
        assert!((acc.sum - 5_000_500.0).abs() < 1e-3);
        for (q, want) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0), (0.999, 999.0)] {
            let got = acc.quantile(q);
            assert!((got - want).abs() / want < 0.01, "q{q}: {got} vs {want}");
        }
        assert_eq!(acc.quantile(1.0), 1000.0);
        // Explicit buckets: (-inf,0]=0, (0,5]=50, (5,10]=50, ..., (750,1000]=2500
        assert_eq!(acc.explicit[0], 0);
        assert_eq!(acc.explicit[1], 50);
        assert_eq!(acc.explicit[10], 2500);
        assert_eq!(acc.explicit.iter().sum::<u64>(), 10_000);
    }

    #[test]
    fn percentiles_hold_across_the_whole_range() {
        // Byte counts of 10 GB to 10 TB, nanosecond latencies of minutes, tiny ratios.
        for scale in [1e10, 1e-15, 1e15] {
            let h = AtomicHistogram::default();
            for i in 1..=1000 {
                assert!(h.record(i as f64 * scale));
            }
            let mut acc = HistAcc::default();
            h.add_into(&mut acc);
            for (q, want) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0)] {
                let got = acc.quantile(q);
                let want = want * scale;
                assert!(
                    (got - want).abs() / want < 0.01,
                    "{scale} q{q}: {got} vs {want}"
                );
            }
        }
        let before = out_of_range_count();
        let h = AtomicHistogram::default();
        h.record(1e30);
        h.record(1e-30);
        h.record(1e3);
        assert!(
            out_of_range_count() - before >= 2,
            "counted (other tests may add)"
        );
        let mut acc = HistAcc::default();
        h.add_into(&mut acc);
        assert_eq!((acc.count, acc.min, acc.max), (3, 1e-30, 1e30));
        assert_eq!(acc.quantile(1.0), 1e30, "the last bucket reports max");
        assert_eq!(acc.quantile(0.1), 1e-30, "the first bucket reports min");
    }

    #[test]
    fn exponential_buckets_hold_every_value_within_their_error() {
        let h = AtomicHistogram::default();
        for i in 1..=10_000 {
            h.record(i as f64 / 10.0);
        }
        h.record(0.0);
        h.record(-2.0);
        let mut acc = HistAcc::default();
        h.add_into(&mut acc);
        let mut counts = Vec::new();
        let (zero, offset) = acc.exponential(&mut counts);
        assert_eq!(zero, 2);
        assert_eq!(counts.iter().sum::<u64>() + zero, acc.count);
        // The median from the buckets: the upper bound of the bucket holding rank 5,001.
        let base = 2f64.powf(2f64.powi(-EXP_SCALE));
        let mut seen = zero;
        let mut median = 0.0;
        for (k, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= 5_001 {
                median = base.powi(offset + k as i32 + 1);
                break;
            }
        }
        // Within one bucket (2.2 %) and the log-linear width (0.8 %).
        assert!((median - 500.0).abs() / 500.0 < 0.031, "{median}");
        // 0.1 goes into the bucket whose upper bound is at or just above it.
        assert!(base.powi(offset) < 0.1 * 1.008 && base.powi(offset + 1) >= 0.1 * 0.992);
    }

    #[test]
    fn boundaries_are_inclusive_upper() {
        let h = AtomicHistogram::default();
        h.record(5.0);
        h.record(5.000001);
        h.record(0.0);
        h.record(-3.0);
        h.record(1e9);
        let mut acc = HistAcc::default();
        h.add_into(&mut acc);
        assert_eq!(acc.explicit[0], 2); // 0 and -3
        assert_eq!(acc.explicit[1], 1); // 5
        assert_eq!(acc.explicit[2], 1); // 5.000001
        assert_eq!(acc.explicit[15], 1); // 1e9
        assert_eq!(acc.min, -3.0);
        assert_eq!(acc.quantile(0.1), -3.0);
        assert_eq!(acc.quantile(1.0), 1e9);
    }

    #[test]
    fn owned_and_shared_recording_count_the_same() {
        // (Who may record owned is tested in src/shard.rs.)
        let h = AtomicHistogram::default();
        let shared = AtomicHistogram::default();
        for v in [0.0, -1.0, 0.5, 5.0, 7.0, 1e6] {
            assert!(h.record_owned(v));
            assert!(shared.record(v));
        }
        assert!(!h.record_owned(f64::NAN));
        let (mut a, mut b) = (HistAcc::default(), HistAcc::default());
        h.add_into(&mut a);
        shared.add_into(&mut b);
        assert_eq!((a.count, a.sum, a.min, a.max), (6, 1_000_011.5, -1.0, 1e6));
        assert_eq!(
            (a.count, a.sum, a.min, a.max),
            (b.count, b.sum, b.min, b.max)
        );
        assert_eq!(a.explicit, b.explicit);
        assert_eq!(a.log, b.log);
    }

    #[test]
    fn explicit_buckets_agree_with_a_search() {
        let mut values = vec![1e-30, 1e-9, 0.37, 1e12, 1e300, f64::MIN_POSITIVE];
        for b in DEFAULT_BOUNDS {
            for d in [-2i64, -1, 0, 1, 2] {
                values.push(f64::from_bits((b.to_bits() as i64 + d) as u64));
            }
        }
        values.extend((1..200_000).map(|i| i as f64 * 0.0731));
        for v in values.into_iter().filter(|v| *v > 0.0) {
            let (o, s) = log_bucket(v);
            assert_eq!(
                explicit_bucket(v, o, s),
                DEFAULT_BOUNDS.partition_point(|b| *b < v),
                "{v}"
            );
        }
    }

    #[test]
    fn shards_merge() {
        let a = AtomicHistogram::default();
        let b = AtomicHistogram::default();
        a.record(1.0);
        b.record(3.0);
        let mut acc = HistAcc::default();
        a.add_into(&mut acc);
        b.add_into(&mut acc);
        assert_eq!((acc.count, acc.sum, acc.min, acc.max), (2, 4.0, 1.0, 3.0));
        acc.reset();
        assert_eq!(acc.count, 0);
    }
}

//! A series: one instrument with one attribute set, and the cells its measurements go to.
//! Sums are cells sharded by thread slot, histograms sharded [`AtomicHistogram`]s; the writer
//! sums the shards at export.

use super::fingerprint::{Fp, bytes_eq, same};
use super::histogram::AtomicHistogram;
use super::shard::{self, Shards};
use crate::engine::record::{DValue, MAX_KEY, trunc_len};
use crate::engine::thread::thread_slot;
use crate::model::value::{KeyValue, Value};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Attributes kept per series (OpenTelemetry's default attribute count limit).
pub(crate) const MAX_SERIES_ATTRS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    UpDownCounter,
    Gauge,
    Histogram,
    ObservableGauge,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::UpDownCounter => "up-down counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::ObservableGauge => "observable gauge",
        }
    }
}

/// One attribute set of one instrument, with its cells. Lives for the whole process.
pub(crate) struct Series {
    pub(crate) attrs: &'static [KeyValue<'static>],
    /// Fingerprints of `attrs` when every one has one (see [`Fp`]).
    pub(crate) fps: Option<Box<[Fp]>>,
    /// `attrs` as the writer renders them (the decoded form of a record's attributes).
    pub(crate) view: Box<[(&'static str, DValue<'static>)]>,
    pub(crate) cells: Cells,
    /// Set when a sum is first found at the end of its range: a shard pinned there, or shards
    /// adding up past it (counted once, in `shard::overflow_count`).
    saturated: AtomicBool,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("attrs", &self.attrs)
            .finish()
    }
}

pub(crate) enum Cells {
    /// One shard per thread slot, each written by the thread holding that slot, and a last one
    /// shared by the threads past them (see `src/shard.rs`).
    Sum(Shards<AtomicU64>),
    Gauge {
        bits: AtomicU64,
        set: AtomicBool,
    },
    Histogram(Shards<AtomicHistogram>),
}

static INVALID: AtomicU64 = AtomicU64::new(0);

/// Measurements rejected (NaN or infinite histogram values); see [`Stats`](crate::Stats).
pub fn invalid_count() -> u64 {
    INVALID.load(Ordering::Relaxed)
}

pub(crate) fn shard_count() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(4);
        (cpus * 4).next_power_of_two().clamp(4, 64)
    })
}

fn leak_value(v: &Value<'_>) -> Value<'static> {
    fn s(x: &str) -> &'static str {
        Box::leak(x.to_string().into_boxed_str())
    }
    match *v {
        Value::Str(x) => Value::Str(s(x)),
        Value::Bool(b) => Value::Bool(b),
        Value::I64(i) => Value::I64(i),
        Value::F64(f) => Value::F64(f),
        Value::StrArray(a) => Value::StrArray(Box::leak(
            a.iter()
                .map(|x| s(x))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        )),
        Value::BoolArray(a) => Value::BoolArray(Box::leak(a.to_vec().into_boxed_slice())),
        Value::I64Array(a) => Value::I64Array(Box::leak(a.to_vec().into_boxed_slice())),
        Value::F64Array(a) => Value::F64Array(Box::leak(a.to_vec().into_boxed_slice())),
    }
}

impl Series {
    pub(crate) fn new(kind: Kind, attrs: &[KeyValue<'_>]) -> &'static Series {
        let attrs: Vec<KeyValue<'static>> = attrs
            .iter()
            .map(|kv| KeyValue {
                key: Box::leak(kv.key.to_string().into_boxed_str()),
                value: leak_value(&kv.value),
            })
            .collect();
        let attrs: &'static [KeyValue<'static>] = Box::leak(attrs.into_boxed_slice());
        let view = attrs
            .iter()
            // Keys cut as a record's are (`record::MAX_KEY`); values are kept whole.
            .map(|kv| {
                (
                    &kv.key[..trunc_len(kv.key, MAX_KEY)],
                    DValue::leaked(&kv.value),
                )
            })
            .collect();
        let n = shard_count();
        let cells = match kind {
            Kind::Counter | Kind::UpDownCounter => Cells::Sum(Shards::new(n, || AtomicU64::new(0))),
            Kind::Gauge | Kind::ObservableGauge => Cells::Gauge {
                bits: AtomicU64::new(0),
                set: AtomicBool::new(false),
            },
            // One shard per thread slot below n, each written only by the thread holding the
            // slot, and one more shared by the threads past them (see `src/shard.rs`).
            Kind::Histogram => Cells::Histogram(Shards::new(n, AtomicHistogram::default)),
        };
        let fps = attrs.iter().map(Fp::of).collect::<Option<Box<[Fp]>>>();
        Box::leak(Box::new(Series {
            attrs,
            fps,
            view,
            cells,
            saturated: AtomicBool::new(false),
        }))
    }

    /// True when `attrs` is this series' attribute set: each key names one of the series' keys
    /// with its value, and no two name the same one (a call that repeats a key is a smaller set,
    /// never this one).
    #[inline]
    pub(crate) fn matches(&self, attrs: &[KeyValue<'_>]) -> bool {
        if attrs.len() != self.attrs.len() {
            return false;
        }
        // A series has at most MAX_SERIES_ATTRS (128) keys: one bit for each.
        let mut used = 0u128;
        attrs.iter().enumerate().all(|(i, kv)| {
            // Callers usually pass keys in the same (sorted) order: try that position first.
            let at = &self.attrs[i];
            let j = if bytes_eq(at.key.as_bytes(), kv.key.as_bytes()) {
                Some(i)
            } else {
                self.attrs
                    .iter()
                    .position(|s| bytes_eq(s.key.as_bytes(), kv.key.as_bytes()))
            };
            match j {
                Some(j) if used & (1 << j) == 0 && same(&self.attrs[j].value, &kv.value) => {
                    used |= 1 << j;
                    true
                }
                _ => false,
            }
        })
    }

    #[inline]
    pub(crate) fn add(&'static self, v: u64) {
        self.add_at(thread_slot(), v);
    }

    /// `add` for a caller that already has this thread's slot.
    #[inline]
    pub(crate) fn add_at(&'static self, slot: u32, v: u64) {
        if let Cells::Sum(shards) = &self.cells {
            shard::add(shards, slot, v);
        }
    }

    /// Adds to a signed sum (an up-down counter).
    #[inline]
    pub(crate) fn add_signed(&'static self, v: i64) {
        self.add_signed_at(thread_slot(), v);
    }

    /// `add_signed` for a caller that already has this thread's slot.
    #[inline]
    pub(crate) fn add_signed_at(&'static self, slot: u32, v: i64) {
        if let Cells::Sum(shards) = &self.cells {
            shard::add_signed(shards, slot, v);
        }
    }

    #[inline]
    pub(crate) fn set(&self, v: f64) {
        if let Cells::Gauge { bits, set } = &self.cells {
            bits.store(v.to_bits(), Ordering::Relaxed);
            set.store(true, Ordering::Release);
        }
    }

    #[inline]
    pub(crate) fn record(&'static self, v: f64) {
        self.record_at(thread_slot(), v);
    }

    /// `record` for a caller that already has this thread's slot. Always inlined: as a call
    /// it costs ~15 instructions more per value.
    #[inline(always)]
    pub(crate) fn record_at(&'static self, slot: u32, v: f64) {
        if let Cells::Histogram(shards) = &self.cells {
            let ok = match shards.pick(slot) {
                (h, true) => h.record_owned(v),
                (h, false) => h.record(v),
            };
            if !ok {
                INVALID.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A counter's sum, saturated at `u64::MAX`.
    pub(crate) fn sum(&self) -> u64 {
        let Cells::Sum(shards) = &self.cells else {
            return 0;
        };
        let mut at_end = false;
        let total = shards.iter().fold(0u128, |a, s| {
            let v = s.load(Ordering::Relaxed);
            at_end |= v == u64::MAX;
            a + v as u128
        });
        let total = u64::try_from(total).unwrap_or(u64::MAX);
        self.note_end(at_end || total == u64::MAX);
        total
    }

    /// An up-down counter's sum, saturated at `i64::MIN` and `i64::MAX`.
    pub(crate) fn sum_signed(&self) -> i64 {
        let Cells::Sum(shards) = &self.cells else {
            return 0;
        };
        let mut at_end = false;
        let total = shards.iter().fold(0i128, |a, s| {
            let v = s.load(Ordering::Relaxed) as i64;
            at_end |= v == i64::MAX || v == i64::MIN;
            a + v as i128
        });
        let total = total.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        self.note_end(at_end || total == i64::MAX || total == i64::MIN);
        total
    }

    /// Counts the series the first time its sum is found at the end of its range.
    fn note_end(&self, at_end: bool) {
        if at_end && !self.saturated.swap(true, Ordering::Relaxed) {
            shard::overflowed();
        }
    }
}

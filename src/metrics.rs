//! Metrics: [`Meter`] and its instruments.
//!
//! A *series* is one instrument with one attribute set. Sums live in atomic cells sharded by
//! thread (each shard on its own cache line), histograms in sharded [`AtomicHistogram`]s; the
//! writer sums the shards at export. Finding the series for a per-call attribute set goes through
//! a per-thread cache keyed by an order-independent hash, then a sharded map: no global lock on
//! the hot path. A *bound* handle skips the lookup entirely.
//!
//! Every instrument keeps at most `cardinality_limit` series (2000 by default); measurements for
//! new attribute sets beyond it go to one series with the attribute `otel.metric.overflow=true`.

use crate::global::{self, LOCAL, SERIES_CACHE, is_enabled, thread_slot};
use crate::histogram::{AtomicHistogram, DEFAULT_BOUNDS, HistAcc};
use crate::output::{Attr, HistPoint, Num, PointData, PointView};
use crate::record::{self, Dec, Enc};
use crate::shard;
use crate::value::{KeyValue, Value};
use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    UpDownCounter,
    Gauge,
    Histogram,
    ObservableGauge,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::UpDownCounter => "up-down counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::ObservableGauge => "observable gauge",
        }
    }
}

type Callback = Box<dyn Fn(&mut Observer) + Send + Sync>;

const MAP_SHARDS: usize = 8;

/// Attributes kept per series (OpenTelemetry's default attribute count limit).
const MAX_SERIES_ATTRS: usize = 128;

/// An instrument's registration (opaque).
pub struct Instrument {
    id: u32,
    scope: u32,
    name: String,
    description: String,
    unit: String,
    kind: Kind,
    map: [RwLock<HashMap<u64, Vec<&'static Series>>>; MAP_SHARDS],
    list: Mutex<Vec<&'static Series>>,
    count: AtomicUsize,
    overflow: OnceLock<&'static Series>,
    no_attrs: OnceLock<&'static Series>,
    callback: Option<Callback>,
}

impl std::fmt::Debug for Instrument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrument")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish()
    }
}

/// One attribute set of one instrument, with its cells. Lives for the whole process.
pub struct Series {
    attrs: &'static [KeyValue<'static>],
    /// Fingerprints of `attrs` when every one has one (see [`Fp`]).
    fps: Option<Box<[Fp]>>,
    /// The attributes encoded as a record's kv list, for rendering.
    encoded: Box<[u8]>,
    cells: Cells,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("attrs", &self.attrs)
            .finish()
    }
}

enum Cells {
    /// One shard per thread slot, each written by the thread holding that slot, and a last one
    /// shared by the threads past them (see `src/shard.rs`).
    Sum(Box<[CachePadded<AtomicU64>]>),
    Gauge {
        bits: AtomicU64,
        set: AtomicBool,
    },
    Histogram(Box<[CachePadded<AtomicHistogram>]>),
}

static INSTRUMENTS: RwLock<Vec<&'static Instrument>> = RwLock::new(Vec::new());
static INVALID: AtomicU64 = AtomicU64::new(0);

/// Measurements rejected (NaN or infinite histogram values); see [`Stats`](crate::Stats).
pub(crate) fn invalid_count() -> u64 {
    INVALID.load(Ordering::Relaxed)
}

fn shard_count() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(4);
        (cpus * 4).next_power_of_two().clamp(4, 64)
    })
}

fn cardinality_limit() -> usize {
    global::global()
        .map(|g| g.settings.cardinality_limit)
        .unwrap_or(2000)
}

#[inline(always)]
fn read8(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[inline(always)]
fn read4(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as u64
}

/// The last (up to) 8 bytes of a short tail without a `memcpy` call: overlapping reads, as
/// wyhash does.
#[inline(always)]
fn tail_word(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 8 {
        read8(b, n - 8)
    } else if n >= 4 {
        (read4(b, 0) << 32) | read4(b, n - 4)
    } else if n > 0 {
        ((b[0] as u64) << 16) | ((b[n / 2] as u64) << 8) | b[n - 1] as u64
    } else {
        0
    }
}

/// A fast 64-bit hash of bytes (FxHash-style word mixing with a final avalanche).
#[inline]
fn hash_bytes(b: &[u8], seed: u64) -> u64 {
    fmix(absorb(seed, b))
}

/// Byte equality that avoids a `memcmp` call for the short strings attribute keys and values
/// usually are.
#[inline(always)]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n <= 8 {
        tail_word(a) == tail_word(b)
    } else if n <= 16 {
        read8(a, 0) == read8(b, 0) && read8(a, n - 8) == read8(b, n - 8)
    } else {
        a == b
    }
}

#[inline]
fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

#[inline]
fn hash_value(v: &Value<'_>) -> u64 {
    match *v {
        Value::Str(s) => hash_bytes(s.as_bytes(), 1),
        Value::Bool(b) => fmix(2 + b as u64),
        Value::I64(i) => fmix(3 ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        Value::F64(f) => fmix(4 ^ f.to_bits().wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        Value::StrArray(a) => a
            .iter()
            .fold(5, |h, s| fmix(h ^ hash_bytes(s.as_bytes(), 5))),
        Value::BoolArray(a) => a.iter().fold(6, |h, b| fmix(h ^ (*b as u64 + 1))),
        Value::I64Array(a) => a.iter().fold(7, |h, i| fmix(h ^ *i as u64)),
        Value::F64Array(a) => a.iter().fold(8, |h, f| fmix(h ^ f.to_bits())),
    }
}

/// An exact, fixed-size stand-in for an attribute whose key and value are short: a string of at
/// most 16 bytes is its length and two (overlapping) word reads that cover every byte; numbers
/// and booleans are their bits. Two attributes with fingerprints are equal exactly when their
/// fingerprints are, so the per-thread cache confirms a hit with a few word comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Fp {
    key: [u64; 2],
    val: [u64; 2],
    /// Key length, value length and value type.
    lens: u64,
}

impl Fp {
    /// Most attributes a call may pass for the fingerprint path; more go the general way.
    const MAX: usize = 4;

    #[inline(always)]
    fn words(b: &[u8]) -> Option<[u64; 2]> {
        let n = b.len();
        if n <= 8 {
            Some([tail_word(b), 0])
        } else if n <= 16 {
            Some([read8(b, 0), read8(b, n - 8)])
        } else {
            None
        }
    }

    #[inline(always)]
    fn of(kv: &KeyValue<'_>) -> Option<Fp> {
        let key = Fp::words(kv.key.as_bytes())?;
        let (val, vlen, tag) = match kv.value {
            Value::Str(s) => (Fp::words(s.as_bytes())?, s.len() as u64, 1),
            Value::I64(i) => ([i as u64, 0], 0, 2),
            Value::Bool(b) => ([b as u64, 0], 0, 3),
            Value::F64(f) => ([f.to_bits(), 0], 0, 4),
            _ => return None,
        };
        Some(Fp {
            key,
            val,
            lens: (kv.key.len() as u64) | (vlen << 8) | (tag << 16),
        })
    }

    /// Equal lists, compared without a branch per word; `fresh` are fingerprints the caller has
    /// just stored word by word, and they are read back one word at a time. (Wider reads, which
    /// the compiler otherwise makes, span two of those stores, cannot be forwarded from the
    /// store buffer and wait until the stores reach the cache.)
    #[inline(always)]
    fn same_as_stored(kept: &[Fp], fresh: &[Fp]) -> bool {
        kept.len() == fresh.len()
            && kept.iter().zip(fresh).fold(0, |d, (x, y)| {
                // SAFETY: `y` is a reference to an initialised `Fp`, a struct of `u64`s, so each
                // field read is of a valid, aligned `u64`.
                let w = |p: &u64| unsafe { std::ptr::read_volatile(p) };
                d | (x.key[0] ^ w(&y.key[0]))
                    | (x.key[1] ^ w(&y.key[1]))
                    | (x.val[0] ^ w(&y.val[0]))
                    | (x.val[1] ^ w(&y.val[1]))
                    | (x.lens ^ w(&y.lens))
            }) == 0
    }

    #[inline(always)]
    fn hash(&self) -> u64 {
        // The multiplies of different attributes are independent and run in parallel.
        let a = (self.key[0] ^ self.lens).wrapping_mul(K);
        let b = (self.val[0] ^ self.key[1].rotate_left(31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        a ^ b.rotate_left(29) ^ self.val[1]
    }
}

const K: u64 = 0x517c_c1b7_2722_0a95;

#[inline(always)]
fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(K)
}

/// Feeds `b` (and its length) into the chain `h`, without a final avalanche.
#[inline(always)]
fn absorb(mut h: u64, b: &[u8]) -> u64 {
    h = mix(h, b.len() as u64);
    let mut i = 0;
    while i + 8 < b.len() {
        h = mix(h, read8(b, i));
        i += 8;
    }
    mix(h, tail_word(&b[i..]))
}

/// Order-independent hash of an attribute set: the key of the instrument's series map.
#[inline]
fn hash_attrs(attrs: &[KeyValue<'_>]) -> u64 {
    let mut h = attrs.len() as u64;
    for kv in attrs {
        h = h.wrapping_add(fmix(
            hash_bytes(kv.key.as_bytes(), 0) ^ hash_value(&kv.value).rotate_left(17),
        ));
    }
    h
}

/// Value equality where floats compare by bits (so NaN equals NaN and series stay unique).
#[inline(always)]
fn same(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => bytes_eq(x.as_bytes(), y.as_bytes()),
        (Value::I64(x), Value::I64(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        (Value::F64Array(x), Value::F64Array(y)) => {
            x.len() == y.len() && x.iter().zip(*y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        _ => a == b,
    }
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
    fn new(kind: Kind, attrs: &[KeyValue<'_>]) -> &'static Series {
        let attrs: Vec<KeyValue<'static>> = attrs
            .iter()
            .map(|kv| KeyValue {
                key: Box::leak(kv.key.to_string().into_boxed_str()),
                value: leak_value(&kv.value),
            })
            .collect();
        let attrs: &'static [KeyValue<'static>] = Box::leak(attrs.into_boxed_slice());
        let max = usize::MAX / 4;
        let size = 2 + attrs
            .iter()
            .map(|kv| record::kv_size(kv, max))
            .sum::<usize>();
        let mut encoded = vec![0u8; size];
        Enc::new(&mut encoded, max).kvs(attrs);
        let n = shard_count();
        let cells = match kind {
            Kind::Counter | Kind::UpDownCounter => Cells::Sum(
                (0..n + 1)
                    .map(|_| CachePadded::new(AtomicU64::new(0)))
                    .collect(),
            ),
            Kind::Gauge | Kind::ObservableGauge => Cells::Gauge {
                bits: AtomicU64::new(0),
                set: AtomicBool::new(false),
            },
            // One shard per thread slot below n, each written only by the thread holding the
            // slot, and one more shared by the threads past them (see `src/shard.rs`).
            Kind::Histogram => Cells::Histogram(
                (0..n + 1)
                    .map(|_| CachePadded::new(AtomicHistogram::default()))
                    .collect(),
            ),
        };
        let fps = attrs.iter().map(Fp::of).collect::<Option<Box<[Fp]>>>();
        Box::leak(Box::new(Series {
            attrs,
            fps,
            encoded: encoded.into_boxed_slice(),
            cells,
        }))
    }

    /// True when `attrs` is this series' attribute set: each key names one of the series' keys
    /// with its value, and no two name the same one (a call that repeats a key is a smaller set,
    /// never this one).
    #[inline]
    fn matches(&self, attrs: &[KeyValue<'_>]) -> bool {
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
    fn add(&'static self, v: u64) {
        self.add_at(thread_slot(), v);
    }

    /// `add` for a caller that already has this thread's slot.
    #[inline]
    fn add_at(&'static self, slot: u32, v: u64) {
        if let Cells::Sum(shards) = &self.cells {
            shard::add(shards, slot, v);
        }
    }

    #[inline]
    fn set(&self, v: f64) {
        if let Cells::Gauge { bits, set } = &self.cells {
            bits.store(v.to_bits(), Ordering::Relaxed);
            set.store(true, Ordering::Release);
        }
    }

    #[inline]
    fn record(&'static self, v: f64) {
        self.record_at(thread_slot(), v);
    }

    /// `record` for a caller that already has this thread's slot.
    #[inline]
    fn record_at(&'static self, slot: u32, v: f64) {
        if let Cells::Histogram(shards) = &self.cells {
            let ok = match shard::pick(shards, slot) {
                (h, true) => h.record_owned(v),
                (h, false) => h.record(v),
            };
            if !ok {
                INVALID.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn sum(&self) -> u64 {
        match &self.cells {
            Cells::Sum(shards) => shards
                .iter()
                .fold(0u64, |a, s| a.wrapping_add(s.load(Ordering::Relaxed))),
            _ => 0,
        }
    }
}

impl Instrument {
    fn no_attrs(&'static self) -> &'static Series {
        self.no_attrs.get_or_init(|| self.lookup_global(&[]))
    }

    #[inline]
    fn series(&'static self, attrs: &[KeyValue<'_>]) -> &'static Series {
        self.series_for(attrs).0
    }

    /// The series of `attrs`, and this thread's shard slot.
    ///
    /// The fingerprints and their hash are computed here, inlined into the caller: when the
    /// attributes are literals, as they usually are, the compiler folds them into constants and
    /// the call no longer waits on a chain of multiplies before it can look in the cache. The
    /// per-thread cache is then probed out of line ([`Instrument::probe`]), so each call site
    /// stays small.
    #[inline(always)]
    fn series_for(&'static self, attrs: &[KeyValue<'_>]) -> (&'static Series, u32) {
        if attrs.is_empty() {
            let s = match self.no_attrs.get() {
                Some(s) => s,
                None => self.no_attrs(),
            };
            return (s, thread_slot());
        }
        // Short attribute lists of short strings, numbers and booleans (the usual kind):
        // fingerprint once, hash the fingerprints, and confirm a cache hit by comparing them.
        let mut fps = [Fp::default(); Fp::MAX];
        let mut fast = attrs.len() <= Fp::MAX;
        let mut h = attrs.len() as u64;
        if fast {
            for (f, kv) in fps.iter_mut().zip(attrs) {
                match Fp::of(kv) {
                    Some(x) => {
                        *f = x;
                        h = h.wrapping_add(x.hash());
                    }
                    None => {
                        fast = false;
                        break;
                    }
                }
            }
        }
        if fast {
            self.probe(attrs, fmix(h), Some(&fps[..attrs.len()]))
        } else {
            self.probe(attrs, hash_attrs(attrs), None)
        }
    }

    /// [`Instrument::series_for`] once the hash `h` of `attrs` (and their fingerprints `fps`,
    /// when every one has one) is known: the per-thread cache, else the instrument's map.
    #[inline(never)]
    fn probe(
        &'static self,
        attrs: &[KeyValue<'_>],
        h: u64,
        fps: Option<&[Fp]>,
    ) -> (&'static Series, u32) {
        let slot = ((h ^ (self.id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) >> 58) as usize
            & (SERIES_CACHE - 1);
        LOCAL
            .try_with(|l| {
                let cell = &l.series_cache[slot];
                let e = cell.get();
                if e.instrument == self.id && e.hash == h {
                    if let Some(s) = e.series {
                        let same = match (&s.fps, fps) {
                            (Some(sf), Some(fps)) => {
                                Fp::same_as_stored(sf, fps) || s.matches(attrs)
                            }
                            _ => s.matches(attrs),
                        };
                        if same {
                            return (s, thread_slot());
                        }
                    }
                }
                let s = self.lookup_global(attrs);
                cell.set(global::CacheEntry {
                    instrument: self.id,
                    hash: h,
                    series: Some(s),
                });
                (s, thread_slot())
            })
            .unwrap_or_else(|_| (self.lookup_global(attrs), shard::NO_SLOT))
    }

    fn find(&self, h: u64, attrs: &[KeyValue<'_>]) -> Option<&'static Series> {
        self.map[h as usize % MAP_SHARDS]
            .read()
            .get(&h)
            .and_then(|v| v.iter().copied().find(|s| s.matches(attrs)))
    }

    #[cold]
    fn lookup_global(&'static self, attrs: &[KeyValue<'_>]) -> &'static Series {
        // Normalise: the last value of a repeated key wins; keys sorted.
        let mut norm: Vec<KeyValue<'_>> = Vec::with_capacity(attrs.len());
        for kv in attrs {
            match norm.iter_mut().find(|n| n.key == kv.key) {
                Some(n) => n.value = kv.value,
                None => norm.push(*kv),
            }
        }
        norm.sort_by(|a, b| a.key.cmp(b.key));
        // OpenTelemetry's attribute count limit (and the u16 count of the encoding).
        norm.truncate(MAX_SERIES_ATTRS);
        let hn = hash_attrs(&norm);
        if let Some(s) = self.find(hn, &norm) {
            return s;
        }
        let mut map = self.map[hn as usize % MAP_SHARDS].write();
        if let Some(s) = map
            .get(&hn)
            .and_then(|v| v.iter().copied().find(|s| s.matches(&norm)))
        {
            return s;
        }
        if self.count.load(Ordering::Relaxed) + 1 >= cardinality_limit() && !norm.is_empty() {
            drop(map);
            return self.overflow();
        }
        let s = Series::new(self.kind, &norm);
        map.entry(hn).or_default().push(s);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.list.lock().push(s);
        s
    }

    fn overflow(&'static self) -> &'static Series {
        self.overflow.get_or_init(|| {
            let s = Series::new(self.kind, &[KeyValue::new("otel.metric.overflow", true)]);
            self.count.fetch_add(1, Ordering::Relaxed);
            self.list.lock().push(s);
            s
        })
    }
}

/// Creates instruments for one instrumentation scope.
///
/// ```
/// use mini_telemetry::KeyValue;
/// let meter = mini_telemetry::meter("mon.module");
/// let counter = meter.counter("requêtes").with_description("Nombre de requêtes traitées").with_unit("1").build();
/// counter.add(1, &[KeyValue::new("endpoint", "/api"), KeyValue::new("méthode", "GET")]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    scope: u32,
}

/// A meter for `scope`.
pub fn meter(scope: &str) -> Meter {
    Meter {
        scope: global::scope_id(scope),
    }
}

/// Builds an instrument: name, then optional description and unit.
#[must_use]
pub struct InstrumentBuilder<T> {
    scope: u32,
    name: String,
    description: String,
    unit: String,
    kind: Kind,
    callback: Option<Callback>,
    _t: PhantomData<T>,
}

impl<T> std::fmt::Debug for InstrumentBuilder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstrumentBuilder")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Meter {
    fn builder<T>(&self, name: &str, kind: Kind) -> InstrumentBuilder<T> {
        InstrumentBuilder {
            scope: self.scope,
            name: name.to_string(),
            description: String::new(),
            unit: String::new(),
            kind,
            callback: None,
            _t: PhantomData,
        }
    }

    /// A monotonic counter of `u64` increments.
    pub fn counter(&self, name: &str) -> InstrumentBuilder<Counter> {
        self.builder(name, Kind::Counter)
    }

    /// A counter that goes up and down (`i64`).
    pub fn up_down_counter(&self, name: &str) -> InstrumentBuilder<UpDownCounter> {
        self.builder(name, Kind::UpDownCounter)
    }

    /// A gauge: the last value set wins.
    pub fn gauge(&self, name: &str) -> InstrumentBuilder<Gauge> {
        self.builder(name, Kind::Gauge)
    }

    /// A histogram of `f64` values.
    pub fn histogram(&self, name: &str) -> InstrumentBuilder<Histogram> {
        self.builder(name, Kind::Histogram)
    }

    /// A gauge whose `callback` runs on the writer thread at each export.
    ///
    /// ```
    /// let meter = mini_telemetry::meter("système");
    /// meter.observable_gauge("mémoire.utilisée", |obs| obs.observe(42.0, &[])).with_unit("By").build();
    /// ```
    pub fn observable_gauge(
        &self,
        name: &str,
        callback: impl Fn(&mut Observer) + Send + Sync + 'static,
    ) -> InstrumentBuilder<ObservableGauge> {
        let mut b = self.builder(name, Kind::ObservableGauge);
        b.callback = Some(Box::new(callback));
        b
    }
}

fn conformant_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 255
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/'))
}

impl<T: From<&'static Instrument>> InstrumentBuilder<T> {
    /// A human-readable description.
    pub fn with_description(mut self, description: &str) -> Self {
        self.description = description.to_string();
        self
    }

    /// The unit (UCUM, e.g. `ms`, `By`, `1`).
    pub fn with_unit(mut self, unit: &str) -> Self {
        self.unit = unit.to_string();
        self
    }

    /// Registers the instrument (or returns the existing one with the same scope, name and
    /// kind). Names outside OpenTelemetry's syntax (such as `requêtes`) are accepted, with a
    /// one-time warning on stderr; so is a name already used by an instrument of another kind.
    pub fn build(self) -> T {
        let mut list = INSTRUMENTS.write();
        if let Some(i) = list.iter().find(|i| {
            i.scope == self.scope
                && i.name == self.name
                && i.kind == self.kind
                && self.callback.is_none()
        }) {
            return T::from(i);
        }
        if !conformant_name(&self.name) {
            eprintln!(
                "mini-telemetry: instrument name {:?} is not OpenTelemetry-conformant (ASCII letter first, then [A-Za-z0-9_.-/], at most 255); accepted as is",
                self.name
            );
        }
        if let Some(other) = list
            .iter()
            .find(|i| i.scope == self.scope && i.name == self.name && i.kind != self.kind)
        {
            eprintln!(
                "mini-telemetry: instrument {:?} registered as a {} and as a {}; both are exported",
                self.name,
                other.kind.name(),
                self.kind.name()
            );
        }
        let inst: &'static Instrument = Box::leak(Box::new(Instrument {
            id: list.len() as u32,
            scope: self.scope,
            name: self.name,
            description: self.description,
            unit: self.unit,
            kind: self.kind,
            map: std::array::from_fn(|_| RwLock::new(HashMap::new())),
            list: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            overflow: OnceLock::new(),
            no_attrs: OnceLock::new(),
            callback: self.callback,
        }));
        list.push(inst);
        T::from(inst)
    }
}

macro_rules! instrument_handle {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy)]
        pub struct $name {
            inst: &'static Instrument,
        }
        impl From<&'static Instrument> for $name {
            fn from(inst: &'static Instrument) -> Self {
                $name { inst }
            }
        }
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).field("name", &self.inst.name).finish()
            }
        }
    };
}

instrument_handle!(
    /// A monotonic counter.
    Counter
);
instrument_handle!(
    /// A counter that can go down.
    UpDownCounter
);
instrument_handle!(
    /// A gauge (last value wins).
    Gauge
);
instrument_handle!(
    /// A histogram.
    Histogram
);
instrument_handle!(
    /// A gauge observed by a callback at export; keep the handle or drop it, the callback stays
    /// registered.
    ObservableGauge
);

/// The metric macros' body: the call, behind the enabled check.
#[doc(hidden)]
#[macro_export]
macro_rules! __metric_call {
    ($instrument:expr, $method:ident, $value:expr $(, $k:tt = $v:expr)*) => {
        if $crate::is_enabled() {
            $instrument.$method(
                $value,
                &[$($crate::KeyValue::new($crate::__key!($k), $v)),*],
            );
        }
    };
}

/// Adds to a [`Counter`] or an [`UpDownCounter`] with per-call attributes, after checking that
/// telemetry is enabled: when it is not, nothing in the call is evaluated, neither the value
/// nor the attributes nor the instrument expression (a relaxed load and a branch, under 0.6 ns).
/// `counter.add(v, &[...])` builds its attribute array before the call, enabled or not: ~1.4 ns
/// with two attributes here. Keys are identifiers or string literals, as in
/// [`info!`](crate::info). For instruments, not [`Bound`] handles (call `bound.add(v)`).
///
/// ```
/// let orders = mini_telemetry::meter("shop").counter("orders").build();
/// mini_telemetry::add!(orders, 1, region = "eu", "http.route" = "/api");
/// ```
#[macro_export]
macro_rules! add {
    ($instrument:expr, $value:expr $(, $k:tt = $v:expr)* $(,)?) => {
        $crate::__metric_call!($instrument, add, $value $(, $k = $v)*)
    };
}

/// Records a value in a [`Histogram`] with per-call attributes, after checking that telemetry is
/// enabled (see [`add!`](crate::add)).
///
/// ```
/// let latency = mini_telemetry::meter("shop").histogram("latency").with_unit("ms").build();
/// mini_telemetry::record!(latency, 12.5, endpoint = "/api");
/// ```
#[macro_export]
macro_rules! record {
    ($instrument:expr, $value:expr $(, $k:tt = $v:expr)* $(,)?) => {
        $crate::__metric_call!($instrument, record, $value $(, $k = $v)*)
    };
}

/// Sets a [`Gauge`] with per-call attributes, after checking that telemetry is enabled (see
/// [`add!`](crate::add)).
///
/// ```
/// let temp = mini_telemetry::meter("room").gauge("temperature").build();
/// mini_telemetry::set!(temp, 21.5, room = "kitchen");
/// ```
#[macro_export]
macro_rules! set {
    ($instrument:expr, $value:expr $(, $k:tt = $v:expr)* $(,)?) => {
        $crate::__metric_call!($instrument, set, $value $(, $k = $v)*)
    };
}

/// A handle with its attributes fixed: the cheapest way to record.
///
/// ```
/// use mini_telemetry::KeyValue;
/// let hits = mini_telemetry::meter("cache").counter("cache.hits").build().bind(&[KeyValue::new("tier", "l1")]);
/// hits.add(1);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Bound<T> {
    series: &'static Series,
    _t: PhantomData<T>,
}

impl Counter {
    /// Adds `value` to the series for `attrs`.
    #[inline(always)]
    pub fn add(&self, value: u64, attrs: &[KeyValue<'_>]) {
        if !is_enabled() {
            return;
        }
        let (s, slot) = self.inst.series_for(attrs);
        s.add_at(slot, value);
    }

    /// A bound handle for `attrs`.
    pub fn bind(&self, attrs: &[KeyValue<'_>]) -> Bound<Counter> {
        Bound {
            series: self.inst.series(attrs),
            _t: PhantomData,
        }
    }
}

impl Bound<Counter> {
    /// Adds `value`.
    #[inline]
    pub fn add(&self, value: u64) {
        if is_enabled() {
            self.series.add(value);
        }
    }
}

impl UpDownCounter {
    /// Adds `value` (may be negative).
    #[inline(always)]
    pub fn add(&self, value: i64, attrs: &[KeyValue<'_>]) {
        if !is_enabled() {
            return;
        }
        let (s, slot) = self.inst.series_for(attrs);
        s.add_at(slot, value as u64);
    }

    /// A bound handle for `attrs`.
    pub fn bind(&self, attrs: &[KeyValue<'_>]) -> Bound<UpDownCounter> {
        Bound {
            series: self.inst.series(attrs),
            _t: PhantomData,
        }
    }
}

impl Bound<UpDownCounter> {
    /// Adds `value` (may be negative).
    #[inline]
    pub fn add(&self, value: i64) {
        if is_enabled() {
            self.series.add(value as u64);
        }
    }
}

impl Gauge {
    /// Sets the value for `attrs`.
    #[inline]
    pub fn set(&self, value: f64, attrs: &[KeyValue<'_>]) {
        if !is_enabled() {
            return;
        }
        self.inst.series(attrs).set(value);
    }

    /// A bound handle for `attrs`.
    pub fn bind(&self, attrs: &[KeyValue<'_>]) -> Bound<Gauge> {
        Bound {
            series: self.inst.series(attrs),
            _t: PhantomData,
        }
    }
}

impl Bound<Gauge> {
    /// Sets the value.
    #[inline]
    pub fn set(&self, value: f64) {
        if is_enabled() {
            self.series.set(value);
        }
    }
}

impl Histogram {
    /// Records `value` for `attrs`. NaN and infinities are not recorded; they are counted in
    /// [`Stats::invalid_measurements`](crate::Stats).
    // Left to the compiler: always inlined, the histogram's record made the request scenario's
    // p50 170 -> 180-190 ns, with no gain on the call itself.
    #[inline]
    pub fn record(&self, value: f64, attrs: &[KeyValue<'_>]) {
        if !is_enabled() {
            return;
        }
        let (s, slot) = self.inst.series_for(attrs);
        s.record_at(slot, value);
    }

    /// A bound handle for `attrs`.
    pub fn bind(&self, attrs: &[KeyValue<'_>]) -> Bound<Histogram> {
        Bound {
            series: self.inst.series(attrs),
            _t: PhantomData,
        }
    }
}

impl Bound<Histogram> {
    /// Records `value`.
    #[inline]
    pub fn record(&self, value: f64) {
        if is_enabled() {
            self.series.record(value);
        }
    }
}

/// Collects the values an observable gauge's callback reports.
#[derive(Debug, Default)]
pub struct Observer {
    /// (value, encoded attributes)
    points: Vec<(f64, Vec<u8>)>,
}

impl Observer {
    /// Reports one value with its attributes.
    pub fn observe(&mut self, value: f64, attrs: &[KeyValue<'_>]) {
        let max = 16 * 1024;
        let size = 2 + attrs
            .iter()
            .take(128)
            .map(|kv| record::kv_size(kv, max))
            .sum::<usize>();
        let mut enc = vec![0u8; size];
        Enc::new(&mut enc, max).kvs(&attrs[..attrs.len().min(128)]);
        self.points.push((value, enc));
    }
}

fn decode_attrs<'a>(bytes: &'a [u8], into: &mut Vec<Attr<'a>>) -> Result<(), record::Corrupt> {
    let mut d = Dec::new(bytes);
    let n = d.u16()?;
    for _ in 0..n {
        into.push(d.kv()?);
    }
    Ok(())
}

/// Calls `emit` with every metric point (cumulative since `start`), running observable
/// callbacks. Writer thread only.
pub(crate) fn export(
    start: u64,
    now: u64,
    acc: &mut HistAcc,
    emit: &mut dyn FnMut(&PointView<'_>),
) {
    let instruments: Vec<&'static Instrument> = INSTRUMENTS.read().clone();
    let mut attrs: Vec<Attr<'_>> = Vec::new();
    let mut hp = HistPoint {
        bounds: &DEFAULT_BOUNDS,
        ..HistPoint::default()
    };
    for inst in instruments {
        let point =
            |attrs: &[Attr<'_>], data: PointData<'_>, emit: &mut dyn FnMut(&PointView<'_>)| {
                emit(&PointView {
                    scope: inst.scope,
                    name: &inst.name,
                    description: &inst.description,
                    unit: &inst.unit,
                    start,
                    time: now,
                    attrs,
                    data,
                })
            };
        if let Some(cb) = &inst.callback {
            let mut obs = Observer::default();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&mut obs)));
            if r.is_err() {
                eprintln!(
                    "mini-telemetry: the callback of observable gauge {:?} panicked",
                    inst.name
                );
            }
            for (v, enc) in &obs.points {
                let mut attrs = Vec::new();
                if decode_attrs(enc, &mut attrs).is_ok() {
                    point(&attrs, PointData::Gauge(Num::F(*v)), emit);
                }
            }
            continue;
        }
        let series: Vec<&'static Series> = inst.list.lock().clone();
        for s in series {
            attrs.clear();
            if decode_attrs(&s.encoded, &mut attrs).is_err() {
                continue;
            }
            match (&s.cells, inst.kind) {
                (Cells::Sum(_), Kind::Counter) => point(
                    &attrs,
                    PointData::Sum {
                        monotonic: true,
                        value: Num::U(s.sum()),
                    },
                    emit,
                ),
                (Cells::Sum(_), _) => point(
                    &attrs,
                    PointData::Sum {
                        monotonic: false,
                        value: Num::I(s.sum() as i64),
                    },
                    emit,
                ),
                (Cells::Gauge { bits, set }, _) => {
                    if set.load(Ordering::Acquire) {
                        point(
                            &attrs,
                            PointData::Gauge(Num::F(f64::from_bits(bits.load(Ordering::Relaxed)))),
                            emit,
                        );
                    }
                }
                (Cells::Histogram(shards), _) => {
                    acc.reset();
                    for sh in shards.iter() {
                        sh.add_into(acc);
                    }
                    hp.count = acc.count;
                    hp.sum = acc.sum;
                    hp.min = acc.min;
                    hp.max = acc.max;
                    hp.percentiles = [
                        acc.quantile(0.5),
                        acc.quantile(0.9),
                        acc.quantile(0.99),
                        acc.quantile(0.999),
                    ];
                    hp.bucket_counts.clear();
                    hp.bucket_counts.extend_from_slice(&acc.explicit);
                    point(&attrs, PointData::Histogram(&hp), emit);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_hash_and_compare_every_length() {
        let data: Vec<u8> = (0u8..40).collect();
        for n in 0..40 {
            let a = &data[..n];
            let mut b = a.to_vec();
            assert!(bytes_eq(a, &b));
            assert_eq!(hash_bytes(a, 0), hash_bytes(&b, 0));
            for i in 0..n {
                b[i] ^= 1;
                assert!(!bytes_eq(a, &b), "len {n} byte {i}");
                assert_ne!(hash_bytes(a, 0), hash_bytes(&b, 0), "len {n} byte {i}");
                b[i] ^= 1;
            }
        }
        assert!(!bytes_eq(b"ab", b"abc"));
    }

    #[test]
    fn fingerprints_are_exact() {
        let data: Vec<u8> = (b'a'..=b'z').collect();
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        for n in 0..=20 {
            let a = text(&data[..n]);
            let fa = Fp::of(&KeyValue::new(&a, a.as_str()));
            assert_eq!(fa.is_some(), n <= 16, "len {n}");
            let Some(fa) = fa else { continue };
            assert_eq!(
                Some(fa),
                Fp::of(&KeyValue::new(&a.clone(), a.clone().as_str()))
            );
            for i in 0..n {
                let mut b = data[..n].to_vec();
                b[i] = b'A';
                let b = text(&b);
                assert_ne!(
                    Some(fa),
                    Fp::of(&KeyValue::new(&b, a.as_str())),
                    "key {n} {i}"
                );
                assert_ne!(
                    Some(fa),
                    Fp::of(&KeyValue::new(&a, b.as_str())),
                    "value {n} {i}"
                );
            }
            // One byte more or less, or a NUL appended, is another string.
            let longer = format!("{a}\0");
            assert_ne!(Some(fa), Fp::of(&KeyValue::new(&longer, a.as_str())));
        }
        let kinds = [
            Fp::of(&KeyValue::new("k", 1i64)),
            Fp::of(&KeyValue::new("k", true)),
            Fp::of(&KeyValue::new("k", f64::from_bits(1))),
            Fp::of(&KeyValue::new("k", "\u{1}")),
        ];
        for (i, a) in kinds.iter().enumerate() {
            for b in &kinds[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn fingerprint_lists_compare_every_word_and_the_length() {
        let fp = |k: &str, v: &str| Fp::of(&KeyValue::new(k, v)).unwrap();
        let a = [fp("route", "/api/users"), fp("method", "GET")];
        assert!(Fp::same_as_stored(&a, &a.clone()));
        assert!(!Fp::same_as_stored(&a, &a[..1]));
        assert!(!Fp::same_as_stored(&a[..1], &a));
        // One word differs at a time: each field of each fingerprint counts.
        for i in 0..a.len() {
            for w in 0..5 {
                let mut b = a;
                match w {
                    0 => b[i].key[0] ^= 1,
                    1 => b[i].key[1] ^= 1,
                    2 => b[i].val[0] ^= 1,
                    3 => b[i].val[1] ^= 1,
                    _ => b[i].lens ^= 1,
                }
                assert!(!Fp::same_as_stored(&a, &b), "fingerprint {i}, word {w}");
            }
        }
    }

    #[test]
    fn a_repeated_key_never_matches_a_larger_set() {
        let s = Series::new(
            Kind::Counter,
            &[KeyValue::new("a", "p"), KeyValue::new("b", "q")],
        );
        assert!(s.matches(&[KeyValue::new("b", "q"), KeyValue::new("a", "p")]));
        assert!(!s.matches(&[KeyValue::new("a", "p"), KeyValue::new("a", "p")]));
        assert!(!s.matches(&[KeyValue::new("a", "p"), KeyValue::new("b", "x")]));
        // Through the cache, with a value crafted so that the two lists hash alike (found by a
        // reviewer): the second call must get a series of its own.
        let m = meter("test.metrics.repeat");
        let c = m.counter("unit.repeat").build();
        let crafted = "21434400dK_Qq|ye";
        let one = c
            .inst
            .series(&[KeyValue::new("a", "p"), KeyValue::new("b", crafted)]);
        let two = c
            .inst
            .series(&[KeyValue::new("a", "p"), KeyValue::new("a", "p")]);
        assert!(!std::ptr::eq(one, two));
        assert_eq!(two.attrs, &[KeyValue::new("a", "p")][..]);
    }

    #[test]
    fn cached_lookups_never_return_another_series() {
        let m = meter("test.metrics.cache");
        let c = m.counter("unit.cache").build();
        let keys = [
            "a",
            "b",
            "route",
            "http.status_code",
            "a_key_longer_than_16",
        ];
        for round in 0..3 {
            for (i, k) in keys.iter().enumerate() {
                for v in 0..40i64 {
                    let sv = format!("v{v}");
                    let attrs = [KeyValue::new(k, v), KeyValue::new("s", sv.as_str())];
                    let s = c.inst.series(&attrs);
                    let mut want = attrs.to_vec();
                    want.sort_by(|a, b| a.key.cmp(b.key));
                    assert_eq!(s.attrs, &want[..], "round {round} key {i} v {v}");
                }
            }
        }
    }

    #[test]
    fn sums_and_histograms_are_exact_through_thread_churn() {
        // Waves of threads (more than the shards, so some share) each take a slot on their
        // first measurement and give it back at exit, when the next wave picks it up: every
        // add must land exactly once whichever shard it went to. Joined one by one: a scope's
        // implicit join may return before the threads' thread-local destructors have run (and
        // given their slots back), a handle's `join` waits for them.
        let m = meter("test.metrics.churn");
        let c = m.counter("unit.churn").build().bind(&[]);
        let h = m.histogram("unit.churn.h").build().bind(&[]);
        let threads = shard_count() + 3;
        let per = if cfg!(miri) { 20 } else { 1000u64 };
        for _wave in 0..4 {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    std::thread::spawn(move || {
                        for i in 1..=per {
                            c.series.add(i);
                            h.series.record(i as f64);
                        }
                    })
                })
                .collect();
            for t in handles {
                t.join().unwrap();
            }
        }
        let n = (4 * threads) as u64;
        let sum = per * (per + 1) / 2;
        assert_eq!(c.series.sum(), n * sum);
        let Cells::Histogram(shards) = &h.series.cells else {
            unreachable!()
        };
        let mut acc = HistAcc::default();
        for sh in shards.iter() {
            sh.add_into(&mut acc);
        }
        assert_eq!((acc.count, acc.sum), (n * per, (n * sum) as f64));
    }

    #[test]
    fn attribute_hash_ignores_order() {
        let a = [KeyValue::new("a", 1), KeyValue::new("b", "x")];
        let b = [KeyValue::new("b", "x"), KeyValue::new("a", 1)];
        assert_eq!(hash_attrs(&a), hash_attrs(&b));
        assert_ne!(
            hash_attrs(&a),
            hash_attrs(&[KeyValue::new("a", 2), KeyValue::new("b", "x")])
        );
    }

    #[test]
    fn series_lookup_normalises_and_limits() {
        let m = meter("test.metrics");
        let c = m.counter("unit.counter").build();
        let s1 = c
            .inst
            .series(&[KeyValue::new("a", 1), KeyValue::new("b", 2)]);
        let s2 = c
            .inst
            .series(&[KeyValue::new("b", 2), KeyValue::new("a", 1)]);
        assert!(std::ptr::eq(s1, s2));
        // A repeated key: last wins, same series as the normalised set.
        let s3 = c.inst.series(&[
            KeyValue::new("a", 9),
            KeyValue::new("b", 2),
            KeyValue::new("a", 1),
        ]);
        assert!(std::ptr::eq(s1, s3));
        // NaN attributes still find their series.
        let n1 = c.inst.series(&[KeyValue::new("f", f64::NAN)]);
        let n2 = c.inst.series(&[KeyValue::new("f", f64::NAN)]);
        assert!(std::ptr::eq(n1, n2));
        // Cardinality: default 2000 including the overflow series.
        for i in 0..3000 {
            c.inst.series(&[KeyValue::new("i", i)]);
        }
        assert_eq!(c.inst.count.load(Ordering::Relaxed), 2000);
        let over = c.inst.series(&[KeyValue::new("i", 99_999)]);
        assert_eq!(over.attrs, &[KeyValue::new("otel.metric.overflow", true)]);
    }

    #[test]
    fn conformance() {
        assert!(conformant_name("http.server.duration_ms"));
        assert!(!conformant_name("requêtes"));
        assert!(!conformant_name(""));
        assert!(!conformant_name("1abc"));
    }
}

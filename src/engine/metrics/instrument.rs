//! Instruments: their registry, and the lookup from a per-call attribute set to its series.
//!
//! Finding the series for a per-call attribute set goes through a per-thread cache keyed by an
//! order-independent hash, then the instrument's sharded map: no global lock on the hot path. A
//! bound handle holds its series and skips the lookup. Every instrument keeps at most
//! `cardinality_limit` series (2000 by default); measurements for new attribute sets beyond it
//! go to one series with the attribute `otel.metric.overflow=true`.

use super::fingerprint::{Fp, fmix, hash_attrs};
use super::series::{Kind, MAX_SERIES_ATTRS, Series};
use super::shard;
use crate::engine::record::{self, Enc, MAX_KEY, trunc_len};
use crate::engine::shared::global;
use crate::engine::thread::thread_slot;
use crate::model::value::{KeyValue, Value};
use parking_lot::{Mutex, RwLock};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An observable gauge's callback; it runs at each export, on the observer thread
/// (`export/observe.rs`).
pub(crate) type Callback = Box<dyn Fn(&mut Observer) + Send + Sync>;

const MAP_SHARDS: usize = 8;

/// An instrument's registration. Lives for the whole process.
pub(crate) struct Instrument {
    id: u32,
    pub(crate) scope: u32,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) unit: String,
    pub(crate) kind: Kind,
    map: [RwLock<HashMap<u64, Vec<&'static Series>>>; MAP_SHARDS],
    /// Every series, in creation order (what export walks).
    pub(crate) list: Mutex<Vec<&'static Series>>,
    count: AtomicUsize,
    overflow: OnceLock<&'static Series>,
    no_attrs: OnceLock<&'static Series>,
    /// An observable gauge's callbacks (one per registration of the same name).
    pub(crate) callbacks: RwLock<Vec<Callback>>,
}

impl std::fmt::Debug for Instrument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrument")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish()
    }
}

/// Every instrument, in registration order (the id is the index).
pub(crate) static INSTRUMENTS: RwLock<Vec<&'static Instrument>> = RwLock::new(Vec::new());

/// Set when the first observable gauge is registered.
static HAS_OBSERVABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// True once an observable gauge exists (its callbacks need running at exports).
pub fn has_observable() -> bool {
    HAS_OBSERVABLE.load(Ordering::Acquire)
}

/// Instruments by scope and name (a name may have several kinds).
type ByName = HashMap<(u32, String), Vec<&'static Instrument>>;

/// The instruments by scope and name: registration in O(1).
static BY_NAME: Mutex<Option<ByName>> = Mutex::new(None);

/// Metric attributes dropped or cut by the limits (see [`Instrument::lookup_global`]).
static LIMITED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Metric attributes dropped or cut by the limits so far.
pub fn attributes_limited() -> u64 {
    LIMITED.load(Ordering::Relaxed)
}

fn cardinality_limit() -> usize {
    global()
        .map(|g| g.settings.cardinality_limit)
        .unwrap_or(2000)
}

/// Slots in the per-thread cache of metric series.
const CACHE_SLOTS: usize = 64;

#[derive(Clone, Copy)]
struct CacheEntry {
    instrument: u32,
    hash: u64,
    series: Option<&'static Series>,
}

impl CacheEntry {
    const EMPTY: CacheEntry = CacheEntry {
        instrument: u32::MAX,
        hash: 0,
        series: None,
    };
}

thread_local! {
    /// This thread's recently used series, by instrument and attribute hash.
    static SERIES_CACHE: [Cell<CacheEntry>; CACHE_SLOTS] =
        const { [const { Cell::new(CacheEntry::EMPTY) }; CACHE_SLOTS] };
}

impl Instrument {
    /// Registers an instrument, or returns the existing one with the same scope, name and kind
    /// (one set of series however often it is registered; an observable gauge gets the new
    /// callback added, and each attribute set is still one point). Names outside OpenTelemetry's
    /// syntax, a name already used by an instrument of another kind, and a registration whose
    /// description or unit differs from the first are accepted with a warning on stderr.
    pub(crate) fn register(
        scope: u32,
        name: String,
        description: String,
        unit: String,
        kind: Kind,
        callback: Option<Callback>,
    ) -> &'static Instrument {
        let mut by_name = BY_NAME.lock();
        let same_name = by_name
            .get_or_insert_with(HashMap::new)
            .entry((scope, name.clone()))
            .or_default();
        if let Some(&i) = same_name.iter().find(|i| i.kind == kind) {
            if i.description != description || i.unit != unit {
                diag!(
                    "mini-telemetry: {} {:?} registered again with another description or unit; the first registration's are kept",
                    kind.name(),
                    i.name
                );
            }
            if let Some(cb) = callback {
                diag!(
                    "mini-telemetry: observable gauge {:?} registered again: both callbacks run, and an attribute set observed twice is one point (the last value)",
                    i.name
                );
                i.callbacks.write().push(cb);
            }
            return i;
        }
        if !conformant_name(&name) {
            diag!(
                "mini-telemetry: instrument name {name:?} is not OpenTelemetry-conformant (ASCII letter first, then [A-Za-z0-9_.-/], at most 255); accepted as is"
            );
        }
        if let Some(other) = same_name.first() {
            diag!(
                "mini-telemetry: instrument {name:?} registered as a {} and as a {}; both are exported",
                other.kind.name(),
                kind.name()
            );
        }
        let mut list = INSTRUMENTS.write();
        let inst: &'static Instrument = Box::leak(Box::new(Instrument {
            id: list.len() as u32,
            scope,
            name,
            description,
            unit,
            kind,
            map: std::array::from_fn(|_| RwLock::new(HashMap::new())),
            list: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            overflow: OnceLock::new(),
            no_attrs: OnceLock::new(),
            callbacks: RwLock::new(callback.into_iter().collect()),
        }));
        list.push(inst);
        same_name.push(inst);
        if kind == Kind::ObservableGauge {
            HAS_OBSERVABLE.store(true, Ordering::Release);
        }
        inst
    }

    fn no_attrs(&'static self) -> &'static Series {
        self.no_attrs.get_or_init(|| self.lookup_global(&[]))
    }

    #[inline]
    pub(crate) fn series(&'static self, attrs: &[KeyValue<'_>]) -> &'static Series {
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
    pub(crate) fn series_for(&'static self, attrs: &[KeyValue<'_>]) -> (&'static Series, u32) {
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
            & (CACHE_SLOTS - 1);
        SERIES_CACHE
            .try_with(|l| {
                let cell = &l[slot];
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
                cell.set(CacheEntry {
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
        // Normalise: keys sorted (a stable sort keeps calls' order within a key), the last value
        // of a repeated key wins. O(n log n) however many attributes a call passes.
        let mut sorted: Vec<KeyValue<'_>> = attrs.to_vec();
        sorted.sort_by(|a, b| a.key.cmp(b.key));
        let mut norm: Vec<KeyValue<'_>> = Vec::with_capacity(sorted.len().min(MAX_SERIES_ATTRS));
        for (i, kv) in sorted.iter().enumerate() {
            if sorted.get(i + 1).is_none_or(|next| next.key != kv.key) {
                norm.push(*kv);
            }
        }
        // OpenTelemetry's attribute limits, as for spans and logs: at most 128 attributes (also
        // the u16 count of the encoding), keys cut to `record::MAX_KEY`, string values to the
        // value length limit. What they cut is counted in `Stats::metric_attributes_limited`.
        let mut limited = norm.len().saturating_sub(MAX_SERIES_ATTRS) as u64;
        norm.truncate(MAX_SERIES_ATTRS);
        let max_str = global().map_or(16 * 1024, |g| g.settings.max_str);
        let mut arrays: Vec<Vec<&str>> = Vec::new();
        for kv in &mut norm {
            let k = trunc_len(kv.key, MAX_KEY);
            if k < kv.key.len() {
                kv.key = &kv.key[..k];
                limited += 1;
            }
            match kv.value {
                Value::Str(s) if s.len() > max_str => {
                    kv.value = Value::Str(&s[..trunc_len(s, max_str)]);
                    limited += 1;
                }
                Value::StrArray(a) if a.iter().any(|s| s.len() > max_str) => {
                    arrays.push(a.iter().map(|s| &s[..trunc_len(s, max_str)]).collect());
                    limited += 1;
                }
                _ => {}
            }
        }
        if !arrays.is_empty() {
            let mut cut = arrays.iter();
            for kv in &mut norm {
                if let Value::StrArray(a) = kv.value {
                    if a.iter().any(|s| s.len() > max_str) {
                        kv.value = Value::StrArray(cut.next().unwrap());
                    }
                }
            }
        }
        if limited > 0 {
            LIMITED.fetch_add(limited, Ordering::Relaxed);
        }
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

fn conformant_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 255
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/'))
}

/// Collects the values an observable gauge's callback reports.
#[derive(Debug, Default)]
pub struct Observer {
    /// (value, attributes encoded as a record's key-values), decoded by the writer.
    pub(crate) points: Vec<(f64, Vec<u8>)>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::metrics::histogram::HistAcc;
    use crate::engine::metrics::series::{Cells, shard_count};
    use crate::engine::record::DValue;
    use crate::engine::scope::scope_id;
    use crate::model::value::Value;

    fn counter(scope: &str, name: &str) -> &'static Instrument {
        Instrument::register(
            scope_id(scope),
            name.into(),
            String::new(),
            String::new(),
            Kind::Counter,
            None,
        )
    }

    #[test]
    fn series_attributes_keep_the_limits_of_records() {
        let c = counter("test.metrics.view", "unit.view");
        let before = attributes_limited();
        // A key past 1,024 bytes is cut at a char boundary, as in records.
        let key = format!("k{}", "é".repeat(1000)); // 2001 bytes
        let value = "v".repeat(5000);
        let s = c.series(&[KeyValue::new(&key, value.as_str())]);
        let (k, v) = s.view[0];
        assert_eq!(k.len(), 1023, "cut at the char boundary below 1024 bytes");
        assert!(key.starts_with(k));
        assert_eq!(v, DValue::Str(&value), "5,000 bytes: under the value limit");
        // A 1 MiB value is cut to the value limit (16 KiB without init), in both copies.
        let big = "x".repeat(1 << 20);
        let s = c.series(&[KeyValue::new("big", big.as_str())]);
        assert_eq!(s.attrs[0].value, Value::Str(&big[..16 * 1024]));
        assert_eq!(s.view[0].1, DValue::Str(&big[..16 * 1024]));
        // Values that differ past the limit are one series.
        let mut other = big.clone();
        other.push('y');
        assert!(std::ptr::eq(
            s,
            c.series(&[KeyValue::new("big", other.as_str())])
        ));
        // String arrays: each element cut.
        let arr = [big.as_str(), "short"];
        let s = c.series(&[KeyValue::new("arr", &arr[..])]);
        let Value::StrArray(a) = s.attrs[0].value else {
            panic!("{:?}", s.attrs[0].value)
        };
        assert_eq!((a[0].len(), a[1]), (16 * 1024, "short"));
        // 10,000 attributes: the first 128 keys (sorted) are kept, the rest dropped.
        let keys: Vec<String> = (0..10_000).map(|i| format!("k{i:05}")).collect();
        let attrs: Vec<KeyValue<'_>> = keys.iter().map(|k| KeyValue::new(k, 1)).collect();
        let s = c.series(&attrs);
        assert_eq!(s.attrs.len(), 128);
        assert_eq!((s.attrs[0].key, s.attrs[127].key), ("k00000", "k00127"));
        // Counted: the key, the 1 MiB value (twice: two calls), the array, 9,872 attributes.
        assert!(attributes_limited() - before >= 1 + 2 + 1 + 9_872);
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
        let c = counter("test.metrics.repeat", "unit.repeat");
        let crafted = "21434400dK_Qq|ye";
        let one = c.series(&[KeyValue::new("a", "p"), KeyValue::new("b", crafted)]);
        let two = c.series(&[KeyValue::new("a", "p"), KeyValue::new("a", "p")]);
        assert!(!std::ptr::eq(one, two));
        assert_eq!(two.attrs, &[KeyValue::new("a", "p")][..]);
    }

    #[test]
    fn cached_lookups_never_return_another_series() {
        let c = counter("test.metrics.cache", "unit.cache");
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
                    let s = c.series(&attrs);
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
        let c = counter("test.metrics.churn", "unit.churn").series(&[]);
        let h = Instrument::register(
            scope_id("test.metrics.churn"),
            "unit.churn.h".into(),
            String::new(),
            String::new(),
            Kind::Histogram,
            None,
        )
        .series(&[]);
        let threads = shard_count() + 3;
        let per = if cfg!(miri) { 20 } else { 1000u64 };
        for _wave in 0..4 {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    std::thread::spawn(move || {
                        for i in 1..=per {
                            c.add(i);
                            h.record(i as f64);
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
        assert_eq!(c.sum(), n * sum);
        let Cells::Histogram(shards) = &h.cells else {
            unreachable!()
        };
        let mut acc = HistAcc::default();
        for sh in shards.iter() {
            sh.add_into(&mut acc);
        }
        assert_eq!((acc.count, acc.sum), (n * per, (n * sum) as f64));
    }

    #[test]
    fn series_lookup_normalises_and_limits() {
        let c = counter("test.metrics", "unit.counter");
        let s1 = c.series(&[KeyValue::new("a", 1), KeyValue::new("b", 2)]);
        let s2 = c.series(&[KeyValue::new("b", 2), KeyValue::new("a", 1)]);
        assert!(std::ptr::eq(s1, s2));
        // A repeated key: last wins, same series as the normalised set.
        let s3 = c.series(&[
            KeyValue::new("a", 9),
            KeyValue::new("b", 2),
            KeyValue::new("a", 1),
        ]);
        assert!(std::ptr::eq(s1, s3));
        // NaN attributes still find their series.
        let n1 = c.series(&[KeyValue::new("f", f64::NAN)]);
        let n2 = c.series(&[KeyValue::new("f", f64::NAN)]);
        assert!(std::ptr::eq(n1, n2));
        // Cardinality: default 2000 including the overflow series.
        for i in 0..3000 {
            c.series(&[KeyValue::new("i", i)]);
        }
        assert_eq!(c.count.load(Ordering::Relaxed), 2000);
        let over = c.series(&[KeyValue::new("i", 99_999)]);
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

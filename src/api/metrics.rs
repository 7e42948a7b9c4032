//! Metrics: [`Meter`] and its instruments, the handles the calling thread records through.
//!
//! A measurement goes to a *series* (one instrument with one attribute set; see
//! `engine/metrics/`): a per-call attribute set is looked up in a per-thread cache, a [`Bound`]
//! handle holds its series. The writer reads the series at each export.

use crate::engine::metrics::{Callback, Instrument, Kind, Observer, Series};
use crate::engine::scope::scope_id;
use crate::engine::shared::is_enabled;
use crate::model::value::KeyValue;
use std::marker::PhantomData;

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
        scope: scope_id(scope),
    }
}

/// Builds an instrument: name, then optional description and unit.
#[must_use = "an instrument is registered by `build()`"]
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

    /// A gauge whose `callback` runs at each export, on a thread of its own (a slow callback
    /// delays only its own points, never the writing of other records).
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

impl<T> InstrumentBuilder<T> {
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

    fn register(self) -> &'static Instrument {
        Instrument::register(
            self.scope,
            self.name,
            self.description,
            self.unit,
            self.kind,
            self.callback,
        )
    }
}

macro_rules! instrument_handle {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy)]
        pub struct $name {
            inst: &'static Instrument,
        }
        impl InstrumentBuilder<$name> {
            /// Registers the instrument (or returns the existing one with the same scope, name
            /// and kind). Names outside OpenTelemetry's syntax (such as `requêtes`) are
            /// accepted, with a one-time warning on stderr; so is a name already used by an
            /// instrument of another kind.
            pub fn build(self) -> $name {
                $name {
                    inst: self.register(),
                }
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
/// nor the attributes nor the instrument expression (a relaxed load and a branch).
/// `counter.add(v, &[...])` builds its attribute array before the call, enabled or not, which
/// costs several times that (BENCHMARKS.md has both). Keys are identifiers or string literals, as in
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
#[must_use]
#[derive(Debug, Clone, Copy)]
pub struct Bound<T> {
    series: &'static Series,
    _t: PhantomData<T>,
}

impl Counter {
    /// Adds `value` to the series for `attrs`. A sum that would pass `u64::MAX` stays there,
    /// counted once per series in [`Stats::metric_overflows`](crate::Stats).
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
    /// Adds `value` (may be negative). The sum saturates at `i64::MIN` and `i64::MAX`, counted
    /// once per series in [`Stats::metric_overflows`](crate::Stats).
    #[inline(always)]
    pub fn add(&self, value: i64, attrs: &[KeyValue<'_>]) {
        if !is_enabled() {
            return;
        }
        let (s, slot) = self.inst.series_for(attrs);
        s.add_signed_at(slot, value);
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
            self.series.add_signed(value);
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
    // Not `inline(always)`: always inlined, it slowed the request benchmark down, with no gain
    // on the call itself.
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

//! # mini-telemetry
//!
//! OpenTelemetry's three signals — traces, metrics, logs — for latency-sensitive Rust services,
//! at a cost per call measured in nanoseconds, written as JSON Lines (or text) to stdout by one
//! background thread. Nothing else has to run to see the data.
//!
//! ```no_run
//! use mini_telemetry::{KeyValue, Status, info};
//!
//! // 1. Initialise once; keep the guard (dropping it flushes everything).
//! let _guard = mini_telemetry::init("mon-service", "1.0.0", "production").unwrap();
//!
//! // 2. One handle per component (instrumentation scope).
//! let tracer = mini_telemetry::tracer("mon.module");
//! let meter = mini_telemetry::meter("mon.module");
//! let logger = mini_telemetry::logger("mon.module");
//!
//! // 3. Use them.
//! let requests = meter.counter("requêtes").with_unit("1").build();
//! tracer.in_span("opération-principale", |span| {
//!     span.set_attribute("utilisateur.id", "123");
//!     requests.add(1, &[KeyValue::new("endpoint", "/api")]);
//!     info!(logger, "Opération terminée", durée_ms = 123, status = "success");
//!     span.set_status(Status::Ok);
//! });
//! ```
//!
//! ## How it works
//! Each thread writes pre-encoded binary records (raw clock ticks, ids, copied values) into its
//! own lock-free ring; counters are sharded atomic cells and histograms sharded atomic
//! log-linear histograms. One writer thread drains the rings, converts ticks to Unix time and
//! serialises JSON into a large reusable buffer. Calls before [`init`], with telemetry disabled
//! or after [`shutdown`] cost one relaxed load. The repository's `docs/ARCHITECTURE.md` walks a
//! span and a counter add from the call to the output line, file by file.

#![deny(missing_docs)]
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]

/// One line of the library's own diagnostics on standard error, as `eprintln!` writes it, but
/// never a panic: `eprintln!` panics when stderr is a pipe whose reader has gone (`2>&1 | head`),
/// and a warning must not crash the thread that caused it. Defined before the modules, so that
/// every one of them can use it.
macro_rules! diag {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

// The pipeline in layers, each importing only those below it (docs/ARCHITECTURE.md;
// `scripts/check_layers.py` checks it): model < engine < api, export < runtime < lib.rs, and
// api and export never import each other.
mod api; // the calling thread: tracers, spans, loggers, meters, instruments
mod engine; // the hand-over: records, rings, clock, metric cells, shared and per-thread state
mod export; // the writer thread: drain, assemble, format, write
mod model; // plain data: values, levels, span ids, configuration, resource
mod runtime; // init, flush, shutdown

pub use api::future::{FutureExt, InSpan, WithContext};
pub use api::log::{Logger, enabled as log_enabled, logger};
#[cfg(feature = "log")]
pub use api::log_bridge;
pub use api::metrics::{
    Bound, Counter, Gauge, Histogram, InstrumentBuilder, Meter, ObservableGauge, UpDownCounter,
    meter,
};
pub use api::propagation;
pub use api::trace::{AsyncSpan, AttrList, Span, SpanBuilder, SpanKind, Status, Tracer, tracer};
#[cfg(feature = "tracing")]
pub use api::tracing_bridge;
pub use engine::callsite::Callsite;
pub use engine::metrics::Observer;
pub use engine::shared::is_enabled;
pub use model::{
    CacheEviction, Config, Format, FullPolicy, KeyValue, Level, Sampler, Sink, SpanContext,
    SpanLimits, Value,
};
pub use runtime::{Guard, InitError, Stats, flush, flush_timeout, shutdown, stats};

// The record format and the ring are public for the corpus tests, fuzz targets and benches, not
// as a stable API.
#[doc(hidden)]
pub use engine::{record, ring};

/// Initialises telemetry for a service (name, version, environment) with the defaults: JSON
/// Lines to stdout; see [`Config`] for the rest. Returns a [`Guard`]; dropping it flushes and stops.
///
/// A second call returns [`InitError::AlreadyInitialized`].
///
/// ```no_run
/// let _guard = mini_telemetry::init("mon-service", "1.0.0", "production").expect("first init");
/// assert!(mini_telemetry::init("x", "y", "z").is_err());
/// ```
pub fn init(
    service_name: &str,
    service_version: &str,
    environment: &str,
) -> Result<Guard, InitError> {
    Config::new(service_name, service_version, environment).install()
}

/// README.md's examples, compiled as doc tests so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// JSON string and number writing, exposed for benchmarks and fuzzing.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::format::write::{escaped, f64 as write_f64, string as write_string};

    /// Decodes one arbitrary byte string as a ring record and renders it the way the writer
    /// thread does, in JSON (`text = false`) or text. Returns the output, empty when the record
    /// is rejected as corrupt. Never panics on any input: that is what the fuzz targets check.
    pub fn render_record(rec: &[u8], text: bool) -> Vec<u8> {
        use std::cell::RefCell;
        thread_local! {
            static WRITERS: RefCell<Option<[crate::export::Writer; 2]>> = const { RefCell::new(None) };
        }
        WRITERS.with(|w| {
            let mut w = w.borrow_mut();
            let ws = w.get_or_insert_with(|| {
                let make = |format| {
                    let cfg = crate::Config::new("fuzz", "0", "fuzz")
                        .format(format)
                        .ring_capacity(1 << 16)
                        .full_policy(crate::FullPolicy::Drop)
                        .use_env(false);
                    let settings = crate::engine::shared::Settings::new(&cfg);
                    let g: &'static crate::engine::shared::Global =
                        Box::leak(Box::new(crate::engine::shared::Global::detached(settings)));
                    crate::export::Writer::new(&cfg, Box::new(std::io::sink()), g)
                };
                [make(crate::Format::Json), make(crate::Format::Text)]
            });
            ws[text as usize].render(rec).to_vec()
        })
    }
}

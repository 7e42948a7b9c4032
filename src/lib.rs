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
//! own lock-free ring ([`ring`]); counters are sharded atomic cells and histograms sharded atomic
//! log-linear histograms. One writer thread drains the rings, converts ticks to Unix time and
//! serialises JSON into a large reusable buffer. Calls before [`init`], with telemetry disabled
//! or after [`shutdown`] cost one relaxed load.

#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

mod clock;
mod config;
mod global;
mod histogram;
mod json;
mod log;
mod metrics;
mod output;
mod primitive;
mod shard;
// The record format and the ring are public for the corpus tests, fuzz targets and benches, not
// as a stable API.
#[doc(hidden)]
pub mod record;
mod resource;
#[doc(hidden)]
pub mod ring;
mod trace;
mod value;
mod writer;

pub use config::{Config, Format, FullPolicy, Sink, SpanLimits};
pub use global::{Guard, InitError, Stats, flush, flush_timeout, is_enabled, shutdown, stats};
pub use log::{Callsite, Level, Logger, enabled as log_enabled, logger};
pub use metrics::{
    Bound, Counter, Gauge, Histogram, InstrumentBuilder, Meter, ObservableGauge, Observer,
    UpDownCounter, meter,
};
pub use trace::{Span, SpanBuilder, SpanContext, SpanKind, Status, Tracer, tracer};
pub use value::{KeyValue, Value};

/// Initialises telemetry with the seed's three resource values and the defaults (JSON Lines to
/// stdout; see [`Config`] for the rest). Returns a [`Guard`]; dropping it flushes and stops.
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
    pub use crate::json::{escaped, f64 as write_f64, string as write_string};

    /// Decodes one arbitrary byte string as a ring record and renders it the way the writer
    /// thread does, in JSON (`text = false`) or text. Returns the output, empty when the record
    /// is rejected as corrupt. Never panics on any input: that is what the fuzz targets check.
    pub fn render_record(rec: &[u8], text: bool) -> Vec<u8> {
        use std::cell::RefCell;
        thread_local! {
            static WRITERS: RefCell<Option<[crate::writer::Writer; 2]>> = const { RefCell::new(None) };
        }
        WRITERS.with(|w| {
            let mut w = w.borrow_mut();
            let ws = w.get_or_insert_with(|| {
                let make = |format| {
                    let cfg = crate::Config::new("fuzz", "0", "fuzz")
                        .format(format)
                        .use_env(false);
                    let g: &'static crate::global::Global = Box::leak(Box::new(
                        crate::global::Global::detached(crate::global::Settings {
                            ring_capacity: 1 << 16,
                            full_policy: crate::FullPolicy::Drop,
                            max_str: 1 << 14,
                            max_text: 1 << 14,
                            span_limits: crate::SpanLimits::default(),
                            span_attr_values: crate::trace::span_attr_values(
                                &crate::SpanLimits::default(),
                            ),
                            cardinality_limit: 2000,
                        }),
                    ));
                    crate::writer::Writer::new(&cfg, Box::new(std::io::sink()), g)
                };
                [make(crate::Format::Json), make(crate::Format::Text)]
            });
            ws[text as usize].render(rec).to_vec()
        })
    }
}

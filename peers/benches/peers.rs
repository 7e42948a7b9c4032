//! mini-telemetry against the libraries a user would otherwise pick, in one process and one run:
//! `opentelemetry_sdk`, `tracing` (+ `tracing-subscriber` JSON + `tracing-appender`), `fastrace`
//! and `metrics` (+ `metrics-exporter-prometheus`). Each criterion group times the same operation
//! in every library; `report.py` turns criterion's estimates into a table of ratios.
//!
//! ```text
//! cd peers && CARGO_BUILD_JOBS=1 nice -n 10 cargo bench --bench peers -- --warm-up-time 1 --measurement-time 2
//! python3 report.py
//! ```
//!
//! # Timing
//!
//! As in `../benches/hot_path.rs`, calls are timed in bursts of [`BURST`] calls, and whatever the
//! library has buffered is flushed to its exporter between bursts, outside the timed region. So
//! every library is measured on its calling thread's cost with its buffer not full, and none is
//! measured on how fast its background thread can serialise. Each library is configured so that a
//! burst fits its buffer:
//!
//! | library | buffer | how it is flushed between bursts |
//! |---|---|---|
//! | mini_telemetry | `Config::new(..)`'s defaults: a 2 MiB ring per thread | `mini_telemetry::flush()`: returns once the writer has written every record |
//! | opentelemetry traces | `BatchSpanProcessor`, `max_queue_size` raised from 2048 to [`OTEL_QUEUE`] | `SdkTracerProvider::force_flush()`: the processor's thread exports everything queued before answering |
//! | opentelemetry logs | `BatchLogProcessor`, `max_queue_size` raised from 2048 to [`OTEL_QUEUE`] | `SdkLoggerProvider::force_flush()`, same |
//! | tracing | `tracing-appender` non-blocking writer, defaults (128 000 lines, lossy) | no flush API: we wait until the sink behind the worker thread has seen every line produced, or the writer counted it dropped |
//! | fastrace | per-thread command queue of 10 240 (overflow kept in an unbounded queue); 10 240 spans+events under one local parent | `fastrace::flush()`, which runs the collector and the reporter to completion; commands left in the thread's overflow queue only move on the thread's next send, so if the reporter has not seen everything we start and end one sampled root span (counted as produced) and flush again |
//! | metrics (prometheus) | histogram samples accumulate in an unbounded lock-free bucket until upkeep | `PrometheusHandle::run_upkeep()` in the histogram group; counters need nothing |
//! | opentelemetry metrics | aggregated in place; `PeriodicReader` every 60 s | nothing to flush |
//!
//! # Drops
//!
//! After each library's run the benchmark flushes once more and prints to stderr
//! `DROPS <group> <library> produced=<n> exported=<m>`, in the library's own unit: JSON lines for
//! mini_telemetry (`stats().written`) and tracing (lines seen by the sink), spans or log records
//! for opentelemetry (counted by the exporter), spans + events for fastrace (counted by the
//! reporter), and for metrics the number of measurements against the exported cumulative sum or
//! histogram count.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, black_box, criterion_group, criterion_main};

use mini_telemetry_peers::{
    CountingSink, FastraceCounts, FastraceJsonReporter, MetricTotals, OtelLogExporter,
    OtelMetricExporter, OtelSpanExporter,
};

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue as OtelKv};
use opentelemetry_sdk::logs::{BatchLogProcessor, SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracer, SdkTracerProvider};

use fastrace::collector::SpanContext as FtContext;
use fastrace::local::LocalSpan;
use fastrace::{Event as FtEvent, Span as FtSpan};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use mini_telemetry::{Config, KeyValue, Sink, info};

/// Calls per timed burst. The smallest buffer among the libraries is fastrace's 10 240 spans and
/// events under one local parent, and `span_3_attrs_1_event` puts two there per call.
const BURST: u64 = 5_000;

/// `max_queue_size` of the opentelemetry batch processors: room for a few bursts.
const OTEL_QUEUE: usize = 4 * BURST as usize;

// ---------------------------------------------------------------------------------------------
// Set-up: every library initialised once, for the whole process.
// ---------------------------------------------------------------------------------------------

struct Otel {
    tracer_provider: SdkTracerProvider,
    tracer: SdkTracer,
    spans_exported: Arc<AtomicU64>,
    logger_provider: SdkLoggerProvider,
    logger: SdkLogger,
    logs_exported: Arc<AtomicU64>,
    meter_provider: SdkMeterProvider,
    meter: Meter,
    metric_totals: MetricTotals,
}

struct Tracing {
    /// What the non-blocking writer's worker thread wrote.
    sink: CountingSink,
    /// Lines the (lossy) non-blocking writer dropped because its channel was full.
    errors: tracing_appender::non_blocking::ErrorCounter,
}

struct Peers {
    otel: Otel,
    tracing: Tracing,
    fastrace: Arc<FastraceCounts>,
    prometheus: PrometheusHandle,
}

static PEERS: OnceLock<Peers> = OnceLock::new();

fn peers() -> &'static Peers {
    PEERS.get_or_init(init)
}

fn init() -> Peers {
    // mini_telemetry with its defaults, as ../benches/hot_path.rs. The guard is leaked:
    // telemetry runs until the process exits.
    let guard = Config::new("bench", "0", "bench")
        .sink(Sink::File("/dev/null".into()))
        .install()
        .expect("mini_telemetry init");
    std::mem::forget(guard);

    // tracing: the JSON formatter of tracing-subscriber, writing through tracing-appender's
    // non-blocking writer (defaults: 128 000 buffered lines, lossy) to the counting sink. Spans
    // produce a line when they close (`FmtSpan::CLOSE`), as a span record does elsewhere. This is
    // the process's global default subscriber, set before any `tracing` call site is hit.
    let sink = CountingSink::new();
    let (writer, worker) = tracing_appender::non_blocking(sink.clone());
    let errors = writer.error_counter();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(writer)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("tracing global default");
    std::mem::forget(worker);

    // opentelemetry: batch span processor, batch log processor and periodic metric reader
    // (default interval, 60 s), each feeding a JSON exporter of ours (see src/lib.rs).
    let (span_exporter, spans_exported) = OtelSpanExporter::new();
    let tracer_provider = SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(span_exporter)
                .with_batch_config(
                    opentelemetry_sdk::trace::BatchConfigBuilder::default()
                        .with_max_queue_size(OTEL_QUEUE)
                        .build(),
                )
                .build(),
        )
        .build();
    let tracer = tracer_provider.tracer("bench");
    let (log_exporter, logs_exported) = OtelLogExporter::new();
    let logger_provider = SdkLoggerProvider::builder()
        .with_log_processor(
            BatchLogProcessor::builder(log_exporter)
                .with_batch_config(
                    opentelemetry_sdk::logs::BatchConfigBuilder::default()
                        .with_max_queue_size(OTEL_QUEUE)
                        .build(),
                )
                .build(),
        )
        .build();
    let logger = logger_provider.logger("bench");
    let (metric_exporter, metric_totals) = OtelMetricExporter::new();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metric_exporter).build())
        .build();
    let meter = meter_provider.meter("bench");

    // fastrace: a JSON reporter of ours, default collector config.
    let (reporter, fastrace) = FastraceJsonReporter::new();
    fastrace::set_reporter(reporter, fastrace::collector::Config::default());

    // metrics: the Prometheus recorder installed globally, no HTTP listener; we run upkeep and
    // render ourselves.
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .expect("metrics recorder");

    Peers {
        otel: Otel {
            tracer_provider,
            tracer,
            spans_exported,
            logger_provider,
            logger,
            logs_exported,
            meter_provider,
            meter,
            metric_totals,
        },
        tracing: Tracing { sink, errors },
        fastrace,
        prometheus,
    }
}

// ---------------------------------------------------------------------------------------------
// Libraries: how each one is flushed between bursts and how its exported records are counted.
// ---------------------------------------------------------------------------------------------

trait Lib {
    /// The benchmark id inside a group.
    fn name(&self) -> &'static str;
    /// Pushes everything produced so far to the exporter, outside the timed region. `target` is
    /// the value [`Lib::exported`] should reach. Returns how many records the flush itself had to
    /// produce (fastrace only).
    fn flush(&self, target: u64) -> u64;
    /// Records exported so far (cumulative), or `None` when there is nothing to check.
    fn exported(&self) -> Option<u64>;
}

struct Mini;

impl Lib for Mini {
    fn name(&self) -> &'static str {
        "mini_telemetry"
    }
    fn flush(&self, _target: u64) -> u64 {
        mini_telemetry::flush();
        0
    }
    fn exported(&self) -> Option<u64> {
        Some(mini_telemetry::stats().written)
    }
}

/// Another row of mini_telemetry's, flushed and counted as [`Mini`]'s: the same library called
/// another way.
struct MiniAs(&'static str);

impl Lib for MiniAs {
    fn name(&self) -> &'static str {
        self.0
    }
    fn flush(&self, target: u64) -> u64 {
        Mini.flush(target)
    }
    fn exported(&self) -> Option<u64> {
        Mini.exported()
    }
}

/// mini_telemetry's span made as a child of a root span started per burst (outside the timed
/// region), as `fastrace_local`'s is: the like-for-like row beside it. (The `mini_telemetry` row
/// makes a new root span per call: a new trace id and a sampler decision each time.)
const MINI_CHILD: MiniAs = MiniAs("mini_telemetry_child");

/// mini_telemetry's span with its attributes set through the `set_attributes!` macro (typed
/// values, checked that the span records first) instead of `set_attributes(&[KeyValue..])`.
const MINI_MACRO: MiniAs = MiniAs("mini_telemetry_macro");

/// A root span made current for a burst of [`MINI_CHILD`] calls, and its end (one record).
fn mini_root_begin(t: &mini_telemetry::Tracer) -> mini_telemetry::Span {
    t.start("burst")
}

fn mini_root_end(root: mini_telemetry::Span) -> u64 {
    drop(root);
    1 // the root span's own record
}

/// mini_telemetry's metric calls produce no record; nothing to flush or count.
struct MiniMetric;

impl Lib for MiniMetric {
    fn name(&self) -> &'static str {
        "mini_telemetry"
    }
    fn flush(&self, _target: u64) -> u64 {
        0
    }
    fn exported(&self) -> Option<u64> {
        None
    }
}

struct OtelSpans;

impl Lib for OtelSpans {
    fn name(&self) -> &'static str {
        "opentelemetry"
    }
    fn flush(&self, _target: u64) -> u64 {
        peers()
            .otel
            .tracer_provider
            .force_flush()
            .expect("otel span flush");
        0
    }
    fn exported(&self) -> Option<u64> {
        Some(peers().otel.spans_exported.load(Ordering::Acquire))
    }
}

struct OtelLogs;

impl Lib for OtelLogs {
    fn name(&self) -> &'static str {
        "opentelemetry"
    }
    fn flush(&self, _target: u64) -> u64 {
        peers()
            .otel
            .logger_provider
            .force_flush()
            .expect("otel log flush");
        0
    }
    fn exported(&self) -> Option<u64> {
        Some(peers().otel.logs_exported.load(Ordering::Acquire))
    }
}

/// An opentelemetry instrument: aggregated in place, nothing to flush between bursts; at the end
/// the meter provider is force-flushed and the exported total for `metric` is read.
struct OtelMetric {
    metric: &'static str,
}

impl Lib for OtelMetric {
    fn name(&self) -> &'static str {
        "opentelemetry"
    }
    fn flush(&self, _target: u64) -> u64 {
        0
    }
    fn exported(&self) -> Option<u64> {
        let p = peers();
        p.otel
            .meter_provider
            .force_flush()
            .expect("otel metric flush");
        let totals = p.otel.metric_totals.lock().unwrap();
        Some(totals.get(self.metric).copied().unwrap_or(0.0) as u64)
    }
}

struct TracingLib;

impl Lib for TracingLib {
    fn name(&self) -> &'static str {
        "tracing"
    }
    /// tracing-appender has no flush (only dropping its guard, which stops the worker): wait
    /// until the worker has written `target` lines, counting the lines it dropped as done.
    fn flush(&self, target: u64) -> u64 {
        let t = &peers().tracing;
        let start = Instant::now();
        while t.sink.lines() + (t.errors.dropped_lines() as u64) < target {
            if start.elapsed() > Duration::from_secs(10) {
                eprintln!(
                    "WARNING tracing: waited 10 s for {target} lines, sink has {}",
                    t.sink.lines()
                );
                break;
            }
            std::thread::sleep(Duration::from_micros(20));
        }
        0
    }
    fn exported(&self) -> Option<u64> {
        Some(peers().tracing.sink.lines())
    }
}

struct Fastrace {
    name: &'static str,
}

impl Lib for Fastrace {
    fn name(&self) -> &'static str {
        self.name
    }
    /// Commands that overflowed this thread's queue (10,240 commands) are parked in an unbounded
    /// list in the thread until it sends again, and each send moves at most what the queue has
    /// room for: one sampled root span (one more span record) at a time moves them, until all
    /// are out or three rounds in a row export nothing (or 30 s have passed).
    fn flush(&self, target: u64) -> u64 {
        let start = Instant::now();
        let mut extra = 0;
        let mut last = self.exported().unwrap();
        let mut idle = 0;
        loop {
            fastrace::flush();
            let now = self.exported().unwrap();
            if now >= target + extra || idle >= 3 || start.elapsed() > Duration::from_secs(30) {
                break;
            }
            idle = if now > last { 0 } else { idle + 1 };
            last = now;
            drop(FtSpan::root("flush", FtContext::random()));
            extra += 1;
        }
        extra
    }
    fn exported(&self) -> Option<u64> {
        let c = &peers().fastrace;
        Some(c.spans.load(Ordering::Acquire) + c.events.load(Ordering::Acquire))
    }
}

/// A `metrics` instrument behind the Prometheus recorder. Histogram samples pile up until upkeep,
/// so `upkeep` makes the flush between bursts run it. The exported value is read from the
/// Prometheus text: the counter's value or the summary's `_count`, summed over label sets.
struct Prometheus {
    series: &'static str,
    upkeep: bool,
}

impl Lib for Prometheus {
    fn name(&self) -> &'static str {
        "metrics"
    }
    fn flush(&self, _target: u64) -> u64 {
        if self.upkeep {
            peers().prometheus.run_upkeep();
        }
        0
    }
    fn exported(&self) -> Option<u64> {
        let text = peers().prometheus.render();
        let total: f64 = text
            .lines()
            .filter(|l| {
                l.strip_prefix(self.series)
                    .is_some_and(|rest| rest.starts_with(['{', ' ']))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        Some(total as u64)
    }
}

// ---------------------------------------------------------------------------------------------
// Timing and drop accounting
// ---------------------------------------------------------------------------------------------

/// What one library produced in one group, to compare with what it exported.
struct Tally {
    group: &'static str,
    base: Option<u64>,
    produced: u64,
}

impl Tally {
    /// Flushes once more and prints the DROPS line; `extra` counts records produced outside the
    /// timed calls since (e.g. a parent span ended after the benchmark).
    fn report(self, lib: &dyn Lib, extra: u64) {
        // Nothing to check, or the benchmark was filtered out on the command line.
        let Some(base) = self.base.filter(|_| self.produced > 0) else {
            return;
        };
        let mut produced = self.produced + extra;
        produced += lib.flush(base + produced);
        let exported = lib.exported().unwrap() - base;
        let line = format!(
            "DROPS {} {} produced={produced} exported={exported}",
            self.group,
            lib.name()
        );
        eprintln!("{line}");
        record_line(&line);
    }
}

/// Times `f` in bursts of [`BURST`] calls. Before each burst `begin()` runs and after it `end()`
/// (both untimed; `end` returns records it produced), then the library is flushed. `per_call` is
/// the number of records, in the library's unit, one call of `f` produces.
fn bench_bursts<S>(
    g: &mut Group<'_>,
    lib: &dyn Lib,
    per_call: u64,
    mut begin: impl FnMut() -> S,
    mut end: impl FnMut(S) -> u64,
    mut f: impl FnMut(),
) -> Tally {
    lib.flush(0);
    let base = lib.exported();
    let produced = Cell::new(0u64);
    g.g.bench_function(lib.name(), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BURST);
                let state = begin();
                let t = Instant::now();
                for _ in 0..n {
                    f();
                }
                total += t.elapsed();
                left -= n;
                produced.set(produced.get() + n * per_call + end(state));
                if let Some(base) = base {
                    produced.set(produced.get() + lib.flush(base + produced.get()));
                }
            }
            total
        })
    });
    Tally {
        group: g.name,
        base,
        produced: produced.get(),
    }
}

/// Appends a DROPS or PEAK line to `target/peers-counts.txt`, which `report.py` reads.
fn record_line(line: &str) {
    use std::io::Write;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers-counts.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// Resident memory now and at its peak since the last [`reset_peak_kib`], in KiB (Linux).
fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with(field))?;
            l.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Resets the peak resident memory (`VmHWM`) to the current one (Linux 4.0 and later).
fn reset_peak_kib() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Times `f` in a plain loop for criterion's 5 s, with no flush: what a user timing their own
/// instrumented code sees once the library's buffer is full, each library with its own policy
/// (ours waits for its writer; others drop, or let their queue grow). Then flushes, and prints
/// the DROPS line and a PEAK line: how much the process's resident memory grew during the run.
fn bench_tight(g: &mut Group<'_>, lib: &dyn Lib, per_call: u64, mut f: impl FnMut()) {
    lib.flush(0);
    let base = lib.exported();
    let before = rss_kib("VmRSS:");
    reset_peak_kib();
    let produced = Cell::new(0u64);
    g.g.bench_function(lib.name(), |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            let dt = t.elapsed();
            produced.set(produced.get() + iters * per_call);
            dt
        })
    });
    let grew = rss_kib("VmHWM:").saturating_sub(before);
    Tally {
        group: g.name,
        base,
        produced: produced.get(),
    }
    .report(lib, 0);
    let line = format!("PEAK {} {} grew_kib={grew}", g.name, lib.name());
    eprintln!("{line}");
    record_line(&line);
}

/// [`bench_bursts`] with nothing to do around a burst; reports drops right away.
fn bench(g: &mut Group<'_>, lib: &dyn Lib, per_call: u64, f: impl FnMut()) {
    bench_bursts(g, lib, per_call, || (), |()| 0, f).report(lib, 0);
}

/// A criterion group and its name, which criterion does not give back.
struct Group<'a> {
    name: &'static str,
    g: BenchmarkGroup<'a, WallTime>,
}

fn group<'a>(c: &'a mut Criterion, name: &'static str) -> Group<'a> {
    Group {
        name,
        g: c.benchmark_group(name),
    }
}

/// fastrace's local spans need a local parent: a root span per burst, created and ended outside
/// the timed region (as a request's root span would be), is the parent of the burst's calls.
fn fastrace_root_begin(name: &'static str) -> (fastrace::local::LocalParentGuard, FtSpan) {
    let root = FtSpan::root(name, FtContext::random());
    let guard = root.set_local_parent();
    (guard, root)
}

fn fastrace_root_end((guard, root): (fastrace::local::LocalParentGuard, FtSpan)) -> u64 {
    drop(guard);
    drop(root);
    1 // the root span's own record
}

// ---------------------------------------------------------------------------------------------
// The operations, one function per library, shared by the burst and the tight-loop groups
// ---------------------------------------------------------------------------------------------

/// A span started and ended, a child of the current span if there is one, else a root
/// (`is_recording` keeps ours alive to its drop without criterion copying it, as in
/// hot_path.rs).
fn mini_span(t: &mini_telemetry::Tracer) {
    black_box(t.start(black_box("span")).is_recording());
}
fn otel_span(p: &Peers) {
    drop(p.otel.tracer.start(black_box("span")));
}
fn tracing_span() {
    drop(tracing::info_span!("span"));
}
fn fastrace_span() {
    drop(FtSpan::root(black_box("span"), FtContext::random()));
}

/// A span with three attributes (string, integer, boolean) and an event without attributes.
fn mini_span_attrs(t: &mini_telemetry::Tracer) {
    let s = t.start("span");
    s.set_attributes(&[
        KeyValue::new("http.method", "GET"),
        KeyValue::new("http.status", 200),
        KeyValue::new("cache.hit", true),
    ]);
    s.add_event("event", &[]);
}
fn otel_span_attrs(p: &Peers) {
    let mut s = p.otel.tracer.start("span");
    s.set_attributes([
        OtelKv::new("http.method", "GET"),
        OtelKv::new("http.status", 200),
        OtelKv::new("cache.hit", true),
    ]);
    s.add_event("event", vec![]);
}
/// Two lines: the event and the span's close.
fn tracing_span_attrs() {
    let s = tracing::info_span!(
        "span",
        http.method = "GET",
        http.status = 200,
        cache.hit = true
    );
    tracing::info!(parent: &s, "event");
}
/// A root span and its event.
fn fastrace_span_attrs() {
    let s = FtSpan::root("span", FtContext::random()).with_properties(|| {
        [
            ("http.method", "GET"),
            ("http.status", "200"),
            ("cache.hit", "true"),
        ]
    });
    s.add_event(FtEvent::new("event"));
}

/// A log with two fields (status, path).
fn mini_log(l: &mini_telemetry::Logger) {
    info!(l, "request done", status = black_box(200), path = "/api")
}
fn otel_log(p: &Peers) {
    let mut r = p.otel.logger.create_log_record();
    r.set_severity_number(Severity::Info);
    r.set_severity_text("INFO");
    r.set_body("request done".into());
    r.add_attribute("status", black_box(200i64));
    r.add_attribute("path", "/api");
    p.otel.logger.emit(r);
}
fn tracing_log() {
    tracing::info!(status = black_box(200), path = "/api", "request done")
}

// ---------------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------------

/// A span started and ended, no attributes. Each library's cheapest idiomatic way: a new root
/// span (new trace id) in mini_telemetry, opentelemetry (`tracer.start`, not made current;
/// mini_telemetry's span *is* made current) and fastrace (`Span::root`); an unentered span in
/// tracing, which writes its line on close. `fastrace_local` is a `LocalSpan` under a root span
/// made per burst (outside the timed region), and `mini_telemetry_child` ours made the same way.
fn span_start_end(c: &mut Criterion) {
    let p = peers();
    let mini = mini_telemetry::tracer("bench");
    let mut g = group(c, "span_start_end");
    bench(&mut g, &Mini, 1, || mini_span(&mini));
    bench_bursts(
        &mut g,
        &MINI_CHILD,
        1,
        || mini_root_begin(&mini),
        mini_root_end,
        || mini_span(&mini),
    )
    .report(&MINI_CHILD, 0);
    bench(&mut g, &OtelSpans, 1, || otel_span(p));
    bench(&mut g, &TracingLib, 1, tracing_span);
    bench(&mut g, &Fastrace { name: "fastrace" }, 1, fastrace_span);
    let lib = Fastrace {
        name: "fastrace_local",
    };
    bench_bursts(
        &mut g,
        &lib,
        1,
        || fastrace_root_begin("burst"),
        fastrace_root_end,
        || drop(LocalSpan::enter_with_local_parent(black_box("span"))),
    )
    .report(&lib, 0);
    g.g.finish();
}

/// A span with three attributes (string, int, bool) and one event without attributes.
/// tracing has no span events: the event is an `info!` event whose parent is the span (its own
/// line), and the fields are given at creation, tracing's idiom. fastrace properties are strings
/// only: the values are given as static strings (no formatting cost is charged to fastrace).
/// `mini_telemetry_macro` sets ours through the `set_attributes!` macro.
fn span_3_attrs_1_event(c: &mut Criterion) {
    let p = peers();
    let mini = mini_telemetry::tracer("bench");
    let mut g = group(c, "span_3_attrs_1_event");
    let mini_op = || mini_span_attrs(&mini);
    bench(&mut g, &Mini, 1, mini_op);
    bench_bursts(
        &mut g,
        &MINI_CHILD,
        1,
        || mini_root_begin(&mini),
        mini_root_end,
        mini_op,
    )
    .report(&MINI_CHILD, 0);
    bench(&mut g, &MINI_MACRO, 1, || {
        let s = mini.start("span");
        mini_telemetry::set_attributes!(
            s,
            "http.method" = "GET",
            "http.status" = 200,
            "cache.hit" = true
        );
        s.add_event("event", &[]);
    });
    bench(&mut g, &OtelSpans, 1, || otel_span_attrs(p));
    // Two lines per call: the event and the span's close.
    bench(&mut g, &TracingLib, 2, tracing_span_attrs);
    // One span and one event per call.
    bench(
        &mut g,
        &Fastrace { name: "fastrace" },
        2,
        fastrace_span_attrs,
    );
    let lib = Fastrace {
        name: "fastrace_local",
    };
    bench_bursts(
        &mut g,
        &lib,
        2,
        || fastrace_root_begin("burst"),
        fastrace_root_end,
        || {
            let _s = LocalSpan::enter_with_local_parent("span").with_properties(|| {
                [
                    ("http.method", "GET"),
                    ("http.status", "200"),
                    ("cache.hit", "true"),
                ]
            });
            LocalSpan::add_event(FtEvent::new("event"));
        },
    )
    .report(&lib, 0);
    g.g.finish();
}

/// An INFO log with a message and two fields (int, string) while a span is current, so the
/// record carries the trace and span ids. opentelemetry: the Logger API directly (the SDK takes
/// the trace context from the current `Context`). fastrace has no logs: the closest is an event
/// on the current local parent (a root span per burst, outside the timed region), and its
/// properties are static strings.
fn log_2_fields_in_span(c: &mut Criterion) {
    let p = peers();
    let mut g = group(c, "log_2_fields_in_span");

    let tracer = mini_telemetry::tracer("bench");
    let logger = mini_telemetry::logger("bench");
    let parent = tracer.start("parent");
    let tally = bench_bursts(&mut g, &Mini, 1, || (), |()| 0, || mini_log(&logger));
    drop(parent);
    tally.report(&Mini, 1); // + the parent span

    let cx = Context::current_with_span(p.otel.tracer.start("parent"));
    let attached = cx.clone().attach();
    // Log records only: the parent span goes to the span exporter, not counted here.
    bench(&mut g, &OtelLogs, 1, || otel_log(p));
    drop(attached);
    cx.span().end();

    let parent = tracing::info_span!("parent");
    let entered = parent.enter();
    let tally = bench_bursts(&mut g, &TracingLib, 1, || (), |()| 0, tracing_log);
    drop(entered);
    drop(parent);
    tally.report(&TracingLib, 1); // + the parent span's close line

    let lib = Fastrace { name: "fastrace" };
    bench_bursts(
        &mut g,
        &lib,
        1,
        || fastrace_root_begin("parent"),
        fastrace_root_end,
        || {
            LocalSpan::add_event(
                FtEvent::new("request done")
                    .with_properties(|| [("status", "200"), ("path", "/api")]),
            )
        },
    )
    .report(&lib, 0);
    g.g.finish();
}

/// The same library's spans under another name (a `tracing` layer over it).
struct Named<L>(&'static str, L);

impl<L: Lib> Lib for Named<L> {
    fn name(&self) -> &'static str {
        self.0
    }
    fn flush(&self, target: u64) -> u64 {
        self.1.flush(target)
    }
    fn exported(&self) -> Option<u64> {
        self.1.exported()
    }
}

/// The `tracing` facade through three subscribers, in one run: mini_telemetry's layer
/// (`tracing_bridge::layer()` over a registry), tracing-subscriber's JSON layer (the `tracing`
/// peer, the global default) and tracing-opentelemetry's layer over the SDK's batch span
/// processor. An event with two fields inside an entered span (a log record, a JSON line, an
/// event of the OpenTelemetry span), and a span created, entered, exited and closed.
fn tracing_layers(c: &mut Criterion) {
    use tracing_subscriber::layer::SubscriberExt;
    let p = peers();
    let ours = tracing::Dispatch::new(
        tracing_subscriber::registry().with(mini_telemetry::tracing_bridge::layer()),
    );
    let otel = tracing::Dispatch::new(tracing_subscriber::registry().with(
        tracing_opentelemetry::layer().with_tracer(p.otel.tracer_provider.tracer("bench-tracing")),
    ));
    let otel_lib = Named("tracing_opentelemetry", OtelSpans);

    let event = || tracing::info!(status = black_box(200), path = "/api", "request done");
    {
        let mut g = group(c, "tracing_event_2_fields");
        tracing::dispatcher::with_default(&ours, || {
            let parent = tracing::info_span!("parent");
            let entered = parent.enter();
            let tally = bench_bursts(&mut g, &Mini, 1, || (), |()| 0, event);
            drop(entered);
            drop(parent);
            tally.report(&Mini, 1); // + the parent span
        });
        let parent = tracing::info_span!("parent");
        let entered = parent.enter();
        let tally = bench_bursts(&mut g, &TracingLib, 1, || (), |()| 0, event);
        drop(entered);
        drop(parent);
        tally.report(&TracingLib, 1);
        tracing::dispatcher::with_default(&otel, || {
            // Events are kept in the span: one exported record, at the end.
            let parent = tracing::info_span!("parent");
            let entered = parent.enter();
            let tally = bench_bursts(&mut g, &otel_lib, 0, || (), |()| 0, event);
            drop(entered);
            drop(parent);
            tally.report(&otel_lib, 1);
        });
        g.g.finish();
    }

    let mut g = group(c, "tracing_span");
    let span = || {
        let s = tracing::info_span!("work", n = black_box(1));
        let _e = s.enter();
    };
    tracing::dispatcher::with_default(&ours, || bench(&mut g, &Mini, 1, span));
    bench(&mut g, &TracingLib, 1, span);
    tracing::dispatcher::with_default(&otel, || bench(&mut g, &otel_lib, 1, span));
    g.g.finish();
}

/// A monotonic counter incremented by 1 with two attributes given per call.
/// metrics: the `counter!` macro with two static labels, per call (registry lookup each time).
fn counter_add_2_attrs(c: &mut Criterion) {
    let p = peers();
    let mut g = group(c, "counter_add_2_attrs");
    let mini = mini_telemetry::meter("bench").counter("requests").build();
    bench(&mut g, &MiniMetric, 1, || {
        mini.add(
            black_box(1),
            &[
                KeyValue::new("endpoint", "/api"),
                KeyValue::new("method", "GET"),
            ],
        )
    });
    let otel = p.otel.meter.u64_counter("requests").build();
    bench(&mut g, &OtelMetric { metric: "requests" }, 1, || {
        otel.add(
            black_box(1),
            &[
                OtelKv::new("endpoint", "/api"),
                OtelKv::new("method", "GET"),
            ],
        )
    });
    let lib = Prometheus {
        series: "requests",
        upkeep: false,
    };
    bench(&mut g, &lib, 1, || {
        metrics::counter!("requests", "endpoint" => "/api", "method" => "GET")
            .increment(black_box(1))
    });
    g.g.finish();
}

/// The same counter through a handle resolved once for one attribute set: mini_telemetry's
/// `bind`, opentelemetry's `Counter::bind` (experimental in 0.33, feature
/// `experimental_metrics_bound_instruments`), and the handle `metrics::counter!` returns.
fn counter_bound(c: &mut Criterion) {
    let p = peers();
    let mut g = group(c, "counter_bound");
    let mini = mini_telemetry::meter("bench")
        .counter("requests_bound")
        .build()
        .bind(&[KeyValue::new("endpoint", "/api")]);
    bench(&mut g, &MiniMetric, 1, || mini.add(black_box(1)));
    let otel = p
        .otel
        .meter
        .u64_counter("requests_bound")
        .build()
        .bind(&[OtelKv::new("endpoint", "/api")]);
    let lib = OtelMetric {
        metric: "requests_bound",
    };
    bench(&mut g, &lib, 1, || otel.add(black_box(1)));
    let handle = metrics::counter!("requests_bound", "endpoint" => "/api");
    let lib = Prometheus {
        series: "requests_bound",
        upkeep: false,
    };
    bench(&mut g, &lib, 1, || handle.increment(black_box(1)));
    g.g.finish();
}

/// A histogram value recorded with one attribute given per call. opentelemetry: the default
/// explicit-bucket histogram. metrics: the Prometheus recorder's default, a summary, whose
/// samples are only appended to a bucket on the calling thread and aggregated at upkeep.
fn histogram_record_1_attr(c: &mut Criterion) {
    let p = peers();
    let mut g = group(c, "histogram_record_1_attr");
    let mut v = 0.0f64;
    // A cheap walk over 0..1000 (not `%`: fmod would cost more than some of the calls timed).
    let mut next = move || {
        v = if v > 999.0 { 0.37 } else { v + 0.37 };
        black_box(v)
    };
    let mini = mini_telemetry::meter("bench")
        .histogram("latency")
        .with_unit("ms")
        .build();
    bench(&mut g, &MiniMetric, 1, || {
        mini.record(next(), &[KeyValue::new("endpoint", "/api")])
    });
    let otel = p
        .otel
        .meter
        .f64_histogram("latency")
        .with_unit("ms")
        .build();
    bench(&mut g, &OtelMetric { metric: "latency" }, 1, || {
        otel.record(next(), &[OtelKv::new("endpoint", "/api")])
    });
    let lib = Prometheus {
        series: "latency_count",
        upkeep: true,
    };
    bench(&mut g, &lib, 1, || {
        metrics::histogram!("latency", "endpoint" => "/api").record(next())
    });
    g.g.finish();
}

/// Initialises every library before the first group, so no set-up lands in a measurement.
fn setup(_c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peers-counts.txt");
    let _ = std::fs::remove_file(path);
    peers();
}

/// Spans started and ended in a tight loop for 5 s (no flush): new root spans in each library,
/// as in `span_start_end`. fastrace's local spans are left out: under one root for 5 s they
/// would pile up in memory until the root ends.
fn tight_loop_span(c: &mut Criterion) {
    let p = peers();
    let mini = mini_telemetry::tracer("bench");
    let mut g = group(c, "tight_loop_span");
    g.g.measurement_time(Duration::from_secs(5));
    bench_tight(&mut g, &Mini, 1, || mini_span(&mini));
    bench_tight(&mut g, &OtelSpans, 1, || otel_span(p));
    bench_tight(&mut g, &TracingLib, 1, tracing_span);
    bench_tight(&mut g, &Fastrace { name: "fastrace" }, 1, fastrace_span);
    g.g.finish();
}

/// Spans with three attributes and an event in a tight loop for 5 s (no flush), as in
/// `span_3_attrs_1_event`: the writer's pace for spans that carry parts, in ours. fastrace's
/// local spans are left out, as in `tight_loop_span`.
fn tight_loop_span_3_attrs_1_event(c: &mut Criterion) {
    let p = peers();
    let mini = mini_telemetry::tracer("bench");
    let mut g = group(c, "tight_loop_span_3_attrs_1_event");
    g.g.measurement_time(Duration::from_secs(5));
    bench_tight(&mut g, &Mini, 1, || mini_span_attrs(&mini));
    bench_tight(&mut g, &OtelSpans, 1, || otel_span_attrs(p));
    bench_tight(&mut g, &TracingLib, 2, tracing_span_attrs);
    bench_tight(
        &mut g,
        &Fastrace { name: "fastrace" },
        2,
        fastrace_span_attrs,
    );
    g.g.finish();
}

/// Logs with two fields in a tight loop for 5 s (no flush), outside any span. fastrace is left
/// out: its events need a local parent, which would hold them all until it ends.
fn tight_loop_log(c: &mut Criterion) {
    let p = peers();
    let logger = mini_telemetry::logger("bench");
    let mut g = group(c, "tight_loop_log");
    g.g.measurement_time(Duration::from_secs(5));
    bench_tight(&mut g, &Mini, 1, || mini_log(&logger));
    bench_tight(&mut g, &OtelLogs, 1, || otel_log(p));
    bench_tight(&mut g, &TracingLib, 1, tracing_log);
    g.g.finish();
}

// ---------------------------------------------------------------------------------------------
// Paced requests: latency of a whole request, one at a time, each library in turn
// ---------------------------------------------------------------------------------------------

// `request(tracer, logger, counter, histogram, i)`: the request of ../bench's `request` group and
// instruction count, so the three describe the same calls.
include!("../../bench/benches/shared/request.rs");

/// Requests timed per library, after [`PACED_WARMUP`] untimed ones and a flush.
const PACED_REQUESTS: u64 = 100_000;
const PACED_WARMUP: u64 = 5_000;
/// The pause between two requests (a busy wait: the thread does not sleep).
const PACE: Duration = Duration::from_micros(2);

/// The same request in opentelemetry: spans made current through `Context`, logs through the
/// Logger API (the SDK takes the trace context from the current `Context`), the SDK's counter
/// and histogram.
fn otel_request(
    p: &Peers,
    counter: &opentelemetry::metrics::Counter<u64>,
    hist: &opentelemetry::metrics::Histogram<f64>,
    i: u64,
) {
    let t = &p.otel.tracer;
    let root = t
        .span_builder("GET /api/users")
        .with_kind(opentelemetry::trace::SpanKind::Server)
        .with_attributes([OtelKv::new("http.route", "/api/users")])
        .start(t);
    let root_cx = Context::current_with_span(root);
    let _root = root_cx.clone().attach();
    {
        let _db = Context::current_with_span(t.start("db.query")).attach();
        otel_log_1(p, "query done", "rows", 3);
    }
    drop(t.start("cache.get"));
    otel_log_1(p, "request done", "status", 200);
    counter.add(1, &[OtelKv::new("http.route", "/api/users")]);
    hist.record(
        (i % 100) as f64 * 0.25,
        &[OtelKv::new("http.route", "/api/users")],
    );
}

/// An INFO log record with a body and one attribute, through opentelemetry's Logger API.
fn otel_log_1(p: &Peers, body: &'static str, key: &'static str, value: i64) {
    let mut r = p.otel.logger.create_log_record();
    r.set_severity_number(Severity::Info);
    r.set_severity_text("INFO");
    r.set_body(body.into());
    r.add_attribute(key, value);
    p.otel.logger.emit(r);
}

/// The same request in tracing (spans entered, events inside them) with the `metrics` crate for
/// the counter and the histogram, as a service using both would write it.
fn tracing_request(i: u64) {
    let _root = tracing::info_span!(
        "GET /api/users",
        otel.kind = "server",
        http.route = "/api/users"
    )
    .entered();
    {
        let _db = tracing::info_span!("db.query").entered();
        tracing::info!(rows = 3, "query done");
    }
    drop(tracing::info_span!("cache.get").entered());
    tracing::info!(status = 200, "request done");
    metrics::counter!("paced_requests", "http.route" => "/api/users").increment(1);
    metrics::histogram!("paced_latency", "http.route" => "/api/users")
        .record((i % 100) as f64 * 0.25);
}

/// The same request in fastrace (a root span per request, local spans under it, events for
/// the two logs: fastrace has no logs) with the `metrics` crate.
fn fastrace_request(i: u64) {
    let root = FtSpan::root("GET /api/users", FtContext::random())
        .with_properties(|| [("http.route", "/api/users")]);
    let _parent = root.set_local_parent();
    {
        let _db = LocalSpan::enter_with_local_parent("db.query");
        LocalSpan::add_event(FtEvent::new("query done").with_properties(|| [("rows", "3")]));
    }
    drop(LocalSpan::enter_with_local_parent("cache.get"));
    LocalSpan::add_event(FtEvent::new("request done").with_properties(|| [("status", "200")]));
    metrics::counter!("paced_requests", "http.route" => "/api/users").increment(1);
    metrics::histogram!("paced_latency", "http.route" => "/api/users")
        .record((i % 100) as f64 * 0.25);
}

/// Times [`PACED_REQUESTS`] calls of `request`, one by one, [`PACE`] apart, after a warm-up and
/// a flush; then flushes, prints the DROPS line (`per_request` records a request produces, in
/// the library's unit) and a PACED line with the latency percentiles, in nanoseconds.
fn paced(lib: &dyn Lib, per_request: u64, mut request: impl FnMut(u64)) {
    lib.flush(0);
    let base = lib.exported();
    for i in 0..PACED_WARMUP {
        request(i);
        spin(PACE);
    }
    let mut produced = PACED_WARMUP * per_request;
    if let Some(base) = base {
        produced += lib.flush(base + produced);
    }
    let mut lat: Vec<u64> = Vec::with_capacity(PACED_REQUESTS as usize);
    for i in 0..PACED_REQUESTS {
        let t = Instant::now();
        request(i);
        lat.push(t.elapsed().as_nanos() as u64);
        spin(PACE);
    }
    produced += PACED_REQUESTS * per_request;
    Tally {
        group: "paced_request",
        base,
        produced,
    }
    .report(lib, 0);
    lat.sort_unstable();
    let at = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize];
    let line = format!(
        "PACED paced_request {} p50={} p99={} p999={} max={}",
        lib.name(),
        at(0.5),
        at(0.99),
        at(0.999),
        lat[lat.len() - 1]
    );
    eprintln!("{line}");
    record_line(&line);
}

fn spin(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// A request (a server span with an attribute; a child span with a log in it; a second child
/// span; a log; a counter add and a histogram record with one attribute each) every 2 µs,
/// each request timed on its own, 100,000 per library: latency as a server sees it, with each
/// library's background work running beside it. Not a criterion group: the percentiles go to
/// `target/peers-counts.txt` (PACED lines), which `report.py` tables.
fn paced_request(_c: &mut Criterion) {
    if filtered_out("paced_request") {
        return;
    }
    let p = peers();
    let tracer = mini_telemetry::tracer("bench.request");
    let logger = mini_telemetry::logger("bench.request");
    let meter = mini_telemetry::meter("bench.request");
    let counter = meter.counter("paced_requests").build();
    let hist = meter.histogram("paced_latency").with_unit("ms").build();
    // Five lines a request (three spans, two logs); the metric lines written by the flushes
    // are counted as exported too.
    paced(&Mini, 5, |i| request(&tracer, &logger, &counter, &hist, i));

    let counter = p.otel.meter.u64_counter("paced_requests").build();
    let hist = p
        .otel
        .meter
        .f64_histogram("paced_latency")
        .with_unit("ms")
        .build();
    // Spans only: three a request (the two log records go to the log exporter).
    paced(&OtelSpans, 3, |i| otel_request(p, &counter, &hist, i));

    // Five lines a request: three span closes, two events.
    paced(&TracingLib, 5, tracing_request);

    // Three spans and two events a request.
    paced(&Fastrace { name: "fastrace" }, 5, fastrace_request);
}

// ---------------------------------------------------------------------------------------------
// Sustained: as many calls as fast as possible, then until everything is out
// ---------------------------------------------------------------------------------------------

/// Calls per library in the sustained groups.
const SUSTAINED_CALLS: u64 = 200_000;

/// Makes [`SUSTAINED_CALLS`] calls of `f` back to back, then flushes the library until what it
/// will export is out, and prints a SUSTAINED line: the time from the first call to the end of
/// the flush, the records produced and exported, and how much resident memory grew.
fn sustained(lib: &dyn Lib, group: &'static str, per_call: u64, mut f: impl FnMut()) {
    lib.flush(0);
    let base = lib.exported().unwrap_or(0);
    let before = rss_kib("VmRSS:");
    reset_peak_kib();
    let t = Instant::now();
    for _ in 0..SUSTAINED_CALLS {
        f();
    }
    let mut produced = SUSTAINED_CALLS * per_call;
    produced += lib.flush(base + produced);
    let ns = t.elapsed().as_nanos();
    let exported = lib.exported().unwrap_or(0) - base;
    let grew = rss_kib("VmHWM:").saturating_sub(before);
    let line = format!(
        "SUSTAINED {group} {} produced={produced} exported={exported} ns={ns} grew_kib={grew}",
        lib.name()
    );
    eprintln!("{line}");
    record_line(&line);
}

/// Whether the command line names groups, none of them `group` (criterion does not see the
/// groups that time themselves).
fn filtered_out(group: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    !filters.is_empty()
        && !filters
            .iter()
            .any(|f| f.split('|').any(|part| group.contains(part)))
}

/// Root spans (as in `tight_loop_span`), then a flush: the rate a service gets out of each
/// library, with its policy when the producer outruns the export (ours waits; opentelemetry and
/// tracing-appender drop; fastrace's queue grows). fastrace's local spans are left out, as in
/// the tight loop.
fn sustained_spans(_c: &mut Criterion) {
    if filtered_out("sustained_spans") {
        return;
    }
    let p = peers();
    let mini = mini_telemetry::tracer("bench");
    let group = "sustained_spans";
    sustained(&Mini, group, 1, || mini_span(&mini));
    sustained(&OtelSpans, group, 1, || otel_span(p));
    sustained(&TracingLib, group, 1, tracing_span);
    sustained(&Fastrace { name: "fastrace" }, group, 1, fastrace_span);
}

/// Logs with two fields (as in `tight_loop_log`), then a flush.
fn sustained_logs(_c: &mut Criterion) {
    if filtered_out("sustained_logs") {
        return;
    }
    let p = peers();
    let logger = mini_telemetry::logger("bench");
    let group = "sustained_logs";
    sustained(&Mini, group, 1, || mini_log(&logger));
    sustained(&OtelLogs, group, 1, || otel_log(p));
    sustained(&TracingLib, group, 1, tracing_log);
}

criterion_group!(
    benches,
    setup,
    span_start_end,
    span_3_attrs_1_event,
    log_2_fields_in_span,
    tracing_layers,
    counter_add_2_attrs,
    counter_bound,
    histogram_record_1_attr,
    paced_request,
    // Before the tight loops: fastrace's tight loop leaves millions of commands parked in this
    // thread, which a later group's flush would export first, in its place.
    sustained_spans,
    sustained_logs,
    tight_loop_span,
    tight_loop_span_3_attrs_1_event,
    tight_loop_log
);
criterion_main!(benches);

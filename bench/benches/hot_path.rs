//! Cost of one call on the calling thread, with the writer thread running and output going to
//! /dev/null. Each group has a baseline measured in the same run.
//!
//! Telemetry runs with `Config::new(..)`'s defaults (output to /dev/null), as a user gets it.
//! Record-producing calls are timed in bursts that fit in the thread's ring, with a flush
//! between bursts outside the timed region (made by a helper thread while the calling thread
//! waits busy, so that its CPU neither halts nor runs dense pause hints: see
//! `shared/flush.rs`): in lossless mode a producer that outruns the writer for long enough
//! waits for it, and then the number would be the writer's throughput, not the call's cost. The metric calls with targets are timed in chunks of 100,000 calls. Between two
//! bursts or chunks of a row with a target, also outside the timed region, a reference block
//! with no telemetry is timed: its median over the row says how fast the host ran while that
//! row was measured (`target/hot_path_host.txt`, read by `scripts/bench_report.py`). The
//! `tight_loop` group times the same calls the way `cargo criterion` users do, in a plain loop
//! for 5 s with no flush, so that the writer's pace is in it.
//!
//! ```text
//! cargo bench -p mini-telemetry-bench --bench hot_path
//! ```

use criterion::measurement::WallTime;
use criterion::{Bencher, BenchmarkGroup, Criterion, black_box, criterion_group, criterion_main};
use mini_telemetry::{Config, KeyValue, Sink, info};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Calls per timed burst: the default 2 MiB ring holds a burst of the largest call measured
/// (a span with 3 attributes and an event, about 300 bytes in the ring).
const BURST: u64 = 5_000;

/// Calls per timed chunk of a metric call (no record, nothing to flush): long enough that the
/// reference block timed between chunks adds little to the run.
const CHUNK: u64 = 100_000;

/// Times `f` in bursts of [`BURST`] calls, each followed by a flush ([`flush_spinning`]) and a
/// [`gauge`], both outside the timed region.
fn bursts(b: &mut Bencher<'_>, f: impl FnMut()) {
    timed_in_parts(b, BURST, true, f)
}

/// Times `f` in chunks of [`CHUNK`] calls, each followed by a [`gauge`] outside the timed region.
fn chunks(b: &mut Bencher<'_>, f: impl FnMut()) {
    timed_in_parts(b, CHUNK, false, f)
}

/// The timed loop of [`bursts`] and [`chunks`]: `part` calls at a time, criterion's count in all.
fn timed_in_parts(b: &mut Bencher<'_>, part: u64, flush: bool, mut f: impl FnMut()) {
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(part);
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            total += t.elapsed();
            left -= n;
            if flush {
                flush_spinning();
            }
            gauge();
        }
        total
    })
}

include!("shared/flush.rs");

/// The reference block's times (ns) between the timed parts of the row being measured.
static ROW_HOST: Mutex<Vec<f64>> = Mutex::new(Vec::new());

/// Times the reference block once, between two timed parts of a row: how fast the host ran
/// while that row was measured. (The `host` rows time it only before the first row and after
/// the last, minutes apart; the host's speed moves within seconds.)
fn gauge() {
    let t = Instant::now();
    black_box(reference_block());
    let ns = t.elapsed().as_nanos() as f64;
    ROW_HOST.lock().unwrap_or_else(|e| e.into_inner()).push(ns);
}

/// Where [`row`] writes each row's host gauge, for `scripts/bench_report.py`: one line per row,
/// `group/row`, the reference block's median time in nanoseconds, and how many times it ran.
fn host_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/hot_path_host.txt")
}

/// `g.bench_function(id, f)` for a row timed with [`bursts`] or [`chunks`], then the reference
/// block's median over that row appended to [`host_file`] (and printed). A row that a filter
/// skipped writes nothing.
fn row(
    g: &mut BenchmarkGroup<'_, WallTime>,
    group: &str,
    id: &str,
    f: impl FnMut(&mut Bencher<'_>),
) {
    ROW_HOST.lock().unwrap_or_else(|e| e.into_inner()).clear();
    g.bench_function(id, f);
    let mut v = std::mem::take(&mut *ROW_HOST.lock().unwrap_or_else(|e| e.into_inner()));
    if v.is_empty() {
        return;
    }
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    eprintln!(
        "host during {group}/{id}: reference block {:.2} µs (median of {})",
        median / 1e3,
        v.len()
    );
    use std::io::Write;
    let line = format!("{group}/{id}\t{median:.0}\t{}\n", v.len());
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(host_file())
        .and_then(|mut f| f.write_all(line.as_bytes()));
}

fn disabled(c: &mut Criterion) {
    // Runs before init: every call is a no-op.
    let tracer = mini_telemetry::tracer("bench");
    let logger = mini_telemetry::logger("bench");
    let counter = mini_telemetry::meter("bench").counter("disabled").build();
    let mut g = c.benchmark_group("disabled");
    // Returning the span itself would make criterion copy the whole guard into memory, which a
    // caller never does; `is_recording` keeps start and drop alive without that copy.
    g.bench_function("span", |b| {
        b.iter(|| tracer.start(black_box("noop")).is_recording())
    });
    g.bench_function("log_macro", |b| {
        b.iter(|| info!(logger, "noop", a = black_box(1)))
    });
    g.bench_function("counter_add_2_attrs", |b| {
        b.iter(|| {
            counter.add(
                1,
                &[KeyValue::new("a", "x"), KeyValue::new("b", black_box(2))],
            )
        })
    });
    g.bench_function("counter_add_2_attrs_macro", |b| {
        b.iter(|| mini_telemetry::add!(counter, 1, a = "x", b = black_box(2)))
    });
    g.finish();
}

fn init() {
    // The CPU, for the record of the run.
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("model name"))?;
            Some(l.split(':').nth(1)?.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    eprintln!("hot_path: CPU {cpu}; telemetry with Config::new(..)'s defaults");
    // This run's host gauges only (see `row`).
    let _ = std::fs::remove_file(host_file());
    let guard = Config::new("bench", "0", "bench")
        .sink(Sink::File("/dev/null".into()))
        .install()
        .expect("init");
    // Keep telemetry running for the rest of the process.
    std::mem::forget(guard);
}

fn baseline(c: &mut Criterion) {
    init();
    let mut g = c.benchmark_group("baseline");
    g.bench_function("instant_now", |b| b.iter(Instant::now));
    // The clock floor of a span: its two time-stamp counter reads (start and end).
    #[cfg(target_arch = "x86_64")]
    g.bench_function("two_rdtsc", |b| {
        b.iter(|| {
            // SAFETY: `rdtsc` has no preconditions on x86-64 (a safe function on recent
            // toolchains, `unsafe` on older ones, hence the `allow`).
            #[allow(unused_unsafe)]
            let (a, z) = unsafe { (core::arch::x86_64::_rdtsc(), core::arch::x86_64::_rdtsc()) };
            black_box(z.wrapping_sub(a))
        })
    });
    let a = AtomicU64::new(0);
    g.bench_function("atomic_add_relaxed", |b| {
        b.iter(|| a.fetch_add(black_box(1), Ordering::Relaxed))
    });
    g.finish();
}

include!("shared/reference.rs");

/// The host's speed as this run finds it: the reference block that opens every round of the
/// `throughput` bench's `rounds` group, timed before the first call and after the last. A
/// virtual host runs the same code up to 1.7x slower in some stretches than in others (its
/// neighbours' load), and every call here moves with it; these rows place criterion's run on
/// the rounds' scale ("quiet" rounds against the others).
fn host_speed(c: &mut Criterion, id: &str) {
    let mut g = c.benchmark_group("host");
    g.measurement_time(Duration::from_secs(3));
    g.bench_function(id, |b| b.iter(reference_block));
    g.finish();
}

fn host_before(c: &mut Criterion) {
    host_speed(c, "reference_block_before");
}

fn host_after(c: &mut Criterion) {
    host_speed(c, "reference_block_after");
}

include!("shared/ops.rs");

fn spans(c: &mut Criterion) {
    let tracer = mini_telemetry::tracer("bench");
    // The calls timed here are not their shape's only call in the program (see `ops.rs`).
    op_same_shapes_again(&tracer, &mini_telemetry::logger("bench"));
    let mut g = c.benchmark_group("span");
    row(&mut g, "span", "start_end", |b| {
        bursts(b, || op_span(&tracer))
    });
    row(&mut g, "span", "start_end_3_attrs_1_event", |b| {
        bursts(b, || op_span_3_attrs_1_event(&tracer))
    });
    row(&mut g, "span", "start_end_3_attrs_macro_1_event", |b| {
        bursts(b, || op_span_3_attrs_macro_1_event(&tracer))
    });
    // Not sampled (its parent was not, and the default sampler follows parents): ids and the
    // thread's span stack, no record.
    let unsampled = mini_telemetry::SpanContext::new(1, 2).with_trace_flags(0);
    g.bench_function("start_end_unsampled", |b| {
        b.iter(|| {
            tracer
                .span(black_box("unsampled"))
                .parent(unsampled)
                .start()
                .is_recording()
        })
    });
    // The same inside an unsampled trace, with `start`: a child of the current span.
    g.bench_function("start_end_unsampled_child", |b| {
        let _root = tracer.span("root").parent(unsampled).start();
        b.iter(|| tracer.start(black_box("unsampled")).is_recording())
    });
    g.finish();
}

fn futures(c: &mut Criterion) {
    use mini_telemetry::{FutureExt, SpanContext};
    use std::future::Future;
    use std::task::{Context, Waker};
    let tracer = mini_telemetry::tracer("bench");
    let mut g = c.benchmark_group("future");
    let mut cx = Context::from_waker(Waker::noop());
    let parent = SpanContext::new(1, 2);
    // One poll of a ready future under a context: the adapter's enter and exit, no record.
    g.bench_function("with_context_poll", |b| {
        b.iter(|| {
            let mut f = std::pin::pin!(std::future::ready(black_box(1)).with_context(parent));
            f.as_mut().poll(&mut cx)
        })
    });
    // An async span around one poll: start, enter, exit, end (one record).
    g.bench_function("in_span_start_poll_end", |b| {
        bursts(b, || {
            let span = tracer.start_async(black_box("task"));
            let mut f = std::pin::pin!(std::future::ready(1).in_span(span));
            let _ = f.as_mut().poll(&mut cx);
        })
    });
    g.finish();
}

/// `tracing::info!` with two fields, through our layer and through tracing-subscriber's JSON
/// layer (to `io::sink`, on the calling thread), in the same run; and a span entered and closed
/// (the JSON layer set to write a line when a span closes, as ours writes the span: by default
/// it writes nothing for a span).
fn tracing_layer(c: &mut Criterion) {
    use tracing_subscriber::layer::SubscriberExt;
    let ours = tracing::Dispatch::new(
        tracing_subscriber::registry().with(mini_telemetry::tracing_bridge::layer()),
    );
    let json = tracing::Dispatch::new(
        tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
                .with_writer(std::io::sink),
        ),
    );
    let mut g = c.benchmark_group("tracing");
    for (name, dispatch) in [
        ("info_2_fields/ours", &ours),
        ("info_2_fields/fmt_json", &json),
    ] {
        tracing::dispatcher::with_default(dispatch, || {
            let span = tracing::info_span!("parent");
            let _e = span.enter();
            g.bench_function(name, |b| {
                bursts(b, || {
                    tracing::info!(status = black_box(200), path = "/api", "request done")
                })
            });
        });
    }
    for (name, dispatch) in [("span/ours", &ours), ("span/fmt_json", &json)] {
        tracing::dispatcher::with_default(dispatch, || {
            g.bench_function(name, |b| {
                bursts(b, || {
                    let span = tracing::info_span!("work", n = black_box(1));
                    let _e = span.enter();
                })
            });
        });
    }
    g.finish();
}

fn logs(c: &mut Criterion) {
    let tracer = mini_telemetry::tracer("bench");
    let logger = mini_telemetry::logger("bench");
    let mut g = c.benchmark_group("log");
    let span = tracer.start("parent");
    row(&mut g, "log", "macro_2_fields_in_span", |b| {
        bursts(b, || op_log_macro_2_fields(&logger))
    });
    g.bench_function("dynamic_2_attrs_in_span", |b| {
        bursts(b, || {
            logger.log(
                mini_telemetry::Level::Info,
                "request done",
                &[
                    KeyValue::new("status", black_box(200)),
                    KeyValue::new("path", "/api"),
                ],
            )
        })
    });
    drop(span);
    g.finish();
}

fn counters(c: &mut Criterion) {
    let meter = mini_telemetry::meter("bench");
    let counter = meter.counter("requests").build();
    let bound = counter.bind(&[KeyValue::new("endpoint", "/api")]);
    let mut g = c.benchmark_group("counter");
    row(&mut g, "counter", "bound_add", |b| {
        chunks(b, || bound.add(black_box(1)))
    });
    row(&mut g, "counter", "add_2_attrs", |b| {
        chunks(b, || op_counter_add_2_attrs(&counter))
    });
    g.bench_function("add_2_attrs_macro", |b| {
        b.iter(|| op_counter_add_2_attrs_macro(&counter))
    });
    g.finish();
}

fn histograms(c: &mut Criterion) {
    let meter = mini_telemetry::meter("bench");
    let hist = meter.histogram("latency").with_unit("ms").build();
    let bound = hist.bind(&[KeyValue::new("endpoint", "/api")]);
    let mut g = c.benchmark_group("histogram");
    let mut v = 0.0;
    row(&mut g, "histogram", "bound_record", |b| {
        chunks(b, || {
            // A cheap walk over 0..1000 (not `%`: fmod costs more than the call being timed).
            v = if v > 999.0 { 0.37 } else { v + 0.37 };
            bound.record(black_box(v))
        })
    });
    row(&mut g, "histogram", "record_1_attr", |b| {
        chunks(b, || {
            v = if v > 999.0 { 0.37 } else { v + 0.37 };
            op_hist_record_1_attr(&hist, black_box(v))
        })
    });
    g.finish();
}

/// The record-making calls in a plain loop for 5 s, no flush: what a user timing their own
/// instrumented code sees once the writer sets the pace (lossless, so a call waits when its
/// ring is full).
fn tight_loop(c: &mut Criterion) {
    let tracer = mini_telemetry::tracer("bench");
    let logger = mini_telemetry::logger("bench");
    let meter = mini_telemetry::meter("bench");
    let counter = meter.counter("tight.requests").build();
    let hist = meter.histogram("tight.latency").build();
    mini_telemetry::flush();
    let mut g = c.benchmark_group("tight_loop");
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("span_start_end", |b| b.iter(|| op_span(&tracer)));
    g.bench_function("span_3_attrs_1_event", |b| {
        b.iter(|| op_span_3_attrs_1_event(&tracer))
    });
    {
        let _parent = tracer.start("parent");
        g.bench_function("log_macro_2_fields_in_span", |b| {
            b.iter(|| op_log_macro_2_fields(&logger))
        });
    }
    let mut i = 0u64;
    g.bench_function("request", |b| {
        b.iter(|| {
            i += 1;
            request(&tracer, &logger, &counter, &hist, black_box(i))
        })
    });
    g.finish();
    let st = mini_telemetry::stats();
    eprintln!(
        "tight_loop: dropped {} lost {} waits {}",
        st.dropped, st.lost, st.waits
    );
}

include!("shared/request.rs");

criterion_group!(
    benches,
    disabled,
    host_before,
    baseline,
    spans,
    futures,
    tracing_layer,
    logs,
    counters,
    histograms,
    tight_loop,
    host_after
);
criterion_main!(benches);

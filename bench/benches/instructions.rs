//! One operation in a loop, for counting instructions with callgrind (repeatable where wall
//! time is not): `scripts/instructions.sh` runs it under valgrind for N and 2N calls and prints
//! the difference per call, on the calling thread only. Run alone it just does the calls:
//! `cargo bench --bench instructions -- <op> <n>` with op one of span_disabled (a span started
//! before init), span (a child of an open span), span_root (the same call with no span open: a new trace, as the wall-time benches
//! time it), span_unsampled (a builder with an unsampled explicit parent),
//! span_unsampled_child (`start` inside an unsampled span), span_attrs, span_attrs_macro (the same
//! through the `set_attributes!` macro), span_attrs_slice (the same as a slice of unknown
//! length: the general path), span_builder_attrs (the same attributes given to the builder,
//! at start), log, log_method (the same log through `Logger::log` and an
//! array), counter_attrs,
//! counter_bound, hist_bound, hist_attr, request (3 spans, 2 logs, a counter and a histogram
//! with per-call attributes, as in the throughput bench), tracing_span and tracing_event (the
//! `tracing` facade through our layer and a registry); writer_span, writer_span_attrs and
//! writer_log produce N spans or logs and flush, and the script counts the writer thread's
//! instructions per span or log instead.

use mini_telemetry::{Config, KeyValue, Sink, info};
use std::hint::black_box;

include!("shared/ops.rs");

#[inline(never)]
fn probe_span(t: &mini_telemetry::Tracer, n: u64) {
    for _ in 0..n {
        op_span(t);
    }
}
#[inline(never)]
fn probe_span_unsampled(t: &mini_telemetry::Tracer, n: u64) {
    // The parent was not sampled, and the default sampler follows parents.
    let parent = mini_telemetry::SpanContext::new(1, 2).with_trace_flags(0);
    for _ in 0..n {
        let s = t.span("unsampled").parent(black_box(parent)).start();
        black_box(s.is_recording());
    }
}
#[inline(never)]
fn probe_span_unsampled_child(t: &mini_telemetry::Tracer, n: u64) {
    // Inside an unsampled trace: `tracer.start`, a child of the current span.
    let parent = mini_telemetry::SpanContext::new(1, 2).with_trace_flags(0);
    let _root = t.span("root").parent(parent).start();
    for _ in 0..n {
        let s = t.start("unsampled");
        black_box(s.is_recording());
    }
}
#[inline(never)]
fn probe_span_attrs(t: &mini_telemetry::Tracer, n: u64) {
    for _ in 0..n {
        op_span_3_attrs_1_event(t);
    }
}
#[inline(never)]
fn probe_span_builder_attrs(t: &mini_telemetry::Tracer, n: u64) {
    for _ in 0..n {
        op_span_builder_3_attrs_1_event(t);
    }
}
#[inline(never)]
fn probe_span_attrs_slice(t: &mini_telemetry::Tracer, n: u64) {
    for _ in 0..n {
        op_span_3_attrs_slice_1_event(t);
    }
}
#[inline(never)]
fn probe_span_attrs_macro(t: &mini_telemetry::Tracer, n: u64) {
    for _ in 0..n {
        op_span_3_attrs_macro_1_event(t);
    }
}
#[inline(never)]
fn probe_log(l: &mini_telemetry::Logger, n: u64) {
    for _ in 0..n {
        op_log_macro_2_fields(l);
    }
}
#[inline(never)]
fn probe_log_method(l: &mini_telemetry::Logger, n: u64) {
    for _ in 0..n {
        op_log_method_2_attrs(l);
    }
}
#[inline(never)]
fn probe_counter_attrs(c: &mini_telemetry::Counter, n: u64) {
    for _ in 0..n {
        op_counter_add_2_attrs(c);
    }
}
#[inline(never)]
fn probe_counter_bound(c: &mini_telemetry::Bound<mini_telemetry::Counter>, n: u64) {
    for _ in 0..n {
        c.add(black_box(1));
    }
}
#[inline(never)]
fn probe_hist_bound(h: &mini_telemetry::Bound<mini_telemetry::Histogram>, n: u64) {
    let mut v = 0.0;
    for _ in 0..n {
        v = if v > 999.0 { 0.37 } else { v + 0.37 };
        h.record(black_box(v));
    }
}
#[inline(never)]
fn probe_hist_attr(h: &mini_telemetry::Histogram, n: u64) {
    let mut v = 0.0;
    for _ in 0..n {
        v = if v > 999.0 { 0.37 } else { v + 0.37 };
        op_hist_record_1_attr(h, black_box(v));
    }
}

include!("shared/request.rs");

/// A `tracing` span with one field, entered and closed, through our layer over a registry (the
/// registry's own work included: that is what a `tracing` user pays).
#[inline(never)]
fn probe_tracing_span(n: u64) {
    for i in 0..n {
        let span = tracing::info_span!("work", n = black_box(i));
        let _e = span.enter();
    }
}
/// A `tracing::info!` with two fields inside an entered `tracing` span, through our layer.
#[inline(never)]
fn probe_tracing_event(n: u64) {
    for _ in 0..n {
        tracing::info!(status = black_box(200), path = "/api", "request done");
    }
}

#[inline(never)]
fn probe_request(
    t: &mini_telemetry::Tracer,
    l: &mini_telemetry::Logger,
    c: &mini_telemetry::Counter,
    h: &mini_telemetry::Histogram,
    n: u64,
) {
    for i in 0..n {
        request(t, l, c, h, i);
    }
}

fn main() {
    // `cargo bench` passes `--bench`; default to a short span run.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let op = args.first().cloned().unwrap_or_else(|| "span".into());
    let n: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    if op == "span_disabled" {
        // Before init: the span a library's code starts when the program never installed one.
        let t = mini_telemetry::tracer("p");
        probe_span(&t, 10);
        probe_span(&t, n);
        return;
    }
    let _g = Config::new("p", "0", "p")
        .sink(Sink::File("/dev/null".into()))
        .ring_capacity(64 << 20)
        .install()
        .unwrap();
    let t = mini_telemetry::tracer("p");
    let l = mini_telemetry::logger("p");
    let m = mini_telemetry::meter("p");
    let c = m.counter("c").build();
    let h = m.histogram("h").build();
    let hb = h.bind(&[KeyValue::new("endpoint", "/api")]);
    let cb = c.bind(&[KeyValue::new("endpoint", "/api")]);
    // warm up: register ring, caches
    op_same_shapes_again(&t, &l);
    probe_span(&t, 10);
    probe_span_attrs(&t, 10);
    probe_span_attrs_macro(&t, 10);
    probe_span_attrs_slice(&t, 10);
    probe_span_builder_attrs(&t, 10);
    probe_log(&l, 10);
    probe_log_method(&l, 10);
    probe_counter_attrs(&c, 10);
    probe_hist_bound(&hb, 10);
    probe_hist_attr(&h, 10);
    let _parent = t.start("parent");
    match op.as_str() {
        "span" => probe_span(&t, n),
        "span_root" => {
            // The same calls with no span open: each one a root.
            drop(_parent);
            probe_span(&t, n)
        }
        "span_unsampled" => probe_span_unsampled(&t, n),
        "span_unsampled_child" => probe_span_unsampled_child(&t, n),
        "span_attrs" => probe_span_attrs(&t, n),
        "span_attrs_macro" => probe_span_attrs_macro(&t, n),
        "span_attrs_slice" => probe_span_attrs_slice(&t, n),
        "span_builder_attrs" => probe_span_builder_attrs(&t, n),
        "log" => probe_log(&l, n),
        "log_method" => probe_log_method(&l, n),
        "counter_attrs" => probe_counter_attrs(&c, n),
        "counter_bound" => probe_counter_bound(&cb, n),
        "hist_bound" => probe_hist_bound(&hb, n),
        "hist_attr" => probe_hist_attr(&h, n),
        "request" => probe_request(&t, &l, &c, &h, n),
        "tracing_span" | "tracing_event" => {
            use tracing_subscriber::layer::SubscriberExt;
            let layer =
                tracing_subscriber::registry().with(mini_telemetry::tracing_bridge::layer());
            tracing::subscriber::with_default(layer, || {
                let parent = tracing::info_span!("parent");
                let _e = parent.enter();
                if op == "tracing_span" {
                    probe_tracing_span(10);
                    probe_tracing_span(n);
                } else {
                    probe_tracing_event(10);
                    probe_tracing_event(n);
                }
            });
        }
        // Writer cost per record: produce, then flush; the script counts the writer thread.
        "writer_span" => {
            for _ in 0..n {
                drop(t.start("writer.span"));
            }
            mini_telemetry::flush();
        }
        "writer_span_attrs" => {
            probe_span_attrs(&t, n);
            mini_telemetry::flush();
        }
        "writer_log" => {
            for i in 0..n {
                info!(l, "writer log", i = i, ok = true);
            }
            mini_telemetry::flush();
        }
        other => panic!("unknown op {other}"),
    }
}

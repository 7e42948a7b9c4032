// Included by `benches/hot_path.rs`, `benches/throughput.rs` and `benches/instructions.rs`, so
// a per-call target is the same call in the criterion median, the interleaved rounds and the
// instruction count. (`peers/benches/peers.rs` writes the same calls next to each peer's.)

/// A span started and ended, no attributes.
#[inline(always)]
fn op_span(t: &mini_telemetry::Tracer) {
    drop(t.start("span"));
}

/// A span with three attributes (string, integer, boolean) and one event without attributes.
#[inline(always)]
fn op_span_3_attrs_1_event(t: &mini_telemetry::Tracer) {
    let s = t.start("span");
    s.set_attributes(&[
        mini_telemetry::KeyValue::new("http.method", "GET"),
        mini_telemetry::KeyValue::new("http.status", 200),
        mini_telemetry::KeyValue::new("cache.hit", true),
    ]);
    s.add_event("event", &[]);
}

/// A macro log with a static message and two fields (the benches call it inside a span).
#[inline(always)]
fn op_log_macro_2_fields(l: &mini_telemetry::Logger) {
    mini_telemetry::info!(
        l,
        "request done",
        status = std::hint::black_box(200),
        path = "/api"
    );
}

/// A counter add with two per-call attributes.
#[inline(always)]
fn op_counter_add_2_attrs(c: &mini_telemetry::Counter) {
    c.add(
        std::hint::black_box(1),
        &[
            mini_telemetry::KeyValue::new("endpoint", "/api"),
            mini_telemetry::KeyValue::new("method", "GET"),
        ],
    );
}

// Included by `benches/throughput/main.rs` and `benches/instructions.rs`, so the latency
// distribution and the instruction count describe exactly the same request.

/// One request: a server span with a child span holding a log, a second child span, a log, a
/// counter add and a histogram record with one per-call attribute each.
#[inline(always)]
fn request(
    t: &mini_telemetry::Tracer,
    l: &mini_telemetry::Logger,
    c: &mini_telemetry::Counter,
    h: &mini_telemetry::Histogram,
    i: u64,
) {
    let root = t.span("GET /api/users").kind(mini_telemetry::SpanKind::Server).start();
    root.set_attribute("http.route", "/api/users");
    {
        let _db = t.start("db.query");
        mini_telemetry::info!(l, "query done", rows = 3);
    }
    {
        let _cache = t.start("cache.get");
    }
    mini_telemetry::info!(l, "request done", status = 200);
    c.add(1, &[mini_telemetry::KeyValue::new("http.route", "/api/users")]);
    h.record((i % 100) as f64 * 0.25, &[mini_telemetry::KeyValue::new("http.route", "/api/users")]);
}

// Included by `benches/hot_path.rs`, `benches/throughput/main.rs`, `benches/instructions.rs` and
// `examples/bursts.rs`, so a per-call target is the same call in the criterion median, the
// interleaved rounds, the instruction count and the burst program. (`peers/benches/peers.rs`
// writes the same calls next to each peer's.)
//
// Each is `#[inline(never)]`: every bench times the same compiled call, as a user's function
// would make it. Inlined into a bench's loop, the compiler made different choices in each bench
// (in one build of the rounds group, it folded the counter's attribute fingerprints into the
// loop and timed 5.6 ns, against 13.2 ns for the same call in criterion's loop).

/// A span started and ended, no attributes.
#[inline(never)]
fn op_span(t: &mini_telemetry::Tracer) {
    drop(t.start("span"));
}

/// A span with three attributes (string, integer, boolean) and one event without attributes.
#[inline(never)]
fn op_span_3_attrs_1_event(t: &mini_telemetry::Tracer) {
    let s = t.start("span");
    s.set_attributes(&[
        mini_telemetry::KeyValue::new("http.method", "GET"),
        mini_telemetry::KeyValue::new("http.status", 200),
        mini_telemetry::KeyValue::new("cache.hit", true),
    ]);
    s.add_event("event", &[]);
}

/// The same span with its attributes given to the builder, at start.
#[inline(never)]
#[allow(dead_code)]
fn op_span_builder_3_attrs_1_event(t: &mini_telemetry::Tracer) {
    let s = t
        .span("span")
        .attributes(&[
            mini_telemetry::KeyValue::new("http.method", "GET"),
            mini_telemetry::KeyValue::new("http.status", 200),
            mini_telemetry::KeyValue::new("cache.hit", true),
        ])
        .start();
    s.add_event("event", &[]);
}

/// The same span with its attributes as a slice whose length the compiler does not see (a
/// list built at run time, as the `tracing` layer passes them): the general path, a loop that
/// matches each value's kind.
#[inline(never)]
#[allow(dead_code)]
fn op_span_3_attrs_slice_1_event(t: &mini_telemetry::Tracer) {
    let s = t.start("span");
    s.set_attributes(std::hint::black_box(
        &[
            mini_telemetry::KeyValue::new("http.method", "GET"),
            mini_telemetry::KeyValue::new("http.status", 200),
            mini_telemetry::KeyValue::new("cache.hit", true),
        ][..],
    ));
    s.add_event("event", &[]);
}

/// The same span through the `set_attributes!` macro (which checks that the span records first,
/// and passes the values with their types).
#[inline(never)]
#[allow(dead_code)]
fn op_span_3_attrs_macro_1_event(t: &mini_telemetry::Tracer) {
    let s = t.start("span");
    mini_telemetry::set_attributes!(s, "http.method" = "GET", "http.status" = 200, "cache.hit" = true);
    s.add_event("event", &[]);
}

/// A macro log with a static message and two fields (the benches call it inside a span).
#[inline(never)]
fn op_log_macro_2_fields(l: &mini_telemetry::Logger) {
    mini_telemetry::info!(
        l,
        "request done",
        status = std::hint::black_box(200),
        path = "/api"
    );
}

/// The same log through `Logger::log` with a message and an array of attributes (keys and
/// message written into the record, where the macro's are static callsite data).
#[inline(never)]
#[allow(dead_code)]
fn op_log_method_2_attrs(l: &mini_telemetry::Logger) {
    l.log(
        mini_telemetry::Level::Info,
        "request done",
        &[
            mini_telemetry::KeyValue::new("status", std::hint::black_box(200)),
            mini_telemetry::KeyValue::new("path", "/api"),
        ],
    );
}

/// A counter add with two per-call attributes.
#[inline(never)]
fn op_counter_add_2_attrs(c: &mini_telemetry::Counter) {
    c.add(
        std::hint::black_box(1),
        &[
            mini_telemetry::KeyValue::new("endpoint", "/api"),
            mini_telemetry::KeyValue::new("method", "GET"),
        ],
    );
}

/// The same add through the `add!` macro (which checks that telemetry is enabled first).
#[inline(never)]
#[allow(dead_code)]
fn op_counter_add_2_attrs_macro(c: &mini_telemetry::Counter) {
    mini_telemetry::add!(
        c,
        std::hint::black_box(1),
        endpoint = "/api",
        method = "GET"
    );
}

/// A histogram record with one per-call attribute.
#[inline(never)]
fn op_hist_record_1_attr(h: &mini_telemetry::Histogram, v: f64) {
    h.record(v, &[mini_telemetry::KeyValue::new("endpoint", "/api")]);
}

/// A second call of the shapes of `op_span_3_attrs_1_event`, `op_log_macro_2_fields`,
/// `op_log_method_2_attrs` and the request's `set_attribute` (the list's, the fields' or the
/// value's types), as a service makes many: the
/// library's code for a shape is then shared by two calls, and the operations above cost what
/// each call of a shared shape costs (when the compiler was left to choose what to inline,
/// `span_attrs` took 742 instructions instead of 482 with such a call, and `log` 186 instead of
/// 140). Made once, untimed.
#[inline(never)]
#[allow(dead_code)]
fn op_same_shapes_again(t: &mini_telemetry::Tracer, l: &mini_telemetry::Logger) {
    let s = t.start("again");
    s.set_attribute("again", "x");
    s.set_attributes(&[
        mini_telemetry::KeyValue::new("a", 1),
        mini_telemetry::KeyValue::new("b", "x"),
        mini_telemetry::KeyValue::new("c", false),
    ]);
    mini_telemetry::info!(l, "again", code = std::hint::black_box(1), route = "/x");
    l.log(
        mini_telemetry::Level::Info,
        "again",
        &[
            mini_telemetry::KeyValue::new("code", std::hint::black_box(1)),
            mini_telemetry::KeyValue::new("route", "/x"),
        ],
    );
}

//! Small programs the integration tests run as child processes (see `tests/`). Each prints
//! telemetry on stdout and exits; the tests parse that output as a user's tool would.
//!
//! ```text
//! cargo run --release --example scenario -- <name> [args...]
//! ```
//! Names: `nesting`, `counters THREADS ADDS`, `flood THREADS RECORDS RING_BYTES block|drop`,
//! `hostile`, `uninit`, `spam RECORDS`, `periodic MILLIS`.

use mini_telemetry::{Config, FullPolicy, KeyValue, SpanContext, SpanKind, Status, Value, info};
use std::time::Duration;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    match name.as_str() {
        "nesting" => nesting(),
        "counters" => counters(arg(2, 8) as usize, arg(3, 100_000)),
        "flood" => flood(arg(2, 4) as usize, arg(3, 10_000), arg(4, 4096) as usize),
        "hostile" => hostile(),
        "uninit" => uninit(),
        "spam" => spam(arg(2, 1_000_000)),
        "periodic" => periodic(arg(2, 300)),
        other => {
            eprintln!("unknown scenario {other:?}");
            std::process::exit(2);
        }
    }
}

/// Nested spans, logs inside them, and a span continued on another thread.
fn nesting() {
    let _g = mini_telemetry::init("svc", "1.2.3", "test").unwrap();
    let tracer = mini_telemetry::tracer("nesting");
    let logger = mini_telemetry::logger("nesting");
    let root = tracer.span("root").kind(SpanKind::Server).start();
    logger.info("in root");
    let child_ctx;
    {
        let child = tracer.start("child");
        child_ctx = child.context();
        info!(logger, "in child", depth = 2);
        {
            let _grandchild = tracer.start("grandchild");
            logger.log(
                mini_telemetry::Level::Warn,
                "in grandchild",
                &[KeyValue::new("depth", 3)],
            );
        }
        logger.info("back in child");
    }
    let remote = root.context();
    std::thread::Builder::new()
        .name("other".into())
        .spawn(move || {
            let tracer = mini_telemetry::tracer("nesting");
            let s = tracer
                .span("remote-child")
                .parent(remote)
                .kind(SpanKind::Consumer)
                .start();
            s.add_link(child_ctx, &[KeyValue::new("why", "follows")]);
            mini_telemetry::logger("nesting").info("on other thread");
        })
        .unwrap()
        .join()
        .unwrap();
    root.set_status(Status::Ok);
    drop(root);
    logger.info("outside");
    assert_eq!(SpanContext::current(), SpanContext::NONE);
}

/// THREADS × ADDS counter adds (per-call attributes and bound), histogram values 1..=ADDS.
fn counters(threads: usize, adds: u64) {
    let _g = Config::new("svc", "1", "test")
        .metric_interval(Duration::from_secs(3600))
        .install()
        .unwrap();
    let meter = mini_telemetry::meter("counters");
    let counter = meter.counter("hits").build();
    let updown = meter.up_down_counter("inflight").build();
    let hist = meter.histogram("values").with_unit("ms").build();
    let bound = counter.bind(&[KeyValue::new("kind", "bound")]);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for i in 1..=adds {
                    counter.add(
                        1,
                        &[KeyValue::new("kind", "call"), KeyValue::new("shared", true)],
                    );
                    bound.add(2);
                    updown.add(if i % 2 == 0 { -1 } else { 1 }, &[]);
                    hist.record(i as f64, &[KeyValue::new("kind", "h")]);
                }
            });
        }
    });
}

/// THREADS × RECORDS logs through rings of RING_BYTES, lossless or dropping.
fn flood(threads: usize, records: u64, ring: usize) {
    let policy = match std::env::args().nth(5).as_deref() {
        Some("drop") => FullPolicy::Drop,
        _ => FullPolicy::Block,
    };
    let _g = Config::new("svc", "1", "test")
        .ring_capacity(ring)
        .full_policy(policy)
        .install()
        .unwrap();
    let logger = mini_telemetry::logger("flood");
    std::thread::scope(|s| {
        for t in 0..threads {
            std::thread::Builder::new()
                .name(format!("w{t}"))
                .spawn_scoped(s, move || {
                    for i in 0..records {
                        info!(
                            logger,
                            "flood",
                            thread = t,
                            seq = i,
                            pad = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                        );
                    }
                })
                .unwrap();
        }
    });
    let st = mini_telemetry::stats();
    eprintln!("stats: {st:?}");
}

/// Every kind of hostile value.
fn hostile() {
    let _g = Config::new("svc \"quoted\"\n", "1", "test")
        .max_value_len(64 * 1024)
        .install()
        .unwrap();
    let tracer = mini_telemetry::tracer("hostile\u{0}scope");
    let logger = mini_telemetry::logger("hostile");
    let controls: String = (0u8..0x20)
        .map(|b| b as char)
        .chain(['\u{7f}', '\u{2028}', '\u{2029}'])
        .collect();
    let nasty = format!("q\"b\\s/ {controls} é 🚀 \u{FFFD}");
    let span = tracer.start(nasty.clone());
    span.set_attribute(&nasty, nasty.as_str());
    span.set_attribute("nan", f64::NAN);
    span.set_attribute("inf", f64::INFINITY);
    span.set_attribute("ninf", f64::NEG_INFINITY);
    span.set_attribute("floats", &[f64::NAN, 1.5, f64::NEG_INFINITY][..]);
    span.set_attribute("strs", &["a\nb", "\"", ""][..]);
    span.set_attribute("big", "x".repeat(1 << 20).as_str());
    span.set_attribute("max", i64::MAX);
    span.set_attribute("min", i64::MIN);
    span.set_attribute("u64max", Value::from(u64::MAX));
    let many: Vec<KeyValue<'_>> = (0..300).map(|i| KeyValue::new("k", i)).collect();
    span.set_attributes(&many);
    for i in 0..200 {
        span.add_event("e", &[KeyValue::new("i", i)]);
    }
    span.set_status(Status::error(&nasty));
    logger.log(
        mini_telemetry::Level::Error,
        &nasty,
        &[
            KeyValue::new(&nasty, nasty.as_str()),
            KeyValue::new("nan", f64::NAN),
        ],
    );
    info!(logger, "fields", s = nasty.as_str(), f = f64::INFINITY);
    drop(span);
    let meter = mini_telemetry::meter("hostile");
    let h = meter.histogram("").build();
    h.record(f64::NAN, &[]);
    h.record(f64::INFINITY, &[]);
    h.record(-1.0, &[KeyValue::new(&nasty, f64::NAN)]);
    let g = meter.gauge("g").build();
    g.set(f64::NAN, &[]);
    let _ = meter.counter("h").build(); // same name... different kind below
    meter.up_down_counter("h").build().add(-5, &[]);
}

/// Calls before init are no-ops; a second init is an error.
fn uninit() {
    let tracer = mini_telemetry::tracer("uninit");
    let logger = mini_telemetry::logger("uninit");
    let counter = mini_telemetry::meter("uninit").counter("before").build();
    {
        let s = tracer.start("before-init");
        assert!(!s.is_recording());
        logger.info("before init");
        counter.add(1, &[]);
    }
    mini_telemetry::flush();
    let g = mini_telemetry::init("svc", "1", "test").unwrap();
    assert_eq!(
        mini_telemetry::init("svc", "1", "test").unwrap_err(),
        mini_telemetry::InitError::AlreadyInitialized
    );
    logger.info("after init");
    counter.add(5, &[]);
    drop(g);
    logger.info("after shutdown");
    assert!(!tracer.start("after-shutdown").is_recording());
    println!("{{\"scenario\":\"uninit\",\"done\":true}}");
}

/// Many records, for `| head -n 1` (a closed pipe must not panic the app).
fn spam(n: u64) {
    let _g = mini_telemetry::init("svc", "1", "test").unwrap();
    let logger = mini_telemetry::logger("spam");
    for i in 0..n {
        info!(logger, "spam", i = i);
    }
    mini_telemetry::flush();
    eprintln!("spam done: {:?}", mini_telemetry::stats());
}

/// Runs for MILLIS with the environment's settings: metrics are exported periodically, logs of
/// every level are emitted once.
fn periodic(millis: u64) {
    let _g = mini_telemetry::init("svc", "1", "test").unwrap();
    let counter = mini_telemetry::meter("periodic").counter("ticks").build();
    let logger = mini_telemetry::logger("periodic");
    mini_telemetry::trace!(logger, "at trace");
    mini_telemetry::debug!(logger, "at debug");
    mini_telemetry::info!(logger, "at info");
    mini_telemetry::warn!(logger, "at warn");
    logger.error("at error");
    logger.fatal("at fatal");
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(millis) {
        counter.add(1, &[]);
        std::thread::sleep(Duration::from_millis(5));
    }
}

//! Small programs the integration tests run as child processes (see `tests/`). Each prints
//! telemetry on stdout and exits; the tests parse that output as a user's tool would.
//!
//! ```text
//! cargo run --release --example scenario -- <name> [args...]
//! ```
//! Names: `nesting`, `counters THREADS ADDS`, `flood THREADS RECORDS RING_BYTES block|drop`,
//! `hostile`, `uninit`, `spam RECORDS`, `periodic MILLIS`, `panic`, `churn TOTAL ALIVE`,
//! `shutdown-while-producing THREADS`, `async`, `random SEED THREADS RECORDS`,
//! `burst RECORDS RING_BYTES` (0: the default ring), `burst-threads TOTAL ALIVE RECORDS`,
//! `first-record THREADS`.

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
        "panic" => panic(),
        "churn" => churn(arg(2, 20_000), arg(3, 5_000)),
        "shutdown-while-producing" => shutdown_while_producing(arg(2, 8) as usize),
        "async" => in_current_thread_executor(),
        "random" => random(arg(2, 1), arg(3, 4) as usize, arg(4, 2_000)),
        "shutdown-accounting" => shutdown_accounting(arg(2, 8) as usize),
        "exceptions" => exceptions(arg(2, 0) != 0),
        "clock" => clock(arg(2, 5_000)),
        "burst" => burst(arg(2, 10_000), arg(3, 0) as usize),
        "first-record" => first_record(arg(2, 200)),
        "burst-threads" => burst_threads(arg(2, 10_000), arg(3, 1_000), arg(4, 300)),
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
    // Ended out of order (a struct's fields drop in declaration order): the first-started span
    // ends first, and the one started after it stops being current with it; neither becomes
    // current again.
    let first = tracer.start("first");
    let second = tracer.start("second");
    logger.info("second is current");
    drop(first);
    logger.info("first ended");
    drop(second);
    assert_eq!(SpanContext::current(), root.context());
    // A leaked guard is current until the span around it ends, not for ever.
    let around = tracer.start("around");
    std::mem::forget(tracer.start("leaked"));
    logger.info("in leaked");
    drop(around);
    logger.info("after leak");
    assert_eq!(SpanContext::current(), root.context());
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
    // Values of up to 64 KiB asked for, in a 64 KiB ring: a value keeps a quarter of it.
    let _g = Config::new("svc \"quoted\"\n", "1", "test")
        .max_value_len(64 * 1024)
        .ring_capacity(64 * 1024)
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
    // 10,000 more, one call each: the first ones within what a span sends (4 x the limit of
    // 128 keys), the others dropped and counted.
    for i in 0..10_000 {
        span.set_attribute("one-by-one", i);
    }
    for i in 0..100_000 {
        span.add_event("e", &[KeyValue::new("i", i)]);
    }
    for _ in 0..200 {
        span.add_link(SpanContext::new(1, 2), &[KeyValue::new("l", &nasty[..])]);
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
    // Three values at the 16 KiB limit do not fit one record (half of a 64 KiB ring, less the
    // header): the ones that do not fit are dropped and counted, under their own key.
    let big = "v".repeat(16 * 1024);
    info!(
        logger,
        "three big",
        a = big.as_str(),
        b = big.as_str(),
        c = big.as_str()
    );
    let s = tracer.start("ok-after-error");
    s.set_status(Status::error("boom"));
    s.set_status(Status::Ok);
    drop(s);
    let s = tracer.start("error-message-replaced");
    s.set_status(Status::error("first"));
    s.set_status(Status::error(""));
    drop(s);
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
    // 100,000 distinct attribute sets on one instrument: 1,999 series, then the overflow series.
    let wide = meter.counter("wide").build();
    for i in 0..100_000 {
        wide.add(1, &[KeyValue::new("user", i)]);
    }
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
    assert!(matches!(
        mini_telemetry::init("svc", "1", "test"),
        Err(mini_telemetry::InitError::AlreadyInitialized)
    ));
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

/// A panic on an instrumented thread: records made before it are kept, and the panic hook writes
/// it as an ERROR log carrying the thread's trace context.
fn panic() {
    // The application's own hook (quiet here); telemetry's hook is chained in front of it.
    std::panic::set_hook(Box::new(|_| eprintln!("application panic hook ran")));
    let _g = Config::new("svc", "1", "test")
        .panic_hook(true)
        .install()
        .unwrap();
    let r = std::thread::Builder::new()
        .name("doomed".into())
        .spawn(|| {
            let tracer = mini_telemetry::tracer("panic");
            let span = tracer.start("doomed-work");
            mini_telemetry::logger("panic").info("before the panic");
            let ctx = span.context();
            println!(
                "{{\"scenario\":\"panic\",\"trace_id\":\"{}\",\"span_id\":\"{}\"}}",
                ctx.trace_id_hex(),
                ctx.span_id_hex()
            );
            panic!("boom: {}", 42);
        })
        .unwrap()
        .join();
    assert!(r.is_err());
}

/// Stdout that holds every write until [`OPEN`] is set: a writer thread stalled in `write`.
struct Gated(std::io::Stdout);
static OPEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
impl std::io::Write for Gated {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        while !OPEN.load(std::sync::atomic::Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Each of two threads makes 2 x RECORDS records (one thread spans, the other logs with 2
/// fields) as the writer keeps up, which takes it past its ring's soft end; then, with the writer
/// stalled in a write, each makes RECORDS more in one burst: the worst case for a burst, as
/// the ring then goes back to its start. Prints how often a thread had to wait. RING_BYTES 0
/// keeps the default ring. (Should a burst not fit, the stall ends after 2 s, so that the
/// program still finishes and reports the waits.)
fn burst(records: u64, ring: usize) {
    use std::sync::atomic::Ordering::{Acquire, Release};
    use std::sync::{Arc, Barrier};
    OPEN.store(true, Release);
    let mut cfg = Config::new("svc", "1", "test").sink(mini_telemetry::Sink::Writer(Box::new(
        Gated(std::io::stdout()),
    )));
    if ring > 0 {
        cfg = cfg.ring_capacity(ring);
    }
    let g = cfg.install().unwrap();
    let (warm, stalled) = (Arc::new(Barrier::new(3)), Arc::new(Barrier::new(3)));
    let make = |spans: bool| {
        let (warm, stalled) = (warm.clone(), stalled.clone());
        std::thread::spawn(move || {
            let (tracer, logger) = (
                mini_telemetry::tracer("burst"),
                mini_telemetry::logger("burst"),
            );
            let one = |i: u64| {
                if spans {
                    drop(tracer.start("burst span"));
                } else {
                    info!(logger, "burst log", i = i, ok = true);
                }
            };
            (0..2 * records).for_each(one);
            warm.wait();
            stalled.wait();
            (0..records).for_each(one);
        })
    };
    let threads = [make(true), make(false)];
    warm.wait();
    // The writer has everything so far; now stall it in its next write.
    mini_telemetry::flush();
    OPEN.store(false, Release);
    mini_telemetry::logger("burst").info("stall");
    std::thread::sleep(Duration::from_millis(50));
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(2));
        OPEN.store(true, Release);
    });
    let before = mini_telemetry::stats().waits;
    stalled.wait();
    for t in threads {
        t.join().unwrap();
    }
    let st = mini_telemetry::stats();
    let stalled_until_now = !OPEN.load(Acquire);
    OPEN.store(true, Release);
    drop(g);
    let end = mini_telemetry::stats();
    println!(
        "{{\"scenario\":\"burst\",\"waits\":{},\"stalled_throughout\":{stalled_until_now},\"lost\":{},\"dropped\":{}}}",
        st.waits - before,
        end.lost,
        end.dropped
    );
}

/// THREADS threads one after the other, each timing its first record (the one that takes its
/// ring); every tenth also bursts 30,000 logs, so that rings are used and recycled. Prints the
/// median, 90th percentile and maximum of those first records, and the resident memory after.
fn first_record(threads: u64) {
    let g = Config::new("svc", "1", "test")
        .sink(mini_telemetry::Sink::File("/dev/null".into()))
        .install()
        .unwrap();
    let logger = mini_telemetry::logger("first");
    let mut ns: Vec<u128> = (0..threads)
        .map(|t| {
            let first = std::thread::spawn(move || {
                let t0 = std::time::Instant::now();
                info!(logger, "first", thread = t);
                let first = t0.elapsed().as_nanos();
                if t % 10 == 0 {
                    for i in 0..30_000u64 {
                        info!(logger, "burst", i = i);
                    }
                }
                first
            })
            .join()
            .unwrap();
            mini_telemetry::flush();
            first
        })
        .collect();
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q) as usize];
    let st = mini_telemetry::stats();
    drop(g);
    println!(
        "{{\"scenario\":\"first-record\",\"p50_ns\":{},\"p90_ns\":{},\"max_ns\":{},\"rss_kib\":{},\"lost\":{}}}",
        at(0.5),
        at(0.9),
        at(1.0),
        rss_kib(),
        st.lost
    );
}

/// TOTAL threads in waves of ALIVE alive at once, each making RECORDS logs of ~1 KiB in one
/// burst, with the default rings and budget, output to /dev/null. Prints the peak of the ring
/// bytes held and of resident memory, and what was written.
fn burst_threads(total: u64, alive: u64, records: u64) {
    let g = Config::new("svc", "1", "test")
        .sink(mini_telemetry::Sink::File("/dev/null".into()))
        .install()
        .unwrap();
    let logger = mini_telemetry::logger("burst");
    let peak_rings = std::sync::atomic::AtomicUsize::new(0);
    let payload = "x".repeat(1000);
    let mut done = 0;
    while done < total {
        let n = alive.min(total - done);
        let barrier = std::sync::Barrier::new(n as usize);
        std::thread::scope(|s| {
            for _ in 0..n {
                let (barrier, peak, payload) = (&barrier, &peak_rings, payload.as_str());
                std::thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn_scoped(s, move || {
                        barrier.wait(); // the whole wave alive at once
                        for i in 0..records {
                            info!(logger, "burst", i = i, payload = payload);
                        }
                        let held = mini_telemetry::stats().ring_bytes;
                        peak.fetch_max(held, std::sync::atomic::Ordering::Relaxed);
                    })
                    .unwrap();
            }
        });
        done += n;
    }
    let before_exit = mini_telemetry::stats();
    drop(g);
    let st = mini_telemetry::stats();
    println!(
        "{{\"scenario\":\"burst-threads\",\"peak_ring_bytes\":{},\"peak_rss_kib\":{},\"written\":{},\"lost\":{},\"dropped\":{},\"waits\":{}}}",
        peak_rings.into_inner(),
        peak_rss_kib(),
        st.written,
        st.lost,
        st.dropped,
        before_exit.waits
    );
}

/// TOTAL short-lived threads in waves of ALIVE alive at once, one log each.
fn churn(total: u64, alive: u64) {
    let _g = mini_telemetry::init("svc", "1", "test").unwrap();
    let logger = mini_telemetry::logger("churn");
    // Warm up allocator and writer with one wave, then measure.
    let wave = |start: u64, n: u64| {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(n as usize));
        let hs: Vec<_> = (start..start + n)
            .map(|i| {
                let b = barrier.clone();
                std::thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn(move || {
                        b.wait(); // all of the wave alive at once
                        info!(logger, "churn", i = i);
                    })
                    .unwrap()
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    };
    wave(0, alive.min(total));
    mini_telemetry::flush();
    let before = rss_kib();
    let mut done = alive.min(total);
    while done < total {
        let n = alive.min(total - done);
        wave(done, n);
        done += n;
    }
    mini_telemetry::flush();
    let after = rss_kib();
    let st = mini_telemetry::stats();
    drop(_g);
    println!(
        "{{\"scenario\":\"churn\",\"rss_before_kib\":{before},\"rss_after_kib\":{after},\"lost\":{},\"dropped\":{}}}",
        st.lost, st.dropped
    );
}

/// One of THREADS producers calls shutdown while the others (and itself) keep producing.
fn shutdown_while_producing(threads: usize) {
    let g = std::sync::Mutex::new(Some(
        Config::new("svc", "1", "test")
            .ring_capacity(4096)
            .install()
            .unwrap(),
    ));
    let logger = mini_telemetry::logger("shutdown");
    std::thread::scope(|s| {
        for t in 0..threads {
            let g = &g;
            s.spawn(move || {
                for i in 0..20_000u64 {
                    info!(logger, "producing", t = t, i = i);
                    if t == 0 && i == 5_000 {
                        drop(g.lock().unwrap().take()); // shutdown from a producing thread
                    }
                }
            });
        }
    });
    println!("{{\"scenario\":\"shutdown-while-producing\",\"done\":true}}");
}

/// A minimal current-thread executor: the future emits telemetry and shuts down on the same
/// thread that polls it (what a current-thread async runtime does).
fn in_current_thread_executor() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    let fut = async {
        let guard = Config::new("svc", "1", "test")
            .ring_capacity(4096)
            .install()
            .unwrap();
        let tracer = mini_telemetry::tracer("async");
        let logger = mini_telemetry::logger("async");
        for i in 0..10_000u64 {
            let _s = tracer.start("task");
            info!(logger, "in task", i = i);
            if i % 1000 == 0 {
                YieldOnce(false).await;
            }
        }
        mini_telemetry::flush();
        drop(guard); // shutdown on the executor thread
    };
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    while fut.as_mut().poll(&mut cx).is_pending() {}
    println!("{{\"scenario\":\"async\",\"done\":true}}");
}

// The generator and the text it draws, shared with the tests that check the output.
include!("shared/random.rs");
include!("shared/memory.rs");

/// THREADS threads × RECORDS random API calls (spans with attributes, events and logs) whose
/// values derive from SEED; the test regenerates them and checks every value round-trips.
fn random(seed: u64, threads: usize, records: u64) {
    let _g = Config::new("svc", "1", "test")
        .ring_capacity(8192)
        .install()
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let tracer = mini_telemetry::tracer("random");
                let logger = mini_telemetry::logger("random");
                let mut r = Rng(seed ^ ((t as u64 + 1) << 32));
                for i in 0..records {
                    let text = random_text(&mut r);
                    let int = r.next_u64() as i64;
                    let float = f64::from_bits(r.next_u64());
                    let flag = r.next_u64() % 2 == 0;
                    let attrs = [
                        KeyValue::new("t", t),
                        KeyValue::new("i", i),
                        KeyValue::new("text", text.as_str()),
                        KeyValue::new("int", int),
                        KeyValue::new("float", float),
                        KeyValue::new("flag", flag),
                    ];
                    match r.next_u64() % 3 {
                        0 => logger.log(mini_telemetry::Level::Info, &text, &attrs),
                        1 => {
                            let span = tracer.start(text.clone());
                            span.set_attributes(&attrs);
                        }
                        _ => {
                            let span = tracer.start("with-event");
                            span.add_event(&text, &attrs);
                        }
                    }
                }
            });
        }
    });
}

/// THREADS threads start and end spans through small rings into a slow sink until shutdown
/// stops them; prints how many recording spans each started. Every one must be either written or
/// counted in `stats().lost`, never silently missing.
fn shutdown_accounting(threads: usize) {
    struct Slow(std::io::Stdout);
    impl std::io::Write for Slow {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(Duration::from_micros(200));
            self.0.write_all(b).map(|_| b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.0.flush()
        }
    }
    let guard = Config::new("svc", "1", "test")
        .ring_capacity(4096)
        .sink(mini_telemetry::Sink::Writer(Box::new(Slow(
            std::io::stdout(),
        ))))
        .install()
        .unwrap();
    let started = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let tracer = mini_telemetry::tracer("accounting");
                loop {
                    let span = tracer.start("counted");
                    if !span.is_recording() {
                        break;
                    }
                    started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        drop(guard);
    });
    let st = mini_telemetry::stats();
    println!(
        "{{\"scenario\":\"shutdown-accounting\",\"started\":{},\"lost\":{}}}",
        started.load(std::sync::atomic::Ordering::Relaxed),
        st.lost
    );
}

/// An error recorded on a span and logged, with backtraces asked for or not (the test runs it
/// with `RUST_BACKTRACE=1`, which must not decide).
fn exceptions(backtraces: bool) {
    let _g = Config::new("svc", "1", "test")
        .exception_backtraces(backtraces)
        .install()
        .unwrap();
    let tracer = mini_telemetry::tracer("exceptions");
    let logger = mini_telemetry::logger("exceptions");
    let err = "x".parse::<i32>().unwrap_err();
    let span = tracer.start("failing");
    span.record_exception(&err);
    logger.error_with_exception("failed", &err, &[]);
}

/// Logs from two threads every ~20 µs for `ms` milliseconds (the writer recalibrates the clock
/// every second meanwhile), and a hand-off: one thread logs "sent", then the other, once it has
/// received the message, logs "received".
fn clock(ms: u64) {
    let _g = mini_telemetry::init("svc", "1", "test").unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let spin = |us: u64| {
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_micros(us) {
            std::hint::spin_loop();
        }
    };
    std::thread::scope(|s| {
        s.spawn(move || {
            let logger = mini_telemetry::logger("clock");
            let tracer = mini_telemetry::tracer("clock");
            let mut i = 0u64;
            while std::time::Instant::now() < end {
                let span = tracer.start("tick");
                info!(logger, "sent", thread = "a", i = i);
                let _ = tx.send(i);
                spin(20);
                drop(span);
                i += 1;
            }
        });
        s.spawn(move || {
            let logger = mini_telemetry::logger("clock");
            for i in rx {
                info!(logger, "received", thread = "b", i = i);
            }
        });
    });
}

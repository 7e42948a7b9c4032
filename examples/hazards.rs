//! What real programs do to a telemetry library, one case per name, run as child processes by
//! `tests/hazards.rs`: counters run past their range, `process::exit`, `fork()`, a closed
//! stdout with `SIGPIPE` at its default action, a closed stderr.
//!
//! ```text
//! cargo run --example hazards -- <name> [args...]
//! ```
//! Names: `overflow`, `exit LOGS`, `fork CHILD_LOGS`, `closed-stdout LOGS`, `closed-stderr`,
//! `leak SPANS`,
//! `duplicates`, `many N` (N scopes, N instruments, N open spans ended in start order),
//! `wide-histograms`, `slow-callback`, `hung-callback`, `scopes N` (N distinct scope names, one
//! span each, and a scope name of 1,000 bytes).

use mini_telemetry::{Config, KeyValue};
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
        "overflow" => overflow(),
        "exit" => exit(arg(2, 10)),
        "fork" => fork(arg(2, 1_000_000)),
        "closed-stdout" => closed_stdout(arg(2, 1_000_000)),
        "closed-stderr" => closed_stderr(),
        "leak" => leak(arg(2, 1_000_000)),
        "duplicates" => duplicates(),
        "many" => many(arg(2, 100_000)),
        "wide-histograms" => wide_histograms(),
        "slow-callback" => slow_callback(),
        "hung-callback" => hung_callback(),
        "scopes" => scopes(arg(2, 2_000)),
        other => {
            eprintln!("unknown case {other:?}");
            std::process::exit(2);
        }
    }
}

/// Sums pushed past the ends of their range, from the owning thread's shard and from the
/// shared one: they stay at the end, and each series is counted once.
fn overflow() {
    let _g = mini_telemetry::init("svc", "1", "test").unwrap();
    let m = mini_telemetry::meter("overflow");
    let up = m.counter("up").build();
    up.add(u64::MAX - 1, &[]);
    up.add(5, &[]);
    up.add(5, &[]);
    let bound = up.bind(&[KeyValue::new("bound", true)]);
    bound.add(u64::MAX);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| bound.add(u64::MAX / 2));
        }
    });
    let level = m.up_down_counter("level").build();
    level.add(i64::MIN, &[]);
    level.add(-1, &[]);
    let high = m.up_down_counter("high").build();
    high.add(i64::MAX, &[]);
    high.add(1, &[]);
    mini_telemetry::flush();
    eprintln!(
        "metric_overflows={}",
        mini_telemetry::stats().metric_overflows
    );
}

/// LOGS logs, then `std::process::exit(0)` with the guard still alive.
fn exit(logs: u64) {
    let _g = mini_telemetry::init("svc", "1", "test").unwrap();
    let logger = mini_telemetry::logger("exit");
    for i in 0..logs {
        mini_telemetry::info!(logger, "before exit", i = i);
    }
    std::process::exit(0);
}

/// The parent logs, forks a child that logs CHILD_LOGS records and ends with its guard
/// dropped, waits for it, then logs again. The child must neither hang nor write.
fn fork(child_logs: u64) {
    let g = mini_telemetry::init("svc", "1", "test").unwrap();
    let logger = mini_telemetry::logger("fork");
    logger.info("parent before fork");
    mini_telemetry::flush();
    // SAFETY: the child runs only code that takes no lock another thread may hold (telemetry
    // calls, which are off in the child, and stderr, which no other thread uses), then exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let started = std::time::Instant::now();
        for i in 0..child_logs {
            mini_telemetry::info!(logger, "child", i = i);
        }
        mini_telemetry::flush();
        drop(g);
        eprintln!("child done in {:?}", started.elapsed());
        // SAFETY: `_exit` ends the child at once, skipping the parent's atexit work and
        // buffered stdio, which belong to the parent.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for the child made above; `status` is a valid out pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    logger.info("parent after fork");
}

/// `SIGPIPE` back at its default action (which kills the process), then LOGS logs to a stdout
/// that the test closes after the first line: the process must live, and count what it could
/// not write.
fn closed_stdout(logs: u64) {
    // SAFETY: resetting a signal's disposition has no memory preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let _g = Config::new("svc", "1", "test").install().unwrap();
    let logger = mini_telemetry::logger("closed");
    // Wait until the reader has gone.
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..logs {
        mini_telemetry::info!(logger, "after close", i = i);
    }
    mini_telemetry::flush();
    let st = mini_telemetry::stats();
    eprintln!(
        "alive unwritten={} written={} write_errors={}",
        st.unwritten, st.written, st.write_errors
    );
}

/// The library's diagnostics on a standard error that the reader has closed (as `2>&1 | head
/// -n1` does): instruments whose names draw a warning, made after the close, must not panic
/// the thread that makes them, and telemetry goes on.
fn closed_stderr() {
    let _g = mini_telemetry::init("svc", "1", "test").unwrap();
    eprintln!("ready");
    // Wait until the reader has gone.
    std::thread::sleep(Duration::from_millis(300));
    let meter = mini_telemetry::meter("closed");
    for name in ["é.1", "é.2", "é.3"] {
        meter.counter(name).build().add(1, &[]);
    }
    mini_telemetry::logger("closed").info("after the warnings");
}

/// SPANS spans, each given a 400-byte attribute and leaked with `mem::forget` (their end never
/// comes), then one span ended normally. The writer's memory for waiting parts stays bounded,
/// every discarded part is counted, and the thread's context recovers.
fn leak(spans: u64) {
    let g = mini_telemetry::init("svc", "1", "test").unwrap();
    let tracer = mini_telemetry::tracer("leak");
    let value = "x".repeat(400);
    for i in 0..spans {
        let s = tracer.start("leaked");
        s.set_attribute("payload", value.as_str());
        s.set_attribute("i", i as i64);
        std::mem::forget(s);
        if i % 1000 == 999 {
            // Let the writer keep up, so that the ring's back-pressure is not what bounds it.
            mini_telemetry::flush();
        }
    }
    let after = tracer
        .span("after")
        .parent(mini_telemetry::SpanContext::NONE)
        .start();
    after.set_attribute("kept", true);
    drop(after);
    drop(g);
    let st = mini_telemetry::stats();
    let hwm_kib = peak_rss_kib();
    eprintln!("lost={} hwm_kib={hwm_kib}", st.lost);
}

/// The same instruments registered twice: one series (or one point) each, a warning where the
/// registrations differ.
fn duplicates() {
    let _g = mini_telemetry::init("svc", "1", "test").unwrap();
    let m = mini_telemetry::meter("dup");
    for v in [1.0, 2.0] {
        m.observable_gauge("temperature", move |o| {
            o.observe(v, &[KeyValue::new("room", "a")])
        })
        .build();
    }
    let a = m.counter("hits").with_unit("1").build();
    let b = m.counter("hits").with_unit("1").build();
    a.add(1, &[]);
    b.add(2, &[]);
    let _ = m.counter("hits").with_unit("By").build(); // another unit: a warning
    mini_telemetry::flush();
}

/// A logger whose name is 1,000 bytes long, then a tracer per generated name, one span each
/// (named after its index), past the scope limit.
fn scopes(n: u64) {
    let _g = mini_telemetry::init("svc", "1", "test").unwrap();
    mini_telemetry::logger(&"é".repeat(500)).info("long scope name");
    for i in 0..n {
        let _span = mini_telemetry::tracer(&format!("tenant.{i}")).start(format!("s{i}"));
    }
    mini_telemetry::flush();
    eprintln!("scopes_limited={}", mini_telemetry::stats().scopes_limited);
}

/// N scopes, N instruments, and N spans open at once, ended in start order: each step is
/// timed (registration must be O(1) amortised, ending O(1)).
fn many(n: u64) {
    let _g = mini_telemetry::init("svc", "1", "test").unwrap();
    let t = std::time::Instant::now();
    for i in 0..n {
        let _ = mini_telemetry::tracer(&format!("scope.{i}"));
    }
    let scopes = t.elapsed();
    let m = mini_telemetry::meter("many");
    let t = std::time::Instant::now();
    for i in 0..n {
        let _ = m.counter(&format!("counter.{i}")).build();
    }
    let instruments = t.elapsed();
    let tracer = mini_telemetry::tracer("many");
    let t = std::time::Instant::now();
    let spans: Vec<_> = (0..n).map(|_| tracer.start("open")).collect();
    for s in spans {
        drop(s); // start order: each one is the oldest still open
    }
    let spans = t.elapsed();
    assert_eq!(
        mini_telemetry::SpanContext::current(),
        mini_telemetry::SpanContext::NONE
    );
    // One metric call with N/2 attributes, five times (the limits keep 128 of them).
    let keys: Vec<String> = (0..n / 2).map(|i| format!("k{i}")).collect();
    let attrs: Vec<KeyValue<'_>> = keys.iter().map(|k| KeyValue::new(k, 1)).collect();
    let c = m.counter("wide").build();
    let t = std::time::Instant::now();
    for _ in 0..5 {
        c.add(1, &attrs);
    }
    let metric_call = t.elapsed() / 5;
    eprintln!(
        "scopes_ms={} instruments_ms={} spans_ms={} metric_call_ms={}",
        scopes.as_millis(),
        instruments.as_millis(),
        spans.as_millis(),
        metric_call.as_millis()
    );
}

/// Histograms of values far from 1: byte counts of 10 GB to 10 TB, nanosecond durations of
/// minutes to hours, ratios around 1e-15; and two values past 2^64.
fn wide_histograms() {
    let _g = mini_telemetry::init("svc", "1", "test").unwrap();
    let m = mini_telemetry::meter("wide");
    for (name, scale) in [("bytes", 1e10), ("nanos", 6e10), ("ratio", 1e-15)] {
        let h = m.histogram(name).build();
        for i in 1..=1000 {
            h.record(i as f64 * scale, &[]);
        }
    }
    let h = m.histogram("huge").build();
    h.record(1e30, &[]);
    h.record(1e25, &[]);
    h.record(1.0, &[]);
    mini_telemetry::flush();
    eprintln!(
        "histogram_out_of_range={}",
        mini_telemetry::stats().histogram_out_of_range
    );
}

/// An observable gauge whose callback takes 2 s, exported every 100 ms, while a thread with a
/// small ring logs for 3 s: the slowest log call is printed (the callback must not stall the
/// writer, and so the producer), and the gauge's points still come out.
fn slow_callback() {
    let _g = Config::new("svc", "1", "test")
        .ring_capacity(4096)
        .metric_interval(Duration::from_millis(100))
        .install()
        .unwrap();
    sleeping_gauge("slow", Duration::from_secs(2), 7.0);
    let logger = mini_telemetry::logger("slow");
    let started = std::time::Instant::now();
    let mut slowest = Duration::ZERO;
    let mut i = 0u64;
    while started.elapsed() < Duration::from_secs(3) {
        let t = std::time::Instant::now();
        mini_telemetry::info!(logger, "busy", i = i);
        slowest = slowest.max(t.elapsed());
        i += 1;
    }
    eprintln!("slowest_log_ms={} logs={i}", slowest.as_millis());
}

/// An observable gauge whose callback never returns (it sleeps for an hour): `flush()` and the
/// guard's shutdown must still return, once half the shutdown timeout (2 s here) has passed.
/// A watchdog ends the process with code 3 if they do not within a minute.
fn hung_callback() {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(60));
        eprintln!("flush or shutdown hung");
        std::process::exit(3);
    });
    let g = Config::new("svc", "1", "test")
        .shutdown_timeout(Duration::from_secs(2))
        .install()
        .unwrap();
    sleeping_gauge("hung", Duration::from_secs(3600), 1.0);
    let logger = mini_telemetry::logger("hung");
    mini_telemetry::info!(logger, "before the first flush");
    mini_telemetry::flush();
    eprintln!("first flush returned");
    mini_telemetry::info!(logger, "before the second flush");
    mini_telemetry::flush();
    eprintln!("second flush returned");
    drop(g);
    eprintln!("shutdown returned");
}

/// An observable gauge `<scope>.gauge` whose callback sleeps `nap`, then observes `value`.
fn sleeping_gauge(scope: &'static str, nap: Duration, value: f64) {
    mini_telemetry::meter(scope)
        .observable_gauge(&format!("{scope}.gauge"), move |o| {
            std::thread::sleep(nap);
            o.observe(value, &[]);
        })
        .build();
}

include!("shared/memory.rs");

//! The burst rate of one call, for comparing two builds: 400 bursts of 2,000 calls, a flush
//! between bursts (untimed, made as in `hot_path`: `benches/shared/flush.rs`),
//! `Config::new(..)`'s defaults, output to `/dev/null`. Prints the
//! median burst's rate (the log is made outside any span). Build it at each commit, copy the
//! binaries aside, and run them in turn many times: one run of each says little on a host whose
//! speed moves within seconds.
//!
//! ```text
//! cargo run --release -p mini-telemetry-bench --example bursts -- span|attrs|attrs_macro|attrs_slice|log
//! ```
//!
//! `MINI_TELEMETRY_BENCH_FLUSH=block` flushes with `flush()` on the calling thread instead, and
//! `=pause` waits for a flushing thread with a bare pause hint per look
//! (docs/BENCHMARK-HISTORY.md, "Pause hints").
//!
//! With `MINI_TELEMETRY_BENCH_PIN=A,W` (Linux), the calling thread runs on CPU `A` and the
//! writer thread (and any helper it starts) on CPU `W`, to compare placements.

#![allow(dead_code)]

use mini_telemetry::{Config, Sink};
use std::time::Instant;

const BURSTS: usize = 400;
const CALLS: u32 = 2_000;

#[cfg(target_os = "linux")]
include!("../benches/shared/affinity.rs");

#[cfg(not(target_os = "linux"))]
fn pin(_cpu: usize) {}

/// The CPUs `MINI_TELEMETRY_BENCH_PIN` asks for: the calling thread's, the writer's.
fn placement() -> Option<(usize, usize)> {
    let v = std::env::var("MINI_TELEMETRY_BENCH_PIN").ok()?;
    let (a, w) = v.split_once(',')?;
    Some((a.trim().parse().ok()?, w.trim().parse().ok()?))
}

// The calls of `benches/shared/ops.rs`, which the criterion benches, the `rounds` group and the
// instruction counts time too (it holds metric calls this program does not make).
include!("../benches/shared/ops.rs");
include!("../benches/shared/flush.rs");

fn main() {
    let op = std::env::args().nth(1).unwrap_or_else(|| "span".into());
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    // The writer thread takes the CPU set of the thread that starts it.
    let placement = placement();
    if let Some((_, w)) = placement {
        pin(w);
    }
    let _guard = Config::new("bursts", "0", "bench")
        .sink(Sink::Writer(Box::new(null)))
        .use_env(false)
        .install()
        .expect("init");
    if let Some((a, _)) = placement {
        pin(a);
    }
    let tracer = mini_telemetry::tracer("bursts");
    let logger = mini_telemetry::logger("bursts");
    let call: &dyn Fn() = match op.as_str() {
        "span" => &|| op_span(&tracer),
        "attrs" => &|| op_span_3_attrs_1_event(&tracer),
        "attrs_macro" => &|| op_span_3_attrs_macro_1_event(&tracer),
        "attrs_slice" => &|| op_span_3_attrs_slice_1_event(&tracer),
        "log" => &|| op_log_macro_2_fields(&logger),
        other => {
            eprintln!("unknown operation {other}: span, attrs, attrs_macro, attrs_slice or log");
            std::process::exit(2);
        }
    };
    let flush = std::env::var("MINI_TELEMETRY_BENCH_FLUSH").unwrap_or_default();
    let mut per_call = Vec::with_capacity(BURSTS);
    for _ in 0..BURSTS {
        let t = Instant::now();
        for _ in 0..CALLS {
            call();
        }
        per_call.push(t.elapsed().as_secs_f64() / f64::from(CALLS));
        match flush.as_str() {
            "block" => mini_telemetry::flush(),
            "pause" => flush_spinning_dense(),
            _ => flush_spinning(),
        }
    }
    per_call.sort_by(f64::total_cmp);
    let median = per_call[BURSTS / 2];
    println!(
        "{op}: {:.1} ns per call, {:.2} M/s (median of {BURSTS} bursts of {CALLS})",
        median * 1e9,
        1e-6 / median
    );
}

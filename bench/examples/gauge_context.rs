//! How much the reference block's time depends on the kind of work the calling thread has been
//! doing. `hot_path` times the block between the bursts or chunks of each row (its *host
//! note*): after a chunk of 100,000 metric calls on the metric rows, after a burst of records
//! and a flush on the others. Here one thread runs seven kinds of work in turn, 20 ms of each at
//! a time, and times the block after each piece: every kind samples the same stretches of the
//! host, so a difference between kinds comes from the work, not from the moment.
//!
//! - `counter`: 100,000 counter adds with two attributes (as `hot_path`'s metric rows);
//! - `spans_flush`: 5,000 spans, then `flush()` (the calling thread waits, as in `rounds`);
//! - `spans_spin`: 5,000 spans, then 300 µs spinning with the pause hint;
//! - `spin`: 250 µs spinning with the pause hint, no telemetry;
//! - `clock_loop`: 250 µs reading the clock in a loop (no pause hint), no telemetry;
//! - `blocks`: six reference blocks (about as long), no telemetry;
//! - `divisions`: a chain of 50,000 dependent divisions, no telemetry, no clock read.
//!
//! Prints the block's quartiles per kind.
//!
//! ```text
//! cargo run --release -p mini-telemetry-bench --example gauge_context -- [seconds]
//! ```

#![allow(dead_code)]

use mini_telemetry::{Config, Sink};
use std::hint::black_box;
use std::time::{Duration, Instant};

include!("../benches/shared/reference.rs");
include!("../benches/shared/ops.rs");

const KINDS: [&str; 7] = [
    "counter",
    "spans_flush",
    "spans_spin",
    "spin",
    "clock_loop",
    "blocks",
    "divisions",
];

/// Spins for `d`, with the pause hint or without it.
fn spin(d: Duration, hint: bool) {
    let start = Instant::now();
    while start.elapsed() < d {
        if hint {
            std::hint::spin_loop();
        }
    }
}

/// A chain of `n` dependent 64-bit divisions: busy, a few instructions a cycle at most, no clock
/// read and no pause hint.
fn divisions(n: u64) -> u64 {
    let mut x = black_box(u64::MAX);
    for i in 0..n {
        x = x / black_box(3) + (u64::MAX / 2 + i);
    }
    x
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30.0);
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let _guard = Config::new("gauge_context", "0", "bench")
        .sink(Sink::Writer(Box::new(null)))
        .use_env(false)
        .install()
        .expect("init");
    let tracer = mini_telemetry::tracer("gauge_context");
    let counter = mini_telemetry::meter("gauge_context")
        .counter("requests")
        .build();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); KINDS.len()];
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut kind = 0;
    while Instant::now() < end {
        let slot = Instant::now() + Duration::from_millis(20);
        while Instant::now() < slot {
            match kind {
                0 => (0..100_000).for_each(|_| op_counter_add_2_attrs(&counter)),
                1 | 2 => (0..5_000).for_each(|_| op_span(&tracer)),
                3 => spin(Duration::from_micros(250), true),
                4 => spin(Duration::from_micros(250), false),
                5 => (0..6).for_each(|_| {
                    black_box(reference_block());
                }),
                _ => {
                    black_box(divisions(50_000));
                }
            }
            match kind {
                1 => mini_telemetry::flush(),
                2 => spin(Duration::from_micros(300), true),
                _ => {}
            }
            let t = Instant::now();
            black_box(reference_block());
            times[kind].push(t.elapsed().as_secs_f64() * 1e6);
        }
        kind = (kind + 1) % KINDS.len();
    }
    println!("work before the block | block p25 | median | p75 | blocks");
    for (name, t) in KINDS.iter().zip(times.iter_mut()) {
        t.sort_by(f64::total_cmp);
        let q = |f: f64| t[((t.len() - 1) as f64 * f) as usize];
        println!(
            "{name} | {:.1} µs | {:.1} µs | {:.1} µs | {}",
            q(0.25),
            q(0.5),
            q(0.75),
            t.len()
        );
    }
}

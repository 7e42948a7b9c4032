//! Throughput, tail latency and scaling: the measurements criterion's per-call medians do not
//! give. Prints a table and writes `target/throughput.json` for `scripts/bench_report.py`.
//!
//! ```text
//! cargo bench --bench throughput
//! ```
//!
//! - `request`: a request = 3 spans + 2 logs + counter + histogram, timed one by one with the
//!   TSC while the writer thread drains the rings; p50/p99/p99.9/max per request. Run paced (a
//!   fixed think time between requests, so the writer keeps up) and saturated (back to back, so
//!   lossless back-pressure shows in the tail). Paced, blocks of requests alternate with blocks
//!   of the same work done by a bare ring without the library (the ring floor), and two
//!   arithmetic floors follow.
//! - `writer`: records/s and MB/s the writer thread serialises, with one producer far faster than
//!   it, lossless; every line is counted at the sink, nothing may be lost. The same again in the
//!   OTLP/JSON format (group `writer_otlp`), in a child process of this bench
//!   (`MINI_TELEMETRY_BENCH_FORMAT=otlp`), where records are counted, as lines hold many.
//! - `scaling`: counter adds on one shared series from 1, 2, 4, 8 threads in fixed windows of
//!   time, with two references; logs end to end from 1, 2, 4, 8 threads.
//! - `rounds`: the per-call targets and paced requests again, in short bursts taken in turn and
//!   each round opened by a fixed reference block without telemetry, so that the slow stretches
//!   of this VM show up in the reference too; reported over all rounds and over the quiet ones.

mod common;
mod request;
mod rounds;
mod scaling;
mod writer;

use common::{Counting, Results, tick_ns};
use mini_telemetry::{CacheEviction, Config, Format, Sink};

include!("../shared/request.rs");
include!("../shared/ops.rs");
include!("../shared/flush.rs");

fn main() {
    // `cargo bench` passes `--bench`; any other argument filters groups by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |g: &str| filter.is_empty() || filter.iter().any(|f| g.contains(f.as_str()));
    let sink = Counting::default();
    // The default ring (2 MiB) unless MINI_TELEMETRY_BENCH_RING gives another size in bytes.
    let ring = std::env::var("MINI_TELEMETRY_BENCH_RING")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let otlp = std::env::var("MINI_TELEMETRY_BENCH_FORMAT").is_ok_and(|f| f == "otlp");
    // The cache eviction behaviour (auto unless MINI_TELEMETRY_BENCH_EVICTION=always|never).
    let eviction = match std::env::var("MINI_TELEMETRY_BENCH_EVICTION").as_deref() {
        Ok("always") => CacheEviction::Always,
        Ok("never") => CacheEviction::Never,
        _ => CacheEviction::Auto,
    };
    let mut cfg = Config::new("bench", "0", "bench");
    if let Some(bytes) = ring {
        cfg = cfg.ring_capacity(bytes);
    }
    let _guard = cfg
        .sink(Sink::Writer(Box::new(sink.clone())))
        .cache_eviction(eviction)
        .format(if otlp { Format::Otlp } else { Format::Json })
        .use_env(false)
        .install()
        .expect("init");
    if otlp {
        // The child: the writer group only, its rows on stdout for the parent.
        let mut res = Results(Vec::new());
        writer::writer_throughput(&mut res, &sink, true);
        for (g, n, v, u) in &res.0 {
            println!("ROW\t{g}\t{n}\t{v}\t{u}");
        }
        return;
    }
    let ns_per_tick = tick_ns();
    let mut res = Results(Vec::new());
    if want("request") {
        request::request_latency(&mut res, ns_per_tick, true);
        request::request_latency(&mut res, ns_per_tick, false);
    }
    if want("rounds") {
        rounds::per_call_rounds(&mut res, ns_per_tick);
    }
    if want("writer") {
        writer::writer_throughput(&mut res, &sink, false);
        writer::otlp_in_child(&mut res);
    }
    if want("scaling") {
        scaling::scaling(&mut res);
    }
    let st = mini_telemetry::stats();
    println!("stats: {st:?}");
    let json: Vec<String> = res
        .0
        .iter()
        .map(|(g, n, v, u)| {
            format!("{{\"group\":\"{g}\",\"name\":\"{n}\",\"value\":{v},\"unit\":\"{u}\"}}")
        })
        .collect();
    // The workspace's target directory, beside this crate.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    let _ = std::fs::create_dir_all(&dir);
    std::fs::write(
        dir.join("throughput.json"),
        format!("[{}]\n", json.join(",\n")),
    )
    .expect("write results");
}

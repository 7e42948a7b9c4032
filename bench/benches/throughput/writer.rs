//! The `writer` group: records/s and MB/s that the writer thread serialises, lossless, with
//! every line counted at the sink; `writer_otlp`, the same in the OTLP/JSON format (a line holds
//! many records there: records are counted through `stats().written`).

use crate::common::{Counting, Results};
use mini_telemetry::info;
use std::sync::atomic::Ordering;
use std::time::Instant;

pub(crate) fn writer_throughput(res: &mut Results, sink: &Counting, otlp: bool) {
    let group = if otlp { "writer_otlp" } else { "writer" };
    let tracer = mini_telemetry::tracer("bench.writer");
    let logger = mini_telemetry::logger("bench.writer");
    for (what, n) in [("spans", 2_000_000u64), ("logs", 3_000_000u64)] {
        let (b0, l0) = (
            sink.0.0.load(Ordering::Relaxed),
            sink.0.1.load(Ordering::Relaxed),
        );
        let before = mini_telemetry::stats();
        let t = Instant::now();
        for i in 0..n {
            if what == "spans" {
                drop(tracer.start("writer.span"));
            } else {
                info!(logger, "writer log", i = i, ok = true);
            }
        }
        mini_telemetry::flush();
        let dt = t.elapsed().as_secs_f64();
        let (b1, l1) = (
            sink.0.0.load(Ordering::Relaxed),
            sink.0.1.load(Ordering::Relaxed),
        );
        let after = mini_telemetry::stats();
        // flush() also exports metrics: count only this signal's lines.
        let metric_lines = (l1 - l0).saturating_sub(n);
        if otlp {
            // Spans or logs, and the metric points of the flush's export.
            assert!(
                after.written - before.written >= n,
                "records written {} < produced {n}",
                after.written - before.written
            );
        } else {
            assert!(l1 - l0 >= n, "lines written {} < produced {n}", l1 - l0);
        }
        assert_eq!(
            after.dropped + after.lost,
            before.dropped + before.lost,
            "nothing lost"
        );
        res.add(group, &format!("{what}: records/s"), n as f64 / dt, "rec/s");
        res.add(
            group,
            &format!("{what}: MB/s"),
            (b1 - b0) as f64 / dt / 1e6,
            "MB/s",
        );
        let records = if otlp {
            after.written - before.written
        } else {
            n + metric_lines
        };
        res.add(
            group,
            &format!("{what}: bytes/record"),
            (b1 - b0) as f64 / records as f64,
            "B",
        );
    }
}

/// Runs the writer group again in a child process in the OTLP/JSON format, and adds its rows.
pub(crate) fn otlp_in_child(res: &mut Results) {
    let exe = std::env::current_exe().expect("bench executable");
    let out = std::process::Command::new(exe)
        .arg("writer")
        .env("MINI_TELEMETRY_BENCH_FORMAT", "otlp")
        .output()
        .expect("OTLP writer child");
    assert!(out.status.success(), "OTLP writer child failed");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if let ["ROW", g, n, v, u] = f[..] {
            res.add(g, n, v.parse().unwrap_or(f64::NAN), u);
        }
    }
}

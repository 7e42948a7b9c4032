//! The `writer` group: records/s and MB/s that the writer thread serialises, lossless, with
//! every line counted at the sink.

use crate::common::{Counting, Results};
use mini_telemetry::info;
use std::sync::atomic::Ordering;
use std::time::Instant;

pub(crate) fn writer_throughput(res: &mut Results, sink: &Counting) {
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
        assert!(l1 - l0 >= n, "lines written {} < produced {n}", l1 - l0);
        assert_eq!(
            after.dropped + after.lost,
            before.dropped + before.lost,
            "nothing lost"
        );
        res.add(
            "writer",
            &format!("{what}: records/s"),
            n as f64 / dt,
            "rec/s",
        );
        res.add(
            "writer",
            &format!("{what}: MB/s"),
            (b1 - b0) as f64 / dt / 1e6,
            "MB/s",
        );
        res.add(
            "writer",
            &format!("{what}: bytes/record"),
            (b1 - b0) as f64 / (n + metric_lines) as f64,
            "B",
        );
    }
}

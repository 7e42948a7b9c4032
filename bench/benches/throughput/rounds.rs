//! The `rounds` group: the per-call targets and paced requests in short bursts taken in turn,
//! each round opened by the reference blocks, reported over all rounds and over the quiet ones.

use crate::common::{Results, alu_block, median, pct, reference_block, spin_for, ticks};
use crate::{
    flush_spinning, op_counter_add_2_attrs, op_hist_record_1_attr, op_log_macro_2_fields, op_span,
    op_span_3_attrs_1_event, request,
};
use std::time::{Duration, Instant};

/// Rounds of the `rounds` group.
const ROUNDS: usize = 600;

/// Per-call costs and paced requests, timed in short bursts taken in turn (one burst of each
/// operation, then the next round), each round opening with the [`reference_block`] and the
/// [`alu_block`], so every operation samples the same stretches of time as the references.
///
/// This VM has slow stretches in which everything, the reference included, runs 1.5–1.9× slower
/// (another tenant on the host, presumably), and others in which code that issues several
/// instructions a cycle slows down while code that waits on one dependency chain does not (the
/// host's other hardware thread of this core being busy, presumably). A round is *quiet* when
/// both references ran within 10 % of their 5th percentile in this run. Each operation is reported over all
/// rounds and over the quiet ones, with the share of quiet rounds and the reference's times:
/// both numbers, never one without the other.
///
/// Bursts of 2,000 calls into the default ring (the criterion bench uses 5,000: the
/// rounds must be short). The request block of each round starts with 20 requests that are
/// reported apart (see below). Each round ends with a flush made by a helper thread while this
/// one waits busy, as in `hot_path` (`shared/flush.rs`: a vCPU that halts in a blocking
/// `flush()` runs the code after it more slowly for a while); `MINI_TELEMETRY_BENCH_FLUSH=block`
/// calls `flush()` on this thread instead, as this group did before, for comparison.
pub(crate) fn per_call_rounds(res: &mut Results, ns: f64) {
    let tracer = mini_telemetry::tracer("bench.rounds");
    let logger = mini_telemetry::logger("bench.rounds");
    let meter = mini_telemetry::meter("bench.rounds");
    let counter = meter.counter("requests").build();
    let hist = meter.histogram("request.duration").with_unit("ms").build();
    let names = [
        "span start+end",
        "span + 3 attributes + 1 event",
        "log macro, 2 fields, in a span",
        "counter add, 2 attributes",
        "histogram record, 1 attribute",
        "clock floor, two rdtsc reads",
    ];
    let mut reference = Vec::with_capacity(ROUNDS);
    let mut alu_reference = Vec::with_capacity(ROUNDS);
    let mut per: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); names.len()];
    let mut requests: Vec<Vec<u64>> = Vec::with_capacity(ROUNDS);
    let mut first_after_flush: Vec<u64> = Vec::with_capacity(ROUNDS * 20);
    let mut at_ms = Vec::with_capacity(ROUNDS);
    let block = std::env::var("MINI_TELEMETRY_BENCH_FLUSH").is_ok_and(|v| v == "block");
    let start = Instant::now();
    fn burst(calls: u32, mut op: impl FnMut()) -> f64 {
        let t0 = ticks();
        for _ in 0..calls {
            op();
        }
        (ticks() - t0) as f64 / calls as f64
    }
    for round in 0..ROUNDS {
        at_ms.push(start.elapsed().as_secs_f64() * 1e3);
        let t0 = ticks();
        std::hint::black_box(reference_block());
        reference.push((ticks() - t0) as f64);
        let t0 = ticks();
        std::hint::black_box(alu_block());
        alu_reference.push((ticks() - t0) as f64);
        // 520 requests paced 2 µs apart, each timed on its own, as in the `request` group. The
        // first 20 are reported apart from the other 500: the flush that ended the last round
        // exported the metrics (the writer read every shard the requests write), a cold start
        // that a server handling a steady flow of requests does not see after every
        // millisecond, and that would otherwise set the p99.9 by itself (20 in 520 is 4 %).
        let mut lat: Vec<u64> = (0..520)
            .map(|i| {
                let t0 = ticks();
                request(&tracer, &logger, &counter, &hist, (round * 500 + i) as u64);
                let t = ticks() - t0;
                spin_for(Duration::from_micros(2));
                t
            })
            .collect();
        first_after_flush.extend(lat.drain(..20));
        requests.push(lat);
        // Bursts of 2,000 record-producing calls fit in the default ring.
        per[0].push(burst(2_000, || op_span(&tracer)));
        // The span's clock floor right after the span's burst: the two time-stamp counter reads
        // a sampled span makes, so that the span's ratio to it compares two moments of one
        // round, microseconds apart, not two parts of the run.
        per[5].push(burst(2_000, || {
            std::hint::black_box(ticks());
            std::hint::black_box(ticks());
        }));
        per[1].push(burst(2_000, || op_span_3_attrs_1_event(&tracer)));
        let parent = tracer.start("parent");
        per[2].push(burst(2_000, || op_log_macro_2_fields(&logger)));
        drop(parent);
        per[3].push(burst(20_000, || op_counter_add_2_attrs(&counter)));
        let mut v = 0.0;
        per[4].push(burst(20_000, || {
            // A cheap walk over 0..1000, as in the criterion bench.
            v = if v > 999.0 { 0.37 } else { v + 0.37 };
            op_hist_record_1_attr(&hist, v)
        }));
        if block {
            mini_telemetry::flush();
        } else {
            flush_spinning();
        }
    }
    // Quiet: both references within 10 % of their 5th percentile. The store-heavy block waits
    // on memory (one dependency chain) and misses stretches in which this core's other hardware
    // thread, on the host, takes issue slots: in a throwaway program, spans ran 1.7x slower in
    // such stretches while a single dependency chain did not slow at all and eight independent
    // chains (the ALU block) slowed 1.1-1.4x. The ALU block catches those.
    let bound = |v: &[f64]| {
        let mut r = v.to_vec();
        r.sort_by(f64::total_cmp);
        r[ROUNDS / 20] * 1.1
    };
    let (ref_bound, alu_bound) = (bound(&reference), bound(&alu_reference));
    let quiet: Vec<bool> = reference
        .iter()
        .zip(&alu_reference)
        .map(|(&x, &a)| x <= ref_bound && a <= alu_bound)
        .collect();
    let n_quiet = quiet.iter().filter(|&&q| q).count();
    let pick = |v: &[f64], want: bool| -> Vec<f64> {
        v.iter()
            .zip(&quiet)
            .filter(|(_, q)| **q == want)
            .map(|(x, _)| *x)
            .collect()
    };
    res.add(
        "rounds",
        "quiet rounds",
        100.0 * n_quiet as f64 / ROUNDS as f64,
        "%",
    );
    res.add("rounds", "reference", median(reference.clone()) * ns, "ns");
    res.add(
        "rounds",
        "reference, quiet rounds",
        median(pick(&reference, true)) * ns,
        "ns",
    );
    res.add(
        "rounds",
        "reference, other rounds",
        median(pick(&reference, false)) * ns,
        "ns",
    );
    for (what, v) in [
        ("all", None),
        ("quiet rounds", Some(true)),
        ("other rounds", Some(false)),
    ] {
        let v = match v {
            None => alu_reference.clone(),
            Some(q) => pick(&alu_reference, q),
        };
        res.add(
            "rounds",
            &format!("ALU-bound reference, {what}"),
            median(v) * ns,
            "ns",
        );
    }
    for (name, v) in names.iter().zip(&per) {
        res.add(
            "rounds",
            &format!("{name}: median"),
            median(v.clone()) * ns,
            "ns",
        );
        res.add(
            "rounds",
            &format!("{name}: median, quiet rounds"),
            median(pick(v, true)) * ns,
            "ns",
        );
        res.add(
            "rounds",
            &format!("{name}: median, other rounds"),
            median(pick(v, false)) * ns,
            "ns",
        );
    }
    // The span against its clock floor, round by round.
    let ratio: Vec<f64> = per[0].iter().zip(&per[5]).map(|(s, f)| s / f).collect();
    res.add(
        "rounds",
        "span start+end / clock floor, same round: median",
        median(ratio.clone()),
        "x",
    );
    res.add(
        "rounds",
        "span start+end / clock floor, same round: median, quiet rounds",
        median(pick(&ratio, true)),
        "x",
    );
    for (label, want) in [("paced 2us", None), ("paced 2us, quiet rounds", Some(true))] {
        let mut lat: Vec<u64> = requests
            .iter()
            .zip(&quiet)
            .filter(|(_, q)| want.is_none_or(|w| **q == w))
            .flat_map(|(l, _)| l.iter().copied())
            .collect();
        lat.sort_unstable();
        if lat.is_empty() {
            continue;
        }
        for (q, p) in [(0.5, "p50"), (0.99, "p99"), (0.999, "p99.9")] {
            res.add(
                "rounds",
                &format!("request {label} {p}"),
                pct(&lat, q) as f64 * ns,
                "ns",
            );
        }
    }
    first_after_flush.sort_unstable();
    for (q, p) in [(0.5, "p50"), (0.99, "p99")] {
        res.add(
            "rounds",
            &format!("request paced 2us, first 20 after a flush {p}"),
            pct(&first_after_flush, q) as f64 * ns,
            "ns",
        );
    }
    if std::env::var_os("MINI_TELEMETRY_BENCH_DUMP").is_some() {
        // One line per round, for looking at the stretches: the round's start in ms since the
        // first round, the reference, then each operation.
        for r in 0..ROUNDS {
            let ops: Vec<String> = per.iter().map(|v| format!("{:.1}", v[r] * ns)).collect();
            eprintln!(
                "round {r} {:.1} {:.0} {}",
                at_ms[r],
                reference[r] * ns,
                ops.join(" ")
            );
        }
    }
}

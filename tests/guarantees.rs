//! The delivery promises under load and faults (README "Guarantees"), each checked through a
//! child process.
mod common;
use common::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

#[test]
fn lossless_with_64_threads_filling_small_rings() {
    let out = run_with_timeout(
        &[],
        "scenario",
        &["flood", "64", "2000", "4096", "block"],
        120,
    );
    assert_exact(&json_lines(&out), 64, 2000);
}

#[test]
fn lossless_and_shutdown_on_one_cpu() {
    let out = run_with_timeout(
        &["taskset", "-c", "0"],
        "scenario",
        &["flood", "16", "5000", "4096", "block"],
        120,
    );
    assert_exact(&json_lines(&out), 16, 5000);
    let out = run_with_timeout(
        &["taskset", "-c", "0"],
        "scenario",
        &["shutdown-while-producing", "8"],
        60,
    );
    let lines = json_lines(&out);
    assert_eq!(lines.last().unwrap()["done"], true);
}

#[test]
fn shutdown_from_a_producing_thread_does_not_hang() {
    let out = run_with_timeout(&[], "scenario", &["shutdown-while-producing", "8"], 60);
    let lines = json_lines(&out);
    assert_eq!(lines.last().unwrap()["done"], true);
    // Everything thread 0 produced before it shut down was written.
    let t0: HashSet<u64> = signal(&lines, "log")
        .iter()
        .filter(|l| l["attributes"]["t"] == 0)
        .map(|l| l["attributes"]["i"].as_u64().unwrap())
        .collect();
    assert!(
        (0..=5_000).all(|i| t0.contains(&i)),
        "records before shutdown() all delivered"
    );
}

#[test]
fn shutdown_inside_a_current_thread_executor() {
    let out = run_with_timeout(&[], "scenario", &["async"], 60);
    let lines = json_lines(&out);
    assert_eq!(signal(&lines, "span").len(), 10_000);
    assert_eq!(signal(&lines, "log").len(), 10_000);
    assert_eq!(lines.last().unwrap()["done"], true);
}

#[test]
fn thread_churn_delivers_everything_and_reclaims_rings() {
    let out = run_with_timeout(&[], "scenario", &["churn", "20000", "5000"], 300);
    let lines = json_lines(&out);
    let got: HashSet<u64> = signal(&lines, "log")
        .iter()
        .map(|l| l["attributes"]["i"].as_u64().unwrap())
        .collect();
    assert_eq!(
        got.len(),
        20_000,
        "one record per thread, none lost or duplicated"
    );
    assert_eq!(signal(&lines, "log").len(), 20_000);
    let summary = lines.last().unwrap();
    assert_eq!(
        (summary["lost"].as_u64(), summary["dropped"].as_u64()),
        (Some(0), Some(0))
    );
    let (before, after) = (
        summary["rss_before_kib"].as_u64().unwrap(),
        summary["rss_after_kib"].as_u64().unwrap(),
    );
    // 15,000 more threads came and went after the first wave of 5,000; each had a 64 KiB ring.
    // Without reclaiming, that would be ~1 GB of rings; allow 64 MiB of allocator slack.
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

#[test]
fn panic_keeps_earlier_records_and_the_hook_logs_it_with_context() {
    let out = run_with_timeout(&[], "scenario", &["panic"], 60);
    let lines = json_lines(&out);
    let ctx = lines.iter().find(|l| l["scenario"] == "panic").unwrap();
    let before = log(&lines, "before the panic");
    assert_eq!(before["span_id"], ctx["span_id"]);
    let p = log(&lines, "panic");
    assert_eq!(p["severity_text"], "ERROR");
    assert_eq!(p["scope"]["name"], "mini_telemetry.panic");
    assert_eq!(p["trace_id"], ctx["trace_id"]);
    assert_eq!(p["span_id"], ctx["span_id"]);
    assert_eq!(p["attributes"]["exception.type"], "panic");
    assert_eq!(p["attributes"]["exception.message"], "boom: 42");
    assert_eq!(p["attributes"]["thread.name"], "doomed");
    assert!(
        p["attributes"]["code.filepath"]
            .as_str()
            .unwrap()
            .ends_with("scenario.rs")
    );
    // The span unwound and still ended.
    assert_eq!(span(&lines, "doomed-work")["span_id"], ctx["span_id"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("application panic hook ran"),
        "previous hook chained"
    );
}

#[test]
fn slow_reader_bounds_memory_then_gets_everything() {
    // The pipe fills, the writer blocks, rings fill, producers wait (lossless).
    let lines = flood_with_stalled_reader(4, 100_000, "block");
    assert_exact(&lines, 4, 100_000);
}

#[test]
fn random_calls_from_several_threads_round_trip_exactly() {
    let (seed, threads, records) = (0x5eed_u64, 4u64, 3_000u64);
    let out = run_with_timeout(
        &[],
        "scenario",
        &[
            "random",
            &seed.to_string(),
            &threads.to_string(),
            &records.to_string(),
        ],
        120,
    );
    let lines = json_lines(&out);
    // Index what came out by (t, i).
    let mut got: HashMap<(u64, u64), (&str, &Value, &Value)> = HashMap::new();
    for l in &lines {
        let (kind, attrs, name) = match l["signal"].as_str() {
            Some("log") => ("log", &l["attributes"], &l["body"]),
            Some("span") if l["events"].as_array().is_some_and(|e| !e.is_empty()) => (
                "event",
                &l["events"][0]["attributes"],
                &l["events"][0]["name"],
            ),
            Some("span") => ("span", &l["attributes"], &l["name"]),
            _ => continue,
        };
        let key = (attrs["t"].as_u64().unwrap(), attrs["i"].as_u64().unwrap());
        assert!(
            got.insert(key, (kind, attrs, name)).is_none(),
            "duplicate {key:?}"
        );
    }
    assert_eq!(got.len() as u64, threads * records);
    for t in 0..threads {
        let mut r = Rng(seed ^ ((t + 1) << 32));
        for i in 0..records {
            let text = random_text(&mut r);
            let int = r.next_u64() as i64;
            let float = f64::from_bits(r.next_u64());
            let flag = r.next_u64() % 2 == 0;
            let kind = ["log", "span", "event"][(r.next_u64() % 3) as usize];
            let (k, attrs, name) = got[&(t, i)];
            assert_eq!(k, kind, "({t},{i})");
            assert_eq!(name.as_str().unwrap(), text, "({t},{i}) name/body");
            assert_eq!(attrs["text"].as_str().unwrap(), text);
            assert_eq!(attrs["int"].as_i64().unwrap(), int);
            assert_eq!(attrs["flag"].as_bool().unwrap(), flag);
            let f = &attrs["float"];
            if float.is_nan() {
                assert_eq!(f, "NaN");
            } else if float.is_infinite() {
                assert_eq!(f, if float > 0.0 { "Infinity" } else { "-Infinity" });
            } else {
                assert_eq!(
                    f.as_f64().unwrap().to_bits(),
                    float.to_bits(),
                    "({t},{i}) float {float:e} came back as {f}"
                );
            }
        }
    }
}

#[test]
fn every_span_started_before_shutdown_is_written_or_counted_lost() {
    for _ in 0..3 {
        let out = run_with_timeout(&[], "scenario", &["shutdown-accounting", "8"], 60);
        let lines = json_lines(&out);
        let summary = lines.last().unwrap();
        let written = signal(&lines, "span").len() as u64;
        let (started, lost) = (
            summary["started"].as_u64().unwrap(),
            summary["lost"].as_u64().unwrap(),
        );
        assert_eq!(
            written + lost,
            started,
            "written {written} + lost {lost} != started {started}"
        );
    }
}

#[test]
fn slow_reader_in_drop_mode_bounds_memory_and_counts_every_drop() {
    // The reader stalls: producers do not wait, they drop and count.
    let lines = flood_with_stalled_reader(4, 100_000, "drop");
    assert!(
        assert_drop_accounting(&lines, 4, 100_000) > 0,
        "the stall made records drop"
    );
}

#[test]
fn exceptions_capture_a_backtrace_only_when_asked_never_by_rust_backtrace() {
    for (asked, want) in [("0", false), ("1", true)] {
        let out = run(
            "scenario",
            &["exceptions", asked],
            &[("RUST_BACKTRACE", "1")],
        );
        let lines = json_lines(&out);
        let event = &span(&lines, "failing")["events"][0];
        assert_eq!(event["name"], "exception");
        assert_eq!(
            event["attributes"]["exception.type"],
            "core::num::error::ParseIntError"
        );
        let log = log(&lines, "failed");
        for attrs in [&event["attributes"], &log["attributes"]] {
            let bt = attrs.get("exception.stacktrace");
            assert_eq!(bt.is_some(), want, "backtraces asked: {asked}");
            if let Some(bt) = bt {
                assert!(bt.as_str().unwrap().contains("scenario"), "{bt}");
            }
        }
    }
}

#[test]
fn time_never_runs_backwards_across_recalibrations() {
    // 5 s of records from two threads; the writer recalibrates the clock every second.
    let out = run("scenario", &["clock", "5000"], &[]);
    let lines = json_lines(&out);
    let logs = signal(&lines, "log");
    let mut last: HashMap<&str, u64> = HashMap::new();
    let mut sent: HashMap<i64, u64> = HashMap::new();
    let mut checked = 0;
    for l in &logs {
        let t = l["time_unix_nano"].as_u64().unwrap();
        let thread = l["attributes"]["thread"].as_str().unwrap();
        let prev = last.insert(thread, t).unwrap_or(0);
        assert!(
            t >= prev,
            "thread {thread}: {t} after {prev} ({} ns back)",
            prev - t
        );
        let i = l["attributes"]["i"].as_i64().unwrap();
        if l["body"] == "sent" {
            sent.insert(i, t);
        } else if let Some(&s) = sent.get(&i) {
            assert!(
                t >= s,
                "received {i} at {t}, {} ns before it was sent",
                s - t
            );
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked} hand-offs checked");
    for s in signal(&lines, "span") {
        let (a, b) = (
            s["start_time_unix_nano"].as_u64().unwrap(),
            s["end_time_unix_nano"].as_u64().unwrap(),
        );
        assert!(b >= a);
    }
}

#[test]
fn a_burst_of_10k_spans_and_10k_logs_fits_the_default_rings_without_waiting() {
    // After 20,000 records each (past the soft end of their rings), with the writer stalled in
    // a write, one thread makes 10,000 spans and another 10,000 logs: with the default
    // configuration neither waits, and everything is written.
    let out = run_with_timeout(&[], "scenario", &["burst", "10000", "0"], 120);
    let lines = json_lines(&out);
    assert_eq!(signal(&lines, "span").len(), 30_000);
    assert_eq!(signal(&lines, "log").len(), 30_000 + 1);
    let summary = lines.last().unwrap();
    assert_eq!(summary["waits"], 0, "{summary}");
    assert_eq!(summary["stalled_throughout"], true, "{summary}");
    assert_eq!(
        (summary["lost"].as_u64(), summary["dropped"].as_u64()),
        (Some(0), Some(0))
    );
    // The same burst in a 64 KiB ring does wait (and still loses nothing): the count is real.
    let out = run_with_timeout(&[], "scenario", &["burst", "10000", "65536"], 120);
    let lines = json_lines(&out);
    assert_eq!(
        signal(&lines, "span").len() + signal(&lines, "log").len(),
        60_001
    );
    let summary = lines.last().unwrap();
    assert!(summary["waits"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(summary["lost"], 0);
}

#[test]
fn ten_thousand_bursting_threads_stay_within_the_ring_budget() {
    // 10,000 threads, 1,000 alive at once, each bursting 100 logs of ~1 KiB (past the 64 KiB a
    // thread uses in steady state). Rings come out of the default 256 MiB budget, then 64 KiB
    // each: at most 256 MiB + 1,000 x 64 KiB held at once. Without the budget, 2 MiB rings
    // mapped in for a burst would come to ~2 GiB.
    //
    // The timeout is a hang guard, far above the ~10 s this takes in a debug build on a 2-CPU
    // VM. It also catches waiting producers that crowd the writer out: when each one woke
    // every 5 ms by itself, this took up to ~600 s there (see `engine::gate::SAFETY_NET_MAX`).
    let out = run_with_timeout(
        &[],
        "scenario",
        &["burst-threads", "10000", "1000", "100"],
        180,
    );
    let lines = json_lines(&out);
    let s = lines.last().unwrap();
    assert_eq!(s["written"], 1_000_001, "{s}"); // and the resource line
    assert_eq!(
        (s["lost"].as_u64(), s["dropped"].as_u64()),
        (Some(0), Some(0))
    );
    let budget = 256u64 << 20;
    let peak_rings = s["peak_ring_bytes"].as_u64().unwrap();
    assert!(peak_rings <= budget + 1_000 * (64 << 10), "{s}");
    // Resident memory: the rings, 64 KiB stacks, and 150 MiB for everything else.
    let peak_rss = s["peak_rss_kib"].as_u64().unwrap() * 1024;
    assert!(
        peak_rss <= budget + 1_000 * (128 << 10) + (150 << 20),
        "{s}"
    );
}

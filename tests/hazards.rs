//! What real programs do, each run as a child process whose output is parsed: sums past their
//! range, `process::exit` with records unwritten, `fork()`, a closed stdout with `SIGPIPE` at
//! its default action.
mod common;
use common::*;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The number after `name=` in a program's stderr report.
fn stat(stderr: &str, name: &str) -> u64 {
    let at = stderr.find(&format!("{name}=")).expect(name) + name.len() + 1;
    stderr[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

enum Pipe {
    Stdout,
    Stderr,
}

/// Runs the hazards case `args`, reads the first line of its stdout or stderr, closes that pipe
/// and waits for the process; returns the line and what the process wrote on the other pipes.
fn run_closing_after_first_line(args: &[&str], close: Pipe) -> (String, std::process::Output) {
    let mut child = Command::new(example("hazards"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    match close {
        Pipe::Stdout => BufReader::new(child.stdout.take().unwrap()).read_line(&mut first),
        Pipe::Stderr => BufReader::new(child.stderr.take().unwrap()).read_line(&mut first),
    }
    .unwrap();
    (first, child.wait_with_output().unwrap())
}

#[test]
fn sums_saturate_at_the_ends_of_their_range_and_are_counted() {
    let out = run("hazards", &["overflow"], &[]);
    let lines = json_lines(&out);
    let value = |name: &str, attrs| point(&lines, name, attrs)["value"].clone();
    assert_eq!(value("up", json!({})), json!(u64::MAX));
    assert_eq!(value("up", json!({"bound": true})), json!(u64::MAX));
    assert_eq!(value("level", json!({})), json!(i64::MIN));
    assert_eq!(value("high", json!({})), json!(i64::MAX));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("metric_overflows=4"),
        "each saturated series once (the bound one's per-thread parts add up past the end): \
         {stderr}"
    );
}

#[test]
fn process_exit_writes_everything_recorded_before_it() {
    for n in [10usize, 1000, 100_000] {
        let out = run("hazards", &["exit", &n.to_string()], &[]);
        let lines = json_lines(&out);
        assert_eq!(
            signal(&lines, "resource").len(),
            1,
            "{n}: the resource line"
        );
        let logs = signal(&lines, "log");
        assert_eq!(logs.len(), n, "every log made before exit");
        for (i, l) in logs.iter().enumerate() {
            assert_eq!(l["attributes"]["i"], i as u64);
        }
    }
}

#[test]
fn a_forked_child_turns_telemetry_off_says_so_and_never_hangs() {
    let started = Instant::now();
    let out = run("hazards", &["fork", "1000000"], &[]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "no 10 s shutdown wait, no hang on a full ring"
    );
    let lines = json_lines(&out);
    let bodies: Vec<_> = signal(&lines, "log")
        .iter()
        .map(|l| l["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        bodies,
        ["parent before fork", "parent after fork"],
        "the parent's records once each, none from the child"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("child done"), "{stderr}");
    assert!(
        stderr.contains("telemetry is off in this process") && stderr.contains("fork()"),
        "the child says why it wrote nothing: {stderr}"
    );
    assert!(!stderr.contains("did not finish"), "{stderr}");
}

#[test]
fn a_closed_stdout_with_default_sigpipe_neither_kills_nor_loses_uncounted() {
    // As `| head -n1` does.
    let (first, out) = run_closing_after_first_line(&["closed-stdout", "200000"], Pipe::Stdout);
    assert!(first.contains("\"resource\""), "{first}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "killed by SIGPIPE? {:?}: {stderr}",
        out.status
    );
    let field = |name: &str| stat(&stderr, name);
    assert!(stderr.contains("alive"), "{stderr}");
    assert!(field("write_errors") >= 1);
    assert!(
        field("unwritten") >= 200_000,
        "every log after the close is counted: {stderr}"
    );
}

#[test]
fn a_closed_stderr_never_panics_the_thread_a_warning_comes_from() {
    // As `2>&1 | head -n1` does.
    let (first, out) = run_closing_after_first_line(&["closed-stderr"], Pipe::Stderr);
    assert_eq!(first.trim(), "ready");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}: {stdout}", out.status);
    let lines = json_lines(&out);
    assert!(
        signal(&lines, "log")
            .iter()
            .any(|l| l["body"] == "after the warnings"),
        "{stdout}"
    );
}

#[test]
fn leaked_spans_keep_the_writer_bounded_and_every_discarded_part_counted() {
    let n = 400_000u64;
    let out = run("hazards", &["leak", &n.to_string()], &[]);
    let lines = json_lines(&out);
    let after = span(&lines, "after");
    assert_eq!(
        after["attributes"]["kept"], true,
        "a span ended later keeps its parts"
    );
    assert_eq!(after["parent_span_id"], "");
    assert!(signal(&lines, "span").iter().all(|s| s["name"] != "leaked"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| stat(&stderr, name);
    // Two parts per leaked span: discarded while running (the oldest first) or at shutdown,
    // and counted either way.
    assert_eq!(field("lost"), 2 * n, "{stderr}");
    // Kept, the parts would take ~300 MB; the writer holds at most 64 MiB of them.
    let hwm_mib = field("hwm_kib") / 1024;
    assert!(hwm_mib < 120, "peak RSS {hwm_mib} MiB");
}

#[test]
fn duplicate_registrations_are_one_series_with_a_warning_where_they_differ() {
    let out = run("hazards", &["duplicates"], &[]);
    let lines = json_lines(&out);
    // Two exports (the flush and the shutdown), one point each per attribute set.
    let of = |name: &str| -> Vec<serde_json::Value> {
        signal(&lines, "metric")
            .into_iter()
            .filter(|p| p["name"] == name)
            .cloned()
            .collect()
    };
    let exports = |points: &[serde_json::Value]| -> std::collections::BTreeSet<u64> {
        points
            .iter()
            .map(|p| p["time_unix_nano"].as_u64().unwrap())
            .collect()
    };
    let temps = of("temperature");
    assert_eq!(
        temps.len(),
        2,
        "one point per attribute set per export: {temps:?}"
    );
    assert_eq!(exports(&temps).len(), 2);
    assert!(
        temps.iter().all(|t| t["value"] == 2.0),
        "the last value observed"
    );
    let hits = of("hits");
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert!(
        hits.iter().all(|h| h["value"] == 3),
        "one series for both handles"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"temperature\" registered again"),
        "{stderr}"
    );
    assert!(stderr.contains("another description or unit"), "{stderr}");
    assert_eq!(
        stderr.matches("\"hits\"").count(),
        1,
        "no warning for an identical one: {stderr}"
    );
}

#[test]
fn registration_and_out_of_order_ends_scale_linearly() {
    // 100,000 of each took 24 s (scopes), 99 s (instruments) and 13 s (spans), and a metric call
    // with 50,000 attributes 2.5 s, when these were quadratic; now each is well under a second.
    // The bound leaves a wide margin for a slow host and a debug build.
    let out = run("hazards", &["many", "100000"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| stat(&stderr, name);
    for step in ["scopes_ms", "instruments_ms", "spans_ms", "metric_call_ms"] {
        assert!(field(step) < 8_000, "{step}: {stderr}");
    }
}

#[test]
fn scope_names_past_the_limit_share_one_scope_and_are_counted() {
    let n = 2_000;
    let out = run("hazards", &["scopes", &n.to_string()], &[]);
    let lines = json_lines(&out);
    let spans = signal(&lines, "span");
    assert_eq!(spans.len(), n, "every span written");
    let mut overflowed = 0;
    let mut names = std::collections::HashSet::new();
    for s in &spans {
        let i = s["name"].as_str().unwrap()[1..].parse::<usize>().unwrap();
        let scope = s["scope"]["name"].as_str().unwrap();
        if scope == "mini_telemetry.scope_overflow" {
            overflowed += 1;
        } else {
            assert_eq!(
                scope,
                format!("tenant.{i}"),
                "a kept name is the span's own"
            );
        }
        names.insert(scope.to_string());
    }
    assert!(names.len() <= 1024, "{} scope names", names.len());
    assert!(
        overflowed >= n - 1024,
        "{overflowed} spans under the overflow scope"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stat(&stderr, "scopes_limited"),
        overflowed as u64,
        "{stderr}"
    );
    // The long name (1,000 bytes of two-byte chars): cut at a char boundary to 256 bytes.
    let log = &signal(&lines, "log")[0];
    assert_eq!(log["scope"]["name"], "é".repeat(128));
}

#[test]
fn histogram_percentiles_hold_far_from_one_and_out_of_range_is_counted() {
    let out = run("hazards", &["wide-histograms"], &[]);
    let lines = json_lines(&out);
    for (name, scale) in [("bytes", 1e10), ("nanos", 6e10), ("ratio", 1e-15)] {
        let p = &point(&lines, name, json!({}))["percentiles"];
        for (key, want) in [("p50", 500.0), ("p90", 900.0), ("p99", 990.0)] {
            let got = p[key].as_f64().unwrap();
            let want = want * scale;
            assert!(
                (got - want).abs() / want < 0.01,
                "{name} {key}: {got} vs {want}"
            );
        }
    }
    let huge = point(&lines, "huge", json!({}));
    assert_eq!(huge["max"], 1e30);
    assert_eq!(
        huge["percentiles"]["p99"], 1e30,
        "past the range: reported as max"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("histogram_out_of_range=2"), "{stderr}");
}

#[test]
fn a_hung_observable_callback_never_hangs_flush_or_shutdown() {
    // The example's watchdog exits with code 3 after a minute if a flush or the shutdown waits
    // on the callback for good; `run` fails on that status.
    let out = run("hazards", &["hung-callback"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for step in [
        "first flush returned",
        "second flush returned",
        "shutdown returned",
    ] {
        assert!(stderr.contains(step), "{step}: {stderr}");
    }
    assert!(
        stderr.contains("a flush finished without their points"),
        "{stderr}"
    );
    // Both logs made it out: the flushes waited for the records, not for the callback.
    let text = String::from_utf8(out.stdout).unwrap();
    for body in ["before the first flush", "before the second flush"] {
        assert!(text.contains(body), "{body} missing");
    }
}

#[test]
fn a_slow_observable_callback_never_blocks_producers() {
    let out = run("hazards", &["slow-callback"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| stat(&stderr, name);
    // Before, each 2 s callback stalled the writer and a producer with a full ring waited for
    // it: ~2,000 ms. Now the producer waits only for the writer's draining; the bound leaves a
    // wide margin for a loaded host.
    assert!(field("slowest_log_ms") < 1000, "{stderr}");
    // (Close to a million lines: count the logs, parse the metric lines only.)
    let text = String::from_utf8(out.stdout).unwrap();
    let logs = text
        .lines()
        .filter(|l| l.contains(r#""signal":"log""#))
        .count();
    assert_eq!(logs as u64, field("logs"), "lossless");
    let gauge = text
        .lines()
        .filter(|l| l.contains(r#""signal":"metric""#))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .any(|p| p["name"] == "slow.gauge" && p["value"] == 7.0);
    assert!(
        gauge,
        "the gauge's points are written when its callback finishes"
    );
}

//! Engine guarantees checked through child processes: correlation, exact metrics, lossless and
//! drop accounting, hostile input, calls before init, closed stdout.
mod common;
use common::*;
use serde_json::{Value, json};

#[test]
fn spans_nest_and_logs_carry_their_span() {
    let lines = json_lines(&run("scenario", &["nesting"], &[]));
    let root = span(&lines, "root");
    let child = span(&lines, "child");
    let grand = span(&lines, "grandchild");
    let remote = span(&lines, "remote-child");
    assert_eq!(root["kind"], "server");
    assert_eq!(root["parent_span_id"], "");
    for s in [child, grand, remote] {
        assert_eq!(s["trace_id"], root["trace_id"]);
    }
    assert_eq!(child["parent_span_id"], root["span_id"]);
    assert_eq!(grand["parent_span_id"], child["span_id"]);
    assert_eq!(
        remote["parent_span_id"], root["span_id"],
        "explicit parent from another thread"
    );
    assert_eq!(remote["kind"], "consumer");
    assert_eq!(remote["links"][0]["span_id"], child["span_id"]);
    assert_eq!(remote["links"][0]["attributes"]["why"], "follows");
    for (body, s) in [
        ("in root", root),
        ("in child", child),
        ("in grandchild", grand),
        ("back in child", child),
        ("on other thread", remote),
    ] {
        let l = log(&lines, body);
        assert_eq!(l["trace_id"], s["trace_id"], "{body}");
        assert_eq!(l["span_id"], s["span_id"], "{body}");
    }
    assert_eq!(log(&lines, "in grandchild")["severity_text"], "WARN");
    let (first, second) = (span(&lines, "first"), span(&lines, "second"));
    assert_eq!(second["parent_span_id"], first["span_id"]);
    assert_eq!(
        log(&lines, "second is current")["span_id"],
        second["span_id"]
    );
    assert_eq!(
        log(&lines, "first ended")["span_id"],
        root["span_id"],
        "a span ended out of order takes the spans started after it off the stack"
    );
    // A leaked guard (`mem::forget`) stops being current when the span around it ends; it is
    // never written.
    let around = span(&lines, "around");
    let leaked = log(&lines, "in leaked");
    assert_eq!(leaked["trace_id"], root["trace_id"]);
    assert_ne!(leaked["span_id"], around["span_id"]);
    assert_eq!(log(&lines, "after leak")["span_id"], root["span_id"]);
    assert!(signal(&lines, "span").iter().all(|s| s["name"] != "leaked"));
    assert_eq!(log(&lines, "in child")["attributes"]["depth"], 2);
    let outside = log(&lines, "outside");
    assert!(outside.get("trace_id").is_none() && outside.get("span_id").is_none());
    let ids: std::collections::HashSet<_> = signal(&lines, "span")
        .iter()
        .map(|s| s["span_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 7, "span ids are unique");
}

#[test]
fn the_resource_line_is_not_later_than_any_record() {
    let lines = json_lines(&run("scenario", &["nesting"], &[]));
    let resource = signal(&lines, "resource")[0]["time_unix_nano"]
        .as_u64()
        .unwrap();
    for l in &lines[1..] {
        let t = l
            .get("start_time_unix_nano")
            .or_else(|| l.get("time_unix_nano"))
            .and_then(|t| t.as_u64())
            .unwrap();
        assert!(resource <= t, "resource at {resource}, later than {l}");
    }
}

#[test]
fn the_text_format_keeps_link_attributes() {
    let out = run(
        "scenario",
        &["nesting"],
        &[("MINI_TELEMETRY_FORMAT", "text")],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("remote-child"))
        .expect("the span with a link");
    assert!(
        line.contains(" link=") && line.contains("why=follows"),
        "{line}"
    );
}

#[test]
fn counters_and_histograms_are_exact_across_threads() {
    let lines = json_lines(&run("scenario", &["counters", "8", "100000"], &[]));
    assert_eq!(
        point(&lines, "hits", json!({"kind": "call", "shared": true}))["value"],
        800_000
    );
    assert_eq!(
        point(&lines, "hits", json!({"kind": "bound"}))["value"],
        1_600_000
    );
    let inflight = point(&lines, "inflight", json!({}));
    assert_eq!(inflight["value"], 0);
    assert_eq!(inflight["monotonic"], false);
    let h = point(&lines, "values", json!({"kind": "h"}));
    assert_eq!(h["count"], 800_000);
    assert_eq!(h["min"], 1.0);
    assert_eq!(h["max"], 100_000.0);
    assert_eq!(h["sum"], 8.0 * 100_000.0 * 100_001.0 / 2.0);
    let p50 = h["percentiles"]["p50"].as_f64().unwrap();
    assert!((p50 - 50_000.0).abs() / 50_000.0 < 0.01, "p50 {p50}");
    let p999 = h["percentiles"]["p99.9"].as_f64().unwrap();
    assert!((p999 - 99_900.0).abs() / 99_900.0 < 0.01, "p99.9 {p999}");
    let buckets: u64 = h["bucket_counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(buckets, 800_000);
    assert_eq!(h["bucket_counts"][1], 8 * 5, "(0,5] holds 1..=5 per thread");
}

#[test]
fn histograms_are_exact_with_more_threads_than_shards() {
    // Sum and histogram shards have one writer each; threads beyond the shard count share one
    // more, with atomic read-modify-writes. Both kinds of shard must add up exactly.
    let (threads, n) = (48u64, 20_000u64);
    let lines = json_lines(&run(
        "scenario",
        &["counters", &threads.to_string(), &n.to_string()],
        &[],
    ));
    let h = point(&lines, "values", json!({"kind": "h"}));
    assert_eq!(h["count"], threads * n);
    assert_eq!(h["min"], 1.0);
    assert_eq!(h["max"], n as f64);
    assert_eq!(h["sum"], (threads * n * (n + 1) / 2) as f64);
    assert_eq!(
        point(&lines, "hits", json!({"kind": "call", "shared": true}))["value"],
        threads * n
    );
    assert_eq!(
        point(&lines, "hits", json!({"kind": "bound"}))["value"],
        2 * threads * n
    );
}

#[test]
fn lossless_mode_delivers_every_record_once_in_order() {
    let (threads, n) = (8u64, 20_000u64);
    let lines = flood(threads, n, "block");
    assert_exact(&lines, threads, n);
    assert!(
        signal(&lines, "metric")
            .iter()
            .all(|m| m["name"] != "mini_telemetry.records.dropped")
    );
}

#[test]
fn drop_mode_accounts_for_every_record() {
    let (threads, n) = (4u64, 50_000u64);
    let dropped = assert_drop_accounting(&flood(threads, n, "drop"), threads, n);
    eprintln!("dropped {dropped} of {}", threads * n);
}

#[test]
fn hostile_input_stays_valid_json_and_bounded() {
    let out = run("scenario", &["hostile"], &[]);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        !text.contains('\u{2028}') && !text.contains('\r'),
        "no raw line breaks of any kind"
    );
    let lines = json_lines(&out);
    let controls: String = (0u8..0x20)
        .map(|b| b as char)
        .chain(['\u{7f}', '\u{2028}', '\u{2029}'])
        .collect();
    let nasty = format!("q\"b\\s/ {controls} é 🚀 \u{FFFD}");
    let s = span(&lines, &nasty);
    assert_eq!(s["resource"]["service.name"], "svc \"quoted\"\n");
    assert_eq!(s["scope"]["name"], "hostile\u{0}scope");
    let a = &s["attributes"];
    assert_eq!(a[&nasty], nasty.as_str());
    assert_eq!(a["nan"], "NaN");
    assert_eq!(a["inf"], "Infinity");
    assert_eq!(a["ninf"], "-Infinity");
    assert_eq!(a["floats"], json!(["NaN", 1.5, "-Infinity"]));
    assert_eq!(a["strs"], json!(["a\nb", "\"", ""]));
    assert_eq!(a["max"], i64::MAX);
    assert_eq!(a["min"], i64::MIN);
    assert_eq!(a["u64max"], u64::MAX as f64);
    // 1 MiB value: cut to the per-value limit (a quarter of the 64 KiB ring), at a char boundary.
    assert_eq!(a["big"].as_str().unwrap().len(), 16 * 1024);
    // The limit counts keys: 10 named, "k" and "one-by-one" are 12. A span sends at most
    // 4 x 128 values: 10 + 300 of "k" + the first 202 of "one-by-one", the rest counted.
    assert_eq!(s["dropped_attributes_count"], 10_000 - 202);
    assert_eq!(a["k"], 299, "last value kept for a repeated key");
    assert_eq!(a["one-by-one"], 201, "values past the bound are dropped");
    assert_eq!(a.as_object().unwrap().len(), 12);
    assert_eq!(s["events"].as_array().unwrap().len(), 128);
    assert_eq!(s["dropped_events_count"], 100_000 - 128);
    assert_eq!(s["links"].as_array().unwrap().len(), 128);
    assert_eq!(s["dropped_links_count"], 200 - 128);
    assert_eq!(s["links"][0]["attributes"]["l"], nasty.as_str());
    assert_eq!(s["status"]["message"], nasty.as_str());
    let l = log(&lines, &nasty);
    assert_eq!(l["attributes"][&nasty], nasty.as_str());
    assert_eq!(l["attributes"]["nan"], "NaN");
    assert_eq!(
        log(&lines, "fields")["attributes"],
        json!({"s": nasty, "f": "Infinity"})
    );
    let three = &log(&lines, "three big")["attributes"];
    assert_eq!(three["a"].as_str().unwrap().len(), 16 * 1024);
    assert!(three.get("b").is_none() && three.get("c").is_none());
    assert_eq!(
        three["otel.dropped_attributes_count"], 2,
        "counted under its own key"
    );
    assert_eq!(
        span(&lines, "ok-after-error")["status"],
        json!({"code": "ok"})
    );
    assert_eq!(
        span(&lines, "error-message-replaced")["status"],
        json!({"code": "error"})
    );
    // Metrics: NaN/inf histogram values rejected and counted; empty name accepted.
    let h = point(&lines, "", json!({nasty.clone(): "NaN"}));
    assert_eq!(
        (h["count"].as_u64(), h["min"].as_f64()),
        (Some(1), Some(-1.0))
    );
    assert_eq!(point(&lines, "g", json!({}))["value"], "NaN");
    assert_eq!(
        point(&lines, "h", json!({}))["value"],
        -5,
        "up-down counter sharing a counter's name"
    );
    // Cardinality: 1,999 series of their own, the other 98,001 sets in the overflow series.
    let wide: Vec<_> = signal(&lines, "metric")
        .into_iter()
        .filter(|m| m["name"] == "wide")
        .collect();
    assert_eq!(wide.len(), 2000);
    let overflow = point(&lines, "wide", json!({"otel.metric.overflow": true}));
    assert_eq!(overflow["value"], 100_000 - 1999);
    assert_eq!(
        wide.iter()
            .map(|m| m["value"].as_u64().unwrap())
            .sum::<u64>(),
        100_000
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("registered as a counter and as a up-down counter"),
        "{stderr}"
    );
}

#[test]
fn calls_before_init_and_after_shutdown_are_noops() {
    let lines = json_lines(&run("scenario", &["uninit"], &[]));
    assert!(lines.iter().all(|l| l["name"] != "before-init"
        && l["body"] != "before init"
        && l["body"] != "after shutdown"));
    log(&lines, "after init");
    assert_eq!(
        point(&lines, "before", json!({}))["value"],
        5,
        "only the add after init counts"
    );
    assert_eq!(
        lines.last().unwrap()["done"],
        true,
        "guard drop flushed before the program went on"
    );
}

#[test]
fn closed_stdout_does_not_crash_the_app() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(example("scenario"))
        .args(["spam", "300000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap(); // then closed, like `| head -n 1`
    serde_json::from_str::<Value>(&first).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "app survived: {stderr}");
    assert!(stderr.contains("cannot write telemetry output"), "{stderr}");
    assert!(
        stderr.contains("write_errors: 1"),
        "failure counted: {stderr}"
    );
    assert_eq!(stderr.matches("cannot write").count(), 1, "reported once");
}

#[test]
fn hostile_input_cannot_forge_text_lines() {
    // The same hostile program in text mode: exactly as many lines as records in JSON mode, so no
    // value smuggled a line break in.
    let json_lines_count = run("scenario", &["hostile"], &[])
        .stdout
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    let out = run(
        "scenario",
        &["hostile"],
        &[("MINI_TELEMETRY_FORMAT", "text")],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), json_lines_count);
    assert!(!text.contains('\r') && !text.contains('\u{2028}') && !text.contains('\u{2029}'));
    for line in text.lines() {
        let b = line.as_bytes();
        assert!(
            b.len() > 24 && b[4] == b'-' && b[10] == b' ' && b[23] == b' ',
            "every line starts with a timestamp: {line:.80}"
        );
    }
}

//! The `log` facade through the bridge (cargo feature `log`): real `log` macros, our output
//! parsed as JSON.
#![cfg(feature = "log")]
mod common;

use common::Shared;

use mini_telemetry::{Config, Level, Sink};

fn logs(sink: &Shared) -> Vec<serde_json::Value> {
    let b = sink.0.lock().unwrap();
    std::str::from_utf8(&b)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["signal"] == "log")
        .collect()
}

struct Addr(u16);

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "10.0.0.1:{}", self.0)
    }
}

#[test]
fn log_records_become_logs_with_scope_fields_level_and_trace_context() {
    mini_telemetry::log_bridge::install().unwrap();
    // Before init nothing is written (and nothing breaks).
    log::info!("before init");
    let sink = Shared::default();
    let guard = Config::new("bridge", "1", "test")
        .sink(Sink::Writer(Box::new(sink.clone())))
        .min_level(Level::Debug)
        .use_env(false)
        .install()
        .unwrap();
    // `log`'s own filter follows the configured minimum.
    assert_eq!(log::max_level(), log::LevelFilter::Debug);

    log::info!(target: "db", pool = 4, ok = true, name = "primary"; "connected");
    let big = u64::MAX;
    log::warn!(
        target: "net",
        peer:% = Addr(8080), big = big, ratio = 0.5;
        "retry {} of {}", 2, 3
    );
    log::trace!(target: "db", "below the minimum level");
    let tracer = mini_telemetry::tracer("app");
    let ctx = {
        let span = tracer.start("request");
        log::error!("failed inside the span");
        span.context()
    };
    // Many records from another thread, to exercise the per-thread scope cache.
    std::thread::spawn(|| {
        for i in 0..100 {
            log::debug!(target: "worker", i = i; "tick");
        }
    })
    .join()
    .unwrap();
    mini_telemetry::flush();
    let out = logs(&sink);
    drop(guard);

    let bodies: Vec<&str> = out.iter().map(|l| l["body"].as_str().unwrap()).collect();
    assert!(!bodies.contains(&"before init"));
    assert!(!bodies.contains(&"below the minimum level"));

    let connected = out.iter().find(|l| l["body"] == "connected").unwrap();
    assert_eq!(connected["scope"]["name"], "db");
    assert_eq!(connected["severity_text"], "INFO");
    assert_eq!(connected["severity_number"], 9);
    assert_eq!(connected["attributes"]["pool"], 4);
    assert_eq!(connected["attributes"]["ok"], true);
    assert_eq!(connected["attributes"]["name"], "primary");
    assert!(connected.get("trace_id").is_none());

    let retry = out.iter().find(|l| l["body"] == "retry 2 of 3").unwrap();
    assert_eq!(retry["scope"]["name"], "net");
    assert_eq!(retry["severity_text"], "WARN");
    assert_eq!(retry["attributes"]["peer"], "10.0.0.1:8080");
    assert_eq!(retry["attributes"]["big"].as_f64(), Some(u64::MAX as f64));
    assert_eq!(retry["attributes"]["ratio"], 0.5);

    let failed = out
        .iter()
        .find(|l| l["body"] == "failed inside the span")
        .unwrap();
    assert_eq!(failed["severity_text"], "ERROR");
    assert_eq!(failed["trace_id"].as_str().unwrap(), ctx.trace_id_hex());
    assert_eq!(failed["span_id"].as_str().unwrap(), ctx.span_id_hex());
    // The crate's module path is the target when none is given.
    assert_eq!(failed["scope"]["name"], "log_bridge");

    let ticks: Vec<i64> = out
        .iter()
        .filter(|l| l["body"] == "tick")
        .map(|l| {
            assert_eq!(l["scope"]["name"], "worker");
            l["attributes"]["i"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(ticks, (0..100).collect::<Vec<_>>());
}

//! The `tracing` facade through the layer (cargo feature `tracing`): a real `tracing` stack
//! (`tracing_subscriber::registry()`), sync and on a tokio runtime, mixed with our own spans;
//! the output parsed as JSON.
#![cfg(feature = "tracing")]
mod common;

use common::Shared;

use mini_telemetry::{Config, FutureExt, Sink};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

fn sink() -> &'static Shared {
    static SINK: OnceLock<Shared> = OnceLock::new();
    SINK.get_or_init(|| {
        let sink = Shared::default();
        let guard = Config::new("tracing", "1", "test")
            .sink(Sink::Writer(Box::new(sink.clone())))
            .use_env(false)
            .install()
            .unwrap();
        std::mem::forget(guard);
        let subscriber =
            tracing_subscriber::registry().with(mini_telemetry::tracing_bridge::layer());
        tracing::subscriber::set_global_default(subscriber).unwrap();
        sink
    })
}

/// Lines written so far: spans by name, logs by body.
fn output() -> (HashMap<String, Value>, HashMap<String, Value>) {
    mini_telemetry::flush();
    let b = sink().0.lock().unwrap();
    let mut spans = HashMap::new();
    let mut logs = HashMap::new();
    for l in std::str::from_utf8(&b).unwrap().lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        if v["signal"] == "span" {
            spans.insert(v["name"].as_str().unwrap().to_string(), v);
        } else if v["signal"] == "log" {
            logs.insert(v["body"].as_str().unwrap().to_string(), v);
        }
    }
    (spans, logs)
}

#[test]
fn tracing_spans_and_ours_nest_both_ways_with_fields_and_logs() {
    sink();
    let tracer = mini_telemetry::tracer("ours");
    {
        let outer = tracer.start("sync-ours-outer");
        let t = tracing::info_span!(target: "web", "sync-t-span", route = "/x", n = 5, late = tracing::field::Empty);
        {
            let _e = t.enter();
            tracing::info!(rows = 3, ok = true, "sync query done");
            tracing::debug!("sync below the minimum level");
            drop(tracer.start("sync-ours-inner"));
            t.record("late", 7);
        }
        drop(t);
        drop(outer);
    }
    // Four fields or fewer, up to sixteen, and more: three ways of holding them.
    tracing::info!(
        a = 1,
        b = 2,
        c = 3,
        d = 4,
        e = 5,
        f = "six",
        "sync six fields"
    );
    tracing::info!(
        a = 1,
        b = 2,
        c = 3,
        d = 4,
        e = 5,
        f = 6,
        g = 7,
        h = 8,
        i = 9,
        j = 10,
        k = 11,
        l = 12,
        m = 13,
        n = 14,
        o = 15,
        p = 16,
        q = 17,
        r = "eighteen",
        "sync eighteen fields"
    );
    let server = tracing::info_span!("ignored", otel.name = "GET /users", otel.kind = "server");
    let first = tracing::info_span!("sync-first");
    server.follows_from(&first);
    tracing::warn!(parent: &server, "sync explicit parent");
    drop(first);
    drop(server);

    let (spans, logs) = output();
    let outer = &spans["sync-ours-outer"];
    let t = &spans["sync-t-span"];
    assert_eq!(
        t["parent_span_id"], outer["span_id"],
        "a tracing span inside ours"
    );
    assert_eq!(t["trace_id"], outer["trace_id"]);
    assert_eq!(t["scope"]["name"], "web");
    assert_eq!(t["attributes"]["route"], "/x");
    assert_eq!(t["attributes"]["n"], 5);
    assert_eq!(
        t["attributes"]["late"], 7,
        "a field recorded after creation"
    );
    let inner = &spans["sync-ours-inner"];
    assert_eq!(
        inner["parent_span_id"], t["span_id"],
        "ours inside a tracing span"
    );
    let log = &logs["sync query done"];
    assert_eq!(log["span_id"], t["span_id"]);
    assert_eq!(log["trace_id"], t["trace_id"]);
    assert_eq!(log["severity_text"], "INFO");
    assert_eq!(log["attributes"]["rows"], 3);
    assert_eq!(log["attributes"]["ok"], true);
    assert!(!logs.contains_key("sync below the minimum level"));
    for (body, n, last) in [
        ("sync six fields", 6, ("f", "six")),
        ("sync eighteen fields", 18, ("r", "eighteen")),
    ] {
        let a = &logs[body]["attributes"];
        assert_eq!(a.as_object().unwrap().len(), n, "{a}");
        assert_eq!(a["a"], 1, "{a}");
        assert_eq!(a[last.0], last.1, "{a}");
    }

    let server = &spans["GET /users"];
    assert_eq!(server["kind"], "server");
    assert_eq!(
        server["links"][0]["span_id"],
        spans["sync-first"]["span_id"]
    );
    assert_eq!(logs["sync explicit parent"]["span_id"], server["span_id"]);
    assert_eq!(logs["sync explicit parent"]["severity_text"], "WARN");
}

#[test]
fn instrumented_tasks_keep_their_spans_across_threads() {
    sink();
    let tracer = mini_telemetry::tracer("ours");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    rt.block_on(async move {
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let task = async move {
                    tracing::info!(i, "async start {}", i);
                    tokio::task::yield_now().await;
                    drop(tracer.start(format!("async-ours-{i}")));
                    let sub = tracer.start_async(format!("async-ours-sub-{i}"));
                    async move {
                        tokio::task::yield_now().await;
                        let name = format!("async-t-child-{i}");
                        let t = tracing::info_span!("async-t-child", otel.name = %name);
                        t.in_scope(|| tracing::info!("async in child {}", i));
                    }
                    .in_span(sub)
                    .await;
                };
                let name = format!("async-t-task-{i}");
                tokio::spawn(
                    task.instrument(tracing::info_span!("async-t-task", otel.name = %name)),
                )
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let (spans, logs) = output();
    for i in 0..100 {
        let task = &spans[&format!("async-t-task-{i}")];
        let ours = &spans[&format!("async-ours-{i}")];
        let sub = &spans[&format!("async-ours-sub-{i}")];
        let child = &spans[&format!("async-t-child-{i}")];
        let start = &logs[&format!("async start {i}")];
        assert_eq!(task["parent_span_id"], "", "task {i} is a root");
        assert_eq!(start["span_id"], task["span_id"], "task {i}");
        assert_eq!(ours["parent_span_id"], task["span_id"], "task {i}");
        assert_eq!(sub["parent_span_id"], task["span_id"], "task {i}");
        assert_eq!(child["parent_span_id"], sub["span_id"], "task {i}");
        assert_eq!(
            logs[&format!("async in child {i}")]["span_id"],
            child["span_id"]
        );
        for s in [ours, sub, child] {
            assert_eq!(s["trace_id"], task["trace_id"], "task {i}");
        }
    }
}

#[test]
fn events_can_be_span_events() {
    sink();
    let layer = mini_telemetry::tracing_bridge::layer().events_as_span_events(true);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let s = tracing::info_span!("events-span");
        let _e = s.enter();
        tracing::info!(k = 1, "as a span event");
    });
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!("outside any span, still a log");
    });
    let (spans, logs) = output();
    let s = &spans["events-span"];
    assert_eq!(s["events"][0]["name"], "as a span event");
    assert_eq!(s["events"][0]["attributes"]["k"], 1);
    assert!(!logs.contains_key("as a span event"));
    assert!(logs.contains_key("outside any span, still a log"));
}

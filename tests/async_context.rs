//! Spans in async tasks on real tokio runtimes: every span's trace and parent are checked in the
//! parsed output, with tasks interleaving on one thread and moving between worker threads.
mod common;

use common::Shared;
use mini_telemetry::{Config, FutureExt, KeyValue, Sink, SpanContext, Tracer};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

/// One init for the whole test binary; every test names its spans uniquely.
fn sink() -> &'static Shared {
    static SINK: OnceLock<Shared> = OnceLock::new();
    SINK.get_or_init(|| {
        let sink = Shared::default();
        let guard = Config::new("async", "1", "test")
            .sink(Sink::Writer(Box::new(sink.clone())))
            .ring_capacity(1 << 20)
            .use_env(false)
            .install()
            .unwrap();
        std::mem::forget(guard);
        sink
    })
}

/// The spans written so far, by name.
fn spans() -> HashMap<String, Value> {
    mini_telemetry::flush();
    let b = sink().0.lock().unwrap();
    std::str::from_utf8(&b)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["signal"] == "span")
        .map(|v| (v["name"].as_str().unwrap().to_string(), v))
        .collect()
}

fn tracer() -> Tracer {
    sink();
    mini_telemetry::tracer("async.test")
}

/// One request: a root async span; sync children before and after awaits; a spawned sub-task
/// carrying the context; a nested async span with a child. Returns the root's context.
async fn request(tracer: Tracer, tag: &'static str, i: u64) -> SpanContext {
    let root = tracer
        .span(format!("{tag}-root-{i}"))
        .parent(SpanContext::NONE)
        .start_async();
    let ctx = root.context();
    async move {
        drop(tracer.start(format!("{tag}-a-{i}")));
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_micros(i % 7 * 20)).await;
        drop(tracer.start(format!("{tag}-b-{i}")));
        let sub = async move {
            tokio::task::yield_now().await;
            drop(tracer.start(format!("{tag}-c-{i}")));
        };
        tokio::spawn(sub.in_current_context()).await.unwrap();
        let inner = tracer.start_async(format!("{tag}-inner-{i}"));
        async move {
            tokio::task::yield_now().await;
            drop(tracer.start(format!("{tag}-d-{i}")));
        }
        .in_span(inner)
        .await;
    }
    .in_span(root)
    .await;
    ctx
}

fn check_requests(tag: &str, roots: &[SpanContext]) {
    let spans = spans();
    let mut traces = std::collections::HashSet::new();
    for (i, ctx) in roots.iter().enumerate() {
        let get = |part: &str| {
            spans
                .get(&format!("{tag}-{part}-{i}"))
                .unwrap_or_else(|| panic!("{tag}-{part}-{i} missing"))
        };
        let root = get("root");
        let trace = ctx.trace_id_hex();
        assert!(traces.insert(trace.clone()), "trace ids are distinct");
        assert_eq!(root["trace_id"], trace.as_str());
        assert_eq!(root["span_id"], ctx.span_id_hex().as_str());
        assert_eq!(
            root["parent_span_id"], "",
            "{tag} {i}: the root has no parent"
        );
        for part in ["a", "b", "c", "inner"] {
            let s = get(part);
            assert_eq!(s["trace_id"], trace.as_str(), "{tag}-{part}-{i}");
            assert_eq!(s["parent_span_id"], root["span_id"], "{tag}-{part}-{i}");
        }
        let d = get("d");
        assert_eq!(d["trace_id"], trace.as_str());
        assert_eq!(d["parent_span_id"], get("inner")["span_id"], "{tag}-d-{i}");
    }
}

#[test]
fn parents_are_exact_on_a_multi_thread_runtime() {
    let tracer = tracer();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    let roots = rt.block_on(async move {
        let handles: Vec<_> = (0..200)
            .map(|i| tokio::spawn(request(tracer, "mt", i)))
            .collect();
        let mut roots = Vec::new();
        for h in handles {
            roots.push(h.await.unwrap());
        }
        roots
    });
    check_requests("mt", &roots);
}

#[test]
fn interleaved_tasks_on_one_thread_never_adopt_each_others_spans() {
    let tracer = tracer();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let roots = rt.block_on(async move {
        let handles: Vec<_> = (0..100)
            .map(|i| tokio::spawn(request(tracer, "ct", i)))
            .collect();
        let mut roots = Vec::new();
        for h in handles {
            roots.push(h.await.unwrap());
        }
        roots
    });
    check_requests("ct", &roots);
}

#[test]
fn an_async_span_keeps_what_it_got_on_every_thread() {
    let tracer = tracer();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                tokio::spawn(async move {
                    let span = tracer.start_async(format!("held-{i}"));
                    span.set_attribute("before", 1);
                    for step in 0..5i64 {
                        tokio::time::sleep(Duration::from_micros(50)).await;
                        span.add_event("step", &[KeyValue::new("n", step)]);
                    }
                    span.set_attribute("after", 2);
                    drop(span);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let spans = spans();
    for i in 0..20 {
        let s = &spans[&format!("held-{i}")];
        assert_eq!(s["attributes"]["before"], 1);
        assert_eq!(s["attributes"]["after"], 2);
        let steps: Vec<i64> = s["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["attributes"]["n"].as_i64().unwrap())
            .collect();
        assert_eq!(steps, [0, 1, 2, 3, 4]);
    }
}

#[test]
fn a_sync_guard_held_across_an_await_is_never_another_tasks_parent() {
    let tracer = tracer();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        // Misuse: a `Span` guard held across an await (allowed in a single-thread executor).
        let x = tokio::task::spawn_local(
            async move {
                let guard = tracer.start("misuse-guard");
                tokio::task::yield_now().await;
                drop(tracer.start("misuse-after"));
                drop(guard);
            }
            .with_context(SpanContext::NONE),
        );
        let y = tokio::task::spawn_local(
            async move {
                tokio::task::yield_now().await;
                drop(tracer.start("misuse-other-task"));
            }
            .with_context(SpanContext::NONE),
        );
        x.await.unwrap();
        y.await.unwrap();
    });
    let spans = spans();
    assert_eq!(spans["misuse-other-task"]["parent_span_id"], "");
    assert_ne!(
        spans["misuse-other-task"]["trace_id"],
        spans["misuse-guard"]["trace_id"]
    );
    // The misusing task's own span after the await is a child of its context (here: none).
    assert_eq!(spans["misuse-after"]["parent_span_id"], "");
}

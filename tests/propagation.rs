//! W3C Trace Context end to end: a context extracted from headers continues the caller's trace
//! in the parsed output, marked remote; the context injected for the next call names our span
//! and keeps the caller's sampling decision and trace state.
mod common;

use common::Shared;
use mini_telemetry::propagation::{self, TraceState};
use mini_telemetry::{Config, Sink, SpanKind};
use serde_json::Value;
use std::collections::HashMap;

#[test]
fn a_remote_parent_continues_the_trace_and_propagates_onwards() {
    let sink = Shared::default();
    let guard = Config::new("w3c", "1", "test")
        .sink(Sink::Writer(Box::new(sink.clone())))
        .use_env(false)
        .install()
        .unwrap();
    let tracer = mini_telemetry::tracer("w3c");
    let mut outgoing = Vec::new();
    for flags in ["01", "00"] {
        let mut incoming = HashMap::new();
        incoming.insert(
            "traceparent".to_string(),
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}"),
        );
        incoming.insert(
            "tracestate".to_string(),
            "rojo=00f067aa0ba902b7".to_string(),
        );
        let remote = propagation::extract(&incoming).unwrap();
        let server = tracer
            .span(format!("server-{flags}"))
            .kind(SpanKind::Server)
            .parent(remote.context)
            .start();
        let client = tracer
            .span(format!("client-{flags}"))
            .kind(SpanKind::Client)
            .start();
        let mut ts: TraceState = remote.trace_state.clone();
        ts.insert("ours", "x").unwrap();
        let mut headers: HashMap<String, String> = HashMap::new();
        propagation::inject_current(Some(&ts), &mut headers);
        outgoing.push((client.context(), headers));
        drop(client);
        drop(server);
    }
    mini_telemetry::flush();
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    drop(guard);
    let spans: HashMap<String, Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["signal"] == "span")
        .map(|v| (v["name"].as_str().unwrap().to_string(), v))
        .collect();
    // The caller sampled: both spans are written, the server's parent is the caller's span.
    let server = &spans["server-01"];
    let client = &spans["client-01"];
    assert_eq!(server["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(server["parent_span_id"], "00f067aa0ba902b7");
    assert_eq!(server["parent_span_is_remote"], true);
    assert_eq!(server["kind"], "server");
    assert_eq!(client["parent_span_id"], server["span_id"]);
    assert!(
        client.get("parent_span_is_remote").is_none(),
        "a local parent"
    );
    assert_eq!(client["span_id"], outgoing[0].0.span_id_hex().as_str());
    // The caller did not sample: the default sampler follows it, nothing is written, and the
    // decision goes on to the next service.
    assert!(!spans.contains_key("server-00") && !spans.contains_key("client-00"));
    for (i, flags) in ["01", "00"].iter().enumerate() {
        let (ctx, headers) = &outgoing[i];
        assert_eq!(
            headers["traceparent"],
            format!(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-{flags}",
                ctx.span_id_hex()
            )
        );
        assert_eq!(headers["tracestate"], "ours=x,rojo=00f067aa0ba902b7");
    }
}

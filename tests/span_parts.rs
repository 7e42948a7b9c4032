//! A span's parts (attributes, events, links, status) set after its start travel as records of
//! their own and wait in the writer until the span's end record. Here spans of one thread send
//! parts in turn, with writer passes (`flush()`) between them so that each waits in the writer
//! while the others send theirs, and end out of order: each span line must carry exactly its
//! own parts.
mod common;

use common::{Shared, span};
use mini_telemetry::{Config, KeyValue, Sink, SpanContext, Status};

#[test]
fn parts_of_spans_that_take_turns_stay_with_their_span() {
    let sink = Shared::default();
    let guard = Config::new("span-parts", "1", "ci")
        .sink(Sink::Writer(Box::new(sink.clone())))
        .use_env(false)
        .install()
        .unwrap();
    let tracer = mini_telemetry::tracer("t");
    let pass = mini_telemetry::flush;

    let a = tracer.start("a");
    a.set_attributes(&[KeyValue::new("a.1", 1)]);
    pass();
    let b = tracer.start("b");
    b.set_attributes(&[KeyValue::new("b.1", 1)]);
    pass();
    // `a` again while `b` waits too, and a key set twice: the later value in the first place.
    a.add_event("a.event", &[KeyValue::new("n", 1)]);
    a.set_attributes(&[KeyValue::new("a.2", 2), KeyValue::new("a.1", 11)]);
    pass();
    let c = tracer.start("c");
    c.add_link(SpanContext::new(7, 8), &[]);
    b.add_event("b.event", &[]);
    c.set_status(Status::error("c failed"));
    // Ended out of order: `a` while `b` and `c` still wait.
    drop(a);
    pass();
    // A span that sent no parts, between two that did.
    drop(tracer.start("plain"));
    drop(c);
    drop(b);
    // A span whose parts all come before any writer pass, ended at once.
    let d = tracer.start("d");
    d.set_attributes(&[KeyValue::new("d.1", true)]);
    d.add_event("d.event", &[]);
    drop(d);
    drop(guard);

    let lines = sink.lines();
    let attrs = |name: &str| span(&lines, name)["attributes"].clone();
    let events = |name: &str| -> Vec<String> {
        span(&lines, name)["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(attrs("a"), serde_json::json!({"a.1": 11, "a.2": 2}));
    assert_eq!(events("a"), ["a.event"]);
    assert_eq!(span(&lines, "a")["events"][0]["attributes"]["n"], 1);
    assert_eq!(attrs("b"), serde_json::json!({"b.1": 1}));
    assert_eq!(events("b"), ["b.event"]);
    assert_eq!(attrs("c"), serde_json::json!({}));
    assert!(events("c").is_empty());
    assert_eq!(span(&lines, "c")["links"].as_array().unwrap().len(), 1);
    assert_eq!(span(&lines, "c")["status"]["message"], "c failed");
    assert_eq!(attrs("plain"), serde_json::json!({}));
    assert!(events("plain").is_empty());
    assert_eq!(attrs("d"), serde_json::json!({"d.1": true}));
    assert_eq!(events("d"), ["d.event"]);
    assert_eq!(span(&lines, "b")["status"]["code"], "unset");
    let spans = lines.iter().filter(|l| l["signal"] == "span").count();
    assert_eq!(spans, 5, "one line per span");
}

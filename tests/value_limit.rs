//! The value length limit on every path a record's strings take: the typed lists (arrays of up
//! to eight pairs, the macros' fields) are sized and written whole when no string passes the
//! limit, and take the general path, which cuts them, when one does.
mod common;

use common::{Shared, log, span};
use mini_telemetry::{Config, KeyValue, Level, Sink, Value, info, set_attributes};
use serde_json::json;

#[test]
fn strings_past_the_limit_are_cut_on_every_path() {
    let sink = Shared::default();
    let guard = Config::new("value-limit", "1", "ci")
        .sink(Sink::Writer(Box::new(sink.clone())))
        .max_value_len(4)
        .use_env(false)
        .install()
        .unwrap();
    let tracer = mini_telemetry::tracer("t");
    let logger = mini_telemetry::logger("t");
    // "éé" is 4 bytes: "ééé" is cut to it, at a char boundary.
    let arr: &[&str] = &["abcdefg", "xy"];
    {
        let s = tracer
            .span("built")
            .attributes(&[KeyValue::new("b", "abcdefg"), KeyValue::new("w", "abcd")])
            .start();
        s.set_attributes(&[
            KeyValue::new("a", "abcdefg"),
            KeyValue::new("n", 7),
            KeyValue::new("arr", Value::StrArray(arr)),
        ]);
        s.set_attribute("one", "ééé");
        set_attributes!(s, "m" = "abcdefg", "whole" = "abc");
        s.add_event(
            "e",
            &[KeyValue::new("x", "abcdefg"), KeyValue::new("y", "ab")],
        );
        s.add_event("e2", &[KeyValue::new("z", "abcd")]);
    }
    info!(logger, "macro", s = "abcdefg", t = "abc");
    logger.log(
        Level::Info,
        "method",
        &[KeyValue::new("s", "abcdefg"), KeyValue::new("t", "abcd")],
    );
    mini_telemetry::flush();
    let lines = sink.lines();
    let s = span(&lines, "built");
    assert_eq!(
        s["attributes"],
        json!({
            "b": "abcd", "w": "abcd", "a": "abcd", "n": 7, "arr": ["abcd", "xy"],
            "one": "éé", "m": "abcd", "whole": "abc"
        })
    );
    assert_eq!(
        s["events"][0]["attributes"],
        json!({"x": "abcd", "y": "ab"})
    );
    assert_eq!(s["events"][1]["attributes"], json!({"z": "abcd"}));
    assert_eq!(
        log(&lines, "macro")["attributes"],
        json!({"s": "abcd", "t": "abc"})
    );
    assert_eq!(
        log(&lines, "method")["attributes"],
        json!({"s": "abcd", "t": "abcd"})
    );
    assert_eq!(mini_telemetry::stats().lost, 0);
    drop(guard);
}

//! Any bytes, decoded as a ring record and rendered: never a panic, and JSON output always parses.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let json = mini_telemetry::__private::render_record(data, false);
    for line in std::str::from_utf8(&json).expect("UTF-8 output").lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("valid JSON line");
    }
    let text = mini_telemetry::__private::render_record(data, true);
    assert!(std::str::from_utf8(&text).expect("UTF-8 output").lines().count() <= 1);
});

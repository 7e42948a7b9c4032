//! Any string written as a JSON string parses back to itself, with no raw control byte.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    let mut out = Vec::new();
    mini_telemetry::__private::write_string(&mut out, s);
    assert!(!out.iter().any(|&b| b < 0x20));
    let back: String = serde_json::from_slice(&out).expect("valid JSON string");
    assert_eq!(back, s);
});

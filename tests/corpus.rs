//! The record decoder and JSON writer against hostile bytes, deterministic and fast enough for
//! CI: hand-made valid records, every truncation and many byte mutations of them, plus the
//! committed fuzz seeds in `fuzz/seeds/`. (`cargo fuzz` explores further; see fuzz/README.md.)
use mini_telemetry::record::{Enc, kind};
use mini_telemetry::{__private::render_record, KeyValue};

fn rec(size: usize, f: impl FnOnce(&mut Enc<'_>)) -> Vec<u8> {
    let mut v = vec![0u8; size];
    let mut e = Enc::new(&mut v, 1 << 14);
    f(&mut e);
    let n = e.pos();
    v.truncate(n);
    v
}

fn hand_made() -> Vec<Vec<u8>> {
    let kvs = [
        KeyValue::new("s", "va\"l\nue"),
        KeyValue::new("b", true),
        KeyValue::new("i", -3i64),
        KeyValue::new("f", f64::NAN),
        KeyValue::new("a", &["x", "y"][..]),
        KeyValue::new("fa", &[1.5, f64::INFINITY][..]),
    ];
    let span_id = 0x1122_3344_5566_7788u64;
    let mut v = vec![
        // A log with context and attributes.
        rec(512, |e| {
            e.u8(kind::LOG);
            e.u8(9);
            e.u8(0); // no flags: the ids below are the context
            e.u8(0);
            e.u32(0);
            e.u64(12345);
            e.u32(0);
            e.u128(7);
            e.u64(8);
            e.str("body é");
            e.kvs(&kvs);
        }),
        // Span attributes, an event, a link and a status for one span, then its end.
        rec(512, |e| {
            e.u8(kind::SPAN_ATTRS);
            e.u64(span_id);
            e.kvs(&kvs);
        }),
        rec(512, |e| {
            e.u8(kind::SPAN_EVENT);
            e.u64(span_id);
            e.u64(999);
            e.u32(1);
            e.str("evt");
            e.kvs(&kvs[..2]);
        }),
        rec(512, |e| {
            e.u8(kind::SPAN_LINK);
            e.u64(span_id);
            e.u128(5);
            e.u64(6);
            e.u32(0);
            e.kvs(&kvs[2..]);
        }),
        rec(512, |e| {
            e.u8(kind::SPAN_STATUS);
            e.u64(span_id);
            e.str("bad\u{2028}thing");
        }),
    ];
    let end = |flags: u8| {
        rec(512, |e| {
            e.u8(kind::SPAN_END);
            e.u8(1);
            e.u8(2);
            e.u8(flags);
            e.u32(0);
            e.u128(0xabc);
            e.u64(span_id);
            e.u64(42);
            e.u64(100);
            e.u64(200);
            e.u32(1);
            e.u32(2);
            e.u32(3);
            e.str("span name");
        })
    };
    v.push(end(mini_telemetry::record::SPAN_HAS_PENDING));
    v.push(end(0));
    v
}

/// The hand-made records plus the committed fuzz seeds.
fn seeds() -> Vec<Vec<u8>> {
    let mut v = hand_made();
    for target in ["record"] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target);
        if let Ok(rd) = std::fs::read_dir(dir) {
            for f in rd.flatten() {
                v.push(std::fs::read(f.path()).unwrap());
            }
        }
    }
    v
}

fn check(rec: &[u8]) {
    for text in [false, true] {
        let out = render_record(rec, text);
        let s = std::str::from_utf8(&out).expect("output is UTF-8");
        for line in s.lines() {
            if !text {
                serde_json::from_str::<serde_json::Value>(line)
                    .unwrap_or_else(|e| panic!("{e}: {line}"));
            }
            assert!(!line.contains('\r'));
        }
        assert!(out.is_empty() || out.ends_with(b"\n"));
    }
}

#[test]
fn valid_records_render_as_valid_json() {
    let seeds = hand_made();
    let mut lines = Vec::new();
    for s in &seeds {
        lines.extend(
            String::from_utf8(render_record(s, false))
                .unwrap()
                .lines()
                .map(String::from),
        );
    }
    // The log and the two span ends make lines; attribute/event/link/status records do not.
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let span: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(span["attributes"]["s"], "va\"l\nue");
    assert_eq!(span["events"][0]["name"], "evt");
    assert_eq!(
        span["events"][0]["attributes"]["otel.dropped_attributes_count"],
        1
    );
    assert_eq!(span["links"][0]["span_id"], "0000000000000006");
    assert_eq!(span["status"]["message"], "bad\u{2028}thing");
    assert_eq!(span["kind"], "server");
    assert_eq!(span["dropped_links_count"], 3);
}

#[test]
fn every_truncation_and_mutation_is_handled() {
    for s in seeds() {
        for cut in 0..s.len() {
            check(&s[..cut]);
        }
        for i in 0..s.len() {
            for x in [0u8, 1, 0x7f, 0x80, 0xff, s[i] ^ 0x20, s[i].wrapping_add(1)] {
                let mut m = s.clone();
                m[i] = x;
                check(&m);
            }
        }
    }
}

#[test]
fn json_strings_round_trip_for_random_text() {
    let pool: Vec<char> = ('\u{0}'..='\u{7f}')
        .chain([
            'é',
            '€',
            '🚀',
            '\u{2028}',
            '\u{2029}',
            '\u{fffd}',
            '\u{10ffff}',
        ])
        .collect();
    let mut x = 0x1234_5678_9abc_def0u64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = (x % 40) as usize;
        let s: String = (0..n)
            .map(|k| pool[((x >> (k % 50)) as usize ^ (k * 31)) % pool.len()])
            .collect();
        let mut out = Vec::new();
        mini_telemetry::__private::write_string(&mut out, &s);
        assert!(!out.iter().any(|&b| b < 0x20), "no raw control byte");
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, s);
    }
}

/// Writes the hand-made records to `fuzz/seeds/record/` as starting points for `cargo fuzz`
/// (run by hand: `cargo test --test corpus -- --ignored write_fuzz_seeds`).
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/record");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, s) in hand_made().iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}")), s).unwrap();
    }
}

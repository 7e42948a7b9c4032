//! JSON into a reusable byte buffer: escaped strings, integers with `itoa`, floats with `ryu`.
//!
//! Rules that keep every line valid JSON whatever the input:
//! - strings escape `"` `\` and every control character (U+0000..U+001F as `\n`, `\t`, ... or
//!   `\u00XX`), plus U+007F, U+2028 and U+2029 as `\u007f`, `\u2028`, `\u2029`, so that no raw line
//!   break of any kind reaches the output; other non-ASCII passes through as UTF-8;
//! - finite floats are written by `ryu` (shortest round-trip form, with an exponent when needed);
//!   NaN, +inf and -inf are written as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`, the
//!   rule of the protobuf JSON mapping that OTLP/JSON uses.

/// Bytes that need escaping inside a JSON string (plus DEL, which we escape for readability).
static NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[0x7f] = true;
    // Lead byte of U+2028/U+2029 (E2 80 A8/A9): checked precisely in the slow path.
    t[0xe2] = true;
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Two hex digits per byte value.
static HEX_PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX[i >> 4], HEX[i & 15]];
        i += 1;
    }
    t
};

/// Appends `s` as a quoted, escaped JSON string.
#[inline]
pub fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escaped(out, s.as_bytes());
    out.push(b'"');
}

/// True when one of the 8 bytes of `w` may need escaping: a control character, `"`, `\\`,
/// or any byte >= 0x7f (DEL, and the non-ASCII bytes that U+2028/U+2029 start with).
#[inline(always)]
fn word_needs_look(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let quote = has_zero(w ^ (ONES * b'"' as u64));
    let backslash = has_zero(w ^ (ONES * b'\\' as u64));
    let del_or_high = (w.wrapping_add(ONES)) & HIGH | (w & HIGH);
    (below_space | quote | backslash | del_or_high) != 0
}

/// A word holding every byte of a string shorter than 8 bytes (some twice), padded with `a`.
#[inline(always)]
fn short_word(b: &[u8]) -> u64 {
    let n = b.len();
    let r4 = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as u64;
    if n >= 4 {
        r4(0) | (r4(n - 4) << 32)
    } else if n > 0 {
        (b[0] as u64) | ((b[n / 2] as u64) << 8) | ((b[n - 1] as u64) << 16) | 0x6161_6161_6100_0000
    } else {
        0x6161_6161_6161_6161
    }
}

/// Appends the escaped content of `bytes` (valid UTF-8) without quotes.
pub fn escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    if n < 8 {
        // Short strings (most keys and many values): one word made of overlapping reads covers
        // every byte; if it is clean, copy the string as is.
        if !word_needs_look(short_word(bytes)) {
            out.extend_from_slice(bytes);
            return;
        }
    }
    let mut start = 0;
    let mut i = 0;
    while i < n {
        if n - i < 8 && n >= 8 && start == i {
            // The tail: check the last 8 bytes (overlapping what was already checked).
            if !word_needs_look(u64::from_le_bytes(bytes[n - 8..].try_into().unwrap())) {
                break;
            }
        }
        // Skip 8 plain ASCII bytes at a time; look at bytes one by one only in a word that may
        // hold something to escape.
        if i + 8 <= n && !word_needs_look(u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap())) {
            i += 8;
            continue;
        }
        let end = (i + 8).min(n);
        while i < end {
            let b = bytes[i];
            if !NEEDS_ESCAPE[b as usize] {
                i += 1;
                continue;
            }
            if b == 0xe2 {
                // U+2028 / U+2029 are E2 80 A8 / E2 80 A9; other E2 sequences pass through.
                if i + 2 < n
                    && bytes[i + 1] == 0x80
                    && (bytes[i + 2] == 0xa8 || bytes[i + 2] == 0xa9)
                {
                    out.extend_from_slice(&bytes[start..i]);
                    out.extend_from_slice(if bytes[i + 2] == 0xa8 {
                        b"\\u2028"
                    } else {
                        b"\\u2029"
                    });
                    i += 3;
                    start = i;
                } else {
                    i += 1;
                }
                continue;
            }
            out.extend_from_slice(&bytes[start..i]);
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 15) as usize],
                ]),
            }
            i += 1;
            start = i;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends an unsigned integer.
#[inline]
pub fn u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends a signed integer.
#[inline]
pub fn i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends a float; NaN and infinities become strings (see the module docs).
#[inline]
pub fn f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v > 0.0 {
        out.extend_from_slice(b"\"Infinity\"");
    } else {
        out.extend_from_slice(b"\"-Infinity\"");
    }
}

/// Appends `true` or `false`.
#[inline]
pub fn bool(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

/// Appends `bytes` (at most 16) as lowercase hex digits (no quotes), in one copy.
#[inline]
pub fn hex(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut buf = [0u8; 32];
    let n = bytes.len().min(16);
    for (pair, &b) in buf.chunks_exact_mut(2).zip(&bytes[..n]) {
        pair.copy_from_slice(&HEX_PAIRS[b as usize]);
    }
    out.extend_from_slice(&buf[..2 * n]);
}

/// Appends a quoted 32-digit trace id.
#[inline]
pub fn trace_id(out: &mut Vec<u8>, id: u128) {
    out.push(b'"');
    hex(out, &id.to_be_bytes());
    out.push(b'"');
}

/// Appends a quoted 16-digit span id.
#[inline]
pub fn span_id(out: &mut Vec<u8>, id: u64) {
    out.push(b'"');
    hex(out, &id.to_be_bytes());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(input: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, input);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        assert_eq!(s(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(s("l1\nl2\r\t"), r#""l1\nl2\r\t""#);
        assert_eq!(
            s("\0\x01\x1f\x7f\x08\x0c"),
            r#""\u0000\u0001\u001f\u007f\b\f""#
        );
    }

    #[test]
    fn every_control_character_round_trips() {
        for c in 0u32..0x80 {
            let ch = char::from_u32(c).unwrap();
            let input = format!("x{ch}y");
            let json = s(&input);
            assert!(!json.bytes().any(|b| b < 0x20), "raw control byte for {c}");
            let back: String = serde_json::from_str(&json).unwrap();
            assert_eq!(back, input);
        }
    }

    #[test]
    fn non_ascii_passes_through_and_line_separators_are_escaped() {
        assert_eq!(s("requêtes é 🚀"), "\"requêtes é 🚀\"");
        let tricky = "a\u{2028}b\u{2029}c\u{20ac}";
        let json = s(tricky);
        assert_eq!(json, "\"a\\u2028b\\u2029c\u{20ac}\"");
        let back: String = serde_json::from_str(&json).unwrap();
        assert_eq!(back, tricky);
    }

    #[test]
    fn word_scan_agrees_with_the_byte_table() {
        for b in 0u8..=255 {
            for pos in 0..8 {
                let mut w = [b'a'; 8];
                w[pos] = b;
                let needs = NEEDS_ESCAPE[b as usize] || b >= 0x7f;
                assert_eq!(
                    word_needs_look(u64::from_le_bytes(w)),
                    needs,
                    "byte {b:#x} at {pos}"
                );
            }
        }
        // Strings of every length with one special byte anywhere are escaped exactly as byte by
        // byte; clean ones are copied as they are.
        for len in 0..40 {
            let clean = vec![b'x'; len];
            let mut out = Vec::new();
            escaped(&mut out, &clean);
            assert_eq!(out, clean);
            for pos in 0..len {
                for special in [b'"', b'\n', 0x7f] {
                    let mut v = clean.clone();
                    v[pos] = special;
                    let mut out = Vec::new();
                    escaped(&mut out, &v);
                    assert!(out.len() > len, "len {len} pos {pos} byte {special:#x}");
                    assert_eq!(out[pos], b'\\', "len {len} pos {pos}");
                }
            }
        }
    }

    #[test]
    fn numbers() {
        let mut out = Vec::new();
        i64(&mut out, i64::MIN);
        out.push(b' ');
        u64(&mut out, u64::MAX);
        out.push(b' ');
        f64(&mut out, 42.5);
        out.push(b' ');
        f64(&mut out, 1e300);
        out.push(b' ');
        f64(&mut out, -0.0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-9223372036854775808 18446744073709551615 42.5 1e300 -0.0"
        );
    }

    #[test]
    fn non_finite_floats_are_strings() {
        for (v, want) in [
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"Infinity\""),
            (f64::NEG_INFINITY, "\"-Infinity\""),
        ] {
            let mut out = Vec::new();
            f64(&mut out, v);
            assert_eq!(String::from_utf8(out.clone()).unwrap(), want);
            serde_json::from_slice::<serde_json::Value>(&out).unwrap();
        }
    }

    #[test]
    fn ids_are_lowercase_hex() {
        let mut out = Vec::new();
        trace_id(&mut out, 0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        span_id(&mut out, 0xdead_beef_0000_0001);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"0123456789abcdef0011223344556677\"\"deadbeef00000001\""
        );
    }
}

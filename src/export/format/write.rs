//! JSON into a reusable byte buffer, for every format: escaped strings, integers with
//! word-at-a-time (SWAR) digit conversion, hex ids (`hex.rs`), floats with `ryu`.
//!
//! Rules that keep every line valid JSON whatever the input:
//! - strings escape `"` `\` and every control character (U+0000..U+001F as `\n`, `\t`, ... or
//!   `\u00XX`), plus U+007F, U+2028 and U+2029 as `\u007f`, `\u2028`, `\u2029`, so that no raw line
//!   break of any kind reaches the output; other non-ASCII passes through as UTF-8;
//! - finite floats are written by `ryu` (shortest round-trip form, with an exponent when needed);
//!   NaN, +inf and -inf are written as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`, the
//!   rule of the protobuf JSON mapping that OTLP/JSON uses.

use super::hex;
use crate::engine::record::{Corrupt, DValue, Dec, tag};

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

/// Digits of the `\u00XX` escapes.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a quoted, escaped JSON string.
#[inline]
pub fn string(out: &mut Vec<u8>, s: &str) {
    quoted(out, b"", s.as_bytes(), b"\"");
}

/// Appends `"k":` (after a comma when `comma`): the key of an object member.
#[inline(always)]
pub fn member_key(out: &mut Vec<u8>, comma: bool, k: &str) {
    quoted(out, if comma { b"," } else { b"" }, k.as_bytes(), b"\":");
}

/// Appends `pre`, `"`, the escaped `b` and `post` (`pre` of 0 or 1 byte, `post` of 1 or 2).
/// A string of at most 16 bytes with nothing to escape, the usual key or short value, goes out
/// in one reservation, not one per piece.
#[inline(always)]
fn quoted(out: &mut Vec<u8>, pre: &[u8], b: &[u8], post: &[u8]) {
    let n = b.len();
    if n <= 16 && clean_short(b) {
        put_in_place::<21>(
            out,
            #[inline(always)]
            |w| {
                let p = pre.len().min(1);
                w[0] = pre.first().copied().unwrap_or(b'"');
                w[p] = b'"';
                copy_short(&mut w[p + 1..p + 17], b);
                let at = p + 1 + n;
                let m = post.len().min(2);
                w[at..at + 2].copy_from_slice(&[post[0], post.get(1).copied().unwrap_or(0)]);
                at + m
            },
        );
    } else {
        out.extend_from_slice(pre);
        out.push(b'"');
        escaped_long(out, b);
        out.extend_from_slice(post);
    }
}

/// True when `b` (at most 16 bytes) has nothing to escape.
#[inline(always)]
fn clean_short(b: &[u8]) -> bool {
    let n = b.len();
    if n < 8 {
        !word_needs_look(short_word(b))
    } else {
        let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        !(word_needs_look(word(0)) || word_needs_look(word(n - 8)))
    }
}

/// Copies `b` (at most 16 bytes) to the start of `w` with fixed-size moves; the bytes of `w`
/// past `b.len()` are left with whatever the moves put there.
#[inline(always)]
fn copy_short(w: &mut [u8], b: &[u8]) {
    let n = b.len();
    if n >= 8 {
        w[..8].copy_from_slice(&b[..8]);
        w[n - 8..n].copy_from_slice(&b[n - 8..]);
    } else if n >= 4 {
        w[..4].copy_from_slice(&b[..4]);
        w[n - 4..n].copy_from_slice(&b[n - 4..]);
    } else if n > 0 {
        w[0] = b[0];
        w[n / 2] = b[n / 2];
        w[n - 1] = b[n - 1];
    }
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
#[inline(always)]
pub fn escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    // Short strings (most keys and many values): one or two words made of overlapping reads
    // cover every byte; if they are clean, copy the string as is.
    if bytes.len() <= 16 && clean_short(bytes) {
        put_short(out, bytes);
        return;
    }
    escaped_long(out, bytes);
}

/// [`escaped`] past its inlined checks: longer strings, and those with something to escape.
#[inline(never)]
fn escaped_long(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
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

/// Appends what `fill` writes into `N` bytes in place at the end of `out`, cut to the length
/// it returns. The bytes are written where they stay: built in a buffer on the stack and then
/// copied, narrow stores were read back by the copy's wide loads, a store-forwarding stall
/// (a quarter of the JSON span renderer's samples).
#[inline(always)]
pub fn put_in_place<const N: usize>(out: &mut Vec<u8>, fill: impl FnOnce(&mut [u8; N]) -> usize) {
    let at = out.len();
    out.extend_from_slice(&[0u8; N]);
    let n = match out[at..].first_chunk_mut::<N>() {
        Some(slot) => fill(slot),
        None => N,
    };
    debug_assert!(n <= N);
    out.truncate(at + n);
}

/// Appends a short byte string (at most 16 bytes) with fixed-size moves.
#[inline(always)]
pub fn put_short(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len();
    debug_assert!(n <= 16);
    put_in_place::<16>(
        out,
        #[inline(always)]
        |w| {
            copy_short(w, b);
            n
        },
    );
}

/// Appends `b`: with [`put_short`]'s fixed-size moves up to 16 bytes, else a copy.
#[inline(always)]
pub fn put_small(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() <= 16 {
        put_short(out, b);
    } else {
        out.extend_from_slice(b);
    }
}

/// The 8 decimal digits of `v` (< 10^8), zero-padded, as bytes 0..=9 in one little-endian word
/// (most significant digit in the lowest byte). Each step splits every lane of the word in two
/// with a multiply-and-shift that is exact for the lane's range: 4+4 digits, then 2+2, then 1+1.
#[inline(always)]
fn digits8(v: u32) -> u64 {
    let v = v as u64;
    // Two 32-bit lanes of at most 9999: x / 100 == (x * 10486) >> 20 for x < 10^4.
    let x = (v / 10_000) | ((v % 10_000) << 32);
    let hi = ((x * 10_486) >> 20) & 0x0000_007f_0000_007f;
    // Four 16-bit lanes of at most 99: y / 10 == (y * 103) >> 10 for y < 100.
    let y = hi | ((x - hi * 100) << 16);
    let tens = ((y * 103) >> 10) & 0x000f_000f_000f_000f;
    tens | ((y - tens * 10) << 8)
}

/// Appends an unsigned integer. Up to 16 digits, they are made in registers, eight per
/// [`digits8`], and stored straight into `out` with 8-byte stores; past that, `itoa`. (`itoa`
/// writes its digits two at a time into a buffer on the stack that is then copied with wider
/// loads: the narrow-stores-then-wide-loads pattern that, in the OTLP `intValue` writer's own
/// buffer, drew 40 % of `AnyValue`'s samples.)
#[inline(always)]
pub fn u64(out: &mut Vec<u8>, v: u64) {
    const E8: u64 = 100_000_000;
    if v < E8 {
        digits_short(out, v as u32);
    } else {
        u64_long(out, v);
    }
}

/// [`u64`](fn@u64) from 10^8 on.
#[inline(never)]
fn u64_long(out: &mut Vec<u8>, v: u64) {
    put_in_place::<NUMBER_SLOT>(
        out,
        #[inline(always)]
        |slot| u64_long_into(slot, v),
    );
}

/// The ASCII digits of `v` (< 10^8) without leading zeros, from the lowest byte, and their
/// count. The count comes from the digits themselves: the leading zeros are the low zero bytes
/// of [`digits8`]'s word (the last digit always counts), one `tzcnt` where `ilog10` took ~17
/// instructions.
#[inline(always)]
fn short_digits(v: u32) -> (u64, usize) {
    let d = digits8(v);
    let zeros = ((d | 1 << 56).trailing_zeros() / 8) as usize;
    // Shifting right drops the leading zeros.
    ((d | 0x3030_3030_3030_3030) >> (8 * zeros), 8 - zeros)
}

/// Appends `v` (< 10^8) without leading zeros: one 8-byte store, then the length set.
#[inline(always)]
fn digits_short(out: &mut Vec<u8>, v: u32) {
    let (w, n) = short_digits(v);
    let len = out.len();
    out.extend_from_slice(&w.to_le_bytes());
    out.truncate(len + n);
}

/// Room a number needs in a slot written in place: 20 digits at most, but the 8-byte stores
/// may reach 24 bytes.
pub const NUMBER_SLOT: usize = 24;

/// Writes `v` in decimal at the start of `slot`, as [`u64`](fn@u64) would append it; returns
/// its length. For a line's fixed fields rendered in one reservation ([`put_in_place`]).
#[inline(always)]
pub fn u64_into(slot: &mut [u8; NUMBER_SLOT], v: u64) -> usize {
    const E8: u64 = 100_000_000;
    if v < E8 {
        short_into(slot, v as u32)
    } else {
        u64_long_into(slot, v)
    }
}

/// [`u64_into`] from 10^8 on.
#[inline(never)]
fn u64_long_into(slot: &mut [u8; NUMBER_SLOT], v: u64) -> usize {
    const E8: u64 = 100_000_000;
    if v < E8 * E8 {
        let n = short_into(slot, (v / E8) as u32);
        let low = digits8((v % E8) as u32) | 0x3030_3030_3030_3030;
        slot[n..n + 8].copy_from_slice(&low.to_le_bytes());
        n + 8
    } else {
        let mut b = itoa::Buffer::new();
        let s = b.format(v).as_bytes();
        slot[..s.len()].copy_from_slice(s);
        s.len()
    }
}

/// `v` (< 10^8) without leading zeros at the start of `slot`, in one 8-byte store; its length.
#[inline(always)]
fn short_into(slot: &mut [u8; NUMBER_SLOT], v: u32) -> usize {
    let (w, n) = short_digits(v);
    slot[..8].copy_from_slice(&w.to_le_bytes());
    n
}

/// The `NUMBER_SLOT` bytes of `buf` from `at`, for [`u64_into`] and [`Digits::put_into`].
#[inline(always)]
pub fn slot(buf: &mut [u8], at: usize) -> &mut [u8; NUMBER_SLOT] {
    (&mut buf[at..at + NUMBER_SLOT])
        .try_into()
        .expect("a number slot")
}

/// Renders large integers that share their leading digits with the previous one, such as the
/// nanosecond timestamps of consecutive records: the digits above the last eight are rendered
/// once per change (every 0.1 s for timestamps) and copied afterwards.
#[derive(Debug, Default)]
pub struct Digits {
    /// `v / 10^8` of the last value rendered, with its digits in `head[..head_len]`.
    high: u64,
    head: [u8; 16],
    head_len: usize,
}

impl Digits {
    /// Appends `v` in decimal, as `u64` would.
    #[inline(always)]
    pub fn put(&mut self, out: &mut Vec<u8>, v: u64) {
        const E8: u64 = 100_000_000;
        let high = v / E8;
        if high != self.high || self.head_len == 0 {
            if high == 0 {
                return u64(out, v);
            }
            self.render_head(high);
        }
        // Stores straight into `out`, the head's 16 bytes then the low 8 over its tail: no
        // buffer on the stack written in two sizes and read back in a third, a store-forwarding
        // stall that drew 60 % of this function's samples in the OTLP writer.
        let n = self.head_len.min(16);
        let low = digits8((v - high * E8) as u32) | 0x3030_3030_3030_3030;
        let len = out.len();
        out.extend_from_slice(&self.head);
        out.truncate(len + n);
        out.extend_from_slice(&low.to_le_bytes());
    }

    /// Writes `v` in decimal at the start of `slot`, as [`put`](Self::put) would append it;
    /// returns its length.
    #[inline(always)]
    pub fn put_into(&mut self, slot: &mut [u8; NUMBER_SLOT], v: u64) -> usize {
        const E8: u64 = 100_000_000;
        let high = v / E8;
        if high != self.high || self.head_len == 0 {
            if high == 0 {
                return u64_into(slot, v);
            }
            self.render_head(high);
        }
        let n = self.head_len.min(16);
        let low = digits8((v - high * E8) as u32) | 0x3030_3030_3030_3030;
        slot[..16].copy_from_slice(&self.head);
        slot[n..n + 8].copy_from_slice(&low.to_le_bytes());
        n + 8
    }

    #[cold]
    #[inline(never)]
    fn render_head(&mut self, high: u64) {
        let mut h = Vec::with_capacity(24);
        u64(&mut h, high);
        self.head = [0; 16];
        self.head[..h.len()].copy_from_slice(&h);
        self.head_len = h.len();
        self.high = high;
    }
}

/// Appends a signed integer.
#[inline]
pub fn i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    u64(out, v.unsigned_abs());
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

/// Appends a 32-digit lowercase hex trace id, unquoted.
#[inline]
pub fn hex_u128(out: &mut Vec<u8>, id: u128) {
    put_in_place::<32>(
        out,
        #[inline(always)]
        |buf| {
            hex::u128_into(buf, id);
            32
        },
    );
}

/// Appends a 16-digit lowercase hex span id, unquoted.
#[inline]
pub fn hex_u64(out: &mut Vec<u8>, id: u64) {
    put_in_place::<16>(
        out,
        #[inline(always)]
        |buf| {
            hex::u64_into(buf, id);
            16
        },
    );
}

/// Writes a quoted 32-digit trace id into `buf` (34 bytes).
#[inline(always)]
pub fn trace_id_into(buf: &mut [u8], id: u128) {
    let buf: &mut [u8; 34] = buf.try_into().expect("34 bytes");
    buf[0] = b'"';
    if let Some(digits) = buf[1..33].first_chunk_mut::<32>() {
        hex::u128_into(digits, id);
    }
    buf[33] = b'"';
}

/// Writes a quoted 16-digit span id into `buf` (18 bytes).
#[inline(always)]
pub fn span_id_into(buf: &mut [u8], id: u64) {
    let buf: &mut [u8; 18] = buf.try_into().expect("18 bytes");
    buf[0] = b'"';
    if let Some(digits) = buf[1..17].first_chunk_mut::<16>() {
        hex::u64_into(digits, id);
    }
    buf[17] = b'"';
}

/// Appends a quoted 32-digit trace id.
#[inline]
pub fn trace_id(out: &mut Vec<u8>, id: u128) {
    put_in_place::<34>(
        out,
        #[inline(always)]
        |buf| {
            trace_id_into(buf, id);
            34
        },
    );
}

/// Appends a quoted 16-digit span id.
#[inline]
pub fn span_id(out: &mut Vec<u8>, id: u64) {
    put_in_place::<18>(
        out,
        #[inline(always)]
        |buf| {
            span_id_into(buf, id);
            18
        },
    );
}

/// Appends a decoded attribute value as JSON (an array's elements are decoded here, checked).
#[inline(always)]
pub fn value(out: &mut Vec<u8>, v: &DValue<'_>) -> Result<(), Corrupt> {
    match *v {
        DValue::Str(s) => string(out, s),
        DValue::Bool(b) => bool(out, b),
        DValue::I64(i) => i64(out, i),
        DValue::F64(f) => f64(out, f),
        DValue::Array(t, n, body) => return array(out, t, n, body),
    }
    Ok(())
}

/// [`value`] for an array.
#[inline(never)]
fn array(out: &mut Vec<u8>, t: u8, n: u32, body: &[u8]) -> Result<(), Corrupt> {
    let mut d = Dec::new(body);
    out.push(b'[');
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        match t {
            tag::STR_ARRAY => string(out, d.str()?),
            tag::BOOL_ARRAY => bool(out, d.u8()? != 0),
            tag::I64_ARRAY => i64(out, d.u64()? as i64),
            tag::F64_ARRAY => f64(out, f64::from_bits(d.u64()?)),
            _ => return Err(Corrupt),
        }
    }
    out.push(b']');
    Ok(())
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
    fn integers_agree_with_the_standard_formatter() {
        let mut cases = vec![0u64, 1, 9, 10, 99, 100, u64::MAX, u64::MAX - 1];
        for p in 0..20 {
            let t = 10u64.pow(p);
            cases.extend([t - 1, t, t + 1, t.saturating_mul(7) / 3]);
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        // Fewer under Miri, which interprets every instruction.
        for _ in 0..if cfg!(miri) { 500 } else { 100_000 } {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(x >> (x % 64));
        }
        let mut out = Vec::new();
        for v in cases {
            out.clear();
            u64(&mut out, v);
            assert_eq!(std::str::from_utf8(&out).unwrap(), v.to_string());
            out.clear();
            i64(&mut out, v as i64);
            assert_eq!(std::str::from_utf8(&out).unwrap(), (v as i64).to_string());
            let mut slot = [b'x'; NUMBER_SLOT];
            let n = u64_into(&mut slot, v);
            assert_eq!(std::str::from_utf8(&slot[..n]).unwrap(), v.to_string());
        }
    }

    #[test]
    fn cached_leading_digits_agree_with_the_standard_formatter() {
        let mut d = Digits::default();
        let mut out = Vec::new();
        let base = 1_764_000_000_000_000_000u64;
        for v in [
            0,
            5,
            99_999_999,
            100_000_000,
            base,
            base + 1,
            base + 99_999_999,
            base + 100_000_000,
            7,
            base,
            u64::MAX,
            100_000_000,
        ] {
            out.clear();
            d.put(&mut out, v);
            assert_eq!(std::str::from_utf8(&out).unwrap(), v.to_string());
            let mut slot = [b'x'; NUMBER_SLOT];
            let n = d.put_into(&mut slot, v);
            assert_eq!(std::str::from_utf8(&slot[..n]).unwrap(), v.to_string());
        }
    }

    #[test]
    fn short_copies_are_exact() {
        let src: Vec<u8> = (b'a'..=b'z').collect();
        for n in 0..=16 {
            let mut out = b"x".to_vec();
            put_short(&mut out, &src[..n]);
            assert_eq!(&out[1..], &src[..n]);
            assert_eq!(out.len(), n + 1);
        }
    }

    #[test]
    fn keys_and_strings_in_one_piece_match_the_piecewise_rendering() {
        // Every length around the 8- and 16-byte fast paths, clean or with a byte to escape at
        // each end, after existing output.
        for n in 0..=20usize {
            for dirty in [None, Some(0), Some(n.saturating_sub(1))] {
                let mut k: String = (0..n).map(|i| (b'a' + i as u8 % 26) as char).collect();
                if let (Some(at), true) = (dirty, n > 0) {
                    k.replace_range(at..at + 1, "\"");
                }
                let piecewise = |pre: &str, post: &str| {
                    let mut v = b"x".to_vec();
                    v.extend_from_slice(pre.as_bytes());
                    v.push(b'"');
                    escaped_long(&mut v, k.as_bytes());
                    v.extend_from_slice(post.as_bytes());
                    v
                };
                for comma in [false, true] {
                    let mut out = b"x".to_vec();
                    member_key(&mut out, comma, &k);
                    let want = piecewise(if comma { "," } else { "" }, "\":");
                    assert_eq!(out, want, "{k:?} comma={comma}");
                }
                let mut out = b"x".to_vec();
                string(&mut out, &k);
                assert_eq!(out, piecewise("", "\""), "{k:?}");
            }
        }
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
        hex_u128(&mut out, 0xab);
        hex_u64(&mut out, 0xcd);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "000000000000000000000000000000ab00000000000000cd"
        );
        let (t, s) = (
            0x0123_4567_89ab_cdef_0011_2233_4455_6677u128,
            0xdead_beef_0000_0001u64,
        );
        let mut out = Vec::new();
        hex_u128(&mut out, t);
        hex_u64(&mut out, s);
        assert_eq!(String::from_utf8(out).unwrap(), format!("{t:032x}{s:016x}"));
        let mut out = Vec::new();
        trace_id(&mut out, 0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        span_id(&mut out, 0xdead_beef_0000_0001);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"0123456789abcdef0011223344556677\"\"deadbeef00000001\""
        );
        // Every nibble value in every position, against the standard formatter.
        let mut x = 0x0123_4567_89ab_cdefu64;
        for _ in 0..if cfg!(miri) { 200 } else { 10_000 } {
            x = x
                .rotate_left(5)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add(1);
            let mut out = Vec::new();
            span_id(&mut out, x);
            trace_id(&mut out, ((x as u128) << 64) | x.swap_bytes() as u128);
            let want = format!(
                "\"{x:016x}\"\"{:032x}\"",
                ((x as u128) << 64) | x.swap_bytes() as u128
            );
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }
}

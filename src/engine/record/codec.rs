//! The cursors that write and read a record: [`Enc`] fills a reserved ring slot, [`Dec`] reads
//! one back and checks every read.

use super::{MAX_KEY, tag, trunc_len};
use crate::model::value::{KeyValue, Value};

#[inline(always)]
fn arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b[at..at + N].try_into().unwrap()
}

#[inline(always)]
fn arr_mut<const N: usize>(b: &mut [u8], at: usize) -> &mut [u8; N] {
    (&mut b[at..at + N]).try_into().unwrap()
}

/// A cursor that fills a reserved record. Writing past the end panics (a sizing bug), which the
/// sizing functions above rule out.
#[derive(Debug)]
pub struct Enc<'a> {
    buf: &'a mut [u8],
    pos: usize,
    max_str: usize,
}

impl<'a> Enc<'a> {
    /// A cursor over `buf`, truncating strings to `max_str` bytes.
    #[inline]
    pub fn new(buf: &'a mut [u8], max_str: usize) -> Self {
        Enc {
            buf,
            pos: 0,
            max_str,
        }
    }
    /// Bytes written so far.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }
    /// Raw bytes.
    #[inline]
    pub fn bytes(&mut self, b: &[u8]) {
        self.put(b)
    }
    /// A fixed-size block (a record header): a copy of constant size, inlined, no `memcpy` call.
    #[inline(always)]
    pub fn array<const N: usize>(&mut self, b: &[u8; N]) {
        self.buf[self.pos..self.pos + N].copy_from_slice(b);
        self.pos += N;
    }
    /// The next `N` bytes, to be written at constant offsets (one bounds check for all of
    /// them), and the cursor past them.
    #[inline(always)]
    pub fn fixed<const N: usize>(&mut self) -> &mut [u8; N] {
        let at = self.pos;
        self.pos += N;
        (&mut self.buf[at..at + N]).try_into().unwrap()
    }
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn put(&mut self, b: &[u8]) {
        let n = b.len();
        let dst = &mut self.buf[self.pos..self.pos + n];
        // Keys and values are mostly short: copy them with a few fixed-size moves (overlapping
        // when the length is not a power of two) instead of a `memcpy` call.
        match n {
            0 => {}
            1..=3 => {
                dst[0] = b[0];
                dst[n / 2] = b[n / 2];
                dst[n - 1] = b[n - 1];
            }
            // Loads into registers, then stores through fixed-size arrays: with `copy_from_slice`
            // the compiler merged the second copy into the `memcpy` call of the long case.
            4..=7 => {
                let (x, y) = (arr::<4>(b, 0), arr::<4>(b, n - 4));
                *arr_mut::<4>(dst, 0) = x;
                *arr_mut::<4>(dst, n - 4) = y;
            }
            8..=16 => {
                let (x, y) = (arr::<8>(b, 0), arr::<8>(b, n - 8));
                *arr_mut::<8>(dst, 0) = x;
                *arr_mut::<8>(dst, n - 8) = y;
            }
            _ => dst.copy_from_slice(b),
        }
        self.pos += n;
    }
    /// One byte.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn u8(&mut self, v: u8) {
        self.buf[self.pos] = v;
        self.pos += 1;
    }
    /// A u16.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes())
    }
    /// A u32.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes())
    }
    /// A u64.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes())
    }
    /// A u128.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn u128(&mut self, v: u128) {
        self.put(&v.to_le_bytes())
    }
    /// A name, body or message (u32 length), truncated to `max` bytes rather than to the
    /// attribute value limit.
    #[inline(always)]
    pub fn text(&mut self, s: &str, max: usize) {
        let n = super::text_len(s, max);
        self.u32(n as u32);
        self.put(&s.as_bytes()[..n]);
    }
    /// A text already cut to its limit ([`trunc_len`]): its u32 length, then its bytes.
    #[inline(always)]
    pub fn counted(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.put(b);
    }
    /// A string (u32 length), truncated to the limit.
    #[inline(always)]
    pub fn str(&mut self, s: &str) {
        let n = trunc_len(s, self.max_str);
        self.u32(n as u32);
        self.put(&s.as_bytes()[..n]);
    }
    /// A value.
    #[inline(always)]
    pub fn value(&mut self, v: &Value<'_>) {
        match *v {
            Value::Str(s) => {
                self.u8(tag::STR);
                self.str(s)
            }
            Value::Bool(b) => {
                self.u8(tag::BOOL);
                self.u8(b as u8)
            }
            Value::I64(i) => {
                self.u8(tag::I64);
                self.u64(i as u64)
            }
            Value::F64(f) => {
                self.u8(tag::F64);
                self.u64(f.to_bits())
            }
            Value::StrArray(a) => {
                self.u8(tag::STR_ARRAY);
                self.u32(a.len() as u32);
                for s in a {
                    self.str(s);
                }
            }
            Value::BoolArray(a) => {
                self.u8(tag::BOOL_ARRAY);
                self.u32(a.len() as u32);
                for &b in a {
                    self.u8(b as u8);
                }
            }
            Value::I64Array(a) => {
                self.u8(tag::I64_ARRAY);
                self.u32(a.len() as u32);
                for &i in a {
                    self.u64(i as u64);
                }
            }
            Value::F64Array(a) => {
                self.u8(tag::F64_ARRAY);
                self.u32(a.len() as u32);
                for &f in a {
                    self.u64(f.to_bits());
                }
            }
        }
    }
    /// A key-value pair.
    #[inline(always)]
    pub fn kv(&mut self, kv: &KeyValue<'_>) {
        self.key_value(kv.key, &kv.value);
    }
    /// A key-value pair given as its two halves.
    #[inline(always)]
    pub fn key_value(&mut self, key: &str, value: &Value<'_>) {
        let n = trunc_len(key, MAX_KEY);
        self.u16(n as u16);
        self.put(&key.as_bytes()[..n]);
        self.value(value);
    }
    /// A count (u16) followed by the pairs.
    #[inline(always)]
    pub fn kvs(&mut self, kvs: &[KeyValue<'_>]) {
        self.u16(kvs.len() as u16);
        for kv in kvs {
            self.kv(kv);
        }
    }
}

/// A decoded value borrowing the record's bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DValue<'a> {
    /// A string (validated UTF-8).
    Str(&'a str),
    /// Boolean.
    Bool(bool),
    /// Integer.
    I64(i64),
    /// Float.
    F64(f64),
    /// An array: element tag, count and the encoded elements.
    Array(u8, u32, &'a [u8]),
}

impl DValue<'static> {
    /// The decoded form of a value kept outside any ring (a metric series' attributes, which
    /// live for the whole process): scalars as they are, an array's elements encoded once
    /// ([`array_body`]) into a leaked buffer.
    pub fn leaked(v: &Value<'static>) -> DValue<'static> {
        match *v {
            Value::Str(s) => DValue::Str(s),
            Value::Bool(b) => DValue::Bool(b),
            Value::I64(i) => DValue::I64(i),
            Value::F64(f) => DValue::F64(f),
            _ => {
                // Not a scalar: `array_body` returns the array's parts.
                let (tag, n, body) = array_body(v).unwrap_or_default();
                DValue::Array(tag, n, Box::leak(body.into_boxed_slice()))
            }
        }
    }
}

/// An array value's tag, element count and elements as a record holds them (what
/// [`DValue::Array`] views); `None` for a scalar.
pub fn array_body(v: &Value<'_>) -> Option<(u8, u32, Vec<u8>)> {
    if matches!(
        v,
        Value::Str(_) | Value::Bool(_) | Value::I64(_) | Value::F64(_)
    ) {
        return None;
    }
    let mut buf = vec![0u8; super::value_size(v, usize::MAX / 4)];
    Enc::new(&mut buf, usize::MAX / 4).value(v);
    // Tag, then the u32 count, then the elements.
    let n = u32::from_le_bytes(buf[1..5].try_into().unwrap());
    Some((buf[0], n, buf.split_off(5)))
}

/// The record was shorter than its contents claimed, or held an unknown tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// Checks that `b` is UTF-8. Most strings here are short ASCII, for which the standard validator
/// costs several instructions per byte: those are checked with two overlapping word reads.
#[inline]
fn utf8(b: &[u8]) -> R<&str> {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let n = b.len();
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let ascii = match n {
        0 => true,
        1..=7 => b.iter().fold(0, |acc, &c| acc | c) < 0x80,
        8..=16 => (word(0) | word(n - 8)) & HIGH == 0,
        _ => false,
    };
    if ascii {
        // SAFETY: every byte is below 0x80, and a string of ASCII bytes is valid UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(b) })
    } else {
        std::str::from_utf8(b).map_err(|_| Corrupt)
    }
}

/// A checked cursor over an encoded record.
#[derive(Debug, Clone)]
pub struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, Corrupt>;

impl<'a> Dec<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Dec { buf, pos: 0 }
    }
    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
    /// The next `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(Corrupt)?;
        let b = self.buf.get(self.pos..end).ok_or(Corrupt)?;
        self.pos = end;
        Ok(b)
    }
    /// One byte.
    #[inline]
    pub fn u8(&mut self) -> R<u8> {
        Ok(self.bytes(1)?[0])
    }
    /// A u16.
    #[inline]
    pub fn u16(&mut self) -> R<u16> {
        Ok(u16::from_le_bytes(self.bytes(2)?.try_into().unwrap()))
    }
    /// A u32.
    #[inline]
    pub fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into().unwrap()))
    }
    /// A u64.
    #[inline]
    pub fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(self.bytes(8)?.try_into().unwrap()))
    }
    /// A u128.
    #[inline]
    pub fn u128(&mut self) -> R<u128> {
        Ok(u128::from_le_bytes(self.bytes(16)?.try_into().unwrap()))
    }
    /// A string (u32 length), checked to be UTF-8.
    #[inline]
    pub fn str(&mut self) -> R<&'a str> {
        let n = self.u32()? as usize;
        utf8(self.bytes(n)?)
    }
    /// A key (u16 length), checked to be UTF-8.
    #[inline]
    pub fn key(&mut self) -> R<&'a str> {
        let n = self.u16()? as usize;
        utf8(self.bytes(n)?)
    }
    /// A tagged value, returned: the reference the tests check [`value_then`](Self::value_then)
    /// against (the writer's loops store a value where it goes instead).
    #[cfg(test)]
    pub fn value(&mut self) -> R<DValue<'a>> {
        self.value_then(|v| v)
    }
    /// An array value after its tag `t` (or an unknown tag).
    #[inline(never)]
    fn array(&mut self, t: u8) -> R<DValue<'a>> {
        Ok(match t {
            tag::STR_ARRAY => {
                let n = self.u32()?;
                let start = self.pos;
                for _ in 0..n {
                    self.str()?;
                }
                DValue::Array(t, n, &self.buf[start..self.pos])
            }
            tag::BOOL_ARRAY | tag::I64_ARRAY | tag::F64_ARRAY => {
                let n = self.u32()?;
                let w = if t == tag::BOOL_ARRAY { 1 } else { 8 };
                let body = self.bytes((n as usize).checked_mul(w).ok_or(Corrupt)?)?;
                DValue::Array(t, n, body)
            }
            _ => return Err(Corrupt),
        })
    }
    /// Reads a value and hands it to `put`, which is called in each kind of value's own arm:
    /// `put` stores the variant it is given, field by field, where it goes. A value returned
    /// whole was kept in a temporary on the stack, written field by field and copied with
    /// wider loads: a store-forwarding stall (16 % of the span renderer's samples, 19 % of
    /// the log decoder's).
    #[inline(always)]
    pub fn value_then<T>(&mut self, put: impl FnOnce(DValue<'a>) -> T) -> R<T> {
        Ok(match self.u8()? {
            tag::STR => {
                let s = self.str()?;
                put(DValue::Str(s))
            }
            tag::BOOL => {
                let b = self.u8()? != 0;
                put(DValue::Bool(b))
            }
            tag::I64 => {
                let i = self.u64()? as i64;
                put(DValue::I64(i))
            }
            tag::F64 => {
                let f = f64::from_bits(self.u64()?);
                put(DValue::F64(f))
            }
            t => {
                let v = self.array(t)?;
                put(v)
            }
        })
    }
    /// Reads a key-value pair and pushes it onto `out` (see [`value_then`](Self::value_then)).
    #[inline(always)]
    pub fn kv_into(&mut self, out: &mut Vec<(&'a str, DValue<'a>)>) -> R<()> {
        let k = self.key()?;
        self.value_then(|v| out.push((k, v)))
    }
    /// A key-value pair, returned: the tests' reference for [`kv_into`](Self::kv_into).
    #[cfg(test)]
    pub fn kv(&mut self) -> R<(&'a str, DValue<'a>)> {
        Ok((self.key()?, self.value()?))
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::record::{MIN_MAX_TEXT, fit_kvs, kv_size, text_len, trunc_len};

    #[test]
    fn texts_are_cut_as_strings_are_at_every_text_limit() {
        // Multi-byte characters across the constant's boundary, and limits at and past it.
        let s: String = "aé€😀".repeat(200);
        for len in [
            0,
            1,
            MIN_MAX_TEXT - 1,
            MIN_MAX_TEXT,
            MIN_MAX_TEXT + 1,
            s.len(),
        ] {
            let mut end = len;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            let t = &s[..end];
            for max in [
                MIN_MAX_TEXT,
                MIN_MAX_TEXT + 1,
                MIN_MAX_TEXT + 2,
                4096,
                usize::MAX,
            ] {
                assert_eq!(text_len(t, max), trunc_len(t, max), "len {len}, max {max}");
            }
        }
    }
    #[test]
    fn utf8_fast_path_agrees_with_the_standard_validator() {
        for n in 0..24 {
            let clean = vec![b'k'; n];
            assert_eq!(utf8(&clean).ok(), std::str::from_utf8(&clean).ok());
            for pos in 0..n {
                for bad in [0x80u8, 0xc3, 0xff, 0x7f] {
                    let mut v = clean.clone();
                    v[pos] = bad;
                    assert_eq!(
                        utf8(&v).ok(),
                        std::str::from_utf8(&v).ok(),
                        "{n} {pos} {bad:#x}"
                    );
                }
            }
        }
        assert_eq!(utf8("é".as_bytes()), Ok("é"));
    }

    use super::*;
    use crate::engine::record::{UNCUT, is_whole};

    fn encode(kvs: &[KeyValue<'_>], max_str: usize) -> Vec<u8> {
        let size = 2 + kvs.iter().map(|kv| kv_size(kv, max_str)).sum::<usize>();
        let mut buf = vec![0xAA; size];
        let mut e = Enc::new(&mut buf, max_str);
        e.kvs(kvs);
        assert_eq!(e.pos(), size, "sizing matches encoding");
        buf
    }

    /// One attribute of each kind of value, the float being `f`.
    fn every_kind(f: f64) -> [KeyValue<'static>; 8] {
        static STRS: [&str; 2] = ["a", "é"];
        static BOOLS: [bool; 2] = [true, false];
        static INTS: [i64; 2] = [1, i64::MAX];
        static FLOATS: [f64; 2] = [0.5, f64::INFINITY];
        [
            KeyValue::new("s", "hello"),
            KeyValue::new("b", true),
            KeyValue::new("i", -7i64),
            KeyValue::new("f", f),
            KeyValue::new("sa", &STRS[..]),
            KeyValue::new("ba", &BOOLS[..]),
            KeyValue::new("ia", &INTS[..]),
            KeyValue::new("fa", &FLOATS[..]),
        ]
    }

    #[test]
    fn whole_values_encode_the_same_uncut() {
        // What the typed paths rely on: a value `is_whole` under a limit is sized and written
        // with `UNCUT` exactly as with the limit; any other value is cut by the limit.
        static LONG: [&str; 3] = ["abcdefg", "xy", "ééé"];
        let mut kvs = every_kind(1.5).to_vec();
        kvs.extend([
            KeyValue::new("long", "abcdefg"),
            KeyValue::new("multi", "ééé"),
            KeyValue::new("empty", ""),
            KeyValue::new("la", &LONG[..]),
        ]);
        for kv in &kvs {
            for max in [0, 1, 2, 3, 4, 5, 6, 7, 8, 1000] {
                let (cut, uncut) = (encode(&[*kv], max), encode(&[*kv], UNCUT));
                if is_whole(&kv.value, max) {
                    assert_eq!(cut, uncut, "{} under {max}", kv.key);
                } else {
                    assert!(cut.len() < uncut.len(), "{} under {max}", kv.key);
                }
            }
        }
    }

    #[test]
    fn values_round_trip() {
        let buf = encode(&every_kind(f64::NAN), 1000);
        let mut d = Dec::new(&buf);
        assert_eq!(d.u16().unwrap(), 8);
        assert_eq!(d.kv().unwrap(), ("s", DValue::Str("hello")));
        assert_eq!(d.kv().unwrap(), ("b", DValue::Bool(true)));
        assert_eq!(d.kv().unwrap(), ("i", DValue::I64(-7)));
        match d.kv().unwrap() {
            ("f", DValue::F64(f)) => assert!(f.is_nan()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            d.kv().unwrap(),
            ("sa", DValue::Array(tag::STR_ARRAY, 2, _))
        ));
        assert!(matches!(
            d.kv().unwrap(),
            ("ba", DValue::Array(tag::BOOL_ARRAY, 2, [1, 0]))
        ));
        assert!(matches!(
            d.kv().unwrap(),
            ("ia", DValue::Array(tag::I64_ARRAY, 2, _))
        ));
        assert!(matches!(
            d.kv().unwrap(),
            ("fa", DValue::Array(tag::F64_ARRAY, 2, _))
        ));
        assert!(d.is_empty());
    }

    #[test]
    fn kv_into_reads_what_kv_reads_and_rejects_what_it_rejects() {
        // A float that equals itself: the pairs are compared with `==`.
        let kvs = every_kind(0.25);
        let buf = encode(&kvs, 1000);
        let (mut a, mut b) = (Dec::new(&buf[2..]), Dec::new(&buf[2..]));
        let mut pushed = Vec::new();
        for _ in &kvs {
            a.kv_into(&mut pushed).unwrap();
            assert_eq!(pushed.last(), Some(&b.kv().unwrap()));
        }
        assert!(a.is_empty() && b.is_empty());
        // Every truncation of the record, and an unknown tag: errors, nothing pushed.
        for cut in 2..buf.len() {
            let mut d = Dec::new(&buf[2..cut]);
            let mut v = Vec::new();
            let mut reference = Dec::new(&buf[2..cut]);
            while reference.kv().is_ok() {
                d.kv_into(&mut v).unwrap();
            }
            let before = v.len();
            assert!(d.kv_into(&mut v).is_err(), "cut at {cut}");
            assert_eq!(v.len(), before);
        }
        let mut bad = buf[2..].to_vec();
        bad[3] = 99; // the first value's tag (after the 2-byte key length and key "s")
        assert!(Dec::new(&bad).kv_into(&mut Vec::new()).is_err());
    }

    #[test]
    fn leaked_values_equal_the_decoded_ones() {
        static STRS: [&str; 2] = ["a", "é"];
        let kvs = [
            KeyValue::new("s", "x"),
            KeyValue::new("i", 3),
            KeyValue::new("sa", &STRS[..]),
            KeyValue::new("ba", &[true, false][..]),
            KeyValue::new("ia", &[1i64, -2][..]),
            KeyValue::new("fa", &[0.5f64, f64::NAN][..]),
        ];
        let buf = encode(&kvs, 1000);
        let mut d = Dec::new(&buf);
        d.u16().unwrap();
        for kv in &kvs {
            let (_, decoded) = d.kv().unwrap();
            // Arrays through `array_body` (what `leaked` keeps, without leaking it here).
            match (array_body(&kv.value), decoded) {
                (Some((t1, n1, b1)), DValue::Array(t2, n2, b2)) => {
                    assert_eq!((t1, n1, &b1[..]), (t2, n2, b2), "{}", kv.key)
                }
                (None, b) => assert_eq!(DValue::leaked(&kv.value), b, "{}", kv.key),
                (a, b) => panic!("{}: {a:?} against {b:?}", kv.key),
            }
        }
    }

    #[test]
    fn short_copies_of_every_length() {
        let src: Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            let mut buf = vec![0u8; 64];
            let mut e = Enc::new(&mut buf, 1000);
            e.u8(0xEE);
            e.bytes(&src[..n]);
            e.u8(0xDD);
            assert_eq!(e.pos(), n + 2);
            assert_eq!(&buf[1..n + 1], &src[..n], "len {n}");
            assert_eq!((buf[0], buf[n + 1], buf[n + 2]), (0xEE, 0xDD, 0), "len {n}");
        }
    }

    #[test]
    fn strings_truncate_at_char_boundaries() {
        assert_eq!(trunc_len("héllo", 2), 1);
        assert_eq!(trunc_len("héllo", 3), 3);
        let buf = encode(&[KeyValue::new("k", "ééé")], 3);
        let mut d = Dec::new(&buf);
        d.u16().unwrap();
        assert_eq!(d.kv().unwrap().1, DValue::Str("é"));
    }

    #[test]
    fn fit_respects_budget_and_count() {
        let kvs = [
            KeyValue::new("a", 1),
            KeyValue::new("b", 2),
            KeyValue::new("c", 3),
        ];
        let one = kv_size(&kvs[0], 100);
        assert_eq!(fit_kvs(&kvs, 10, 2 * one, 100), (2, 2 * one));
        assert_eq!(fit_kvs(&kvs, 1, 1000, 100), (1, one));
        assert_eq!(fit_kvs(&kvs, 10, 1000, 100), (3, 3 * one));
    }

    #[test]
    fn invalid_utf8_is_corrupt() {
        let mut buf = encode(&[KeyValue::new("k", "abc")], 100);
        let n = buf.len();
        buf[n - 1] = 0xff;
        let mut d = Dec::new(&buf);
        d.u16().unwrap();
        assert_eq!(d.kv(), Err(Corrupt));
    }

    #[test]
    fn truncated_input_is_corrupt_not_a_panic() {
        let buf = encode(
            &[
                KeyValue::new("key", "value"),
                KeyValue::new("n", &[1i64, 2][..]),
            ],
            100,
        );
        for cut in 0..buf.len() {
            let mut d = Dec::new(&buf[..cut]);
            let r = (|| {
                let n = d.u16()?;
                for _ in 0..n {
                    d.kv()?;
                }
                Ok::<_, Corrupt>(())
            })();
            assert_eq!(r, Err(Corrupt), "cut at {cut}");
        }
    }
}

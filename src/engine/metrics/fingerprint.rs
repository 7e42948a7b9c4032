//! Attribute-set hashing and exact fingerprints for the per-thread series cache.
//!
//! An attribute whose key and value are short (strings of at most 16 bytes, numbers, booleans)
//! has an exact fixed-size fingerprint: comparing fingerprints word by word confirms a cache hit
//! without touching the strings. Other attribute sets are hashed with an order-independent hash
//! and compared value by value.

use crate::model::value::{KeyValue, Value};

#[inline(always)]
fn read8(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[inline(always)]
fn read4(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as u64
}

/// The last (up to) 8 bytes of a short tail without a `memcpy` call: overlapping reads, as
/// wyhash does.
#[inline(always)]
fn tail_word(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 8 {
        read8(b, n - 8)
    } else if n >= 4 {
        (read4(b, 0) << 32) | read4(b, n - 4)
    } else if n > 0 {
        ((b[0] as u64) << 16) | ((b[n / 2] as u64) << 8) | b[n - 1] as u64
    } else {
        0
    }
}

/// A fast 64-bit hash of bytes (FxHash-style word mixing with a final avalanche).
#[inline]
fn hash_bytes(b: &[u8], seed: u64) -> u64 {
    fmix(absorb(seed, b))
}

/// Byte equality that avoids a `memcmp` call for the short strings attribute keys and values
/// usually are.
#[inline(always)]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n <= 8 {
        tail_word(a) == tail_word(b)
    } else if n <= 16 {
        read8(a, 0) == read8(b, 0) && read8(a, n - 8) == read8(b, n - 8)
    } else {
        a == b
    }
}

#[inline]
pub(crate) fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

#[inline]
fn hash_value(v: &Value<'_>) -> u64 {
    match *v {
        Value::Str(s) => hash_bytes(s.as_bytes(), 1),
        Value::Bool(b) => fmix(2 + b as u64),
        Value::I64(i) => fmix(3 ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        Value::F64(f) => fmix(4 ^ f.to_bits().wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        Value::StrArray(a) => a
            .iter()
            .fold(5, |h, s| fmix(h ^ hash_bytes(s.as_bytes(), 5))),
        Value::BoolArray(a) => a.iter().fold(6, |h, b| fmix(h ^ (*b as u64 + 1))),
        Value::I64Array(a) => a.iter().fold(7, |h, i| fmix(h ^ *i as u64)),
        Value::F64Array(a) => a.iter().fold(8, |h, f| fmix(h ^ f.to_bits())),
    }
}

/// An exact, fixed-size stand-in for an attribute whose key and value are short: a string of at
/// most 16 bytes is its length and two (overlapping) word reads that cover every byte; numbers
/// and booleans are their bits. Two attributes with fingerprints are equal exactly when their
/// fingerprints are, so the per-thread cache confirms a hit with a few word comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Fp {
    key: [u64; 2],
    val: [u64; 2],
    /// Key length, value length and value type.
    lens: u64,
}

impl Fp {
    /// Most attributes a call may pass for the fingerprint path; more go the general way.
    pub(crate) const MAX: usize = 4;

    #[inline(always)]
    fn words(b: &[u8]) -> Option<[u64; 2]> {
        let n = b.len();
        if n <= 8 {
            Some([tail_word(b), 0])
        } else if n <= 16 {
            Some([read8(b, 0), read8(b, n - 8)])
        } else {
            None
        }
    }

    #[inline(always)]
    pub(crate) fn of(kv: &KeyValue<'_>) -> Option<Fp> {
        let key = Fp::words(kv.key.as_bytes())?;
        let (val, vlen, tag) = match kv.value {
            Value::Str(s) => (Fp::words(s.as_bytes())?, s.len() as u64, 1),
            Value::I64(i) => ([i as u64, 0], 0, 2),
            Value::Bool(b) => ([b as u64, 0], 0, 3),
            Value::F64(f) => ([f.to_bits(), 0], 0, 4),
            _ => return None,
        };
        Some(Fp {
            key,
            val,
            lens: (kv.key.len() as u64) | (vlen << 8) | (tag << 16),
        })
    }

    /// Equal lists, compared without a branch per word; `fresh` are fingerprints the caller has
    /// just stored word by word, and they are read back one word at a time. (Wider reads, which
    /// the compiler otherwise makes, span two of those stores, cannot be forwarded from the
    /// store buffer and wait until the stores reach the cache.)
    #[inline(always)]
    pub(crate) fn same_as_stored(kept: &[Fp], fresh: &[Fp]) -> bool {
        kept.len() == fresh.len()
            && kept.iter().zip(fresh).fold(0, |d, (x, y)| {
                // SAFETY: `y` is a reference to an initialised `Fp`, a struct of `u64`s, so each
                // field read is of a valid, aligned `u64`.
                let w = |p: &u64| unsafe { std::ptr::read_volatile(p) };
                d | (x.key[0] ^ w(&y.key[0]))
                    | (x.key[1] ^ w(&y.key[1]))
                    | (x.val[0] ^ w(&y.val[0]))
                    | (x.val[1] ^ w(&y.val[1]))
                    | (x.lens ^ w(&y.lens))
            }) == 0
    }

    #[inline(always)]
    pub(crate) fn hash(&self) -> u64 {
        // The multiplies of different attributes are independent and run in parallel.
        let a = (self.key[0] ^ self.lens).wrapping_mul(K);
        let b = (self.val[0] ^ self.key[1].rotate_left(31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        a ^ b.rotate_left(29) ^ self.val[1]
    }
}

const K: u64 = 0x517c_c1b7_2722_0a95;

#[inline(always)]
fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(K)
}

/// Feeds `b` (and its length) into the chain `h`, without a final avalanche.
#[inline(always)]
fn absorb(mut h: u64, b: &[u8]) -> u64 {
    h = mix(h, b.len() as u64);
    let mut i = 0;
    while i + 8 < b.len() {
        h = mix(h, read8(b, i));
        i += 8;
    }
    mix(h, tail_word(&b[i..]))
}

/// Order-independent hash of an attribute set: the key of the instrument's series map.
#[inline]
pub(crate) fn hash_attrs(attrs: &[KeyValue<'_>]) -> u64 {
    let mut h = attrs.len() as u64;
    for kv in attrs {
        h = h.wrapping_add(fmix(
            hash_bytes(kv.key.as_bytes(), 0) ^ hash_value(&kv.value).rotate_left(17),
        ));
    }
    h
}

/// Value equality where floats compare by bits (so NaN equals NaN and series stay unique).
#[inline(always)]
pub(crate) fn same(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => bytes_eq(x.as_bytes(), y.as_bytes()),
        (Value::I64(x), Value::I64(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        (Value::F64Array(x), Value::F64Array(y)) => {
            x.len() == y.len() && x.iter().zip(*y).all(|(p, q)| p.to_bits() == q.to_bits())
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_hash_and_compare_every_length() {
        let data: Vec<u8> = (0u8..40).collect();
        for n in 0..40 {
            let a = &data[..n];
            let mut b = a.to_vec();
            assert!(bytes_eq(a, &b));
            assert_eq!(hash_bytes(a, 0), hash_bytes(&b, 0));
            for i in 0..n {
                b[i] ^= 1;
                assert!(!bytes_eq(a, &b), "len {n} byte {i}");
                assert_ne!(hash_bytes(a, 0), hash_bytes(&b, 0), "len {n} byte {i}");
                b[i] ^= 1;
            }
        }
        assert!(!bytes_eq(b"ab", b"abc"));
    }

    #[test]
    fn fingerprints_are_exact() {
        let data: Vec<u8> = (b'a'..=b'z').collect();
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        for n in 0..=20 {
            let a = text(&data[..n]);
            let fa = Fp::of(&KeyValue::new(&a, a.as_str()));
            assert_eq!(fa.is_some(), n <= 16, "len {n}");
            let Some(fa) = fa else { continue };
            assert_eq!(
                Some(fa),
                Fp::of(&KeyValue::new(&a.clone(), a.clone().as_str()))
            );
            for i in 0..n {
                let mut b = data[..n].to_vec();
                b[i] = b'A';
                let b = text(&b);
                assert_ne!(
                    Some(fa),
                    Fp::of(&KeyValue::new(&b, a.as_str())),
                    "key {n} {i}"
                );
                assert_ne!(
                    Some(fa),
                    Fp::of(&KeyValue::new(&a, b.as_str())),
                    "value {n} {i}"
                );
            }
            // One byte more or less, or a NUL appended, is another string.
            let longer = format!("{a}\0");
            assert_ne!(Some(fa), Fp::of(&KeyValue::new(&longer, a.as_str())));
        }
        let kinds = [
            Fp::of(&KeyValue::new("k", 1i64)),
            Fp::of(&KeyValue::new("k", true)),
            Fp::of(&KeyValue::new("k", f64::from_bits(1))),
            Fp::of(&KeyValue::new("k", "\u{1}")),
        ];
        for (i, a) in kinds.iter().enumerate() {
            for b in &kinds[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn fingerprint_lists_compare_every_word_and_the_length() {
        let fp = |k: &str, v: &str| Fp::of(&KeyValue::new(k, v)).unwrap();
        let a = [fp("route", "/api/users"), fp("method", "GET")];
        assert!(Fp::same_as_stored(&a, &a.clone()));
        assert!(!Fp::same_as_stored(&a, &a[..1]));
        assert!(!Fp::same_as_stored(&a[..1], &a));
        // One word differs at a time: each field of each fingerprint counts.
        for i in 0..a.len() {
            for w in 0..5 {
                let mut b = a;
                match w {
                    0 => b[i].key[0] ^= 1,
                    1 => b[i].key[1] ^= 1,
                    2 => b[i].val[0] ^= 1,
                    3 => b[i].val[1] ^= 1,
                    _ => b[i].lens ^= 1,
                }
                assert!(!Fp::same_as_stored(&a, &b), "fingerprint {i}, word {w}");
            }
        }
    }

    #[test]
    fn attribute_hash_ignores_order() {
        let a = [KeyValue::new("a", 1), KeyValue::new("b", "x")];
        let b = [KeyValue::new("b", "x"), KeyValue::new("a", 1)];
        assert_eq!(hash_attrs(&a), hash_attrs(&b));
        assert_ne!(
            hash_attrs(&a),
            hash_attrs(&[KeyValue::new("a", 2), KeyValue::new("b", "x")])
        );
    }
}

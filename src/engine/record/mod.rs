//! The binary records that travel through the rings: one definition per record kind, used by
//! the calling thread to encode and by the writer thread to decode.
//!
//! Every record starts with a one-byte [`kind`]. Integers are little endian; strings are a `u32`
//! length (a `u16` for keys) and UTF-8 bytes, already truncated to the configured limit at a char
//! boundary. A value is a one-byte [`tag`] and its payload. The calling thread sizes a record with
//! the `*_size` functions, reserves exactly that many bytes in its ring and fills them with
//! [`Enc`]; the writer reads them back with [`Dec`], which never trusts the bytes (every read is
//! checked, so a corrupt record is reported, not a crash).
//!
//! | kind | fixed part | then |
//! |---|---|---|
//! | [`kind::LOG`] | [`LogHead`] (44 bytes) | callsite id and value count, values; or body and key-values |
//! | [`kind::SPAN_END`] | [`SpanEnd`] (68 bytes) | name |
//! | [`kind::SPAN_ATTRS`] | [`PartHead`] (9 bytes) | key-values |
//! | [`kind::SPAN_EVENT`] | [`PartHead`], [`EventHead`] | name, key-values |
//! | [`kind::SPAN_LINK`] | [`PartHead`], [`LinkHead`] | key-values |
//! | [`kind::SPAN_STATUS`] | [`PartHead`] | message |

#[allow(unsafe_code)] // the UTF-8 check's ASCII fast path
mod codec;
mod log;
mod span;

pub use codec::{Corrupt, DValue, Dec, Enc, array_body};
pub use log::{CallsiteHead, LogHead};
pub use span::{EventHead, HeadWord, LinkHead, PartHead, SpanEnd};

use crate::model::value::{KeyValue, Value};

/// Record kinds.
pub mod kind {
    /// A log record.
    pub const LOG: u8 = 1;
    /// The end of a span, with everything known at that point.
    pub const SPAN_END: u8 = 2;
    /// Attributes set on a live span.
    pub const SPAN_ATTRS: u8 = 3;
    /// An event added to a live span.
    pub const SPAN_EVENT: u8 = 4;
    /// A link added to a live span.
    pub const SPAN_LINK: u8 = 5;
    /// A status message set on a live span.
    pub const SPAN_STATUS: u8 = 6;
}

/// Value tags.
pub mod tag {
    /// UTF-8 string.
    pub const STR: u8 = 0;
    /// Boolean.
    pub const BOOL: u8 = 1;
    /// i64.
    pub const I64: u8 = 2;
    /// f64.
    pub const F64: u8 = 3;
    /// Array of strings.
    pub const STR_ARRAY: u8 = 4;
    /// Array of booleans.
    pub const BOOL_ARRAY: u8 = 5;
    /// Array of i64.
    pub const I64_ARRAY: u8 = 6;
    /// Array of f64.
    pub const F64_ARRAY: u8 = 7;
}

pub use log::LOG_CALLSITE;
pub use span::{SPAN_HAS_PENDING, SPAN_PARENT_REMOTE};

/// Length of `s` truncated to at most `max` bytes at a char boundary.
#[inline]
pub fn trunc_len(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    let mut n = max;
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    n
}

/// A string limit that cuts nothing, for records whose values were checked with [`is_whole`]:
/// passed as the limit where the call is inlined, it folds each string's cut away, and the
/// length of a literal is then a constant (`log` 130 -> 115 instructions, `span_attrs` 452 -> 422).
pub const UNCUT: usize = usize::MAX;

/// Whether `v` has no string longer than `max_str` bytes: then it is encoded whole, as with
/// [`UNCUT`]. For a literal, one compare.
#[inline(always)]
pub fn is_whole(v: &Value<'_>, max_str: usize) -> bool {
    match v {
        Value::Str(s) => s.len() <= max_str,
        Value::StrArray(a) => a.iter().all(|s| s.len() <= max_str),
        _ => true,
    }
}

/// The shortest text limit (`Settings::max_text`) of any configuration: a quarter of the
/// smallest ring a configuration makes.
pub const MIN_MAX_TEXT: usize = crate::model::config::MIN_RING_CAPACITY / 4;

/// [`trunc_len`] for a text (a span or event name, a log body, a status message) under the
/// text limit `max_text`, which is never below [`MIN_MAX_TEXT`]: a text no longer than that is
/// kept whole without reading the limit, which folds the test and the cut's loop away for a
/// literal (`log_method` 165 -> 121 instructions, `span_attrs` 485 -> 468).
#[inline(always)]
pub fn text_len(s: &str, max_text: usize) -> usize {
    if s.len() <= MIN_MAX_TEXT {
        s.len()
    } else {
        long_text_len(s, max_text)
    }
}

/// [`text_len`] past [`MIN_MAX_TEXT`], kept out of line: inlined, its test could be merged with
/// the short one into a longer sequence on every call, as it was in `Span::end` once a change
/// to unrelated code moved the compiler's choices (`span` 266 instructions, 262 with this).
#[cold]
#[inline(never)]
fn long_text_len(s: &str, max_text: usize) -> usize {
    trunc_len(s, max_text)
}

/// Encoded size of a text under the text limit (u32 length + bytes): see [`text_len`].
#[inline(always)]
pub fn text_size(s: &str, max_text: usize) -> usize {
    4 + text_len(s, max_text)
}

/// Encoded size of a string field (u32 length + bytes).
#[inline]
pub fn str_size(s: &str, max: usize) -> usize {
    4 + trunc_len(s, max)
}

/// Encoded size of a value.
#[inline]
pub fn value_size(v: &Value<'_>, max_str: usize) -> usize {
    1 + match v {
        Value::Str(s) => str_size(s, max_str),
        Value::Bool(_) => 1,
        Value::I64(_) | Value::F64(_) => 8,
        Value::StrArray(a) => 4 + a.iter().map(|s| str_size(s, max_str)).sum::<usize>(),
        Value::BoolArray(a) => 4 + a.len(),
        Value::I64Array(a) => 4 + 8 * a.len(),
        Value::F64Array(a) => 4 + 8 * a.len(),
    }
}

/// Longest key kept, in bytes (independent of the value length limit: two keys must never be cut
/// into one). A ring is at least 4 KiB, so a key always fits in a record.
pub const MAX_KEY: usize = 1024;

/// Encoded size of a key-value pair.
#[inline]
pub fn kv_size(kv: &KeyValue<'_>, max_str: usize) -> usize {
    key_value_size(kv.key, &kv.value, max_str)
}

/// Encoded size of a key-value pair given as its two halves.
#[inline]
pub fn key_value_size(key: &str, value: &Value<'_>, max_str: usize) -> usize {
    2 + trunc_len(key, MAX_KEY) + value_size(value, max_str)
}

/// How many of `kvs` (at most `max_count`) fit in `budget` bytes, and their encoded size.
#[inline(always)]
pub fn fit_kvs(
    kvs: &[KeyValue<'_>],
    max_count: usize,
    budget: usize,
    max_str: usize,
) -> (usize, usize) {
    // Counts are encoded as u16.
    let max_count = max_count.min(u16::MAX as usize);
    let mut size = 0;
    for (i, kv) in kvs.iter().take(max_count).enumerate() {
        let s = kv_size(kv, max_str);
        if size + s > budget {
            return (i, size);
        }
        size += s;
    }
    (kvs.len().min(max_count), size)
}

/// Attribute values a span, event, link or log sends, per key its limit allows. The limit
/// counts keys, and only the writer sees them all (it applies the limit, keeping a new value for
/// a kept key); a producer sends up to this many values per allowed key and drops (and counts)
/// the ones after, new keys or not: the bound on what one record holds.
pub const ATTR_VALUES_PER_KEY: u32 = 4;

/// Distinct attribute keys a log record keeps (applied by the writer, as for spans).
pub const LOG_ATTRIBUTES: usize = 128;

/// The attribute values one span sends under `limits` (see [`ATTR_VALUES_PER_KEY`]).
pub fn span_attr_values(limits: &crate::model::config::SpanLimits) -> u32 {
    limits.attributes.saturating_mul(ATTR_VALUES_PER_KEY)
}

/// The attribute values one event or link sends under `limits` (see [`ATTR_VALUES_PER_KEY`]).
pub fn event_attr_values(limits: &crate::model::config::SpanLimits) -> usize {
    limits
        .attributes_per_event
        .saturating_mul(ATTR_VALUES_PER_KEY) as usize
}

//! OpenTelemetry's rules for an attribute collection, applied by the writer to what producers
//! sent: one value per key (the last, in the place of the first), a limit on distinct keys, and
//! the count of what was dropped as `otel.dropped_attributes_count`.

use crate::engine::record::DValue;
use crate::export::view::Attr;
use std::collections::HashMap;

/// Adds the count of attributes the producer dropped, when there are any, the OpenTelemetry way:
/// as an attribute of its own, last (so that it wins over a caller's attribute of that name).
#[inline]
fn push_dropped(attrs: &mut Vec<Attr<'_>>, dropped: u32) {
    if dropped > 0 {
        attrs.push(("otel.dropped_attributes_count", DValue::I64(dropped as i64)));
    }
}

/// Keeps one attribute per key among `attrs[start..]`: the last value, in the place of the
/// key's first occurrence (as for span attributes). OpenTelemetry's attribute collections have
/// unique keys, and exporters are to drop the earlier duplicates. Returns whether any attribute
/// was removed; allocates only then.
#[inline]
pub(crate) fn keep_last_per_key(attrs: &mut Vec<Attr<'_>>, start: usize) -> bool {
    let tail = &attrs[start..];
    let n = tail.len();
    if n < 2 {
        return false;
    }
    // Compared pairwise up to 64 keys (no allocation), hashed beyond.
    let has_dup = if n <= 64 {
        (1..n).any(|i| tail[..i].iter().any(|(k, _)| *k == tail[i].0))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(n);
        !tail.iter().all(|(k, _)| seen.insert(*k))
    };
    if !has_dup {
        return false;
    }
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(n);
    let mut kept: Vec<Attr<'_>> = Vec::with_capacity(n);
    for (k, v) in attrs.drain(start..) {
        match index.get(k) {
            Some(&i) => kept[i].1 = v,
            None => {
                index.insert(k, kept.len());
                kept.push((k, v));
            }
        }
    }
    attrs.extend(kept);
    true
}

/// One attribute per key among `attrs[start..]` (see [`keep_last_per_key`]) and at most `limit`
/// keys: the limit counts keys, so a new value for a kept key is never dropped. Returns whether
/// anything changed and how many keys were dropped.
#[inline]
pub(crate) fn limit_keys(attrs: &mut Vec<Attr<'_>>, start: usize, limit: usize) -> (bool, u32) {
    let changed = keep_last_per_key(attrs, start);
    let kept = attrs.len() - start;
    if kept <= limit {
        return (changed, 0);
    }
    attrs.truncate(start + limit);
    (true, (kept - limit).min(u32::MAX as usize) as u32)
}

/// Makes the attributes decoded into `attrs[start..]` an OpenTelemetry attribute collection
/// ([`limit_keys`]), with the count of dropped attributes (`dropped`, from the producer, plus
/// the keys past the limit) as `otel.dropped_attributes_count`. Returns whether
/// `attrs[start..]` changed.
pub(crate) fn finish_attrs(
    attrs: &mut Vec<Attr<'_>>,
    start: usize,
    dropped: u32,
    limit: usize,
) -> bool {
    let (mut changed, over) = limit_keys(attrs, start, limit);
    let dropped = dropped.saturating_add(over);
    if dropped > 0 {
        push_dropped(attrs, dropped);
        // The caller may have used that key too: still one attribute per key (the count).
        keep_last_per_key(attrs, start);
        changed = true;
    }
    changed
}

/// Empties a vector and reuses its allocation for another element type of the same size and
/// alignment (in practice: the same type with another lifetime), so the writer's scratch vectors
/// keep their capacity from one record to the next. The standard library collects a
/// `vec::IntoIter` into a `Vec` in place when the layouts match; `recycled_vectors_keep_their_
/// allocation` checks that it still does.
pub(crate) fn recycle<A, B>(mut v: Vec<A>) -> Vec<B> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_attribute_per_key_the_last_value_in_the_first_place() {
        let a = |k: &'static str, v: i64| (k, DValue::I64(v));
        let mut v = vec![a("pre", 0), a("k", 1), a("j", 2), a("k", 3), a("pre", 4)];
        // Only the tail from `start` is one collection.
        assert!(keep_last_per_key(&mut v, 1));
        assert_eq!(v, [a("pre", 0), a("k", 3), a("j", 2), a("pre", 4)]);
        assert!(!keep_last_per_key(&mut v, 1));
        assert!(!keep_last_per_key(&mut v, 4));
        // The dropped count wins over a caller's attribute of the same name.
        let mut d = vec![a("otel.dropped_attributes_count", 7), a("x", 1)];
        push_dropped(&mut d, 2);
        assert!(keep_last_per_key(&mut d, 0));
        assert_eq!(d, [a("otel.dropped_attributes_count", 2), a("x", 1)]);
        // Long lists take the hashed path.
        let names: Vec<String> = (0..40).map(|i| format!("k{}", i % 20)).collect();
        let mut long: Vec<Attr<'_>> = names
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), DValue::I64(i as i64)))
            .collect();
        assert!(keep_last_per_key(&mut long, 0));
        assert_eq!(long.len(), 20);
        for (i, (k, v)) in long.iter().enumerate() {
            assert_eq!((*k, v), (names[i].as_str(), &DValue::I64(i as i64 + 20)));
        }
    }

    #[test]
    fn recycled_vectors_keep_their_allocation() {
        let name = String::from("k");
        let mut v: Vec<Attr<'_>> = Vec::with_capacity(100);
        v.push((name.as_str(), DValue::I64(1)));
        let ptr = v.as_ptr() as usize;
        let r: Vec<Attr<'static>> = recycle(v);
        assert_eq!((r.len(), r.capacity(), r.as_ptr() as usize), (0, 100, ptr));
    }
}

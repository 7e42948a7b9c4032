//! Instrumentation scopes: each name is interned once, when a tracer, meter or logger is made,
//! and records carry its small id; the writer looks the name up when it first renders the id.
//!
//! Interned names live as long as the process, so the table is bounded: at most [`MAX_SCOPES`]
//! names of at most [`MAX_SCOPE_NAME`] bytes. A program that makes scopes from data (a `log`
//! target built at run time, a tracer per tenant) gets its first names as asked, then the
//! scope [`OVERFLOW_SCOPE`] for every new name past the limit, each such request counted in
//! [`limited_count`] ([`Stats::scopes_limited`](crate::Stats)).

use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most distinct scope names kept, [`OVERFLOW_SCOPE`] included.
pub const MAX_SCOPES: usize = 1024;

/// Longest scope name kept, in bytes; a longer one is cut at a char boundary (two names equal
/// up to the cut are one scope).
pub const MAX_SCOPE_NAME: usize = 256;

/// The scope of every record whose own scope name came past [`MAX_SCOPES`].
pub const OVERFLOW_SCOPE: &str = "mini_telemetry.scope_overflow";

/// Names by id, and ids by name (O(1) interning however many scopes there are).
struct Scopes {
    names: Vec<&'static str>,
    ids: Option<HashMap<&'static str, u32>>,
}

impl Scopes {
    const fn new() -> Self {
        Scopes {
            names: Vec::new(),
            ids: None,
        }
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.ids.as_ref()?.get(name).copied()
    }

    /// The id of `name` (already cut to [`MAX_SCOPE_NAME`]), interned if new and there is
    /// room; else the id of [`OVERFLOW_SCOPE`], and `true`.
    fn intern(&mut self, name: &str, max: usize) -> (u32, bool) {
        if let Some(id) = self.get(name) {
            return (id, false);
        }
        // The last place is kept for the overflow scope itself.
        if self.names.len() + 1 < max || name == OVERFLOW_SCOPE {
            return (self.insert(name), false);
        }
        let id = match self.get(OVERFLOW_SCOPE) {
            Some(id) => id,
            None => self.insert(OVERFLOW_SCOPE),
        };
        (id, true)
    }

    fn insert(&mut self, name: &str) -> u32 {
        let name: &'static str = Box::leak(name.to_string().into_boxed_str());
        let id = self.names.len() as u32;
        self.names.push(name);
        self.ids.get_or_insert_with(HashMap::new).insert(name, id);
        id
    }
}

static SCOPES: RwLock<Scopes> = RwLock::new(Scopes::new());

/// Requests for a new scope name past [`MAX_SCOPES`].
static LIMITED: AtomicU64 = AtomicU64::new(0);

/// `name` cut to [`MAX_SCOPE_NAME`] bytes at a char boundary.
fn cut(name: &str) -> &str {
    &name[..crate::engine::record::trunc_len(name, MAX_SCOPE_NAME)]
}

/// Interns a scope name and returns its id (creation time only, never on a hot path).
pub(crate) fn scope_id(name: &str) -> u32 {
    let name = cut(name);
    {
        // Read-locked only, also once the table is full: the `log` bridge asks again for each
        // record whose target its per-thread cache does not hold.
        let r = SCOPES.read();
        if let Some(id) = r.get(name) {
            return id;
        }
        if r.names.len() >= MAX_SCOPES {
            if let Some(id) = r.get(OVERFLOW_SCOPE) {
                LIMITED.fetch_add(1, Ordering::Relaxed);
                return id;
            }
        }
    }
    let (id, limited) = SCOPES.write().intern(name, MAX_SCOPES);
    if limited {
        LIMITED.fetch_add(1, Ordering::Relaxed);
    }
    id
}

/// The name of a scope id.
pub(crate) fn scope_name(id: u32) -> Option<&'static str> {
    SCOPES.read().names.get(id as usize).copied()
}

/// Requests for a new scope name that found the table full (see the module's documentation).
pub(crate) fn limited_count() -> u64 {
    LIMITED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_past_the_limit_share_the_overflow_scope_and_are_reported() {
        let mut s = Scopes::new();
        let max = 5;
        let ids: Vec<_> = (0..max - 1)
            .map(|i| s.intern(&format!("s{i}"), max))
            .collect();
        assert_eq!(ids, [(0, false), (1, false), (2, false), (3, false)]);
        // Known names keep their ids once the table is full; new ones get the overflow scope.
        assert_eq!(s.intern("s2", max), (2, false));
        assert_eq!(s.intern("s9", max), (4, true));
        assert_eq!(s.intern("s10", max), (4, true));
        assert_eq!(s.names, ["s0", "s1", "s2", "s3", OVERFLOW_SCOPE]);
        // Asking for the overflow scope by name is not an overflow.
        assert_eq!(s.intern(OVERFLOW_SCOPE, max), (4, false));
    }

    #[test]
    fn long_names_are_cut_at_a_char_boundary() {
        let long = "é".repeat(MAX_SCOPE_NAME);
        let c = cut(&long);
        assert!(c.len() <= MAX_SCOPE_NAME && c.len() >= MAX_SCOPE_NAME - 1);
        assert!(long.starts_with(c));
        assert_eq!(cut("short"), "short");
    }
}

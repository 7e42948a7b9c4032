//! Instrumentation scopes: each name is interned once, when a tracer, meter or logger is made,
//! and records carry its small id; the writer looks the name up when it first renders the id.

use parking_lot::RwLock;
use std::collections::HashMap;

/// Names by id, and ids by name (O(1) interning however many scopes there are).
struct Scopes {
    names: Vec<&'static str>,
    ids: Option<HashMap<&'static str, u32>>,
}

static SCOPES: RwLock<Scopes> = RwLock::new(Scopes {
    names: Vec::new(),
    ids: None,
});

/// Interns a scope name and returns its id (creation time only, never on a hot path).
pub(crate) fn scope_id(name: &str) -> u32 {
    if let Some(&i) = SCOPES.read().ids.as_ref().and_then(|m| m.get(name)) {
        return i;
    }
    let mut w = SCOPES.write();
    let Scopes { names, ids } = &mut *w;
    let ids = ids.get_or_insert_with(HashMap::new);
    if let Some(&i) = ids.get(name) {
        return i;
    }
    let name: &'static str = Box::leak(name.to_string().into_boxed_str());
    let id = names.len() as u32;
    names.push(name);
    ids.insert(name, id);
    id
}

/// The name of a scope id.
pub(crate) fn scope_name(id: u32) -> Option<&'static str> {
    SCOPES.read().names.get(id as usize).copied()
}

//! Instrumentation scopes: each name is interned once, when a tracer, meter or logger is made,
//! and records carry its small id; the writer looks the name up when it first renders the id.

use parking_lot::RwLock;

static SCOPES: RwLock<Vec<&'static str>> = RwLock::new(Vec::new());

/// Interns a scope name and returns its id (creation time only, never on a hot path).
pub(crate) fn scope_id(name: &str) -> u32 {
    if let Some(i) = SCOPES.read().iter().position(|s| *s == name) {
        return i as u32;
    }
    let mut w = SCOPES.write();
    if let Some(i) = w.iter().position(|s| *s == name) {
        return i as u32;
    }
    w.push(Box::leak(name.to_string().into_boxed_str()));
    (w.len() - 1) as u32
}

/// The name of a scope id.
pub(crate) fn scope_name(id: u32) -> Option<&'static str> {
    SCOPES.read().get(id as usize).copied()
}

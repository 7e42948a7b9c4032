//! W3C Trace Context: the `traceparent` and `tracestate` headers that carry a trace from one
//! service to the next (W3C Recommendation, Trace Context Level 1).
//!
//! [`extract`] reads them from any header map through the small [`Extractor`] trait; an invalid
//! `traceparent` is ignored, with its `tracestate` (the trace restarts), as the recommendation
//! says. The extracted context is *remote*: a span started with it as parent
//! ([`SpanBuilder::parent`](crate::SpanBuilder::parent)) continues the caller's trace, and the
//! output marks its parent as remote. [`inject`] writes a context (and a trace state) into any
//! header map through [`Injector`]. No HTTP crate is needed: implement the two one-method traits
//! for your framework's header type, or use the implementations for `HashMap` and `Vec`.
//!
//! ```
//! use mini_telemetry::propagation;
//! use std::collections::HashMap;
//! let mut incoming = HashMap::new();
//! incoming.insert(
//!     "traceparent".to_string(),
//!     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_string(),
//! );
//! incoming.insert("tracestate".to_string(), "congo=t61rcWkgMzE".to_string());
//! let remote = propagation::extract(&incoming).expect("a valid traceparent");
//! assert!(remote.context.is_remote() && remote.context.is_sampled());
//!
//! let mut outgoing: HashMap<String, String> = HashMap::new();
//! propagation::inject(remote.context, Some(&remote.trace_state), &mut outgoing);
//! assert_eq!(
//!     outgoing["traceparent"],
//!     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
//! );
//! assert_eq!(outgoing["tracestate"], "congo=t61rcWkgMzE");
//! ```

use crate::model::context::SpanContext;
use std::collections::HashMap;

/// The header that carries the trace id, the parent span id and the trace flags.
pub const TRACEPARENT: &str = "traceparent";
/// The header that carries vendor-specific trace state.
pub const TRACESTATE: &str = "tracestate";

/// Reads headers by (lowercase) name.
pub trait Extractor {
    /// The value of header `name` (the first, when it was sent several times).
    fn get(&self, name: &str) -> Option<&str>;

    /// Every value of header `name`, in order: a `traceparent` sent twice is invalid, and
    /// `tracestate` values sent in several headers are one list. The default is
    /// [`get`](Extractor::get)'s value alone.
    fn get_all(&self, name: &str) -> Vec<&str> {
        self.get(name).into_iter().collect()
    }
}

/// Writes headers.
pub trait Injector {
    /// Sets header `name` (lowercase) to `value`, replacing an earlier value.
    fn set(&mut self, name: &str, value: String);
}

impl<S: std::hash::BuildHasher> Extractor for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

impl<S: std::hash::BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, name: &str, value: String) {
        self.insert(name.to_string(), value);
    }
}

/// A list of `(name, value)` pairs as a request carries them, names compared
/// case-insensitively, repeated headers kept.
impl Extractor for [(String, String)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn get_all(&self, name: &str) -> Vec<&str> {
        self.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl Injector for Vec<(String, String)> {
    fn set(&mut self, name: &str, value: String) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.push((name.to_string(), value));
    }
}

/// What [`extract`] found: the caller's span context and its trace state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The caller's span: remote, with the caller's trace flags.
    pub context: SpanContext,
    /// The caller's `tracestate` (empty when absent or invalid).
    pub trace_state: TraceState,
}

/// Reads `traceparent` and `tracestate`. `None` when `traceparent` is absent, sent twice or
/// invalid: then the trace restarts here, and `tracestate` is ignored too.
pub fn extract<E: Extractor + ?Sized>(carrier: &E) -> Option<Remote> {
    let parents = carrier.get_all(TRACEPARENT);
    let [parent] = parents[..] else {
        return None;
    };
    let context = parse_traceparent(parent)?;
    let states = carrier.get_all(TRACESTATE);
    let trace_state = match states.len() {
        0 => TraceState::default(),
        1 => TraceState::parse(states[0]).unwrap_or_default(),
        _ => TraceState::parse(&states.join(",")).unwrap_or_default(),
    };
    Some(Remote {
        context,
        trace_state,
    })
}

/// Writes `traceparent` for `context` (nothing for an invalid context) and, when it is not
/// empty, `tracestate`.
pub fn inject<I: Injector + ?Sized>(
    context: SpanContext,
    trace_state: Option<&TraceState>,
    carrier: &mut I,
) {
    if !context.is_valid() {
        return;
    }
    carrier.set(TRACEPARENT, format_traceparent(context));
    if let Some(ts) = trace_state.filter(|ts| !ts.is_empty()) {
        carrier.set(TRACESTATE, ts.header_value());
    }
}

/// [`inject`] with the span current on this thread.
pub fn inject_current<I: Injector + ?Sized>(trace_state: Option<&TraceState>, carrier: &mut I) {
    inject(SpanContext::current(), trace_state, carrier);
}

/// `00-{trace id}-{span id}-{flags}`, the version this crate writes.
pub fn format_traceparent(context: SpanContext) -> String {
    format!(
        "00-{:032x}-{:016x}-{:02x}",
        context.trace_id(),
        context.span_id(),
        context.trace_flags() & SpanContext::SAMPLED
    )
}

fn hex_lower(s: &str) -> Option<u128> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u128::from_str_radix(s, 16).ok()
}

/// Parses a `traceparent` value: a remote context, or `None` when the value breaks a rule of
/// the recommendation: version `ff` or not two lowercase hex digits; for version `00`, anything
/// but exactly `version-traceid-parentid-flags`; for a later version, those four fields not
/// followed by the end or a `-`; ids of the wrong length, with uppercase or non-hex digits, or
/// all zeros. Spaces and tabs around the value are ignored.
pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let v = value.trim_matches([' ', '\t']);
    let b = v.as_bytes();
    if !v.is_ascii() || b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let version = hex_lower(&v[0..2])? as u8;
    if version == 0xff {
        return None;
    }
    if version == 0 && b.len() != 55 {
        return None;
    }
    if b.len() > 55 && b[55] != b'-' {
        return None;
    }
    let trace_id = hex_lower(&v[3..35])?;
    let span_id = hex_lower(&v[36..52])? as u64;
    let flags = hex_lower(&v[53..55])? as u8;
    if trace_id == 0 || span_id == 0 {
        return None;
    }
    Some(SpanContext::new(trace_id, span_id).with_trace_flags(flags & SpanContext::SAMPLED))
}

/// A `tracestate`: up to 32 `key=value` members, each vendor's first, with the recommendation's
/// key and value grammar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceState {
    members: Vec<(String, String)>,
}

/// A trace state member that breaks the key or value grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidMember;

impl std::fmt::Display for InvalidMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid tracestate member")
    }
}

impl std::error::Error for InvalidMember {}

/// Most members a trace state holds.
const MAX_MEMBERS: usize = 32;

fn key_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/')
}

/// `lcalpha 0*255(keychar)`, or `(lcalpha / DIGIT) 0*240(keychar) "@" lcalpha 0*13(keychar)`.
fn valid_key(k: &str) -> bool {
    let b = k.as_bytes();
    match k.split_once('@') {
        None => {
            (1..=256).contains(&b.len())
                && b[0].is_ascii_lowercase()
                && b.iter().all(|&c| key_char(c))
        }
        Some((tenant, system)) => {
            let (t, s) = (tenant.as_bytes(), system.as_bytes());
            (1..=241).contains(&t.len())
                && (t[0].is_ascii_lowercase() || t[0].is_ascii_digit())
                && t.iter().all(|&c| key_char(c))
                && (1..=14).contains(&s.len())
                && s[0].is_ascii_lowercase()
                && s.iter().all(|&c| key_char(c))
        }
    }
}

/// `0*255(chr) nblk-chr`: printable ASCII but `,` and `=`, spaces inside, not at the end.
fn valid_value(v: &str) -> bool {
    let b = v.as_bytes();
    let nblk = |c: u8| (0x21..=0x7e).contains(&c) && c != b',' && c != b'=';
    (1..=256).contains(&b.len()) && b.iter().all(|&c| c == b' ' || nblk(c)) && nblk(b[b.len() - 1])
}

impl TraceState {
    /// Parses a `tracestate` value (several headers joined with commas). `None` when a member
    /// breaks the grammar, a key repeats, or there are more than 32 members: the whole value is
    /// then ignored. Empty members and spaces around members are allowed.
    pub fn parse(value: &str) -> Option<TraceState> {
        let mut members: Vec<(String, String)> = Vec::new();
        for m in value.split(',') {
            let m = m.trim_matches([' ', '\t']);
            if m.is_empty() {
                continue;
            }
            let (k, v) = m.split_once('=')?;
            if !valid_key(k) || !valid_value(v) || members.iter().any(|(x, _)| x == k) {
                return None;
            }
            members.push((k.to_string(), v.to_string()));
            if members.len() > MAX_MEMBERS {
                return None;
            }
        }
        Some(TraceState { members })
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value` as the first member (a vendor updating its entry moves it to the
    /// front); past 32 members the last one is dropped.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), InvalidMember> {
        if !valid_key(key) || !valid_value(value) {
            return Err(InvalidMember);
        }
        self.members.retain(|(k, _)| k != key);
        self.members.insert(0, (key.to_string(), value.to_string()));
        self.members.truncate(MAX_MEMBERS);
        Ok(())
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.members.retain(|(k, _)| k != key);
    }

    /// True when there is no member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// The header value: `key=value` members joined with commas.
    pub fn header_value(&self) -> String {
        let mut s = String::new();
        for (i, (k, v)) in self.members.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn traceparent_version_00() {
        let c = parse_traceparent(VALID).unwrap();
        assert_eq!(c.trace_id(), 0x0af7651916cd43dd8448eb211c80319c);
        assert_eq!(c.span_id(), 0xb7ad6b7169203331);
        assert!(c.is_sampled() && c.is_remote());
        assert!(
            !parse_traceparent(&VALID.replace("-01", "-00"))
                .unwrap()
                .is_sampled()
        );
        // Unknown flags are not carried on (only `sampled` is known in version 00).
        assert_eq!(
            parse_traceparent(&VALID.replace("-01", "-ff"))
                .unwrap()
                .trace_flags(),
            1
        );
        assert_eq!(format_traceparent(c), VALID);
        // Spaces and tabs around the value.
        assert!(parse_traceparent(&format!(" \t{VALID}\t ")).is_some());
    }

    #[test]
    fn traceparent_invalid_values_are_ignored() {
        let bad = [
            "",
            "00",
            // version ff, uppercase or non-hex version
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "0A-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            // uppercase hex in ids
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0A",
            // all-zero ids
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            // wrong lengths and separators
            "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
            "00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01",
            // version 00 with anything after the flags
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what",
            // a later version whose fields are not followed by '-'
            "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01what",
            // non-hex in ids
            "00-0af7651916cd43dd8448eb211c80319x-b7ad6b7169203331-01",
            // non-ASCII (must not be sliced inside a character)
            "00-0af7651916cd43dd8448eb211c8031é-b7ad6b7169203331-01",
            "é0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ];
        for b in bad {
            assert_eq!(parse_traceparent(b), None, "{b:?}");
        }
    }

    #[test]
    fn traceparent_later_versions_read_the_known_fields() {
        let v = "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-holds";
        let c = parse_traceparent(v).unwrap();
        assert_eq!(c.span_id(), 0xb7ad6b7169203331);
        assert!(
            parse_traceparent("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").is_some()
        );
        // What this crate writes is version 00.
        assert!(format_traceparent(c).starts_with("00-"));
    }

    #[test]
    fn tracestate_grammar_and_limits() {
        let ts = TraceState::parse("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,,").unwrap();
        assert_eq!(ts.len(), 2);
        assert_eq!(ts.get("congo"), Some("t61rcWkgMzE"));
        assert_eq!(ts.header_value(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
        // Multi-tenant keys, spaces inside values.
        assert!(TraceState::parse("tenant1@vendor=a b,1x@y=z").is_some());
        for bad in [
            "Rojo=1",               // uppercase key
            "1rojo=1",              // key starting with a digit (no tenant)
            "rojo",                 // no '='
            "rojo=",                // empty value
            "rojo=a,b",             // ',' splits: "b" has no '='
            "rojo=a=b",             // '=' in value
            "rojo=trailing ",       // (trimmed: valid) see below
            "rojo=1,rojo=2",        // duplicated key
            "t@toolongsystemid1=1", // system id over 14 chars
            "@v=1",                 // empty tenant
        ] {
            if bad == "rojo=trailing " {
                // Spaces around a member are OWS, not part of the value.
                assert!(TraceState::parse(bad).is_some());
                continue;
            }
            assert_eq!(TraceState::parse(bad), None, "{bad:?}");
        }
        let key256 = format!("a{}", "b".repeat(255));
        assert!(TraceState::parse(&format!("{key256}=1")).is_some());
        assert!(TraceState::parse(&format!("{key256}b=1")).is_none());
        let value256 = "v".repeat(256);
        assert!(TraceState::parse(&format!("k={value256}")).is_some());
        assert!(TraceState::parse(&format!("k={value256}v")).is_none());
        let n = |count: usize| {
            (0..count)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(TraceState::parse(&n(32)).unwrap().len(), 32);
        assert_eq!(TraceState::parse(&n(33)), None);
    }

    #[test]
    fn tracestate_updates_move_to_the_front_and_keep_32() {
        let mut ts = TraceState::parse("a=1,b=2").unwrap();
        ts.insert("b", "3").unwrap();
        assert_eq!(ts.header_value(), "b=3,a=1");
        assert_eq!(ts.insert("B", "x"), Err(InvalidMember));
        for i in 0..40 {
            ts.insert(&format!("k{i}"), "v").unwrap();
        }
        assert_eq!(ts.len(), 32);
        assert_eq!(ts.get("k39"), Some("v"));
        assert_eq!(ts.get("a"), None);
        ts.remove("k39");
        assert_eq!(ts.len(), 31);
    }

    #[test]
    fn extract_and_inject_through_carriers() {
        let headers: Vec<(String, String)> = vec![
            ("TraceParent".into(), VALID.into()),
            ("tracestate".into(), "congo=t61rcWkgMzE".into()),
        ];
        let r = extract(&headers[..]).unwrap();
        assert_eq!(r.trace_state.get("congo"), Some("t61rcWkgMzE"));
        // A traceparent sent twice is invalid; so is the tracestate then.
        let twice: Vec<(String, String)> = vec![
            ("traceparent".into(), VALID.into()),
            ("traceparent".into(), VALID.into()),
        ];
        assert_eq!(extract(&twice[..]), None);
        // tracestate in two headers is one list.
        let split: Vec<(String, String)> = vec![
            ("traceparent".into(), VALID.into()),
            ("tracestate".into(), "a=1".into()),
            ("Tracestate".into(), "b=2".into()),
        ];
        assert_eq!(
            extract(&split[..]).unwrap().trace_state.header_value(),
            "a=1,b=2"
        );
        // An invalid tracestate is dropped, the traceparent kept.
        let mut m = HashMap::new();
        m.insert("traceparent".to_string(), VALID.to_string());
        m.insert("tracestate".to_string(), "a=1,a=2".to_string());
        let r = extract(&m).unwrap();
        assert!(r.trace_state.is_empty());
        let mut out: Vec<(String, String)> = vec![("traceparent".into(), "old".into())];
        inject(r.context, Some(&r.trace_state), &mut out);
        assert_eq!(out, vec![("traceparent".to_string(), VALID.to_string())]);
        let mut none: HashMap<String, String> = HashMap::new();
        inject(SpanContext::NONE, None, &mut none);
        assert!(none.is_empty());
    }
}

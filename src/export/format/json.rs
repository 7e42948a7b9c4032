//! JSON Lines: one self-contained JSON object per record (the schema is in README.md).
//!
//! Lines share a prefix, `{"signal":…,"resource":{service.name, service.version,
//! deployment.environment.name},"scope":{"name":…}`, so each line can be routed alone; the full
//! resource (host, pid, SDK, `OTEL_RESOURCE_ATTRIBUTES`) is written once, as the first line.

use super::write::{self, Digits};
use super::{KINDS, LineFormat, PERCENTILE_NAMES, STATUS, num, scope_name, sub};
use crate::engine::record::Corrupt;
use crate::export::view::{Attr, LogView, PointData, PointView, SpanView};
use crate::model::level::Level;
use crate::model::resource::ResValue;

/// A callsite's severity, body and keys, already escaped and quoted: `line` is the severity's
/// `,"severity_number":…,"body":` for `severity` then, from `body_at`, `"…","attributes":{`;
/// each key after the first starts with its comma. (A callsite has one severity, but a record
/// with another is still rendered right, from `body_at` on.)
#[derive(Debug, Default)]
struct Prerendered {
    severity: u8,
    line: Vec<u8>,
    body_at: usize,
    keys: Vec<Vec<u8>>,
}

/// The signal a JSON line carries.
#[derive(Debug, Clone, Copy)]
enum Signal {
    Log = 0,
    Span = 1,
    Metric = 2,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Log => "log",
            Signal::Span => "span",
            Signal::Metric => "metric",
        }
    }
}

/// The JSON Lines format: fixed parts of lines rendered once and copied afterwards.
pub(crate) struct JsonLines {
    resource: Vec<(String, ResValue)>,
    /// JSON `"resource":{…}` with the three service keys.
    resource_short: Vec<u8>,
    /// Rendered scope per id: `"scope":{"name":…}`.
    scopes: Vec<Vec<u8>>,
    /// JSON line prefixes by scope id and signal.
    heads: Vec<[Vec<u8>; 3]>,
    /// JSON pieces of macro-log callsites, by callsite id.
    callsites: Vec<Option<Prerendered>>,
    /// Timestamps share their leading digits from one record to the next.
    digits: Digits,
    /// `,"severity_number":N,"severity_text":"…","body":` by severity number.
    severities: Vec<Vec<u8>>,
}

impl JsonLines {
    pub fn new(resource: Vec<(String, ResValue)>, _: super::Options) -> Self {
        let mut short = b"\"resource\":{".to_vec();
        for (i, (k, v)) in resource.iter().take(3).enumerate() {
            if i > 0 {
                short.push(b',');
            }
            write::string(&mut short, k);
            short.push(b':');
            res_value(&mut short, v);
        }
        short.push(b'}');
        JsonLines {
            resource,
            resource_short: short,
            scopes: Vec::new(),
            heads: Vec::new(),
            callsites: Vec::new(),
            digits: Digits::default(),
            severities: (0..=255u8)
                .map(|n| {
                    let mut v = b",\"severity_number\":".to_vec();
                    write::u64(&mut v, n as u64);
                    v.extend_from_slice(b",\"severity_text\":\"");
                    v.extend_from_slice(Level::from_severity(n).as_str().as_bytes());
                    v.extend_from_slice(b"\",\"body\":");
                    v
                })
                .collect(),
        }
    }

    /// The rendered scope `id`; an id that was never registered means a corrupt record.
    fn scope(&mut self, id: u32) -> Result<&[u8], Corrupt> {
        while self.scopes.len() <= id as usize {
            let name = scope_name(self.scopes.len() as u32)?;
            let mut v = Vec::new();
            v.extend_from_slice(b"\"scope\":{\"name\":");
            write::string(&mut v, name);
            v.push(b'}');
            self.scopes.push(v);
        }
        Ok(&self.scopes[id as usize])
    }

    /// Renders the JSON severity, body and keys of callsite `id` (on its first use).
    #[cold]
    #[inline(never)]
    fn new_callsite(&mut self, id: u32, severity: u8, body: &str, fields: &[&str]) {
        let i = id as usize;
        if self.callsites.len() <= i {
            self.callsites.resize_with(i + 1, || None);
        }
        let mut pre = Prerendered {
            severity,
            line: self.severities[severity as usize].clone(),
            ..Prerendered::default()
        };
        pre.body_at = pre.line.len();
        write::string(&mut pre.line, body);
        pre.line.extend_from_slice(b",\"attributes\":{");
        for (i, f) in fields.iter().enumerate() {
            let mut k = Vec::new();
            if i > 0 {
                k.push(b',');
            }
            write::string(&mut k, f);
            k.push(b':');
            pre.keys.push(k);
        }
        self.callsites[i] = Some(pre);
    }

    /// `{"signal":…,"resource":{…},"scope":{…},` and the signal's first key, for a signal and a
    /// scope: rendered once per pair and copied afterwards.
    #[inline(always)]
    fn head(&mut self, out: &mut Vec<u8>, signal: Signal, scope: u32) -> Result<(), Corrupt> {
        match self.heads.get(scope as usize).map(|h| &h[signal as usize]) {
            Some(head) if !head.is_empty() => out.extend_from_slice(head),
            _ => self.new_head(out, signal, scope)?,
        }
        Ok(())
    }

    /// [`head`](Self::head) the first time for a signal and a scope.
    #[cold]
    #[inline(never)]
    fn new_head(&mut self, out: &mut Vec<u8>, signal: Signal, scope: u32) -> Result<(), Corrupt> {
        let i = scope as usize;
        let scope_json = self.scope(scope)?.to_vec();
        if self.heads.len() <= i {
            self.heads.resize_with(i + 1, Default::default);
        }
        let head = &mut self.heads[i][signal as usize];
        head.extend_from_slice(b"{\"signal\":\"");
        head.extend_from_slice(signal.name().as_bytes());
        head.extend_from_slice(b"\",");
        head.extend_from_slice(&self.resource_short);
        head.push(b',');
        head.extend_from_slice(&scope_json);
        // The field every line of the signal starts with.
        head.extend_from_slice(match signal {
            Signal::Log => b",\"time_unix_nano\":".as_slice(),
            Signal::Span => b",\"name\":",
            Signal::Metric => b",\"name\":",
        });
        out.extend_from_slice(head);
        Ok(())
    }
}

impl LineFormat for JsonLines {
    fn resource(&mut self, out: &mut Vec<u8>, now: u64) {
        out.extend_from_slice(b"{\"signal\":\"resource\",\"time_unix_nano\":");
        write::u64(out, now);
        out.extend_from_slice(b",\"resource\":{");
        for (i, (k, v)) in self.resource.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write::string(out, k);
            out.push(b':');
            res_value(out, v);
        }
        out.extend_from_slice(b"}}\n");
    }

    fn log(&mut self, out: &mut Vec<u8>, v: &LogView<'_>) -> Result<(), Corrupt> {
        self.head(out, Signal::Log, v.scope)?;
        self.digits.put(out, v.time);
        match v.callsite {
            Some((id, fields, n)) => {
                if self.callsites.get(id as usize).is_none_or(|c| c.is_none()) {
                    self.new_callsite(id, v.severity, v.body, fields);
                }
                let Some(Some(pre)) = self.callsites.get(id as usize) else {
                    return Err(Corrupt);
                };
                if pre.severity == v.severity {
                    out.extend_from_slice(&pre.line);
                } else {
                    out.extend_from_slice(&self.severities[v.severity as usize]);
                    out.extend_from_slice(&pre.line[pre.body_at..]);
                }
                for (i, (k, val)) in v.attrs.iter().enumerate() {
                    match pre.keys.get(i).filter(|_| i < n) {
                        Some(key) => write::put_small(out, key),
                        None => write::member_key(out, i > 0, k),
                    }
                    write::value(out, val)?;
                }
                out.push(b'}');
            }
            None => {
                out.extend_from_slice(&self.severities[v.severity as usize]);
                write::string(out, v.body);
                out.extend_from_slice(b",\"attributes\":");
                attrs_json(out, v.attrs)?;
            }
        }
        match v.ctx {
            Some((t, s)) => {
                // ,"trace_id":"…","span_id":"…"}\n in one copy.
                const T: &[u8] = b",\"trace_id\":";
                const S: &[u8] = b",\"span_id\":";
                const N: usize = T.len() + 34 + S.len() + 18 + 2;
                write::put_in_place::<N>(
                    out,
                    #[inline(always)]
                    |buf| {
                        buf[..T.len()].copy_from_slice(T);
                        write::trace_id_into(&mut buf[T.len()..T.len() + 34], t);
                        let at = T.len() + 34;
                        buf[at..at + S.len()].copy_from_slice(S);
                        write::span_id_into(&mut buf[at + S.len()..at + S.len() + 18], s);
                        buf[N - 2..].copy_from_slice(b"}\n");
                        N
                    },
                );
            }
            None => out.extend_from_slice(b"}\n"),
        }
        Ok(())
    }

    fn span(&mut self, out: &mut Vec<u8>, v: &SpanView<'_>) -> Result<(), Corrupt> {
        let kind = KINDS.get(v.kind as usize).copied().unwrap_or("internal");
        let status = STATUS.get(v.status as usize).copied().unwrap_or("unset");
        self.head(out, Signal::Span, v.scope)?;
        write::string(out, v.name);
        // ,"kind":"…","trace_id":"…","span_id":"…","parent_span_id":"…" in one copy.
        {
            const T: &[u8] = b"\",\"trace_id\":";
            const S: &[u8] = b",\"span_id\":";
            const P: &[u8] = b",\"parent_span_id\":";
            const K: &[u8] = b",\"kind\":\"";
            const N: usize = K.len() + 8 + T.len() + 34 + S.len() + 18 + P.len() + 18;
            write::put_in_place::<N>(
                out,
                #[inline(always)]
                |buf| {
                    let mut at = 0;
                    let put = |buf: &mut [u8], at: &mut usize, b: &[u8]| {
                        buf[*at..*at + b.len()].copy_from_slice(b);
                        *at += b.len();
                    };
                    put(buf, &mut at, K);
                    put(buf, &mut at, kind.as_bytes());
                    put(buf, &mut at, T);
                    write::trace_id_into(&mut buf[at..at + 34], v.trace);
                    at += 34;
                    put(buf, &mut at, S);
                    write::span_id_into(&mut buf[at..at + 18], v.span);
                    at += 18;
                    put(buf, &mut at, P);
                    match v.parent {
                        Some(p) => {
                            write::span_id_into(&mut buf[at..at + 18], p);
                            at += 18;
                        }
                        None => {
                            buf[at..at + 2].copy_from_slice(b"\"\"");
                            at += 2;
                        }
                    }
                    at
                },
            );
        }
        if v.parent_remote {
            out.extend_from_slice(b",\"parent_span_is_remote\":true");
        }
        // ,"start_time_unix_nano":…,"end_time_unix_nano":…,"duration_ns":…, and the rest of
        // the common short span, in one reservation.
        let short = v.attrs.is_empty()
            && v.events.is_empty()
            && v.links.is_empty()
            && v.status == 0
            && v.dropped_attrs | v.dropped_events | v.dropped_links == 0;
        {
            const S: &[u8] = b",\"start_time_unix_nano\":";
            const E: &[u8] = b",\"end_time_unix_nano\":";
            const D: &[u8] = b",\"duration_ns\":";
            const REST: &[u8] =
                b",\"attributes\":{},\"events\":[],\"links\":[],\"status\":{\"code\":\"unset\"}}\n";
            const N: usize = S.len() + E.len() + D.len() + 3 * write::NUMBER_SLOT + REST.len();
            let digits = &mut self.digits;
            write::put_in_place::<N>(
                out,
                #[inline(always)]
                |buf| {
                    let mut at = 0;
                    let put = |buf: &mut [u8], at: &mut usize, b: &[u8]| {
                        buf[*at..*at + b.len()].copy_from_slice(b);
                        *at += b.len();
                    };
                    put(buf, &mut at, S);
                    at += digits.put_into(write::slot(buf, at), v.start);
                    put(buf, &mut at, E);
                    at += digits.put_into(write::slot(buf, at), v.end);
                    put(buf, &mut at, D);
                    at += write::u64_into(write::slot(buf, at), v.duration);
                    if short {
                        put(buf, &mut at, REST);
                    }
                    at
                },
            );
        }
        if short {
            return Ok(());
        }
        out.extend_from_slice(b",\"attributes\":");
        attrs_json(out, v.attrs)?;
        out.extend_from_slice(b",\"events\":[");
        for (i, e) in v.events.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"time_unix_nano\":");
            self.digits.put(out, e.time);
            out.extend_from_slice(b",\"name\":");
            write::string(out, e.name);
            out.extend_from_slice(b",\"attributes\":");
            attrs_json(out, sub(v.sub_attrs, &e.attrs)?)?;
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"links\":[");
        for (i, l) in v.links.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"trace_id\":");
            write::trace_id(out, l.trace);
            out.extend_from_slice(b",\"span_id\":");
            write::span_id(out, l.span);
            out.extend_from_slice(b",\"attributes\":");
            attrs_json(out, sub(v.sub_attrs, &l.attrs)?)?;
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"status\":{\"code\":\"");
        out.extend_from_slice(status.as_bytes());
        out.push(b'"');
        // OpenTelemetry keeps a description only with an error status.
        if v.status == 2 && !v.status_msg.is_empty() {
            out.extend_from_slice(b",\"message\":");
            write::string(out, v.status_msg);
        }
        out.push(b'}');
        for (name, n) in [
            ("dropped_attributes_count", v.dropped_attrs),
            ("dropped_events_count", v.dropped_events),
            ("dropped_links_count", v.dropped_links),
        ] {
            if n > 0 {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":");
                write::u64(out, n as u64);
            }
        }
        out.extend_from_slice(b"}\n");
        Ok(())
    }

    fn point(&mut self, out: &mut Vec<u8>, p: &PointView<'_>) -> Result<(), Corrupt> {
        self.head(out, Signal::Metric, p.scope)?;
        write::string(out, p.name);
        out.extend_from_slice(b",\"description\":");
        write::string(out, p.description);
        out.extend_from_slice(b",\"unit\":");
        write::string(out, p.unit);
        out.extend_from_slice(b",\"type\":");
        match &p.data {
            PointData::Sum { monotonic, .. } => {
                out.extend_from_slice(b"\"sum\",\"monotonic\":");
                write::bool(out, *monotonic);
                out.extend_from_slice(b",\"temporality\":\"cumulative\"");
            }
            PointData::Gauge(_) => out.extend_from_slice(b"\"gauge\""),
            PointData::Histogram(_) => {
                out.extend_from_slice(b"\"histogram\",\"temporality\":\"cumulative\"")
            }
        }
        out.extend_from_slice(b",\"start_time_unix_nano\":");
        self.digits.put(out, p.start);
        out.extend_from_slice(b",\"time_unix_nano\":");
        self.digits.put(out, p.time);
        out.extend_from_slice(b",\"attributes\":");
        attrs_json(out, p.attrs)?;
        match &p.data {
            PointData::Sum { value, .. } | PointData::Gauge(value) => {
                out.extend_from_slice(b",\"value\":");
                num(out, *value);
            }
            PointData::Histogram(h) => {
                out.extend_from_slice(b",\"count\":");
                write::u64(out, h.count);
                out.extend_from_slice(b",\"sum\":");
                write::f64(out, h.sum);
                if h.count > 0 {
                    out.extend_from_slice(b",\"min\":");
                    write::f64(out, h.min);
                    out.extend_from_slice(b",\"max\":");
                    write::f64(out, h.max);
                    out.extend_from_slice(b",\"percentiles\":{");
                    for (i, (n, v)) in PERCENTILE_NAMES.iter().zip(h.percentiles).enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        write::string(out, n);
                        out.push(b':');
                        write::f64(out, v);
                    }
                    out.push(b'}');
                }
                out.extend_from_slice(b",\"explicit_bounds\":[");
                for (i, b) in h.bounds.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write::f64(out, *b);
                }
                out.extend_from_slice(b"],\"bucket_counts\":[");
                for (i, c) in h.bucket_counts.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write::u64(out, *c);
                }
                out.push(b']');
            }
        }
        out.extend_from_slice(b"}\n");
        Ok(())
    }
}

fn res_value(out: &mut Vec<u8>, v: &ResValue) {
    match v {
        ResValue::Str(s) => write::string(out, s),
        ResValue::Int(i) => write::i64(out, *i),
    }
}

/// Writes a JSON object of attributes.
fn attrs_json(out: &mut Vec<u8>, attrs: &[Attr<'_>]) -> Result<(), Corrupt> {
    out.push(b'{');
    for (i, (k, v)) in attrs.iter().enumerate() {
        write::member_key(out, i > 0, k);
        write::value(out, v)?;
    }
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::record::DValue;
    use crate::engine::scope::scope_id;

    fn render(f: &mut JsonLines, v: &LogView<'_>) -> String {
        let mut out = Vec::new();
        f.log(&mut out, v).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_callsite_log_renders_as_the_general_path_whatever_its_severity() {
        let mut f = JsonLines::new(Vec::new(), super::super::Options::default());
        let attrs: Vec<Attr<'_>> = vec![
            ("status", DValue::I64(200)),
            ("a_key_longer_than_sixteen_bytes", DValue::Bool(true)),
        ];
        let fields: &'static [&'static str] = &["status", "a_key_longer_than_sixteen_bytes"];
        // The callsite's first record sets its pre-rendered severity; later records with
        // another severity must still carry their own.
        for severity in [9, 9, 17, 5, 9] {
            let view = |callsite| LogView {
                scope: scope_id("json.tests"),
                time: 1_764_000_000_123_456_789,
                severity,
                body: "request \"done\"",
                ctx: Some((0xabc, 0xdef)),
                attrs: &attrs,
                callsite,
            };
            let general = render(&mut f, &view(None));
            let fast = render(&mut f, &view(Some((7, fields, 2))));
            assert_eq!(fast, general);
            assert!(general.contains(&format!("\"severity_number\":{severity},")));
        }
    }
}

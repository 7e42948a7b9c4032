//! Turns decoded records and metric points into output lines, as JSON or as text.
//!
//! JSON lines share a prefix, `{"signal":…,"resource":{service.name, service.version,
//! deployment.environment.name},"scope":{"name":…}`, so each line can be routed alone; the full
//! resource (host, pid, SDK, `OTEL_RESOURCE_ATTRIBUTES`) is written once, as the first line.
//! The schema is documented in README.md.

use crate::config::Format;
use crate::json;
use crate::record::{Corrupt, DValue, Dec, tag};
use crate::resource::ResValue;
use std::ops::Range;

/// Attributes as decoded: key bytes and value, in order.
pub(crate) type Attr<'a> = (&'a str, DValue<'a>);

/// A log record ready to render.
pub(crate) struct LogView<'a> {
    pub scope: u32,
    pub time: u64,
    pub severity: u8,
    pub body: &'a str,
    pub ctx: Option<(u128, u64)>,
    pub attrs: &'a [Attr<'a>],
    /// For a macro log: its callsite id and field names. The JSON of the body and of the keys is
    /// then rendered once per callsite and copied afterwards.
    /// The first `n` attributes are the callsite's fields, in order.
    pub callsite: Option<(u32, &'static [&'static str], usize)>,
}

/// A callsite's body and keys, already escaped and quoted: `body` is `"…","attributes":{`,
/// and each key after the first starts with its comma.
#[derive(Debug, Default)]
struct Prerendered {
    body: Vec<u8>,
    keys: Vec<Vec<u8>>,
}

/// A span event: its attributes are `attrs[range]` of the span's event attributes.
pub(crate) struct EventView<'a> {
    pub time: u64,
    pub name: &'a str,
    pub attrs: Range<usize>,
}

/// A span link.
pub(crate) struct LinkView {
    pub trace: u128,
    pub span: u64,
    pub attrs: Range<usize>,
}

/// A finished span ready to render.
pub(crate) struct SpanView<'a> {
    pub scope: u32,
    pub name: &'a str,
    pub kind: u8,
    pub trace: u128,
    pub span: u64,
    pub parent: Option<u64>,
    pub start: u64,
    pub end: u64,
    pub duration: u64,
    pub attrs: &'a [Attr<'a>],
    pub events: &'a [EventView<'a>],
    pub links: &'a [LinkView],
    /// Attributes of events and links, indexed by their ranges.
    pub sub_attrs: &'a [Attr<'a>],
    pub status: u8,
    pub status_msg: &'a str,
    pub dropped_attrs: u32,
    pub dropped_events: u32,
    pub dropped_links: u32,
}

/// A number in a metric point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    U(u64),
    I(i64),
    F(f64),
}

/// A histogram's exported statistics.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct HistPoint {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// p50, p90, p99, p99.9.
    pub percentiles: [f64; 4],
    pub bounds: &'static [f64],
    pub bucket_counts: Vec<u64>,
}

/// What a metric point holds.
pub(crate) enum PointData<'a> {
    Sum { monotonic: bool, value: Num },
    Gauge(Num),
    Histogram(&'a HistPoint),
}

/// One metric data point ready to render.
pub(crate) struct PointView<'a> {
    pub scope: u32,
    pub name: &'a str,
    pub description: &'a str,
    pub unit: &'a str,
    pub start: u64,
    pub time: u64,
    pub attrs: &'a [Attr<'a>],
    pub data: PointData<'a>,
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

const KINDS: [&str; 5] = ["internal", "server", "client", "producer", "consumer"];
const STATUS: [&str; 3] = ["unset", "ok", "error"];
const PERCENTILE_NAMES: [&str; 4] = ["p50", "p90", "p99", "p99.9"];

/// The renderer: format, resource and a cache of rendered scope names.
pub(crate) struct Output {
    pub format: Format,
    resource: Vec<(String, ResValue)>,
    /// JSON `"resource":{…}` with the three service keys.
    resource_short: Vec<u8>,
    /// Rendered scope per id: JSON `"scope":{"name":…}`, or the escaped name for text.
    scopes: Vec<Vec<u8>>,
    /// JSON line prefixes by scope id and signal.
    heads: Vec<[Vec<u8>; 3]>,
    /// JSON pieces of macro-log callsites, by callsite id.
    callsites: Vec<Option<Prerendered>>,
    /// Timestamps share their leading digits from one record to the next.
    digits: json::Digits,
    /// `,"severity_number":N,"severity_text":"…","body":` by severity number.
    severities: Vec<Vec<u8>>,
}

impl Output {
    pub fn new(format: Format, resource: Vec<(String, ResValue)>) -> Self {
        let mut short = b"\"resource\":{".to_vec();
        for (i, (k, v)) in resource.iter().take(3).enumerate() {
            if i > 0 {
                short.push(b',');
            }
            json::string(&mut short, k);
            short.push(b':');
            res_value(&mut short, v);
        }
        short.push(b'}');
        Output {
            format,
            resource,
            resource_short: short,
            scopes: Vec::new(),
            heads: Vec::new(),
            callsites: Vec::new(),
            digits: json::Digits::default(),
            severities: (0..=255u8)
                .map(|n| {
                    let mut v = b",\"severity_number\":".to_vec();
                    json::u64(&mut v, n as u64);
                    v.extend_from_slice(b",\"severity_text\":\"");
                    v.extend_from_slice(crate::log::Level::from_severity(n).as_str().as_bytes());
                    v.extend_from_slice(b"\",\"body\":");
                    v
                })
                .collect(),
        }
    }

    /// The rendered scope `id`; an id that was never registered means a corrupt record.
    fn scope(&mut self, id: u32) -> Result<&[u8], Corrupt> {
        while self.scopes.len() <= id as usize {
            let i = self.scopes.len() as u32;
            let name = crate::global::scope_name(i).ok_or(Corrupt)?;
            let mut v = Vec::new();
            match self.format {
                Format::Json => {
                    v.extend_from_slice(b"\"scope\":{\"name\":");
                    json::string(&mut v, name);
                    v.push(b'}');
                }
                Format::Text => json::escaped(&mut v, name.as_bytes()),
            }
            self.scopes.push(v);
        }
        Ok(&self.scopes[id as usize])
    }

    /// The JSON body and keys of callsite `id`, rendered on first use.
    fn prerendered(&mut self, id: u32, body: &str, fields: &[&str]) -> &Prerendered {
        let i = id as usize;
        if self.callsites.len() <= i {
            self.callsites.resize_with(i + 1, || None);
        }
        self.callsites[i].get_or_insert_with(|| {
            let mut pre = Prerendered::default();
            json::string(&mut pre.body, body);
            pre.body.extend_from_slice(b",\"attributes\":{");
            for (i, f) in fields.iter().enumerate() {
                let mut k = Vec::new();
                if i > 0 {
                    k.push(b',');
                }
                json::string(&mut k, f);
                k.push(b':');
                pre.keys.push(k);
            }
            pre
        })
    }

    /// The first line: the full resource.
    pub fn resource_line(&mut self, out: &mut Vec<u8>, now: u64) {
        match self.format {
            Format::Json => {
                out.extend_from_slice(b"{\"signal\":\"resource\",\"time_unix_nano\":");
                json::u64(out, now);
                out.extend_from_slice(b",\"resource\":{");
                for (i, (k, v)) in self.resource.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json::string(out, k);
                    out.push(b':');
                    res_value(out, v);
                }
                out.extend_from_slice(b"}}\n");
            }
            Format::Text => {
                datetime(out, now);
                out.extend_from_slice(b" [RESOURCE]");
                for (k, v) in &self.resource {
                    out.push(b' ');
                    json::escaped(out, k.as_bytes());
                    out.push(b'=');
                    match v {
                        ResValue::Str(s) => text_str(out, s),
                        ResValue::Int(i) => json::i64(out, *i),
                    }
                }
                out.push(b'\n');
            }
        }
    }

    /// `{"signal":…,"resource":{…},"scope":{…},` and the signal's first key, for a signal and a
    /// scope: rendered once per pair and copied afterwards.
    fn json_head(&mut self, out: &mut Vec<u8>, signal: Signal, scope: u32) -> Result<(), Corrupt> {
        let i = scope as usize;
        if self.heads.len() <= i || self.heads[i][signal as usize].is_empty() {
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
        }
        out.extend_from_slice(&self.heads[i][signal as usize]);
        Ok(())
    }

    fn text_head(
        &mut self,
        out: &mut Vec<u8>,
        time: u64,
        tag: &str,
        scope: u32,
    ) -> Result<(), Corrupt> {
        datetime(out, time);
        out.extend_from_slice(b" [");
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(b"] ");
        let s = self.scope(scope)?;
        out.extend_from_slice(s);
        out.extend_from_slice(b" - ");
        Ok(())
    }

    pub fn log(&mut self, out: &mut Vec<u8>, v: &LogView<'_>) -> Result<(), Corrupt> {
        let level = crate::log::Level::from_severity(v.severity);
        match self.format {
            Format::Json => {
                self.json_head(out, Signal::Log, v.scope)?;
                self.digits.put(out, v.time);
                out.extend_from_slice(&self.severities[v.severity as usize]);
                match v.callsite {
                    Some((id, fields, n)) => {
                        let pre = self.prerendered(id, v.body, fields);
                        out.extend_from_slice(&pre.body);
                        for (i, (k, val)) in v.attrs.iter().enumerate() {
                            match pre.keys.get(i).filter(|_| i < n) {
                                Some(key) => out.extend_from_slice(key),
                                None => key_json(out, i, k),
                            }
                            value_json(out, val)?;
                        }
                        out.push(b'}');
                    }
                    None => {
                        json::string(out, v.body);
                        out.extend_from_slice(b",\"attributes\":");
                        attrs_json(out, v.attrs)?;
                    }
                }
                match v.ctx {
                    Some((t, s)) => {
                        // ,"trace_id":"…","span_id":"…"}\n in one copy.
                        const T: &[u8] = b",\"trace_id\":";
                        const S: &[u8] = b",\"span_id\":";
                        let mut buf = [0u8; T.len() + 34 + S.len() + 18 + 2];
                        buf[..T.len()].copy_from_slice(T);
                        json::trace_id_into(&mut buf[T.len()..T.len() + 34], t);
                        let at = T.len() + 34;
                        buf[at..at + S.len()].copy_from_slice(S);
                        json::span_id_into(&mut buf[at + S.len()..at + S.len() + 18], s);
                        let end = buf.len();
                        buf[end - 2..].copy_from_slice(b"}\n");
                        out.extend_from_slice(&buf);
                    }
                    None => out.extend_from_slice(b"}\n"),
                }
            }
            Format::Text => {
                self.text_head(out, v.time, level.as_str(), v.scope)?;
                if let Some((t, s)) = v.ctx {
                    out.extend_from_slice(b"trace_id=");
                    json::hex(out, &t.to_be_bytes());
                    out.extend_from_slice(b" span_id=");
                    json::hex(out, &s.to_be_bytes());
                    out.extend_from_slice(b" - ");
                }
                text_body(out, v.body);
                attrs_text(out, v.attrs)?;
                out.push(b'\n');
            }
        }
        Ok(())
    }

    pub fn span(&mut self, out: &mut Vec<u8>, v: &SpanView<'_>) -> Result<(), Corrupt> {
        let kind = KINDS.get(v.kind as usize).copied().unwrap_or("internal");
        let status = STATUS.get(v.status as usize).copied().unwrap_or("unset");
        match self.format {
            Format::Json => {
                self.json_head(out, Signal::Span, v.scope)?;
                json::string(out, v.name);
                // ,"kind":"…","trace_id":"…","span_id":"…","parent_span_id":"…" in one copy.
                {
                    const T: &[u8] = b"\",\"trace_id\":";
                    const S: &[u8] = b",\"span_id\":";
                    const P: &[u8] = b",\"parent_span_id\":";
                    const K: &[u8] = b",\"kind\":\"";
                    let mut buf = [0u8; K.len() + 8 + T.len() + 34 + S.len() + 18 + P.len() + 18];
                    let mut at = 0;
                    let put = |buf: &mut [u8], at: &mut usize, b: &[u8]| {
                        buf[*at..*at + b.len()].copy_from_slice(b);
                        *at += b.len();
                    };
                    put(&mut buf, &mut at, K);
                    put(&mut buf, &mut at, kind.as_bytes());
                    put(&mut buf, &mut at, T);
                    json::trace_id_into(&mut buf[at..at + 34], v.trace);
                    at += 34;
                    put(&mut buf, &mut at, S);
                    json::span_id_into(&mut buf[at..at + 18], v.span);
                    at += 18;
                    put(&mut buf, &mut at, P);
                    match v.parent {
                        Some(p) => {
                            json::span_id_into(&mut buf[at..at + 18], p);
                            at += 18;
                        }
                        None => {
                            buf[at..at + 2].copy_from_slice(b"\"\"");
                            at += 2;
                        }
                    }
                    json::put_prefix(out, &buf, at);
                }
                out.extend_from_slice(b",\"start_time_unix_nano\":");
                self.digits.put(out, v.start);
                out.extend_from_slice(b",\"end_time_unix_nano\":");
                self.digits.put(out, v.end);
                out.extend_from_slice(b",\"duration_ns\":");
                json::u64(out, v.duration);
                if v.attrs.is_empty()
                    && v.events.is_empty()
                    && v.links.is_empty()
                    && v.status == 0
                    && v.dropped_attrs | v.dropped_events | v.dropped_links == 0
                {
                    // The common short span.
                    out.extend_from_slice(
                        b",\"attributes\":{},\"events\":[],\"links\":[],\"status\":{\"code\":\"unset\"}}\n",
                    );
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
                    json::string(out, e.name);
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
                    json::trace_id(out, l.trace);
                    out.extend_from_slice(b",\"span_id\":");
                    json::span_id(out, l.span);
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
                    json::string(out, v.status_msg);
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
                        json::u64(out, n as u64);
                    }
                }
                out.extend_from_slice(b"}\n");
            }
            Format::Text => {
                self.text_head(out, v.end, "SPAN", v.scope)?;
                out.extend_from_slice(b"trace_id=");
                json::hex(out, &v.trace.to_be_bytes());
                out.extend_from_slice(b" span_id=");
                json::hex(out, &v.span.to_be_bytes());
                if let Some(p) = v.parent {
                    out.extend_from_slice(b" parent_span_id=");
                    json::hex(out, &p.to_be_bytes());
                }
                out.extend_from_slice(b" - ");
                text_body(out, v.name);
                out.extend_from_slice(b" kind=");
                out.extend_from_slice(kind.as_bytes());
                out.extend_from_slice(b" duration_ms=");
                json::f64(out, v.duration as f64 / 1e6);
                out.extend_from_slice(b" status=");
                out.extend_from_slice(status.as_bytes());
                // OpenTelemetry keeps a description only with an error status.
                if v.status == 2 && !v.status_msg.is_empty() {
                    out.extend_from_slice(b" status_message=");
                    text_str(out, v.status_msg);
                }
                attrs_text(out, v.attrs)?;
                for e in v.events {
                    out.extend_from_slice(b" event=");
                    text_str(out, e.name);
                    out.push(b'@');
                    datetime(out, e.time);
                    out.push(b'{');
                    let a = sub(v.sub_attrs, &e.attrs)?;
                    attrs_text_inner(out, a)?;
                    out.push(b'}');
                }
                for l in v.links {
                    out.extend_from_slice(b" link=");
                    json::hex(out, &l.trace.to_be_bytes());
                    out.push(b':');
                    json::hex(out, &l.span.to_be_bytes());
                }
                for (name, n) in [
                    ("dropped_attributes", v.dropped_attrs),
                    ("dropped_events", v.dropped_events),
                    ("dropped_links", v.dropped_links),
                ] {
                    if n > 0 {
                        out.push(b' ');
                        out.extend_from_slice(name.as_bytes());
                        out.push(b'=');
                        json::u64(out, n as u64);
                    }
                }
                out.push(b'\n');
            }
        }
        Ok(())
    }

    pub fn point(&mut self, out: &mut Vec<u8>, p: &PointView<'_>) -> Result<(), Corrupt> {
        match self.format {
            Format::Json => {
                self.json_head(out, Signal::Metric, p.scope)?;
                json::string(out, p.name);
                out.extend_from_slice(b",\"description\":");
                json::string(out, p.description);
                out.extend_from_slice(b",\"unit\":");
                json::string(out, p.unit);
                out.extend_from_slice(b",\"type\":");
                match &p.data {
                    PointData::Sum { monotonic, .. } => {
                        out.extend_from_slice(b"\"sum\",\"monotonic\":");
                        json::bool(out, *monotonic);
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
                        json::u64(out, h.count);
                        out.extend_from_slice(b",\"sum\":");
                        json::f64(out, h.sum);
                        if h.count > 0 {
                            out.extend_from_slice(b",\"min\":");
                            json::f64(out, h.min);
                            out.extend_from_slice(b",\"max\":");
                            json::f64(out, h.max);
                            out.extend_from_slice(b",\"percentiles\":{");
                            for (i, (n, v)) in
                                PERCENTILE_NAMES.iter().zip(h.percentiles).enumerate()
                            {
                                if i > 0 {
                                    out.push(b',');
                                }
                                json::string(out, n);
                                out.push(b':');
                                json::f64(out, v);
                            }
                            out.push(b'}');
                        }
                        out.extend_from_slice(b",\"explicit_bounds\":[");
                        for (i, b) in h.bounds.iter().enumerate() {
                            if i > 0 {
                                out.push(b',');
                            }
                            json::f64(out, *b);
                        }
                        out.extend_from_slice(b"],\"bucket_counts\":[");
                        for (i, c) in h.bucket_counts.iter().enumerate() {
                            if i > 0 {
                                out.push(b',');
                            }
                            json::u64(out, *c);
                        }
                        out.push(b']');
                    }
                }
                out.extend_from_slice(b"}\n");
            }
            Format::Text => {
                self.text_head(out, p.time, "METRIC", p.scope)?;
                text_body(out, p.name);
                out.push(b'{');
                attrs_text_inner(out, p.attrs)?;
                out.push(b'}');
                match &p.data {
                    PointData::Sum { value, .. } | PointData::Gauge(value) => {
                        out.extend_from_slice(b" value=");
                        num(out, *value);
                    }
                    PointData::Histogram(h) => {
                        out.extend_from_slice(b" count=");
                        json::u64(out, h.count);
                        out.extend_from_slice(b" sum=");
                        json::f64(out, h.sum);
                        if h.count > 0 {
                            for (n, v) in [("min", h.min), ("max", h.max)]
                                .into_iter()
                                .chain(PERCENTILE_NAMES.iter().copied().zip(h.percentiles))
                            {
                                out.push(b' ');
                                out.extend_from_slice(n.as_bytes());
                                out.push(b'=');
                                json::f64(out, v);
                            }
                        }
                    }
                }
                if !p.unit.is_empty() {
                    out.extend_from_slice(b" unit=");
                    text_str(out, p.unit);
                }
                out.push(b'\n');
            }
        }
        Ok(())
    }
}

fn sub<'s, 'a>(all: &'s [Attr<'a>], r: &Range<usize>) -> Result<&'s [Attr<'a>], Corrupt> {
    all.get(r.clone()).ok_or(Corrupt)
}

fn res_value(out: &mut Vec<u8>, v: &ResValue) {
    match v {
        ResValue::Str(s) => json::string(out, s),
        ResValue::Int(i) => json::i64(out, *i),
    }
}

fn num(out: &mut Vec<u8>, n: Num) {
    match n {
        Num::U(u) => json::u64(out, u),
        Num::I(i) => json::i64(out, i),
        Num::F(f) => json::f64(out, f),
    }
}

/// Writes a JSON object of attributes.
pub(crate) fn attrs_json(out: &mut Vec<u8>, attrs: &[Attr<'_>]) -> Result<(), Corrupt> {
    out.push(b'{');
    for (i, (k, v)) in attrs.iter().enumerate() {
        key_json(out, i, k);
        value_json(out, v)?;
    }
    out.push(b'}');
    Ok(())
}

/// The key of the `i`-th member of an object: `"key":`, after a comma unless it is the first.
#[inline]
fn key_json(out: &mut Vec<u8>, i: usize, k: &str) {
    if i > 0 {
        out.push(b',');
    }
    json::string(out, k);
    out.push(b':');
}

/// Writes one value as JSON.
#[inline]
pub(crate) fn value_json(out: &mut Vec<u8>, v: &DValue<'_>) -> Result<(), Corrupt> {
    match *v {
        DValue::Str(s) => json::string(out, s),
        DValue::Bool(b) => json::bool(out, b),
        DValue::I64(i) => json::i64(out, i),
        DValue::F64(f) => json::f64(out, f),
        DValue::Array(t, n, body) => {
            let mut d = Dec::new(body);
            out.push(b'[');
            for i in 0..n {
                if i > 0 {
                    out.push(b',');
                }
                match t {
                    tag::STR_ARRAY => json::string(out, d.str()?),
                    tag::BOOL_ARRAY => json::bool(out, d.u8()? != 0),
                    tag::I64_ARRAY => json::i64(out, d.u64()? as i64),
                    tag::F64_ARRAY => json::f64(out, f64::from_bits(d.u64()?)),
                    _ => return Err(Corrupt),
                }
            }
            out.push(b']');
        }
    }
    Ok(())
}

fn attrs_text(out: &mut Vec<u8>, attrs: &[Attr<'_>]) -> Result<(), Corrupt> {
    for (k, v) in attrs {
        out.push(b' ');
        text_kv(out, k, v)?;
    }
    Ok(())
}

fn attrs_text_inner(out: &mut Vec<u8>, attrs: &[Attr<'_>]) -> Result<(), Corrupt> {
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        text_kv(out, k, v)?;
    }
    Ok(())
}

fn text_kv(out: &mut Vec<u8>, k: &str, v: &DValue<'_>) -> Result<(), Corrupt> {
    text_body(out, k);
    out.push(b'=');
    match v {
        DValue::Str(s) => text_str(out, s),
        other => value_json(out, other)?,
    }
    Ok(())
}

/// Free text (a message, a name) in a text line: escaped so that no control character, and so no
/// line break, reaches the output.
fn text_body(out: &mut Vec<u8>, s: &str) {
    json::escaped(out, s.as_bytes());
}

/// A string value in a text line: bare when it is a simple word, else JSON-quoted.
fn text_str(out: &mut Vec<u8>, s: &str) {
    let simple = !s.is_empty()
        && s.bytes()
            .all(|c| c > b' ' && !matches!(c, b'"' | b'=' | b'\\' | 0x7f | b'{' | b'}'));
    if simple {
        text_body(out, s);
    } else {
        json::string(out, s);
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm` (UTC) from Unix nanoseconds.
pub(crate) fn datetime(out: &mut Vec<u8>, unix_nanos: u64) {
    let secs = unix_nanos / 1_000_000_000;
    let millis = (unix_nanos / 1_000_000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    let two = |out: &mut Vec<u8>, v: u64| {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    };
    json::i64(out, y);
    out.push(b'-');
    two(out, m as u64);
    out.push(b'-');
    two(out, d as u64);
    out.push(b' ');
    two(out, rem / 3600);
    out.push(b':');
    two(out, rem / 60 % 60);
    out.push(b':');
    two(out, rem % 60);
    out.push(b'.');
    out.push(b'0' + (millis / 100) as u8);
    two(out, millis % 100);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(n: u64) -> String {
        let mut v = Vec::new();
        datetime(&mut v, n);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn datetimes() {
        assert_eq!(dt(0), "1970-01-01 00:00:00.000");
        // 2023-03-27 14:23:45.123 UTC
        assert_eq!(dt(1_679_927_025_123_000_000), "2023-03-27 14:23:45.123");
        assert_eq!(dt(951_782_400_000_000_000), "2000-02-29 00:00:00.000");
    }

    #[test]
    fn text_values_cannot_forge_lines() {
        let mut v = Vec::new();
        text_kv(&mut v, "k\n", &DValue::Str("a\nb \"c\"")).unwrap();
        text_body(&mut v, "x\r\ny");
        let s = String::from_utf8(v).unwrap();
        assert!(!s.contains('\n') && !s.contains('\r'), "{s}");
        assert_eq!(s, "k\\n=\"a\\nb \\\"c\\\"\"x\\r\\ny");
    }
}

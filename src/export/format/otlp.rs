//! OTLP/JSON: each line is one export request (`ExportTraceServiceRequest`,
//! `ExportLogsServiceRequest` or `ExportMetricsServiceRequest`, the JSON of `TracesData`,
//! `LogsData`, `MetricsData`), as the OpenTelemetry file exporter writes them, so that the
//! Collector's `otlpjsonfile` receiver and other OpenTelemetry tools read the output as it is.
//!
//! Records are batched per signal and grouped by scope under one resource, and a batch becomes a
//! line when the writer finishes a pass ([`LineFormat::finish`]) or when it passes
//! [`MAX_BATCH`] bytes. The encoding is the protobuf JSON mapping with OTLP's exceptions:
//! lowerCamelCase keys, trace and span ids as lowercase hex, 64-bit integers as decimal strings,
//! enums as numbers, attribute values as `AnyValue` objects, NaN and infinities as the strings
//! `"NaN"`, `"Infinity"`, `"-Infinity"`. Fields at their default value are left out.
//!
//! What OTLP has no field for: a histogram's percentiles (the explicit buckets, count, sum, min
//! and max are written; the JSON Lines format has the percentiles).

use super::write::{self, Digits};
use super::{LineFormat, scope_name, sub};
use crate::engine::metrics::histogram::EXP_SCALE;
use crate::engine::record::{Corrupt, DValue, Dec, tag};
use crate::export::view::{Attr, LogView, Num, PointData, PointView, SpanView};
use crate::model::level::Level;
use crate::model::resource::ResValue;

/// A batch becomes a line once it holds this many bytes: the writer's output chunk, so that a
/// full line is written at once and the output is empty when the next one is made, and the
/// line's buffer is handed over instead of copied (+6 % logs/s against 64 KiB lines that were
/// copied three times in four). Lines stay far under OTLP's limits, and the batch being filled
/// in cache (1 MiB batches made the writer ~8 % slower on logs).
const MAX_BATCH: usize = 256 * 1024;

/// `,"flags":…,"name":` for a span whose parent is local or absent, and for one whose parent
/// is remote: the sampled flag, and whether the parent is remote (known, so bit 8 is set).
const FLAGS_LOCAL: &[u8] = b",\"flags\":257,\"name\":";
const FLAGS_REMOTE: &[u8] = b",\"flags\":769,\"name\":";
const _: () = {
    // `SpanFlags`: the W3C flags (sampled) and whether the parent's remoteness is known (bit 8)
    // and true (bit 9).
    const SAMPLED: u32 = 0x01;
    const HAS_IS_REMOTE: u32 = 0x100;
    const IS_REMOTE: u32 = 0x200;
    assert!(SAMPLED | HAS_IS_REMOTE == 257);
    assert!(SAMPLED | HAS_IS_REMOTE | IS_REMOTE == 769);
};

/// `,"kind":N,"startTimeUnixNano":` by the record's kind (OTLP's `SpanKind` is one more).
const KIND_START: [&[u8]; 5] = [
    b",\"kind\":1,\"startTimeUnixNano\":",
    b",\"kind\":2,\"startTimeUnixNano\":",
    b",\"kind\":3,\"startTimeUnixNano\":",
    b",\"kind\":4,\"startTimeUnixNano\":",
    b",\"kind\":5,\"startTimeUnixNano\":",
];

/// The three signals, each a kind of export request.
#[derive(Clone, Copy)]
enum Signal {
    Traces = 0,
    Logs = 1,
    Metrics = 2,
}

/// `{"resourceX":[{"resource":`, `,"scopeX":[`, and the key of a scope's records.
const FRAMES: [(&str, &str, &str); 3] = [
    (
        "{\"resourceSpans\":[{\"resource\":",
        ",\"scopeSpans\":[",
        "\"spans\":[",
    ),
    (
        "{\"resourceLogs\":[{\"resource\":",
        ",\"scopeLogs\":[",
        "\"logRecords\":[",
    ),
    (
        "{\"resourceMetrics\":[{\"resource\":",
        ",\"scopeMetrics\":[",
        "\"metrics\":[",
    ),
];

/// One signal's records since its last line, by scope in order of first appearance. The first
/// scope's buffer starts with the line's head (resource and all), so that it becomes the line
/// itself: handed to the writer's output without a copy when that is empty.
#[derive(Default)]
struct Batch {
    /// (scope id, the scope's records: JSON objects separated by commas).
    scopes: Vec<(u32, Vec<u8>)>,
    /// Position + 1 in `scopes` by scope id (0: none yet).
    index: Vec<u32>,
    bytes: usize,
    /// Where the records start in the first scope's buffer, after the line's head.
    head: usize,
    /// The buffer the next batch's first scope starts in (the last line's, or the output's).
    spare: Vec<u8>,
}

impl Batch {
    /// The buffer of `scope`'s records, with a comma appended if it has some already. A
    /// batch's first scope starts its buffer with `head_of` (the line's head).
    #[inline]
    fn records(&mut self, scope: u32, head_of: impl FnOnce(&mut Vec<u8>)) -> &mut Vec<u8> {
        let i = scope as usize;
        if self.index.len() <= i {
            self.index.resize(i + 1, 0);
        }
        if self.index[i] == 0 {
            let mut buf = Vec::new();
            if self.scopes.is_empty() {
                buf = std::mem::take(&mut self.spare);
                buf.clear();
                head_of(&mut buf);
                self.head = buf.len();
            }
            self.scopes.push((scope, buf));
            self.index[i] = self.scopes.len() as u32;
        }
        let k = self.index[i] as usize - 1;
        let start = if k == 0 { self.head } else { 0 };
        let buf = &mut self.scopes[k].1;
        if buf.len() > start {
            buf.push(b',');
        }
        buf
    }
}

/// The metric whose points are being collected (the points of one instrument come together).
struct OpenMetric {
    scope: u32,
    name: String,
    /// 0 sum, 1 gauge, 2 histogram; with `monotonic` for sums.
    shape: (u8, bool),
    /// `{"name":…,"unit":…,"sum":{"dataPoints":[` and the points so far.
    json: Vec<u8>,
    points: usize,
}

/// A macro log's fixed parts, rendered once per callsite: the body and, per field, the start of
/// its attribute up to the value.
struct Callsite {
    /// `,"severityNumber":…,"severityText":…,"body":{"stringValue":…}` (a callsite has one
    /// level).
    body: Vec<u8>,
    /// The body, then `,"attributes":[{"key":…,"value":` for the first field: what comes
    /// before the first value, in one copy.
    open: Vec<u8>,
    /// `},{"key":…,"value":` for each field (the first one's is not used): from the end of a
    /// value to the next one.
    keys: Vec<Vec<u8>>,
}

/// The batches of the three signals and what their lines share: apart from the per-callsite
/// parts of [`OtlpLines`], so that a record renders into a batch while reading those (no move
/// out of the format and back per record).
struct Lines {
    /// `{"attributes":[…]}`.
    resource: Vec<u8>,
    /// `{"name":…}` by scope id.
    scopes: Vec<Vec<u8>>,
    batches: [Batch; 3],
    /// Timestamps share their leading digits from one record to the next.
    digits: Digits,
}

/// The OTLP/JSON format.
pub(crate) struct OtlpLines {
    lines: Lines,
    metric: Option<OpenMetric>,
    /// Metric objects are assembled here before they join the batch.
    scratch: Vec<u8>,
    /// Histograms as exponential histograms.
    exponential: bool,
    /// By callsite id.
    callsites: Vec<Option<Callsite>>,
    /// `,"severityNumber":N,"severityText":"…",` by severity number.
    severities: Vec<Vec<u8>>,
}

impl OtlpLines {
    pub fn new(resource: Vec<(String, ResValue)>, options: super::Options) -> Self {
        let mut r = b"{\"attributes\":[".to_vec();
        for (i, (k, v)) in resource.iter().enumerate() {
            if i > 0 {
                r.push(b',');
            }
            r.extend_from_slice(b"{\"key\":");
            write::string(&mut r, k);
            r.extend_from_slice(b",\"value\":");
            match v {
                ResValue::Str(s) => {
                    r.extend_from_slice(b"{\"stringValue\":");
                    write::string(&mut r, s);
                }
                ResValue::Int(n) => {
                    r.extend_from_slice(b"{\"intValue\":\"");
                    write::i64(&mut r, *n);
                    r.push(b'"');
                }
            }
            r.extend_from_slice(b"}}");
        }
        r.extend_from_slice(b"]}");
        OtlpLines {
            lines: Lines {
                resource: r,
                scopes: Vec::new(),
                batches: Default::default(),
                digits: Digits::default(),
            },
            metric: None,
            scratch: Vec::new(),
            exponential: options.exponential_histograms,
            callsites: Vec::new(),
            severities: (0..=255u8)
                .map(|n| {
                    let mut v = b",\"severityNumber\":".to_vec();
                    write::u64(&mut v, n as u64);
                    v.extend_from_slice(b",\"severityText\":\"");
                    v.extend_from_slice(Level::from_severity(n).as_str().as_bytes());
                    v.extend_from_slice(b"\",");
                    v
                })
                .collect(),
        }
    }

    /// The fixed parts of callsite `id`, rendered on first use.
    fn callsite(&mut self, id: u32, severity: u8, body: &str, fields: &[&str]) -> &Callsite {
        let i = id as usize;
        if self.callsites.len() <= i {
            self.callsites.resize_with(i + 1, || None);
        }
        let sev = &self.severities[severity as usize];
        self.callsites[i].get_or_insert_with(|| {
            let mut b = sev.clone();
            b.extend_from_slice(b"\"body\":{\"stringValue\":");
            write::string(&mut b, body);
            b.push(b'}');
            let keys: Vec<Vec<u8>> = fields
                .iter()
                .map(|f| {
                    let mut k = b"},{\"key\":".to_vec();
                    write::string(&mut k, f);
                    k.extend_from_slice(b",\"value\":");
                    k
                })
                .collect();
            let mut open = b.clone();
            if let Some(first) = keys.first() {
                open.extend_from_slice(b",\"attributes\":[");
                open.extend_from_slice(&first[2..]);
            }
            Callsite {
                body: b,
                open,
                keys,
            }
        })
    }
}

impl Lines {
    /// Checks that scope `id` exists (rendering it on first use).
    fn scope(&mut self, id: u32) -> Result<(), Corrupt> {
        while self.scopes.len() <= id as usize {
            let name = scope_name(self.scopes.len() as u32)?;
            let mut v = b"{\"name\":".to_vec();
            write::string(&mut v, name);
            v.push(b'}');
            self.scopes.push(v);
        }
        Ok(())
    }

    /// Renders one record straight into its scope's part of the batch with `render`; a record
    /// that fails is cut off again. The batch becomes a line in `out` once it has grown past
    /// [`MAX_BATCH`].
    fn record<F>(
        &mut self,
        signal: Signal,
        scope: u32,
        out: &mut Vec<u8>,
        render: F,
    ) -> Result<(), Corrupt>
    where
        F: FnOnce(&mut Vec<u8>, &mut Digits) -> Result<(), Corrupt>,
    {
        let b = &mut self.batches[signal as usize];
        let buf = b.records(scope, |buf| {
            head_of(&self.resource, &self.scopes, signal, scope, buf)
        });
        let mark = buf.len();
        let r = render(buf, &mut self.digits);
        let added = buf.len() - mark;
        if r.is_err() {
            // Back to before the record, its separating comma included.
            let cut = if mark > 0 && buf[mark - 1] == b',' {
                mark - 1
            } else {
                mark
            };
            buf.truncate(cut);
            return r;
        }
        b.bytes += added;
        if b.bytes >= MAX_BATCH {
            self.line(signal, out);
        }
        Ok(())
    }

    /// Writes `signal`'s batch as one line, and empties it.
    fn line(&mut self, signal: Signal, out: &mut Vec<u8>) {
        let b = &mut self.batches[signal as usize];
        if b.scopes.is_empty() {
            return;
        }
        let (head, scopes_key, records_key) = FRAMES[signal as usize];
        for &(scope, _) in &b.scopes {
            b.index[scope as usize] = 0;
        }
        b.bytes = 0;
        let mut rest = b.scopes.drain(..);
        let Some((_, mut line)) = rest.next() else {
            return;
        };
        // The first scope's buffer is the line so far; a scope whose only record failed is
        // left out.
        let mut any = line.len() > b.head;
        if any {
            line.extend_from_slice(b"]}");
        } else {
            line.truncate(head.len() + self.resource.len() + scopes_key.len());
        }
        for (scope, records) in rest {
            if records.is_empty() {
                continue;
            }
            if any {
                line.push(b',');
            }
            any = true;
            line.extend_from_slice(b"{\"scope\":");
            line.extend_from_slice(&self.scopes[scope as usize]);
            line.push(b',');
            line.extend_from_slice(records_key.as_bytes());
            line.extend_from_slice(&records);
            line.extend_from_slice(b"]}");
        }
        if any {
            line.extend_from_slice(b"]}]}\n");
            if out.is_empty() {
                std::mem::swap(out, &mut line);
            } else {
                out.extend_from_slice(&line);
            }
        }
        b.spare = line;
    }
}

/// A line's head up to its first record of `scope`: the request, the resource, and the scope.
fn head_of(resource: &[u8], scopes: &[Vec<u8>], signal: Signal, scope: u32, buf: &mut Vec<u8>) {
    let (head, scopes_key, records_key) = FRAMES[signal as usize];
    buf.extend_from_slice(head.as_bytes());
    buf.extend_from_slice(resource);
    buf.extend_from_slice(scopes_key.as_bytes());
    buf.extend_from_slice(b"{\"scope\":");
    buf.extend_from_slice(&scopes[scope as usize]);
    buf.push(b',');
    buf.extend_from_slice(records_key.as_bytes());
}

impl OtlpLines {
    /// Moves the metric object in `scratch` into the metrics batch.
    fn commit_metric(&mut self, scope: u32, out: &mut Vec<u8>) {
        let Lines {
            resource,
            scopes,
            batches,
            ..
        } = &mut self.lines;
        let b = &mut batches[Signal::Metrics as usize];
        b.bytes += self.scratch.len() + 1;
        b.records(scope, |buf| {
            head_of(resource, scopes, Signal::Metrics, scope, buf)
        })
        .extend_from_slice(&self.scratch);
        if b.bytes >= MAX_BATCH {
            self.lines.line(Signal::Metrics, out);
        }
    }

    /// Closes the metric being collected into the metrics batch.
    fn close_metric(&mut self, out: &mut Vec<u8>) {
        let Some(m) = self.metric.take() else { return };
        self.scratch.clear();
        self.scratch.extend_from_slice(&m.json);
        self.scratch.push(b']');
        match m.shape {
            (0, monotonic) => {
                // AGGREGATION_TEMPORALITY_CUMULATIVE
                self.scratch
                    .extend_from_slice(b",\"aggregationTemporality\":2");
                if monotonic {
                    self.scratch.extend_from_slice(b",\"isMonotonic\":true");
                }
            }
            (2 | 3, _) => self
                .scratch
                .extend_from_slice(b",\"aggregationTemporality\":2"),
            _ => {}
        }
        self.scratch.extend_from_slice(b"}}");
        self.commit_metric(m.scope, out);
    }
}

/// `"traceId":"…","spanId":"…"` after `LEAD` in one copy: `,` for a log's span, `{` to open a
/// span or a link.
#[inline]
fn ids<const LEAD: u8>(out: &mut Vec<u8>, trace: u128, span: u64) {
    const T: &[u8] = b"?\"traceId\":";
    const S: &[u8] = b",\"spanId\":";
    const N: usize = T.len() + 34 + S.len() + 18;
    write::put_in_place::<N>(
        out,
        #[inline(always)]
        |buf| {
            buf[..T.len()].copy_from_slice(T);
            buf[0] = LEAD;
            write::trace_id_into(&mut buf[T.len()..T.len() + 34], trace);
            let at = T.len() + 34;
            buf[at..at + S.len()].copy_from_slice(S);
            write::span_id_into(&mut buf[at + S.len()..], span);
            N
        },
    );
}

/// `{"intValue":"…"}`, written straight into `out` (built on the stack and copied, its narrow
/// stores stalled the copy's wide loads).
#[inline]
fn int_value(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(b"{\"intValue\":\"");
    write::i64(out, i);
    out.extend_from_slice(b"\"}");
}

/// A 64-bit integer as OTLP/JSON writes it: a decimal string.
fn u64_str(out: &mut Vec<u8>, v: u64) {
    out.push(b'"');
    write::u64(out, v);
    out.push(b'"');
}

/// A time in Unix nanoseconds, as a string, under `key` (which starts with its comma).
#[inline(always)]
fn time(out: &mut Vec<u8>, digits: &mut Digits, key: &[u8], v: u64) {
    out.extend_from_slice(key);
    out.push(b'"');
    digits.put(out, v);
    out.push(b'"');
}

/// An `AnyValue` object.
fn any_value(out: &mut Vec<u8>, v: &DValue<'_>) -> Result<(), Corrupt> {
    match *v {
        DValue::Str(s) => {
            out.extend_from_slice(b"{\"stringValue\":");
            write::string(out, s);
        }
        DValue::Bool(b) => {
            out.extend_from_slice(if b {
                b"{\"boolValue\":true}".as_slice()
            } else {
                b"{\"boolValue\":false}"
            });
            return Ok(());
        }
        DValue::I64(i) => {
            // (Closed here, not below.)
            int_value(out, i);
            return Ok(());
        }
        DValue::F64(f) => {
            out.extend_from_slice(b"{\"doubleValue\":");
            write::f64(out, f);
        }
        DValue::Array(t, n, body) => {
            let mut d = Dec::new(body);
            out.extend_from_slice(b"{\"arrayValue\":{\"values\":[");
            for i in 0..n {
                if i > 0 {
                    out.push(b',');
                }
                let e = match t {
                    tag::STR_ARRAY => DValue::Str(d.str()?),
                    tag::BOOL_ARRAY => DValue::Bool(d.u8()? != 0),
                    tag::I64_ARRAY => DValue::I64(d.u64()? as i64),
                    tag::F64_ARRAY => DValue::F64(f64::from_bits(d.u64()?)),
                    _ => return Err(Corrupt),
                };
                any_value(out, &e)?;
            }
            out.extend_from_slice(b"]}");
        }
    }
    out.push(b'}');
    Ok(())
}

/// `,"attributes":[{"key":…,"value":{…}},…]`, nothing when there are none.
fn attributes(out: &mut Vec<u8>, attrs: &[Attr<'_>]) -> Result<(), Corrupt> {
    if attrs.is_empty() {
        return Ok(());
    }
    out.extend_from_slice(b",\"attributes\":[");
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"key\":");
        write::string(out, k);
        out.extend_from_slice(b",\"value\":");
        any_value(out, v)?;
        out.push(b'}');
    }
    out.push(b']');
    Ok(())
}

/// `key` (which opens the array), then one object per item: `each` writes its opening brace
/// and its fields, this the closing one; nothing for no items.
fn objects<T>(
    out: &mut Vec<u8>,
    key: &[u8],
    items: &[T],
    mut each: impl FnMut(&mut Vec<u8>, &T) -> Result<(), Corrupt>,
) -> Result<(), Corrupt> {
    if items.is_empty() {
        return Ok(());
    }
    out.extend_from_slice(key);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, item)?;
        out.push(b'}');
    }
    out.push(b']');
    Ok(())
}

/// `,"key":n` unless `n` is 0 (the default, left out).
fn count(out: &mut Vec<u8>, key: &[u8], n: u32) {
    if n > 0 {
        out.extend_from_slice(key);
        write::u64(out, n as u64);
    }
}

/// A metric number as a data point's value field.
fn point_value(out: &mut Vec<u8>, n: Num) {
    match n {
        Num::U(u) => {
            // asInt is an int64: a sum past i64::MAX is written as a double.
            if let Ok(i) = i64::try_from(u) {
                out.extend_from_slice(b",\"asInt\":\"");
                write::i64(out, i);
                out.push(b'"');
            } else {
                out.extend_from_slice(b",\"asDouble\":");
                write::f64(out, u as f64);
            }
        }
        Num::I(i) => {
            out.extend_from_slice(b",\"asInt\":\"");
            write::i64(out, i);
            out.push(b'"');
        }
        Num::F(f) => {
            out.extend_from_slice(b",\"asDouble\":");
            write::f64(out, f);
        }
    }
}

impl LineFormat for OtlpLines {
    /// No line of its own: every line carries the resource.
    fn resource(&mut self, _out: &mut Vec<u8>, _now: u64) {}

    fn log(&mut self, out: &mut Vec<u8>, v: &LogView<'_>) -> Result<(), Corrupt> {
        self.lines.scope(v.scope)?;
        // (No observedTimeUnixNano: the time is taken where the record is made.)
        let severity = v.severity;
        if let Some((id, fields, _)) = v.callsite {
            self.callsite(id, severity, v.body, fields);
        }
        // Borrowed beside the batches, not moved out and back.
        let callsite = v.callsite.and_then(|(id, _, n)| {
            let c = self.callsites.get(id as usize)?.as_ref()?;
            Some((c, n))
        });
        let sev = &self.severities[severity as usize];
        self.lines.record(Signal::Logs, v.scope, out, |o, digits| {
            time(o, digits, b"{\"timeUnixNano\":", v.time);
            match &callsite {
                // The callsite's fields first: the text between two values is one copy.
                Some((c, n)) if *n > 0 && !v.attrs.is_empty() => {
                    o.extend_from_slice(&c.open);
                    any_value(o, &v.attrs[0].1)?;
                    for (i, (k, val)) in v.attrs.iter().enumerate().skip(1) {
                        match c.keys.get(i).filter(|_| i < *n) {
                            Some(key) => o.extend_from_slice(key),
                            None => {
                                o.extend_from_slice(b"},{\"key\":");
                                write::string(o, k);
                                o.extend_from_slice(b",\"value\":");
                            }
                        }
                        any_value(o, val)?;
                    }
                    o.extend_from_slice(b"}]");
                }
                Some((c, _)) => {
                    o.extend_from_slice(&c.body);
                    attributes(o, v.attrs)?;
                }
                None => {
                    o.extend_from_slice(sev);
                    o.extend_from_slice(b"\"body\":{\"stringValue\":");
                    write::string(o, v.body);
                    o.push(b'}');
                    attributes(o, v.attrs)?;
                }
            }
            if let Some((t, s)) = v.ctx {
                ids::<b','>(o, t, s);
            }
            o.push(b'}');
            Ok(())
        })
    }

    fn span(&mut self, out: &mut Vec<u8>, v: &SpanView<'_>) -> Result<(), Corrupt> {
        self.lines.scope(v.scope)?;
        self.lines
            .record(Signal::Traces, v.scope, out, |o, digits| {
                ids::<b'{'>(o, v.trace, v.span);
                if let Some(p) = v.parent {
                    o.extend_from_slice(b",\"parentSpanId\":\"");
                    write::hex_u64(o, p);
                    o.push(b'"');
                }
                o.extend_from_slice(if v.parent_remote {
                    FLAGS_REMOTE
                } else {
                    FLAGS_LOCAL
                });
                write::string(o, v.name);
                // SpanKind: INTERNAL = 1 … CONSUMER = 5, one more than the record's value.
                time(o, digits, KIND_START[v.kind.min(4) as usize], v.start);
                time(o, digits, b",\"endTimeUnixNano\":", v.end);
                attributes(o, v.attrs)?;
                count(o, b",\"droppedAttributesCount\":", v.dropped_attrs);
                objects(o, b",\"events\":[", v.events, |o, e| {
                    time(o, digits, b"{\"timeUnixNano\":", e.time);
                    o.extend_from_slice(b",\"name\":");
                    write::string(o, e.name);
                    attributes(o, sub(v.sub_attrs, &e.attrs)?)
                })?;
                count(o, b",\"droppedEventsCount\":", v.dropped_events);
                objects(o, b",\"links\":[", v.links, |o, l| {
                    ids::<b'{'>(o, l.trace, l.span);
                    attributes(o, sub(v.sub_attrs, &l.attrs)?)
                })?;
                count(o, b",\"droppedLinksCount\":", v.dropped_links);
                // Status codes are the same numbers: UNSET 0, OK 1, ERROR 2. A description goes only
                // with an error.
                if v.status != 0 {
                    o.extend_from_slice(b",\"status\":{\"code\":");
                    write::u64(o, v.status.min(2) as u64);
                    if v.status == 2 && !v.status_msg.is_empty() {
                        o.extend_from_slice(b",\"message\":");
                        write::string(o, v.status_msg);
                    }
                    o.push(b'}');
                }
                o.push(b'}');
                Ok(())
            })
    }

    fn point(&mut self, out: &mut Vec<u8>, p: &PointView<'_>) -> Result<(), Corrupt> {
        self.lines.scope(p.scope)?;
        let shape = match p.data {
            PointData::Sum { monotonic, .. } => (0, monotonic),
            PointData::Gauge(_) => (1, false),
            PointData::Histogram(_) if self.exponential => (3, false),
            PointData::Histogram(_) => (2, false),
        };
        let same = self
            .metric
            .as_ref()
            .is_some_and(|m| m.scope == p.scope && m.name == p.name && m.shape == shape);
        if !same {
            self.close_metric(out);
            let mut json = b"{\"name\":".to_vec();
            write::string(&mut json, p.name);
            if !p.description.is_empty() {
                json.extend_from_slice(b",\"description\":");
                write::string(&mut json, p.description);
            }
            if !p.unit.is_empty() {
                json.extend_from_slice(b",\"unit\":");
                write::string(&mut json, p.unit);
            }
            json.extend_from_slice(match shape.0 {
                0 => b",\"sum\":{\"dataPoints\":[".as_slice(),
                1 => b",\"gauge\":{\"dataPoints\":[",
                2 => b",\"histogram\":{\"dataPoints\":[",
                _ => b",\"exponentialHistogram\":{\"dataPoints\":[",
            });
            self.metric = Some(OpenMetric {
                scope: p.scope,
                name: p.name.to_string(),
                shape,
                json,
                points: 0,
            });
        }
        let Some(m) = self.metric.as_mut() else {
            return Err(Corrupt);
        };
        let mark = m.json.len();
        let o = &mut m.json;
        if m.points > 0 {
            o.push(b',');
        }
        o.push(b'{');
        let r = (|| {
            o.extend_from_slice(b"\"startTimeUnixNano\":");
            u64_str(o, p.start);
            o.extend_from_slice(b",\"timeUnixNano\":");
            u64_str(o, p.time);
            attributes(o, p.attrs)?;
            match &p.data {
                PointData::Sum { value, .. } | PointData::Gauge(value) => point_value(o, *value),
                PointData::Histogram(h) => {
                    o.extend_from_slice(b",\"count\":");
                    u64_str(o, h.count);
                    if h.count > 0 {
                        o.extend_from_slice(b",\"sum\":");
                        write::f64(o, h.sum);
                        o.extend_from_slice(b",\"min\":");
                        write::f64(o, h.min);
                        o.extend_from_slice(b",\"max\":");
                        write::f64(o, h.max);
                    }
                    if shape.0 == 3 {
                        o.extend_from_slice(b",\"scale\":");
                        write::i64(o, EXP_SCALE as i64);
                        o.extend_from_slice(b",\"zeroCount\":");
                        u64_str(o, h.exp_zero);
                        if !h.exp_counts.is_empty() {
                            o.extend_from_slice(b",\"positive\":{\"offset\":");
                            write::i64(o, h.exp_offset as i64);
                            o.extend_from_slice(b",\"bucketCounts\":[");
                            for (i, c) in h.exp_counts.iter().enumerate() {
                                if i > 0 {
                                    o.push(b',');
                                }
                                u64_str(o, *c);
                            }
                            o.extend_from_slice(b"]}");
                        }
                    } else {
                        o.extend_from_slice(b",\"bucketCounts\":[");
                        for (i, c) in h.bucket_counts.iter().enumerate() {
                            if i > 0 {
                                o.push(b',');
                            }
                            u64_str(o, *c);
                        }
                        o.extend_from_slice(b"],\"explicitBounds\":[");
                        for (i, b) in h.bounds.iter().enumerate() {
                            if i > 0 {
                                o.push(b',');
                            }
                            write::f64(o, *b);
                        }
                        o.push(b']');
                    }
                }
            }
            o.push(b'}');
            Ok(())
        })();
        match r {
            Ok(()) => {
                m.points += 1;
                if m.json.len() >= MAX_BATCH / 2 {
                    self.close_metric(out);
                }
                Ok(())
            }
            Err(e) => {
                m.json.truncate(mark);
                Err(e)
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.close_metric(out);
        for signal in [Signal::Traces, Signal::Logs, Signal::Metrics] {
            self.lines.line(signal, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::scope::scope_id;

    fn log<'a>(scope: u32, body: &'a str, attrs: &'a [Attr<'a>]) -> LogView<'a> {
        LogView {
            scope,
            time: 1_700_000_000_000_000_000,
            severity: 9,
            body,
            ctx: Some((0xabc, 0xdef)),
            attrs,
            callsite: None,
        }
    }

    #[test]
    fn a_failed_record_leaves_no_trace_and_lines_stay_valid_json() {
        let scope = scope_id("otlp.test");
        let mut f = OtlpLines::new(
            vec![("service.name".into(), "svc".into())],
            super::super::Options::default(),
        );
        let mut out = Vec::new();
        // An array whose element tag is unknown: the record fails half-rendered.
        let bad = [("k", DValue::Array(0xee, 1, &[0u8; 8]))];
        assert!(f.log(&mut out, &log(scope, "first", &bad)).is_err());
        f.finish(&mut out);
        assert!(out.is_empty(), "no line for a batch of failed records");
        let good = [("n", DValue::I64(-5)), ("x", DValue::F64(f64::NAN))];
        f.log(&mut out, &log(scope, "ok", &good)).unwrap();
        assert!(f.log(&mut out, &log(scope, "bad", &bad)).is_err());
        f.log(&mut out, &log(scope, "ok again", &good)).unwrap();
        f.finish(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        let records = &v["resourceLogs"][0]["scopeLogs"][0]["logRecords"];
        assert_eq!(records.as_array().unwrap().len(), 2);
        assert_eq!(records[1]["body"]["stringValue"], "ok again");
        assert_eq!(records[0]["attributes"][0]["value"]["intValue"], "-5");
        assert_eq!(records[0]["attributes"][1]["value"]["doubleValue"], "NaN");
        assert_eq!(records[0]["traceId"], "00000000000000000000000000000abc");
        assert_eq!(records[0]["timeUnixNano"], "1700000000000000000");
    }
}

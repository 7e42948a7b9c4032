//! Exporters and writers the peer libraries are configured with in `benches/peers.rs`.
//!
//! Every peer is set up to do what mini-telemetry does: turn each record into a line of JSON and
//! write it somewhere. Here "somewhere" is [`CountingSink`], which discards the bytes like
//! `std::io::sink()` but counts bytes and lines, so the serialisation cannot be optimised away and
//! the benchmark can compare the records a peer exported with the records it was asked to produce.
//!
//! `opentelemetry-stdout` is not used: in 0.33 it prints a debug text format with `println!` to the
//! process's stdout and takes no writer, so [`OtelSpanExporter`], [`OtelLogExporter`] and
//! [`OtelMetricExporter`] are small exporters of our own that write JSON Lines.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value as Json, json};

/// A writer that drops what it is given, counting bytes and newlines.
///
/// Cloning shares the counters.
#[derive(Clone, Debug, Default)]
pub struct CountingSink {
    counts: Arc<SinkCounts>,
}

#[derive(Debug, Default)]
struct SinkCounts {
    bytes: AtomicU64,
    lines: AtomicU64,
}

impl CountingSink {
    pub fn new() -> Self {
        Self::default()
    }

    /// Newlines written so far: one per JSON Lines record.
    pub fn lines(&self) -> u64 {
        self.counts.lines.load(Ordering::Acquire)
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.counts.bytes.load(Ordering::Relaxed)
    }
}

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let lines = memchr::memchr_iter(b'\n', buf).count() as u64;
        self.counts
            .bytes
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        self.counts.lines.fetch_add(lines, Ordering::Release);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Serialises `records` as JSON Lines into a reused buffer, then writes the buffer to `sink` in
/// one call, as a real exporter would build one payload per batch.
fn write_lines(buf: &Mutex<Vec<u8>>, sink: &CountingSink, records: impl Iterator<Item = Json>) {
    let mut buf = buf.lock().unwrap_or_else(|e| e.into_inner());
    buf.clear();
    for r in records {
        serde_json::to_writer(&mut *buf, &r).expect("serialising to a Vec cannot fail");
        buf.push(b'\n');
    }
    sink.clone()
        .write_all(&buf)
        .expect("CountingSink never fails");
}

// ---------------------------------------------------------------------------------------------
// OpenTelemetry
// ---------------------------------------------------------------------------------------------

pub use otel::{MetricTotals, OtelLogExporter, OtelMetricExporter, OtelSpanExporter};

mod otel {
    use super::*;
    use opentelemetry::logs::AnyValue;
    use opentelemetry::{KeyValue, Value};
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::logs::{LogBatch, LogExporter};
    use opentelemetry_sdk::metrics::Temporality;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
    use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
    use opentelemetry_sdk::trace::{SpanData, SpanExporter};
    use std::collections::HashMap;
    use std::future::{Future, ready};
    use std::time::Duration;

    fn value(v: &Value) -> Json {
        match v {
            Value::Bool(b) => json!(b),
            Value::I64(i) => json!(i),
            Value::F64(f) => json!(f),
            Value::String(s) => json!(s.as_str()),
            // Arrays: their Display form is enough for a benchmark sink.
            other => json!(other.to_string()),
        }
    }

    fn attributes<'a>(kvs: impl IntoIterator<Item = &'a KeyValue>) -> Json {
        let mut m = Map::new();
        for kv in kvs {
            m.insert(kv.key.as_str().to_owned(), value(&kv.value));
        }
        Json::Object(m)
    }

    fn any_value(v: &AnyValue) -> Json {
        match v {
            AnyValue::Int(i) => json!(i),
            AnyValue::Double(f) => json!(f),
            AnyValue::String(s) => json!(s.as_str()),
            AnyValue::Boolean(b) => json!(b),
            other => json!(format!("{other:?}")),
        }
    }

    /// A span exporter writing one JSON line per span to a [`CountingSink`], counting spans.
    #[derive(Debug, Default)]
    pub struct OtelSpanExporter {
        sink: CountingSink,
        buf: Mutex<Vec<u8>>,
        exported: Arc<AtomicU64>,
    }

    impl OtelSpanExporter {
        /// The exporter and a shared count of the spans it has exported.
        pub fn new() -> (Self, Arc<AtomicU64>) {
            let e = Self::default();
            let n = e.exported.clone();
            (e, n)
        }

        fn json(s: &SpanData) -> Json {
            let events: Vec<Json> = s
                .events
                .iter()
                .map(|e| {
                    json!({
                        "name": e.name,
                        "time_unix_nano": unix_nanos(e.timestamp),
                        "attributes": attributes(&e.attributes),
                    })
                })
                .collect();
            json!({
                "signal": "span",
                "scope": {"name": s.instrumentation_scope.name()},
                "name": s.name,
                "kind": format!("{:?}", s.span_kind),
                "trace_id": s.span_context.trace_id().to_string(),
                "span_id": s.span_context.span_id().to_string(),
                "parent_span_id": s.parent_span_id.to_string(),
                "start_time_unix_nano": unix_nanos(s.start_time),
                "end_time_unix_nano": unix_nanos(s.end_time),
                "attributes": attributes(&s.attributes),
                "events": events,
                "status": format!("{:?}", s.status),
            })
        }
    }

    impl SpanExporter for OtelSpanExporter {
        fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
            write_lines(&self.buf, &self.sink, batch.iter().map(Self::json));
            self.exported
                .fetch_add(batch.len() as u64, Ordering::Release);
            ready(Ok(()))
        }
    }

    /// A log exporter writing one JSON line per record to a [`CountingSink`], counting records.
    #[derive(Debug, Default)]
    pub struct OtelLogExporter {
        sink: CountingSink,
        buf: Mutex<Vec<u8>>,
        exported: Arc<AtomicU64>,
    }

    impl OtelLogExporter {
        /// The exporter and a shared count of the records it has exported.
        pub fn new() -> (Self, Arc<AtomicU64>) {
            let e = Self::default();
            let n = e.exported.clone();
            (e, n)
        }
    }

    impl LogExporter for OtelLogExporter {
        fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
            let mut n = 0u64;
            let lines = batch.iter().map(|(r, scope)| {
                n += 1;
                let mut attrs = Map::new();
                for (k, v) in r.attributes_iter() {
                    attrs.insert(k.as_str().to_owned(), any_value(v));
                }
                let (trace_id, span_id) = r
                    .trace_context()
                    .map(|t| (t.trace_id.to_string(), t.span_id.to_string()))
                    .unwrap_or_default();
                json!({
                    "signal": "log",
                    "scope": {"name": scope.name()},
                    "time_unix_nano": r.timestamp().or(r.observed_timestamp()).map(unix_nanos),
                    "severity_number": r.severity_number().map(|s| s as i32),
                    "severity_text": r.severity_text(),
                    "body": r.body().map(any_value),
                    "attributes": Json::Object(attrs),
                    "trace_id": trace_id,
                    "span_id": span_id,
                })
            });
            write_lines(&self.buf, &self.sink, lines);
            self.exported.fetch_add(n, Ordering::Release);
            ready(Ok(()))
        }
    }

    /// A push metric exporter (for a `PeriodicReader`) writing one JSON line per data point, and
    /// keeping for each metric name the total of its sums, or of its histogram counts, as of the
    /// last export.
    #[derive(Debug, Default)]
    pub struct OtelMetricExporter {
        sink: CountingSink,
        buf: Mutex<Vec<u8>>,
        totals: Arc<Mutex<HashMap<String, f64>>>,
    }

    /// Per metric name: sum of the data points' values (sums) or counts (histograms).
    pub type MetricTotals = Arc<Mutex<HashMap<String, f64>>>;

    impl OtelMetricExporter {
        /// The exporter and the totals it updates at each export.
        pub fn new() -> (Self, MetricTotals) {
            let e = Self::default();
            let t = e.totals.clone();
            (e, t)
        }

        fn points<T: Copy + Into<Json>>(
            name: &str,
            data: &MetricData<T>,
            to_f64: fn(T) -> f64,
            lines: &mut Vec<Json>,
        ) -> f64 {
            let mut total = 0.0;
            match data {
                MetricData::Sum(s) => {
                    for p in s.data_points() {
                        total += to_f64(p.value());
                        lines.push(json!({
                            "signal": "metric", "name": name, "type": "sum",
                            "time_unix_nano": unix_nanos(s.time()),
                            "attributes": attributes(p.attributes()),
                            "value": p.value().into(),
                        }));
                    }
                }
                MetricData::Histogram(h) => {
                    for p in h.data_points() {
                        total += p.count() as f64;
                        lines.push(json!({
                            "signal": "metric", "name": name, "type": "histogram",
                            "time_unix_nano": unix_nanos(h.time()),
                            "attributes": attributes(p.attributes()),
                            "count": p.count(), "sum": p.sum().into(),
                            "min": p.min().map(Into::<Json>::into),
                            "max": p.max().map(Into::<Json>::into),
                            "explicit_bounds": p.bounds().collect::<Vec<_>>(),
                            "bucket_counts": p.bucket_counts().collect::<Vec<_>>(),
                        }));
                    }
                }
                MetricData::Gauge(g) => {
                    for p in g.data_points() {
                        lines.push(json!({
                            "signal": "metric", "name": name, "type": "gauge",
                            "attributes": attributes(p.attributes()), "value": p.value().into(),
                        }));
                    }
                }
                MetricData::ExponentialHistogram(_) => {}
            }
            total
        }
    }

    impl PushMetricExporter for OtelMetricExporter {
        fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
            let mut lines = Vec::new();
            let mut totals = HashMap::new();
            for scope in metrics.scope_metrics() {
                for m in scope.metrics() {
                    let total = match m.data() {
                        AggregatedMetrics::F64(d) => Self::points(m.name(), d, |v| v, &mut lines),
                        AggregatedMetrics::U64(d) => {
                            Self::points(m.name(), d, |v| v as f64, &mut lines)
                        }
                        AggregatedMetrics::I64(d) => {
                            Self::points(m.name(), d, |v| v as f64, &mut lines)
                        }
                    };
                    totals.insert(m.name().to_owned(), total);
                }
            }
            write_lines(&self.buf, &self.sink, lines.into_iter());
            self.totals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(totals);
            ready(Ok(()))
        }

        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }

        fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
            Ok(())
        }

        fn temporality(&self) -> Temporality {
            Temporality::Cumulative
        }
    }
}

// ---------------------------------------------------------------------------------------------
// fastrace
// ---------------------------------------------------------------------------------------------

/// A fastrace reporter writing one JSON line per span (its events inside, as fastrace models
/// them) to a [`CountingSink`]. It counts spans and events separately.
#[derive(Debug, Default)]
pub struct FastraceJsonReporter {
    sink: CountingSink,
    buf: Mutex<Vec<u8>>,
    counts: Arc<FastraceCounts>,
}

/// What a [`FastraceJsonReporter`] has reported so far.
#[derive(Debug, Default)]
pub struct FastraceCounts {
    pub spans: AtomicU64,
    pub events: AtomicU64,
}

impl FastraceJsonReporter {
    /// The reporter and its shared counts.
    pub fn new() -> (Self, Arc<FastraceCounts>) {
        let r = Self::default();
        let c = r.counts.clone();
        (r, c)
    }
}

impl fastrace::collector::Reporter for FastraceJsonReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        fn props(
            p: &[(
                std::borrow::Cow<'static, str>,
                std::borrow::Cow<'static, str>,
            )],
        ) -> Json {
            Json::Object(
                p.iter()
                    .map(|(k, v)| (k.to_string(), Json::String(v.to_string())))
                    .collect(),
            )
        }
        let events: u64 = spans.iter().map(|s| s.events.len() as u64).sum();
        let lines = spans.iter().map(|s| {
            let events: Vec<Json> = s
                .events
                .iter()
                .map(|e| {
                    json!({
                        "name": e.name,
                        "time_unix_nano": e.timestamp_unix_ns,
                        "attributes": props(&e.properties),
                    })
                })
                .collect();
            json!({
                "signal": "span",
                "name": s.name,
                "trace_id": format!("{:032x}", s.trace_id.0),
                "span_id": format!("{:016x}", s.span_id.0),
                "parent_span_id": format!("{:016x}", s.parent_id.0),
                "start_time_unix_nano": s.begin_time_unix_ns,
                "end_time_unix_nano": s.begin_time_unix_ns + s.duration_ns,
                "attributes": props(&s.properties),
                "events": events,
            })
        });
        write_lines(&self.buf, &self.sink, lines);
        self.counts.events.fetch_add(events, Ordering::Release);
        self.counts
            .spans
            .fetch_add(spans.len() as u64, Ordering::Release);
    }
}

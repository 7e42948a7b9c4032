//! Configuration: a by-value builder with OpenTelemetry's environment variables applied on top.

use super::level::Level;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// The smallest ring a thread may have (a key of the longest kept length always fits a record).
pub(crate) const MIN_RING_CAPACITY: usize = 4096;
/// A thread's ring by default: a burst of 10,000 spans or logs fits with room to spare.
pub(crate) const DEFAULT_RING_CAPACITY: usize = 2 << 20;
/// All rings together by default.
pub(crate) const DEFAULT_RING_BUDGET: usize = 256 << 20;
/// The smallest ring the budget gives a thread (or the ring capacity, if smaller; more when
/// the value length limit asks for it). Record size limits follow from it, so every record
/// fits every thread's ring.
pub(crate) const RING_FLOOR: usize = 64 * 1024;
/// The largest ring a thread may have (1 GiB).
pub(crate) const MAX_RING_CAPACITY: usize = 1 << 30;

/// How records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (the default). See README.md for the schema.
    Json,
    /// One human-readable line per record, e.g.
    /// `2023-03-27 14:23:45.123 [INFO] mon.module - trace_id=… span_id=… - Message key=value`.
    Text,
    /// OTLP/JSON, as the OpenTelemetry file exporter writes it: each line is one export
    /// request (traces, logs or metrics) batching the records of one writer pass, grouped by
    /// scope, that the Collector's `otlpjsonfile` receiver reads as it is.
    Otlp,
}

/// What happens when a thread's ring is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullPolicy {
    /// The calling thread waits for the writer to make room (the default): nothing is lost.
    Block,
    /// The record is dropped and counted; counts appear in the output as
    /// `mini_telemetry.records.dropped` lines and in [`stats`](crate::stats).
    Drop,
}

/// Whether the writer evicts from the caches the ring lines it has read, before the producer
/// writes them again (`clflush`, x86-64 only).
///
/// Where the producer's core and the writer's share a last-level cache, eviction costs: the
/// producer then fetches each line from memory. Where they sit on two dies (a VM's vCPUs may),
/// taking a line back from the other die can cost more than memory, and eviction pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheEviction {
    /// Measure which is faster on this host and do that (the default). A second into the
    /// process's life, at a moment the writer is idle (at the latest after ten seconds), it
    /// passes a buffer of a ring's size (at most 2 MiB) to and fro with a helper thread for 5 to
    /// 20 ms (50 at most); eviction is chosen only if it makes the hand-off at least 15 % faster.
    /// Until then, and in a program that ends sooner, nothing is evicted.
    Auto,
    /// Always evict.
    Always,
    /// Never evict.
    Never,
}

/// Where output goes.
pub enum Sink {
    /// Standard output (the default).
    Stdout,
    /// Standard error.
    Stderr,
    /// A file, created or truncated at init.
    File(PathBuf),
    /// Any writer; it is moved to the writer thread.
    Writer(Box<dyn Write + Send>),
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sink::Stdout => f.write_str("Stdout"),
            Sink::Stderr => f.write_str("Stderr"),
            Sink::File(p) => f.debug_tuple("File").field(p).finish(),
            Sink::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

/// Which traces are recorded, as OpenTelemetry's samplers decide (`OTEL_TRACES_SAMPLER`). A
/// span that is not sampled writes nothing, but it is still current on its thread: logs inside
/// it carry its ids, and it passes the decision on to its children and, through
/// `traceparent`'s `sampled` flag, to the next service.
///
/// The ratio samplers decide from the trace id alone (its 56 least significant bits against a
/// threshold, OpenTelemetry's consistent-probability rule), so services that use that rule and
/// the same ratio take the same decision for a trace.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Sampler {
    /// Every span.
    AlwaysOn,
    /// No span.
    AlwaysOff,
    /// A fraction of traces, between 0 and 1.
    TraceIdRatio(f64),
    /// A child follows its parent's decision; a root span is sampled (the default).
    #[default]
    ParentBasedAlwaysOn,
    /// A child follows its parent's decision; a root span is not sampled.
    ParentBasedAlwaysOff,
    /// A child follows its parent's decision; a root span by the trace id ratio.
    ParentBasedTraceIdRatio(f64),
}

impl Sampler {
    /// Whether a child follows its parent, and the threshold that the trace id's 56 least
    /// significant bits must reach for a root span to be sampled (0: always; 2^56: never).
    pub(crate) fn rule(self) -> (bool, u64) {
        const ALL: u64 = 1 << 56;
        let ratio = |r: f64| {
            if r.is_nan() || r <= 0.0 {
                ALL
            } else if r >= 1.0 {
                0
            } else {
                ((1.0 - r) * ALL as f64) as u64
            }
        };
        match self {
            Sampler::AlwaysOn => (false, 0),
            Sampler::AlwaysOff => (false, ALL),
            Sampler::TraceIdRatio(r) => (false, ratio(r)),
            Sampler::ParentBasedAlwaysOn => (true, 0),
            Sampler::ParentBasedAlwaysOff => (true, ALL),
            Sampler::ParentBasedTraceIdRatio(r) => (true, ratio(r)),
        }
    }

    /// `OTEL_TRACES_SAMPLER` and, for the ratio samplers only, `OTEL_TRACES_SAMPLER_ARG` (the
    /// ratio; 1.0 when absent, or invalid: then a warning is returned too).
    fn from_env(name: &str, arg: Option<&str>) -> Result<(Sampler, Option<String>), String> {
        let mut warning = None;
        let mut ratio = || match arg {
            None => 1.0,
            Some(a) => match a.trim().parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => r,
                _ => {
                    warning = Some(format!(
                        "OTEL_TRACES_SAMPLER_ARG={a:?} is not a ratio in [0, 1]; using 1.0"
                    ));
                    1.0
                }
            },
        };
        let sampler = match name.trim().to_ascii_lowercase().as_str() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(ratio()),
            "parentbased_always_on" => Sampler::ParentBasedAlwaysOn,
            "parentbased_always_off" => Sampler::ParentBasedAlwaysOff,
            "parentbased_traceidratio" => Sampler::ParentBasedTraceIdRatio(ratio()),
            other => {
                return Err(format!(
                    "OTEL_TRACES_SAMPLER={other:?} is not a known sampler"
                ));
            }
        };
        Ok((sampler, warning))
    }
}

/// Limits on what one span may carry (OpenTelemetry's span limits, 128 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanLimits {
    /// Attributes per span.
    pub attributes: u32,
    /// Events per span.
    pub events: u32,
    /// Links per span.
    pub links: u32,
    /// Attributes per event or link.
    pub attributes_per_event: u32,
}

impl Default for SpanLimits {
    fn default() -> Self {
        SpanLimits {
            attributes: 128,
            events: 128,
            links: 128,
            attributes_per_event: 128,
        }
    }
}

/// Everything [`init`](crate::init) needs; build it with [`Config::new`] and finish with
/// [`Config::install`].
///
/// ```no_run
/// use mini_telemetry::{Config, Format, FullPolicy};
/// let _guard = Config::new("mon-service", "1.0.0", "production")
///     .format(Format::Text)
///     .full_policy(FullPolicy::Drop)
///     .ring_capacity(256 * 1024)
///     .install()
///     .expect("telemetry already initialised");
/// ```
#[must_use]
#[derive(Debug)]
pub struct Config {
    pub(crate) service_name: String,
    pub(crate) service_version: String,
    pub(crate) environment: String,
    pub(crate) resource: Vec<(String, String)>,
    pub(crate) format: Format,
    pub(crate) sink: Sink,
    pub(crate) ring_capacity: usize,
    pub(crate) ring_budget: usize,
    pub(crate) full_policy: FullPolicy,
    pub(crate) cache_eviction: CacheEviction,
    pub(crate) metric_interval: Duration,
    pub(crate) flush_interval: Duration,
    pub(crate) min_level: Level,
    pub(crate) max_value_len: usize,
    pub(crate) span_limits: SpanLimits,
    pub(crate) sampler: Sampler,
    pub(crate) exception_backtraces: bool,
    pub(crate) otlp_exponential_histograms: bool,
    pub(crate) cardinality_limit: usize,
    pub(crate) disabled: bool,
    pub(crate) apply_env: bool,
    pub(crate) panic_hook: bool,
    pub(crate) shutdown_timeout: Duration,
}

impl Config {
    /// A configuration for a service (name, version, environment) with the defaults: JSON to
    /// stdout, 2 MiB rings within a 256 MiB budget, [`FullPolicy::Block`], metrics every 60 s,
    /// level `Info`.
    pub fn new(
        service_name: impl Into<String>,
        service_version: impl Into<String>,
        environment: impl Into<String>,
    ) -> Self {
        Config {
            service_name: service_name.into(),
            service_version: service_version.into(),
            environment: environment.into(),
            resource: Vec::new(),
            format: Format::Json,
            sink: Sink::Stdout,
            ring_capacity: DEFAULT_RING_CAPACITY,
            ring_budget: DEFAULT_RING_BUDGET,
            full_policy: FullPolicy::Block,
            cache_eviction: CacheEviction::Auto,
            metric_interval: Duration::from_secs(60),
            flush_interval: Duration::from_millis(20),
            min_level: Level::Info,
            max_value_len: 16 * 1024,
            span_limits: SpanLimits::default(),
            sampler: Sampler::default(),
            exception_backtraces: false,
            otlp_exponential_histograms: false,
            cardinality_limit: 2000,
            disabled: false,
            panic_hook: false,
            shutdown_timeout: Duration::from_secs(10),
            apply_env: true,
        }
    }

    /// Output format (also `MINI_TELEMETRY_FORMAT=json|text|otlp`).
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// In the OTLP format, write histograms as OpenTelemetry exponential histograms (scale 5:
    /// 32 buckets per power of two, 2.2 % wide, from the engine's log-linear buckets, a value
    /// at most one of them off) instead of explicit-bucket ones, for percentiles within a few
    /// percent in OpenTelemetry tools. Values <= 0 are counted in the zero bucket. Also
    /// `MINI_TELEMETRY_OTLP_HISTOGRAMS=exponential|explicit`; off by default.
    ///
    /// ```
    /// use mini_telemetry::{Config, Format};
    /// let cfg = Config::new("svc", "1", "prod")
    ///     .format(Format::Otlp)
    ///     .otlp_exponential_histograms(true);
    /// # drop(cfg);
    /// ```
    pub fn otlp_exponential_histograms(mut self, yes: bool) -> Self {
        self.otlp_exponential_histograms = yes;
        self
    }

    /// Output destination.
    pub fn sink(mut self, sink: Sink) -> Self {
        self.sink = sink;
        self
    }

    /// Bytes per thread ring (rounded up to a power of two, between 4 KiB and 1 GiB; 2 MiB by
    /// default, room for a burst of about 20,000 spans or logs without waiting for the writer).
    ///
    /// A thread the writer keeps up with goes round the first half of its ring (1 MiB by
    /// default); the second half is used only when a burst reaches it. A ring starts with its
    /// first 64 KiB mapped into memory, and the writer maps in the rest as the thread goes
    /// further, not the calling thread. Rings come out of the
    /// [`ring_memory_budget`](Self::ring_memory_budget): once it is spent, new threads get
    /// smaller rings, down to 64 KiB.
    pub fn ring_capacity(mut self, bytes: usize) -> Self {
        self.ring_capacity = bytes.clamp(MIN_RING_CAPACITY, MAX_RING_CAPACITY);
        self
    }

    /// The total bytes of rings that threads may hold at once (256 MiB by default). A new
    /// thread gets a ring of [`ring_capacity`](Self::ring_capacity) bytes while the budget
    /// allows, then a smaller one, but never less than 64 KiB (or the ring capacity, if
    /// smaller; or four times [`max_value_len`](Self::max_value_len), if larger, so that long
    /// values still fit): with `t` threads, rings take at most the budget plus that floor per
    /// thread past it. A thread's ring goes back to the budget when the thread exits.
    ///
    /// ```
    /// use mini_telemetry::Config;
    /// // Many threads, little memory: 1 MiB rings, 32 MiB for all of them.
    /// let cfg = Config::new("svc", "1", "prod")
    ///     .ring_capacity(1 << 20)
    ///     .ring_memory_budget(32 << 20);
    /// # drop(cfg);
    /// ```
    pub fn ring_memory_budget(mut self, bytes: usize) -> Self {
        self.ring_budget = bytes;
        self
    }

    /// What to do when a ring is full.
    pub fn full_policy(mut self, policy: FullPolicy) -> Self {
        self.full_policy = policy;
        self
    }

    /// Whether the writer evicts the ring lines it has read (also
    /// `MINI_TELEMETRY_CACHE_EVICTION=auto|always|never`); [`CacheEviction::Auto`] by default.
    ///
    /// ```
    /// use mini_telemetry::{CacheEviction, Config};
    /// let cfg = Config::new("svc", "1", "prod").cache_eviction(CacheEviction::Never);
    /// # drop(cfg);
    /// ```
    pub fn cache_eviction(mut self, eviction: CacheEviction) -> Self {
        self.cache_eviction = eviction;
        self
    }

    /// How often cumulative metrics are exported (also `OTEL_METRIC_EXPORT_INTERVAL` in ms).
    /// Metrics are always exported once more at shutdown.
    pub fn metric_interval(mut self, interval: Duration) -> Self {
        self.metric_interval =
            interval.clamp(Duration::from_millis(1), Duration::from_secs(86_400));
        self
    }

    /// How long the writer sleeps when idle before it looks at the rings again.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.clamp(Duration::from_micros(100), Duration::from_secs(10));
        self
    }

    /// The least severe log level written (also `MINI_TELEMETRY_LOG_LEVEL`).
    pub fn min_level(mut self, level: Level) -> Self {
        self.min_level = level;
        self
    }

    /// Longest string value kept, in bytes; longer ones are cut at a char boundary (also
    /// `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`). Always bounded by what fits in one ring record.
    pub fn max_value_len(mut self, bytes: usize) -> Self {
        self.max_value_len = bytes;
        self
    }

    /// Whether `Span::record_exception` and `Logger::error_with_exception` capture a backtrace
    /// (`exception.stacktrace`). Off by default: capturing one takes tens of milliseconds on the
    /// calling thread, so it is asked for here, never turned on by `RUST_BACKTRACE`.
    pub fn exception_backtraces(mut self, capture: bool) -> Self {
        self.exception_backtraces = capture;
        self
    }

    /// Which traces are recorded (also `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`);
    /// [`Sampler::ParentBasedAlwaysOn`] by default.
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// Span limits (also `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, `OTEL_SPAN_EVENT_COUNT_LIMIT`,
    /// `OTEL_SPAN_LINK_COUNT_LIMIT`).
    pub fn span_limits(mut self, limits: SpanLimits) -> Self {
        self.span_limits = limits;
        self
    }

    /// Most distinct attribute sets per instrument, the overflow series included (default 2000).
    pub fn cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = limit.max(2);
        self
    }

    /// Adds a resource attribute.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// Installs a panic hook (chained before the existing one) that writes each panic as an
    /// ERROR log with the panicking thread's current trace context (`exception.type` = `panic`,
    /// `exception.message`, `code.filepath`, `code.lineno`, `thread.name`, and
    /// `exception.stacktrace` when a backtrace is captured), then flushes, so the record is out
    /// even if the panic aborts the process.
    pub fn panic_hook(mut self, install: bool) -> Self {
        self.panic_hook = install;
        self
    }

    /// How long shutdown (or dropping the guard) waits for the writer to finish before it gives
    /// up and returns, with a message on stderr (default 10 s). It only waits that long when the
    /// output is blocked: a stalled reader, or stdout locked by the thread shutting down.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Turns telemetry off (also `OTEL_SDK_DISABLED=true`): every call is a no-op.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
        self
    }

    /// Whether environment variables override this configuration (default true).
    pub fn use_env(mut self, yes: bool) -> Self {
        self.apply_env = yes;
        self
    }

    /// The ring size every thread gets: the configured size, clamped to
    /// [`MIN_RING_CAPACITY`, `MAX_RING_CAPACITY`] and rounded up to a power of two.
    pub(crate) fn ring_bytes(&self) -> usize {
        self.ring_capacity
            .clamp(MIN_RING_CAPACITY, MAX_RING_CAPACITY)
            .next_power_of_two()
    }

    /// Applies OpenTelemetry's environment variables (and ours); bad values are reported once on
    /// stderr and ignored.
    pub(crate) fn apply_env(&mut self) {
        if !self.apply_env {
            return;
        }
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if let Some(v) = var("OTEL_SDK_DISABLED") {
            self.disabled = v.trim().eq_ignore_ascii_case("true");
        }
        if let Some(v) = var("OTEL_RESOURCE_ATTRIBUTES") {
            for pair in v.split(',') {
                match pair.split_once('=') {
                    Some((k, val)) if !k.trim().is_empty() => self
                        .resource
                        .push((percent_decode(k.trim()), percent_decode(val.trim()))),
                    _ => diag!(
                        "mini-telemetry: ignoring malformed OTEL_RESOURCE_ATTRIBUTES entry {pair:?}"
                    ),
                }
            }
        }
        if let Some(v) = var("OTEL_SERVICE_NAME") {
            self.service_name = v;
        }
        let num = |k: &str, apply: &mut dyn FnMut(u64)| {
            if let Some(v) = var(k) {
                match v.trim().parse::<u64>() {
                    Ok(n) => apply(n),
                    Err(_) => diag!("mini-telemetry: ignoring {k}={v:?}: not a number"),
                }
            }
        };
        num("OTEL_METRIC_EXPORT_INTERVAL", &mut |n| {
            self.metric_interval = Duration::from_millis(n.clamp(1, 86_400_000))
        });
        num("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", &mut |n| {
            self.max_value_len = n.min(u32::MAX as u64) as usize
        });
        num("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", &mut |n| {
            self.span_limits.attributes = n.min(u32::MAX as u64) as u32
        });
        num("OTEL_SPAN_EVENT_COUNT_LIMIT", &mut |n| {
            self.span_limits.events = n.min(u32::MAX as u64) as u32
        });
        num("OTEL_SPAN_LINK_COUNT_LIMIT", &mut |n| {
            self.span_limits.links = n.min(u32::MAX as u64) as u32
        });
        if let Some(v) = var("OTEL_TRACES_SAMPLER") {
            match Sampler::from_env(&v, var("OTEL_TRACES_SAMPLER_ARG").as_deref()) {
                Ok((s, warning)) => {
                    self.sampler = s;
                    if let Some(w) = warning {
                        diag!("mini-telemetry: {w}");
                    }
                }
                Err(e) => diag!("mini-telemetry: ignoring {e}"),
            }
        }
        if let Some(v) = var("MINI_TELEMETRY_FORMAT") {
            match v.trim().to_ascii_lowercase().as_str() {
                "json" => self.format = Format::Json,
                "text" => self.format = Format::Text,
                "otlp" => self.format = Format::Otlp,
                _ => {
                    diag!(
                        "mini-telemetry: ignoring MINI_TELEMETRY_FORMAT={v:?} (json, text or otlp)"
                    )
                }
            }
        }
        if let Some(v) = var("MINI_TELEMETRY_OTLP_HISTOGRAMS") {
            match v.trim().to_ascii_lowercase().as_str() {
                "exponential" => self.otlp_exponential_histograms = true,
                "explicit" => self.otlp_exponential_histograms = false,
                _ => diag!(
                    "mini-telemetry: ignoring MINI_TELEMETRY_OTLP_HISTOGRAMS={v:?} (exponential or explicit)"
                ),
            }
        }
        if let Some(v) = var("MINI_TELEMETRY_CACHE_EVICTION") {
            match v.trim().to_ascii_lowercase().as_str() {
                "auto" => self.cache_eviction = CacheEviction::Auto,
                "always" => self.cache_eviction = CacheEviction::Always,
                "never" => self.cache_eviction = CacheEviction::Never,
                _ => diag!(
                    "mini-telemetry: ignoring MINI_TELEMETRY_CACHE_EVICTION={v:?} (auto, always or never)"
                ),
            }
        }
        if let Some(v) = var("MINI_TELEMETRY_LOG_LEVEL") {
            match Level::parse(&v) {
                Some(l) => self.min_level = l,
                None => diag!("mini-telemetry: ignoring MINI_TELEMETRY_LOG_LEVEL={v:?}"),
            }
        }
    }
}

/// Decodes `%XX` escapes (W3C baggage octets, as OTEL_RESOURCE_ATTRIBUTES uses).
fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplers_from_the_environment() {
        assert_eq!(
            Sampler::from_env("always_off", None),
            Ok((Sampler::AlwaysOff, None))
        );
        // The argument matters to the ratio samplers only.
        assert_eq!(
            Sampler::from_env("always_off", Some("10")),
            Ok((Sampler::AlwaysOff, None))
        );
        assert_eq!(
            Sampler::from_env("parentbased_traceidratio", Some("0.25")),
            Ok((Sampler::ParentBasedTraceIdRatio(0.25), None))
        );
        assert_eq!(
            Sampler::from_env("TraceIdRatio", None),
            Ok((Sampler::TraceIdRatio(1.0), None))
        );
        let (s, w) = Sampler::from_env("traceidratio", Some("1.5")).unwrap();
        assert_eq!(s, Sampler::TraceIdRatio(1.0));
        assert!(w.is_some());
        assert!(Sampler::from_env("jaeger_remote", None).is_err());
        assert_eq!(Sampler::TraceIdRatio(0.0).rule(), (false, 1 << 56));
        assert_eq!(Sampler::ParentBasedAlwaysOn.rule(), (true, 0));
        assert_eq!(Sampler::TraceIdRatio(0.5).rule().1, 1 << 55);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Cc"), "a b,c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }
}

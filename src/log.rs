//! Logs: [`Logger`] methods for dynamic messages and the [`info!`](crate::info) family of macros,
//! whose message and field names are static callsite metadata so that only the values are copied.
//! Every log record carries the current span's trace id and span id.

use crate::clock;
use crate::global::{self, is_enabled};
use crate::record::{self, Enc, kind};
use crate::value::{KeyValue, Value};
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

/// Log severity, with OpenTelemetry's severity numbers.
///
/// ```
/// use mini_telemetry::Level;
/// assert_eq!(Level::Info as u8, 9);
/// assert!(Level::Error > Level::Warn);
/// assert_eq!(Level::parse("warn"), Some(Level::Warn));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Level {
    /// TRACE (1).
    Trace = 1,
    /// DEBUG (5).
    Debug = 5,
    /// INFO (9).
    Info = 9,
    /// WARN (13).
    Warn = 13,
    /// ERROR (17).
    Error = 17,
    /// FATAL (21).
    Fatal = 21,
}

impl Level {
    /// The severity text: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// Parses a level name, case-insensitively (`warning` is accepted too).
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" => Level::Error,
            "fatal" => Level::Fatal,
            _ => return None,
        })
    }

    /// The level whose range (OpenTelemetry: 1-4 TRACE, 5-8 DEBUG, ...) holds `n`.
    pub(crate) fn from_severity(n: u8) -> Level {
        match n {
            0..=4 => Level::Trace,
            5..=8 => Level::Debug,
            9..=12 => Level::Info,
            13..=16 => Level::Warn,
            17..=20 => Level::Error,
            _ => Level::Fatal,
        }
    }
}

static MIN_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

pub(crate) fn set_min_level(level: Level) {
    MIN_LEVEL.store(level as u8, Ordering::Relaxed);
}

/// True when a record at `level` would be written: telemetry is running and `level` is at least
/// the configured minimum. Two relaxed loads.
#[inline(always)]
pub fn enabled(level: Level) -> bool {
    is_enabled() && level as u8 >= MIN_LEVEL.load(Ordering::Relaxed)
}

/// Static metadata of one log statement, made by the macros.
#[derive(Debug)]
pub struct Callsite {
    level: Level,
    message: &'static str,
    fields: &'static [&'static str],
    file: &'static str,
    line: u32,
    id: AtomicU32,
}

static CALLSITES: RwLock<Vec<&'static Callsite>> = RwLock::new(Vec::new());

impl Callsite {
    /// A callsite (used by the macros).
    pub const fn new(
        level: Level,
        message: &'static str,
        fields: &'static [&'static str],
        file: &'static str,
        line: u32,
    ) -> Self {
        Callsite {
            level,
            message,
            fields,
            file,
            line,
            id: AtomicU32::new(0),
        }
    }

    /// The callsite's level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Where the statement is (`file:line`).
    pub fn location(&self) -> (&'static str, u32) {
        (self.file, self.line)
    }

    #[inline]
    fn id(&'static self) -> u32 {
        let i = self.id.load(Ordering::Acquire);
        if i != 0 {
            return i - 1;
        }
        let mut w = CALLSITES.write();
        let i = self.id.load(Ordering::Acquire);
        if i != 0 {
            return i - 1;
        }
        w.push(self);
        let id = w.len() as u32;
        self.id.store(id, Ordering::Release);
        id - 1
    }
}

/// The callsite registered under `id` (writer side).
pub(crate) fn callsite(id: u32) -> Option<(&'static str, &'static [&'static str])> {
    CALLSITES
        .read()
        .get(id as usize)
        .map(|c| (c.message, c.fields))
}

/// Emits log records for one instrumentation scope.
///
/// ```
/// use mini_telemetry::KeyValue;
/// let logger = mini_telemetry::logger("mon.module");
/// logger.info("Traitement démarré");
/// logger.log(mini_telemetry::Level::Info, "Opération terminée",
///            &[KeyValue::new("durée_ms", 123), KeyValue::new("status", "success")]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Logger {
    scope: u32,
}

/// A logger for `scope`.
pub fn logger(scope: &str) -> Logger {
    Logger {
        scope: global::scope_id(scope),
    }
}

/// Fixed part of a log record: kind, severity, flags, pad, scope, time, dropped count.
/// Fixed part of a log record: kind, severity, flags, pad, scope, time, dropped count, trace id,
/// span id (zeros and no `LOG_HAS_CONTEXT` flag outside a span). Always present, so the header is
/// one constant-size copy.
const LOG_HEAD: usize = 4 + 4 + 8 + 4 + 16 + 8;
/// Distinct attribute keys a log record keeps (applied by the writer, as for spans).
pub(crate) const LOG_ATTRIBUTES: usize = 128;

#[inline(always)]
fn log_head(
    level: u8,
    flags: u8,
    scope: u32,
    time: u64,
    dropped: u32,
    ctx: crate::SpanContext,
) -> [u8; LOG_HEAD] {
    let mut h = [0u8; LOG_HEAD];
    h[0] = kind::LOG;
    h[1] = level;
    h[2] = flags
        | if ctx.is_valid() {
            record::LOG_HAS_CONTEXT
        } else {
            0
        };
    h[4..8].copy_from_slice(&scope.to_le_bytes());
    h[8..16].copy_from_slice(&time.to_le_bytes());
    h[16..20].copy_from_slice(&dropped.to_le_bytes());
    h[20..36].copy_from_slice(&ctx.trace_id().to_le_bytes());
    h[36..44].copy_from_slice(&ctx.span_id().to_le_bytes());
    h
}

impl Logger {
    /// A record at `level` with a message and attributes.
    #[inline]
    pub fn log(&self, level: Level, message: &str, attrs: &[KeyValue<'_>]) {
        if !enabled(level) {
            return;
        }
        self.emit_dynamic(level, message, attrs);
    }

    /// A TRACE record.
    #[inline]
    pub fn trace(&self, message: &str) {
        self.log(Level::Trace, message, &[]);
    }
    /// A DEBUG record.
    #[inline]
    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message, &[]);
    }
    /// An INFO record.
    #[inline]
    pub fn info(&self, message: &str) {
        self.log(Level::Info, message, &[]);
    }
    /// A WARN record.
    #[inline]
    pub fn warn(&self, message: &str) {
        self.log(Level::Warn, message, &[]);
    }
    /// An ERROR record.
    #[inline]
    pub fn error(&self, message: &str) {
        self.log(Level::Error, message, &[]);
    }
    /// A FATAL record.
    #[inline]
    pub fn fatal(&self, message: &str) {
        self.log(Level::Fatal, message, &[]);
    }

    /// An ERROR record with an error attached (the seed's `exc_info=True`): adds
    /// `exception.type`, `exception.message` and, when a backtrace is captured,
    /// `exception.stacktrace`.
    ///
    /// ```
    /// let logger = mini_telemetry::logger("mon.module");
    /// let err = "x".parse::<i32>().unwrap_err();
    /// logger.error_with_exception("Une erreur s'est produite", &err, &[]);
    /// ```
    pub fn error_with_exception<E: std::error::Error + ?Sized>(
        &self,
        message: &str,
        err: &E,
        attrs: &[KeyValue<'_>],
    ) {
        if !enabled(Level::Error) {
            return;
        }
        let (ty, msg, bt) = crate::trace::exception_parts(err);
        let mut all: Vec<KeyValue<'_>> = attrs.to_vec();
        all.push(KeyValue::new("exception.type", ty));
        all.push(KeyValue::new("exception.message", msg.as_str()));
        if let Some(bt) = &bt {
            all.push(KeyValue::new("exception.stacktrace", bt.as_str()));
        }
        self.emit_dynamic(Level::Error, message, &all);
    }

    fn emit_dynamic(&self, level: Level, message: &str, attrs: &[KeyValue<'_>]) {
        let Some(g) = global::global() else { return };
        let max_str = g.settings.max_str;
        let max_text = g.settings.max_text;
        let time = clock::now();
        let head = LOG_HEAD + record::str_size(message, g.settings.max_text) + 2;
        let budget = (g.settings.ring_capacity / 2 - 8).saturating_sub(head);
        let values = LOG_ATTRIBUTES * crate::trace::ATTR_VALUES_PER_KEY as usize;
        let (n, size) = record::fit_kvs(attrs, values, budget, max_str);
        let dropped = (attrs.len() - n) as u32;
        let scope = self.scope;
        global::emit_local(g, head + size, |b, l| {
            let h = log_head(level as u8, 0, scope, time, dropped, l.current.get());
            let mut e = Enc::new(b, max_str);
            e.array(&h);
            e.text(message, max_text);
            e.kvs(&attrs[..n]);
        });
    }

    /// Emits a record for a static callsite; `values` pair with the callsite's field names.
    /// Used by the macros, which check [`enabled`] first.
    #[doc(hidden)]
    #[inline]
    pub fn emit_callsite(&self, cs: &'static Callsite, values: &[Value<'_>]) {
        let Some(g) = global::global() else { return };
        let max_str = g.settings.max_str;
        let time = clock::now();
        let id = cs.id();
        let head = LOG_HEAD + 4 + 2;
        let mut size = 0;
        for v in values {
            size += record::value_size(v, max_str);
        }
        let budget = (g.settings.ring_capacity / 2 - 8).saturating_sub(head);
        let mut n = values.len();
        if size > budget {
            // Rare: huge values. Keep the ones that fit.
            size = 0;
            n = 0;
            for v in values {
                let s = record::value_size(v, max_str);
                if size + s > budget {
                    break;
                }
                size += s;
                n += 1;
            }
        }
        let dropped = (values.len() - n) as u32;
        let scope = self.scope;
        global::emit_local(g, head + size, |b, l| {
            // The current span, read from the thread state `emit` already holds.
            let mut h = [0u8; LOG_HEAD + 6];
            h[..LOG_HEAD].copy_from_slice(&log_head(
                cs.level as u8,
                record::LOG_CALLSITE,
                scope,
                time,
                dropped,
                l.current.get(),
            ));
            h[LOG_HEAD..LOG_HEAD + 4].copy_from_slice(&id.to_le_bytes());
            h[LOG_HEAD + 4..].copy_from_slice(&(n as u16).to_le_bytes());
            let mut e = Enc::new(b, max_str);
            e.array(&h);
            for v in &values[..n] {
                e.value(v);
            }
        });
    }
}

/// Logs at a level with a static message and `key = value` fields; keys are identifiers or
/// string literals. The level check comes first, so a disabled statement costs two loads.
///
/// ```
/// use mini_telemetry::{Level, log};
/// let logger = mini_telemetry::logger("mon.module");
/// log!(logger, Level::Info, "Opération terminée", durée_ms = 123, "http.status" = 200);
/// ```
#[macro_export]
macro_rules! log {
    ($logger:expr, $level:expr, $msg:literal $(, $k:tt = $v:expr)* $(,)?) => {{
        static __CALLSITE: $crate::Callsite =
            $crate::Callsite::new($level, $msg, &[$($crate::__key!($k)),*], file!(), line!());
        if $crate::log_enabled($level) {
            $logger.emit_callsite(&__CALLSITE, &[$($crate::Value::from($v)),*]);
        }
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __key {
    ($k:ident) => {
        stringify!($k)
    };
    ($k:literal) => {
        $k
    };
}

/// [`log!`] at TRACE.
#[macro_export]
macro_rules! trace {
    ($logger:expr, $($rest:tt)+) => { $crate::log!($logger, $crate::Level::Trace, $($rest)+) };
}
/// [`log!`] at DEBUG.
#[macro_export]
macro_rules! debug {
    ($logger:expr, $($rest:tt)+) => { $crate::log!($logger, $crate::Level::Debug, $($rest)+) };
}
/// [`log!`] at INFO.
///
/// ```
/// let logger = mini_telemetry::logger("mon.module");
/// mini_telemetry::info!(logger, "Opération terminée", durée_ms = 123, status = "success");
/// ```
#[macro_export]
macro_rules! info {
    ($logger:expr, $($rest:tt)+) => { $crate::log!($logger, $crate::Level::Info, $($rest)+) };
}
/// [`log!`] at WARN.
#[macro_export]
macro_rules! warn {
    ($logger:expr, $($rest:tt)+) => { $crate::log!($logger, $crate::Level::Warn, $($rest)+) };
}
/// [`log!`] at ERROR.
#[macro_export]
macro_rules! error {
    ($logger:expr, $($rest:tt)+) => { $crate::log!($logger, $crate::Level::Error, $($rest)+) };
}
/// [`log!`] at FATAL.
#[macro_export]
macro_rules! fatal {
    ($logger:expr, $($rest:tt)+) => { $crate::log!($logger, $crate::Level::Fatal, $($rest)+) };
}

//! Logs: [`Logger`] methods for dynamic messages and the [`info!`](crate::info) family of macros,
//! whose message and field names are static callsite metadata so that only the values are copied.
//! Every log record carries the current span's trace id and span id.

use crate::api::trace::{
    AttrList, exception_parts, list_is_whole, list_size, with_slice, write_list,
};
use crate::engine::callsite::Callsite;
use crate::engine::clock;
use crate::engine::current::CURRENT;
use crate::engine::record::{
    self, ATTR_VALUES_PER_KEY, CallsiteHead, Enc, LOG_ATTRIBUTES, LOG_CALLSITE, LogHead, UNCUT,
};
use crate::engine::scope::scope_id;
use crate::engine::shared::{global, level_enabled};
use crate::engine::thread::emit;
use crate::model::level::Level;
use crate::model::value::{KeyValue, Value};

/// True when a record at `level` would be written: telemetry is running and `level` is at least
/// the configured minimum. Two relaxed loads.
#[inline(always)]
pub fn enabled(level: Level) -> bool {
    level_enabled(level)
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
    Logger::for_scope(scope_id(scope))
}

/// A dynamic log record's head: level, scope, time, dropped attributes, and the ids of the span
/// current on this thread.
#[inline(always)]
fn log_head(e: &mut Enc<'_>, level: Level, scope: u32, time: u64, dropped: u32) {
    let ctx = CURRENT.with(|s| s.current());
    let h = LogHead {
        severity: level as u8,
        flags: 0,
        scope,
        time,
        dropped,
        trace_id: ctx.trace_id(),
        span_id: ctx.span_id(),
    };
    e.array(&h.encode());
}

impl Logger {
    /// The logger of an interned scope.
    pub(crate) const fn for_scope(scope: u32) -> Logger {
        Logger { scope }
    }
}

impl Logger {
    /// A record at `level` with a message and attributes (`&[KeyValue::new(k, v), ..]`, a
    /// `&Vec` or a slice of them: see [`AttrList`]).
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn log<'a>(&self, level: Level, message: &str, attrs: impl AttrList<'a>) {
        if !enabled(level) {
            return;
        }
        self.emit_list(level, message, attrs);
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

    /// An ERROR record with an error attached (Python logging's `exc_info=True`): adds
    /// `exception.type`, `exception.message` and, when `Config::exception_backtraces` asks for
    /// one, `exception.stacktrace`.
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
        let (ty, msg, bt) = exception_parts(err);
        let mut all: Vec<KeyValue<'_>> = attrs.to_vec();
        all.push(KeyValue::new("exception.type", ty));
        all.push(KeyValue::new("exception.message", msg.as_str()));
        if let Some(bt) = &bt {
            all.push(KeyValue::new("exception.stacktrace", bt.as_str()));
        }
        self.emit_dynamic(Level::Error, message, &all);
    }

    /// `log` once enabled. A typed list (an array, see [`AttrList`]) that fits one
    /// record is sized and written without a match on each value's kind, where the call is
    /// inlined; the rest (a slice, a vector, no attributes, a list past the limits) take the
    /// general path, which keeps what fits and counts the rest. Always inlined, as
    /// [`emit_fields`](Self::emit_fields) is.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn emit_list<'a, L: AttrList<'a>>(&self, level: Level, message: &str, attrs: L) {
        if L::TYPED && attrs.count() > 0 {
            if let Some(g) = global() {
                let max_str = g.settings.max_str;
                let max_text = g.settings.max_text;
                let head = LogHead::LEN + record::text_size(message, max_text) + 2;
                let size = list_size(&attrs, UNCUT);
                let values = LOG_ATTRIBUTES * ATTR_VALUES_PER_KEY as usize;
                if attrs.count() <= values
                    && list_is_whole(&attrs, max_str)
                    && g.settings.fits(head + size)
                {
                    let time = clock::now();
                    let scope = self.scope;
                    emit(
                        g,
                        head + size,
                        #[cfg_attr(debug_assertions, inline)]
                        #[cfg_attr(not(debug_assertions), inline(always))]
                        |b| {
                            let mut e = Enc::new(b, UNCUT);
                            log_head(&mut e, level, scope, time, 0);
                            e.text(message, max_text);
                            write_list(&mut e, &attrs);
                        },
                    );
                    return;
                }
            }
        }
        with_slice(&attrs, |kvs| self.emit_dynamic(level, message, kvs));
    }

    fn emit_dynamic(&self, level: Level, message: &str, attrs: &[KeyValue<'_>]) {
        let Some(g) = global() else { return };
        let max_str = g.settings.max_str;
        let max_text = g.settings.max_text;
        let time = clock::now();
        let head = LogHead::LEN + record::text_size(message, max_text) + 2;
        let budget = g.settings.max_record().saturating_sub(head);
        let values = LOG_ATTRIBUTES * ATTR_VALUES_PER_KEY as usize;
        let (n, size) = record::fit_kvs(attrs, values, budget, max_str);
        let dropped = (attrs.len() - n) as u32;
        let scope = self.scope;
        emit(
            g,
            head + size,
            #[cfg_attr(debug_assertions, inline)]
            #[cfg_attr(not(debug_assertions), inline(always))]
            |b| {
                let mut e = Enc::new(b, max_str);
                log_head(&mut e, level, scope, time, dropped);
                e.text(message, max_text);
                e.kvs(&attrs[..n]);
            },
        );
    }

    /// Emits a record for a static callsite; `fields` pair with the callsite's field names.
    /// Used by the macros, which check [`enabled`] first. Generic over the values' types, so
    /// that each is sized and written without a match on its kind. Always inlined where the
    /// macro is used, as is everything down to the ring (the `log` operation of the instruction
    /// counts, when this was measured: 204 instructions out of line, 151 inlined, and about
    /// 0.9 KB more code at the use). Left to the compiler, it was inlined only where no other
    /// log of the same field types shared its copy: with a second one in the program, 186
    /// instructions instead of 139, and the `request` operation's two logs stayed a call (1479
    /// instructions, 1425 inlined).
    #[doc(hidden)]
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn emit_fields<'a>(&self, cs: &'static Callsite, fields: impl FieldList<'a>) {
        let fields = fields.convert();
        let Some(g) = global() else { return };
        let max_str = g.settings.max_str;
        let time = clock::now();
        let id = cs.id();
        let head = LogHead::LEN + CallsiteHead::LEN;
        let (mut size, mut n, mut whole) = (0, 0usize, true);
        fields.each(
            #[inline(always)]
            |v| {
                whole &= record::is_whole(&v, max_str);
                size += record::value_size(&v, UNCUT);
                n += 1;
            },
        );
        if !whole || !g.settings.fits(head + size) {
            // Rare: long strings, or huge values. The general path cuts them, and keeps the
            // ones that fit.
            return self.emit_many(cs, time, fields);
        }
        let scope = self.scope;
        let level = cs.level() as u8;
        emit(
            g,
            head + size,
            #[cfg_attr(debug_assertions, inline)]
            #[cfg_attr(not(debug_assertions), inline(always))]
            |b| {
                let mut e = Enc::new(b, UNCUT);
                e.array(&callsite_head(level, scope, time, 0, id, n as u16));
                fields.each(
                    #[cfg_attr(debug_assertions, inline)]
                    #[cfg_attr(not(debug_assertions), inline(always))]
                    |v| e.value(&v),
                );
            },
        );
    }

    /// [`emit_fields`](Self::emit_fields) for values too large for one record together.
    #[cold]
    #[inline(never)]
    fn emit_many<'a>(&self, cs: &'static Callsite, time: u64, fields: impl Values<'a>) {
        let mut values = Vec::new();
        fields.each(|v| values.push(v));
        self.emit_callsite(cs, time, &values);
    }

    /// [`emit_fields`](Self::emit_fields)'s general path, for the log of `time`: the values as
    /// a slice, those past what one record holds dropped and counted.
    fn emit_callsite(&self, cs: &'static Callsite, time: u64, values: &[Value<'_>]) {
        let Some(g) = global() else { return };
        let max_str = g.settings.max_str;
        let id = cs.id();
        let head = LogHead::LEN + CallsiteHead::LEN;
        let mut size = 0;
        for v in values {
            size += record::value_size(v, max_str);
        }
        let budget = g.settings.max_record().saturating_sub(head);
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
        let level = cs.level() as u8;
        emit(
            g,
            head + size,
            #[cfg_attr(debug_assertions, inline)]
            #[cfg_attr(not(debug_assertions), inline(always))]
            |b| {
                let mut e = Enc::new(b, max_str);
                e.array(&callsite_head(level, scope, time, dropped, id, n as u16));
                for v in &values[..n] {
                    e.value(v);
                }
            },
        );
    }
}

/// A macro log's record head, with the trace context of the span current on this thread: its
/// [`LogHead`], then its [`CallsiteHead`].
#[inline(always)]
fn callsite_head(
    severity: u8,
    scope: u32,
    time: u64,
    dropped: u32,
    id: u32,
    values: u16,
) -> [u8; LogHead::LEN + CallsiteHead::LEN] {
    let ctx = CURRENT.with(|s| s.current());
    let mut h = [0u8; LogHead::LEN + CallsiteHead::LEN];
    h[..LogHead::LEN].copy_from_slice(
        &LogHead {
            severity,
            flags: LOG_CALLSITE,
            scope,
            time,
            dropped,
            trace_id: ctx.trace_id(),
            span_id: ctx.span_id(),
        }
        .encode(),
    );
    h[LogHead::LEN..].copy_from_slice(&CallsiteHead { id, values }.encode());
    h
}

/// The values of a macro log's fields, as the macro passes them: a list of typed values nested
/// as `(first, (second, (..., ())))`, so that a function generic over the list knows each value's
/// kind at compile time, where a slice of [`Value`]s left it to be matched at run time (once to
/// size the record, once to write it).
#[doc(hidden)]
pub trait FieldList<'a> {
    /// The same list, each value converted.
    type Values: Values<'a>;
    /// Converts each value, once: a conversion is the caller's code (a `From` impl), which
    /// need not give the same value twice, and the record is sized before it is written.
    fn convert(self) -> Self::Values;
}

/// A [`FieldList`] converted: its values, visited in order as often as needed.
#[doc(hidden)]
pub trait Values<'a> {
    /// Calls `f` with each value, in order.
    fn each(&self, f: impl FnMut(Value<'a>));
}

impl FieldList<'_> for () {
    type Values = ();
    #[inline(always)]
    fn convert(self) {}
}

impl<'a> Values<'a> for () {
    #[inline(always)]
    fn each(&self, _: impl FnMut(Value<'a>)) {}
}

impl<'a, H: Into<Value<'a>>, T: FieldList<'a>> FieldList<'a> for (H, T) {
    type Values = (Value<'a>, T::Values);
    #[inline(always)]
    fn convert(self) -> Self::Values {
        (self.0.into(), self.1.convert())
    }
}

impl<'a, T: Values<'a>> Values<'a> for (Value<'a>, T) {
    #[inline(always)]
    fn each(&self, mut f: impl FnMut(Value<'a>)) {
        f(self.0);
        self.1.each(f);
    }
}

/// Builds a [`FieldList`] from the macro's values, first to last.
#[doc(hidden)]
#[macro_export]
macro_rules! __fields {
    () => { () };
    ($v:expr $(, $rest:expr)*) => { ($v, $crate::__fields!($($rest),*)) };
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
            $logger.emit_fields(&__CALLSITE, $crate::__fields!($($v),*));
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

//! Output formats: one file per format behind one seam, [`LineFormat`].
//!
//! The writer hands a format finished records and metric points as views (`export/view.rs`),
//! never the API's types, and an output buffer to append complete lines to. Adding a format is
//! one file implementing [`LineFormat`] and one line in the `formats!` list below (plus its
//! variant of the public `Format` enum).

#[allow(unsafe_code)] // SSE2 hex digits of trace and span ids
mod hex;
mod json;
mod otlp;
mod text;
pub(crate) mod write;

use crate::engine::record::Corrupt;
use crate::engine::scope;
use crate::export::view::{Attr, LogView, Num, PointView, SpanView};
use crate::model::config::Format;
use crate::model::resource::ResValue;
use std::ops::Range;

/// What every output format does: render each kind of line into `out`. A record that refers to
/// something unknown (a scope id never registered, a bad array) returns [`Corrupt`]; the writer
/// then cuts what was appended and counts the record.
pub(crate) trait LineFormat {
    /// The first line: the full resource, at `now` (Unix nanoseconds).
    fn resource(&mut self, out: &mut Vec<u8>, now: u64);
    /// One log record.
    fn log(&mut self, out: &mut Vec<u8>, v: &LogView<'_>) -> Result<(), Corrupt>;
    /// One finished span.
    fn span(&mut self, out: &mut Vec<u8>, v: &SpanView<'_>) -> Result<(), Corrupt>;
    /// One metric data point.
    fn point(&mut self, out: &mut Vec<u8>, p: &PointView<'_>) -> Result<(), Corrupt>;
    /// The end of a writer pass: a format that batches records into lines writes what it holds
    /// (one line per record formats have nothing to do).
    fn finish(&mut self, _out: &mut Vec<u8>) {}
}

/// Lists the formats once: the public [`Format`] variant and the type that renders it. Generates
/// [`Formatter`], an enum with one arm per format (a `match`, not a virtual call, per record).
macro_rules! formats {
    ($($variant:ident => $ty:ty),* $(,)?) => {
        /// The configured format (one per writer: the size of the largest does not matter).
        #[allow(clippy::large_enum_variant)]
        pub(crate) enum Formatter {
            $($variant($ty)),*
        }

        impl Formatter {
            /// The renderer of `format`, for a process with `resource`.
            pub fn new(format: Format, resource: Vec<(String, ResValue)>, options: Options) -> Self {
                match format {
                    $(Format::$variant => Formatter::$variant(<$ty>::new(resource, options))),*
                }
            }
        }

        impl LineFormat for Formatter {
            #[inline]
            fn resource(&mut self, out: &mut Vec<u8>, now: u64) {
                match self {
                    $(Formatter::$variant(f) => f.resource(out, now)),*
                }
            }
            #[inline]
            fn log(&mut self, out: &mut Vec<u8>, v: &LogView<'_>) -> Result<(), Corrupt> {
                match self {
                    $(Formatter::$variant(f) => f.log(out, v)),*
                }
            }
            #[inline]
            fn span(&mut self, out: &mut Vec<u8>, v: &SpanView<'_>) -> Result<(), Corrupt> {
                match self {
                    $(Formatter::$variant(f) => f.span(out, v)),*
                }
            }
            #[inline]
            fn point(&mut self, out: &mut Vec<u8>, p: &PointView<'_>) -> Result<(), Corrupt> {
                match self {
                    $(Formatter::$variant(f) => f.point(out, p)),*
                }
            }
            #[inline]
            fn finish(&mut self, out: &mut Vec<u8>) {
                match self {
                    $(Formatter::$variant(f) => f.finish(out)),*
                }
            }
        }
    };
}

formats! {
    Json => json::JsonLines,
    Text => text::TextLines,
    Otlp => otlp::OtlpLines,
}

/// What the configuration says to formats (each takes what concerns it).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// OTLP: histograms as exponential histograms.
    pub exponential_histograms: bool,
}

/// Span kinds by their record value, as OpenTelemetry names them.
const KINDS: [&str; 5] = ["internal", "server", "client", "producer", "consumer"];
/// Status codes by their record value.
const STATUS: [&str; 3] = ["unset", "ok", "error"];
/// The percentiles a histogram point carries, in order.
const PERCENTILE_NAMES: [&str; 4] = ["p50", "p90", "p99", "p99.9"];

/// The name of scope `id`; an id never registered means a corrupt record.
fn scope_name(id: u32) -> Result<&'static str, Corrupt> {
    scope::scope_name(id).ok_or(Corrupt)
}

/// The attributes of an event or link: `all[r]`.
fn sub<'s, 'a>(all: &'s [Attr<'a>], r: &Range<usize>) -> Result<&'s [Attr<'a>], Corrupt> {
    all.get(r.clone()).ok_or(Corrupt)
}

/// A metric number.
fn num(out: &mut Vec<u8>, n: Num) {
    match n {
        Num::U(u) => write::u64(out, u),
        Num::I(i) => write::i64(out, i),
        Num::F(f) => write::f64(out, f),
    }
}

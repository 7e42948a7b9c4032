//! What the writer hands to a format: finished records and metric points, with their
//! attributes in decoded form. Format code sees these views only, never the API's types.

use crate::engine::record::DValue;
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
    /// The parent came from another process.
    pub parent_remote: bool,
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
    /// As an exponential histogram of scale `EXP_SCALE`: values <= 0, the first positive
    /// bucket's index, and the counts from there.
    pub exp_zero: u64,
    pub exp_offset: i32,
    pub exp_counts: Vec<u64>,
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

//! The identity of a span, as a plain value that crosses threads.

/// The identity of a span: its trace id and span id. `Copy` and `Send`, so it can be handed to
/// another thread and used there as an explicit parent.
///
/// ```
/// use mini_telemetry::SpanContext;
/// let ctx = SpanContext::new(0x5b8efff798038103d269b633813fc60c, 0xeee19b7ec3c1b174);
/// assert!(ctx.is_valid());
/// assert_eq!(ctx.trace_id_hex(), "5b8efff798038103d269b633813fc60c");
/// assert!(!SpanContext::NONE.is_valid());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanContext {
    trace_id: u128,
    span_id: u64,
}

impl SpanContext {
    /// No span.
    pub const NONE: SpanContext = SpanContext {
        trace_id: 0,
        span_id: 0,
    };

    /// A context from known ids (e.g. read from a request header).
    pub const fn new(trace_id: u128, span_id: u64) -> Self {
        SpanContext { trace_id, span_id }
    }

    /// The 128-bit trace id.
    pub const fn trace_id(&self) -> u128 {
        self.trace_id
    }

    /// The 64-bit span id.
    pub const fn span_id(&self) -> u64 {
        self.span_id
    }

    /// True when both ids are non-zero.
    pub const fn is_valid(&self) -> bool {
        self.trace_id != 0 && self.span_id != 0
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        format!("{:016x}", self.span_id)
    }
}

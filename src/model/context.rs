//! The identity of a span, as a plain value that crosses threads.

/// The identity of a span: its trace id and span id, with the W3C trace flags and whether it
/// came from another process. `Copy` and `Send`, so it can be handed to another thread and used
/// there as an explicit parent. Two contexts are equal when their ids are.
///
/// ```
/// use mini_telemetry::SpanContext;
/// let ctx = SpanContext::new(0x5b8efff798038103d269b633813fc60c, 0xeee19b7ec3c1b174);
/// assert!(ctx.is_valid() && ctx.is_remote() && ctx.is_sampled());
/// assert_eq!(ctx.trace_id_hex(), "5b8efff798038103d269b633813fc60c");
/// assert!(!SpanContext::NONE.is_valid());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SpanContext {
    trace_id: u128,
    span_id: u64,
    /// The W3C trace flags in the low bits, [`REMOTE`] on top: one byte, so that copying a
    /// context (the per-thread span stack does it several times per span) stays cheap.
    bits: u8,
}

/// The bit of [`SpanContext::bits`] that marks a remote context (no W3C flag uses it).
const REMOTE: u8 = 0x80;

impl PartialEq for SpanContext {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.trace_id == other.trace_id && self.span_id == other.span_id
    }
}

impl Eq for SpanContext {}

impl std::hash::Hash for SpanContext {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.trace_id.hash(state);
        self.span_id.hash(state);
    }
}

impl SpanContext {
    /// No span.
    pub const NONE: SpanContext = SpanContext {
        trace_id: 0,
        span_id: 0,
        bits: 0,
    };

    /// The W3C `sampled` trace flag.
    pub const SAMPLED: u8 = 0x01;

    /// A context from known ids, received from another process (a request header, a message):
    /// remote, and sampled.
    pub const fn new(trace_id: u128, span_id: u64) -> Self {
        SpanContext {
            trace_id,
            span_id,
            bits: Self::SAMPLED | REMOTE,
        }
    }

    /// The context of a span of this process.
    pub(crate) const fn local(trace_id: u128, span_id: u64) -> Self {
        SpanContext {
            trace_id,
            span_id,
            bits: Self::SAMPLED,
        }
    }

    /// The same context with other W3C trace flags (bit 0: sampled; bit 7 is not a W3C flag and
    /// is ignored).
    pub const fn with_trace_flags(self, flags: u8) -> Self {
        SpanContext {
            bits: (self.bits & REMOTE) | (flags & !REMOTE),
            ..self
        }
    }

    /// The 128-bit trace id.
    pub const fn trace_id(&self) -> u128 {
        self.trace_id
    }

    /// The 64-bit span id.
    pub const fn span_id(&self) -> u64 {
        self.span_id
    }

    /// The W3C trace flags.
    pub const fn trace_flags(&self) -> u8 {
        self.bits & !REMOTE
    }

    /// True when the `sampled` flag is set.
    pub const fn is_sampled(&self) -> bool {
        self.bits & Self::SAMPLED != 0
    }

    /// True for a context received from another process ([`SpanContext::new`]); false for the
    /// context of a span of this process ([`Span::context`](crate::Span::context)).
    pub const fn is_remote(&self) -> bool {
        self.bits & REMOTE != 0
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

//! Log records: a [`LogHead`], then either a [`CallsiteHead`] and the values of a macro's
//! fields (whose names and message are static callsite metadata), or the body and key-values.

use super::{Corrupt, Dec, kind};

/// Log record flag: body and field names come from a static callsite.
pub const LOG_CALLSITE: u8 = 2;

/// The fixed part of a [`kind::LOG`] record. The trace context is always encoded (zeros outside
/// a span), so the head is one constant-size copy; the writer tells a context from the zeros
/// ([`LogHead::context`]), and the caller sets no flag for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogHead {
    /// The severity number (1..=24).
    pub severity: u8,
    /// `LOG_*` flags.
    pub flags: u8,
    /// The instrumentation scope id.
    pub scope: u32,
    /// When, in clock ticks.
    pub time: u64,
    /// Attributes the producer dropped.
    pub dropped: u32,
    /// Trace id of the span current at the call (0 outside a span).
    pub trace_id: u128,
    /// Span id of the span current at the call (0 outside a span).
    pub span_id: u64,
}

impl LogHead {
    /// Encoded size, the kind byte included.
    pub const LEN: usize = 4 + 4 + 8 + 4 + 16 + 8;

    /// The encoded bytes, kind first, at constant offsets.
    #[inline(always)]
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut h = [0u8; Self::LEN];
        h[0] = kind::LOG;
        h[1] = self.severity;
        h[2] = self.flags;
        h[4..8].copy_from_slice(&self.scope.to_le_bytes());
        h[8..16].copy_from_slice(&self.time.to_le_bytes());
        h[16..20].copy_from_slice(&self.dropped.to_le_bytes());
        h[20..36].copy_from_slice(&self.trace_id.to_le_bytes());
        h[36..44].copy_from_slice(&self.span_id.to_le_bytes());
        h
    }

    /// Reads the fixed part after the kind byte.
    #[inline]
    pub fn decode(d: &mut Dec<'_>) -> Result<LogHead, Corrupt> {
        let severity = d.u8()?;
        let flags = d.u8()?;
        d.u8()?;
        Ok(LogHead {
            severity,
            flags,
            scope: d.u32()?,
            time: d.u64()?,
            dropped: d.u32()?,
            trace_id: d.u128()?,
            span_id: d.u64()?,
        })
    }

    /// The trace context, when the record carries one: both ids set (a log made outside any
    /// span carries zeros).
    #[inline]
    pub fn context(&self) -> Option<(u128, u64)> {
        (self.trace_id != 0 && self.span_id != 0).then_some((self.trace_id, self.span_id))
    }
}

/// What follows the [`LogHead`] of a macro log ([`LOG_CALLSITE`]): the callsite id and how many
/// of its fields' values follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallsiteHead {
    /// The callsite's registered id.
    pub id: u32,
    /// Values that follow, one per field in order.
    pub values: u16,
}

impl CallsiteHead {
    /// Encoded size.
    pub const LEN: usize = 4 + 2;

    /// The encoded bytes.
    #[inline(always)]
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut h = [0u8; Self::LEN];
        h[..4].copy_from_slice(&self.id.to_le_bytes());
        h[4..].copy_from_slice(&self.values.to_le_bytes());
        h
    }

    /// Reads the head.
    #[inline]
    pub fn decode(d: &mut Dec<'_>) -> Result<CallsiteHead, Corrupt> {
        Ok(CallsiteHead {
            id: d.u32()?,
            values: d.u16()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_heads_round_trip_and_tell_a_context_from_zeros() {
        let h = LogHead {
            severity: 9,
            flags: LOG_CALLSITE,
            scope: 3,
            time: 12_345,
            dropped: 2,
            trace_id: 7,
            span_id: 8,
        };
        let b = h.encode();
        assert_eq!((b[0], b[2]), (kind::LOG, LOG_CALLSITE));
        let back = LogHead::decode(&mut Dec::new(&b[1..])).unwrap();
        assert_eq!(back.context(), Some((7, 8)));
        assert_eq!(back.flags & LOG_CALLSITE, LOG_CALLSITE);
        let outside = LogHead {
            trace_id: 0,
            span_id: 0,
            ..h
        };
        let back = LogHead::decode(&mut Dec::new(&outside.encode()[1..])).unwrap();
        assert_eq!(back.context(), None);
        // Half a context (never made by the library) is none either.
        for (trace_id, span_id) in [(7, 0), (0, 8)] {
            let half = LogHead {
                trace_id,
                span_id,
                ..h
            };
            let back = LogHead::decode(&mut Dec::new(&half.encode()[1..])).unwrap();
            assert_eq!(back.context(), None);
        }
        for cut in 1..LogHead::LEN {
            assert_eq!(LogHead::decode(&mut Dec::new(&b[1..cut])), Err(Corrupt));
        }
        let c = CallsiteHead { id: 77, values: 3 };
        assert_eq!(CallsiteHead::decode(&mut Dec::new(&c.encode())), Ok(c));
    }
}

//! Span records: the end of a span ([`SpanEnd`], everything known at that point) and the parts
//! sent while it is live (attributes, events, links, a status message), each behind a
//! [`PartHead`] naming the span.

use super::{Corrupt, Dec, Enc, kind};

/// Span end flag: attributes, events, links or a status message were sent before the end.
pub const SPAN_HAS_PENDING: u8 = 2;
/// Span end flag: the parent came from another thread or process (explicit context).
pub const SPAN_PARENT_REMOTE: u8 = 4;

/// The fixed part of a [`kind::SPAN_END`] record; the span's name follows as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpanEnd {
    /// The span kind (`SpanKind as u8`).
    pub kind: u8,
    /// 0 unset, 1 ok, 2 error.
    pub status: u8,
    /// `SPAN_*` flags.
    pub flags: u8,
    /// The instrumentation scope id.
    pub scope: u32,
    /// Trace id.
    pub trace_id: u128,
    /// Span id.
    pub span_id: u64,
    /// Parent span id (0 for a root).
    pub parent_id: u64,
    /// Start, in clock ticks.
    pub start: u64,
    /// End, in clock ticks.
    pub end: u64,
    /// Attributes the producer dropped.
    pub dropped_attrs: u32,
    /// Events the producer dropped.
    pub dropped_events: u32,
    /// Links the producer dropped.
    pub dropped_links: u32,
}

/// The first eight bytes of a [`SpanEnd`] record as one little-endian word: the record kind,
/// the span kind, the status, the flags and the scope. A live span keeps its end record's head
/// in this form from its start ([`HeadWord::new`]), updates the status and flags in place, and
/// its end writes the word with one store ([`SpanEnd::encode_into`]) instead of assembling it
/// from separate fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadWord(u64);

impl HeadWord {
    const STATUS_SHIFT: u32 = 16;
    const FLAGS_SHIFT: u32 = 24;

    /// The head of a span of kind `kind` in scope `scope`, with this status and these flags.
    #[inline(always)]
    pub const fn new(kind: u8, status: u8, flags: u8, scope: u32) -> HeadWord {
        HeadWord(
            kind::SPAN_END as u64
                | (kind as u64) << 8
                | (status as u64) << Self::STATUS_SHIFT
                | (flags as u64) << Self::FLAGS_SHIFT
                | (scope as u64) << 32,
        )
    }

    /// The status byte.
    #[inline]
    pub const fn status(self) -> u8 {
        (self.0 >> Self::STATUS_SHIFT) as u8
    }

    /// The same head with `status` instead.
    #[inline]
    pub const fn with_status(self, status: u8) -> HeadWord {
        HeadWord(self.0 & !(0xff << Self::STATUS_SHIFT) | (status as u64) << Self::STATUS_SHIFT)
    }

    /// The same head with the `SPAN_*` flags `flags` set too.
    #[inline]
    pub const fn with_flags(self, flags: u8) -> HeadWord {
        HeadWord(self.0 | (flags as u64) << Self::FLAGS_SHIFT)
    }
}

impl SpanEnd {
    /// Encoded size, the kind byte included.
    pub const LEN: usize = 4 + 4 + 16 + 8 + 8 + 8 + 8 + 12;

    /// The encoded bytes, kind first: the inverse of [`decode`](Self::decode), for tests (a
    /// span writes its end from the pieces it holds, with [`encode_into`](Self::encode_into)).
    #[cfg(test)]
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut h = [0u8; Self::LEN];
        let head = HeadWord::new(self.kind, self.status, self.flags, self.scope);
        let dropped = [self.dropped_attrs, self.dropped_events, self.dropped_links];
        let (ids, times) = (
            (self.trace_id, self.span_id, self.parent_id),
            (self.start, self.end),
        );
        Self::encode_into(&mut h, head, ids, times, dropped);
        h
    }

    /// Writes the fixed part into `h` from its pieces as a live span holds them: `ids` are the
    /// trace, span and parent span ids, `times` the start and end ticks. Each field is one
    /// store at a constant offset, no bounds checks, nothing assembled on the stack first.
    #[inline(always)]
    pub fn encode_into(
        h: &mut [u8; Self::LEN],
        head: HeadWord,
        (trace_id, span_id, parent_id): (u128, u64, u64),
        (start, end): (u64, u64),
        dropped: [u32; 3],
    ) {
        h[0..8].copy_from_slice(&head.0.to_le_bytes());
        h[8..24].copy_from_slice(&trace_id.to_le_bytes());
        h[24..32].copy_from_slice(&span_id.to_le_bytes());
        h[32..40].copy_from_slice(&parent_id.to_le_bytes());
        h[40..48].copy_from_slice(&start.to_le_bytes());
        h[48..56].copy_from_slice(&end.to_le_bytes());
        h[56..60].copy_from_slice(&dropped[0].to_le_bytes());
        h[60..64].copy_from_slice(&dropped[1].to_le_bytes());
        h[64..68].copy_from_slice(&dropped[2].to_le_bytes());
    }

    /// Reads the fixed part after the kind byte.
    #[inline]
    pub fn decode(d: &mut Dec<'_>) -> Result<SpanEnd, Corrupt> {
        let kind = d.u8()?;
        let status = d.u8()?;
        let flags = d.u8()?;
        Ok(SpanEnd {
            kind,
            status,
            flags,
            scope: d.u32()?,
            trace_id: d.u128()?,
            span_id: d.u64()?,
            parent_id: d.u64()?,
            start: d.u64()?,
            end: d.u64()?,
            dropped_attrs: d.u32()?,
            dropped_events: d.u32()?,
            dropped_links: d.u32()?,
        })
    }
}

/// The start of every record about a live span: its kind and the span id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartHead {
    /// [`kind::SPAN_ATTRS`], [`kind::SPAN_EVENT`], [`kind::SPAN_LINK`] or
    /// [`kind::SPAN_STATUS`].
    pub kind: u8,
    /// The span the part belongs to.
    pub span_id: u64,
}

impl PartHead {
    /// Encoded size.
    pub const LEN: usize = 1 + 8;

    /// Writes the head.
    #[inline(always)]
    pub fn encode(&self, e: &mut Enc<'_>) {
        e.u8(self.kind);
        e.u64(self.span_id);
    }

    /// Reads the span id after the kind byte.
    #[inline]
    pub fn decode(kind: u8, d: &mut Dec<'_>) -> Result<PartHead, Corrupt> {
        Ok(PartHead {
            kind,
            span_id: d.u64()?,
        })
    }
}

/// What follows the [`PartHead`] of an event; the event's name and key-values follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHead {
    /// When the event happened, in clock ticks.
    pub time: u64,
    /// Attributes the producer dropped.
    pub dropped: u32,
}

impl EventHead {
    /// Encoded size.
    pub const LEN: usize = 8 + 4;

    /// Writes the head.
    #[inline(always)]
    pub fn encode(&self, e: &mut Enc<'_>) {
        e.u64(self.time);
        e.u32(self.dropped);
    }

    /// Reads the head.
    #[inline]
    pub fn decode(d: &mut Dec<'_>) -> Result<EventHead, Corrupt> {
        Ok(EventHead {
            time: d.u64()?,
            dropped: d.u32()?,
        })
    }
}

/// What follows the [`PartHead`] of a link; the link's key-values follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkHead {
    /// The linked span's trace id.
    pub trace_id: u128,
    /// The linked span's id.
    pub span_id: u64,
    /// Attributes the producer dropped.
    pub dropped: u32,
}

impl LinkHead {
    /// Encoded size.
    pub const LEN: usize = 16 + 8 + 4;

    /// Writes the head.
    #[inline(always)]
    pub fn encode(&self, e: &mut Enc<'_>) {
        e.u128(self.trace_id);
        e.u64(self.span_id);
        e.u32(self.dropped);
    }

    /// Reads the head.
    #[inline]
    pub fn decode(d: &mut Dec<'_>) -> Result<LinkHead, Corrupt> {
        Ok(LinkHead {
            trace_id: d.u128()?,
            span_id: d.u64()?,
            dropped: d.u32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_end_round_trips_and_every_truncation_is_corrupt() {
        let h = SpanEnd {
            kind: 2,
            status: 1,
            flags: SPAN_HAS_PENDING | SPAN_PARENT_REMOTE,
            scope: 7,
            trace_id: 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10,
            span_id: 0x1112_1314_1516_1718,
            parent_id: 0x2122_2324_2526_2728,
            start: 100,
            end: 250,
            dropped_attrs: 1,
            dropped_events: 2,
            dropped_links: 3,
        };
        let b = h.encode();
        assert_eq!(b[0], kind::SPAN_END);
        let mut d = Dec::new(&b[1..]);
        assert_eq!(SpanEnd::decode(&mut d), Ok(h));
        assert!(d.is_empty());
        for cut in 1..SpanEnd::LEN {
            assert_eq!(SpanEnd::decode(&mut Dec::new(&b[1..cut])), Err(Corrupt));
        }
    }

    #[test]
    fn a_head_word_changes_status_and_flags_in_place() {
        let h = HeadWord::new(3, 0, SPAN_PARENT_REMOTE, 0xdead_beef);
        assert_eq!(h.status(), 0);
        let h = h.with_status(2).with_flags(SPAN_HAS_PENDING).with_status(1);
        assert_eq!(h.status(), 1);
        assert_eq!(
            h,
            HeadWord::new(3, 1, SPAN_PARENT_REMOTE | SPAN_HAS_PENDING, 0xdead_beef)
        );
        let b = h.0.to_le_bytes();
        assert_eq!(b, [kind::SPAN_END, 3, 1, 6, 0xef, 0xbe, 0xad, 0xde]);
    }

    #[test]
    fn part_event_and_link_heads_round_trip() {
        let mut buf = [0u8; PartHead::LEN + EventHead::LEN + LinkHead::LEN];
        let part = PartHead {
            kind: kind::SPAN_EVENT,
            span_id: 42,
        };
        let event = EventHead {
            time: 9,
            dropped: 3,
        };
        let link = LinkHead {
            trace_id: 5,
            span_id: 6,
            dropped: 0,
        };
        let mut e = Enc::new(&mut buf, 16);
        part.encode(&mut e);
        event.encode(&mut e);
        link.encode(&mut e);
        assert_eq!(e.pos(), buf.len());
        let mut d = Dec::new(&buf);
        let k = d.u8().unwrap();
        assert_eq!(PartHead::decode(k, &mut d), Ok(part));
        assert_eq!(EventHead::decode(&mut d), Ok(event));
        assert_eq!(LinkHead::decode(&mut d), Ok(link));
        assert!(d.is_empty());
    }
}

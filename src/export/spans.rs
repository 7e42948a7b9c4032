//! Span assembly: the parts a live span sent (attributes, events, links, a status message) wait
//! here, keyed by span id, until the span's end record arrives; then the whole span is rendered
//! as one line.

use crate::engine::clock::Calibration;
use crate::engine::record::{
    Corrupt, Dec, EventHead, LinkHead, PartHead, SPAN_HAS_PENDING, SPAN_PARENT_REMOTE, SpanEnd,
    kind,
};
use crate::export::attrs::{finish_attrs, limit_keys, recycle};
use crate::export::format::{Formatter, LineFormat};
use crate::export::view::{Attr, EventView, LinkView, SpanView};
use crate::model::config::SpanLimits;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Most spans with parts (attributes, events, links, status) waiting for their end record.
const MAX_PENDING: usize = 1 << 18;
/// Most bytes of parts waiting for their spans' end records.
const MAX_PENDING_BYTES: usize = 64 << 20;

/// What arrived for a span before its end record.
#[derive(Default)]
struct Pending {
    attrs: Vec<u8>,
    n_attrs: u32,
    events: Vec<u8>,
    links: Vec<u8>,
    status_msg: String,
    /// Part records kept, and the memory they hold.
    parts: u64,
    bytes: usize,
    /// When the first part came (a count of spans that got parts): older is evicted first.
    seq: u64,
}

/// The parts of a span that sent some but whose parts were discarded since.
static EMPTY: Pending = Pending {
    attrs: Vec::new(),
    n_attrs: 0,
    events: Vec::new(),
    links: Vec::new(),
    status_msg: String::new(),
    parts: 0,
    bytes: 0,
    seq: 0,
};

impl Pending {
    fn capacity(&self) -> usize {
        self.attrs.capacity()
            + self.events.capacity()
            + self.links.capacity()
            + self.status_msg.capacity()
    }

    fn clear(&mut self) {
        self.attrs.clear();
        self.n_attrs = 0;
        self.events.clear();
        self.links.clear();
        self.status_msg.clear();
        self.parts = 0;
        self.bytes = 0;
    }
}

/// Span ids are already uniformly random 64-bit values: the pending map uses them as their own
/// hash instead of running SipHash over them.
#[derive(Default)]
struct SpanIdHasher(u64);

impl Hasher for SpanIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the key is a u64); fold anything else in, for completeness.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// The spans being assembled, and scratch space reused from one span to the next.
///
/// Each waiting span's parts live in a slot of `slots`, which stays put while the span waits (a
/// `Pending` is some 140 bytes; moving it into and out of a map and a spare list cost more than
/// the map's lookups). The span that got the latest part is kept out of the map, in `last`: a
/// span's parts and its end record usually come one after another, and then none of them
/// touches the map.
#[derive(Default)]
pub(crate) struct Spans {
    /// Waiting spans but `last`: span id to slot.
    pending: HashMap<u64, u32, BuildHasherDefault<SpanIdHasher>>,
    /// The span that got the latest part, and its slot.
    last: Option<(u64, u32)>,
    slots: Vec<Pending>,
    /// Slots not in use, cleared (each keeps its buffers if they are small enough).
    free: Vec<u32>,
    /// Spans that got parts so far (the next [`Pending::seq`]).
    seq: u64,
    /// Memory held by the waiting spans.
    bytes: usize,
    attrs: Vec<Attr<'static>>,
    sub_attrs: Vec<Attr<'static>>,
    events: Vec<EventView<'static>>,
    links: Vec<LinkView>,
}

/// Free slots that keep their buffers for reuse, and the largest buffers kept: a few, not the
/// memory of an exceptionally large span.
const KEPT_SLOTS: usize = 1024;
const KEPT_CAPACITY: usize = 64 * 1024;

impl Spans {
    /// Keeps a part of a live span (`rec` is the whole record, `head` its [`PartHead`]) until
    /// the span ends. Returns how many part records were discarded to stay within
    /// [`MAX_PENDING`] spans and [`MAX_PENDING_BYTES`]: those of the spans waiting longest (whose
    /// end may never come: a span leaked with `mem::forget`, or whose end a full ring dropped).
    /// The caller counts them as lost.
    pub fn part(&mut self, head: PartHead, rec: &[u8]) -> Result<u64, Corrupt> {
        let id = head.span_id;
        let rest = rec.get(PartHead::LEN..).ok_or(Corrupt)?;
        let mut discarded = 0;
        let waiting = self.pending.len() + usize::from(self.last.is_some());
        if (waiting >= MAX_PENDING || self.bytes + rec.len() > MAX_PENDING_BYTES) && waiting > 1 {
            discarded = self.evict_older_half(id);
        }
        let slot = match self.last {
            Some((last, slot)) if last == id => slot,
            _ => self.make_last(id),
        };
        let p = &mut self.slots[slot as usize];
        p.parts += 1;
        let before = p.capacity();
        match head.kind {
            kind::SPAN_ATTRS => {
                let mut d = Dec::new(rest);
                p.n_attrs += d.u16()? as u32;
                p.attrs.extend_from_slice(&rest[2..]);
            }
            kind::SPAN_EVENT => {
                p.events
                    .extend_from_slice(&(rest.len() as u32).to_le_bytes());
                p.events.extend_from_slice(rest);
            }
            kind::SPAN_LINK => {
                p.links
                    .extend_from_slice(&(rest.len() as u32).to_le_bytes());
                p.links.extend_from_slice(rest);
            }
            _ => {
                let mut d = Dec::new(rest);
                p.status_msg.clear();
                p.status_msg.push_str(d.str()?);
            }
        }
        // Memory as allocated (buffers grow by doubling), not just the bytes appended.
        let grown = p.capacity() - before;
        p.bytes += grown;
        self.bytes += grown;
        Ok(discarded)
    }

    /// Makes `id` the [`last`](Self::last) span, the one before it going into the map; returns
    /// its slot, a new one if the span had no parts waiting.
    fn make_last(&mut self, id: u64) -> u32 {
        if let Some((before, slot)) = self.last.take() {
            self.pending.insert(before, slot);
        }
        // An empty map (no other span waiting, the common case) needs no lookup.
        let waiting = if self.pending.is_empty() {
            None
        } else {
            self.pending.remove(&id)
        };
        let slot = waiting.unwrap_or_else(|| self.new_slot());
        self.last = Some((id, slot));
        slot
    }

    /// A slot for a span's first part: a free one if there is one.
    fn new_slot(&mut self) -> u32 {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Pending::default());
            // At most `MAX_PENDING` spans wait at once, so the index fits.
            (self.slots.len() - 1) as u32
        });
        let p = &mut self.slots[slot as usize];
        // The slot and the map's entry, and the buffers the slot kept.
        p.bytes = std::mem::size_of::<(u64, u32)>() + std::mem::size_of::<Pending>() + p.capacity();
        p.seq = self.seq;
        self.seq += 1;
        self.bytes += p.bytes;
        slot
    }

    /// Gives a span's slot back, its buffers kept for reuse if they are few and small enough.
    fn free_slot(&mut self, slot: u32) {
        let p = &mut self.slots[slot as usize];
        if self.free.len() < KEPT_SLOTS && p.capacity() <= KEPT_CAPACITY {
            p.clear();
        } else {
            *p = Pending::default();
        }
        self.free.push(slot);
    }

    /// Discards the parts of the older half of the waiting spans (those whose first part came
    /// first), never `keep`'s; returns how many records they were. Two passes over the waiting
    /// spans, done once per half of a limit's worth of new parts: O(1) amortised per part.
    #[cold]
    fn evict_older_half(&mut self, keep: u64) -> u64 {
        let waiting = self.pending.iter().map(|(&id, &slot)| (id, slot));
        let mut seqs: Vec<u64> = waiting
            .chain(self.last)
            .filter(|&(id, _)| id != keep)
            .map(|(_, slot)| self.slots[slot as usize].seq)
            .collect();
        if seqs.is_empty() {
            return 0;
        }
        let mid = seqs.len() / 2;
        let (_, &mut cut, _) = seqs.select_nth_unstable(mid);
        let slots = &self.slots;
        let older = |&(id, slot): &(u64, u32)| id != keep && slots[slot as usize].seq <= cut;
        let mut gone: Vec<(u64, u32)> = self
            .pending
            .iter()
            .map(|(&id, &slot)| (id, slot))
            .filter(older)
            .collect();
        if self.last.as_ref().is_some_and(older) {
            gone.extend(self.last.take());
        }
        let mut discarded = 0;
        for (id, slot) in gone {
            self.pending.remove(&id);
            let p = &self.slots[slot as usize];
            discarded += p.parts;
            self.bytes -= p.bytes;
            self.free_slot(slot);
        }
        discarded
    }

    /// Discards every waiting part (at shutdown: those spans never ended); returns how many
    /// records they were.
    pub fn discard_all(&mut self) -> u64 {
        self.bytes = 0;
        let waiting = self.pending.drain().map(|(_, slot)| slot);
        let discarded = waiting
            .chain(self.last.take().map(|(_, slot)| slot))
            .map(|slot| self.slots[slot as usize].parts)
            .sum();
        self.slots.clear();
        self.free.clear();
        discarded
    }

    /// Renders the span whose end record `d` holds (after its kind byte), with its parts.
    // Inlined into the writer's dispatch on the record kind (`Writer::handle_inner`): as a
    // call, with the other assembler inlined, it cost ~90 more instructions per span line.
    #[inline(always)]
    pub fn end(
        &mut self,
        mut d: Dec<'_>,
        cal: &Calibration,
        limits: &SpanLimits,
        format: &mut Formatter,
        out: &mut Vec<u8>,
    ) -> Result<(), Corrupt> {
        let h = SpanEnd::decode(&mut d)?;
        let name = d.str()?;
        let times = (
            cal.to_unix_nanos(h.start),
            cal.to_unix_nanos(h.end.max(h.start)),
        );
        if h.flags & SPAN_HAS_PENDING == 0 {
            // The common span that sent nothing before its end: no map lookup, no scratch
            // vectors (their set-up and the empty parts' drop took ~60 instructions a line).
            let parts = Parts {
                attrs: &[],
                events: &[],
                links: &[],
                sub_attrs: &[],
                status_msg: "",
                dropped_attrs: h.dropped_attrs,
            };
            return format.span(out, &view(&h, name, times, parts));
        }
        self.end_with_parts(&h, name, times, cal, limits, format, out)
    }

    /// [`end`](Self::end) for a span that sent parts (they may have been discarded since).
    #[allow(clippy::too_many_arguments)]
    fn end_with_parts(
        &mut self,
        h: &SpanEnd,
        name: &str,
        times: (u64, u64),
        cal: &Calibration,
        limits: &SpanLimits,
        format: &mut Formatter,
        out: &mut Vec<u8>,
    ) -> Result<(), Corrupt> {
        let slot = match self.last {
            Some((last, slot)) if last == h.span_id => {
                self.last = None;
                Some(slot)
            }
            _ => self.pending.remove(&h.span_id),
        };
        if let Some(slot) = slot {
            self.bytes -= self.slots[slot as usize].bytes;
        }
        let p = match slot {
            Some(slot) => &self.slots[slot as usize],
            None => &EMPTY,
        };
        let mut attrs: Vec<Attr<'_>> = recycle(std::mem::take(&mut self.attrs));
        let mut sub_attrs: Vec<Attr<'_>> = recycle(std::mem::take(&mut self.sub_attrs));
        let mut events: Vec<EventView<'_>> = recycle(std::mem::take(&mut self.events));
        let mut links = std::mem::take(&mut self.links);
        let limit = limits.attributes as usize;
        let per_event = limits.attributes_per_event as usize;
        let mut dropped_attrs = h.dropped_attrs;
        let r = (|| {
            // Attributes: a later value for a key replaces an earlier one, in place, and the
            // limit counts keys, not calls: keys past the limit are dropped (and counted), a new
            // value for a key already kept is not.
            let mut ad = Dec::new(&p.attrs);
            for _ in 0..p.n_attrs {
                ad.kv_into(&mut attrs)?;
            }
            let (_, over) = limit_keys(&mut attrs, 0, limit);
            dropped_attrs = dropped_attrs.saturating_add(over);
            let mut ed = Dec::new(&p.events);
            while !ed.is_empty() {
                let len = ed.u32()? as usize;
                let mut e = Dec::new(ed.bytes(len)?);
                let eh = EventHead::decode(&mut e)?;
                let name = e.str()?;
                let start = sub_attrs.len();
                let n = e.u16()?;
                for _ in 0..n {
                    e.kv_into(&mut sub_attrs)?;
                }
                finish_attrs(&mut sub_attrs, start, eh.dropped, per_event);
                events.push(EventView {
                    time: cal.to_unix_nanos(eh.time),
                    name,
                    attrs: start..sub_attrs.len(),
                });
            }
            let mut ld = Dec::new(&p.links);
            while !ld.is_empty() {
                let len = ld.u32()? as usize;
                let mut l = Dec::new(ld.bytes(len)?);
                let lh = LinkHead::decode(&mut l)?;
                let start = sub_attrs.len();
                let n = l.u16()?;
                for _ in 0..n {
                    l.kv_into(&mut sub_attrs)?;
                }
                finish_attrs(&mut sub_attrs, start, lh.dropped, per_event);
                links.push(LinkView {
                    trace: lh.trace_id,
                    span: lh.span_id,
                    attrs: start..sub_attrs.len(),
                });
            }
            let parts = Parts {
                attrs: &attrs,
                events: &events,
                links: &links,
                sub_attrs: &sub_attrs,
                status_msg: &p.status_msg,
                dropped_attrs,
            };
            format.span(out, &view(h, name, times, parts))
        })();
        self.attrs = recycle(attrs);
        self.sub_attrs = recycle(sub_attrs);
        self.events = recycle(events);
        links.clear();
        self.links = links;
        if let Some(slot) = slot {
            self.free_slot(slot);
        }
        r
    }
}

/// What a span's parts add to its end record.
struct Parts<'a> {
    attrs: &'a [Attr<'a>],
    events: &'a [EventView<'a>],
    links: &'a [LinkView],
    sub_attrs: &'a [Attr<'a>],
    status_msg: &'a str,
    dropped_attrs: u32,
}

/// The span to render: its end record `h`, `name`, start and end in Unix nanoseconds, parts.
#[inline(always)]
fn view<'a>(h: &SpanEnd, name: &'a str, (start, end): (u64, u64), p: Parts<'a>) -> SpanView<'a> {
    SpanView {
        scope: h.scope,
        name,
        kind: h.kind,
        trace: h.trace_id,
        span: h.span_id,
        parent: (h.parent_id != 0).then_some(h.parent_id),
        parent_remote: h.flags & SPAN_PARENT_REMOTE != 0,
        start,
        end,
        duration: end.saturating_sub(start),
        attrs: p.attrs,
        events: p.events,
        links: p.links,
        sub_attrs: p.sub_attrs,
        status: h.status,
        status_msg: p.status_msg,
        dropped_attrs: p.dropped_attrs,
        dropped_events: h.dropped_events,
        dropped_links: h.dropped_links,
    }
}

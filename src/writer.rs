//! The writer thread: drains every ring, assembles spans, exports metrics, writes the sink.
//!
//! It sleeps (`park_timeout`) between passes and is woken by producers only when a ring passes
//! half full, by `flush()` and by `shutdown()`. The sleep adapts: after a pass that found records
//! it is short (`MIN_NAP`), so under steady traffic the writer usually comes back on its own
//! before a ring is half full and producers seldom pay for a wake-up system call; each empty pass
//! doubles it, up to the configured flush interval, so an idle process costs almost nothing. On
//! Linux the writer asks for a 1 µs timer slack so that a nap ends close to its deadline (see
//! `tighten_timer_slack`). Output accumulates in one reusable buffer that is written with a few
//! large `write` calls per pass. A failing sink (closed pipe, full disk) is reported once on
//! stderr and counted; the writer keeps draining so producers never block on it.

use crate::clock::Calibration;
use crate::config::{Config, Sink};
use crate::global::{Global, scope_id};
use crate::histogram::HistAcc;
use crate::log::LOG_ATTRIBUTES;
use crate::output::{
    Attr, EventView, LinkView, LogView, Num, Output, PointData, PointView, SpanView,
};
use crate::record::{self, Corrupt, DValue, Dec, kind};
use crate::ring::Consumer;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Most spans with parts (attributes, events, links, status) waiting for their end record.
const MAX_PENDING: usize = 1 << 20;

/// The shortest sleep between passes, after a pass that found records.
const MIN_NAP: Duration = Duration::from_micros(50);

/// Output is written to the sink once the buffer holds this much.
const WRITE_CHUNK: usize = 256 * 1024;

/// Timer slack asked for the writer thread, in nanoseconds.
const TIMER_SLACK_NS: u64 = 1_000;

/// Asks the kernel to end this thread's sleeps within [`TIMER_SLACK_NS`] of their deadline.
///
/// Linux lets a sleep run late by the thread's timer slack, 50 µs by default, so that wake-ups
/// can be grouped. Measured here, a 50 µs `park_timeout` took ~122 µs (~73 µs with this slack).
/// With the default 64 KiB ring and a thread sending ~230 MB/s of records, the ring then often
/// passed half full between two passes, and the producer paid for a wake-up system call: paced
/// request p99.9 ~10 µs, against 1.9 µs with a 1 µs slack in the same slow stretch of the VM.
/// On other systems this does nothing.
fn tighten_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: `PR_SET_TIMERSLACK` takes an integer argument and changes only the calling
    // thread's timer slack; no memory is passed to the kernel. On failure the slack is unchanged.
    unsafe {
        libc::prctl(
            libc::PR_SET_TIMERSLACK,
            TIMER_SLACK_NS as libc::c_ulong,
            0,
            0,
            0,
        );
    }
}

/// A ring as the writer knows it.
pub(crate) struct RingEntry {
    pub consumer: Consumer,
    thread_name: String,
    thread_index: u32,
    reported_dropped: u64,
}

impl RingEntry {
    pub fn new(consumer: Consumer, thread_name: &str, thread_index: u32) -> Self {
        RingEntry {
            consumer,
            thread_name: thread_name.to_string(),
            thread_index,
            reported_dropped: 0,
        }
    }
}

pub(crate) fn open_sink(sink: Sink) -> std::io::Result<Box<dyn Write + Send>> {
    Ok(match sink {
        Sink::Stdout => Box::new(std::io::stdout()),
        Sink::Stderr => Box::new(std::io::stderr()),
        Sink::File(p) => Box::new(std::fs::File::create(p)?),
        Sink::Writer(w) => w,
    })
}

/// What arrived for a span before its end record.
#[derive(Default)]
struct Pending {
    attrs: Vec<u8>,
    n_attrs: u32,
    events: Vec<u8>,
    links: Vec<u8>,
    status_msg: String,
}

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

/// Adds the count of attributes the producer dropped, when there are any, the OpenTelemetry way:
/// as an attribute of its own, last (so that it wins over a caller's attribute of that name).
#[inline]
fn push_dropped(attrs: &mut Vec<Attr<'_>>, dropped: u32) {
    if dropped > 0 {
        attrs.push(("otel.dropped_attributes_count", DValue::I64(dropped as i64)));
    }
}

/// Keeps one attribute per key among `attrs[start..]`: the last value, in the place of the
/// key's first occurrence (as for span attributes). OpenTelemetry's attribute collections have
/// unique keys, and exporters are to drop the earlier duplicates. Returns whether any attribute
/// was removed; allocates only then.
#[inline]
fn keep_last_per_key(attrs: &mut Vec<Attr<'_>>, start: usize) -> bool {
    let tail = &attrs[start..];
    let n = tail.len();
    if n < 2 {
        return false;
    }
    // Compared pairwise up to 64 keys (no allocation), hashed beyond.
    let has_dup = if n <= 64 {
        (1..n).any(|i| tail[..i].iter().any(|(k, _)| *k == tail[i].0))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(n);
        !tail.iter().all(|(k, _)| seen.insert(*k))
    };
    if !has_dup {
        return false;
    }
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(n);
    let mut kept: Vec<Attr<'_>> = Vec::with_capacity(n);
    for (k, v) in attrs.drain(start..) {
        match index.get(k) {
            Some(&i) => kept[i].1 = v,
            None => {
                index.insert(k, kept.len());
                kept.push((k, v));
            }
        }
    }
    attrs.extend(kept);
    true
}

/// One attribute per key among `attrs[start..]` (see [`keep_last_per_key`]) and at most `limit`
/// keys: the limit counts keys, so a new value for a kept key is never dropped. Returns whether
/// anything changed and how many keys were dropped.
#[inline]
fn limit_keys(attrs: &mut Vec<Attr<'_>>, start: usize, limit: usize) -> (bool, u32) {
    let changed = keep_last_per_key(attrs, start);
    let kept = attrs.len() - start;
    if kept <= limit {
        return (changed, 0);
    }
    attrs.truncate(start + limit);
    (true, (kept - limit).min(u32::MAX as usize) as u32)
}

/// Makes the attributes decoded into `attrs[start..]` an OpenTelemetry attribute collection
/// ([`limit_keys`]), with the count of dropped attributes (`dropped`, from the producer, plus
/// the keys past the limit) as `otel.dropped_attributes_count`. Returns whether
/// `attrs[start..]` changed.
fn finish_attrs(attrs: &mut Vec<Attr<'_>>, start: usize, dropped: u32, limit: usize) -> bool {
    let (mut changed, over) = limit_keys(attrs, start, limit);
    let dropped = dropped.saturating_add(over);
    if dropped > 0 {
        push_dropped(attrs, dropped);
        // The caller may have used that key too: still one attribute per key (the count).
        keep_last_per_key(attrs, start);
        changed = true;
    }
    changed
}

/// Reuses a vector's allocation for a different lifetime (it is emptied first).
fn recycle<'a, 'b>(mut v: Vec<Attr<'a>>) -> Vec<Attr<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

/// As [`recycle`], for event views.
fn recycle_events<'a, 'b>(mut v: Vec<EventView<'a>>) -> Vec<EventView<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

pub(crate) struct Writer {
    g: &'static Global,
    rings: Vec<RingEntry>,
    sink: Box<dyn Write + Send>,
    sink_failed: bool,
    out: Vec<u8>,
    cal: Calibration,
    last_calibration: Instant,
    output: Output,
    pending: HashMap<u64, Pending, BuildHasherDefault<SpanIdHasher>>,
    spare: Vec<Pending>,
    attrs: Vec<Attr<'static>>,
    sub_attrs: Vec<Attr<'static>>,
    events: Vec<EventView<'static>>,
    links: Vec<LinkView>,
    /// Macro-log callsites by id: message, field names, and whether the names are all different.
    callsites: Vec<(&'static str, &'static [&'static str], bool)>,
    metric_interval: Duration,
    flush_interval: Duration,
    last_export: Instant,
    start_unix: u64,
    dropped_exited: u64,
    /// Lines rendered into `out` and not yet handed to the sink.
    lines: u64,
    written: u64,
    hist: HistAcc,
    internal_scope: u32,
}

impl Writer {
    pub fn new(cfg: &Config, sink: Box<dyn Write + Send>, g: &'static Global) -> Self {
        let cal = Calibration::new();
        let start_unix = cal.to_unix_nanos(crate::clock::now());
        Writer {
            g,
            rings: Vec::new(),
            sink,
            sink_failed: false,
            out: Vec::with_capacity(WRITE_CHUNK * 2),
            cal,
            last_calibration: Instant::now(),
            output: Output::new(cfg.format, crate::resource::attributes(cfg)),
            pending: HashMap::default(),
            spare: Vec::new(),
            attrs: Vec::new(),
            sub_attrs: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            callsites: Vec::new(),
            metric_interval: cfg.metric_interval,
            flush_interval: cfg.flush_interval,
            last_export: Instant::now(),
            start_unix,
            dropped_exited: 0,
            lines: 0,
            written: 0,
            hist: HistAcc::default(),
            internal_scope: scope_id("mini_telemetry"),
        }
    }

    pub fn run(mut self) {
        let _ = crate::global::LOCAL.try_with(|l| l.is_writer.set(true));
        tighten_timer_slack();
        let now = self.now_unix();
        self.output.resource_line(&mut self.out, now);
        self.lines += 1;
        let mut nap = self.flush_interval;
        loop {
            let (flush_req, shutdown) = {
                let c = self.g.control.lock();
                (c.flush_requested, c.shutdown)
            };
            self.adopt_rings();
            let busy = self.drain_all() > 0;
            if shutdown {
                // New records are no longer accepted (ENABLED is off; callers count them lost).
                // The drain above made room for producers blocked on a full ring; from now on
                // they give up instead (counting the record lost). Records already past those
                // checks land within microseconds: drain until the rings stay quiet.
                self.g.writer_running.store(false, Ordering::SeqCst);
                let mut quiet = 0;
                for _ in 0..200 {
                    self.adopt_rings();
                    if self.drain_all() == 0 {
                        quiet += 1;
                        if quiet == 3 {
                            break;
                        }
                    } else {
                        quiet = 0;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                self.export_metrics();
                // Records the observable callbacks made during that export (the writer's own ring).
                self.drain_all();
                self.write_out(true);
                *self.g.orphans.lock() = std::mem::take(&mut self.rings);
                let mut c = self.g.control.lock();
                c.writer_exited = true;
                c.flush_done = c.flush_requested;
                self.g.control_cv.notify_all();
                return;
            }
            let flushing = flush_req > self.g.control.lock().flush_done;
            if flushing || self.last_export.elapsed() >= self.metric_interval {
                self.export_metrics();
            }
            self.write_out(true);
            if flushing {
                let mut c = self.g.control.lock();
                c.flush_done = flush_req;
                self.g.control_cv.notify_all();
                continue;
            }
            if self.last_calibration.elapsed() > Duration::from_secs(1) {
                self.cal.refresh();
                self.last_calibration = Instant::now();
            }
            nap = if busy {
                MIN_NAP
            } else {
                nap.saturating_mul(2).min(self.flush_interval)
            };
            self.g.idle.store(true, Ordering::Release);
            if !self.any_work() {
                std::thread::park_timeout(nap);
            }
            self.g.idle.store(false, Ordering::Release);
        }
    }

    /// Renders one encoded record as the writer would and returns the output (empty when the
    /// record is rejected as corrupt). For fuzzing and corpus tests.
    pub fn render(&mut self, rec: &[u8]) -> &[u8] {
        self.out.clear();
        self.handle(rec);
        &self.out
    }

    fn now_unix(&self) -> u64 {
        self.cal.to_unix_nanos(crate::clock::now())
    }

    fn any_work(&self) -> bool {
        let c = self.g.control.lock();
        c.shutdown || c.flush_requested > c.flush_done
    }

    fn adopt_rings(&mut self) {
        let mut new = self.g.new_rings.lock();
        self.rings.append(&mut new);
    }

    /// Drains every ring once; returns the number of records read.
    fn drain_all(&mut self) -> usize {
        let mut n = 0;
        let mut rings = std::mem::take(&mut self.rings);
        let mut dropped_total = self.dropped_exited;
        rings.retain_mut(|r| {
            let closed = r.consumer.is_closed();
            n += r.consumer.drain(|rec| self.handle(rec));
            if self.out.len() >= WRITE_CHUNK {
                self.write_out(false);
            }
            let d = r.consumer.dropped();
            if closed {
                // Final: the thread exited and its ring is empty. Report its drops, reclaim it.
                self.report_dropped(r);
                self.dropped_exited += d;
                dropped_total += d;
                false
            } else {
                dropped_total += d;
                true
            }
        });
        self.rings = rings;
        self.g
            .counters
            .dropped
            .store(dropped_total, Ordering::Relaxed);
        n
    }

    fn handle(&mut self, rec: &[u8]) {
        let mark = self.out.len();
        let lines = self.lines;
        if self.handle_inner(rec).is_err() {
            self.out.truncate(mark);
            self.lines = lines;
            self.g.counters.corrupt.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn handle_inner(&mut self, rec: &[u8]) -> Result<(), Corrupt> {
        let mut d = Dec::new(rec);
        match d.u8()? {
            kind::LOG => self.log(d),
            kind::SPAN_END => self.span_end(d),
            k @ (kind::SPAN_ATTRS | kind::SPAN_EVENT | kind::SPAN_LINK | kind::SPAN_STATUS) => {
                let id = d.u64()?;
                if self.pending.len() >= MAX_PENDING && !self.pending.contains_key(&id) {
                    // Parts of spans whose end never came (dropped by a full ring, or spans
                    // leaked with mem::forget) must not grow memory without bound.
                    self.g.counters.lost.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                let spare = &mut self.spare;
                let p = self
                    .pending
                    .entry(id)
                    .or_insert_with(|| spare.pop().unwrap_or_default());
                let rest = d.bytes(rec.len() - 9)?;
                match k {
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
                Ok(())
            }
            _ => Err(Corrupt),
        }
    }

    fn log(&mut self, mut d: Dec<'_>) -> Result<(), Corrupt> {
        let severity = d.u8()?;
        let flags = d.u8()?;
        d.u8()?;
        let scope = d.u32()?;
        let time = self.cal.to_unix_nanos(d.u64()?);
        let dropped = d.u32()?;
        // The context is always encoded (zeros outside a span); the flag says whether it is one.
        let (trace, span) = (d.u128()?, d.u64()?);
        let ctx = (flags & record::LOG_HAS_CONTEXT != 0).then_some((trace, span));
        let mut attrs = recycle(std::mem::take(&mut self.attrs));
        let body: &str;
        let mut callsite = None;
        if flags & record::LOG_CALLSITE != 0 {
            let id = d.u32()?;
            let (msg, fields, unique) = self.callsite(id).ok_or(Corrupt)?;
            body = msg;
            let n = d.u16()? as usize;
            if n > fields.len() {
                return Err(Corrupt);
            }
            for f in &fields[..n] {
                attrs.push((f, d.value()?));
            }
            // A macro naming a field twice, or a record with attributes dropped (by its size,
            // or past the key limit), is rendered the general way, once per key.
            let plain = unique && dropped == 0 && n <= LOG_ATTRIBUTES;
            if plain || !finish_attrs(&mut attrs, 0, dropped, LOG_ATTRIBUTES) {
                callsite = Some((id, fields, n));
            }
        } else {
            body = d.str()?;
            let n = d.u16()?;
            for _ in 0..n {
                attrs.push(d.kv()?);
            }
            finish_attrs(&mut attrs, 0, dropped, LOG_ATTRIBUTES);
        }
        let r = self.output.log(
            &mut self.out,
            &LogView {
                scope,
                time,
                severity,
                body,
                ctx,
                attrs: &attrs,
                callsite,
            },
        );
        self.attrs = recycle(attrs);
        self.lines += 1;
        r
    }

    fn callsite(&mut self, id: u32) -> Option<(&'static str, &'static [&'static str], bool)> {
        if let Some(c) = self.callsites.get(id as usize) {
            return Some(*c);
        }
        while self.callsites.len() <= id as usize {
            let (msg, fields) = crate::log::callsite(self.callsites.len() as u32)?;
            let unique = (1..fields.len()).all(|i| !fields[..i].contains(&fields[i]));
            self.callsites.push((msg, fields, unique));
        }
        self.callsites.get(id as usize).copied()
    }

    fn span_end(&mut self, mut d: Dec<'_>) -> Result<(), Corrupt> {
        let span_kind = d.u8()?;
        let status = d.u8()?;
        let flags = d.u8()?;
        let scope = d.u32()?;
        let trace = d.u128()?;
        let span = d.u64()?;
        let parent = d.u64()?;
        let start_t = d.u64()?;
        let end_t = d.u64()?;
        let dropped_attrs = d.u32()?;
        let dropped_events = d.u32()?;
        let dropped_links = d.u32()?;
        let name = d.str()?;
        let (start_unix, end_unix) = (
            self.cal.to_unix_nanos(start_t),
            self.cal.to_unix_nanos(end_t.max(start_t)),
        );
        let pending = if flags & record::SPAN_HAS_PENDING != 0 {
            self.pending.remove(&span)
        } else {
            None
        };
        let empty = Pending::default();
        let p = pending.as_ref().unwrap_or(&empty);
        // Reusing the attribute buffers costs more than it saves for the common span without parts.
        let has_parts = pending.is_some();
        let (mut attrs, mut sub_attrs) = if has_parts {
            (
                recycle(std::mem::take(&mut self.attrs)),
                recycle(std::mem::take(&mut self.sub_attrs)),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let (mut events, mut links) = if has_parts {
            (
                recycle_events(std::mem::take(&mut self.events)),
                std::mem::take(&mut self.links),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let limit = self.g.settings.span_limits.attributes as usize;
        let per_event = self.g.settings.span_limits.attributes_per_event as usize;
        let mut dropped_attrs = dropped_attrs;
        let r = (|| {
            // Attributes: a later value for a key replaces an earlier one, in place, and the
            // limit counts keys, not calls: keys past the limit are dropped (and counted), a new
            // value for a key already kept is not.
            let mut ad = Dec::new(&p.attrs);
            for _ in 0..p.n_attrs {
                attrs.push(ad.kv()?);
            }
            let (_, over) = limit_keys(&mut attrs, 0, limit);
            dropped_attrs = dropped_attrs.saturating_add(over);
            let mut ed = Dec::new(&p.events);
            while !ed.is_empty() {
                let len = ed.u32()? as usize;
                let mut e = Dec::new(ed.bytes(len)?);
                let time = self.cal.to_unix_nanos(e.u64()?);
                let dropped = e.u32()?;
                let name = e.str()?;
                let start = sub_attrs.len();
                let n = e.u16()?;
                for _ in 0..n {
                    sub_attrs.push(e.kv()?);
                }
                finish_attrs(&mut sub_attrs, start, dropped, per_event);
                events.push(EventView {
                    time,
                    name,
                    attrs: start..sub_attrs.len(),
                });
            }
            let mut ld = Dec::new(&p.links);
            while !ld.is_empty() {
                let len = ld.u32()? as usize;
                let mut l = Dec::new(ld.bytes(len)?);
                let trace = l.u128()?;
                let span = l.u64()?;
                let dropped = l.u32()?;
                let start = sub_attrs.len();
                let n = l.u16()?;
                for _ in 0..n {
                    sub_attrs.push(l.kv()?);
                }
                finish_attrs(&mut sub_attrs, start, dropped, per_event);
                links.push(LinkView {
                    trace,
                    span,
                    attrs: start..sub_attrs.len(),
                });
            }
            self.output.span(
                &mut self.out,
                &SpanView {
                    scope,
                    name,
                    kind: span_kind,
                    trace,
                    span,
                    parent: (flags & record::SPAN_HAS_PARENT != 0).then_some(parent),
                    start: start_unix,
                    end: end_unix,
                    duration: end_unix.saturating_sub(start_unix),
                    attrs: &attrs,
                    events: &events,
                    links: &links,
                    sub_attrs: &sub_attrs,
                    status,
                    status_msg: &p.status_msg,
                    dropped_attrs,
                    dropped_events,
                    dropped_links,
                },
            )
        })();
        if has_parts {
            self.attrs = recycle(attrs);
            self.sub_attrs = recycle(sub_attrs);
        }
        if has_parts {
            self.events = recycle_events(events);
            links.clear();
            self.links = links;
        }
        if let Some(mut p) = pending {
            p.clear();
            // Keep a few buffers for reuse, not the memory of an exceptionally large span.
            if self.spare.len() < 1024 && p.capacity() <= 64 * 1024 {
                self.spare.push(p);
            }
        }
        self.lines += 1;
        r
    }

    fn report_dropped(&mut self, r: &mut RingEntry) {
        let d = r.consumer.dropped();
        if d == r.reported_dropped {
            return;
        }
        r.reported_dropped = d;
        let now = self.now_unix();
        let name = r.thread_name.clone();
        let attrs: [Attr<'_>; 2] = [
            ("thread.id", DValue::I64(r.thread_index as i64)),
            ("thread.name", DValue::Str(&name)),
        ];
        let _ = self.output.point(
            &mut self.out,
            &PointView {
                scope: self.internal_scope,
                name: "mini_telemetry.records.dropped",
                description: "Records dropped because the thread's ring was full",
                unit: "{record}",
                start: self.start_unix,
                time: now,
                attrs: &attrs,
                data: PointData::Sum {
                    monotonic: true,
                    value: Num::U(d),
                },
            },
        );
        self.lines += 1;
    }

    fn export_metrics(&mut self) {
        self.last_export = Instant::now();
        let now = self.now_unix();
        let mut rings = std::mem::take(&mut self.rings);
        for r in &mut rings {
            self.report_dropped(r);
        }
        self.rings = rings;
        let out = &mut self.out;
        let output = &mut self.output;
        let mut lines = 0u64;
        crate::metrics::export(self.start_unix, now, &mut self.hist, &mut |p| {
            if output.point(out, p).is_ok() {
                lines += 1;
            }
        });
        self.lines += lines;
    }

    fn write_out(&mut self, flush: bool) {
        if !self.out.is_empty() {
            if !self.sink_failed {
                match self.sink.write_all(&self.out) {
                    Ok(()) => self.written += self.lines,
                    Err(e) => self.sink_error(e),
                }
            }
            self.out.clear();
            self.lines = 0;
        }
        self.g
            .counters
            .written
            .store(self.written, Ordering::Relaxed);
        if flush && !self.sink_failed {
            if let Err(e) = self.sink.flush() {
                self.sink_error(e);
            }
        }
    }

    fn sink_error(&mut self, e: std::io::Error) {
        self.g.counters.write_errors.fetch_add(1, Ordering::Relaxed);
        if !self.sink_failed {
            eprintln!(
                "mini-telemetry: cannot write telemetry output ({e}); further output is discarded and counted"
            );
        }
        self.sink_failed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_attribute_per_key_the_last_value_in_the_first_place() {
        let a = |k: &'static str, v: i64| (k, DValue::I64(v));
        let mut v = vec![a("pre", 0), a("k", 1), a("j", 2), a("k", 3), a("pre", 4)];
        // Only the tail from `start` is one collection.
        assert!(keep_last_per_key(&mut v, 1));
        assert_eq!(v, [a("pre", 0), a("k", 3), a("j", 2), a("pre", 4)]);
        assert!(!keep_last_per_key(&mut v, 1));
        assert!(!keep_last_per_key(&mut v, 4));
        // The dropped count wins over a caller's attribute of the same name.
        let mut d = vec![a("otel.dropped_attributes_count", 7), a("x", 1)];
        push_dropped(&mut d, 2);
        assert!(keep_last_per_key(&mut d, 0));
        assert_eq!(d, [a("otel.dropped_attributes_count", 2), a("x", 1)]);
        // Long lists take the hashed path.
        let names: Vec<String> = (0..40).map(|i| format!("k{}", i % 20)).collect();
        let mut long: Vec<Attr<'_>> = names
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), DValue::I64(i as i64)))
            .collect();
        assert!(keep_last_per_key(&mut long, 0));
        assert_eq!(long.len(), 20);
        for (i, (k, v)) in long.iter().enumerate() {
            assert_eq!((*k, v), (names[i].as_str(), &DValue::I64(i as i64 + 20)));
        }
    }
}

//! Traces: [`Tracer`], [`Span`] guards, [`SpanContext`] for crossing threads.
//!
//! A span costs nothing on the calling thread until it ends, except for what is added to it: its
//! ids, start tick and name live in the [`Span`] guard; attributes, events, links and a status
//! message are copied into the thread's ring as they are added; the end writes one record with the
//! rest. The writer thread assembles the pieces into one output line.

use crate::engine::clock;
use crate::engine::current::{CURRENT, Entered};
use crate::engine::ids;
use crate::engine::record::{
    self, Enc, EventHead, HeadWord, LinkHead, PartHead, SPAN_HAS_PENDING, SPAN_PARENT_REMOTE,
    SpanEnd, UNCUT, event_attr_values, kind,
};
use crate::engine::scope::scope_id;
use crate::engine::shared::Global;
use crate::engine::shared::{
    ON, PARENT_BASED, exception_backtraces, flags, global, is_enabled, sampled,
};
use crate::engine::thread::{emit, emit_part};
use crate::model::context::SpanContext;
use crate::model::value::{KeyValue, Value};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;

impl SpanContext {
    /// The current span on this thread, or [`SpanContext::NONE`].
    #[inline]
    pub fn current() -> Self {
        CURRENT.try_with(|s| s.current()).unwrap_or(Self::NONE)
    }
}

/// The role of a span, as in OpenTelemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum SpanKind {
    /// An internal operation (the default).
    #[default]
    Internal = 0,
    /// Handling a request from a remote client.
    Server = 1,
    /// A request to a remote service.
    Client = 2,
    /// Sending a message.
    Producer = 3,
    /// Receiving a message.
    Consumer = 4,
}

/// A span's status.
///
/// ```
/// use mini_telemetry::Status;
/// let s = Status::error("timeout");
/// assert_eq!(s, Status::Error("timeout"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status<'a> {
    /// Not set (the default).
    #[default]
    Unset,
    /// The operation succeeded. Final: later status changes are ignored.
    Ok,
    /// The operation failed, with a message.
    Error(&'a str),
}

impl<'a> Status<'a> {
    /// An error status with a message.
    pub fn error(message: &'a str) -> Self {
        Status::Error(message)
    }
}

/// Creates spans for one instrumentation scope. Cheap to clone and to create (the scope name is
/// interned once).
///
/// ```
/// let tracer = mini_telemetry::tracer("mon.module");
/// let answer = tracer.in_span("calcul", |span| {
///     span.set_attribute("entrée", 6);
///     6 * 7
/// });
/// assert_eq!(answer, 42);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Tracer {
    scope: u32,
}

impl Tracer {
    /// The tracer of an interned scope.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) const fn for_scope(scope: u32) -> Tracer {
        Tracer { scope }
    }
}

/// A tracer for `scope` (the instrumentation scope reported on every span).
pub fn tracer(scope: &str) -> Tracer {
    Tracer {
        scope: scope_id(scope),
    }
}

impl Tracer {
    /// Starts a span that becomes the current span of this thread until dropped; it is a child of
    /// the span that was current.
    #[inline]
    pub fn start(&self, name: impl Into<Cow<'static, str>>) -> Span {
        self.span(name).start()
    }

    /// Starts an [`AsyncSpan`]: a child of the span current on this thread, that can move
    /// between threads and be held across `.await`.
    #[inline]
    pub fn start_async(&self, name: impl Into<Cow<'static, str>>) -> AsyncSpan {
        self.span(name).start_async()
    }

    /// A builder for a span with a kind, an explicit parent or attributes at start.
    #[inline]
    pub fn span(&self, name: impl Into<Cow<'static, str>>) -> SpanBuilder {
        SpanBuilder {
            scope: self.scope,
            name: name.into(),
            kind: SpanKind::Internal,
            parent: None,
            attributes: (),
        }
    }

    /// Runs `f` inside a new current span, which ends when `f` returns (or unwinds).
    #[inline]
    pub fn in_span<R>(&self, name: impl Into<Cow<'static, str>>, f: impl FnOnce(&Span) -> R) -> R {
        let span = self.start(name);
        f(&span)
    }
}

/// Options for a span, finished by [`start`](SpanBuilder::start). `A` is the type of the
/// attributes known at start, any [`AttrList`] (none: `()`).
///
/// ```
/// use mini_telemetry::{KeyValue, SpanContext, SpanKind};
/// let tracer = mini_telemetry::tracer("http");
/// let attrs = [KeyValue::new("http.request.method", "GET")];
/// let span = tracer
///     .span("GET /api")
///     .kind(SpanKind::Server)
///     .parent(SpanContext::NONE) // a root span
///     .attributes(&attrs)
///     .start();
/// drop(span);
/// ```
#[must_use]
#[derive(Debug)]
pub struct SpanBuilder<A = ()> {
    scope: u32,
    name: Cow<'static, str>,
    kind: SpanKind,
    parent: Option<SpanContext>,
    attributes: A,
}

impl<A> SpanBuilder<A> {
    /// The span's kind.
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// An explicit parent: a span's context sent from another thread, or one received from
    /// another process (then the parent is marked remote); [`SpanContext::NONE`] makes a root
    /// span.
    pub fn parent(mut self, parent: SpanContext) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Attributes known at start, in place of any given before: an array, a slice or a
    /// vector, as [`Span::set_attributes`] takes them (see [`AttrList`]).
    pub fn attributes<'b, L: AttrList<'b>>(self, attributes: L) -> SpanBuilder<L> {
        SpanBuilder {
            scope: self.scope,
            name: self.name,
            kind: self.kind,
            parent: self.parent,
            attributes,
        }
    }
}

impl<'a, A: AttrList<'a>> SpanBuilder<A> {
    /// Starts the span and makes it current on this thread.
    #[inline(always)]
    pub fn start(self) -> Span {
        let flags = flags();
        if flags & ON == 0 {
            return Span::noop();
        }
        // The common unsampled span, a child of an unsampled parent under a parent-based
        // sampler: most of a trace the sampler left out.
        if flags & PARENT_BASED != 0 {
            match &self.parent {
                None => {
                    let parent = SpanContext::current();
                    if unsampled(&parent) {
                        return Span::unsampled(parent, push_unsampled_child());
                    }
                }
                Some(p) => {
                    if unsampled(p) {
                        let pushed = push_unsampled(p.trace_id(), p.trace_flags());
                        return Span::unsampled(*p, pushed);
                    }
                }
            }
        }
        if self.parent.is_none() {
            // Each kind of list brings its own code: `Tracer::start`'s, with none, has no
            // branch for attributes.
            return self.attributes.start_here(self.scope, self.kind, self.name);
        }
        self.start_enabled()
    }

    /// Starts the span without making it current anywhere: an [`AsyncSpan`], which can move
    /// between threads and be held across `.await`. Its parent is the explicit one, else the
    /// span current on this thread. Make it current while a future runs with
    /// [`FutureExt::in_span`](crate::FutureExt::in_span).
    #[inline]
    pub fn start_async(self) -> AsyncSpan {
        if !is_enabled() {
            return AsyncSpan::noop();
        }
        let SpanBuilder {
            scope,
            name,
            kind,
            parent,
            attributes,
        } = self;
        let parent = parent.unwrap_or_else(SpanContext::current);
        let parent = if parent.is_valid() {
            parent
        } else {
            SpanContext::NONE
        };
        let ctx = child_of(parent);
        let span = AsyncSpan {
            ctx,
            rec: ctx
                .is_sampled()
                .then(|| SpanInner::new(parent, scope, kind, name)),
            parts: RefCell::new(Vec::new()),
        };
        if let Some(r) = &span.rec {
            if attributes.count() > 0 {
                r.set_fields(&span.parts, ctx.span_id(), attributes);
            }
        }
        span
    }

    /// A span with an explicit parent, but not the common unsampled one (see
    /// [`start_under`]), its attributes set inside: spans with an explicit parent start at few
    /// places (where requests come in), and out of line the call stays small.
    #[inline(never)]
    fn start_enabled(self) -> Span {
        let parent = match self.parent {
            Some(p) => p,
            None => SpanContext::current(),
        };
        start_under(parent, self.scope, self.kind, self.name, self.attributes)
    }
}

/// `SpanBuilder::start` with no explicit parent: the name passed as a static string or a
/// `Cow`.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
fn start_current_any(scope: u32, kind: SpanKind, name: Cow<'static, str>) -> Span {
    match name {
        Cow::Borrowed(name) => start_current_static(scope, kind, name),
        name => start_current(scope, kind, name),
    }
}

/// [`SpanBuilder::start_enabled`] for a child of the current span with no attributes at start:
/// three arguments instead of a whole builder through memory, and no choice of parent to make
/// (span 383 -> 351 instructions per call).
#[inline(never)]
fn start_current(scope: u32, kind: SpanKind, name: Cow<'static, str>) -> Span {
    start_under(SpanContext::current(), scope, kind, name, ())
}

/// [`start_current`] for a static name: passed in two registers, not as a `Cow` through memory.
/// Left to the compiler to inline where the span starts, which it does in the benches' calls
/// (span 297 -> 261 instructions; the caller grows by about 0.7 KB of code). The end stays out
/// of line: inlined too, it made the span 268.
#[inline]
fn start_current_static(scope: u32, kind: SpanKind, name: &'static str) -> Span {
    start_under(SpanContext::current(), scope, kind, Cow::Borrowed(name), ())
}

/// A span under `parent` (any context, valid or not), made current on this thread: a sampler
/// decision, then the span's state if sampled.
#[inline(always)]
fn start_under<'a>(
    parent: SpanContext,
    scope: u32,
    kind: SpanKind,
    name: Cow<'static, str>,
    attributes: impl AttrList<'a>,
) -> Span {
    // An invalid parent is no parent; from here on, a parent is valid iff its span id is not 0.
    let parent = if parent.is_valid() {
        parent
    } else {
        SpanContext::NONE
    };
    // (An unsampled parent under a parent-based sampler was handled by `start`.)
    let ctx = child_of(parent);
    let level = push(ctx);
    if !ctx.is_sampled() {
        // Ids and a place on the stack, nothing else: no clock read, nothing written.
        return Span {
            ctx,
            level,
            rec: ManuallyDrop::new(None),
            parts: Ring,
            _not_send: PhantomData,
        };
    }
    let rec = SpanInner::new(parent, scope, kind, name);
    if attributes.count() > 0 {
        rec.set_fields(&Ring, ctx.span_id(), attributes);
    }
    Span {
        ctx,
        level,
        rec: ManuallyDrop::new(Some(rec)),
        parts: Ring,
        _not_send: PhantomData,
    }
}

/// True when `parent` is valid and not sampled: under a parent-based sampler, its children are
/// not sampled either.
#[inline(always)]
fn unsampled(parent: &SpanContext) -> bool {
    !parent.is_sampled() && parent.is_valid()
}

impl Span {
    /// A child of `parent` that the sampler leaves out, with the span id and level `pushed`
    /// returned: ids and a place on the stack, nothing else (no sampler call, no clock read,
    /// nothing written).
    ///
    /// Built here, in the caller, from an id and a level returned in registers: a guard that
    /// does not leave the caller's function keeps its level in a register until it ends, and
    /// the push itself is a small function apart.
    #[inline(always)]
    fn unsampled(parent: SpanContext, (span_id, level): (u64, u32)) -> Span {
        Span {
            ctx: SpanContext::local(parent.trace_id(), span_id)
                .with_trace_flags(parent.trace_flags()),
            level,
            rec: ManuallyDrop::new(None),
            parts: Ring,
            _not_send: PhantomData,
        }
    }
}

/// Pushes a new unsampled child of the current span: its span id and level.
#[inline(never)]
fn push_unsampled_child() -> (u64, u32) {
    // The id first: nothing is live across the generator's first-use call, so the function
    // needs few saved registers.
    let span_id = ids::span_id();
    let parent = SpanContext::current();
    let ctx = SpanContext::local(parent.trace_id(), span_id).with_trace_flags(parent.trace_flags());
    (span_id, push(ctx))
}

/// Pushes a new unsampled span of trace `trace_id`, with those trace flags: its span id and
/// level. Inlined: spans with an explicit parent start at few places (where requests come in),
/// and out of line its arguments had to be saved around the id generator's first-use call
/// (5.1 ns against 3.9 ns per unsampled span).
#[inline(always)]
fn push_unsampled(trace_id: u128, flags: u8) -> (u64, u32) {
    let span_id = ids::span_id();
    let ctx = SpanContext::local(trace_id, span_id).with_trace_flags(flags);
    (span_id, push(ctx))
}

/// Makes `ctx` current on this thread: its level on the stack (0 if not on it).
#[inline(always)]
fn push(ctx: SpanContext) -> u32 {
    CURRENT
        .try_with(|s| s.push(ctx).level())
        .unwrap_or(Entered::NONE.level())
}

/// The context of a new span under `parent` (a root when `parent` is [`SpanContext::NONE`], the
/// only invalid parent passed here): fresh ids, the parent's trace flags with the sampler's
/// decision.
#[inline(always)]
fn child_of(parent: SpanContext) -> SpanContext {
    let valid = parent.span_id() != 0;
    let (trace_id, span_id) = if valid {
        (parent.trace_id(), ids::span_id())
    } else {
        ids::root_ids()
    };
    let flags = (parent.trace_flags() & !SpanContext::SAMPLED)
        | u8::from(sampled(trace_id, valid, parent.is_sampled()));
    SpanContext::local(trace_id, span_id).with_trace_flags(flags)
}

impl SpanInner {
    /// The state of a sampled span starting now, under `parent` (valid, or
    /// [`SpanContext::NONE`]).
    #[inline(always)]
    fn new(parent: SpanContext, scope: u32, kind: SpanKind, name: Cow<'static, str>) -> Self {
        // No flag for a parent: the writer reads it from the parent id (0 for a root).
        let flags = if parent.is_remote() {
            SPAN_PARENT_REMOTE
        } else {
            0
        };
        SpanInner {
            head: Cell::new(HeadWord::new(kind as u8, STATUS_UNSET, flags, scope)),
            parent_id: parent.span_id(),
            start: clock::now(),
            name,
            n_attrs: Cell::new(0),
            n_events: Cell::new(0),
            n_links: Cell::new(0),
            dropped_attrs: Cell::new(0),
            dropped_events: Cell::new(0),
            dropped_links: Cell::new(0),
        }
    }
}

const STATUS_UNSET: u8 = 0;
const STATUS_OK: u8 = 1;
const STATUS_ERROR: u8 = 2;

/// Counts one more event or link of a span against `limit`: false past it, and counted as
/// dropped.
#[inline]
fn admit(count: &Cell<u32>, dropped: &Cell<u32>, limit: u32) -> bool {
    if count.get() >= limit {
        dropped.set(dropped.get().saturating_add(1));
        return false;
    }
    count.set(count.get().saturating_add(1));
    true
}

/// How many of an event's or link's attributes fit in one record after `fixed` bytes (and the
/// per-event limit), their encoded size, and how many are dropped. Always inlined: left to the
/// compiler, it became a call (+24 instructions per event) in a build that changed only code
/// elsewhere in the crate.
#[inline(always)]
fn fit_sub(g: &Global, fixed: usize, attrs: &[KeyValue<'_>]) -> (usize, usize, u32) {
    let budget = g.settings.max_record().saturating_sub(fixed);
    let (n, size) = record::fit_kvs(
        attrs,
        event_attr_values(&g.settings.span_limits),
        budget,
        g.settings.max_str,
    );
    (n, size, (attrs.len() - n) as u32)
}

/// A cursor over a part record's bytes, its [`PartHead`] (kind, span id) written.
#[inline(always)]
fn part(b: &mut [u8], max_str: usize, kind: u8, span_id: u64) -> Enc<'_> {
    let mut e = Enc::new(b, max_str);
    PartHead { kind, span_id }.encode(&mut e);
    e
}

/// Where a live span's parts (attributes, events, links, status message) go.
trait Parts {
    /// One record of `len` bytes, filled by `fill`.
    fn put<F: FnOnce(&mut [u8])>(&self, g: &Global, len: usize, fill: F);

    /// A status message record: only the last one counts (the writer keeps the last).
    #[inline(always)]
    fn put_status<F: FnOnce(&mut [u8])>(&self, g: &Global, len: usize, fill: F) {
        self.put(g, len, fill);
    }
}

/// Straight into this thread's ring: a [`Span`] never leaves its thread, so its parts and its
/// end record reach the writer in order through one ring. Without the half-full test: the
/// span's end record makes it.
#[derive(Debug, Clone, Copy)]
struct Ring;

impl Parts for Ring {
    #[inline(always)]
    fn put<F: FnOnce(&mut [u8])>(&self, g: &Global, len: usize, fill: F) {
        emit_part(g, len, fill);
    }
}

/// Bytes an [`AsyncSpan`] reserves for its parts at the first one.
const HELD_FIRST: usize = 256;

/// Held in the span until it ends: an [`AsyncSpan`] may get parts on several threads, whose
/// rings the writer drains in no set order, so they travel with the end record, through the
/// ring of the thread that ends the span. Each is kept as a `u32` length and the record.
impl Parts for RefCell<Vec<u8>> {
    fn put<F: FnOnce(&mut [u8])>(&self, _: &Global, len: usize, fill: F) {
        let Ok(mut held) = self.try_borrow_mut() else {
            return;
        };
        let at = held.len();
        // One allocation for a span's usual parts (a few attributes, an event), then the
        // vector's doubling: not a reallocation per part.
        held.reserve(if at == 0 {
            (4 + len).max(HELD_FIRST)
        } else {
            4 + len
        });
        held.extend_from_slice(&(len as u32).to_le_bytes());
        held.resize(at + 4 + len, 0);
        fill(&mut held[at + 4..]);
    }

    /// Replaces the status message held so far, if any: a span that sets an error status in a
    /// loop holds one message, not one per call.
    fn put_status<F: FnOnce(&mut [u8])>(&self, g: &Global, len: usize, fill: F) {
        if let Ok(mut held) = self.try_borrow_mut() {
            let mut at = 0;
            while at + 4 < held.len() {
                let n = u32::from_le_bytes(held[at..at + 4].try_into().unwrap()) as usize;
                let end = (at + 4 + n).min(held.len());
                if held[at + 4] == kind::SPAN_STATUS {
                    held.drain(at..end);
                } else {
                    at = end;
                }
            }
        }
        self.put(g, len, fill);
    }
}

/// What a sampled span records besides its ids (its [`SpanContext`], kept beside it).
#[derive(Debug)]
struct SpanInner {
    /// The end record's first word (kind, status, flags, scope), kept encoded from the start:
    /// the end writes it as it is.
    head: Cell<HeadWord>,
    parent_id: u64,
    start: u64,
    name: Cow<'static, str>,
    n_attrs: Cell<u32>,
    n_events: Cell<u32>,
    n_links: Cell<u32>,
    dropped_attrs: Cell<u32>,
    dropped_events: Cell<u32>,
    dropped_links: Cell<u32>,
}

impl SpanInner {
    /// Notes that parts were sent before the end (the writer then looks for them).
    #[inline]
    fn set_pending(&self) {
        self.head.set(self.head.get().with_flags(SPAN_HAS_PENDING));
    }

    /// How many more attribute values this span sends, and the bytes one attributes record
    /// holds for them.
    #[inline(always)]
    fn attr_room(&self, g: &Global) -> (usize, usize) {
        let room = g
            .settings
            .span_attr_values
            .saturating_sub(self.n_attrs.get()) as usize;
        (room, g.settings.max_record() - PartHead::LEN - 2)
    }

    /// Sets several attributes in one record.
    fn set_attributes<P: Parts>(&self, parts: &P, id: u64, attrs: &[KeyValue<'_>]) {
        if attrs.is_empty() {
            return;
        }
        let Some(g) = global() else { return };
        let max_str = g.settings.max_str;
        let (room, budget) = self.attr_room(g);
        let (n, size) = record::fit_kvs(attrs, room, budget, max_str);
        if n < attrs.len() {
            self.dropped_attrs.set(
                self.dropped_attrs
                    .get()
                    .saturating_add((attrs.len() - n).min(u32::MAX as usize) as u32),
            );
        }
        if n == 0 {
            return;
        }
        self.n_attrs
            .set(self.n_attrs.get().saturating_add(n as u32));
        self.set_pending();
        parts.put(
            g,
            PartHead::LEN + 2 + size,
            #[cfg_attr(debug_assertions, inline)]
            #[cfg_attr(not(debug_assertions), inline(always))]
            |b| {
                let mut e = part(b, max_str, kind::SPAN_ATTRS, id);
                e.kvs(&attrs[..n]);
            },
        );
    }

    /// Sets attributes from any [`AttrList`]: a slice or vector goes to
    /// [`set_attributes`](Self::set_attributes); a typed list (the macro's, an array of up to 8
    /// pairs) has each value's kind known at compile time, so the record is sized and written
    /// without a match on it. Always inlined where the call is made, as is everything down to
    /// the ring: there the keys' lengths and constant values fold too (`span_attrs_macro`, when
    /// this was measured: 815 instructions with the call kept out of line, 625 inlined; the use
    /// grows by about 0.8 KB of code). Left to the compiler, it was inlined only where no other
    /// call of the same list type shared its copy (`span_attrs` 482, and 742 with a second
    /// `set_attributes` of 3 pairs in the program; 492 in both cases now).
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn set_fields<'a, P: Parts, L: AttrList<'a>>(&self, parts: &P, id: u64, fields: L) {
        if !L::TYPED {
            if let Some(attrs) = fields.as_slice() {
                return self.set_attributes(parts, id, attrs);
            }
        }
        let Some(g) = global() else { return };
        let size = list_size(&fields, UNCUT);
        let n = fields.count();
        let room = self.attr_room(g).0;
        if n == 0
            || n > u16::MAX as usize
            || n > room
            || !list_is_whole(&fields, g.settings.max_str)
            || !g.settings.fits(PartHead::LEN + 2 + size)
        {
            // Rare: past the span's limit, long strings, or huge values. The general path cuts
            // the strings, keeps what fits and counts the rest.
            return self.set_fields_slow(parts, id, fields.copy());
        }
        // `n <= room`, so the count stays within the limit (a `u32`).
        self.n_attrs.set(self.n_attrs.get() + n as u32);
        self.set_pending();
        parts.put(
            g,
            PartHead::LEN + 2 + size,
            #[cfg_attr(debug_assertions, inline)]
            #[cfg_attr(not(debug_assertions), inline(always))]
            |b| {
                let mut e = part(b, UNCUT, kind::SPAN_ATTRS, id);
                write_list(&mut e, &fields);
            },
        );
    }

    /// [`set_fields`](Self::set_fields) through the slice path.
    #[cold]
    #[inline(never)]
    fn set_fields_slow<'a, P: Parts>(&self, parts: &P, id: u64, fields: impl AttrList<'a>) {
        with_slice(&fields, |attrs| self.set_attributes(parts, id, attrs));
    }

    /// Adds a timestamped event with attributes. Left to the compiler to inline: it does for an
    /// event without attributes, whose sizing then folds (`span_attrs` 896 -> 798
    /// instructions, with no more code). [`set_attributes`](Self::set_attributes) is not
    /// marked: inlined, it saved 2 instructions for 3.7 KB of code at the call. A typed list
    /// (an array, see [`AttrList`]) is sized and written without a match on each value's kind
    /// when it fits; the rest take the general path.
    #[inline]
    fn add_event<'a, P: Parts, L: AttrList<'a>>(&self, parts: &P, id: u64, name: &str, attrs: L) {
        let Some(g) = global() else { return };
        if !admit(
            &self.n_events,
            &self.dropped_events,
            g.settings.span_limits.events,
        ) {
            return;
        }
        let time = clock::now();
        let max_str = g.settings.max_str;
        let max_text = g.settings.max_text;
        let fixed = PartHead::LEN + EventHead::LEN + record::text_size(name, max_text) + 2;
        // (Without attributes, the general path's sizing folds.)
        if L::TYPED && attrs.count() > 0 {
            let size = list_size(&attrs, UNCUT);
            let room = event_attr_values(&g.settings.span_limits).min(u16::MAX as usize);
            if attrs.count() <= room
                && list_is_whole(&attrs, max_str)
                && g.settings.fits(fixed + size)
            {
                self.set_pending();
                parts.put(
                    g,
                    fixed + size,
                    #[cfg_attr(debug_assertions, inline)]
                    #[cfg_attr(not(debug_assertions), inline(always))]
                    |b| {
                        let mut e = part(b, UNCUT, kind::SPAN_EVENT, id);
                        EventHead { time, dropped: 0 }.encode(&mut e);
                        e.text(name, max_text);
                        write_list(&mut e, &attrs);
                    },
                );
                return;
            }
        }
        with_slice(&attrs, |kvs| {
            self.event_record(parts, g, id, time, name, fixed, kvs)
        });
    }

    /// The event record of [`add_event`](Self::add_event) for a slice: as many attributes as
    /// fit, the rest counted.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn event_record<P: Parts>(
        &self,
        parts: &P,
        g: &Global,
        id: u64,
        time: u64,
        name: &str,
        fixed: usize,
        attrs: &[KeyValue<'_>],
    ) {
        let max_str = g.settings.max_str;
        let max_text = g.settings.max_text;
        let (n, size, dropped) = fit_sub(g, fixed, attrs);
        self.set_pending();
        parts.put(
            g,
            fixed + size,
            #[cfg_attr(debug_assertions, inline)]
            #[cfg_attr(not(debug_assertions), inline(always))]
            |b| {
                let mut e = part(b, max_str, kind::SPAN_EVENT, id);
                EventHead { time, dropped }.encode(&mut e);
                e.text(name, max_text);
                e.kvs(&attrs[..n]);
            },
        );
    }

    /// Adds a link to another span (of this trace or another).
    fn add_link<P: Parts>(&self, parts: &P, id: u64, to: SpanContext, attrs: &[KeyValue<'_>]) {
        if !to.is_valid() {
            return;
        }
        let Some(g) = global() else { return };
        if !admit(
            &self.n_links,
            &self.dropped_links,
            g.settings.span_limits.links,
        ) {
            return;
        }
        let max_str = g.settings.max_str;
        let fixed = PartHead::LEN + LinkHead::LEN + 2;
        let (n, size, dropped) = fit_sub(g, fixed, attrs);
        self.set_pending();
        parts.put(
            g,
            fixed + size,
            #[cfg_attr(debug_assertions, inline)]
            #[cfg_attr(not(debug_assertions), inline(always))]
            |b| {
                let mut e = part(b, max_str, kind::SPAN_LINK, id);
                LinkHead {
                    trace_id: to.trace_id(),
                    span_id: to.span_id(),
                    dropped,
                }
                .encode(&mut e);
                e.kvs(&attrs[..n]);
            },
        );
    }

    /// Sets the status. `Ok` is final; `Unset` is ignored; an error message is kept.
    fn set_status<P: Parts>(&self, parts: &P, id: u64, status: Status<'_>) {
        let head = self.head.get();
        if head.status() == STATUS_OK {
            return;
        }
        match status {
            Status::Unset => {}
            Status::Ok => self.head.set(head.with_status(STATUS_OK)),
            Status::Error(msg) => {
                self.head.set(head.with_status(STATUS_ERROR));
                // Always sent (even empty), so a later error's message replaces an earlier one.
                let Some(g) = global() else { return };
                let max_str = g.settings.max_str;
                let max_text = g.settings.max_text;
                self.set_pending();
                parts.put_status(
                    g,
                    PartHead::LEN + record::text_size(msg, max_text),
                    #[cfg_attr(debug_assertions, inline)]
                    #[cfg_attr(not(debug_assertions), inline(always))]
                    |b| {
                        let mut e = part(b, max_str, kind::SPAN_STATUS, id);
                        e.text(msg, max_text);
                    },
                );
            }
        }
    }
}

/// What [`Span::set_attributes`], [`Span::add_event`], [`Span::add_link`] (and their
/// [`AsyncSpan`] twins) and [`Logger::log`](crate::Logger::log) take: [`KeyValue`]s in an
/// array, a slice or a vector (`&[..]`, `&v[..]`, `&vec`, their
/// `&mut` forms, `&Box<[..]>`, `&Arc<[..]>`, `&Rc<[..]>`, `&Cow<[..]>`; for another container,
/// pass `&c[..]`), or the typed list the [`set_attributes!`](crate::set_attributes) macro
/// builds.
///
/// An array written at the call site, `&[KeyValue::new(..), ..]`, has its length
/// known at compile time: up to 8 pairs are then visited one by one, so that where the call is
/// inlined each value's kind is known and the two matches on it (one sizing the record, one
/// writing it) fold away, as with the macro. A slice whose length is known only at run time
/// takes the general path, a loop.
///
/// Implemented by this crate only (sealed): a list is visited twice, to size its record and to
/// write it, and must yield the same pairs both times. (The macro's list holds values already
/// converted, so that a value's `From` impl runs once.)
///
/// ```
/// use mini_telemetry::KeyValue;
/// use std::{borrow::Cow, rc::Rc, sync::Arc};
/// let tracer = mini_telemetry::tracer("shop");
/// let logger = mini_telemetry::logger("shop");
/// let span = tracer.start("checkout");
/// span.set_attributes(&[KeyValue::new("http.method", "GET"), KeyValue::new("http.status", 200)]);
/// let more = vec![KeyValue::new("cart.items", 3)];
/// span.set_attributes(&more);
/// span.set_attributes(&more[..]);
/// // Other forms a slice comes in.
/// let slice: &[KeyValue] = &more;
/// span.add_event("retry", &slice);
/// span.set_attributes(&more.clone().into_boxed_slice());
/// let shared: Arc<[KeyValue]> = more.clone().into();
/// span.set_attributes(&shared);
/// let local: Rc<[KeyValue]> = more.clone().into();
/// span.set_attributes(&local);
/// span.set_attributes(&Cow::Borrowed(&more[..]));
/// logger.log(mini_telemetry::Level::Info, "cart", &mut more.clone());
/// ```
pub trait AttrList<'a>: sealed::Sealed {
    /// The number of pairs.
    #[doc(hidden)]
    fn count(&self) -> usize;
    /// Calls `f` with each pair, in order.
    #[doc(hidden)]
    fn each(&self, f: impl FnMut(&'a str, Value<'a>));
    /// Whether the pairs are visited one by one, their kinds known where the call is inlined
    /// (else the list takes the general path, a loop over its slice).
    #[doc(hidden)]
    const TYPED: bool = true;
    /// The pairs as a slice, for a list that is one.
    #[doc(hidden)]
    #[inline(always)]
    fn as_slice(&self) -> Option<&[KeyValue<'a>]> {
        None
    }
    /// A copy of the list, for a call that is not inlined (the paths past the limits). Handing
    /// such a call the list itself would let it keep the list's address, and then the compiler
    /// could no longer assume that a write to the ring leaves the list alone: it would read each
    /// pair again after each write instead of using what the caller built.
    #[doc(hidden)]
    fn copy(&self) -> impl AttrList<'a>;
    /// [`SpanBuilder::start`] for a child of the current span: `Tracer::start`'s case, where
    /// nothing but the scope, the kind and the name goes to the call, and then the list set
    /// here, where it was built, its pairs' kinds known (`span_builder_attrs`, when this was
    /// measured: 806 instructions set inside the out-of-line start, 504 like this).
    #[doc(hidden)]
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn start_here(self, scope: u32, kind: SpanKind, name: Cow<'static, str>) -> Span
    where
        Self: Sized,
    {
        let span = start_current_any(scope, kind, name);
        if self.count() > 0 {
            span.set_attributes(self);
        }
        span
    }
}

mod sealed {
    pub trait Sealed {}
}

impl sealed::Sealed for () {}
#[doc(hidden)]
impl<'a> AttrList<'a> for () {
    #[inline(always)]
    fn count(&self) -> usize {
        0
    }
    #[inline(always)]
    fn each(&self, _: impl FnMut(&'a str, Value<'a>)) {}
    #[inline(always)]
    fn start_here(self, scope: u32, kind: SpanKind, name: Cow<'static, str>) -> Span {
        start_current_any(scope, kind, name)
    }
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn copy(&self) -> impl AttrList<'a> {}
}

// The macro's list holds values already converted: a conversion is the caller's code (a
// `From` impl), which would run once to size the record and again to write it, and need not
// give the same value twice.
impl<'a, T: AttrList<'a>> sealed::Sealed for ((&'a str, Value<'a>), T) {}
#[doc(hidden)]
impl<'a, T: AttrList<'a>> AttrList<'a> for ((&'a str, Value<'a>), T) {
    #[inline(always)]
    fn count(&self) -> usize {
        1 + self.1.count()
    }
    #[inline(always)]
    fn each(&self, mut f: impl FnMut(&'a str, Value<'a>)) {
        f(self.0.0, self.0.1);
        self.1.each(f);
    }
    #[inline(always)]
    fn copy(&self) -> impl AttrList<'a> {
        (self.0, self.1.copy())
    }
}

/// Pairs visited one by one up to this many (see [`AttrList`]).
const UNROLLED: usize = 8;

/// Visits an array of up to [`UNROLLED`] pairs at constant indices (longer ones, as a slice).
#[inline(always)]
fn each_of_array<'a, const N: usize>(
    kvs: &[KeyValue<'a>; N],
    mut f: impl FnMut(&'a str, Value<'a>),
) {
    if N > UNROLLED {
        return (&kvs[..]).each(f);
    }
    // At constant indices: a loop over the array kept the values in memory, matched at run
    // time (`span_attrs`, when this was measured: 796 instructions through the slice path,
    // 675 with a loop over the array, 506 like this).
    macro_rules! each_of {
        ($($i:literal)*) => {$(
            if let Some(kv) = kvs.get($i) {
                f(kv.key, kv.value);
            }
        )*};
    }
    each_of!(0 1 2 3 4 5 6 7);
}

impl<const N: usize> sealed::Sealed for &[KeyValue<'_>; N] {}
impl<'a, const N: usize> AttrList<'a> for &[KeyValue<'a>; N] {
    const TYPED: bool = N <= UNROLLED;
    #[inline(always)]
    fn count(&self) -> usize {
        N
    }
    #[inline(always)]
    fn each(&self, f: impl FnMut(&'a str, Value<'a>)) {
        each_of_array(self, f);
    }
    #[inline(always)]
    fn as_slice(&self) -> Option<&[KeyValue<'a>]> {
        Some(&self[..])
    }
    #[inline(always)]
    fn copy(&self) -> impl AttrList<'a> {
        ArrayCopy(**self)
    }
}

/// An array's copy (see [`AttrList::copy`]). Not an [`AttrList`] users can pass: an array by
/// value next to the `&[..]` form would have `clippy` ask for the `&` to go at every call.
struct ArrayCopy<'a, const N: usize>([KeyValue<'a>; N]);

impl<const N: usize> sealed::Sealed for ArrayCopy<'_, N> {}
impl<'a, const N: usize> AttrList<'a> for ArrayCopy<'a, N> {
    const TYPED: bool = N <= UNROLLED;
    #[inline(always)]
    fn count(&self) -> usize {
        N
    }
    #[inline(always)]
    fn each(&self, f: impl FnMut(&'a str, Value<'a>)) {
        each_of_array(&self.0, f);
    }
    #[inline(always)]
    fn as_slice(&self) -> Option<&[KeyValue<'a>]> {
        Some(&self.0[..])
    }
    #[inline(always)]
    fn copy(&self) -> impl AttrList<'a> {
        ArrayCopy(self.0)
    }
}

/// A container of [`KeyValue`]s read as a slice: the general path.
macro_rules! slice_list {
    ($($t:ty),*) => {$(
        impl<'a> sealed::Sealed for $t {}
        impl<'a> AttrList<'a> for $t {
            const TYPED: bool = false;
            #[inline(always)]
            fn count(&self) -> usize {
                self.len()
            }
            #[inline(always)]
            fn each(&self, mut f: impl FnMut(&'a str, Value<'a>)) {
                for kv in self.iter() {
                    f(kv.key, kv.value);
                }
            }
            #[inline(always)]
            fn as_slice(&self) -> Option<&[KeyValue<'a>]> {
                Some(&self[..])
            }
            #[inline(always)]
            fn copy(&self) -> impl AttrList<'a> {
                &self[..]
            }
        }
    )*};
}

slice_list!(
    &[KeyValue<'a>],
    &&[KeyValue<'a>],
    &mut [KeyValue<'a>],
    &Vec<KeyValue<'a>>,
    &mut Vec<KeyValue<'a>>,
    &Box<[KeyValue<'a>]>,
    &std::sync::Arc<[KeyValue<'a>]>,
    &std::rc::Rc<[KeyValue<'a>]>,
    &Cow<'_, [KeyValue<'a>]>
);

/// The encoded size of a typed list's pairs (its count excluded), each value sized by its kind
/// without a match where the call is inlined.
#[inline(always)]
pub(crate) fn list_size<'a>(list: &impl AttrList<'a>, max_str: usize) -> usize {
    let mut size = 0;
    list.each(
        #[inline(always)]
        |k, v| size += record::key_value_size(k, &v, max_str),
    );
    size
}

/// Whether no string in a typed list is longer than `max_str` bytes (see [`record::is_whole`]):
/// then it is sized and written with [`UNCUT`], and a literal's length is a constant.
#[inline(always)]
pub(crate) fn list_is_whole<'a>(list: &impl AttrList<'a>, max_str: usize) -> bool {
    let mut whole = true;
    list.each(
        #[inline(always)]
        |_, v| whole &= record::is_whole(&v, max_str),
    );
    whole
}

/// A typed list as a record holds it: its count (a `u16`, which the caller has checked), then
/// its pairs.
#[inline(always)]
pub(crate) fn write_list<'a>(e: &mut Enc<'_>, list: &impl AttrList<'a>) {
    e.u16(list.count() as u16);
    list.each(
        #[inline(always)]
        |k, v| e.key_value(k, &v),
    );
}

/// Calls `f` with a list's pairs as a slice, for the general path: the list itself when it is
/// one; for a typed list (past its record's limits, which is rare), a copy of it (see
/// [`AttrList::copy`]) as a slice, or else a vector of its pairs.
#[inline(always)]
pub(crate) fn with_slice<'a, L: AttrList<'a>, R>(
    list: &L,
    f: impl FnOnce(&[KeyValue<'a>]) -> R,
) -> R {
    if !L::TYPED {
        if let Some(kvs) = list.as_slice() {
            return f(kvs);
        }
    }
    let copy = list.copy();
    match copy.as_slice() {
        Some(kvs) => f(kvs),
        None => f(&collect(&copy)),
    }
}

/// A typed list's pairs in a vector (see [`with_slice`]).
#[cold]
#[inline(never)]
fn collect<'a>(list: &impl AttrList<'a>) -> Vec<KeyValue<'a>> {
    let mut kvs = Vec::with_capacity(list.count());
    list.each(|key, value| kvs.push(KeyValue { key, value }));
    kvs
}

/// Builds an [`AttrList`] from the macro's `key = value` pairs, first to last.
#[doc(hidden)]
#[macro_export]
macro_rules! __attrs {
    () => { () };
    ($k:tt = $v:expr $(, $rk:tt = $rv:expr)*) => {
        (
            ($crate::__key!($k), ::core::convert::Into::<$crate::Value<'_>>::into($v)),
            $crate::__attrs!($($rk = $rv),*)
        )
    };
}

/// Sets attributes on a [`Span`] or an [`AsyncSpan`], after checking that it records: when it
/// does not (not sampled, or made before init), the values are not evaluated. Keys are
/// identifiers or string literals, as in [`info!`](crate::info); values are what a log field
/// takes (strings, integers, floats, booleans, slices of them). It writes the record
/// [`span.set_attributes(&[...])`](Span::set_attributes) writes, with the same limits, and
/// like it on an array of up to 8 pairs each value's kind is known at compile time, not
/// matched at run time (see [`AttrList`]); each value is converted once.
///
/// ```
/// let tracer = mini_telemetry::tracer("shop");
/// let span = tracer.start("checkout");
/// mini_telemetry::set_attributes!(span, "http.method" = "GET", "http.status" = 200, cached = true);
/// ```
#[macro_export]
macro_rules! set_attributes {
    ($span:expr $(, $k:tt = $v:expr)+ $(,)?) => {{
        let __span = &$span;
        if __span.is_recording() {
            __span.set_attributes($crate::__attrs!($($k = $v),*));
        }
    }};
}

/// The recording methods of [`Span`] and [`AsyncSpan`], which differ only in where parts go
/// (their `parts` field).
macro_rules! recording_methods {
    () => {
        /// This span's ids ([`SpanContext::NONE`] for a no-op span).
        #[inline]
        pub fn context(&self) -> SpanContext {
            self.ctx
        }

        /// False for the no-op spans made before init, when disabled or after shutdown, and
        /// for spans the sampler did not sample (they still have ids, and are current).
        #[inline]
        pub fn is_recording(&self) -> bool {
            self.recording().is_some()
        }

        /// The span's state and id, when it records.
        #[inline(always)]
        fn recording(&self) -> Option<(&SpanInner, u64)> {
            self.rec.as_ref().map(|r| (r, self.ctx.span_id()))
        }

        /// Sets one attribute (a later value for the same key replaces the earlier one).
        #[cfg_attr(debug_assertions, inline)]
        #[cfg_attr(not(debug_assertions), inline(always))]
        pub fn set_attribute<'a>(&self, key: &'a str, value: impl Into<Value<'a>>) {
            if let Some((i, id)) = self.recording() {
                // A list of one, typed: where the call is inlined, the value's kind is known.
                i.set_fields(&self.parts, id, ((key, value.into()), ()));
            }
        }

        /// Sets several attributes in one record: `&[KeyValue::new(k, v), ..]`, a `&Vec` or a
        /// slice of them (see [`AttrList`]). At most `SpanLimits::attributes` (128) are kept per
        /// span; the rest are counted in `dropped_attributes_count`.
        #[cfg_attr(debug_assertions, inline)]
        #[cfg_attr(not(debug_assertions), inline(always))]
        pub fn set_attributes<'a>(&self, attrs: impl AttrList<'a>) {
            if let Some((i, id)) = self.recording() {
                i.set_fields(&self.parts, id, attrs);
            }
        }

        /// Adds a timestamped event with attributes (`&[KeyValue::new(k, v), ..]`, a `&Vec` or
        /// a slice of them: see [`AttrList`]). At most 128 events are kept per span; the rest
        /// are counted in `dropped_events_count`.
        #[inline(always)]
        pub fn add_event<'a>(&self, name: &str, attrs: impl AttrList<'a>) {
            if let Some((i, id)) = self.recording() {
                i.add_event(&self.parts, id, name, attrs);
            }
        }

        /// Adds a link to another span, of this trace or another (at most 128 per span), with
        /// attributes in any form [`AttrList`] takes (links are rare: always the general path).
        #[inline]
        pub fn add_link<'a>(&self, to: SpanContext, attrs: impl AttrList<'a>) {
            if let Some((i, id)) = self.recording() {
                with_slice(&attrs, |kvs| i.add_link(&self.parts, id, to, kvs));
            }
        }

        /// Sets the status. `Ok` is final; `Unset` is ignored; an error message is kept.
        #[inline]
        pub fn set_status(&self, status: Status<'_>) {
            if let Some((i, id)) = self.recording() {
                i.set_status(&self.parts, id, status);
            }
        }

        /// Records an error as OpenTelemetry's `exception` event: `exception.type` (the Rust
        /// type name), `exception.message` (its `Display`, followed by its sources), and
        /// `exception.stacktrace` when `Config::exception_backtraces` asks for one. The status
        /// is not changed; set it too if the span failed.
        pub fn record_exception<E: std::error::Error + ?Sized>(&self, err: &E) {
            if let Some((i, id)) = self.recording() {
                let (ty, msg, bt) = exception_parts(err);
                let mut attrs = vec![
                    KeyValue::new("exception.type", ty),
                    KeyValue::new("exception.message", msg.as_str()),
                ];
                if let Some(bt) = &bt {
                    attrs.push(KeyValue::new("exception.stacktrace", bt.as_str()));
                }
                i.add_event(&self.parts, id, "exception", &attrs);
            }
        }
    };
}

/// A live span: current on its thread until dropped, when it ends and is written.
///
/// Not `Send`: a span belongs to the thread that started it. Send its [`context`](Span::context)
/// to another thread to continue the trace there, or use an [`AsyncSpan`] for work that moves
/// between threads (async tasks).
///
/// ```
/// use mini_telemetry::{KeyValue, Status};
/// let tracer = mini_telemetry::tracer("mon.module");
/// let span = tracer.start("opération-principale");
/// span.set_attribute("utilisateur.id", "123");
/// span.add_event("événement-important", &[KeyValue::new("détail", "valeur")]);
/// span.set_status(Status::Ok);
/// drop(span); // ends the span
/// ```
#[must_use = "a span ends when it is dropped: bind it (`let span = ...`) to keep it open"]
#[derive(Debug)]
pub struct Span {
    /// The span's ids ([`SpanContext::NONE`] for a no-op span).
    ctx: SpanContext,
    /// Its level on this thread's stack of current spans.
    level: u32,
    /// `None` unless sampled. Never dropped as a field: [`Span::end`] frees what it holds (its
    /// name, if owned), so a guard has no drop glue past its `Drop` and the unsampled path of
    /// that stays small enough to inline where the guard ends.
    rec: ManuallyDrop<Option<SpanInner>>,
    parts: Ring,
    _not_send: PhantomData<*const ()>,
}

impl Span {
    /// The span made before init, when disabled or after shutdown: every method does nothing.
    ///
    /// Built as a value, not copied from a constant: the copy wrote all 112 bytes of the guard
    /// (the unused state of `rec` included), where this writes the fields a no-op span reads.
    #[inline(always)]
    fn noop() -> Span {
        Span {
            ctx: SpanContext::NONE,
            level: Entered::NONE.level(),
            rec: ManuallyDrop::new(None),
            parts: Ring,
            _not_send: PhantomData,
        }
    }

    recording_methods!();
}

impl Drop for Span {
    #[inline(always)]
    fn drop(&mut self) {
        // Off this thread's stack (with any span left above it: a leaked guard), then the end
        // record if sampled. Ended in place: the unsampled path stays small enough to inline,
        // and the state is not copied (copied out, its fields were read with wide loads just
        // after narrower stores wrote them: store-forwarding stalls).
        if self.rec.is_some() {
            self.end();
        } else if self.level != 0 {
            // A no-op span (level 0) was never on the stack.
            let entered = Entered::new(self.level, self.ctx.span_id());
            let _ = CURRENT.try_with(|s| s.pop(entered));
        }
    }
}

impl Span {
    /// Ends a sampled span, and drops its state.
    #[inline(never)]
    fn end(&mut self) {
        let entered = Entered::new(self.level, self.ctx.span_id());
        if let Some(r) = &mut *self.rec {
            r.end(&self.ctx, entered);
            // Frees an owned name; nothing else in the state holds memory. (A borrowed one is
            // left as it is: no stores.)
            if let Cow::Owned(name) = &mut r.name {
                drop(std::mem::take(name));
            }
        }
    }
}

/// A span that is `Send`: it can be held across `.await` and end on another thread than the one
/// that started it. Made by [`SpanBuilder::start_async`] or [`Tracer::start_async`]; it is
/// current while a future runs inside it ([`FutureExt::in_span`](crate::FutureExt::in_span)),
/// not otherwise. Its attributes, events and links are kept in the span until it ends (bounded
/// by the span limits) and written with its end.
///
/// ```
/// use mini_telemetry::FutureExt;
/// let tracer = mini_telemetry::tracer("http");
/// let span = tracer.start_async("GET /users");
/// span.set_attribute("http.request.method", "GET");
/// let work = async {
///     // Spans started here, on whichever thread polls, are children of "GET /users".
///     let _query = tracer.start("db.query");
/// };
/// # let _ = work.in_span(span);
/// ```
#[must_use = "a span ends when it is dropped: bind it (`let span = ...`) to keep it open"]
#[derive(Debug)]
pub struct AsyncSpan {
    /// The span's ids ([`SpanContext::NONE`] for a no-op span).
    ctx: SpanContext,
    /// `None` unless sampled.
    rec: Option<SpanInner>,
    parts: RefCell<Vec<u8>>,
}

impl AsyncSpan {
    /// The span made before init, when disabled or after shutdown: every method does nothing.
    pub(crate) const fn noop() -> AsyncSpan {
        AsyncSpan {
            ctx: SpanContext::NONE,
            rec: None,
            parts: RefCell::new(Vec::new()),
        }
    }

    recording_methods!();
}

impl Drop for AsyncSpan {
    fn drop(&mut self) {
        if let Some(r) = &mut self.rec {
            r.end_held(&self.ctx, &self.parts);
        }
    }
}

/// `exception.type`, `exception.message` and, when `Config::exception_backtraces` asks for it,
/// `exception.stacktrace` for an error.
pub(crate) fn exception_parts<E: std::error::Error + ?Sized>(
    err: &E,
) -> (&'static str, String, Option<String>) {
    let mut msg = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    // Captured only when asked: `RUST_BACKTRACE=1`, common in production, must not turn this
    // call into a tens-of-milliseconds one.
    let bt = exception_backtraces().then(|| std::backtrace::Backtrace::force_capture().to_string());
    (std::any::type_name::<E>(), msg, bt)
}

impl SpanInner {
    /// Ends a sampled [`Span`]: off the stack, then its end record.
    #[inline(always)]
    fn end(&mut self, ctx: &SpanContext, entered: Entered) {
        let end = clock::now();
        let _ = CURRENT.try_with(|s| s.pop(entered));
        self.write_end::<false>(ctx, end);
    }

    /// Ends an [`AsyncSpan`]: its held parts, then the end record, all through this thread's
    /// ring, in that order.
    fn end_held(&mut self, ctx: &SpanContext, held: &RefCell<Vec<u8>>) {
        let end = clock::now();
        let Some(g) = global() else { return };
        if let Ok(held) = held.try_borrow() {
            let mut rest: &[u8] = &held;
            while let Some((len, tail)) = rest.split_first_chunk::<4>() {
                let len = u32::from_le_bytes(*len) as usize;
                let (rec, tail) = tail.split_at(len.min(tail.len()));
                // The end record, just after, makes the half-full test.
                emit_part(
                    g,
                    rec.len(),
                    #[cfg_attr(debug_assertions, inline)]
                    #[cfg_attr(not(debug_assertions), inline(always))]
                    |b| b.copy_from_slice(rec),
                );
                rest = tail;
            }
        }
        self.write_end::<true>(ctx, end);
    }

    /// The end record, with everything known at `end` (a clock tick). Generic over which kind
    /// of span ends, so that each of the two callers gets its own copy of the ring push inlined
    /// (one shared copy is not inlined: +36 instructions per span).
    ///
    /// The guard's fields (`self`, `ctx`) are read inside the ring's fill, each copied with one
    /// load and one store, rather than held in registers across the reservation (held there,
    /// the ids were spilled around it); the head word was encoded at the start.
    #[inline(always)]
    fn write_end<const HELD: bool>(&mut self, ctx: &SpanContext, end: u64) {
        let Some(g) = global() else { return };
        // Cut once, here: the size and the copy both use the cut length.
        let name = &self.name.as_bytes()[..record::text_len(&self.name, g.settings.max_text)];
        emit(
            g,
            SpanEnd::LEN + 4 + name.len(),
            #[cfg_attr(debug_assertions, inline)]
            #[cfg_attr(not(debug_assertions), inline(always))]
            |b| {
                let mut e = Enc::new(b, 0);
                SpanEnd::encode_into(
                    e.fixed::<{ SpanEnd::LEN }>(),
                    self.head.get(),
                    (ctx.trace_id(), ctx.span_id(), self.parent_id),
                    (self.start, end),
                    [
                        self.dropped_attrs.get(),
                        self.dropped_events.get(),
                        self.dropped_links.get(),
                    ],
                );
                e.counted(name);
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::shared::Settings;
    use crate::model::config::Config;

    #[test]
    fn an_async_span_holds_one_status_message_however_often_it_is_set() {
        let g = Global::detached(Settings::new(&Config::new("t", "0", "t")));
        let held = RefCell::new(Vec::new());
        let part = |k: u8| {
            move |b: &mut [u8]| {
                b.fill(0);
                b[0] = k;
            }
        };
        held.put(&g, 20, part(kind::SPAN_ATTRS));
        for _ in 0..1000 {
            held.put_status(&g, 30, part(kind::SPAN_STATUS));
        }
        held.put(&g, 10, part(kind::SPAN_EVENT));
        held.put_status(&g, 40, part(kind::SPAN_STATUS));
        // The attributes, the event, and the last status: 3 records.
        let b = held.borrow();
        let mut kinds = Vec::new();
        let mut at = 0;
        while at < b.len() {
            let n = u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
            kinds.push((b[at + 4], n));
            at += 4 + n;
        }
        assert_eq!(
            kinds,
            [
                (kind::SPAN_ATTRS, 20),
                (kind::SPAN_EVENT, 10),
                (kind::SPAN_STATUS, 40)
            ]
        );
    }
}

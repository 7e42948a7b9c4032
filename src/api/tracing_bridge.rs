//! The `tracing` facade's spans and events as spans and logs of ours (cargo feature `tracing`).
//!
//! [`TracingLayer`] is a `tracing_subscriber::Layer`, so it composes with other layers (a
//! `fmt` layer for the console, filters):
//!
//! - a `tracing` span becomes an [`AsyncSpan`]: its name, its target as the
//!   scope, its fields as attributes (also those recorded later, except the `otel.*` and
//!   `traceparent` fields, read at creation), `follows_from` as links. Its
//!   parent is the explicit one, else the innermost span entered on the thread, of `tracing` or of
//!   ours: a `tracing` span inside one of ours is its child, and ours inside a `tracing` span are
//!   its children, whichever thread or task enters it. It ends when `tracing` closes it.
//! - a `tracing` event becomes a log: its `message` field the body, its other fields the
//!   attributes, its target the scope, the current span its trace context; or, with
//!   [`TracingLayer::events_as_span_events`], an event of the span it belongs to.
//! - the OpenTelemetry fields `otel.name` and `otel.kind` (`server`, `client`, `producer`,
//!   `consumer`, `internal`) set the span's name and kind, and a valid `traceparent` field (an
//!   incoming request's W3C header, e.g. in tower-http's `make_span_with`) its remote parent.
//!
//! Each callsite's scope is interned once, when `tracing` registers the callsite.
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//! let subscriber = tracing_subscriber::registry().with(mini_telemetry::tracing_bridge::layer());
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("request", http.route = "/users");
//!     let _entered = span.enter();
//!     tracing::info!(rows = 3, "query done");
//! });
//! ```

use crate::api::log::Logger;
use crate::api::propagation::parse_traceparent;
use crate::api::trace::{AsyncSpan, SpanKind, Tracer};
use crate::engine::current::{CURRENT, Entered};
use crate::engine::scope::scope_id;
use crate::engine::shared::{is_enabled, level_enabled};
use crate::model::context::SpanContext;
use crate::model::level::Level;
use crate::model::value::{KeyValue, Value};
use parking_lot::{Mutex, RwLock};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Interest, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// A `tracing_subscriber::Layer` that writes `tracing` spans and events through this crate.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingLayer {
    span_events: bool,
}

/// The layer, with events written as logs.
pub fn layer() -> TracingLayer {
    TracingLayer::default()
}

impl TracingLayer {
    /// Writes an event that happens inside a span as an event of that span (OpenTelemetry's
    /// span events) instead of a log; events outside spans stay logs.
    pub fn events_as_span_events(mut self, yes: bool) -> Self {
        self.span_events = yes;
        self
    }
}

/// What the layer keeps in a `tracing` span's extensions.
struct Data {
    /// The span's context, read without taking the lock.
    ctx: SpanContext,
    /// Locked only by the thread recording into the span or closing it.
    span: Mutex<AsyncSpan>,
}

/// Scopes by callsite (metadata address), interned at callsite registration.
static SCOPES: RwLock<Option<HashMap<usize, u32>>> = RwLock::new(None);

fn callsite_key(meta: &'static Metadata<'static>) -> usize {
    meta as *const Metadata<'static> as usize
}

fn intern(meta: &'static Metadata<'static>) -> u32 {
    let id = scope_id(meta.target());
    SCOPES
        .write()
        .get_or_insert_with(HashMap::new)
        .insert(callsite_key(meta), id);
    id
}

thread_local! {
    /// Recently used callsites' scopes, direct-mapped by address: no lock on the usual event.
    static SCOPE_CACHE: [std::cell::Cell<(usize, u32)>; 64] =
        const { [const { std::cell::Cell::new((0, 0)) }; 64] };
    /// `tracing` spans entered on this thread, innermost last, with what entering replaced.
    static ENTERED: RefCell<Vec<(u64, Entered)>> = const { RefCell::new(Vec::new()) };
    /// Scratch space for the fields of one event or span.
    static FIELDS: RefCell<Fields> = RefCell::new(Fields::default());
}

fn scope_of(meta: &'static Metadata<'static>) -> u32 {
    let key = callsite_key(meta);
    let slot = (key >> 4) % 64;
    let cached = SCOPE_CACHE.try_with(|c| {
        let (k, v) = c[slot].get();
        if k == key {
            return v;
        }
        // The read guard ends with this statement: `intern` takes the write lock.
        let found = SCOPES.read().as_ref().and_then(|m| m.get(&key).copied());
        let v = found.unwrap_or_else(|| intern(meta));
        c[slot].set((key, v));
        v
    });
    cached.unwrap_or_else(|_| scope_id(meta.target()))
}

fn level(l: &tracing_core::Level) -> Level {
    match *l {
        tracing_core::Level::ERROR => Level::Error,
        tracing_core::Level::WARN => Level::Warn,
        tracing_core::Level::INFO => Level::Info,
        tracing_core::Level::DEBUG => Level::Debug,
        _ => Level::Trace,
    }
}

/// A field's value as collected: strings go into one buffer, shared by the record's fields.
#[derive(Clone, Copy)]
enum Slot {
    Str(usize, usize),
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
}

/// The fields of one event or span, collected by [`Visit`].
#[derive(Default)]
struct Fields {
    message: String,
    has_message: bool,
    text: String,
    items: Vec<(&'static str, Slot)>,
    name: Option<(usize, usize)>,
    kind: Option<SpanKind>,
    /// A `traceparent` field: the span's remote parent.
    remote_parent: Option<SpanContext>,
}

impl Fields {
    fn clear(&mut self) {
        self.message.clear();
        self.has_message = false;
        self.text.clear();
        self.items.clear();
        self.name = None;
        self.kind = None;
        self.remote_parent = None;
    }

    fn text(&mut self, f: impl FnOnce(&mut String)) -> Slot {
        let at = self.text.len();
        f(&mut self.text);
        Slot::Str(at, self.text.len())
    }

    fn push(&mut self, field: &Field, slot: Slot) {
        match field.name() {
            "otel.name" => {
                if let Slot::Str(a, b) = slot {
                    self.name = Some((a, b));
                }
            }
            "otel.kind" => {
                if let Slot::Str(a, b) = slot {
                    self.kind = match &self.text[a..b] {
                        "server" => Some(SpanKind::Server),
                        "client" => Some(SpanKind::Client),
                        "producer" => Some(SpanKind::Producer),
                        "consumer" => Some(SpanKind::Consumer),
                        "internal" => Some(SpanKind::Internal),
                        _ => None,
                    };
                }
            }
            "traceparent" => {
                if let Slot::Str(a, b) = slot {
                    self.remote_parent = parse_traceparent(&self.text[a..b]);
                }
            }
            name => self.items.push((name, slot)),
        }
    }

    /// Calls `f` with the collected attributes, borrowing the text buffer: from an array on the
    /// stack for up to 16 fields (no allocation per event or span), else a vector.
    fn attributes<R>(&self, f: impl FnOnce(&[KeyValue<'_>]) -> R) -> R {
        let kv = |&(key, slot): &(&'static str, Slot)| KeyValue {
            key,
            value: match slot {
                Slot::Str(a, b) => Value::Str(&self.text[a..b]),
                Slot::Bool(v) => Value::Bool(v),
                Slot::I64(v) => Value::I64(v),
                Slot::U64(v) => Value::from(v),
                Slot::F64(v) => Value::F64(v),
            },
        };
        // The array is filled before use: the smallest that holds the fields (most events and
        // spans have a few).
        fn on_stack<'t, const N: usize, R>(
            items: &[(&'static str, Slot)],
            kv: impl Fn(&(&'static str, Slot)) -> KeyValue<'t>,
            f: impl FnOnce(&[KeyValue<'t>]) -> R,
        ) -> R {
            let mut a = [KeyValue::new("", false); N];
            for (d, item) in a.iter_mut().zip(items) {
                *d = kv(item);
            }
            f(&a[..items.len()])
        }
        match self.items.len() {
            0..=4 => on_stack::<4, R>(&self.items, kv, f),
            5..=16 => on_stack::<16, R>(&self.items, kv, f),
            _ => f(&self.items.iter().map(kv).collect::<Vec<_>>()),
        }
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Slot::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Slot::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Slot::U64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Slot::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
            self.has_message = true;
            return;
        }
        let slot = self.text(|t| t.push_str(value));
        self.push(field, slot);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let slot = self.text(|t| {
            let _ = write!(t, "{value}");
        });
        self.push(field, slot);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
            self.has_message = true;
            return;
        }
        let slot = self.text(|t| {
            let _ = write!(t, "{value:?}");
        });
        self.push(field, slot);
    }
}

/// Most scratch space a thread keeps between records.
const SCRATCH_KEPT: usize = 64 * 1024;

/// Runs `f` with this thread's scratch fields, cleared (a fresh set when re-entered).
fn with_fields<R>(f: impl FnOnce(&mut Fields) -> R) -> R {
    let mut f = Some(f);
    let r = FIELDS.try_with(|cell| {
        let mut fields = cell.try_borrow_mut().ok()?;
        fields.clear();
        let r = (f.take().unwrap())(&mut fields);
        // One huge field must not keep its memory on this thread for good.
        if fields.text.capacity() + fields.message.capacity() > SCRATCH_KEPT {
            *fields = Fields::default();
        }
        Some(r)
    });
    match r {
        Ok(Some(r)) => r,
        _ => (f.take().unwrap())(&mut Fields::default()),
    }
}

impl TracingLayer {
    fn context_of<S>(id: &Id, ctx: &Context<'_, S>) -> Option<SpanContext>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let span = ctx.span(id)?;
        let ext = span.extensions();
        ext.get::<Data>().map(|d| d.ctx)
    }
}

impl<S> tracing_subscriber::Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        intern(metadata);
        Interest::always()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !is_enabled() {
            return;
        }
        let meta = attrs.metadata();
        let contextual = if let Some(p) = attrs.parent() {
            Self::context_of(p, &ctx).unwrap_or(SpanContext::NONE)
        } else if attrs.is_contextual() {
            // The innermost span entered on this thread, `tracing`'s (pushed in `on_enter`)
            // or ours.
            SpanContext::current()
        } else {
            SpanContext::NONE
        };
        let tracer = Tracer::for_scope(scope_of(meta));
        let span = with_fields(|fields| {
            attrs.record(fields);
            let name: std::borrow::Cow<'static, str> = match fields.name {
                Some((a, b)) => fields.text[a..b].to_string().into(),
                None => meta.name().into(),
            };
            // A `traceparent` field (an incoming request's header) is the parent.
            let parent = fields.remote_parent.unwrap_or(contextual);
            let span = tracer
                .span(name)
                .kind(fields.kind.unwrap_or_default())
                .parent(parent)
                .start_async();
            if !fields.items.is_empty() {
                fields.attributes(|kvs| span.set_attributes(kvs));
            }
            span
        });
        let data = Data {
            ctx: span.context(),
            span: Mutex::new(span),
        };
        if let Some(s) = ctx.span(id) {
            s.extensions_mut().insert(data);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(s) = ctx.span(id) else { return };
        let ext = s.extensions();
        let Some(data) = ext.get::<Data>() else {
            return;
        };
        with_fields(|fields| {
            values.record(fields);
            if !fields.items.is_empty() {
                fields.attributes(|kvs| data.span.lock().set_attributes(kvs));
            }
        });
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let Some(to) = Self::context_of(follows, &ctx) else {
            return;
        };
        if let Some(s) = ctx.span(id) {
            if let Some(data) = s.extensions().get::<Data>() {
                data.span.lock().add_link(to, &[]);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let lvl = level(meta.level());
        if !level_enabled(lvl) {
            return;
        }
        // An explicit parent, or none at all for `parent: None` (a root event).
        let explicit = if event.is_root() {
            Some(SpanContext::NONE)
        } else {
            event.parent().and_then(|p| Self::context_of(p, &ctx))
        };
        let owner = if self.span_events {
            ctx.event_span(event)
        } else {
            None
        };
        with_fields(|fields| {
            event.record(fields);
            let body = if fields.has_message {
                fields.message.as_str()
            } else {
                meta.name()
            };
            fields.attributes(|kvs| {
                if let Some(owner) = &owner {
                    if let Some(data) = owner.extensions().get::<Data>() {
                        data.span.lock().add_event(body, kvs);
                        return;
                    }
                }
                let logger = Logger::for_scope(scope_of(meta));
                match explicit {
                    // An event with an explicit parent: that span is current for the record.
                    Some(parent) => {
                        let entered = CURRENT.try_with(|s| s.push(parent));
                        logger.log(lvl, body, kvs);
                        if let Ok(e) = entered {
                            let _ = CURRENT.try_with(|s| s.pop(e));
                        }
                    }
                    None => logger.log(lvl, body, kvs),
                }
            })
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span_ctx) = Self::context_of(id, &ctx) else {
            return;
        };
        let Ok(entered) = CURRENT.try_with(|s| s.push(span_ctx)) else {
            return;
        };
        let _ = ENTERED.try_with(|e| {
            if let Ok(mut e) = e.try_borrow_mut() {
                e.push((id.into_u64(), entered));
            }
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let id = id.into_u64();
        let _ = ENTERED.try_with(|e| {
            let Ok(mut e) = e.try_borrow_mut() else {
                return;
            };
            // Exits usually come innermost first; one out of order takes that span alone off
            // the stack, as `tracing` does.
            if let Some(i) = e.iter().rposition(|(x, _)| *x == id) {
                let (_, entered) = e.remove(i);
                let _ = CURRENT.try_with(|s| s.remove(entered));
            }
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(s) = ctx.span(&id) {
            // Dropping the span ends it.
            let data = s.extensions_mut().remove::<Data>();
            drop(data);
        }
    }
}

//! Spans across `.await`: futures that make a span current exactly while they are polled.
//!
//! A span is current per thread, and an async task moves between the threads of a runtime's
//! pool and shares each of them with other tasks. So a task's span is made current for each
//! poll, on whichever thread polls, and the thread's span stack is put back as it was after the
//! poll (also when the poll panics):
//!
//! - [`FutureExt::in_span`] runs a future inside an [`AsyncSpan`], which ends when the future
//!   completes or is dropped (a task cancelled mid-flight still writes its span);
//! - [`FutureExt::with_context`] runs it with a parent context current, without a span of its
//!   own, and [`FutureExt::in_current_context`] captures the span current where the future is
//!   made: the way to carry a trace into `tokio::spawn`.
//!
//! Spans started inside such a future, synchronous [`Span`](crate::Span)s included, are children
//! of its span. A synchronous `Span` guard is not `Send`, so holding one across an `.await` in a
//! multi-thread runtime does not compile; in a single-thread executor it does, and then, inside
//! `in_span` or `with_context`, the guard stops being current when the poll returns: other tasks
//! polled on the thread (themselves inside such an adapter) never see it, and this task's spans
//! started after the `.await` are children of the enclosing async span instead of the guard.
//! Hold an [`AsyncSpan`] across awaits instead.
//!
//! ```
//! use mini_telemetry::FutureExt;
//! async fn handle(tracer: mini_telemetry::Tracer) {
//!     let span = tracer.start_async("request");
//!     span.set_attribute("http.route", "/users");
//!     async {
//!         let _parse = tracer.start("parse"); // a child of "request", ended before the await
//!     }
//!     .in_span(span)
//!     .await;
//! }
//! ```

use crate::api::trace::AsyncSpan;
use crate::engine::current::{CURRENT, Entered};
use crate::model::context::SpanContext;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Adapters that make a span current while a future is polled.
pub trait FutureExt: Future + Sized {
    /// Runs the future inside `span`: the span is current on the polling thread during each
    /// poll, and ends when the future completes or is dropped.
    fn in_span(self, span: AsyncSpan) -> InSpan<Self> {
        InSpan {
            future: self,
            span: Some(span),
        }
    }

    /// Makes `parent` current during each poll, so that spans started in the future are its
    /// children ([`SpanContext::NONE`]: they are roots).
    fn with_context(self, parent: SpanContext) -> WithContext<Self> {
        WithContext {
            future: self,
            parent,
        }
    }

    /// [`with_context`](FutureExt::with_context) with the span current here and now: for a
    /// future handed to another task (`tokio::spawn(work.in_current_context())`).
    fn in_current_context(self) -> WithContext<Self> {
        let parent = SpanContext::current();
        self.with_context(parent)
    }
}

impl<F: Future> FutureExt for F {}

/// Puts the thread's current span back when dropped, after the poll (or its unwinding): the
/// context entered for the poll comes off, with anything a poll left above it.
struct Scope(Entered);

impl Scope {
    #[inline]
    fn enter(ctx: SpanContext) -> Scope {
        Scope(CURRENT.try_with(|s| s.push(ctx)).unwrap_or(Entered::NONE))
    }
}

impl Drop for Scope {
    #[inline]
    fn drop(&mut self) {
        let e = self.0;
        let _ = CURRENT.try_with(|s| s.pop(e));
    }
}

/// A future running inside an [`AsyncSpan`] ([`FutureExt::in_span`]).
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct InSpan<F> {
    /// Pinned whenever the adapter is (structural pinning: see [`pinned`]).
    future: F,
    span: Option<AsyncSpan>,
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is pinned structurally, `span` is not: `InSpan` has no `Drop`, is
        // not `repr(packed)`, is `Unpin` only when `F` is (the auto trait), and `span` is
        // never used to move `future`. The mutable borrow of `span` is of a field that is
        // never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let future = pinned(&mut this.future);
        let ctx = this
            .span
            .as_ref()
            .map_or(SpanContext::NONE, |s| s.context());
        let r = {
            let _scope = Scope::enter(ctx);
            future.poll(cx)
        };
        if r.is_ready() {
            // Ends the span, once the thread's stack is back as it was.
            this.span.take();
        }
        r
    }
}

/// A future running with a parent context current ([`FutureExt::with_context`]).
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct WithContext<F> {
    /// Pinned whenever the adapter is (structural pinning: see [`pinned`]).
    future: F,
    parent: SpanContext,
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: as in `InSpan::poll`: `future` is pinned structurally, `parent` is `Copy`
        // and only read; `WithContext` has no `Drop` and is not `repr(packed)`.
        let this = unsafe { self.get_unchecked_mut() };
        let _scope = Scope::enter(this.parent);
        pinned(&mut this.future).poll(cx)
    }
}

/// Pins the inner future of an adapter that is itself pinned.
///
/// Hand-written rather than with `pin-project-lite`, to keep the default build's dependencies
/// as they were before the async adapters; the two adapters are the only users, and each keeps
/// the rules of structural pinning: the future is never moved out of a pinned adapter (there
/// is no `Drop` impl and no method that does), and the adapter is `Unpin` only if the future is.
#[inline(always)]
fn pinned<F>(future: &mut F) -> Pin<&mut F> {
    // SAFETY: `future` is a field of an adapter reached through `Pin<&mut Self>`, which the
    // callers guarantee stays pinned until dropped; see the function's documentation.
    unsafe { Pin::new_unchecked(future) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn async_spans_and_adapters_are_send() {
        assert_send::<AsyncSpan>();
        assert_send::<InSpan<std::future::Ready<()>>>();
        assert_send::<WithContext<std::future::Ready<()>>>();
    }

    /// Pending once, then ready.
    struct YieldOnce(bool);

    impl Future for YieldOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn adapters_poll_a_self_referential_future_in_place() {
        // The async block holds a borrow of its own local across the await: it is `!Unpin`, and
        // moving it between polls would be undefined behaviour (Miri runs this test).
        let parent = SpanContext::new(3, 1);
        let work = async {
            let local = [1u8, 2, 3];
            let r = &local;
            YieldOnce(false).await;
            assert_eq!(SpanContext::current(), parent);
            r[2]
        };
        let mut fut = Box::pin(work.with_context(parent));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(SpanContext::current(), SpanContext::NONE);
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(3));
        let mut fut = Box::pin(YieldOnce(false).in_span(AsyncSpan::noop()));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(fut.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn a_poll_puts_the_thread_stack_back() {
        let a = SpanContext::new(1, 1);
        let b = SpanContext::new(1, 2);
        std::thread::spawn(move || {
            CURRENT.with(|s| {
                let outer = s.push(a);
                {
                    let _scope = Scope::enter(b);
                    assert_eq!(SpanContext::current(), b);
                    // A guard left open inside the poll.
                    let _ = s.push(SpanContext::new(1, 3));
                }
                assert_eq!(SpanContext::current(), a);
                assert_eq!(s.depth(), 1);
                s.pop(outer);
                assert_eq!(SpanContext::current(), SpanContext::NONE);
            })
        })
        .join()
        .unwrap();
    }

    #[test]
    fn an_entry_ended_below_never_comes_back() {
        // A guard moved into a future ends inside the poll: the stack had it below the
        // future's context.
        let h = SpanContext::new(2, 1);
        let a = SpanContext::new(2, 2);
        std::thread::spawn(move || {
            CURRENT.with(|s| {
                let outer = s.push(h);
                {
                    let _scope = Scope::enter(a);
                    // `h` ends out of order, from inside the poll.
                    s.pop(outer);
                }
                assert_eq!(
                    SpanContext::current(),
                    SpanContext::NONE,
                    "not the ended span"
                );
                assert_eq!(s.depth(), 0, "nothing left behind");
                s.pop(outer);
                assert_eq!(s.depth(), 0);
            })
        })
        .join()
        .unwrap();
    }
}

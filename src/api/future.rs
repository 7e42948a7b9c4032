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
use crate::engine::thread::{Entered, LOCAL};
use crate::model::context::SpanContext;
use pin_project_lite::pin_project;
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

/// Puts the thread's current span back when dropped, after the poll (or its unwinding).
struct Scope(Option<Entered>);

impl Scope {
    #[inline]
    fn enter(ctx: SpanContext) -> Scope {
        Scope(LOCAL.try_with(|l| l.enter(ctx)).ok().flatten())
    }
}

impl Drop for Scope {
    #[inline]
    fn drop(&mut self) {
        if let Some(e) = self.0.take() {
            let _ = LOCAL.try_with(|l| l.exit(e, true));
        }
    }
}

pin_project! {
    /// A future running inside an [`AsyncSpan`] ([`FutureExt::in_span`]).
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct InSpan<F> {
        #[pin]
        future: F,
        span: Option<AsyncSpan>,
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let ctx = this
            .span
            .as_ref()
            .map_or(SpanContext::NONE, |s| s.context());
        let r = {
            let _scope = Scope::enter(ctx);
            this.future.poll(cx)
        };
        if r.is_ready() {
            // Ends the span, once the thread's stack is back as it was.
            this.span.take();
        }
        r
    }
}

pin_project! {
    /// A future running with a parent context current ([`FutureExt::with_context`]).
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct WithContext<F> {
        #[pin]
        future: F,
        parent: SpanContext,
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _scope = Scope::enter(*this.parent);
        this.future.poll(cx)
    }
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

    #[test]
    fn a_poll_puts_the_thread_stack_back() {
        let a = SpanContext::new(1, 1);
        let b = SpanContext::new(1, 2);
        LOCAL.with(|l| {
            let outer = l.enter(a).unwrap();
            {
                let _scope = Scope::enter(b);
                assert_eq!(SpanContext::current(), b);
                // A guard left open inside the poll.
                let _ = l.enter(SpanContext::new(1, 3));
            }
            assert_eq!(SpanContext::current(), a);
            assert_eq!(l.stack.borrow().len(), 1);
            l.exit(outer, true);
            assert_eq!(SpanContext::current(), SpanContext::NONE);
        });
    }

    #[test]
    fn an_entry_ended_below_never_comes_back() {
        // A guard moved into a future ends inside the poll: the stack had it below the
        // future's context.
        let h = SpanContext::new(2, 1);
        let a = SpanContext::new(2, 2);
        LOCAL.with(|l| {
            let outer = l.enter(h).unwrap();
            {
                let _scope = Scope::enter(a);
                // `h` ends out of order, from inside the poll.
                l.stack.borrow_mut().retain(|c| *c != h);
            }
            assert_eq!(
                SpanContext::current(),
                SpanContext::NONE,
                "not the ended span"
            );
            assert!(l.stack.borrow().is_empty(), "nothing left behind");
            l.exit(outer, true);
            assert!(l.stack.borrow().is_empty());
        });
    }
}

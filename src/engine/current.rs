//! The spans current on the calling thread: a bounded stack of contexts (calling thread).
//!
//! A [`Span`](crate::Span) guard, a future adapter's poll and an entered `tracing` span each
//! put a context on top ([`Stack::push`]) and take it off when they end ([`Stack::pop`]). The
//! top is the current span: the parent of spans started on the thread and the span that logs
//! are attributed to.
//!
//! Ending is validated, so a misused guard cannot corrupt the context for good:
//! - taking an entry off also takes off everything pushed after it and still there (a guard
//!   leaked with `mem::forget`, or held across an `.await` inside a poll, stops being current
//!   when the span or poll enclosing it ends);
//! - an entry already taken off that way is recognised (its level no longer holds its span
//!   id) and ending it changes nothing, so an ended span never becomes current again;
//! - [`Stack::remove`] takes one entry alone off, keeping those above it (a `tracing` span
//!   exited out of order, as `tracing` does).
//!
//! The stack holds [`DEPTH`] levels. A span started deeper is not made current (its children
//! and logs are attributed to the span at the deepest level); every push and pop is O(1) and
//! the memory is fixed. Level 0 is always [`SpanContext::NONE`] and the top level is the
//! current span, so reading it is one load with no branch, and a push or pop writes the level
//! and the top index only.

use crate::model::context::SpanContext;
use std::cell::Cell;

/// Levels of the stack, less level 0.
pub(crate) const DEPTH: usize = 63;

/// Level 0 and the [`DEPTH`] levels above it: a power of two, so masking an index is its
/// bounds check.
const LEVELS: usize = DEPTH + 1;

/// The stack of one thread.
pub(crate) struct Stack {
    /// `levels[0]` is [`SpanContext::NONE`], never written.
    levels: [Cell<SpanContext>; LEVELS],
    /// The top level in use: the current span (0: none).
    top: Cell<u32>,
    /// Bit `k`: level `k` was removed alone and is skipped when the levels above it go. Only
    /// bits of levels up to `top` are ever set.
    holes: Cell<u64>,
}

thread_local! {
    /// This thread's stack. No destructor: reading it is one thread-local access.
    pub(crate) static CURRENT: Stack = const {
        Stack {
            levels: [const { Cell::new(SpanContext::NONE) }; LEVELS],
            top: Cell::new(0),
            holes: Cell::new(0),
        }
    };
}

/// Where [`Stack::push`] put a context: its level and span id, for [`Stack::pop`] to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entered {
    level: u32,
    span_id: u64,
}

impl Entered {
    /// Not on the stack (it was full): ending it changes nothing.
    pub const NONE: Entered = Entered {
        level: 0,
        span_id: 0,
    };

    /// The entry of `span_id` at `level`, as [`push`](Stack::push) returned it (a span guard
    /// keeps only the level, beside its own id).
    #[inline(always)]
    pub const fn new(level: u32, span_id: u64) -> Entered {
        Entered { level, span_id }
    }

    /// The level of the entry (0 for [`Entered::NONE`]).
    #[inline(always)]
    pub const fn level(self) -> u32 {
        self.level
    }
}

impl Stack {
    /// The current span, or [`SpanContext::NONE`].
    #[inline(always)]
    pub fn current(&self) -> SpanContext {
        self.levels[self.top.get() as usize % LEVELS].get()
    }

    /// Makes `ctx` the current span until [`pop`](Stack::pop)ped; [`Entered::NONE`] (and the
    /// current span unchanged) when all [`DEPTH`] levels are in use.
    #[inline(always)]
    pub fn push(&self, ctx: SpanContext) -> Entered {
        let level = self.top.get() + 1;
        if level as usize >= LEVELS {
            return Entered::NONE;
        }
        self.levels[level as usize % LEVELS].set(ctx);
        self.top.set(level);
        Entered {
            level,
            span_id: ctx.span_id(),
        }
    }

    /// True when `e` is still on the stack.
    #[inline(always)]
    fn holds(&self, e: Entered) -> bool {
        e.level.wrapping_sub(1) < self.top.get()
            && self.levels[e.level as usize % LEVELS].get().span_id() == e.span_id
    }

    /// Takes `e` off, with every entry above it; nothing if it is off already.
    #[inline(always)]
    pub fn pop(&self, e: Entered) {
        if self.holds(e) {
            self.truncate(e.level - 1);
        }
    }

    /// Takes `e` off alone: the entries above it stay, and the current span changes only if
    /// `e` was on top.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub fn remove(&self, e: Entered) {
        if !self.holds(e) {
            return;
        }
        if e.level == self.top.get() {
            self.truncate(e.level - 1);
        } else {
            self.holes.set(self.holes.get() | 1 << e.level);
        }
    }

    /// Makes `top` the top level, less the removed levels now on top.
    #[inline(always)]
    fn truncate(&self, top: u32) {
        let holes = self.holes.get();
        let top = if holes == 0 {
            top
        } else {
            self.skip_holes(top, holes)
        };
        self.top.set(top);
    }

    #[cold]
    #[inline(never)]
    fn skip_holes(&self, mut top: u32, holes: u64) -> u32 {
        // Levels up to `top` only (`top` < 64).
        let mut holes = holes & (u64::MAX >> (63 - top));
        while top > 0 && holes & (1 << top) != 0 {
            holes &= !(1 << top);
            top -= 1;
        }
        self.holes.set(holes);
        top
    }

    /// Levels in use.
    #[cfg(test)]
    pub fn depth(&self) -> u32 {
        self.top.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(id: u64) -> SpanContext {
        SpanContext::new(7, id)
    }

    fn with_stack(f: impl FnOnce(&Stack) + Send + 'static) {
        // On a fresh thread, so tests never share a stack.
        std::thread::spawn(move || CURRENT.with(f)).join().unwrap();
    }

    #[test]
    fn push_and_pop_nest() {
        with_stack(|s| {
            let a = s.push(ctx(1));
            let b = s.push(ctx(2));
            assert_eq!(s.current(), ctx(2));
            s.pop(b);
            assert_eq!(s.current(), ctx(1));
            s.pop(a);
            assert_eq!(s.current(), SpanContext::NONE);
            assert_eq!(s.depth(), 0);
        });
    }

    #[test]
    fn a_leaked_entry_goes_with_the_one_below_it() {
        with_stack(|s| {
            let a = s.push(ctx(1));
            let _leaked = s.push(ctx(2));
            s.pop(a);
            assert_eq!(s.current(), SpanContext::NONE);
            assert_eq!(s.depth(), 0);
        });
    }

    #[test]
    fn an_entry_taken_off_never_comes_back() {
        with_stack(|s| {
            let a = s.push(ctx(1));
            let b = s.push(ctx(2));
            s.pop(a); // out of order: b goes too
            let c = s.push(ctx(3));
            let d = s.push(ctx(4)); // at b's old level
            s.pop(b); // stale: changes nothing
            assert_eq!(s.current(), ctx(4));
            s.pop(d);
            s.pop(c);
            assert_eq!(s.current(), SpanContext::NONE);
        });
    }

    #[test]
    fn remove_keeps_the_entries_above() {
        with_stack(|s| {
            let a = s.push(ctx(1));
            let b = s.push(ctx(2));
            let c = s.push(ctx(3));
            s.remove(b);
            assert_eq!(s.current(), ctx(3));
            s.remove(c); // b, removed below it, is skipped
            assert_eq!(s.current(), ctx(1));
            assert_eq!(s.depth(), 1);
            let d = s.push(ctx(4));
            s.remove(a);
            assert_eq!(s.current(), ctx(4));
            s.pop(d);
            assert_eq!(s.current(), SpanContext::NONE);
            assert_eq!(s.depth(), 0);
        });
    }

    #[test]
    fn past_the_last_level_spans_are_not_made_current() {
        with_stack(|s| {
            let all: Vec<Entered> = (1..=DEPTH as u64 + 10).map(|i| s.push(ctx(i))).collect();
            assert_eq!(s.current(), ctx(DEPTH as u64));
            assert_eq!(all[DEPTH], Entered::NONE);
            for e in all.iter().rev() {
                s.pop(*e);
            }
            assert_eq!(s.current(), SpanContext::NONE);
        });
    }

    #[test]
    fn the_same_context_twice_is_two_entries() {
        with_stack(|s| {
            let a = s.push(SpanContext::NONE);
            let b = s.push(SpanContext::NONE);
            s.pop(b);
            assert_eq!(s.depth(), 1);
            s.pop(a);
            assert_eq!(s.depth(), 0);
        });
    }
}

//! Random trace and span ids, from a per-thread generator (calling thread).
//!
//! wyrand: one add and one 64×64→128-bit multiply per id, with a seed that mixes the clock,
//! the wall time and the address of the thread's state, so that threads and processes draw
//! different sequences. Good enough for ids, which must be unique, not unpredictable: not for
//! secrets.

use crate::engine::clock;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    /// The generator's state; 0 until the thread's first id. No destructor, so reading it is
    /// one thread-local access with no state check.
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// Threads seeded so far, mixed into each seed.
static SEEDED: AtomicU64 = AtomicU64::new(0);

#[cold]
fn seed(state: &Cell<u64>) -> u64 {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let n = SEEDED.fetch_add(1, Ordering::Relaxed);
    clock::now()
        ^ (state as *const Cell<u64> as u64).rotate_left(32)
        ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (wall.rotate_left(17) | 1)
}

/// `N` draws in a row, with one access to the thread's state.
#[inline(always)]
fn draws<const N: usize>() -> [u64; N] {
    STATE.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = seed(state);
        }
        let mut out = [0; N];
        for o in &mut out {
            s = s.wrapping_add(0xa076_1d64_78bd_642f);
            let t = (s as u128).wrapping_mul((s ^ 0xe703_7ed1_a0b4_28db) as u128);
            *o = ((t >> 64) as u64) ^ (t as u64);
        }
        state.set(s);
        out
    })
}

/// Never 0 (the invalid id): a draw of 0, one in 2^64, becomes 1, without a branch or a second
/// draw.
#[inline(always)]
fn nonzero(v: u64) -> u64 {
    v | u64::from(v == 0)
}

/// A random span id, never 0 (the invalid id).
#[inline]
pub(crate) fn span_id() -> u64 {
    let [v] = draws();
    nonzero(v)
}

/// The ids of a new trace's root span: a random trace id and span id, neither 0. Three draws
/// with one access to the generator; the trace id's high half is made non-zero, which makes the
/// whole id non-zero without a 128-bit compare.
#[inline]
pub(crate) fn root_ids() -> (u128, u64) {
    let [hi, lo, span] = draws();
    (((nonzero(hi) as u128) << 64) | lo as u128, nonzero(span))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_distinct_within_and_across_threads() {
        let draw = || (0..10_000).map(|_| span_id()).collect::<Vec<_>>();
        let mut all: HashSet<u64> = draw().into_iter().collect();
        let other = std::thread::spawn(draw).join().unwrap();
        all.extend(other);
        assert_eq!(all.len(), 20_000);
        let ((a, _), (b, span)) = (root_ids(), root_ids());
        assert_ne!(a, b);
        assert!(a >> 64 != 0 && span != 0);
    }
}

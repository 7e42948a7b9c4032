//! Whether the writer should evict the ring lines it has read (writer thread, once, a second
//! or more after init).
//!
//! A ring line goes back and forth between two cores: the producer writes it, the writer reads
//! it, and the producer's next write must take it back from the writer's cache. Where the two
//! cores share a last-level cache, taking it back is cheap, and evicting it (`clflush`) only
//! pushes it to memory, where the producer then misses on it. Where they are on two dies, as a
//! VM's two vCPUs may be on an AMD EPYC, taking it back from the other die can cost more than
//! fetching it from memory. Which case a host is in cannot be read reliably from the topology a
//! VM reports, so [`eviction_pays`] measures it: a helper thread and the calling thread pass a
//! 64 KiB buffer back and forth, line by line as the ring does, with and without eviction, in
//! alternating blocks, and eviction is chosen only if it makes the round trip clearly faster.

use crossbeam_utils::CachePadded;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lines in the probe's buffer (64 KiB: a default ring).
const LINES: usize = 1024;
/// Words of 8 bytes per 64-byte line.
const WORDS: usize = 8;
/// Round trips per timed block, and blocks per behaviour.
const ROUNDS: u32 = 4;
const BLOCKS: usize = 8;
/// Eviction must make the round trip this much faster (its time at most this fraction of the
/// time without) to be chosen: where it is about even, not evicting is the simpler behaviour.
const MUST_BEAT: f64 = 0.85;
/// The probe gives up (no eviction) past this time, e.g. when the two threads end up on one CPU.
const BUDGET: Duration = Duration::from_millis(50);

/// What [`eviction_pays`] measured: the median time of a block of round trips without and with
/// eviction, in nanoseconds, and the decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Probe {
    pub plain_ns: u64,
    pub evict_ns: u64,
    pub evict: bool,
}

/// One cache line of the buffer.
#[repr(align(64))]
struct Line([AtomicU64; WORDS]);

/// The state the two threads share: the buffer, and whose turn it is (even: the helper writes,
/// odd: the caller reads; `u32::MAX`: stop).
struct Shared {
    lines: Box<[Line]>,
    turn: CachePadded<AtomicU32>,
}

/// Waits until `turn` holds `want` (or stop); false on stop or past `deadline`.
fn wait_for(turn: &AtomicU32, want: u32, deadline: Instant) -> bool {
    let mut spins = 0u32;
    loop {
        let t = turn.load(Ordering::Acquire);
        if t == want {
            return true;
        }
        if t == u32::MAX {
            return false;
        }
        spins += 1;
        if spins & 1023 == 0 {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Measures whether evicting read lines speeds up the producer–consumer hand-off on this host
/// (see the module docs). Takes a few milliseconds; `None` if it could not measure (one CPU,
/// no thread, or past its time budget).
pub(crate) fn eviction_pays() -> Option<Probe> {
    if cfg!(not(all(target_arch = "x86_64", not(miri))))
        || std::thread::available_parallelism().map_or(1, |n| n.get()) < 2
    {
        return None;
    }
    let shared = Arc::new(Shared {
        lines: (0..LINES)
            .map(|_| Line([const { AtomicU64::new(0) }; WORDS]))
            .collect(),
        turn: CachePadded::new(AtomicU32::new(1)),
    });
    let deadline = Instant::now() + BUDGET;
    let helper = {
        let s = shared.clone();
        std::thread::Builder::new()
            .name("mini-telemetry-probe".into())
            .spawn(move || {
                // The producer: on its turn, writes every word of every line, as a ring's
                // producer fills records.
                let mut turn = 2u32;
                while wait_for(&s.turn, turn, deadline) {
                    for line in s.lines.iter() {
                        for w in &line.0 {
                            w.store(u64::from(turn), Ordering::Relaxed);
                        }
                    }
                    s.turn.store(turn + 1, Ordering::Release);
                    turn += 2;
                }
            })
            .ok()?
    };
    let mut turn = 1u32;
    let mut sum = 0u64;
    // One round trip: hand the buffer to the helper, wait for it, read it (and evict it).
    let mut round = |evict: bool| -> bool {
        shared.turn.store(turn + 1, Ordering::Release);
        turn += 2;
        if !wait_for(&shared.turn, turn, deadline) {
            return false;
        }
        for line in shared.lines.iter() {
            sum = sum.wrapping_add(line.0[0].load(Ordering::Relaxed));
            if evict {
                crate::engine::sys::evict_ref(line);
            }
        }
        true
    };
    let mut plain = Vec::with_capacity(BLOCKS);
    let mut evicting = Vec::with_capacity(BLOCKS);
    let mut ok = round(false); // warm-up
    'blocks: for b in 0..BLOCKS * 2 {
        // Alternate which behaviour goes first in a pair, so drift favours neither.
        let evict = (b % 2 == 1) ^ (b % 4 >= 2);
        let t = Instant::now();
        for _ in 0..ROUNDS {
            if !round(evict) {
                ok = false;
                break 'blocks;
            }
        }
        let ns = t.elapsed().as_nanos() as u64;
        if evict { &mut evicting } else { &mut plain }.push(ns);
    }
    shared.turn.store(u32::MAX, Ordering::Release);
    let _ = helper.join();
    std::hint::black_box(sum);
    if !ok {
        return None;
    }
    let median = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let (plain_ns, evict_ns) = (median(&mut plain), median(&mut evicting));
    Some(Probe {
        plain_ns,
        evict_ns,
        evict: (evict_ns as f64) < plain_ns as f64 * MUST_BEAT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_measures_both_behaviours_and_decides_by_them() {
        // No timing is asserted: only that both behaviours were measured and the decision
        // follows the documented rule.
        if let Some(p) = eviction_pays() {
            println!("{p:?}");
            assert!(p.plain_ns > 0 && p.evict_ns > 0, "{p:?}");
            assert_eq!(p.evict, (p.evict_ns as f64) < p.plain_ns as f64 * MUST_BEAT);
        }
    }
}

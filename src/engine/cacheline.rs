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
//! buffer the size of a ring back and forth, line by line as the ring does, with and without
//! eviction, in alternating blocks, and eviction is chosen only if it makes the round trip
//! clearly faster.
//!
//! The buffer's size matters: it is how far the producer writes before it comes back to a line.
//! On an AMD EPYC host (2 vCPU), six probes of each size: with 64 KiB, eviction came out faster
//! in three (by up to 2.3×, in whichever placement of the vCPUs the host had at that moment) and
//! about even in the others; with 1 and 2 MiB (the default ring), in none, and often slower
//! (e.g. 250 against 330 µs a block). The default ring, timed whole on that host, agreed: the
//! writer's rate 6.6 M spans/s without eviction against 6.1 M with (logs about even), and spans
//! in bursts 6.5 % faster without.

use crossbeam_utils::CachePadded;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The probe's buffer: a ring's size, within these bounds (past the default ring's 2 MiB, the
/// lines have left the private caches either way, and the probe would only take longer).
const MIN_BYTES: usize = 64 << 10;
const MAX_BYTES: usize = 2 << 20;
/// Bytes per line, and words of 8 bytes per line.
const LINE: usize = 64;
const WORDS: usize = LINE / 8;
/// A timed block makes round trips over the buffer until it has passed at least this many lines
/// (four round trips of a 64 KiB buffer, one of a larger one).
const BLOCK_LINES: usize = 4096;
/// Timed blocks per behaviour.
const BLOCKS: usize = 8;
/// Eviction must make the round trip this much faster (its time at most this fraction of the
/// time without) to be chosen: where it is about even, not evicting is the simpler behaviour.
const MUST_BEAT: f64 = 0.85;
/// The probe gives up (no eviction) past this time, e.g. when the two threads end up on one CPU.
/// The writer drains nothing meanwhile, so this bounds how long a producer can wait on it. (With
/// a 2 MiB buffer it took 6 to 17 ms on the host above.)
const BUDGET: Duration = Duration::from_millis(50);

/// The probe's buffer for rings of `ring_bytes`: its lines, and the round trips in a block.
fn geometry(ring_bytes: usize) -> (usize, u32) {
    let lines = ring_bytes.clamp(MIN_BYTES, MAX_BYTES) / LINE;
    (lines, BLOCK_LINES.div_ceil(lines) as u32)
}

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

/// Measures whether evicting read lines speeds up the producer–consumer hand-off of a ring of
/// `ring_bytes` on this host (see the module docs). Takes 5 to 20 ms; `None` if it could
/// not measure (one CPU, no thread, or past its time budget).
pub(crate) fn eviction_pays(ring_bytes: usize) -> Option<Probe> {
    if cfg!(not(all(target_arch = "x86_64", not(miri))))
        || std::thread::available_parallelism().map_or(1, |n| n.get()) < 2
    {
        return None;
    }
    let (lines, rounds) = geometry(ring_bytes);
    let shared = Arc::new(Shared {
        lines: (0..lines)
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
        for _ in 0..rounds {
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
    fn the_buffer_is_a_ring_within_bounds_and_a_block_passes_enough_lines() {
        assert_eq!(geometry(64 << 10), (1024, 4));
        assert_eq!(geometry(2 << 20), (32768, 1));
        assert_eq!(geometry(4 << 10), (1024, 4));
        assert_eq!(geometry(1 << 30), (32768, 1));
        assert_eq!(geometry(96 << 10), (1536, 3));
    }

    #[test]
    fn the_probe_measures_both_behaviours_and_decides_by_them() {
        // No timing is asserted: only that both behaviours were measured and the decision
        // follows the documented rule.
        if let Some(p) = eviction_pays(2 << 20) {
            println!("{p:?}");
            assert!(p.plain_ns > 0 && p.evict_ns > 0, "{p:?}");
            assert_eq!(p.evict, (p.evict_ns as f64) < p.plain_ns as f64 * MUST_BEAT);
        }
    }
}

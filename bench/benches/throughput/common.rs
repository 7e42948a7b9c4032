//! What the groups share: the counting sink, the time-stamp counter, the busy wait, medians and
//! percentiles, the result list, and the reference blocks of work without telemetry.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A sink that counts bytes and lines and throws them away.
#[derive(Clone, Default)]
pub(crate) struct Counting(pub(crate) Arc<(AtomicU64, AtomicU64)>);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.0.fetch_add(buf.len() as u64, Ordering::Relaxed);
        // Runs on the writer thread, so it must cost little next to serialising: `memchr`'s
        // count (AVX2 where the CPU has it). A byte loop compiled for the x86-64 baseline took
        // 15 % of the writer thread's time on 446-byte span lines.
        let lines = memchr::memchr_iter(b'\n', buf).count() as u64;
        self.0.1.fetch_add(lines, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[inline(always)]
pub(crate) fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc only reads the time-stamp counter.
        #[allow(unused_unsafe)]
        unsafe {
            core::arch::x86_64::_rdtsc()
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// Nanoseconds per tick, measured over 100 ms.
pub(crate) fn tick_ns() -> f64 {
    let (t0, i0) = (ticks(), Instant::now());
    std::thread::sleep(Duration::from_millis(100));
    let (t1, i1) = (ticks(), Instant::now());
    (i1 - i0).as_nanos() as f64 / (t1 - t0) as f64
}

/// Busy-waits for `d` (the think time between paced requests): the thread keeps its CPU.
pub(crate) fn spin_for(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// The median, or NaN for no values (which [`Results::add`] leaves out).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

pub(crate) fn pct(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

pub(crate) struct Results(pub(crate) Vec<(String, String, f64, String)>);

impl Results {
    /// Records one result; a value that could not be computed (a median of no rounds) is left
    /// out rather than written as `NaN`, which is not JSON.
    pub(crate) fn add(&mut self, group: &str, name: &str, value: f64, unit: &str) {
        if !value.is_finite() {
            println!("{group:<10} {name:<44} {:>14} (no data)", "-");
            return;
        }
        println!("{group:<10} {name:<44} {value:>14.1} {unit}");
        self.0.push((group.into(), name.into(), value, unit.into()));
    }
}

include!("../shared/reference.rs");

/// Register-only arithmetic in eight independent chains, bound by the ALUs' throughput (several
/// instructions a cycle) rather than by one chain's latency, as the bound counter's loop is:
/// for the `scaling` group. Two threads scale 2x on it only when each has a whole core to
/// itself; on two hardware threads of one host core they share its ALUs.
#[inline(never)]
pub(crate) fn alu_block() -> u64 {
    let mut x = [0u64; 8];
    for (i, v) in x.iter_mut().enumerate() {
        *v = std::hint::black_box(i as u64 + 1);
    }
    for i in 0..4096u64 {
        for v in x.iter_mut() {
            *v = v.rotate_left(7).wrapping_add(i) ^ 0x9e37_79b9;
        }
    }
    x.iter().fold(0, |a, v| a ^ v)
}

//! What writing memory that a thread on another CPU has just read costs on this host, without
//! the library: a producer on CPU 0 writes records of 208 bytes (a span with three attributes
//! and an event takes about that in the ring) in bursts of 2,000, going round a buffer as a
//! thread goes round its ring; after each burst a reader reads it all, untimed, as the writer
//! thread does. It prints the producer's time per record (median of 400 bursts) with the reader
//! on the same CPU or on the other one, for a buffer of 1 MiB (how far a default ring's
//! producer goes before it writes a line again) or 4 MiB, and with the reader evicting each
//! line it has read (`clflush`) or not. The configurations take turns, 6 runs each. (The
//! `request` group of the throughput bench prints the round trip of one line between the two
//! CPUs.)
//!
//! ```text
//! cargo run --release -p mini-telemetry-bench --example store_stream
//! ```

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
include!("../benches/shared/affinity.rs");

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod run {
    use super::{allowed_cpus, pin};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    const RECORD_WORDS: usize = 26;
    const CALLS: usize = 2_000;
    const BURSTS: usize = 400;

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    /// The producer's median time per record (see the module docs).
    fn stream(reader_cpu: usize, bytes: usize, evict: bool) -> f64 {
        let words = bytes / 8;
        let buf: Arc<Vec<AtomicU64>> = Arc::new((0..words).map(|_| AtomicU64::new(0)).collect());
        // Bursts written (producer) and read (reader); u64::MAX: stop.
        let written = Arc::new(crossbeam_utils::CachePadded::new(AtomicU64::new(0)));
        let read = Arc::new(crossbeam_utils::CachePadded::new(AtomicU64::new(0)));
        let burst_words = CALLS * RECORD_WORDS;
        let reader = {
            let (buf, written, read) = (buf.clone(), written.clone(), read.clone());
            std::thread::spawn(move || {
                pin(reader_cpu);
                let mut pos = 0usize;
                let mut sum = 0u64;
                for b in 1.. {
                    loop {
                        let w = written.load(Ordering::Acquire);
                        if w == u64::MAX {
                            return sum;
                        }
                        if w >= b {
                            break;
                        }
                        std::thread::yield_now();
                    }
                    for i in 0..burst_words {
                        sum =
                            sum.wrapping_add(buf[(pos + i) & (words - 1)].load(Ordering::Relaxed));
                    }
                    if evict {
                        for i in (0..burst_words).step_by(8) {
                            let p = buf[(pos + i) & (words - 1)].as_ptr() as *const u8;
                            // SAFETY: `p` points into `buf`, alive for this thread's life;
                            // `clflush` only writes the line back and drops it from the caches
                            // (SSE2, always present on x86-64).
                            unsafe { std::arch::x86_64::_mm_clflush(p) };
                        }
                    }
                    pos = (pos + burst_words) & (words - 1);
                    read.store(b, Ordering::Release);
                }
                sum
            })
        };
        pin(0);
        let mut per_record = Vec::with_capacity(BURSTS);
        let mut pos = 0usize;
        for b in 1..=BURSTS as u64 {
            let t = Instant::now();
            for _ in 0..CALLS {
                for w in 0..RECORD_WORDS {
                    buf[(pos + w) & (words - 1)].store((pos + w) as u64, Ordering::Relaxed);
                }
                pos = (pos + RECORD_WORDS) & (words - 1);
            }
            per_record.push(t.elapsed().as_nanos() as f64 / CALLS as f64);
            written.store(b, Ordering::Release);
            while read.load(Ordering::Acquire) < b {
                std::thread::yield_now();
            }
        }
        written.store(u64::MAX, Ordering::Release);
        std::hint::black_box(reader.join().unwrap());
        median(per_record)
    }

    pub fn main() {
        let cpus = allowed_cpus();
        if !(cpus.contains(&0) && cpus.contains(&1)) {
            eprintln!("store_stream needs CPUs 0 and 1");
            std::process::exit(2);
        }
        let configs = [
            (0, 1 << 20, false),
            (1, 1 << 20, false),
            (1, 1 << 20, true),
            (1, 4 << 20, false),
        ];
        let mut times = vec![Vec::new(); configs.len()];
        for run in 0..6 {
            let order: Vec<usize> = if run % 2 == 0 {
                (0..configs.len()).collect()
            } else {
                (0..configs.len()).rev().collect()
            };
            for i in order {
                let (r, bytes, evict) = configs[i];
                times[i].push(stream(r, bytes, evict));
            }
        }
        println!("stream: 208-byte records in bursts of 2,000, producer on CPU 0");
        println!("reader CPU | buffer | reader evicts | ns per record, median of runs | runs");
        for (i, &(r, bytes, evict)) in configs.iter().enumerate() {
            println!(
                "{r} | {} MiB | {} | {:.1} | {}",
                bytes >> 20,
                if evict { "yes" } else { "no" },
                median(times[i].clone()),
                times[i]
                    .iter()
                    .map(|t| format!("{t:.1}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn main() {
    run::main();
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {
    eprintln!("store_stream runs on Linux, x86-64 only");
}

//! How fast each CPU runs at the same moment. One thread pinned to each CPU the process may use
//! times the benches' reference block (`benches/shared/reference.rs`, no telemetry) in step
//! with the others, a round every quarter of a second, and the rounds are printed side by side
//! with the ratio of the slowest CPU's time to the fastest's. The `rounds` group and criterion's
//! `host` rows time that block on one CPU only: on a shared VM the other CPU can run at another
//! speed at the same moment, and which of the two the calling thread and the writer get is the
//! scheduler's choice.
//!
//! ```text
//! cargo run --release -p mini-telemetry-bench --example vcpu_speed -- [rounds]
//! ```

#![allow(dead_code)]

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

include!("../benches/shared/reference.rs");
#[cfg(target_os = "linux")]
include!("../benches/shared/affinity.rs");

/// Blocks timed per CPU and round (about 1 to 2 ms in all).
const BLOCKS: u32 = 25;

#[cfg(target_os = "linux")]
fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let cpus = allowed_cpus();
    let barrier = Arc::new(Barrier::new(cpus.len()));
    let times = Arc::new(Mutex::new(vec![vec![0.0f64; cpus.len()]; rounds]));
    let threads: Vec<_> = cpus
        .iter()
        .enumerate()
        .map(|(i, &cpu)| {
            let (barrier, times) = (barrier.clone(), times.clone());
            std::thread::spawn(move || {
                pin(cpu);
                for r in 0..rounds {
                    barrier.wait();
                    let t = Instant::now();
                    for _ in 0..BLOCKS {
                        std::hint::black_box(reference_block());
                    }
                    let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(BLOCKS);
                    times.lock().unwrap()[r][i] = us;
                    barrier.wait();
                    if i == 0 {
                        std::thread::sleep(Duration::from_millis(250));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("timing thread");
    }
    let times = times.lock().unwrap();
    let head: Vec<String> = cpus.iter().map(|c| format!("CPU {c}")).collect();
    println!("round | {} | slowest / fastest", head.join(" | "));
    let mut ratios = Vec::with_capacity(rounds);
    for (r, row) in times.iter().enumerate() {
        let (lo, hi) = row
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        ratios.push(hi / lo);
        let cells: Vec<String> = row.iter().map(|v| format!("{v:.1} µs")).collect();
        println!("{r} | {} | {:.2}", cells.join(" | "), hi / lo);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "slowest / fastest CPU at the same moment: median {:.2}, largest {:.2} (reference block, {} rounds)",
        ratios[ratios.len() / 2],
        ratios[ratios.len() - 1],
        rounds
    );
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("vcpu_speed pins threads with sched_setaffinity: Linux only");
}

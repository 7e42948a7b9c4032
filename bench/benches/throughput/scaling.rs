//! The `scaling` group: counter adds on one shared series from 1, 2, 4, 8 threads against the
//! same add without the library and two references, and logs end to end from 1, 2, 4, 8 threads.

use crate::common::{Results, alu_block, median, reference_block};
use mini_telemetry::{KeyValue, Level};
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The bound counter's add written without the library, as a reference for the `scaling` group:
/// the same steps (an enabled flag, the thread's slot from a thread-local, taken on first use,
/// a plain load and store to the slot's own shard, an atomic add to a shared one past the
/// slots), none of the library's code. Slots here are handed out by a counter and never given
/// back, which is enough for the bench: the threads of one run are consecutive, so they get
/// distinct shards, and runs do not overlap.
mod bare_counter {
    use crossbeam_utils::CachePadded;
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

    /// Set at run time, so that the compiler cannot fold the check away.
    pub static ENABLED: AtomicBool = AtomicBool::new(false);
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const NONE: u32 = u32::MAX;
    thread_local! {
        static SLOT: Cell<u32> = const { Cell::new(NONE) };
    }

    /// Eight shards, one per slot, and a shared ninth.
    pub struct Counter(Box<[CachePadded<AtomicU64>]>);

    impl Counter {
        pub fn new() -> Self {
            Counter(
                (0..9)
                    .map(|_| CachePadded::new(AtomicU64::new(0)))
                    .collect(),
            )
        }

        fn slot() -> u32 {
            SLOT.with(|c| {
                if c.get() == NONE {
                    c.set(NEXT.fetch_add(1, Ordering::Relaxed) & 7);
                }
                c.get()
            })
        }

        #[inline]
        pub fn add(&self, v: u64) {
            if !ENABLED.load(Ordering::Relaxed) {
                return;
            }
            let i = Self::slot() as usize;
            if i < 8 {
                let own = &self.0[i];
                own.store(
                    own.load(Ordering::Relaxed).wrapping_add(v),
                    Ordering::Relaxed,
                );
            } else {
                self.0[8].fetch_add(v, Ordering::Relaxed);
            }
        }
    }
}

pub(crate) fn scaling(res: &mut Results) {
    bare_counter::ENABLED.store(true, Ordering::Relaxed);
    let meter = mini_telemetry::meter("bench.scaling");
    let counter = meter.counter("shared").build();
    let bound = counter.bind(&[KeyValue::new("series", "one")]);
    let logger = mini_telemetry::logger("bench.scaling");
    // A run is a 60 ms window (fresh threads can start on one CPU and wait for the load
    // balancer, which weighs on short runs), and one preemption on this shared VM can still
    // halve a run: the thread counts take turns for 15 rounds, each ratio to one thread is
    // taken within a round, and the median of the rounds is reported. A reference runs alongside in each round: the same
    // threads running the store-heavy reference block of the `rounds` group (no telemetry, no
    // shared memory), which shows how much of a second CPU this VM gives at that moment. (The
    // first reference, register-only arithmetic, stayed at 2.0x while this VM's slow stretches
    // took a second CPU's memory-heavy work down to ~1.6x.)
    let counts = [1usize, 2, 4, 8];
    const ROUNDS: usize = 15;
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); counts.len()];
    let mut reference: Vec<Vec<f64>> = vec![Vec::new(); counts.len()];
    let mut bare_rates: Vec<Vec<f64>> = vec![Vec::new(); counts.len()];
    let mut alu_rates: Vec<Vec<f64>> = vec![Vec::new(); counts.len()];
    let bare = bare_counter::Counter::new();
    let dump = std::env::var_os("MINI_TELEMETRY_BENCH_DUMP").is_some();
    // Each thread runs `body` until `stop` is set after a fixed window and returns how many
    // operations it did; the rate is the sum of each thread's count over its own running time.
    // A fixed window, not a fixed amount of work: with fixed work, a thread slowed by this VM
    // (one CPU in a slow stretch, measured at 80 ms against its twin's 46 ms) leaves the
    // other CPU idle while it finishes, which says nothing about the counter.
    let run = |threads: usize, what: &str, body: &(dyn Fn(&AtomicBool) -> u64 + Sync)| {
        let barrier = Barrier::new(threads + 1);
        let stop = AtomicBool::new(false);
        let per_thread: Vec<(u64, f64)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        let t = Instant::now();
                        let n = body(&stop);
                        (n, t.elapsed().as_secs_f64())
                    })
                })
                .collect();
            barrier.wait();
            std::thread::sleep(Duration::from_millis(60));
            stop.store(true, Ordering::Relaxed);
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        if dump {
            let ms: Vec<String> = per_thread
                .iter()
                .map(|(n, t)| format!("{:.4e}/s over {:.1} ms", *n as f64 / t, t * 1e3))
                .collect();
            eprintln!("scaling {what}, {threads} threads: {}", ms.join(", "));
        }
        per_thread.iter().map(|(n, t)| *n as f64 / t).sum::<f64>()
    };
    // Runs `op` until `stop`, looking at it every `chunk` calls; returns the calls made.
    #[inline(always)]
    fn until(stop: &AtomicBool, chunk: u64, mut op: impl FnMut()) -> u64 {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..chunk {
                op();
            }
            n += chunk;
        }
        n
    }
    // Counter adds between two looks at `stop`: ~5 µs.
    const CHUNK: u64 = 4096;
    // The four loops take turns at going first (in a quarter of the rounds each). The run right
    // after a one-thread run can start with both threads on one CPU, the scheduler still
    // counting the other one as loaded, until its balancer moves one of them; with a fixed
    // order, that handicap fell on the same loop every round.
    for round in 0..ROUNDS {
        for (ci, &threads) in counts.iter().enumerate() {
            for j in 0..4 {
                match (round + j) % 4 {
                    0 => rates[ci].push(run(threads, "bound counter", &|stop| {
                        until(stop, CHUNK, || bound.add(1))
                    })),
                    1 => reference[ci].push(run(threads, "reference block", &|stop| {
                        until(stop, 1, || {
                            std::hint::black_box(reference_block());
                        })
                    })),
                    // The same add without the library (see [`bare_counter`]).
                    2 => bare_rates[ci].push(run(threads, "library-free add", &|stop| {
                        until(stop, CHUNK, || bare.add(1))
                    })),
                    _ => alu_rates[ci].push(run(threads, "ALU-bound arithmetic", &|stop| {
                        until(stop, 1, || {
                            std::hint::black_box(alu_block());
                        })
                    })),
                }
            }
        }
    }
    let per_round = |v: &[Vec<f64>], ci: usize| -> f64 {
        median((0..ROUNDS).map(|r| v[ci][r] / v[0][r]).collect())
    };
    // The same ratio between the upper quartiles of the rates over the rounds: a slow stretch
    // on either CPU pulls a round's ratio down, while the upper quartile shows what the two
    // CPUs do when this VM leaves them alone. Shown beside the median, never instead of it.
    let upper = |v: &[Vec<f64>], ci: usize| -> f64 {
        let q = |mut r: Vec<f64>| {
            r.sort_by(f64::total_cmp);
            r[r.len() * 3 / 4]
        };
        q(v[ci].clone()) / q(v[0].clone())
    };
    for (ci, &threads) in counts.iter().enumerate() {
        res.add(
            "scaling",
            &format!("bound counter, 1 series, {threads} threads: adds/s (median of {ROUNDS})"),
            median(rates[ci].clone()),
            "op/s",
        );
        for (what, v) in [
            ("bound counter", &rates),
            ("reference block", &reference),
            ("library-free add", &bare_rates),
            ("ALU-bound arithmetic", &alu_rates),
        ] {
            let name = format!("{what}, {threads} threads: vs 1 thread");
            res.add("scaling", &name, per_round(v, ci), "x");
            let name = format!("{name}, upper quartiles");
            res.add("scaling", &name, upper(v, ci), "x");
        }
    }
    for threads in [1usize, 2, 4, 8] {
        let per = 400_000 / threads as u64;
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for i in 0..per {
                        logger.log(Level::Info, "scaling", &[KeyValue::new("i", i as i64)]);
                    }
                });
            }
        });
        mini_telemetry::flush();
        let rate = (per * threads as u64) as f64 / t.elapsed().as_secs_f64();
        res.add(
            "scaling",
            &format!("logs end to end, {threads} threads: records/s"),
            rate,
            "rec/s",
        );
    }
}

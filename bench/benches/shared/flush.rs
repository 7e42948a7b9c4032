// The flush between two timed bursts, shared by `hot_path` and the `bursts` example: made by a
// helper thread while the calling thread waits busy, so that the calling thread's CPU neither
// halts nor spins on the pause hint alone.

/// `mini_telemetry::flush()` made by a helper thread while this one waits busy until it is
/// done ([`relax`] between two looks).
///
/// Why not `flush()` on this thread: on the VMs these benches ran on, a vCPU that halts again
/// and again (a blocking flush between bursts of ~100 µs) ran the code after its wake-ups 1.4
/// to 1.6 times slower (docs/BENCHMARK-HISTORY.md, "Halted vCPUs"). Why not a plain
/// `spin_loop()` wait: a loop of back-to-back pause hints for the length of a flush did the same
/// (the same file, "Pause hints").
#[allow(dead_code)]
fn flush_spinning() {
    flush_waiting_busy(relax);
}

/// [`flush_spinning`] with a bare `spin_loop()` per look, as it was: for comparing the two
/// waits (`bursts` with `MINI_TELEMETRY_BENCH_FLUSH=pause`).
#[allow(dead_code)]
fn flush_spinning_dense() {
    flush_waiting_busy(std::hint::spin_loop);
}

/// `flush()` made by a helper thread, this thread running `wait` between two looks at it.
fn flush_waiting_busy(wait: fn()) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static ASKED: AtomicU64 = AtomicU64::new(0);
    static DONE: AtomicU64 = AtomicU64::new(0);
    static HELPER: OnceLock<std::thread::Thread> = OnceLock::new();
    let helper = HELPER.get_or_init(|| {
        std::thread::spawn(|| {
            let mut seen = 0;
            loop {
                let asked = ASKED.load(Ordering::Acquire);
                if asked > seen {
                    mini_telemetry::flush();
                    seen = asked;
                    DONE.store(asked, Ordering::Release);
                } else {
                    std::thread::park();
                }
            }
        })
        .thread()
        .clone()
    });
    let n = ASKED.fetch_add(1, Ordering::AcqRel) + 1;
    helper.unpark();
    while DONE.load(Ordering::Acquire) < n {
        wait();
    }
}

/// One turn of a busy wait: a pause hint, then ~140 cycles of dependent arithmetic before the
/// next look (~220 cycles a turn in all, 76 ns on the fourth host of
/// docs/BENCHMARK-HISTORY.md). Pause hints closer together than ~128 cycles, for long enough,
/// are what a hypervisor's pause-loop exiting watches for.
#[allow(dead_code)]
#[inline(never)]
fn relax() {
    std::hint::spin_loop();
    let mut x = std::hint::black_box(1u64);
    for _ in 0..64 {
        x = std::hint::black_box(x.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    }
}

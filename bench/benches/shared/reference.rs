// The reference block, shared by `throughput` (its `rounds` and `scaling` groups) and
// `hot_path` (its `host` rows), so that criterion's run and the rounds are on one scale.

/// A fixed piece of work with no telemetry in it: loads and stores in a 4 KiB buffer, mixed
/// with arithmetic, the kind of work the hot path does. Timed at the start of every round of the
/// `rounds` group, it shows which stretches of the run were slow for reasons that are not ours;
/// the `scaling` group runs it on 1–8 threads as a reference for the counter.
///
/// Chosen by a trial run that timed three candidates next to the operations: the store-heavy
/// block tracked the slow stretches best (correlation with the operations' times 0.72–0.84,
/// against 0.62–0.76 for pure register arithmetic and 0.25–0.35 for short `memcpy`s).
#[inline(never)]
pub(crate) fn reference_block() -> u64 {
    let mut buf = [0u64; 512];
    reference_work(&mut buf, 40_000)
}

/// The reference block's loop, `iterations` times over `buf`.
#[inline(never)]
pub(crate) fn reference_work(buf: &mut [u64; 512], iterations: usize) -> u64 {
    let mut x = std::hint::black_box(1u64);
    for i in 0..iterations {
        let k = (i * 7) & 511;
        buf[k] = buf[k].wrapping_add(x);
        buf[(k + 1) & 511] ^= i as u64;
        x = x.rotate_left(5) ^ buf[(k + 3) & 511];
    }
    std::hint::black_box(&*buf);
    x
}

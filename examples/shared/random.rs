// Included by `examples/scenario.rs` and `tests/common/mod.rs`, so the program under test and
// the test that checks its output draw exactly the same values.

/// A deterministic generator (splitmix64).
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Up to 23 characters drawn from ASCII, controls, quotes, backslashes and non-ASCII.
pub fn random_text(r: &mut Rng) -> String {
    const POOL: &[char] = &[
        'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\r', '\t', '\u{0}', '\u{1f}', '\u{7f}', 'é', '€', '🚀', '\u{2028}',
        '\u{fffd}', '{', '}', ':', ',',
    ];
    let n = (r.next_u64() % 24) as usize;
    (0..n).map(|_| POOL[(r.next_u64() % POOL.len() as u64) as usize]).collect()
}

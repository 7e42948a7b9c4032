//! Time: raw ticks on the hot path, nanoseconds on the writer.
//!
//! On x86-64 with an invariant TSC (`constant_tsc` and `nonstop_tsc`), a tick is one `rdtsc` read;
//! elsewhere it is nanoseconds since a process-wide [`Instant`] taken at first use. Callers record
//! [`now`] and nothing else; the writer thread turns ticks into Unix nanoseconds with a
//! [`Calibration`] that it refines as the process runs (the longer the baseline, the smaller the
//! error), so no conversion or system call happens on the calling thread.

use super::sys::rdtsc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Which source [`now`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The x86-64 time-stamp counter.
    Tsc,
    /// `Instant::now()` in nanoseconds since the clock's epoch.
    Monotonic,
}

struct Epoch {
    source: Source,
    instant: Instant,
    ticks: u64,
    unix_nanos: u64,
}

static EPOCH: OnceLock<Epoch> = OnceLock::new();
/// Set once the epoch exists and the source is the TSC: lets [`now`] skip the `OnceLock`.
static TSC_READY: AtomicBool = AtomicBool::new(false);

fn detect() -> Source {
    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(miri)))]
    {
        if std::env::var_os("MINI_TELEMETRY_CLOCK").is_some_and(|v| v == "monotonic") {
            return Source::Monotonic;
        }
        if let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") {
            let flags = info.lines().find(|l| l.starts_with("flags")).unwrap_or("");
            let has = |f: &str| flags.split_ascii_whitespace().any(|x| x == f);
            if has("constant_tsc") && has("nonstop_tsc") {
                return Source::Tsc;
            }
        }
    }
    Source::Monotonic
}

fn epoch() -> &'static Epoch {
    EPOCH.get_or_init(|| {
        let source = detect();
        let instant = Instant::now();
        let ticks = match source {
            Source::Tsc => rdtsc(),
            Source::Monotonic => 0,
        };
        let unix_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Epoch {
            source,
            instant,
            ticks,
            unix_nanos,
        }
    })
}

/// Initialises the clock (detection and epoch). Called by `init`; calling [`now`] first works too.
pub fn init() -> Source {
    let source = epoch().source;
    if source == Source::Tsc {
        TSC_READY.store(true, Ordering::Relaxed);
    }
    source
}

/// The current time in raw ticks. Cheap: one `rdtsc` on x86-64 with an invariant TSC.
#[inline]
pub fn now() -> u64 {
    if TSC_READY.load(Ordering::Relaxed) {
        return rdtsc();
    }
    now_slow()
}

#[cold]
fn now_slow() -> u64 {
    let e = epoch();
    match e.source {
        Source::Tsc => rdtsc(),
        Source::Monotonic => e.instant.elapsed().as_nanos() as u64,
    }
}

/// Converts raw ticks to Unix nanoseconds. Owned by the writer thread, which calls
/// [`refresh`](Calibration::refresh) from time to time to sharpen the tick rate.
///
/// The conversion is piecewise linear: a refresh starts a new segment at the current tick, with
/// the new rate from there on, so the mapping stays continuous and increasing and time never
/// steps back (a rate measured over a longer baseline differs a little from the first one; applied
/// from the epoch, it moved every later time, by up to milliseconds a second after init). A tick
/// older than the current segment converts with the previous one.
#[derive(Debug, Clone)]
pub struct Calibration {
    source: Source,
    base_ticks: u64,
    base_unix: u64,
    /// Nanoseconds per tick.
    rate: Rate,
    /// The segment before this one: its base tick, base time and rate.
    previous: Option<(u64, u64, Rate)>,
}

/// Nanoseconds per tick in fixed point, `int + frac / 2^64`: a conversion is two integer
/// multiplications where the floating-point one took a convert, a multiply, a convert back and
/// its saturation checks (~5 % of the writer thread's time on log lines, by perf). `frac` keeps
/// the 53 significant bits of the `f64` rate.
#[derive(Debug, Clone, Copy)]
struct Rate {
    int: i64,
    frac: u64,
}

impl Rate {
    fn new(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        let int = scale.floor();
        Rate {
            int: int as i64,
            frac: ((scale - int) * 18_446_744_073_709_551_616.0) as u64,
        }
    }

    /// `d` ticks in nanoseconds, rounded toward minus infinity (saturating).
    #[inline(always)]
    fn nanos(self, d: i64) -> i64 {
        let f = ((d as i128 * self.frac as i128) >> 64) as i64;
        d.saturating_mul(self.int).saturating_add(f)
    }
}

impl Calibration {
    /// A calibration from the clock's epoch to now.
    pub fn new() -> Self {
        let e = epoch();
        let mut c = Calibration {
            source: e.source,
            base_ticks: e.ticks,
            base_unix: e.unix_nanos,
            rate: Rate::new(1.0),
            previous: None,
        };
        if let Some((_, scale)) = c.measure() {
            c.rate = Rate::new(scale);
        }
        c
    }

    /// The tick rate over the whole time since the epoch, and the tick it was read at. For the
    /// TSC source it waits until at least 1 ms has passed since the epoch so the first rate is
    /// already usable. `None` for the monotonic source (nanoseconds already).
    fn measure(&self) -> Option<(u64, f64)> {
        if self.source != Source::Tsc {
            return None;
        }
        let e = epoch();
        let mut elapsed = e.instant.elapsed();
        if elapsed.as_nanos() < 1_000_000 {
            std::thread::sleep(std::time::Duration::from_nanos(
                1_000_000 - elapsed.as_nanos() as u64,
            ));
        }
        let ticks = rdtsc();
        elapsed = e.instant.elapsed();
        let dt = ticks.wrapping_sub(e.ticks);
        (dt > 0).then(|| (ticks, elapsed.as_nanos() as f64 / dt as f64))
    }

    /// Re-measures the tick rate over the whole time since the epoch, and applies it from now on.
    pub fn refresh(&mut self) {
        if let Some((at, scale)) = self.measure() {
            self.rebase(at, scale);
        }
    }

    /// Starts a segment at tick `at` with rate `scale`, where the current one maps `at`.
    fn rebase(&mut self, at: u64, scale: f64) {
        let unix = self.to_unix_nanos(at);
        self.previous = Some((self.base_ticks, self.base_unix, self.rate));
        self.base_ticks = at;
        self.base_unix = unix;
        self.rate = Rate::new(scale);
    }

    /// Unix nanoseconds for a raw tick value.
    #[inline]
    pub fn to_unix_nanos(&self, ticks: u64) -> u64 {
        match self.source {
            Source::Monotonic => self.base_unix.wrapping_add(ticks),
            Source::Tsc => {
                // Signed: a tick read before the segment's base is older than it.
                let d = ticks.wrapping_sub(self.base_ticks) as i64;
                let (base, d, rate) = match self.previous {
                    Some((pt, pu, pr)) if d < 0 => (pu, ticks.wrapping_sub(pt) as i64, pr),
                    _ => (self.base_unix, d, self.rate),
                };
                (base as i64).saturating_add(rate.nanos(d)).max(0) as u64
            }
        }
    }
}

impl Default for Calibration {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recalibrations_never_step_time_back() {
        let mut cal = Calibration {
            source: Source::Tsc,
            base_ticks: 1_000,
            base_unix: 1_000_000_000,
            rate: Rate::new(0.5),
            previous: None,
        };
        // Rates a little above and below the first, as refreshes measure them. Around each
        // refresh, a thread's records: some converted before it, then later ones (a few still
        // older than the new base, drained after the refresh) converted after it.
        for (i, scale) in [0.49, 0.51, 0.4999, 0.5001, 0.3, 0.7]
            .into_iter()
            .enumerate()
        {
            let at = 1_000 + (i as u64 + 1) * 100_000;
            let mut t = at - 30_000;
            let mut last = 0;
            while t < at - 10_000 {
                last = last.max(cal.to_unix_nanos(t));
                t += 997;
            }
            let before = cal.to_unix_nanos(at);
            cal.rebase(at, scale);
            assert_eq!(cal.to_unix_nanos(at), before, "continuous at the new base");
            while t < at + 50_000 {
                let u = cal.to_unix_nanos(t);
                assert!(u >= last, "tick {t}: {u} < {last}");
                last = u;
                t += 997;
            }
        }
    }

    #[test]
    fn the_fixed_point_rate_agrees_with_floating_point() {
        for scale in [
            0.5,
            0.3333333333333333,
            0.41666,
            1.0,
            1.7,
            3.999_999_9,
            0.000_9,
        ] {
            let r = Rate::new(scale);
            for d in (-(1i64 << 40)..(1i64 << 40)).step_by(1 << 33).chain([
                -1,
                0,
                1,
                999,
                7_200_000_000_000, // an hour of a 2 GHz counter
                -7_200_000_000_000,
            ]) {
                let exact = d as f64 * scale;
                let fixed = r.nanos(d);
                // The f64 product itself is off by up to 2^-52 of its size.
                assert!(
                    (fixed as f64 - exact).abs() <= 1.0 + exact.abs() * 2e-16,
                    "{d} x {scale}: {fixed} vs {exact}"
                );
            }
            // Increasing in the ticks.
            let mut prev = r.nanos(-5_000);
            for d in -4_999..5_000 {
                let n = r.nanos(d);
                assert!(n >= prev, "{d} x {scale}");
                prev = n;
            }
        }
        assert_eq!(Rate::new(0.5).nanos(i64::MAX / 2), i64::MAX / 4);
    }

    #[test]
    fn ticks_convert_to_wall_clock() {
        init();
        let cal = Calibration::new();
        let t0 = now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let t1 = now();
        assert!(t1 > t0);
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let u1 = cal.to_unix_nanos(t1);
        // Within 50 ms of the system clock; duration at least the 20 ms slept.
        assert!(u1.abs_diff(wall) < 50_000_000, "{u1} vs {wall}");
        assert!(u1 - cal.to_unix_nanos(t0) >= 15_000_000);
    }
}

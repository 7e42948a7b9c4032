//! Init, flush and shutdown: the state machine that starts the writer thread, the calls that
//! wait for it, and [`stats`].

use super::panic_hook;
use crate::engine::metrics::{attributes_limited, histogram, invalid_count, overflow_count};
use crate::engine::shared::{
    GLOBAL, Global, Settings, global, set_enabled, set_exception_backtraces, set_min_level,
    set_sampler,
};
use crate::engine::{clock, scope, sys};
use crate::export::{Writer, open_sink};
use crate::model::config::{Config, Sink};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const UNINIT: u8 = 0;
const INITIALIZING: u8 = 1;
const RUNNING: u8 = 2;
const SHUT_DOWN: u8 = 3;
/// In a child made by `fork()` while running: no writer thread here, telemetry off.
const FORKED: u8 = 4;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);

/// Why [`init`](crate::init) failed.
///
/// ```
/// use mini_telemetry::{Config, InitError, Sink};
/// let err = Config::new("svc", "1", "test")
///     .sink(Sink::File("/nonexistent-dir/telemetry.jsonl".into()))
///     .install()
///     .unwrap_err();
/// assert!(matches!(err, InitError::Sink(_)));
/// assert!(std::error::Error::source(&err).is_some()); // the io::Error
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum InitError {
    /// `init` was already called in this process (telemetry can be initialised once).
    AlreadyInitialized,
    /// The sink could not be opened.
    Sink(std::io::Error),
    /// The writer thread could not be started.
    Spawn(std::io::Error),
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InitError::AlreadyInitialized => f.write_str("mini-telemetry is already initialised"),
            InitError::Sink(e) => write!(f, "cannot open the telemetry sink: {e}"),
            InitError::Spawn(e) => write!(f, "cannot start the telemetry writer thread: {e}"),
        }
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InitError::AlreadyInitialized => None,
            InitError::Sink(e) | InitError::Spawn(e) => Some(e),
        }
    }
}

/// Keeps telemetry running; dropping it flushes everything and stops the writer thread
/// (the same as [`shutdown`]).
#[must_use = "dropping the guard shuts telemetry down at once: bind it to a name (`let _telemetry = ...`), not to `_`"]
#[derive(Debug)]
pub struct Guard {
    _private: (),
}

impl Guard {
    /// Flushes and stops now (what dropping the guard does).
    pub fn shutdown(self) {}
}

impl Drop for Guard {
    fn drop(&mut self) {
        shutdown();
    }
}

impl Config {
    /// Installs the configuration globally and starts the writer thread.
    pub fn install(self) -> Result<Guard, InitError> {
        install(self)
    }
}

fn install(mut cfg: Config) -> Result<Guard, InitError> {
    if STATE
        .compare_exchange(UNINIT, INITIALIZING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(InitError::AlreadyInitialized);
    }
    cfg.apply_env();
    clock::init();
    let settings = Settings::new(&cfg);
    set_min_level(cfg.min_level);
    let (parent_based, threshold) = cfg.sampler.rule();
    set_sampler(parent_based, threshold);
    set_exception_backtraces(cfg.exception_backtraces);
    #[cfg(feature = "log")]
    crate::api::log_bridge::sync_max_level();
    SHUTDOWN_TIMEOUT_MS.store(
        cfg.shutdown_timeout.as_millis().min(u64::MAX as u128) as u64,
        Ordering::Relaxed,
    );
    if cfg.disabled {
        STATE.store(SHUT_DOWN, Ordering::Release);
        return Ok(Guard { _private: () });
    }
    let sink = match open_sink(std::mem::replace(&mut cfg.sink, Sink::Stdout)) {
        Ok(s) => s,
        Err(e) => {
            STATE.store(UNINIT, Ordering::Release);
            return Err(InitError::Sink(e));
        }
    };
    let g = GLOBAL.get_or_init(|| Global::detached(settings));
    // Ring buffers ready for the first threads, made here rather than on their first record.
    g.refill_spare_rings();
    g.writer_running.store(true, Ordering::Release);
    let w = Writer::new(&cfg, sink, g);
    let handle = std::thread::Builder::new()
        .name("mini-telemetry-writer".into())
        .spawn(move || {
            // A bug in the writer must not hang producers waiting for room or for a flush.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.run())).is_err() {
                diag!("mini-telemetry: the writer thread panicked; telemetry stops here");
                g.writer_running.store(false, Ordering::Release);
                set_enabled(false, Ordering::Release);
                let mut c = g.control.lock();
                c.writer_exited = true;
                g.control_cv.notify_all();
            }
        })
        .map_err(|e| {
            STATE.store(SHUT_DOWN, Ordering::Release);
            InitError::Spawn(e)
        })?;
    let _ = g.writer.set(handle.thread().clone());
    *WRITER_JOIN.lock() = Some(handle);
    STATE.store(RUNNING, Ordering::Release);
    set_enabled(true, Ordering::Release);
    install_process_hooks();
    if cfg.panic_hook {
        panic_hook::install(flush_timeout);
    }
    Ok(Guard { _private: () })
}

static WRITER_JOIN: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);

/// Hooks for `exit()` and `fork()`, registered once, at the first successful init.
fn install_process_hooks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        sys::on_exit(flush_at_exit);
        sys::on_fork_child(off_after_fork);
    });
}

/// `exit()` (`std::process::exit`, or `main` returning without the guard dropped): the same as
/// dropping the guard, bounded by the shutdown timeout. A no-op after shutdown.
extern "C" fn flush_at_exit() {
    if STATE.load(Ordering::Acquire) == RUNNING {
        shutdown();
    }
}

/// In the child of a `fork()`: only the forking thread exists there, so there is no writer
/// thread to write records, take flushes or end a shutdown. Telemetry goes off in the child
/// (as before init: calls are no-ops, nothing waits or fills a ring); `flush`, `shutdown` and
/// the guard return at once and say so on stderr. Runs between `fork` and the child's next
/// instruction: only atomic stores here.
extern "C" fn off_after_fork() {
    if STATE.load(Ordering::Acquire) == RUNNING {
        set_enabled(false, Ordering::SeqCst);
        STATE.store(FORKED, Ordering::Release);
    }
}

/// In a forked child: says once, on stderr, why nothing is written.
fn report_forked() {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        diag!(
            "mini-telemetry: telemetry is off in this process (pid {}), made by fork() after init: the writer thread does not survive fork, so nothing this process recorded was written. Initialise telemetry after fork(), or exec.",
            std::process::id()
        );
    }
}

/// How long `shutdown` waits for the writer, in milliseconds (`Config::shutdown_timeout`).
static SHUTDOWN_TIMEOUT_MS: AtomicU64 = AtomicU64::new(10_000);

/// Writes out every record produced so far (by any thread) and exports metrics, then returns.
/// A no-op before init and after shutdown.
///
/// It waits for the writer thread as long as that takes (a stalled stdout reader makes it
/// wait): do not call it while this thread holds `std::io::stdout().lock()`, which the writer
/// needs for `Sink::Stdout`. [`flush_timeout`] bounds the wait. A slow observable gauge
/// callback, whose points this export includes, is waited for up to half the shutdown timeout;
/// past that the flush finishes without them.
///
/// ```
/// mini_telemetry::flush(); // harmless before init
/// ```
pub fn flush() {
    flush_until(None);
}

/// [`flush`], giving up after `timeout`. Returns true when everything was written in time.
///
/// ```
/// assert!(mini_telemetry::flush_timeout(std::time::Duration::from_secs(1))); // nothing to do before init
/// ```
pub fn flush_timeout(timeout: Duration) -> bool {
    flush_until(Some(Instant::now() + timeout))
}

fn flush_until(deadline: Option<Instant>) -> bool {
    let Some(g) = global() else { return true };
    match STATE.load(Ordering::Acquire) {
        RUNNING => {}
        FORKED => {
            report_forked();
            return true;
        }
        _ => return true,
    }
    if g.writer
        .get()
        .is_some_and(|t| t.id() == std::thread::current().id())
    {
        return true; // called from the writer thread: it is busy exporting already
    }
    if crate::export::observe::on_observer_thread() {
        return true; // from an observable callback: the writer waits for this very run
    }
    let mut c = g.control.lock();
    if c.writer_exited {
        return true;
    }
    c.flush_requested += 1;
    let target = c.flush_requested;
    g.idle.store(false, Ordering::Release);
    if let Some(t) = g.writer.get() {
        t.unpark();
    }
    while c.flush_done < target && !c.writer_exited {
        match deadline {
            None => g.control_cv.wait(&mut c),
            Some(d) => {
                if g.control_cv.wait_until(&mut c, d).timed_out() {
                    return c.flush_done >= target;
                }
            }
        }
    }
    true
}

/// Flushes everything, exports metrics a last time and stops the writer thread. Later calls are
/// cheap no-ops. Called by dropping the [`Guard`].
pub fn shutdown() {
    if STATE.load(Ordering::Acquire) == FORKED {
        report_forked();
        return;
    }
    if STATE
        .compare_exchange(RUNNING, SHUT_DOWN, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    set_enabled(false, Ordering::SeqCst);
    let Some(g) = global() else { return };
    {
        let mut c = g.control.lock();
        c.shutdown = true;
    }
    g.idle.store(false, Ordering::Release);
    if let Some(t) = g.writer.get() {
        t.unpark();
    }
    let Some(h) = WRITER_JOIN.lock().take() else {
        return;
    };
    if h.thread().id() == std::thread::current().id() {
        return; // shutdown from the writer thread: it stops on its own
    }
    if crate::export::observe::on_observer_thread() {
        // From an observable callback: the writer would wait for this run, and this call for
        // the writer. It stops on its own; the handle is dropped (detached).
        return;
    }
    // Never hang the host: if the writer cannot finish (its output is blocked, e.g. stdout is
    // locked by this very thread), give up after the timeout and leave it detached.
    let timeout = Duration::from_millis(SHUTDOWN_TIMEOUT_MS.load(Ordering::Relaxed));
    let deadline = Instant::now() + timeout;
    let mut c = g.control.lock();
    while !c.writer_exited {
        if g.control_cv.wait_until(&mut c, deadline).timed_out() {
            diag!(
                "mini-telemetry: the writer did not finish within {:?} (is its output blocked, e.g. stdout locked by the thread shutting down?); stopping without it",
                timeout
            );
            return;
        }
    }
    drop(c);
    if h.join().is_err() {
        diag!("mini-telemetry: the writer thread panicked");
    }
}

/// What the engine has done so far, for monitoring the monitor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Records (spans, logs, metric points) written to the sink.
    pub written: u64,
    /// Records dropped because a ring was full (drop policy), as of the writer's last pass
    /// (exact after [`flush`]).
    pub dropped: u64,
    /// Records lost for other reasons: emitted while the thread was being torn down, or after
    /// shutdown began.
    pub lost: u64,
    /// Failed writes to the sink (e.g. a closed pipe); the output of those writes is lost.
    pub write_errors: u64,
    /// Records (lines) not delivered because the sink failed: those of the failed write and
    /// every one after it (a closed stdout pipe stays closed).
    pub unwritten: u64,
    /// Records the writer could not decode (a bug if ever non-zero).
    pub corrupt: u64,
    /// Histogram measurements rejected because they were NaN or infinite.
    pub invalid_measurements: u64,
    /// Metric attributes the limits dropped (past 128 per attribute set) or cut (keys past
    /// 1,024 bytes, string values past the value length limit).
    pub metric_attributes_limited: u64,
    /// Counter and up-down counter series whose sum reached the end of its range (`u64::MAX`,
    /// `i64::MIN` or `i64::MAX`) and saturated there instead of wrapping; counted once per
    /// series, when an export finds it there.
    pub metric_overflows: u64,
    /// Histogram values outside 2^-64..2^64 (exact in count, sum, min and max; in the
    /// percentiles they report as min or max).
    pub histogram_out_of_range: u64,
    /// Requests for a new instrumentation scope name (a tracer, meter or logger made, or a
    /// `log` or `tracing` record with a new target) past the 1,024 names kept: those records
    /// carry the scope `mini_telemetry.scope_overflow` instead.
    pub scopes_limited: u64,
    /// Whether the writer evicts the ring lines it has read from the caches, as
    /// [`CacheEviction`](crate::CacheEviction) decided (with `Auto`, false until its probe has
    /// run, a second or more after init).
    pub cache_eviction: bool,
    /// Times a thread found its ring full and waited for the writer (with
    /// [`FullPolicy::Block`](crate::FullPolicy::Block)); a wait ends as soon as there is room.
    pub waits: u64,
    /// Bytes of rings the threads alive hold now (within
    /// [`Config::ring_memory_budget`](crate::Config::ring_memory_budget), plus the 64 KiB
    /// floor of each thread past it).
    pub ring_bytes: usize,
}

/// Counters of the engine's own health.
///
/// ```
/// let s = mini_telemetry::stats();
/// assert_eq!(s.dropped, 0);
/// ```
pub fn stats() -> Stats {
    let Some(g) = global() else {
        return Stats {
            invalid_measurements: invalid_count(),
            metric_attributes_limited: attributes_limited(),
            metric_overflows: overflow_count(),
            histogram_out_of_range: histogram::out_of_range_count(),
            scopes_limited: scope::limited_count(),
            ..Stats::default()
        };
    };
    let c = &g.counters;
    // (In a forked child the control lock may have been held by a thread that is not there.)
    if STATE.load(Ordering::Acquire) != FORKED && g.control.lock().writer_exited {
        // After shutdown nothing drains the rings any more: whatever reached them late is lost,
        // and counted here rather than left unaccounted.
        let mut late = 0;
        for r in g
            .orphans
            .lock()
            .iter_mut()
            .chain(g.new_rings.lock().iter_mut())
        {
            late += r.consumer.drain(|_| {}) as u64;
        }
        c.lost.fetch_add(late, Ordering::Relaxed);
    }
    Stats {
        written: c.written.load(Ordering::Relaxed),
        dropped: c.dropped.load(Ordering::Relaxed),
        lost: c.lost.load(Ordering::Relaxed),
        write_errors: c.write_errors.load(Ordering::Relaxed),
        unwritten: c.unwritten.load(Ordering::Relaxed),
        corrupt: c.corrupt.load(Ordering::Relaxed),
        invalid_measurements: invalid_count(),
        metric_attributes_limited: attributes_limited(),
        metric_overflows: overflow_count(),
        histogram_out_of_range: histogram::out_of_range_count(),
        scopes_limited: scope::limited_count(),
        cache_eviction: c.evicting.load(Ordering::Relaxed),
        waits: c.waits.load(Ordering::Relaxed),
        ring_bytes: c.ring_bytes.load(Ordering::Relaxed),
    }
}

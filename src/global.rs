//! Global state: the init/shutdown state machine, the per-thread producer, scopes, and the handles
//! the writer thread needs.

use crate::config::{Config, FullPolicy};
use crate::ring::{self, Producer};
use crate::trace::SpanContext;
use crate::writer::{self, RingEntry};
use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex, RwLock};
use std::cell::{Cell, RefCell};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

const UNINIT: u8 = 0;
const INITIALIZING: u8 = 1;
const RUNNING: u8 = 2;
const SHUT_DOWN: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);
/// The one flag every hot path reads first (Relaxed): false before init, when disabled and after
/// shutdown.
pub(crate) static ENABLED: AtomicBool = AtomicBool::new(false);
static GLOBAL: OnceLock<Global> = OnceLock::new();

/// True when telemetry is initialised, enabled and not shut down.
#[inline(always)]
pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Settings the calling threads read.
#[derive(Debug)]
pub(crate) struct Settings {
    pub ring_capacity: usize,
    pub full_policy: FullPolicy,
    /// Longest attribute value kept (the value length limit).
    pub max_str: usize,
    /// Longest span name, event name, log body or status message kept (a quarter of the ring,
    /// independent of the value length limit).
    pub max_text: usize,
    pub span_limits: crate::config::SpanLimits,
    /// Attribute values one span sends (`trace::span_attr_values`).
    pub span_attr_values: u32,
    pub cardinality_limit: usize,
}

/// Counters shared by producers and the writer; read them with [`stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub written: AtomicU64,
    pub lost: AtomicU64,
    pub write_errors: AtomicU64,
    pub corrupt: AtomicU64,
    /// Records dropped by full rings, summed by the writer at each pass.
    pub dropped: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct Control {
    pub flush_requested: u64,
    pub flush_done: u64,
    pub shutdown: bool,
    pub writer_exited: bool,
}

pub(crate) struct Global {
    /// Read by every producer on every call: kept on cache lines the writer never writes.
    pub settings: CachePadded<Settings>,
    pub new_rings: Mutex<Vec<RingEntry>>,
    /// The rings the writer held when it stopped. A record that lands in one after the writer's
    /// last drain (a producer that was mid-push at shutdown) is counted as lost by `stats()`.
    pub orphans: Mutex<Vec<RingEntry>>,
    pub writer: OnceLock<Thread>,
    pub writer_running: AtomicBool,
    /// Set by the writer just before it parks, cleared by whoever wakes it. Written tens of
    /// thousands of times a second: on its own cache line, away from `settings`.
    pub idle: CachePadded<AtomicBool>,
    /// Written by the writer on every pass and by producers when they count a loss.
    pub counters: CachePadded<Counters>,
    pub control: Mutex<Control>,
    pub control_cv: Condvar,
}

impl Global {
    /// A global that no writer thread serves, for rendering records in isolation (fuzzing).
    pub(crate) fn detached(settings: Settings) -> Global {
        Global {
            settings: CachePadded::new(settings),
            new_rings: Mutex::new(Vec::new()),
            orphans: Mutex::new(Vec::new()),
            writer: OnceLock::new(),
            writer_running: AtomicBool::new(false),
            idle: CachePadded::new(AtomicBool::new(false)),
            counters: CachePadded::new(Counters::default()),
            control: Mutex::new(Control::default()),
            control_cv: Condvar::new(),
        }
    }

    /// Wakes the writer if it is parked (one `unpark` per sleep, whoever gets there first).
    #[inline]
    pub fn wake(&self) {
        if self.idle.load(Ordering::Relaxed) && self.idle.swap(false, Ordering::AcqRel) {
            if let Some(t) = self.writer.get() {
                t.unpark();
            }
        }
    }
}

#[inline]
pub(crate) fn global() -> Option<&'static Global> {
    GLOBAL.get()
}

/// Why [`init`](crate::init) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitError {
    /// `init` was already called in this process (telemetry can be initialised once).
    AlreadyInitialized,
    /// The sink could not be opened.
    Sink(String),
    /// The writer thread could not be started.
    Spawn(String),
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

impl std::error::Error for InitError {}

/// Keeps telemetry running; dropping it flushes everything and stops the writer thread
/// (the same as [`shutdown`]).
#[must_use = "dropping the guard shuts telemetry down at once"]
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

pub(crate) fn install(mut cfg: Config) -> Result<Guard, InitError> {
    if STATE
        .compare_exchange(UNINIT, INITIALIZING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(InitError::AlreadyInitialized);
    }
    cfg.apply_env();
    crate::clock::init();
    let ring_capacity = cfg
        .ring_capacity
        .clamp(ring::MIN_CAPACITY, ring::MAX_CAPACITY)
        .next_power_of_two();
    // One record may use half the ring; keep room for keys and framing around a long string.
    let max_str = cfg.max_value_len.min(ring_capacity / 4);
    let settings = Settings {
        ring_capacity,
        full_policy: cfg.full_policy,
        max_str,
        max_text: ring_capacity / 4,
        span_limits: cfg.span_limits,
        span_attr_values: crate::trace::span_attr_values(&cfg.span_limits),
        cardinality_limit: cfg.cardinality_limit,
    };
    crate::log::set_min_level(cfg.min_level);
    SHUTDOWN_TIMEOUT_MS.store(
        cfg.shutdown_timeout.as_millis().min(u64::MAX as u128) as u64,
        Ordering::Relaxed,
    );
    if cfg.disabled {
        STATE.store(SHUT_DOWN, Ordering::Release);
        return Ok(Guard { _private: () });
    }
    let sink = match writer::open_sink(std::mem::replace(
        &mut cfg.sink,
        crate::config::Sink::Stdout,
    )) {
        Ok(s) => s,
        Err(e) => {
            STATE.store(UNINIT, Ordering::Release);
            return Err(InitError::Sink(e.to_string()));
        }
    };
    let g = GLOBAL.get_or_init(|| Global::detached(settings));
    g.writer_running.store(true, Ordering::Release);
    let w = writer::Writer::new(&cfg, sink, g);
    let handle = std::thread::Builder::new()
        .name("mini-telemetry-writer".into())
        .spawn(move || {
            // A bug in the writer must not hang producers waiting for room or for a flush.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.run())).is_err() {
                eprintln!("mini-telemetry: the writer thread panicked; telemetry stops here");
                g.writer_running.store(false, Ordering::Release);
                ENABLED.store(false, Ordering::Release);
                let mut c = g.control.lock();
                c.writer_exited = true;
                g.control_cv.notify_all();
            }
        })
        .map_err(|e| {
            STATE.store(SHUT_DOWN, Ordering::Release);
            InitError::Spawn(e.to_string())
        })?;
    let _ = g.writer.set(handle.thread().clone());
    *WRITER_JOIN.lock() = Some(handle);
    STATE.store(RUNNING, Ordering::Release);
    ENABLED.store(true, Ordering::Release);
    if cfg.panic_hook {
        install_panic_hook();
    }
    Ok(Guard { _private: () })
}

static WRITER_JOIN: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);

/// How long `shutdown` waits for the writer, in milliseconds (`Config::shutdown_timeout`).
static SHUTDOWN_TIMEOUT_MS: AtomicU64 = AtomicU64::new(10_000);

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    let logger = crate::log::logger("mini_telemetry.panic");
    std::panic::set_hook(Box::new(move |info| {
        if is_enabled() {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("Box<dyn Any>");
            let thread = std::thread::current();
            let mut attrs = vec![
                crate::KeyValue::new("exception.type", "panic"),
                crate::KeyValue::new("exception.message", msg),
                crate::KeyValue::new("thread.name", thread.name().unwrap_or("")),
            ];
            if let Some(loc) = info.location() {
                attrs.push(crate::KeyValue::new("code.filepath", loc.file()));
                attrs.push(crate::KeyValue::new("code.lineno", loc.line()));
            }
            let bt = std::backtrace::Backtrace::capture();
            let bt =
                (bt.status() == std::backtrace::BacktraceStatus::Captured).then(|| bt.to_string());
            if let Some(bt) = &bt {
                attrs.push(crate::KeyValue::new("exception.stacktrace", bt.as_str()));
            }
            logger.log(crate::Level::Error, "panic", &attrs);
            // Bounded: the panicking thread may hold a lock the writer needs (stdout's).
            flush_timeout(Duration::from_secs(2));
        }
        previous(info);
    }));
}

/// Writes out every record produced so far (by any thread) and exports metrics, then returns.
/// A no-op before init and after shutdown.
///
/// It waits for the writer thread as long as that takes (a stalled stdout reader makes it wait):
/// do not call it while this thread holds `std::io::stdout().lock()`, which the writer needs for
/// `Sink::Stdout`. [`flush_timeout`] bounds the wait.
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
    if STATE.load(Ordering::Acquire) != RUNNING {
        return true;
    }
    if g.writer
        .get()
        .is_some_and(|t| t.id() == std::thread::current().id())
    {
        return true; // called from an observable callback: the writer is busy exporting already
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
    if STATE
        .compare_exchange(RUNNING, SHUT_DOWN, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    ENABLED.store(false, Ordering::SeqCst);
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
        return; // shutdown from an observable callback: the writer stops on its own
    }
    // Never hang the host: if the writer cannot finish (its output is blocked, e.g. stdout is
    // locked by this very thread), give up after the timeout and leave it detached.
    let timeout = Duration::from_millis(SHUTDOWN_TIMEOUT_MS.load(Ordering::Relaxed));
    let deadline = Instant::now() + timeout;
    let mut c = g.control.lock();
    while !c.writer_exited {
        if g.control_cv.wait_until(&mut c, deadline).timed_out() {
            eprintln!(
                "mini-telemetry: the writer did not finish within {:?} (is its output blocked, e.g. stdout locked by the thread shutting down?); stopping without it",
                timeout
            );
            return;
        }
    }
    drop(c);
    if h.join().is_err() {
        eprintln!("mini-telemetry: the writer thread panicked");
    }
}

/// What the engine has done so far, for monitoring the monitor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
    /// Records the writer could not decode (a bug if ever non-zero).
    pub corrupt: u64,
    /// Histogram measurements rejected because they were NaN or infinite.
    pub invalid_measurements: u64,
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
            invalid_measurements: crate::metrics::invalid_count(),
            ..Stats::default()
        };
    };
    let c = &g.counters;
    if g.control.lock().writer_exited {
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
        corrupt: c.corrupt.load(Ordering::Relaxed),
        invalid_measurements: crate::metrics::invalid_count(),
    }
}

// ---------------------------------------------------------------------------------------------
// Per-thread state.

/// Slots in the per-thread cache of metric series.
pub(crate) const SERIES_CACHE: usize = 64;

#[derive(Clone, Copy)]
pub(crate) struct CacheEntry {
    pub instrument: u32,
    pub hash: u64,
    pub series: Option<&'static crate::metrics::Series>,
}

impl CacheEntry {
    const EMPTY: CacheEntry = CacheEntry {
        instrument: u32::MAX,
        hash: 0,
        series: None,
    };
}

pub(crate) struct Local {
    producer: RefCell<Option<Producer>>,
    /// Set on the writer thread: it must never wait for room in its own ring (a record it
    /// makes, e.g. from a panic hook or an observable callback, is dropped and counted instead).
    pub is_writer: Cell<bool>,
    /// The current span: the top of `stack`, kept in a `Cell` for cheap reads by logs.
    pub current: Cell<SpanContext>,
    /// The spans started on this thread and not yet ended, in start order.
    pub stack: RefCell<Vec<SpanContext>>,
    pub rng: Cell<u64>,
    pub index: Cell<u32>,
    pub series_cache: [Cell<CacheEntry>; SERIES_CACHE],
    /// The slot in `SLOT`, kept here too for the destructor to give back.
    slot: Cell<u32>,
}

impl Drop for Local {
    fn drop(&mut self) {
        // Runs after this thread's last measurement through its slot: once the state is being
        // torn down, `LOCAL.try_with` fails and measurements go to the shared shard. The copy
        // kept here is the one given back: where thread-locals are not native, `SLOT` may be
        // gone already (then `try_with` fails, and nothing reads it again).
        let _ = SLOT.try_with(|s| s.set(crate::shard::NO_SLOT));
        crate::shard::give_back(self.slot.replace(crate::shard::NO_SLOT));
    }
}

thread_local! {
    pub(crate) static LOCAL: Local = const {
        Local {
            producer: RefCell::new(None),
            is_writer: Cell::new(false),
            current: Cell::new(SpanContext::NONE),
            stack: RefCell::new(Vec::new()),
            rng: Cell::new(0),
            index: Cell::new(u32::MAX),
            series_cache: [const { Cell::new(CacheEntry::EMPTY) }; SERIES_CACHE],
            slot: Cell::new(crate::shard::NO_SLOT),
        }
    };
}

thread_local! {
    /// This thread's metric shard slot (see `src/shard.rs`), taken on first use and given back
    /// by `Local`'s destructor. Kept apart from `LOCAL` so that reading it is one load, with no
    /// check of a destructor's state: a bound metric handle's add reads nothing else of this
    /// thread's.
    static SLOT: Cell<u32> = const { Cell::new(crate::shard::NO_SLOT) };
}

/// This thread's metric shard slot: small, and unique among live threads (taken on first use;
/// see `src/shard.rs`). [`NO_SLOT`](crate::shard::NO_SLOT), the shared shard, once this
/// thread's state is torn down.
#[inline(always)]
pub(crate) fn thread_slot() -> u32 {
    let s = SLOT.get();
    if s != crate::shard::NO_SLOT {
        return s;
    }
    take_slot()
}

#[cold]
#[inline(never)]
fn take_slot() -> u32 {
    // Only while `LOCAL` is alive (this registers its destructor, which gives the slot back).
    LOCAL
        .try_with(|l| {
            let s = crate::shard::take();
            l.slot.set(s);
            SLOT.set(s);
            s
        })
        .unwrap_or(crate::shard::NO_SLOT)
}

static THREAD_INDEX: AtomicU32 = AtomicU32::new(0);

impl Local {
    /// This thread's small dense index (assigned on first use).
    #[inline]
    pub fn index(&self) -> u32 {
        let i = self.index.get();
        if i != u32::MAX {
            return i;
        }
        let i = THREAD_INDEX.fetch_add(1, Ordering::Relaxed) % (u32::MAX - 1);
        self.index.set(i);
        i
    }
}

fn register(g: &Global) -> Producer {
    let (p, c) = ring::ring(g.settings.ring_capacity);
    let t = std::thread::current();
    let idx = LOCAL.try_with(|l| l.index()).unwrap_or(u32::MAX);
    g.new_rings
        .lock()
        .push(RingEntry::new(c, t.name().unwrap_or(""), idx));
    p
}

/// Encodes one record of `len` bytes into this thread's ring, applying the full-ring policy.
/// Never panics or blocks forever: if the writer is gone the record is counted as lost.
#[inline]
pub(crate) fn emit<F: FnOnce(&mut [u8])>(g: &Global, len: usize, fill: F) {
    emit_local(g, len, |b, _| fill(b))
}

/// As [`emit`], with this thread's state passed to `fill` (read the current span there rather
/// than with a second thread-local access).
#[inline]
pub(crate) fn emit_local<F: FnOnce(&mut [u8], &Local)>(g: &Global, len: usize, fill: F) {
    if !is_enabled() {
        // A span started before shutdown that ends after it: its ring is no longer drained.
        g.counters.lost.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let r = LOCAL.try_with(|l| {
        let Ok(mut slot) = l.producer.try_borrow_mut() else {
            return false;
        };
        let p = match slot.as_mut() {
            Some(p) => p,
            None => slot.insert(register(g)),
        };
        if len > p.max_record_len() {
            // The encoders size records to fit; never panic the host if one does not.
            debug_assert!(false, "record of {len} bytes does not fit the ring");
            return false;
        }
        match p.try_push_with(len, |b| fill(b, l)) {
            Ok(()) => {
                // The estimate uses a stale view of the consumer; confirm before waking it, so
                // a writer that keeps up is never woken (a system call) by a stale estimate.
                if p.used_estimate() > p.capacity() / 2 && p.used() > p.capacity() / 2 {
                    g.wake();
                }
                true
            }
            Err(fill) => push_slow(g, p, len, fill, l.is_writer.get()),
        }
    });
    if !matches!(r, Ok(true)) {
        g.counters.lost.fetch_add(1, Ordering::Relaxed);
    }
}

#[cold]
#[inline(never)]
fn push_slow<F: FnOnce(&mut [u8])>(
    g: &Global,
    p: &mut Producer,
    len: usize,
    mut fill: F,
    is_writer: bool,
) -> bool {
    if is_writer {
        // Never block the writer on itself (a record it makes from a panic hook or an
        // observable callback): drop and count it.
        p.count_dropped();
        return true;
    }
    if g.settings.full_policy == FullPolicy::Drop {
        p.count_dropped();
        g.wake();
        return true;
    }
    let mut spins = 0u32;
    loop {
        if !g.writer_running.load(Ordering::Acquire) {
            return false;
        }
        g.idle.store(false, Ordering::Relaxed);
        if let Some(t) = g.writer.get() {
            t.unpark();
        }
        if spins < 16 {
            std::hint::spin_loop();
        } else if spins < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
        spins += 1;
        match p.try_push_with(len, fill) {
            Ok(()) => return true,
            Err(f) => fill = f,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Instrumentation scopes.

static SCOPES: RwLock<Vec<&'static str>> = RwLock::new(Vec::new());

/// Interns a scope name and returns its id (creation time only, never on a hot path).
pub(crate) fn scope_id(name: &str) -> u32 {
    if let Some(i) = SCOPES.read().iter().position(|s| *s == name) {
        return i as u32;
    }
    let mut w = SCOPES.write();
    if let Some(i) = w.iter().position(|s| *s == name) {
        return i as u32;
    }
    w.push(Box::leak(name.to_string().into_boxed_str()));
    (w.len() - 1) as u32
}

/// The name of a scope id.
pub(crate) fn scope_name(id: u32) -> Option<&'static str> {
    SCOPES.read().get(id as usize).copied()
}

//! The writer thread: drains every ring, hands each record to its assembler (logs, spans),
//! collects metrics, and writes the output buffer to the sink.
//!
//! It sleeps (`park_timeout`) between passes and is woken by producers only when a ring passes
//! half full, by `flush()` and by `shutdown()`. The sleep adapts: after a pass that found records
//! it is short (`MIN_NAP`), so under steady traffic the writer usually comes back on its own
//! before a ring is half full and producers seldom pay for a wake-up system call; each empty pass
//! doubles it, up to the configured flush interval, so an idle process costs almost nothing. On
//! Linux the writer asks for a 1 µs timer slack so that a nap ends close to its deadline (see
//! `engine::sys::tighten_timer_slack`). Output accumulates in one reusable buffer that is written with a few
//! large `write` calls per pass. A failing sink (closed pipe, full disk) is reported once on
//! stderr and counted; the writer keeps draining so producers never block on it.

use crate::engine::cacheline;
use crate::engine::clock::{self, Calibration};
use crate::engine::metrics::histogram::HistAcc;
use crate::engine::record::{Corrupt, DValue, Dec, PartHead, kind};
use crate::engine::scope::scope_id;
use crate::engine::shared::{Global, RingEntry};
use crate::engine::sys::{block_sigpipe, tighten_timer_slack};
use crate::engine::thread::LOCAL;
use crate::export::format::{Formatter, LineFormat, Options};
use crate::export::logs::Logs;
use crate::export::metrics;
use crate::export::observe::Observe;
use crate::export::sink::Sink;
use crate::export::spans::Spans;
use crate::export::view::{Attr, Num, PointData, PointView};
use crate::model::config::{CacheEviction, Config};
use crate::model::resource;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The shortest sleep between passes, after a pass that found records.
const MIN_NAP: Duration = Duration::from_micros(50);

/// With `CacheEviction::Auto`, the eviction probe runs at the first idle pass after this much
/// of the process's life, or after `PROBE_LATEST` whatever the load.
const PROBE_AFTER: Duration = Duration::from_secs(1);
const PROBE_LATEST: Duration = Duration::from_secs(10);

/// Output is written to the sink once the buffer holds this much (OTLP lines, made whole by
/// their formatter, can be larger). A producer whose ring is full waits through each write, so
/// this is the longest pause a write adds to a saturated producer's call: back-to-back requests
/// had p99.9 11.6 µs with 64 KiB against 16.1 µs with 128 KiB and 20.4 µs with 256 KiB (median of
/// 8 alternated runs each), while the writer's rate into `/dev/null` did not move (24 alternated
/// pairs: logs 1.00, spans 0.99). 64 KiB is also a pipe's default capacity.
const WRITE_CHUNK: usize = 64 * 1024;

/// The writer thread's state. Built by `init` and moved to the thread, which runs [`Writer::run`]
/// until shutdown.
pub(crate) struct Writer {
    g: &'static Global,
    rings: Vec<RingEntry>,
    sink: Sink,
    out: Vec<u8>,
    cal: Calibration,
    last_calibration: Instant,
    format: Formatter,
    spans: Spans,
    logs: Logs,
    metric_interval: Duration,
    flush_interval: Duration,
    last_export: Instant,
    start_unix: u64,
    dropped_exited: u64,
    /// Lines rendered into `out` and not yet handed to the sink.
    lines: u64,
    written: u64,
    hist: HistAcc,
    internal_scope: u32,
    /// The observable gauges' callbacks, on their own thread.
    observe: Observe,
    /// A run of the callbacks asked for and not written yet: its number, the time of the
    /// export that asked, and when it was asked.
    obs_pending: Option<(u64, u64, Instant)>,
    /// Whether a flush has already been finished without a late run's points (said once).
    obs_late_said: bool,
    /// The last flush request this writer has exported metrics for.
    flush_asked: u64,
    shutdown_timeout: Duration,
    /// The configured eviction behaviour, and what the writer does (decided in `run`).
    eviction: CacheEviction,
    evict: bool,
}

impl Writer {
    pub fn new(cfg: &Config, sink: Box<dyn Write + Send>, g: &'static Global) -> Self {
        let cal = Calibration::new();
        let start_unix = cal.to_unix_nanos(clock::now());
        Writer {
            g,
            rings: Vec::new(),
            sink: Sink::new(sink),
            out: Vec::with_capacity(WRITE_CHUNK * 2),
            cal,
            last_calibration: Instant::now(),
            format: Formatter::new(
                cfg.format,
                resource::attributes(cfg),
                Options {
                    exponential_histograms: cfg.otlp_exponential_histograms,
                },
            ),
            spans: Spans::default(),
            logs: Logs::default(),
            metric_interval: cfg.metric_interval,
            flush_interval: cfg.flush_interval,
            last_export: Instant::now(),
            start_unix,
            dropped_exited: 0,
            lines: 0,
            written: 0,
            hist: HistAcc::default(),
            internal_scope: scope_id("mini_telemetry"),
            observe: Observe::new(None),
            obs_pending: None,
            obs_late_said: false,
            flush_asked: 0,
            shutdown_timeout: cfg.shutdown_timeout,
            eviction: cfg.cache_eviction,
            evict: false,
        }
    }

    pub fn run(mut self) {
        let _ = LOCAL.try_with(|l| l.is_writer.set(true));
        tighten_timer_slack();
        // A write to a closed pipe must fail with EPIPE here, not kill the process with
        // SIGPIPE when the host restored its default action.
        block_sigpipe();
        self.observe = Observe::new(Some(std::thread::current()));
        self.set_evict(self.eviction == CacheEviction::Always);
        // `Auto` starts without eviction and measures later, once the process has lived
        // `PROBE_AFTER` and a pass has found nothing to do (or after `PROBE_LATEST` anyway): a
        // short program never pays for the probe (~10 ms of the writer's time, which its exit
        // would wait for).
        let started = Instant::now();
        let mut probe = self.eviction == CacheEviction::Auto;
        // Stamped with the time of init, before which no record was made: the resource line
        // is never later than the records after it.
        self.format.resource(&mut self.out, self.start_unix);
        self.lines += 1;
        let mut nap = self.flush_interval;
        loop {
            let (flush_req, shutdown) = {
                let c = self.g.control.lock();
                (c.flush_requested, c.shutdown)
            };
            self.adopt_rings();
            let busy = self.drain_all() > 0;
            if shutdown {
                // New records are no longer accepted (telemetry is off; callers count them lost).
                // The drain above made room for producers blocked on a full ring; from now on
                // they give up instead (counting the record lost). Records already past those
                // checks land within microseconds: drain until the rings stay quiet.
                self.g.writer_running.store(false, Ordering::SeqCst);
                let mut quiet = 0;
                for _ in 0..200 {
                    self.adopt_rings();
                    if self.drain_all() == 0 {
                        quiet += 1;
                        if quiet == 3 {
                            break;
                        }
                    } else {
                        quiet = 0;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                self.export_metrics();
                // The observable gauges' last points, while rings are still drained; a
                // callback that does not finish in half the shutdown timeout is left behind.
                let deadline = Instant::now() + self.shutdown_timeout / 2;
                while self.obs_pending.is_some() {
                    self.adopt_rings();
                    self.drain_all();
                    self.write_observed();
                    if self.obs_pending.is_some() {
                        if Instant::now() >= deadline {
                            diag!(
                                "mini-telemetry: observable gauge callbacks still running at shutdown; their last points are left out"
                            );
                            break;
                        }
                        std::thread::park_timeout(Duration::from_millis(1));
                    }
                }
                self.observe.stop();
                self.drain_all();
                // Parts of spans that never ended (leaked guards): discarded, and counted.
                let never_ended = self.spans.discard_all();
                self.g
                    .counters
                    .lost
                    .fetch_add(never_ended, Ordering::Relaxed);
                self.write_out(true);
                *self.g.orphans.lock() = std::mem::take(&mut self.rings);
                let mut c = self.g.control.lock();
                c.writer_exited = true;
                c.flush_done = c.flush_requested;
                self.g.control_cv.notify_all();
                return;
            }
            let flushing = flush_req > self.g.control.lock().flush_done;
            // A flush exports metrics once, then waits (draining) for the observable gauges'
            // points of that export.
            let new_flush = flushing && flush_req > self.flush_asked;
            if new_flush || self.last_export.elapsed() >= self.metric_interval {
                self.export_metrics();
            }
            if new_flush {
                self.flush_asked = flush_req;
            }
            self.write_observed();
            self.write_out(true);
            // Ring buffers for threads to come, in place of those taken since the last pass.
            self.g.refill_spare_rings();
            if flushing && (self.obs_pending.is_none() || self.observed_late()) {
                let mut c = self.g.control.lock();
                c.flush_done = flush_req;
                self.g.control_cv.notify_all();
                continue;
            }
            if probe {
                let lived = started.elapsed();
                if (lived >= PROBE_AFTER && !busy) || lived >= PROBE_LATEST {
                    probe = false;
                    let ring = self.g.settings.ring_capacity;
                    self.set_evict(cacheline::eviction_pays(ring).is_some_and(|p| p.evict));
                }
            }
            if self.last_calibration.elapsed() > Duration::from_secs(1) {
                self.cal.refresh();
                self.last_calibration = Instant::now();
            }
            nap = if busy {
                MIN_NAP
            } else {
                nap.saturating_mul(2).min(self.flush_interval)
            };
            self.g.idle.store(true, Ordering::Release);
            if !self.any_work() {
                std::thread::park_timeout(nap);
            }
            self.g.idle.store(false, Ordering::Release);
        }
    }

    /// Renders one encoded record as the writer would and returns the output (empty when the
    /// record is rejected as corrupt). For fuzzing and corpus tests.
    pub fn render(&mut self, rec: &[u8]) -> &[u8] {
        self.out.clear();
        self.handle(rec);
        &self.out
    }

    fn now_unix(&self) -> u64 {
        self.cal.to_unix_nanos(clock::now())
    }

    fn any_work(&self) -> bool {
        let c = self.g.control.lock();
        // (A flush waiting for observable gauges sleeps: the observer thread wakes the writer.)
        c.shutdown
            || c.flush_requested > self.flush_asked
            || (c.flush_requested > c.flush_done && self.obs_pending.is_none())
    }

    /// Evicts read ring lines from now on, or not, in every ring.
    fn set_evict(&mut self, evict: bool) {
        self.evict = evict;
        for r in &mut self.rings {
            r.consumer.set_evict(evict);
        }
        self.g.counters.evicting.store(evict, Ordering::Relaxed);
    }

    fn adopt_rings(&mut self) {
        let mut new = std::mem::take(&mut *self.g.new_rings.lock());
        for r in new.iter_mut() {
            r.consumer.set_evict(self.evict);
        }
        self.rings.append(&mut new);
    }

    /// Drains every ring once; returns the number of records read.
    fn drain_all(&mut self) -> usize {
        let mut n = 0;
        let mut rings = std::mem::take(&mut self.rings);
        let mut dropped_total = self.dropped_exited;
        // Rings whose producer waits for room first, waking it each time some is handed back.
        for r in rings.iter_mut().filter(|r| r.gate.waiting()) {
            n += self.drain_one(r);
        }
        let mut i = 0;
        while i < rings.len() {
            let r = &mut rings[i];
            let closed = r.consumer.is_closed();
            n += self.drain_one(r);
            let d = r.consumer.dropped();
            dropped_total += d;
            if closed {
                // Final: the thread exited and its ring is empty. Report its drops, reclaim it
                // (its bytes go back to the budget, its buffer to the spares).
                self.report_dropped(r);
                self.dropped_exited += d;
                let r = rings.swap_remove(i);
                self.g
                    .counters
                    .ring_bytes
                    .fetch_sub(r.consumer.capacity(), Ordering::Relaxed);
                if let Some(buf) = r.consumer.into_buffer() {
                    self.g.recycle_ring(buf);
                }
            } else {
                i += 1;
            }
        }
        self.rings = rings;
        self.g
            .counters
            .dropped
            .store(dropped_total, Ordering::Relaxed);
        n
    }

    /// Drains one ring, waking its producer whenever room is handed back while it waits.
    fn drain_one(&mut self, r: &mut RingEntry) -> usize {
        let gate = &r.gate;
        // Output goes to the sink in chunks as it accumulates, also within one ring's records:
        // a burst of 2 MiB of records must not grow the buffer to several times that.
        let each = |rec: &[u8]| {
            self.handle(rec);
            if self.out.len() >= WRITE_CHUNK {
                self.write_out(false);
            }
        };
        let n = r.consumer.drain_with(each, || gate.wake());
        gate.wake();
        n
    }

    fn handle(&mut self, rec: &[u8]) {
        let mark = self.out.len();
        let lines = self.lines;
        if self.handle_inner(rec).is_err() {
            self.out.truncate(mark);
            self.lines = lines;
            self.g.counters.corrupt.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn handle_inner(&mut self, rec: &[u8]) -> Result<(), Corrupt> {
        let mut d = Dec::new(rec);
        match d.u8()? {
            kind::LOG => {
                self.lines += 1;
                self.logs.log(d, &self.cal, &mut self.format, &mut self.out)
            }
            kind::SPAN_END => {
                self.lines += 1;
                let limits = &self.g.settings.span_limits;
                self.spans
                    .end(d, &self.cal, limits, &mut self.format, &mut self.out)
            }
            k @ (kind::SPAN_ATTRS | kind::SPAN_EVENT | kind::SPAN_LINK | kind::SPAN_STATUS) => {
                let head = PartHead::decode(k, &mut d)?;
                let discarded = self.spans.part(head, rec)?;
                if discarded > 0 {
                    self.g.counters.lost.fetch_add(discarded, Ordering::Relaxed);
                }
                Ok(())
            }
            _ => Err(Corrupt),
        }
    }

    fn report_dropped(&mut self, r: &mut RingEntry) {
        let d = r.consumer.dropped();
        if d == r.reported_dropped {
            return;
        }
        r.reported_dropped = d;
        let now = self.now_unix();
        let name = r.thread_name.clone();
        let attrs: [Attr<'_>; 2] = [
            ("thread.id", DValue::I64(r.thread_index as i64)),
            ("thread.name", DValue::Str(&name)),
        ];
        let _ = self.format.point(
            &mut self.out,
            &PointView {
                scope: self.internal_scope,
                name: "mini_telemetry.records.dropped",
                description: "Records dropped because the thread's ring was full",
                unit: "{record}",
                start: self.start_unix,
                time: now,
                attrs: &attrs,
                data: PointData::Sum {
                    monotonic: true,
                    value: Num::U(d),
                },
            },
        );
        self.lines += 1;
    }

    fn export_metrics(&mut self) {
        self.last_export = Instant::now();
        let now = self.now_unix();
        let mut rings = std::mem::take(&mut self.rings);
        for r in &mut rings {
            self.report_dropped(r);
        }
        self.rings = rings;
        let out = &mut self.out;
        let format = &mut self.format;
        let mut lines = 0u64;
        metrics::collect(self.start_unix, now, &mut self.hist, &mut |p| {
            if format.point(out, p).is_ok() {
                lines += 1;
            }
        });
        self.lines += lines;
        if self.obs_pending.is_none() {
            if let Some(run) = self.observe.request() {
                self.obs_pending = Some((run, now, Instant::now()));
            }
        }
    }

    /// True when the callbacks' run asked for has taken longer than half the shutdown timeout:
    /// a flush then finishes without its points (they are written if it ends later), as a
    /// shutdown does, rather than wait on a callback that may never return.
    fn observed_late(&mut self) -> bool {
        let late = self
            .obs_pending
            .is_some_and(|(.., asked)| asked.elapsed() >= self.shutdown_timeout / 2);
        if late && !self.obs_late_said {
            self.obs_late_said = true;
            diag!(
                "mini-telemetry: observable gauge callbacks still running; a flush finished without their points"
            );
        }
        late
    }

    /// Writes the observable gauges' points once the run asked for has finished.
    fn write_observed(&mut self) {
        let Some((run, time, _)) = self.obs_pending else {
            return;
        };
        let Some(runs) = self.observe.take(run) else {
            return;
        };
        self.obs_pending = None;
        let out = &mut self.out;
        let format = &mut self.format;
        let mut lines = 0u64;
        metrics::observed(self.start_unix, time, &runs, &mut |p| {
            if format.point(out, p).is_ok() {
                lines += 1;
            }
        });
        self.lines += lines;
    }

    fn write_out(&mut self, flush: bool) {
        self.format.finish(&mut self.out);
        if !self.out.is_empty() {
            if self.sink.write(&self.out, &self.g.counters) {
                self.written += self.lines;
            } else {
                // The sink failed (a closed pipe, a full disk): these lines are counted, not
                // silently gone.
                self.g
                    .counters
                    .unwritten
                    .fetch_add(self.lines, Ordering::Relaxed);
            }
            self.out.clear();
            self.lines = 0;
        }
        self.g
            .counters
            .written
            .store(self.written, Ordering::Relaxed);
        if flush {
            self.sink.flush(&self.g.counters);
        }
    }
}

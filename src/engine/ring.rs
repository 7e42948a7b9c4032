//! A single-producer single-consumer ring of variable-length byte records.
//!
//! Every thread that emits telemetry owns one [`Producer`]; the writer thread owns the matching
//! [`Consumer`]. A record is framed as an 8-byte header (payload length, little endian `u32`, then
//! four unused bytes) followed by the payload, padded to a multiple of 8 bytes. A record never wraps:
//! when it does not fit before the end of the buffer, the producer writes a *pad* header covering
//! the rest of the buffer and starts the record at offset 0.
//!
//! `head` and `tail` are byte positions that only grow (modulo 2^usize), so `tail - head` is the
//! number of bytes in use. The producer is the only writer of `tail` and keeps a cached copy of
//! `head`, reloaded (Acquire) only when the ring looks full; the consumer does the same for `tail`.
//! Publishing is one Release store per record on the producer side and one per batch on the consumer
//! side.
//!
//! This module holds most of the crate's `unsafe` code: the two halves hand out disjoint byte slices
//! of one shared allocation.

use super::primitive::{Arc, AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(all(target_arch = "x86_64", not(mini_telemetry_loom), not(miri)))]
use super::sys::evict_line;
use super::sys::{alloc_ring, discard, free_ring, has_prefetch_write, prefault, prefetch_write};
use crossbeam_utils::CachePadded;

/// Header value that marks "skip to the start of the buffer".
const PAD: u32 = u32::MAX;
/// Size of the frame header in bytes.
const HEADER: usize = 8;

/// While draining, the consumer hands space back to the producer every this many bytes read
/// (and at the end), so a producer waiting on a full ring resumes after a few records, not
/// after the whole ring.
pub const RELEASE_EVERY: usize = 4096;

/// How far ahead of its tail a producer asks for the ring's lines in a writable state
/// (`prefetchw`). The writer thread read those lines last, or they left the caches since the
/// last lap; a store to such a line waits for it. Asked for early, the line is on its way while
/// the caller goes on. After each record the producer asks for the two lines that end `AHEAD`
/// bytes past its new tail ([`hint_ahead`]): a record of at most two lines (records
/// are 40-100 bytes) then leaves no line of its own unasked, whatever its alignment, because
/// the record before it asked for the line its first bytes go to.
///
/// One hint per record, and none for a span's parts (the end record after them sent it), was
/// measured first (Intel Xeon, 3 series of 12-20 alternated runs of a burst program: the span's
/// rate 2-7 % higher than with no hint, the log's 0-8 %, a span with attributes and an event
/// 5-9 %; 256 and 2,048 bytes ahead no different). It left lines unasked. On an AMD EPYC
/// (`cpuid` family 25, model 1), bursts of 5,000 calls with each way of hinting in turn in one
/// process (a temporary build that switched between them at run time), 40 bursts each at a
/// time (480 such turns), in the stretches where that host ran the old way slowly (63 % of
/// them): span with attributes and an event 127 -> 57 ns a call
/// (paired median 0.457), span 53.8 -> 35.3 ns (0.672), log 30.1 -> 18.3 ns (0.607); in the
/// other stretches 1.018, 1.032 and 1.022 the time (two hints and a hint on every part cost
/// a few instructions). Every line asked for once, with a loop over the lines since the last
/// hint, did a little worse both ways (0.487 / 1.036 for the span with attributes). The
/// writer's rate with a saturating producer, whose hints may reach lines the writer has yet to
/// read, did not drop (5 alternated pairs: spans 1.01-1.07x, logs 0.98-1.04x the old rate).
const AHEAD: usize = 512;

/// The cache line the write hints ask for at a time.
const LINE: usize = 64;

/// Bytes of a new buffer mapped in when it is made; the consumer maps in more, ahead of the
/// producer, as the producer goes further (`Consumer::drain`).
const MAP_FIRST: usize = 64 * 1024;

/// The smallest capacity a ring may have.
pub const MIN_CAPACITY: usize = 256;
/// The largest capacity a ring may have (1 GiB): keeps every frame length far below the `u32`
/// header's `PAD` marker and every size computation far from overflow.
pub const MAX_CAPACITY: usize = 1 << 30;

/// A ring's memory: fresh pages from `sys::alloc_ring` (zeroed, 8-byte aligned), of which the
/// first ones are mapped in, freed when dropped. Made ahead of need and recycled by the writer,
/// so that a thread's first record neither allocates nor touches pages.
pub struct Buffer {
    ptr: *mut u8,
    cap: usize,
    /// The first `mapped` bytes are mapped in.
    mapped: usize,
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffer")
            .field("capacity", &self.cap)
            .field("mapped", &self.mapped)
            .finish()
    }
}

// SAFETY: `Buffer` owns its allocation alone; moving it to another thread moves that ownership.
unsafe impl Send for Buffer {}

impl Buffer {
    /// A buffer of `capacity` bytes, clamped to [`MIN_CAPACITY`, `MAX_CAPACITY`] and rounded up
    /// to a power of two, with its first 64 KiB mapped in.
    pub fn new(capacity: usize) -> Buffer {
        let cap = capacity
            .clamp(MIN_CAPACITY, MAX_CAPACITY)
            .next_power_of_two();
        let ptr = alloc_ring(cap);
        let mapped = cap.min(MAP_FIRST);
        prefault(ptr, mapped);
        Buffer { ptr, cap, mapped }
    }

    /// Its capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Gives back to the system every page past the first 64 KiB (their content is lost), so
    /// that a recycled buffer holds no more memory than a new one.
    pub fn trim(&mut self) {
        let keep = self.cap.min(MAP_FIRST);
        // SAFETY: `[ptr + keep, ptr + cap)` is inside this buffer's allocation, and nothing
        // else uses the buffer (it is owned here, not part of a ring).
        unsafe { discard(self.ptr.add(keep), self.cap - keep) };
        self.mapped = keep;
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_ring(cap)` and the buffer is dropped, so nothing uses it
        // any more.
        unsafe { free_ring(self.ptr, self.cap) };
    }
}

/// The allocation shared by the two halves.
struct Shared {
    /// The bytes, accessed only through `buf.ptr` (copied into each half), under the protocol in
    /// the module docs.
    buf: Buffer,
    head: CachePadded<AtomicUsize>,
    tail: CachePadded<AtomicUsize>,
    /// Set by the producer when it is dropped (its thread exited).
    closed: AtomicBool,
    /// Records the producer could not write (drop policy), counted by the producer.
    dropped: AtomicU64,
}

// SAFETY: `buf` is an allocation that `Shared` owns. The producer writes only
// to bytes in `[tail, head + cap)` and the consumer reads only bytes in `[head, tail)`; ownership of a
// byte range moves from one side to the other through the Release/Acquire pairs on `tail` and `head`.
// So sharing `Shared` between the two threads never creates a data race.
unsafe impl Send for Shared {}
// SAFETY: see the `Send` impl above; all shared mutable state is atomic or protocol-partitioned.
unsafe impl Sync for Shared {}

/// Creates a ring of `capacity` bytes, clamped to [`MIN_CAPACITY`, `MAX_CAPACITY`] and rounded up
/// to a power of two.
///
/// The ring has a soft end at half its capacity. A producer past it goes back to the start as
/// soon as the consumer has caught up, so a thread in steady state cycles through the first
/// half only, and the second half is used, and mapped into memory, only to absorb bursts.
/// Going back early leaves a pad over the rest of the ring until the consumer reads it: until
/// then the producer has the bytes before the soft end only. So a burst always has at least
/// half the ring, and all of it when the consumer has read what came before.
pub fn ring(capacity: usize) -> (Producer, Consumer) {
    ring_in(Buffer::new(capacity))
}

/// [`ring`] in a buffer made (and mapped in) beforehand.
pub fn ring_in(buf: Buffer) -> (Producer, Consumer) {
    let soft = buf.cap / 2;
    ring_soft(buf, soft)
}

/// A ring in `buf` with its soft end at `soft` bytes.
fn ring_soft(buf: Buffer, soft: usize) -> (Producer, Consumer) {
    let (ptr, cap, mapped) = (buf.ptr, buf.cap, buf.mapped);
    // At most half the ring: a frame that starts before the soft end then always ends inside the
    // buffer (no frame is longer than half the ring), which the fast path relies on.
    let soft = soft.min(cap / 2);
    let shared = Arc::new(Shared {
        buf,
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        closed: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
    });
    (
        Producer {
            buf: ptr,
            cap,
            soft,
            max_len: cap / 2 - HEADER,
            shared: shared.clone(),
            tail: 0,
            limit: soft,
            cached_head: 0,
            next_reload: 0,
            dropped: 0,
            prefetch: has_prefetch_write(),
        },
        Consumer {
            shared,
            buf: ptr,
            cap,
            head: 0,
            evict: false,
            mapped,
        },
    )
}

#[inline]
fn frame_len(payload: usize) -> usize {
    HEADER + ((payload + 7) & !7)
}

/// After a record of `bytes` bytes that ends at `ahead - AHEAD`: asks for the two lines that end
/// at `ahead` and, for a record longer than two lines, for the lines before them that its own
/// bytes brought into reach. Two hints with no branch for the usual record, each one
/// instruction from the record's address. Not wrapped at the end of the buffer: a record in
/// the last `AHEAD` bytes of a lap sends its hints past the end, to nothing or to unrelated
/// memory, which a hint cannot harm; the mask cost instructions on every record.
///
/// # Safety
/// The CPU must have `prefetchw` ([`has_prefetch_write`]).
#[inline(always)]
unsafe fn hint_ahead(ahead: *const u8, bytes: usize) {
    let hint = |at: *const u8| {
        // SAFETY: the CPU has the instruction (the caller's contract); a hint neither reads
        // nor writes memory as the program sees it, and never faults, whatever the address.
        unsafe { prefetch_write(at) }
    };
    hint(ahead.wrapping_sub(LINE));
    hint(ahead);
    if bytes > 2 * LINE {
        let mut back = bytes;
        while back > LINE {
            hint(ahead.wrapping_sub(back));
            back -= LINE;
        }
    }
}

/// The writing half of a ring. `Send` but not `Sync`: exactly one thread pushes.
pub struct Producer {
    /// Copies of `shared.buf`'s pointer and capacity, so a push does not go through the `Arc`.
    buf: *mut u8,
    cap: usize,
    /// The soft end (half the ring).
    soft: usize,
    /// `cap / 2 - HEADER`, the largest payload.
    max_len: usize,
    shared: Arc<Shared>,
    tail: usize,
    /// A frame may end up to here with no check past one compare (see [`Producer::reserve`]):
    /// the lesser of this lap's soft end and the end of the free space as of `cached_head`, set
    /// by each slow reservation (from `tail` before its record, which may end past it: the
    /// compare is signed). Stale only on the safe side: `cached_head` only grows.
    limit: usize,
    cached_head: usize,
    /// Past the soft end, `head` is read again once `tail` reaches this (every 4 KiB), to see
    /// whether the consumer has caught up and the producer can go back to the start.
    next_reload: usize,
    dropped: u64,
    /// Whether the CPU has `prefetchw` (see [`AHEAD`]).
    prefetch: bool,
}

// SAFETY: `buf` points into the allocation kept alive by `shared`; moving the producer to another
// thread moves the (unique) right to write the free part of the ring with it.
unsafe impl Send for Producer {}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.cap)
            .field("tail", &self.tail)
            .finish()
    }
}

impl Producer {
    /// The largest payload a single record may have: half the capacity minus the header, so a
    /// record always fits once the consumer has caught up, even after a pad to the end.
    #[inline]
    pub fn max_record_len(&self) -> usize {
        self.max_len
    }

    /// The ring's capacity in bytes.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Bytes in use as far as the producer knows (an overestimate: `head` may have moved since).
    #[inline]
    pub fn used_estimate(&self) -> usize {
        self.tail.wrapping_sub(self.cached_head)
    }

    /// Bytes in use, reloading the consumer's position (one Acquire load of a shared line).
    #[inline]
    pub fn used(&mut self) -> usize {
        self.cached_head = self.shared.head.load(Ordering::Acquire);
        self.tail.wrapping_sub(self.cached_head)
    }

    /// Whether a record of `len` payload bytes fits now, as of the consumer's latest release
    /// (read sequentially consistent: see `engine::gate`).
    pub fn has_room(&self, len: usize) -> bool {
        let cap = self.cap;
        let total = frame_len(len);
        let to_end = cap - (self.tail & (cap - 1));
        let need = if total <= to_end {
            total
        } else {
            to_end + total
        };
        let head = self.shared.head.load(Ordering::SeqCst);
        cap - self.tail.wrapping_sub(head) >= need
    }

    /// Writes one record of `len` payload bytes, filled in by `fill`, and publishes it.
    ///
    /// `fill` receives a slice of exactly `len` bytes (initially holding stale data) and must write
    /// all of it. When there is no room, `fill` is not called and is handed back in `Err`, so the
    /// caller can retry with it.
    ///
    /// # Panics
    /// If `len > self.max_record_len()`.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn try_push_with<F: FnOnce(&mut [u8])>(&mut self, len: usize, fill: F) -> Result<(), F> {
        match self.reserve(len) {
            Some(start) => {
                // SAFETY: `reserve` returned `start`: `[start, start + frame_len(len))` is free
                // space owned by the producer, inside the buffer, and `start` is 8-aligned.
                unsafe { self.publish(start, len, fill) };
                Ok(())
            }
            None => Err(fill),
        }
    }

    /// Where the frame of a record of `len` payload bytes goes now, or `None` if there is no
    /// room: the returned `start` is 8-aligned, and `[start, start + frame_len(len))` is inside
    /// the buffer and free space owned by the producer (a pad to the end of the buffer already
    /// written before it, if the record goes back to the start).
    ///
    /// Takes no `fill`: neither this nor its cold part holds the caller's closure, which then
    /// stays in registers on the fast path instead of being built in memory for a call.
    #[inline(always)]
    fn reserve(&mut self, len: usize) -> Option<usize> {
        // When the frame ends before `limit`, it starts and ends before this lap's soft end (so
        // inside the buffer) and fits in the free space: two compares. (`limit` and `tail` are
        // multiples of 8, so `len` fits its frame in `room` iff `len <= room`; a negative `room`
        // means `limit` is behind `tail`. No `len`, however large, passes wrongly, so the size
        // assert stays in the slow part.) The full checks cost ~10 instructions more per record.
        let room = self.limit.wrapping_sub(self.tail).wrapping_sub(HEADER) as isize;
        if room >= 0 && len <= room as usize {
            return Some(self.tail & (self.cap - 1));
        }
        self.reserve_slow(len)
    }

    /// [`reserve`](Self::reserve) past `limit`: the full checks, then `limit` again.
    #[cold]
    #[inline(never)]
    fn reserve_slow(&mut self, len: usize) -> Option<usize> {
        assert!(
            len <= self.max_record_len(),
            "record larger than the ring allows"
        );
        let cap = self.cap;
        let total = frame_len(len);
        let pos = self.tail & (cap - 1);
        let at = if pos >= self.soft || total > cap - pos {
            self.reserve_far(len)
        } else {
            if cap - self.tail.wrapping_sub(self.cached_head) < total {
                self.cached_head = self.shared.head.load(Ordering::Acquire);
            }
            (cap - self.tail.wrapping_sub(self.cached_head) >= total).then_some(pos)
        };
        // From where `tail` is now (after a pad, at the start of the next lap).
        let pos = self.tail & (cap - 1);
        let free = cap - self.tail.wrapping_sub(self.cached_head);
        self.limit = self
            .tail
            .wrapping_add(self.soft.saturating_sub(pos).min(free));
        at
    }

    /// A reservation past the soft end, or one that must wrap: goes back to the start (a pad to
    /// the end first) when it must or, past the soft end, when the consumer has caught up
    /// enough; else goes on forward.
    #[cold]
    #[inline(never)]
    fn reserve_far(&mut self, len: usize) -> Option<usize> {
        let cap = self.cap;
        let total = frame_len(len);
        let pos = self.tail & (cap - 1);
        let to_end = cap - pos;
        let free = |p: &Self| cap - p.tail.wrapping_sub(p.cached_head);
        let must_wrap = total > to_end;
        let least = if must_wrap { to_end + total } else { total };
        if self.tail.wrapping_sub(self.next_reload) < cap / 2 || free(self) < least {
            // Every 4 KiB past the soft end, or when the ring looks full.
            self.cached_head = self.shared.head.load(Ordering::Acquire);
            self.next_reload = self.tail.wrapping_add(4096);
        }
        let wrap = must_wrap || free(self) >= to_end + total;
        let need = if wrap { to_end + total } else { total };
        if free(self) < need {
            return None;
        }
        if !wrap {
            return Some(pos);
        }
        // SAFETY: `[pos, cap)` is free space owned by the producer (checked above: `need` bytes
        // from `tail` are free), `pos` is 8-aligned and `to_end >= 8`.
        unsafe { self.write_header(pos, PAD) };
        // Not published: the pad becomes visible with the record after it, in `publish`.
        self.tail = self.tail.wrapping_add(to_end);
        // Read `head` again as soon as the soft end is reached on this lap.
        self.next_reload = self.tail;
        // `[0, total)` is free: `need` counted it after the pad.
        Some(0)
    }

    /// Writes the frame at `start` and publishes it, then asks for the lines ahead.
    ///
    /// # Safety
    /// `[start, start + frame_len(len))` must be free space owned by the producer, inside the
    /// buffer, and `start` 8-aligned.
    #[inline(always)]
    unsafe fn publish<F: FnOnce(&mut [u8])>(&mut self, start: usize, len: usize, fill: F) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.write_header(start, len as u32) };
        // SAFETY: the payload range `[start + 8, start + 8 + len)` lies within the frame (the
        // caller's guarantee), and no other reference to these bytes exists until `tail` is
        // published below.
        let payload = unsafe { std::slice::from_raw_parts_mut(self.buf.add(start + HEADER), len) };
        // Where the record ends, `AHEAD` bytes on (computed before `fill`, which may spill
        // the registers that hold the payload's address).
        let ahead = payload.as_ptr().wrapping_add(len + AHEAD);
        fill(payload);
        self.tail = self.tail.wrapping_add(frame_len(len));
        self.shared.tail.store(self.tail, Ordering::Release);
        if self.prefetch {
            // SAFETY: `self.prefetch` is `has_prefetch_write()`: the CPU has the instruction.
            unsafe { hint_ahead(ahead, HEADER + len) };
        }
    }

    /// Counts one record that could not be written (drop policy).
    #[inline]
    pub fn count_dropped(&mut self) {
        self.dropped += 1;
        self.shared.dropped.store(self.dropped, Ordering::Relaxed);
    }

    /// # Safety
    /// `pos` must be 8-aligned, `pos + 8 <= cap`, and the bytes must be owned by the producer.
    #[inline]
    unsafe fn write_header(&mut self, pos: usize, value: u32) {
        // SAFETY: guaranteed by the caller.
        unsafe { (self.buf.add(pos) as *mut u32).write(value.to_le()) };
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
    }
}

/// Evicts from every cache the lines of ring positions `[from, to)` that the consumer has just
/// read, before their space goes back to the producer (see [`evict_line`]). The cost is the
/// writer's: one `clflush` per 64 bytes read.
#[inline]
fn evict_read_lines(buf: *mut u8, cap: usize, from: usize, to: usize) {
    #[cfg(all(target_arch = "x86_64", not(mini_telemetry_loom), not(miri)))]
    {
        let mut p = from & !63;
        while p.wrapping_add(64) <= to {
            // SAFETY: `p & (cap - 1)` is inside the buffer, which the shared state keeps alive
            // while the consumer exists. (The space is released to the producer only after
            // this; a concurrent write there would only be slower, `clflush` changes no data.)
            unsafe { evict_line(buf.add(p & (cap - 1))) };
            p = p.wrapping_add(64);
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(mini_telemetry_loom), not(miri))))]
    let _ = (buf, cap, from, to);
}

/// The reading half of a ring. Owned by the writer thread.
pub struct Consumer {
    shared: Arc<Shared>,
    /// Copies of `shared.buf`'s pointer and capacity.
    buf: *mut u8,
    cap: usize,
    head: usize,
    /// Evict the lines read before releasing them (see [`Consumer::set_evict`]).
    evict: bool,
    /// The first `mapped` bytes of the buffer are mapped in.
    mapped: usize,
}

// SAFETY: `buf` points into the allocation kept alive by `shared`; moving the consumer to
// another thread moves the (unique) right to read the published part of the ring with it.
unsafe impl Send for Consumer {}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.cap)
            .field("head", &self.head)
            .finish()
    }
}

impl Consumer {
    /// Calls `each` on every record published so far, in order, and releases their space to the
    /// producer: every [`RELEASE_EVERY`] bytes read, then at the end. Returns the number of
    /// records read.
    pub fn drain(&mut self, each: impl FnMut(&[u8])) -> usize {
        self.drain_with(each, || {})
    }

    /// [`drain`](Self::drain), calling `released` after each release of space but the last
    /// (the writer wakes a producer waiting for room there, as soon as there is some).
    pub fn drain_with(&mut self, mut each: impl FnMut(&[u8]), mut released: impl FnMut()) -> usize {
        let cap = self.cap;
        let tail = self.shared.tail.load(Ordering::Acquire);
        if self.mapped < cap {
            // Map in pages ahead of the producer (here, not page by page on its thread): four
            // times as far once it has gone half of the way, or is that far ahead of this read.
            let reach = (tail & (cap - 1)).max(tail.wrapping_sub(self.head));
            if reach >= self.mapped / 2 {
                let to = cap.min(self.mapped * 4);
                // SAFETY: `[mapped, to)` is inside the buffer, which `shared` keeps alive.
                prefault(unsafe { self.buf.add(self.mapped) }, to - self.mapped);
                self.mapped = to;
            }
        }
        let mut start = self.head;
        let mut n = 0;
        while self.head != tail {
            let pos = self.head & (cap - 1);
            // SAFETY: `pos` is 8-aligned and `[head, tail)` holds complete frames published by the
            // producer's Release store of `tail`, which the Acquire load above synchronises with.
            let len = u32::from_le(unsafe { (self.buf.add(pos) as *const u32).read() });
            if len == PAD {
                self.head = self.head.wrapping_add(cap - pos);
                continue;
            }
            let len = len as usize;
            // Only our producer writes headers, and it never writes one that overruns the
            // buffer; check anyway rather than read out of bounds.
            assert!(pos + frame_len(len) <= cap, "corrupt ring frame header");
            // SAFETY: the frame lies within the buffer and within the published range, and the
            // producer does not touch it until `head` moves past it (stored below).
            let payload = unsafe { std::slice::from_raw_parts(self.buf.add(pos + HEADER), len) };
            each(payload);
            n += 1;
            self.head = self.head.wrapping_add(frame_len(len));
            if self.head.wrapping_sub(start) >= RELEASE_EVERY && self.head != tail {
                self.release(start);
                start = self.head;
                released();
            }
        }
        self.release(start);
        n
    }

    /// Hands `[from, head)` back to the producer (evicting its lines first if asked to).
    #[inline]
    fn release(&mut self, from: usize) {
        if self.evict {
            evict_read_lines(self.buf, self.cap, from, self.head);
        }
        // SeqCst: with the producer's flag in `engine::gate`, a Dekker pair (the writer then
        // checks the flag, the producer checks the room after raising it).
        self.shared.head.store(self.head, Ordering::SeqCst);
    }

    /// The ring's buffer, once the producer is gone and this is the last user of it: for a new
    /// ring (see [`Buffer::trim`]). `None` while the producer half still exists.
    pub fn into_buffer(self) -> Option<Buffer> {
        let buf;
        #[cfg(not(mini_telemetry_loom))]
        {
            buf = Arc::try_unwrap(self.shared).ok().map(|s| s.buf);
        }
        #[cfg(mini_telemetry_loom)]
        {
            buf = None;
        }
        buf
    }

    /// Whether [`drain`](Self::drain) evicts the cache lines it has read before handing their
    /// space back (off by default). It pays where the producer's next write to a line the
    /// consumer still caches is a slow cross-die transfer, and costs where the two cores share
    /// a cache: the writer decides per host (`engine::cacheline`).
    pub fn set_evict(&mut self, evict: bool) {
        self.evict = evict;
    }

    /// True once the producer has been dropped. Check it *before* a final [`drain`](Self::drain):
    /// after that drain the ring is empty for good.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Records the producer counted as dropped so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// The ring's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.cap
    }
}

#[cfg(all(test, not(mini_telemetry_loom)))]
mod tests {
    use super::*;

    fn push_bytes(p: &mut Producer, data: &[u8]) -> Result<(), ()> {
        p.try_push_with(data.len(), |b| b.copy_from_slice(data))
            .map_err(|_| ())
    }

    fn drain_all(c: &mut Consumer) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        c.drain(|r| v.push(r.to_vec()));
        v
    }

    #[test]
    fn capacity_rounds_up() {
        let (p, c) = ring(1000);
        assert_eq!(p.capacity(), 1024);
        assert_eq!(c.capacity(), 1024);
        let (p, _c) = ring(1);
        assert_eq!(p.capacity(), MIN_CAPACITY);
        assert_eq!(p.max_record_len(), MIN_CAPACITY / 2 - 8);
    }

    #[test]
    fn push_and_drain_in_order() {
        let (mut p, mut c) = ring(1024);
        for i in 0u8..10 {
            push_bytes(&mut p, &vec![i; i as usize]).unwrap();
        }
        let got = drain_all(&mut c);
        assert_eq!(got.len(), 10);
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r, &vec![i as u8; i]);
        }
        assert!(drain_all(&mut c).is_empty());
    }

    #[test]
    fn full_then_space_after_drain() {
        let (mut p, mut c) = ring(256);
        // Each frame is 8 + 24 = 32 bytes: 8 fit.
        for i in 0..8 {
            push_bytes(&mut p, &[i; 24]).unwrap();
        }
        assert_eq!(push_bytes(&mut p, &[9; 24]), Err(()));
        assert_eq!(push_bytes(&mut p, &[]), Err(()));
        assert_eq!(drain_all(&mut c).len(), 8);
        push_bytes(&mut p, &[9; 24]).unwrap();
        assert_eq!(drain_all(&mut c), vec![vec![9; 24]]);
    }

    #[test]
    fn wrap_around_with_pad() {
        let (mut p, mut c) = ring(256);
        // 100-byte payload -> 112-byte frame; after two, 32 bytes remain before the end.
        push_bytes(&mut p, &[1; 100]).unwrap();
        push_bytes(&mut p, &[2; 100]).unwrap();
        assert_eq!(drain_all(&mut c).len(), 2);
        // Needs a pad of 32 then 112 at offset 0.
        push_bytes(&mut p, &[3; 100]).unwrap();
        push_bytes(&mut p, &[4; 100]).unwrap();
        assert_eq!(drain_all(&mut c), vec![vec![3; 100], vec![4; 100]]);
    }

    #[test]
    fn every_size_up_to_the_maximum_round_trips() {
        let (mut p, mut c) = ring(512);
        let max = p.max_record_len();
        for round in 0..3 {
            for len in 0..=max {
                let byte = (len + round) as u8;
                push_bytes(&mut p, &vec![byte; len]).unwrap();
                let got = drain_all(&mut c);
                assert_eq!(got, vec![vec![byte; len]], "len {len}");
            }
        }
    }

    /// Records of every size up to the largest (many longer than the room before a small soft
    /// end), pushed until the ring refuses one, then drained: each comes back whole and in order,
    /// and a drained ring always takes the next record.
    #[test]
    fn random_sizes_and_soft_ends_keep_every_record_whole_and_in_order() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for (cap, soft) in [
            (1024, 512),
            (1024, 128),
            (1024, 64),
            (4096, 1024),
            (256, 128),
        ] {
            let (mut p, mut c) = ring_soft(Buffer::new(cap), soft);
            let max = p.max_record_len();
            let mut sent = std::collections::VecDeque::new();
            let mut n = 0u32;
            for _round in 0..if cfg!(miri) { 20 } else { 2_000 } {
                loop {
                    // Half small records, half of any size up to the largest.
                    let len = if rand(2) == 0 {
                        rand(24)
                    } else {
                        rand(max + 1)
                    };
                    let rec: Vec<u8> = (0..len).map(|i| (n as usize + i) as u8).collect();
                    if push_bytes(&mut p, &rec).is_err() {
                        assert!(!sent.is_empty(), "an empty ring refused {len} bytes");
                        break;
                    }
                    sent.push_back(rec);
                    n += 1;
                    if rand(4) == 0 {
                        break;
                    }
                }
                for got in drain_all(&mut c) {
                    assert_eq!(Some(got), sent.pop_front(), "cap {cap}, soft {soft}");
                }
                assert!(sent.is_empty());
            }
        }
    }

    #[test]
    #[should_panic(expected = "record larger")]
    fn oversize_record_panics() {
        let (mut p, _c) = ring(256);
        let n = p.max_record_len() + 1;
        let _ = p.try_push_with(n, |_| {});
    }

    #[test]
    fn max_record_fits_whatever_the_position() {
        // After any offset, a drained ring accepts a max-size record (pad + record <= cap).
        for offset in (0..256).step_by(8) {
            let (mut p, mut c) = ring(256);
            // Zero-length records take one 8-byte header each.
            for _ in 0..offset / 8 {
                push_bytes(&mut p, &[]).unwrap();
                drain_all(&mut c);
            }
            let max = p.max_record_len();
            push_bytes(&mut p, &vec![7; max]).unwrap();
            assert_eq!(drain_all(&mut c), vec![vec![7; max]]);
        }
    }

    #[test]
    fn records_longer_than_two_lines_round_the_buffer_keep_their_bytes() {
        // The write hints of long records reach past the end of the buffer and wrap; the
        // records themselves are unchanged.
        let (mut p, mut c) = ring(4096);
        for round in 0..64u8 {
            let rec: Vec<u8> = (0..300).map(|i| (i as u8).wrapping_mul(round)).collect();
            push_bytes(&mut p, &rec).unwrap();
            assert_eq!(drain_all(&mut c), vec![rec]);
        }
    }

    #[test]
    fn closed_and_counters() {
        let (mut p, c) = ring(256);
        push_bytes(&mut p, b"x").unwrap();
        p.count_dropped();
        p.count_dropped();
        assert_eq!(c.dropped(), 2);
        assert!(!c.is_closed());
        drop(p);
        assert!(c.is_closed());
    }

    #[test]
    fn a_producer_that_is_kept_up_with_stays_before_the_soft_end() {
        let (mut p, mut c) = ring_soft(Buffer::new(64 * 1024), 4096);
        let n = if cfg!(miri) { 500 } else { 20_000u32 };
        for i in 0..n {
            let len = (i % 200) as usize;
            push_bytes(&mut p, &vec![i as u8; len]).unwrap();
            assert!(
                p.tail & (p.cap - 1) < 4096 + frame_len(200),
                "at {} after {i} records",
                p.tail & (p.cap - 1)
            );
            assert_eq!(drain_all(&mut c), vec![vec![i as u8; len]]);
        }
    }

    #[test]
    fn a_burst_goes_past_the_soft_end_up_to_the_whole_ring_then_back_in_order() {
        let (mut p, mut c) =
            ring_soft(Buffer::new(if cfg!(miri) { 8192 } else { 64 * 1024 }), 4096);
        let cap = p.cap;
        for round in 0..3u8 {
            let mut n = 0usize;
            while push_bytes(&mut p, &[round.wrapping_add(n as u8); 56]).is_ok() {
                n += 1;
            }
            // 64-byte frames: all of the ring but what the previous round's position costs.
            assert!(n * 64 >= cap - 4096 - 64, "round {round}: {n} records");
            let got = drain_all(&mut c);
            assert_eq!(got.len(), n);
            for (k, r) in got.iter().enumerate() {
                assert_eq!(r, &vec![round.wrapping_add(k as u8); 56]);
            }
        }
    }

    #[test]
    fn past_the_soft_end_the_producer_goes_back_once_the_consumer_catches_up() {
        let (mut p, mut c) = ring_soft(Buffer::new(64 * 1024), 4096);
        // A burst to well past the soft end, then the consumer catches up.
        for _ in 0..200 {
            push_bytes(&mut p, &[1; 56]).unwrap();
        }
        assert!(p.tail & (p.cap - 1) > 4096);
        drain_all(&mut c);
        // Within the next 4 KiB (when `head` is read again), the producer goes back.
        let mut back = false;
        for _ in 0..70 {
            push_bytes(&mut p, &[2; 56]).unwrap();
            drain_all(&mut c);
            back |= p.tail & (p.cap - 1) < 4096;
        }
        assert!(back, "still at {}", p.tail & (p.cap - 1));
    }

    #[test]
    fn the_buffer_comes_back_only_once_the_producer_is_gone_and_trims() {
        let (mut p, c) = ring(64 * 1024);
        push_bytes(&mut p, &[1; 100]).unwrap();
        drop(p);
        let mut buf = c.into_buffer().expect("the last user");
        assert_eq!(buf.capacity(), 64 * 1024);
        buf.trim();
        // A ring made in it works as a new one (stale bytes are never read).
        let (mut p, mut c) = ring_in(buf);
        push_bytes(&mut p, &[2; 200]).unwrap();
        assert_eq!(drain_all(&mut c), vec![vec![2; 200]]);
        // While the producer lives, the consumer does not give the buffer up.
        assert!(c.into_buffer().is_none());
        drop(p);
    }

    #[test]
    fn two_threads_many_records() {
        const N: u32 = if cfg!(miri) { 2_000 } else { 200_000 };
        let (mut p, mut c) = ring_soft(Buffer::new(4096), 1024);
        let t = std::thread::spawn(move || {
            for i in 0..N {
                let len = (i % 37) as usize;
                loop {
                    let r = p.try_push_with(4 + len, |b| {
                        b[..4].copy_from_slice(&i.to_le_bytes());
                        b[4..].fill(i as u8);
                    });
                    if r.is_ok() {
                        break;
                    }
                    std::thread::yield_now();
                }
            }
        });
        let mut next = 0u32;
        while next < N {
            c.drain(|r| {
                let i = u32::from_le_bytes(r[..4].try_into().unwrap());
                assert_eq!(i, next);
                assert_eq!(r.len(), 4 + (i % 37) as usize);
                assert!(r[4..].iter().all(|&b| b == i as u8));
                next += 1;
            });
            std::thread::yield_now();
        }
        t.join().unwrap();
    }
}

#[cfg(all(test, mini_telemetry_loom))]
mod loom_tests {
    use super::*;

    #[test]
    fn loom_push_drain_wrap() {
        loom::model(|| {
            let (mut p, mut c) = ring_soft(Buffer::new(MIN_CAPACITY), 128);
            let t = loom::thread::spawn(move || {
                // Three records of 100 bytes in a 256-byte ring with its soft end at 128: the
                // third must wait for the consumer and wraps, with a pad, early or not.
                for i in 0..3u8 {
                    while p.try_push_with(100, |b| b.fill(i)).is_err() {
                        loom::thread::yield_now();
                    }
                }
            });
            let mut seen = 0u8;
            while seen < 3 {
                c.drain(|r| {
                    assert_eq!(r.len(), 100);
                    assert!(r.iter().all(|&b| b == seen));
                    seen += 1;
                });
                loom::thread::yield_now();
            }
            t.join().unwrap();
        });
    }

    #[test]
    fn loom_closed_means_drained() {
        // The writer's reclaim rule: if `is_closed()` was seen before a drain, that drain saw
        // every record the producer published.
        loom::model(|| {
            let (mut p, mut c) = ring(MIN_CAPACITY);
            let t = loom::thread::spawn(move || {
                assert!(p.try_push_with(8, |b| b.fill(7)).is_ok());
                assert!(p.try_push_with(16, |b| b.fill(8)).is_ok());
                drop(p);
            });
            let mut n = 0;
            loop {
                let closed = c.is_closed();
                n += c.drain(|_| {});
                if closed {
                    break;
                }
                loom::thread::yield_now();
            }
            assert_eq!(n, 2);
            t.join().unwrap();
        });
    }
}

//! The platform calls that need `unsafe`, each behind a function with a stated contract:
//! reading the time-stamp counter, asking which CPU features there are, evicting a cache line
//! or asking for one ahead of a write, mapping a ring's memory, the writer thread's timer slack
//! and signal mask, the process's fork and exit hooks, and a thread-local value reached without
//! wrapping the caller's code in `LocalKey::try_with`.

/// The x86-64 time-stamp counter (0 on other architectures, where the clock never selects it).
#[inline(always)]
pub(crate) fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` has no preconditions on x86-64; it only reads the time-stamp counter.
        // (`_rdtsc` is a safe function on recent toolchains and `unsafe` on older ones, hence
        // the `allow`.)
        #[allow(unused_unsafe)]
        unsafe {
            core::arch::x86_64::_rdtsc()
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// Writes back and drops from every cache level the cache line holding `p`.
///
/// The ring's consumer may call it on each line it has read, before releasing the space (where
/// `engine::cacheline` found that it pays). Otherwise the line stays in the consumer's caches
/// and the producer's next write to it must first invalidate that copy: between two cores
/// sharing a cache that is cheap, between dies (which a VM's two vCPUs may be) it can cost a
/// cross-die round trip on every line.
///
/// # Safety
/// `p` must point into a live allocation (`clflush` of an unmapped address faults).
#[cfg(all(target_arch = "x86_64", not(mini_telemetry_loom), not(miri)))]
#[inline(always)]
pub(crate) unsafe fn evict_line(p: *const u8) {
    // SAFETY: `p` is mapped (the caller's contract); `clflush` changes no memory contents, only
    // where the line is cached.
    unsafe { core::arch::x86_64::_mm_clflush(p) };
}

/// [`evict_line`] of the line holding the start of `r`: safe, as a reference points into a
/// live allocation. Does nothing where `clflush` is not used.
#[inline(always)]
pub(crate) fn evict_ref<T>(r: &T) {
    #[cfg(all(target_arch = "x86_64", not(mini_telemetry_loom), not(miri)))]
    // SAFETY: `r` is a live reference, so its address is mapped.
    unsafe {
        evict_line((r as *const T).cast())
    };
    #[cfg(not(all(target_arch = "x86_64", not(mini_telemetry_loom), not(miri))))]
    let _ = r;
}

/// Asks for the cache line holding `p` in a writable state, ahead of a write to it
/// (`prefetchw`); does nothing off x86-64. Any address will do: a prefetch never faults.
///
/// # Safety
/// The CPU must have the instruction: [`has_prefetch_write`] is true.
#[inline(always)]
pub(crate) unsafe fn prefetch_write(p: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(mini_telemetry_loom), not(miri)))]
    // SAFETY: the CPU has `prefetchw` (the caller's contract); a prefetch is a hint: it neither
    // reads nor writes memory as the program sees it, and never faults, whatever the address.
    unsafe {
        core::arch::asm!("prefetchw [{0}]", in(reg) p, options(nostack, preserves_flags, readonly))
    };
    #[cfg(not(all(target_arch = "x86_64", not(mini_telemetry_loom), not(miri))))]
    let _ = p;
}

/// Whether the CPU has `prefetchw` (CPUID leaf 0x8000_0001, ECX bit 8), asked once per process.
pub(crate) fn has_prefetch_write() -> bool {
    #[cfg(all(target_arch = "x86_64", not(mini_telemetry_loom), not(miri)))]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            use core::arch::x86_64::__cpuid;
            // SAFETY: `cpuid` exists on every x86-64 processor and only reads identification
            // registers; leaf 0x8000_0001 is asked only where leaf 0x8000_0000 lists it.
            // (`__cpuid` is safe on recent toolchains and `unsafe` on older ones.)
            #[allow(unused_unsafe)]
            unsafe {
                __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
            }
        })
    }
    #[cfg(not(all(target_arch = "x86_64", not(mini_telemetry_loom), not(miri))))]
    false
}

/// A zeroed, 8-byte aligned allocation of `len` bytes (a multiple of 8, not 0) for a ring: on
/// Linux a private anonymous mapping of its own, whose pages cost no memory until first
/// touched, and go back to the system when it is freed; elsewhere `alloc_zeroed`.
///
/// Not `calloc`: once a large block has been freed, glibc raises its threshold for mapping
/// blocks of their own and serves the next ring from its heap, zeroing all of it (2 MiB) on
/// the calling thread at its first record, and keeping the memory after the thread exits.
pub(crate) fn alloc_ring(len: usize) -> *mut u8 {
    #[cfg(all(target_os = "linux", not(mini_telemetry_loom), not(miri)))]
    {
        // SAFETY: a new private anonymous mapping; no existing memory is named or changed.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::alloc::handle_alloc_error(ring_layout(len));
        }
        p.cast()
    }
    #[cfg(not(all(target_os = "linux", not(mini_telemetry_loom), not(miri))))]
    {
        // SAFETY: the layout has a non-zero size (the caller's contract).
        let p = unsafe { std::alloc::alloc_zeroed(ring_layout(len)) };
        if p.is_null() {
            std::alloc::handle_alloc_error(ring_layout(len));
        }
        p
    }
}

/// Frees an allocation of [`alloc_ring`].
///
/// # Safety
/// `p` must come from `alloc_ring(len)` with this `len`, and nothing may use it any more.
pub(crate) unsafe fn free_ring(p: *mut u8, len: usize) {
    #[cfg(all(target_os = "linux", not(mini_telemetry_loom), not(miri)))]
    // SAFETY: `[p, p + len)` is a mapping made by `alloc_ring` that nothing uses (the
    // caller's contract).
    unsafe {
        libc::munmap(p.cast(), len);
    }
    #[cfg(not(all(target_os = "linux", not(mini_telemetry_loom), not(miri))))]
    // SAFETY: allocated by `alloc_zeroed` with this layout (the caller's contract).
    unsafe {
        std::alloc::dealloc(p, ring_layout(len))
    };
}

/// Gives the pages of `[p, p + len)` back to the system (`madvise(MADV_DONTNEED)`): they read
/// as zero afterwards, and cost no memory until touched again. Elsewhere, does nothing.
///
/// # Safety
/// `[p, p + len)` must lie inside an allocation of [`alloc_ring`] that nothing else uses
/// while this runs (its content is lost).
pub(crate) unsafe fn discard(p: *mut u8, len: usize) {
    #[cfg(all(target_os = "linux", not(mini_telemetry_loom), not(miri)))]
    // SAFETY: the range is inside a private anonymous mapping that nothing uses (the caller's
    // contract); dropping its pages changes nothing else.
    unsafe {
        advise_pages(p, len, libc::MADV_DONTNEED)
    };
    #[cfg(not(all(target_os = "linux", not(mini_telemetry_loom), not(miri))))]
    let _ = (p, len);
}

/// `madvise(advice)` on the whole pages inside `[p, p + len)`; an error leaves them as they
/// were.
///
/// # Safety
/// The range must lie inside a live allocation, and `advice` must be one its users allow.
#[cfg(all(target_os = "linux", not(mini_telemetry_loom), not(miri)))]
unsafe fn advise_pages(p: *mut u8, len: usize, advice: libc::c_int) {
    const PAGE: usize = 4096;
    let start = (p as usize).next_multiple_of(PAGE);
    let end = (p as usize + len) & !(PAGE - 1);
    if end > start {
        // SAFETY: `[start, end)` is inside `[p, p + len)`, which the caller vouches for.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, advice) };
    }
}

fn ring_layout(len: usize) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(len, 8).expect("ring layout")
}

/// Maps in, writable, the pages of `[p, p + len)` without writing to them
/// (`madvise(MADV_POPULATE_WRITE)`, Linux 5.14 and later), so that the ring's producer does not
/// take a page fault when it first writes there. Content is unchanged, so it may run while
/// another thread writes into the range. Where that is not available, does nothing (the
/// producer's first writes then fault the pages in).
pub(crate) fn prefault(p: *mut u8, len: usize) {
    #[cfg(all(target_os = "linux", not(mini_telemetry_loom), not(miri)))]
    // SAFETY: the range lies inside the caller's live allocation (the ring's buffer);
    // MADV_POPULATE_WRITE faults its pages in and changes no data.
    unsafe {
        advise_pages(p, len, libc::MADV_POPULATE_WRITE)
    };
    #[cfg(not(all(target_os = "linux", not(mini_telemetry_loom), not(miri))))]
    let _ = (p, len);
}

/// Timer slack asked for the writer thread, in nanoseconds.
const TIMER_SLACK_NS: u64 = 1_000;

/// Asks the kernel to end this thread's sleeps within [`TIMER_SLACK_NS`] of their deadline.
///
/// Linux lets a sleep run late by the thread's timer slack, 50 µs by default, so that wake-ups
/// can be grouped. The writer's short naps (50 µs) then last more than twice as long, long
/// enough for a busy thread to fill half of a 64 KiB ring and pay for a wake-up system call.
/// On other systems this does nothing.
pub(crate) fn tighten_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: `PR_SET_TIMERSLACK` takes an integer argument and changes only the calling
    // thread's timer slack; no memory is passed to the kernel. On failure the slack is unchanged.
    unsafe {
        libc::prctl(
            libc::PR_SET_TIMERSLACK,
            TIMER_SLACK_NS as libc::c_ulong,
            0,
            0,
            0,
        );
    }
}

/// Blocks `SIGPIPE` for the calling thread (the writer), so that writing to a closed pipe fails
/// with `EPIPE` instead of killing the process when the host has restored the signal's default
/// action (Rust ignores it by default, some runtimes and `libc::signal` calls undo that). The
/// signal a failed write raises is directed at the writing thread, so this affects no other.
pub(crate) fn block_sigpipe() {
    #[cfg(target_os = "linux")]
    // SAFETY: `set` is a local `sigset_t` initialised by `sigemptyset` before use; the calls
    // read it and change only this thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Registers `child` to run in the child process right after `fork()` (`pthread_atfork`).
/// Returns false where that is not available. `child` must be async-signal-safe.
pub(crate) fn on_fork_child(child: extern "C" fn()) -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: registering handlers has no memory preconditions; `child` is a plain function
        // with no captured state, valid for the life of the process.
        unsafe { libc::pthread_atfork(None, None, Some(child)) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = child;
        false
    }
}

/// Registers `f` to run when the process exits through `exit()` (`std::process::exit`, or
/// `main` returning), before the process ends. Returns false where that is not available.
pub(crate) fn on_exit(f: extern "C" fn()) -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `atexit` stores the function pointer; `f` has no captured state and stays
        // valid for the life of the process.
        unsafe { libc::atexit(f) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = f;
        false
    }
}

/// Calls `f` with this thread's value of `key`, or returns `None` once that value is destroyed,
/// as `key.try_with(f).ok()` does, but with `f` called here instead of inside `try_with`.
///
/// `try_with` is generic over its closure: every call site of a record's encoder of one shape
/// shares one copy of it, which the compiler then leaves out of line, with the record's
/// encoding inside it (a second `set_attributes` of the same shape in a program: 482 -> 742
/// instructions for the first). Here `try_with` gets one closure, the same for every caller,
/// that only takes the value's address, and this function is always inlined (but with debug
/// assertions on: see `thread::emit`).
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn with_local<T: 'static, R>(
    key: &'static std::thread::LocalKey<T>,
    f: impl FnOnce(&T) -> R,
) -> Option<R> {
    let p: *const T = key.try_with(|v| v as *const T).ok()?;
    // SAFETY: `p` is the address of this thread's value of `key`, alive when `try_with`
    // returned. Only this thread's thread-local destructors end it, at the thread's exit, one
    // after another and each to its end: none runs while `f` runs on this thread. The reference
    // lives no longer than `f`'s call (`R` cannot borrow from it), on this thread.
    Some(f(unsafe { &*p }))
}

#[cfg(test)]
mod tests {
    /// Where CPUID lists `prefetchw`, so does the kernel (which also sets its flag on AMD parts
    /// with long mode whose CPUID bit is clear: there the hint is left out, which costs nothing
    /// but the hint).
    #[cfg(all(
        target_os = "linux",
        target_arch = "x86_64",
        not(mini_telemetry_loom),
        not(miri)
    ))]
    #[test]
    fn prefetch_write_is_used_only_where_the_kernel_lists_it() {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap();
        let flags = info.lines().find(|l| l.starts_with("flags")).unwrap();
        let kernel = flags.split_whitespace().any(|f| f == "3dnowprefetch");
        assert!(!super::has_prefetch_write() || kernel);
    }

    /// Each thread reaches its own value, and sees its own writes through it.
    #[test]
    fn with_local_reaches_this_threads_value() {
        use std::cell::Cell;
        thread_local! {
            static N: Cell<u32> = const { Cell::new(0) };
        }
        let threads: Vec<_> = (1..=4)
            .map(|i| {
                std::thread::spawn(move || {
                    for _ in 0..i {
                        super::with_local(&N, |n| n.set(n.get() + 1)).unwrap();
                    }
                    super::with_local(&N, |n| n.get()).unwrap()
                })
            })
            .collect();
        for (i, t) in (1..=4).zip(threads) {
            assert_eq!(t.join().unwrap(), i);
        }
        assert_eq!(super::with_local(&N, |n| n.get()), Some(0));
    }
}

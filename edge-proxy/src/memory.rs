//! Where the process's memory goes, for `/metrics`: the heap bytes in use, counted by a thin
//! wrapper around the global allocator, and the process figures of Prometheus's standard process
//! collector (`process_resident_memory_bytes` and its neighbours), read from `/proc`.
//!
//! The count costs two plain stores per allocation: each thread owns one slot of a fixed table
//! and is its only writer (no locked instruction, no cache line shared between threads); a reader
//! sums the slots. Threads past the table's size share one last slot, updated atomically. A
//! thread that ends leaves its slot as it is: what it allocated and another thread freed nets out
//! across the two slots.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// Slots of threads with their own; the last one is shared by the threads that come after.
const SLOTS: usize = 256;

#[repr(align(64))]
struct Slot(AtomicIsize);

static COUNTS: [Slot; SLOTS] = [const { Slot(AtomicIsize::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's slot (`usize::MAX` until its first allocation).
    static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
    /// Bytes this thread allocated minus bytes it freed: the exact cost of a piece of work done
    /// on this thread, read before and after it (see [`thread_net`]).
    static MY_NET: Cell<isize> = const { Cell::new(0) };
}

fn add(delta: isize) {
    // `try_with`: a thread being torn down may still free memory; then the count is skipped,
    // which a thread-local without a destructor (these) never needs in practice.
    let _ = MY_NET.try_with(|n| n.set(n.get().wrapping_add(delta)));
    let slot = MY_SLOT
        .try_with(|s| {
            if s.get() == usize::MAX {
                s.set(NEXT_SLOT.fetch_add(1, Ordering::Relaxed).min(SLOTS - 1));
            }
            s.get()
        })
        .unwrap_or(SLOTS - 1);
    let c = &COUNTS[slot].0;
    if slot == SLOTS - 1 {
        c.fetch_add(delta, Ordering::Relaxed);
    } else {
        // Only this thread writes this slot: a load and a store, no read-modify-write.
        c.store(
            c.load(Ordering::Relaxed).wrapping_add(delta),
            Ordering::Relaxed,
        );
    }
}

/// A global allocator that counts the bytes in use of the one it wraps (see the module doc).
pub struct CountingAlloc<A>(pub A);

// SAFETY: every call is passed to the wrapped allocator unchanged; the wrapper only counts
// sizes, and the counting neither allocates nor unwinds.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as it is.
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on as it is.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on as it is.
        unsafe { self.0.dealloc(ptr, layout) };
        add(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on as it is.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Heap bytes in use by the whole process; `None` when the process does not count them (the
/// library's tests, a binary without [`CountingAlloc`]).
pub fn heap_bytes() -> Option<u64> {
    if NEXT_SLOT.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let sum: isize = COUNTS.iter().map(|s| s.0.load(Ordering::Relaxed)).sum();
    Some(sum.max(0) as u64)
}

/// Net bytes allocated by this thread so far: the difference of two reads is what the work
/// between them kept on the heap (0 everywhere when the allocator does not count).
pub fn thread_net() -> isize {
    MY_NET.try_with(Cell::get).unwrap_or(0)
}

/// Turns transparent huge pages off for this process, before it allocates much. The allocator
/// asks for them on its arenas (mimalloc's `allow_thp`; the `no_thp` feature drops that request,
/// this also covers kernels set to `always`): a 2 MiB page is resident as soon as one byte of it
/// is, which made the edge's start 11 MiB larger and kept freed cache bodies resident. Measured
/// with `bench/scale.sh` (BENCHMARKS.md). An error (an old kernel) only costs that memory.
pub fn disable_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes a flag of this process.
    let r = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if r != 0 {
        tracing::debug!(
            "prctl(PR_SET_THP_DISABLE): {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Hands the memory the allocator holds free back to the system. mimalloc frees the pages of a
/// thread's freed blocks only when that thread, or one that collects, calls it again: the index
/// loader's list of every object on disk (about 70 MB at 1,000,000 objects) stayed resident
/// after its thread ended (RSS 155 MiB after the load, 49 of them heap). Called by the loader
/// once it is done.
pub fn release_free_memory() {
    // SAFETY: mi_collect takes a flag, walks mimalloc's own heaps and arenas, and may be called
    // from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// The figures of Prometheus's process collector that matter for a long-running server.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub cpu_seconds: f64,
    pub open_fds: u64,
    pub max_fds: u64,
    pub start_time_seconds: f64,
}

impl ProcessStats {
    /// This process's figures, from `/proc/self`; `None` where `/proc` cannot be read.
    pub fn read() -> Option<ProcessStats> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        parse(
            &statm,
            &stat,
            &uptime,
            &limits,
            Sys {
                page_size: sysconf(libc::_SC_PAGESIZE)?,
                ticks_per_second: sysconf(libc::_SC_CLK_TCK)?,
                now,
            },
        )
        .map(|s| ProcessStats { open_fds, ..s })
    }
}

fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf only reads a system constant.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).ok().filter(|v| *v > 0)
}

/// The constants and clock the `/proc` texts are read with.
struct Sys {
    page_size: u64,
    ticks_per_second: u64,
    /// Seconds since the Unix epoch, now.
    now: f64,
}

/// Parses the texts of `/proc/self/statm`, `/proc/self/stat`, `/proc/uptime` and
/// `/proc/self/limits` (`open_fds` is left 0: it is a directory count).
fn parse(statm: &str, stat: &str, uptime: &str, limits: &str, sys: Sys) -> Option<ProcessStats> {
    let mut pages = statm.split_whitespace().map(|v| v.parse::<u64>().ok());
    let virtual_pages = pages.next()??;
    let resident_pages = pages.next()??;
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 (utime), 15 (stime) and 22 (starttime), 1-based in proc(5); field 3 is fields[0].
    let tick = |i: usize| fields.get(i - 3)?.parse::<u64>().ok();
    let ticks = sys.ticks_per_second as f64;
    let cpu_seconds = (tick(14)? + tick(15)?) as f64 / ticks;
    let started_after_boot = tick(22)? as f64 / ticks;
    let since_boot: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    let max_fds = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some(ProcessStats {
        resident_bytes: resident_pages * sys.page_size,
        virtual_bytes: virtual_pages * sys.page_size,
        cpu_seconds,
        open_fds: 0,
        max_fds,
        start_time_seconds: sys.now - since_boot + started_after_boot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_texts_parse() {
        let stat = "4242 (fdfs (edge) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 \
                    4 0 1000 123456789 5000 18446744073709551615";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            65536                524288               files\n";
        let s = parse(
            "30000 5000 1000 100 0 2000 0\n",
            stat,
            "500.25 900.00\n",
            limits,
            Sys {
                page_size: 4096,
                ticks_per_second: 100,
                now: 1_000_000.0,
            },
        )
        .expect("parses");
        assert_eq!(s.resident_bytes, 5000 * 4096);
        assert_eq!(s.virtual_bytes, 30000 * 4096);
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.max_fds, 65536);
        // started 10 s after boot, the machine up 500.25 s
        assert!((s.start_time_seconds - (1_000_000.0 - 500.25 + 10.0)).abs() < 1e-6);
        assert!(parse(
            "",
            stat,
            "1",
            limits,
            Sys {
                page_size: 1,
                ticks_per_second: 1,
                now: 0.0
            }
        )
        .is_none());
    }

    #[test]
    fn this_process_reads() {
        let s = ProcessStats::read().expect("/proc is readable");
        assert!(s.resident_bytes > 0 && s.virtual_bytes >= s.resident_bytes);
        assert!(s.open_fds > 0 && s.max_fds >= s.open_fds);
    }
}

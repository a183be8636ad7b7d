//! A global allocator for the fuzz targets that remembers, per thread, the largest single
//! request: a target asserts that reading an input never asked for more than a bound derived
//! from the input's length (a size read from a file must be checked against the file before it
//! is allocated). Requests beyond `HARD_CAP` fail outright (an abort naming the size), so a
//! lying header is caught even before the assertion runs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// No fuzz input is large enough to justify more than this in one allocation.
pub const HARD_CAP: usize = 1 << 30;

/// The cap in force: `QCC_FUZZ_ABORT_ABOVE` lowers it to find where an oversized allocation is
/// made (the abort's backtrace names the caller), read when a target first measures.
static CAP: AtomicUsize = AtomicUsize::new(HARD_CAP);

fn over_cap(size: usize) -> bool {
    size > CAP.load(Ordering::Relaxed)
}

pub struct Bounded;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: the thread's storage may be gone while it shuts down.
    let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
}

// SAFETY: every call is forwarded to `System` unchanged, or refused with a null pointer, which
// `GlobalAlloc` allows.
unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        if over_cap(layout.size()) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        if over_cap(layout.size()) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        if over_cap(new_size) {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns its result with the largest single allocation it made on this thread.
pub fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    if let Some(cap) = std::env::var("QCC_FUZZ_ABORT_ABOVE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        CAP.store(cap, Ordering::Relaxed);
    }
    LARGEST.with(|m| m.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

/// The number of cases a fuzz target runs: `QCC_FUZZ_CASES` when set (scripts/fuzz.sh sets it
/// for long runs), else the target's CI default.
pub fn cases(default: u32) -> u32 {
    std::env::var("QCC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

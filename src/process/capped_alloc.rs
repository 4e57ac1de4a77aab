//! Test-only global allocator (the library's unit tests, and the fuzz targets in fuzz/, which
//! include this file by path).
//!
//! Delegates to the system allocator. On a thread inside [`with_cap`], records the largest
//! size asked for and refuses (returns null) any allocation larger than the cap, so that a
//! frame announcing gigabytes costs nothing and an infallible allocation from an unchecked
//! length aborts the test instead of going unnoticed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static CAP: Cell<usize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

struct CapAlloc;

#[global_allocator]
static ALLOC: CapAlloc = CapAlloc;

/// Whether an allocation of `size` bytes may go ahead on this thread.
fn allowed(size: usize) -> bool {
    // `try_with`: the cells are const-initialised without destructors, so this never
    // allocates and never fails, even while a thread is being torn down.
    let cap = CAP.try_with(Cell::get).unwrap_or(0);
    // A failing test's panic hook (its message, a backtrace) allocates freely.
    if cap == 0 || std::thread::panicking() {
        return true;
    }
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    size <= cap
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, or
// returns null, which `GlobalAlloc` allows for any allocation that cannot be made.
unsafe impl GlobalAlloc for CapAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !allowed(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !allowed(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !allowed(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` (this allocator never hands out another).
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` with allocations above `cap` bytes refused on this thread; returns its
/// result and the largest allocation asked for meanwhile.
pub fn with_cap<R>(cap: usize, f: impl FnOnce() -> R) -> (R, usize) {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CAP.with(|c| c.set(0));
        }
    }
    assert!(cap > 0);
    LARGEST.with(|l| l.set(0));
    CAP.with(|c| c.set(cap));
    let reset = Reset;
    let r = f();
    drop(reset);
    (r, LARGEST.with(Cell::get))
}

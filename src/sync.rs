//! Synchronisation primitives, swapped for loom's under `--cfg loom` so that the future and
//! waiter state machines can be model-checked (tests/loom.rs).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU8, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning: no code holding one of our locks can panic in a way that
/// leaves the protected state inconsistent (callbacks and tasks always run outside locks).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Spins for at most `budget` while `ready` is false (yielding now and then, so that on a
/// machine with few CPUs the thread being waited for can run). Returns whether `ready` became
/// true.
///
/// Waking a parked thread on this kind of machine costs tens of microseconds, far more than the
/// work of a typical small task, so a waiter that is likely to be satisfied soon spins first.
/// The budget is time, not iterations: an iteration's cost varies several-fold between CPUs.
#[inline]
pub(crate) fn spin_until(ready: impl FnMut() -> bool, budget: std::time::Duration) -> bool {
    spin_until_yielding(ready, budget, Yield::Every(YIELD_EVERY))
}

/// How many checks `spin_until` makes between two yields.
pub(crate) const YIELD_EVERY: u32 = 32;

/// When a spinning thread gives its CPU away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Yield {
    /// After every so many checks (at least 1): for checks that cost about the same each time.
    Every(u32),
    /// After so much time: for checks whose cost varies a lot (a pump that usually finds
    /// nothing in shared memory, but sometimes reads a channel), where a count would make the
    /// thread yield far too often or far too seldom.
    After(std::time::Duration),
}

/// `spin_until`, yielding the CPU as `yielding` says.
#[inline]
pub(crate) fn spin_until_yielding(
    mut ready: impl FnMut() -> bool,
    budget: std::time::Duration,
    yielding: Yield,
) -> bool {
    if cfg!(loom) || budget.is_zero() {
        return ready();
    }
    let start = std::time::Instant::now();
    let mut last_yield = start;
    let mut i = 0u32;
    loop {
        if ready() {
            return true;
        }
        i = i.wrapping_add(1);
        match yielding {
            Yield::Every(n) if i % n.max(1) == 0 => {
                if start.elapsed() >= budget {
                    return ready();
                }
                std::thread::yield_now();
            }
            Yield::After(gap) if i % YIELD_EVERY == 0 => {
                let now = std::time::Instant::now();
                if now - start >= budget {
                    return ready();
                }
                if now - last_yield >= gap {
                    std::thread::yield_now();
                    last_yield = now;
                }
            }
            _ => std::hint::spin_loop(),
        }
    }
}

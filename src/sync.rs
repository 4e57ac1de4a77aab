//! Synchronisation primitives, swapped for loom's under `--cfg loom` so that the future and
//! waiter state machines can be model-checked (tests/loom.rs).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};
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
    spin_until_every(ready, budget, YIELD_EVERY)
}

/// How many checks `spin_until` makes between two yields.
pub(crate) const YIELD_EVERY: u32 = 32;

/// `spin_until`, yielding the CPU after every `every` checks (at least 1).
#[inline]
pub(crate) fn spin_until_every(
    mut ready: impl FnMut() -> bool,
    budget: std::time::Duration,
    every: u32,
) -> bool {
    let every = every.max(1);
    if cfg!(loom) || budget.is_zero() {
        return ready();
    }
    let start = std::time::Instant::now();
    let mut i = 0u32;
    loop {
        if ready() {
            return true;
        }
        i = i.wrapping_add(1);
        if i % every == 0 {
            if start.elapsed() >= budget {
                return ready();
            }
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

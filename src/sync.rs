//! Synchronisation primitives, swapped for loom's under `--cfg loom` so that the future and
//! waiter state machines can be model-checked (tests/loom.rs).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

/// Threads of the thread pool: std's, or loom's so that tests/loom.rs can model the pool.
pub(crate) mod thread {
    #[cfg(loom)]
    pub(crate) use loom::thread::{Builder, JoinHandle};
    #[cfg(not(loom))]
    pub(crate) use std::thread::{Builder, JoinHandle};
}

/// The thread pool's work queue: crossbeam's unbounded channel, or under loom a mutex and
/// condvar channel with the same semantics that loom can see (crossbeam's blocking `recv` is
/// invisible to loom and would hang a model).
pub(crate) mod channel {
    #[cfg(not(loom))]
    pub(crate) use crossbeam_channel::{unbounded, Receiver, Sender, TryRecvError};
    #[cfg(loom)]
    pub(crate) use loom_channel::{unbounded, Receiver, Sender, TryRecvError};

    #[cfg(loom)]
    mod loom_channel {
        use std::collections::VecDeque;
        use std::sync::Arc;

        use crate::sync::{lock, Condvar, Mutex};

        struct Chan<T> {
            st: Mutex<St<T>>,
            ready: Condvar,
        }

        struct St<T> {
            queue: VecDeque<T>,
            senders: usize,
        }

        /// The sending side (one per channel in the pool: never cloned).
        pub(crate) struct Sender<T>(Arc<Chan<T>>);

        /// The receiving side.
        pub(crate) struct Receiver<T>(Arc<Chan<T>>);

        /// As crossbeam's: nothing queued, or nothing queued and every sender gone.
        #[derive(Debug, PartialEq, Eq)]
        pub(crate) enum TryRecvError {
            Empty,
            Disconnected,
        }

        /// An unbounded multi-consumer channel.
        pub(crate) fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
            let chan = Arc::new(Chan {
                st: Mutex::new(St {
                    queue: VecDeque::new(),
                    senders: 1,
                }),
                ready: Condvar::new(),
            });
            (Sender(Arc::clone(&chan)), Receiver(chan))
        }

        impl<T> Sender<T> {
            /// Queues `v` (never fails: the pool keeps its receiver alive).
            pub(crate) fn send(&self, v: T) -> Result<(), T> {
                lock(&self.0.st).queue.push_back(v);
                self.0.ready.notify_one();
                Ok(())
            }
        }

        impl<T> Drop for Sender<T> {
            fn drop(&mut self) {
                lock(&self.0.st).senders -= 1;
                self.0.ready.notify_all();
            }
        }

        impl<T> Receiver<T> {
            pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
                let mut st = lock(&self.0.st);
                match st.queue.pop_front() {
                    Some(v) => Ok(v),
                    None if st.senders == 0 => Err(TryRecvError::Disconnected),
                    None => Err(TryRecvError::Empty),
                }
            }

            /// Blocks until an item comes (`Ok`) or the queue is empty with every sender gone.
            pub(crate) fn recv(&self) -> Result<T, TryRecvError> {
                let mut st = lock(&self.0.st);
                loop {
                    if let Some(v) = st.queue.pop_front() {
                        return Ok(v);
                    }
                    if st.senders == 0 {
                        return Err(TryRecvError::Disconnected);
                    }
                    st = match self.0.ready.wait(st) {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                }
            }

            /// Takes what is queued now, without blocking.
            pub(crate) fn try_iter(&self) -> impl Iterator<Item = T> + '_ {
                std::iter::from_fn(move || self.try_recv().ok())
            }
        }
    }
}

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

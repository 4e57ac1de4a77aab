//! `wait()` and `as_completed()`.
//!
//! Both install a [`Waiter`] on every pending future; a future that completes (or is
//! cancelled) notifies its waiters at once, so nothing ever polls and a cancel wakes every
//! waiter immediately (CPython only notices when a worker dequeues the item: cpython#92001).
//! Futures are locked one at a time, never two together. Waiters are removed from the futures
//! that are still pending when the wait ends, so repeated timed-out waits leave nothing behind.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::future::{Future, State};
use crate::sync::{lock, spin_until, Condvar, Mutex};
use crate::{Deadline, Error, Status};

/// How long a wait on a few futures spins before installing waiters.
const WAIT_SPIN: std::time::Duration = std::time::Duration::from_micros(10);

/// When `wait` returns (CPython's `return_when`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnWhen {
    /// Every future is done.
    AllCompleted,
    /// Any future is done (finished or cancelled).
    FirstCompleted,
    /// Any future finished by failing (not by being cancelled), else all are done.
    FirstException,
}

/// What a waiter has been told.
#[derive(Default)]
struct Seen {
    done: usize,
    failed: usize,
    /// Tokens in completion order (as_completed only).
    ready: VecDeque<usize>,
    sleeping: bool,
}

/// When a waiter's thread needs waking.
#[derive(Clone, Copy)]
enum Wake {
    /// When `done` reaches this count, or on any failure if `on_fail`.
    Count { done: usize, on_fail: bool },
    /// On every completion (as_completed).
    Each,
}

/// A waiter installed on futures by `wait` and `as_completed`.
pub struct Waiter {
    seen: Mutex<Seen>,
    cond: Condvar,
    wake: Wake,
}

impl Waiter {
    fn new(wake: Wake) -> Arc<Waiter> {
        Arc::new(Waiter {
            seen: Mutex::new(Seen::default()),
            cond: Condvar::new(),
            wake,
        })
    }

    fn satisfied(&self, s: &Seen) -> bool {
        match self.wake {
            Wake::Count { done, on_fail } => s.done >= done || (on_fail && s.failed > 0),
            Wake::Each => !s.ready.is_empty(),
        }
    }

    /// Called by a future (outside its lock) when it completes.
    pub(crate) fn notify(&self, token: usize, failed: bool) {
        let mut s = lock(&self.seen);
        s.done += 1;
        if failed {
            s.failed += 1;
        }
        if matches!(self.wake, Wake::Each) {
            s.ready.push_back(token);
        }
        // Wake the sleeper only when its condition now holds: an ALL_COMPLETED wait on a
        // million futures is woken once, not a million times.
        if s.sleeping && self.satisfied(&s) {
            self.cond.notify_one();
        }
    }

    /// Blocks until satisfied or the deadline; `true` if satisfied.
    fn block(&self, deadline: Deadline) -> bool {
        let mut s = lock(&self.seen);
        loop {
            if self.satisfied(&s) {
                return true;
            }
            let left = deadline.remaining();
            if left.is_some_and(|l| l.is_zero()) {
                return false;
            }
            s.sleeping = true;
            s = match left {
                None => match self.cond.wait(s) {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                },
                Some(left) => match self.cond.wait_timeout(s, left) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                },
            };
            s.sleeping = false;
        }
    }
}

/// A fast hasher for pointer keys (the addresses are already well spread once shifted).
#[derive(Default)]
struct PtrHasher(u64);

impl Hasher for PtrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_usize(&mut self, v: usize) {
        self.0 = ((v as u64) >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The distinct futures of `fs` (by identity), each with its first index.
fn distinct<'a>(fs: &[&'a Future]) -> Vec<(&'a Future, usize)> {
    if fs.len() <= 16 {
        let mut out: Vec<(&Future, usize)> = Vec::with_capacity(fs.len());
        for (i, f) in fs.iter().enumerate() {
            if !out.iter().any(|(g, _)| std::ptr::eq(*g, *f)) {
                out.push((f, i));
            }
        }
        return out;
    }
    let mut seen: HashMap<usize, (), BuildHasherDefault<PtrHasher>> =
        HashMap::with_capacity_and_hasher(fs.len(), Default::default());
    let mut out = Vec::with_capacity(fs.len());
    for (i, f) in fs.iter().enumerate() {
        if seen.insert(*f as *const Future as usize, ()).is_none() {
            out.push((*f, i));
        }
    }
    out
}

/// Result of [`wait`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitResult {
    /// Whether the condition held (else the deadline came first).
    pub satisfied: bool,
    /// How many distinct futures were done at return.
    pub n_done: usize,
}

fn condition_holds(when: ReturnWhen, done: usize, failed: usize, total: usize) -> bool {
    match when {
        ReturnWhen::AllCompleted => done == total,
        ReturnWhen::FirstCompleted => done > 0 || total == 0,
        ReturnWhen::FirstException => failed > 0 || done == total,
    }
}

fn count(fs: &[(&Future, usize)]) -> (usize, usize) {
    fs.iter().fold((0, 0), |(d, x), (f, _)| {
        let s = f.state();
        (d + s.is_done() as usize, x + (s == State::Failed) as usize)
    })
}

/// CPython's `concurrent.futures.wait`: waits until `when` holds or the deadline passes.
/// Duplicates count once. `done`, if given (one flag per position of `fs`), receives which
/// futures were done at return.
pub fn wait(
    fs: &[&Future],
    deadline: Deadline,
    when: ReturnWhen,
    done: Option<&mut [bool]>,
) -> WaitResult {
    let uniq = distinct(fs);
    let total = uniq.len();
    let (d, x) = count(&uniq);
    let mut satisfied = condition_holds(when, d, x, total);
    if !satisfied && !deadline.expired() {
        satisfied = spin_until(
            || {
                let (d, x) = count(&uniq);
                condition_holds(when, d, x, total)
            },
            if total <= 64 {
                WAIT_SPIN
            } else {
                std::time::Duration::ZERO
            },
        ) || install_and_block(&uniq, deadline, when);
    }
    let mut n_done = 0;
    for (f, _) in &uniq {
        f.settle();
        n_done += f.is_done() as usize;
    }
    if let Some(flags) = done {
        for (flag, f) in flags.iter_mut().zip(fs) {
            *flag = f.is_done();
        }
    }
    WaitResult { satisfied, n_done }
}

fn install_and_block(uniq: &[(&Future, usize)], deadline: Deadline, when: ReturnWhen) -> bool {
    let total = uniq.len();
    let wake = match when {
        ReturnWhen::AllCompleted => Wake::Count {
            done: total,
            on_fail: false,
        },
        ReturnWhen::FirstCompleted => Wake::Count {
            done: 1,
            on_fail: false,
        },
        ReturnWhen::FirstException => Wake::Count {
            done: total,
            on_fail: true,
        },
    };
    let waiter = Waiter::new(wake);
    let mut installed = Vec::with_capacity(total);
    for (token, (f, _)) in uniq.iter().enumerate() {
        let s = match f.add_waiter(&waiter, token) {
            Some(failed) => {
                let mut s = lock(&waiter.seen);
                s.done += 1;
                s.failed += failed as usize;
                s
            }
            None => {
                installed.push(*f);
                lock(&waiter.seen)
            }
        };
        // Stop installing as soon as the condition holds (e.g. FIRST_COMPLETED).
        if waiter.satisfied(&s) {
            break;
        }
    }
    let ok = waiter.block(deadline);
    for f in installed {
        f.remove_waiter(&waiter);
    }
    ok
}

/// CPython's `as_completed`, as an iterator object: hands out each distinct future once, in
/// completion order, those already done first. The deadline counts from creation; futures that
/// finished are still handed out after it, and only then does `next` report a timeout.
pub struct AsCompleted {
    futures: Vec<(Arc<Future>, usize)>,
    waiter: Arc<Waiter>,
    /// Futures done at creation (tokens), handed out first.
    early: VecDeque<usize>,
    /// Tokens whose waiter is still installed.
    installed: Vec<bool>,
    remaining: usize,
    deadline: Deadline,
}

impl AsCompleted {
    /// Starts the iteration over `fs` (each `Arc` is kept until the iterator is dropped).
    pub fn new(fs: Vec<Arc<Future>>, deadline: Deadline) -> AsCompleted {
        let refs: Vec<&Future> = fs.iter().map(|f| &**f).collect();
        let keep: Vec<usize> = distinct(&refs).into_iter().map(|(_, i)| i).collect();
        drop(refs);
        let mut fs: Vec<Option<Arc<Future>>> = fs.into_iter().map(Some).collect();
        let futures: Vec<(Arc<Future>, usize)> = keep
            .into_iter()
            .filter_map(|i| fs[i].take().map(|f| (f, i)))
            .collect();
        let waiter = Waiter::new(Wake::Each);
        let mut early = VecDeque::new();
        let mut installed = vec![false; futures.len()];
        for (token, (f, _)) in futures.iter().enumerate() {
            match f.add_waiter(&waiter, token) {
                Some(_) => early.push_back(token),
                None => installed[token] = true,
            }
        }
        AsCompleted {
            remaining: futures.len(),
            futures,
            waiter,
            early,
            installed,
            deadline,
        }
    }

    /// The next completed future and its first index in the input, or `Err` with
    /// `Status::Done` after the last, `Status::Timeout` once the deadline has passed with
    /// futures still pending.
    pub fn next_completed(&mut self) -> Result<(Arc<Future>, usize), Error> {
        if self.remaining == 0 {
            return Err(Error::new(Status::Done, "as_completed: no more futures"));
        }
        let token = match self.early.pop_front() {
            Some(t) => t,
            None => {
                let ready = lock(&self.waiter.seen).ready.pop_front();
                match ready {
                    Some(t) => t,
                    None => {
                        if self.waiter.block(self.deadline) {
                            lock(&self.waiter.seen)
                                .ready
                                .pop_front()
                                .unwrap_or(usize::MAX)
                        } else {
                            return Err(Error::new(
                                Status::Timeout,
                                format!(
                                    "{} (of {}) futures unfinished",
                                    self.remaining,
                                    self.futures.len()
                                ),
                            ));
                        }
                    }
                }
            }
        };
        let Some((f, i)) = self.futures.get(token) else {
            return Err(Error::new(Status::Internal, "as_completed: bad token"));
        };
        self.installed[token] = false;
        self.remaining -= 1;
        f.settle();
        Ok((Arc::clone(f), *i))
    }

    /// How many distinct futures have not been handed out yet.
    pub fn remaining(&self) -> usize {
        self.remaining
    }
}

impl Drop for AsCompleted {
    fn drop(&mut self) {
        for (token, (f, _)) in self.futures.iter().enumerate() {
            if self.installed[token] {
                f.remove_waiter(&self.waiter);
            }
        }
    }
}

//! The future: a state machine (pending -> running -> finished, pending -> cancelled), its
//! result or failure, its done-callbacks and the waiters installed on it by `wait.rs`.
//!
//! This module knows nothing of executors. An executor creates a future holding a [`Task`],
//! takes the task back with [`Future::set_running`] when a worker begins it, and finishes the
//! future with [`Future::set_result`] or [`Future::set_failure`].
//!
//! Locking: each future has one mutex. No code ever holds two future locks at once (waits
//! install and remove their waiter one future at a time), so there is no lock order to get
//! wrong. Waiter locks are taken only after the future lock is released. Callbacks run outside
//! every lock.

use std::ffi::{c_int, c_void, CString};
use std::sync::Arc;

use crate::sync::{lock, spin_until_yielding, AtomicU32, AtomicU8, Condvar, Mutex, Ordering};
use crate::wait::Waiter;
use crate::Deadline;

/// A task function as C sees it: `int fn(const void *arg, size_t arg_len, cf_out *out)`.
pub type TaskFn = unsafe extern "C" fn(arg: *const c_void, arg_len: usize, out: *mut Out) -> c_int;

/// How long a waiter on one future spins before it parks.
pub(crate) const RESULT_SPIN: std::time::Duration = std::time::Duration::from_micros(20);

/// Bytes kept inline (no allocation) when they fit.
const INLINE: usize = 32;

#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct InlineBuf([u8; INLINE]);

/// An immutable byte buffer, 16-byte aligned (like `malloc`), kept inline when small.
///
/// Task arguments and results are `Bytes`, so a task can cast its argument to a struct.
#[derive(Clone)]
pub struct Bytes(Repr);

#[derive(Clone)]
enum Repr {
    Inline(u8, InlineBuf),
    Heap(Box<[u8]>),
    /// The bytes from an offset of a buffer (a received frame, kept without a copy).
    Offset(Box<[u8]>, usize),
}

impl Bytes {
    /// The empty buffer.
    pub const fn empty() -> Bytes {
        Bytes(Repr::Inline(0, InlineBuf([0; INLINE])))
    }

    /// A copy of `data`. Fails with `None` when the allocation fails.
    pub fn copy_from(data: &[u8]) -> Option<Bytes> {
        if data.len() <= INLINE {
            let mut buf = InlineBuf([0; INLINE]);
            buf.0[..data.len()].copy_from_slice(data);
            return Some(Bytes(Repr::Inline(data.len() as u8, buf)));
        }
        let mut v = Vec::new();
        v.try_reserve_exact(data.len()).ok()?;
        v.extend_from_slice(data);
        Some(Bytes(Repr::Heap(v.into_boxed_slice())))
    }

    /// A zeroed buffer of `len` bytes (zeroed pages come free from the kernel for big sizes).
    pub fn zeroed(len: usize) -> Option<Bytes> {
        if len <= INLINE {
            return Some(Bytes(Repr::Inline(len as u8, InlineBuf([0; INLINE]))));
        }
        let mut v: Vec<u8> = Vec::new();
        v.try_reserve_exact(len).ok()?;
        v.resize(len, 0);
        Some(Bytes(Repr::Heap(v.into_boxed_slice())))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(n, b) => &b.0[..*n as usize],
            Repr::Heap(b) => b,
            Repr::Offset(b, at) => &b[*at..],
        }
    }

    /// The bytes of `buf` from offset `at` on, without a copy (`at` is clamped to the length).
    /// They are 16-byte aligned when `at` is a multiple of 16.
    pub fn from_vec_at(buf: Vec<u8>, at: usize) -> Bytes {
        let at = at.min(buf.len());
        Bytes(Repr::Offset(buf.into_boxed_slice(), at))
    }

    /// The bytes, mutable (used to fill a result in place).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Repr::Inline(n, b) => &mut b.0[..*n as usize],
            Repr::Heap(b) => b,
            Repr::Offset(b, at) => &mut b[*at..],
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for Bytes {
    fn eq(&self, other: &Bytes) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Bytes {}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.len())
    }
}

/// A task: a C function and its argument bytes (copied at submit time).
#[derive(Clone, Debug)]
pub struct Task {
    /// The function.
    pub func: TaskFn,
    /// Its argument.
    pub arg: Bytes,
}

impl Task {
    /// Runs the task in this thread and returns what it produced.
    pub fn run(&self) -> Outcome {
        run_task(self.func, self.arg.as_slice())
    }
}

#[cfg(not(loom))]
thread_local! {
    /// The `Out` of the task call running on this thread (null: none). `cf_out_*` refuse any
    /// other pointer: a `cf_out` kept after its task returned, or used from another thread,
    /// gives `CF_INVALID_ARGUMENT` instead of a write into a dead stack frame (BI15).
    static LIVE_OUT: std::cell::Cell<*const Out> = const { std::cell::Cell::new(std::ptr::null()) };
}

/// Whether `out` is the `Out` of the task call running on this thread now.
#[cfg(not(loom))]
pub(crate) fn out_is_live(out: *const Out) -> bool {
    !out.is_null() && LIVE_OUT.with(|c| c.get()) == out
}

/// Runs `func(arg)` in this thread and returns what it produced.
pub fn run_task(func: TaskFn, arg: &[u8]) -> Outcome {
    let mut out = Out::default();
    let p: *mut Out = &mut out;
    #[cfg(not(loom))]
    let outer = LIVE_OUT.with(|c| c.replace(p));
    // SAFETY: `func` is a C task function supplied by the user, who promises it follows the
    // cf_task_fn contract; `arg` is valid for `arg.len()` bytes for the duration of the call
    // and `p` points at a live Out that nothing else uses during the call.
    let rc = unsafe { func(arg.as_ptr().cast(), arg.len(), p) };
    #[cfg(not(loom))]
    LIVE_OUT.with(|c| c.set(outer));
    out.finish(rc)
}

/// Where a running task puts its result (`cf_out` in C).
#[derive(Default)]
pub struct Out {
    result: Option<Bytes>,
    failure: Option<Option<CString>>,
}

impl Out {
    /// Sets the result to a copy of `data`. `false` when memory ran out.
    pub fn set(&mut self, data: &[u8]) -> bool {
        match Bytes::copy_from(data) {
            Some(b) => {
                self.result = Some(b);
                true
            }
            None => false,
        }
    }

    /// Allocates a zeroed result buffer of `len` bytes and returns it for filling in place.
    pub fn alloc(&mut self, len: usize) -> Option<&mut [u8]> {
        self.result = Some(Bytes::zeroed(len)?);
        self.result.as_mut().map(Bytes::as_mut_slice)
    }

    /// Marks the task failed with `message` (None: "task failed").
    pub fn fail(&mut self, message: Option<CString>) {
        self.failure = Some(message);
    }

    /// The outcome given the task's return code.
    pub fn finish(self, rc: c_int) -> Outcome {
        match (rc, self.failure) {
            (0, None) => Outcome::Ok(self.result.unwrap_or_else(Bytes::empty)),
            (rc, Some(Some(msg))) => Outcome::Failed(FailKind::Task, rc, msg),
            (rc, Some(None)) => Outcome::failed(FailKind::Task, rc, "task failed".into()),
            (rc, _) => Outcome::failed(FailKind::Task, rc, format!("task returned {rc}")),
        }
    }
}

/// Why a future failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailKind {
    /// The task returned nonzero or called `cf_out_fail`.
    Task,
    /// The worker process died.
    WorkerDied,
    /// The task outran its time limit.
    Expired,
    /// The executor broke (e.g. a failing initializer) before running it.
    Broken,
    /// The task could not be run as given (e.g. a worker could not load its function).
    Invalid,
}

/// What a finished task produced.
#[derive(Debug)]
pub enum Outcome {
    /// Success with result bytes.
    Ok(Bytes),
    /// Failure: kind, code, message.
    Failed(FailKind, c_int, CString),
}

impl Outcome {
    /// A failure outcome; interior NULs in `message` are replaced.
    pub fn failed(kind: FailKind, code: c_int, message: String) -> Outcome {
        let msg = CString::new(message.replace('\0', "\u{fffd}")).unwrap_or_default();
        Outcome::Failed(kind, code, msg)
    }
}

/// The state of a future, as `running()`, `done()` and `cancelled()` see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Not started; can be cancelled.
    Pending = 0,
    /// A worker has begun it.
    Running = 1,
    /// Finished with a result.
    Succeeded = 2,
    /// Finished with a failure.
    Failed = 3,
    /// Cancelled before it ran.
    Cancelled = 4,
}

impl State {
    fn from_u8(v: u8) -> State {
        match v {
            0 => State::Pending,
            1 => State::Running,
            2 => State::Succeeded,
            3 => State::Failed,
            _ => State::Cancelled,
        }
    }

    /// Finished or cancelled.
    pub fn is_done(self) -> bool {
        self as u8 >= State::Succeeded as u8
    }
}

/// A done-callback. It receives the future it was added to.
pub type Callback = Box<dyn FnOnce(&Arc<Future>) + Send>;

/// Lets a thread waiting for a future make progress on it itself, for executors whose
/// results arrive through a channel that another thread would otherwise have to read (the
/// process pool): the waiter reads the reply at once instead of waiting for that thread to wake.
pub trait Pump: Send + Sync {
    /// Processes whatever has arrived, without blocking (and without waiting for a busy lock).
    fn pump(&self);

    /// How long a waiter should keep pumping before it parks: the executor knows how soon
    /// replies tend to come back.
    fn spin_budget(&self) -> std::time::Duration {
        RESULT_SPIN
    }

    /// When a spinning waiter gives its CPU away.
    fn yielding(&self) -> crate::sync::Yield {
        crate::sync::Yield::Every(crate::sync::YIELD_EVERY)
    }
}

enum Slot {
    /// Pending: the task to run.
    Task(Task),
    /// Pending or running, handed to an executor that can be pumped (kept until done), with
    /// the cancel gate while the work has been handed over but not begun.
    Driven(Arc<dyn Pump>, Option<Gate>),
    /// Running, or pending without a task.
    Empty,
    /// Finished (or cancelled: `Empty` stays).
    Done(Outcome),
}

/// Decides whether a pending future may still be cancelled, for executors that hand work to
/// another party before it starts (the process pool: a worker may begin a task it was sent
/// ahead at any moment, and an atomic in shared memory settles the race).
pub trait CancelGate: Send + Sync {
    /// Claims the work identified by `token` for cancellation: `true` if it will never run.
    fn try_cancel(&self, token: u64) -> bool;
    /// Whether the work identified by `token` has begun.
    fn started(&self, token: u64) -> bool;
}

/// A [`CancelGate`] and the token of one future's work.
pub struct Gate {
    /// The gate.
    pub gate: Arc<dyn CancelGate>,
    /// The token.
    pub token: u64,
}

struct Inner {
    slot: Slot,
    /// Done-callbacks and waiters, made on first use: most futures have neither, and a small
    /// future is what lets a million of them be pending in little memory.
    listeners: Option<Box<Listeners>>,
}

#[derive(Default)]
struct Listeners {
    callbacks: Vec<Callback>,
    waiters: Vec<(Arc<Waiter>, usize)>,
}

impl Inner {
    fn listeners(&mut self) -> &mut Listeners {
        self.listeners.get_or_insert_with(Box::default)
    }

    /// The cancel gate, if the work has been handed over and not begun.
    fn gate(&mut self) -> Option<&mut Option<Gate>> {
        match &mut self.slot {
            Slot::Driven(_, g) => Some(g),
            _ => None,
        }
    }

    fn clear_gate(&mut self) {
        if let Some(g) = self.gate() {
            *g = None;
        }
    }
}

/// A future. Shared through `Arc`; the C handle is `Arc::into_raw`.
pub struct Future {
    /// Mirror of the state for lock-free reads; written only under `inner`'s lock.
    state: AtomicU8,
    /// Made by `new_driven`: waiters may pump its executor (fixed at construction, so the
    /// result path of other futures never takes the lock to find out).
    driven: bool,
    /// Threads parked in `wait_done` on `cond`; notify only when there are some. Changed and
    /// read only under `inner`'s lock (an atomic only to sit outside it: `Inner` stays small).
    sleepers: AtomicU32,
    inner: Mutex<Inner>,
    cond: Condvar,
}

impl std::fmt::Debug for Future {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Future({:?})", self.state())
    }
}

/// A borrowed view of a finished future's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved<'a> {
    /// The result bytes.
    Ok(&'a [u8]),
    /// Failure: kind, code, message.
    Failed(FailKind, c_int, &'a std::ffi::CStr),
    /// Cancelled.
    Cancelled,
}

impl Future {
    /// A pending future holding `task`.
    pub fn new(task: Option<Task>) -> Future {
        Future {
            state: AtomicU8::new(State::Pending as u8),
            sleepers: AtomicU32::new(0),
            driven: false,
            inner: Mutex::new(Inner {
                slot: task.map_or(Slot::Empty, Slot::Task),
                listeners: None,
            }),
            cond: Condvar::new(),
        }
    }

    /// A pending future whose waiters may `pump` the executor that owns it.
    pub fn new_driven(pump: Arc<dyn Pump>) -> Future {
        let mut f = Future::new(None);
        f.driven = true;
        lock(&f.inner).slot = Slot::Driven(pump, None);
        f
    }

    /// The current state (a lock-free read).
    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Finished or cancelled.
    pub fn is_done(&self) -> bool {
        self.state().is_done()
    }

    /// Pending -> running. Returns the task to run, or `None` when the future was cancelled
    /// (or is not pending), in which case the worker must skip it. (CPython:
    /// `set_running_or_notify_cancel`.)
    pub fn set_running(&self) -> Option<Task> {
        let mut g = lock(&self.inner);
        if self.state.load(Ordering::Relaxed) != State::Pending as u8 {
            return None;
        }
        self.state.store(State::Running as u8, Ordering::Release);
        match std::mem::replace(&mut g.slot, Slot::Empty) {
            Slot::Task(t) => Some(t),
            _ => None,
        }
    }

    /// Pending -> running, for executors that keep the task themselves. `false` if the future
    /// was not pending (cancelled, or already running).
    pub fn mark_running(&self) -> bool {
        let mut g = lock(&self.inner);
        if self.state.load(Ordering::Relaxed) != State::Pending as u8 {
            return false;
        }
        self.state.store(State::Running as u8, Ordering::Release);
        if let Slot::Task(_) = g.slot {
            g.slot = Slot::Empty;
        }
        g.clear_gate();
        true
    }

    /// Installs (or with `None` removes) the cancel gate of a pending future made by
    /// `new_driven`. `false` if the future is no longer pending (or not driven).
    pub fn set_gate(&self, gate: Option<Gate>) -> bool {
        let mut g = lock(&self.inner);
        if self.state.load(Ordering::Relaxed) != State::Pending as u8 {
            return false;
        }
        match g.gate() {
            Some(slot) => {
                *slot = gate;
                true
            }
            None => false,
        }
    }

    /// Cancels a pending future: `true` if it is now cancelled (also when it already was),
    /// `false` if it is running or finished. Wakes every waiter at once and runs the
    /// done-callbacks in this thread.
    pub fn cancel(self: &Arc<Self>) -> bool {
        let state = self.state();
        if state == State::Cancelled {
            return true;
        }
        if state != State::Pending {
            return false;
        }
        match self.complete(State::Cancelled, None) {
            Ok(()) => true,
            Err(s) => s == State::Cancelled,
        }
    }

    /// Finishes with a result. `false` if the future was already done.
    pub fn set_result(self: &Arc<Self>, data: Bytes) -> bool {
        self.complete(State::Succeeded, Some(Outcome::Ok(data)))
            .is_ok()
    }

    /// Finishes with a failure. `false` if the future was already done.
    pub fn set_failure(self: &Arc<Self>, kind: FailKind, code: c_int, message: String) -> bool {
        self.set_outcome(Outcome::failed(kind, code, message))
    }

    /// Finishes with `outcome`. `false` if the future was already done.
    pub fn set_outcome(self: &Arc<Self>, outcome: Outcome) -> bool {
        let state = match outcome {
            Outcome::Ok(_) => State::Succeeded,
            Outcome::Failed(..) => State::Failed,
        };
        self.complete(state, Some(outcome)).is_ok()
    }

    /// Finishes with `outcome` but returns the done-callbacks instead of running them, for an
    /// executor that runs them on another thread (`run_callbacks`). Empty if already done.
    pub fn set_outcome_deferred(self: &Arc<Self>, outcome: Outcome) -> Vec<Callback> {
        let state = match outcome {
            Outcome::Ok(_) => State::Succeeded,
            Outcome::Failed(..) => State::Failed,
        };
        self.complete_deferred(state, Some(outcome), |_| {})
            .unwrap_or_default()
    }

    /// `set_outcome_deferred`, first calling `before_publish(has_callbacks)` under the
    /// future's lock, before any waiter is told and before anyone can see the future done: the
    /// thread pool counts its worker idle there unless the worker is about to run callbacks.
    /// Empty, and `before_publish` not called, if the future was already done.
    pub fn set_outcome_deferred_with(
        self: &Arc<Self>,
        outcome: Outcome,
        before_publish: impl FnOnce(bool),
    ) -> Vec<Callback> {
        let state = match outcome {
            Outcome::Ok(_) => State::Succeeded,
            Outcome::Failed(..) => State::Failed,
        };
        self.complete_deferred(state, Some(outcome), before_publish)
            .unwrap_or_default()
    }

    /// Runs callbacks returned by `set_outcome_deferred`, in order, in this thread.
    pub fn run_callbacks(self: &Arc<Self>, callbacks: Vec<Callback>) {
        for cb in callbacks {
            run_callback(cb, self);
        }
    }

    /// The state, first asking the cancel gate whether pending work handed over has begun
    /// (then it is running, even if the executor has not said so yet).
    pub fn fresh_state(&self) -> State {
        let s = self.state();
        if s != State::Pending {
            return s;
        }
        let mut g = lock(&self.inner);
        if self.state() == State::Pending {
            if let Some(slot) = g.gate() {
                if slot
                    .as_ref()
                    .is_some_and(|gate| gate.gate.started(gate.token))
                {
                    *slot = None;
                    self.state.store(State::Running as u8, Ordering::Release);
                }
            }
        }
        self.state()
    }

    /// Moves to the final state `to`, then (outside the lock) wakes sleepers, notifies waiters
    /// and runs callbacks. Err(current state) if already done, or if cancelling a non-pending one.
    fn complete(self: &Arc<Self>, to: State, outcome: Option<Outcome>) -> Result<(), State> {
        let callbacks = self.complete_deferred(to, outcome, |_| {})?;
        self.run_callbacks(callbacks);
        Ok(())
    }

    /// `complete` without running the callbacks: they are returned. `before_publish` runs
    /// under the lock once the completion is certain, before waiters are told.
    fn complete_deferred(
        self: &Arc<Self>,
        to: State,
        outcome: Option<Outcome>,
        before_publish: impl FnOnce(bool),
    ) -> Result<Vec<Callback>, State> {
        let (callbacks, wake) = {
            let mut g = lock(&self.inner);
            let cur = State::from_u8(self.state.load(Ordering::Relaxed));
            if cur.is_done() || (to == State::Cancelled && cur != State::Pending) {
                return Err(cur);
            }
            if to == State::Cancelled {
                if let Some(slot) = g.gate() {
                    if slot
                        .as_ref()
                        .is_some_and(|gate| !gate.gate.try_cancel(gate.token))
                    {
                        // Its worker has begun it: it is running, whatever we saw so far.
                        *slot = None;
                        self.state.store(State::Running as u8, Ordering::Release);
                        return Err(State::Running);
                    }
                }
            }
            g.slot = match outcome {
                Some(o) => Slot::Done(o),
                None => Slot::Empty,
            };
            // Waiters hear of the completion under this lock and *before* the state is
            // published: whoever sees this future done knows its waiters were told, so
            // `as_completed` order is completion order (never: seen done, then overtaken by a
            // future that finished later). Waiter locks are never held while taking a future
            // lock, so this cannot deadlock.
            let failed = to == State::Failed;
            let listeners = g.listeners.take().map(|b| *b).unwrap_or_default();
            before_publish(!listeners.callbacks.is_empty());
            for (w, token) in listeners.waiters {
                w.notify(token, failed);
            }
            self.state.store(to as u8, Ordering::Release);
            let wake = self.sleepers.load(Ordering::Relaxed) > 0;
            (listeners.callbacks, wake)
        };
        if wake {
            self.cond.notify_all();
        }
        Ok(callbacks)
    }

    /// Adds a done-callback: it runs once, in the thread that completes the future, or at once
    /// in this thread if the future is already done. Callbacks run in the order added.
    pub fn add_done_callback(self: &Arc<Self>, cb: Callback) {
        {
            let mut g = lock(&self.inner);
            if !self.is_done() {
                g.listeners().callbacks.push(cb);
                return;
            }
        }
        run_callback(cb, self);
    }

    /// Waits until done or the deadline passes; `true` if done. Spins briefly before parking.
    pub fn wait_done(&self, deadline: Deadline) -> bool {
        if self.is_done() {
            return true;
        }
        if deadline.expired() {
            return false;
        }
        let pump = if self.driven {
            match &lock(&self.inner).slot {
                Slot::Driven(p, _) => Some(Arc::clone(p)),
                _ => None,
            }
        } else {
            None
        };
        let ready = || {
            if let Some(p) = &pump {
                p.pump();
            }
            self.is_done()
        };
        let (budget, yielding) = match &pump {
            Some(p) => (p.spin_budget(), p.yielding()),
            None => (
                RESULT_SPIN,
                crate::sync::Yield::Every(crate::sync::YIELD_EVERY),
            ),
        };
        if spin_until_yielding(ready, budget, yielding) {
            return true;
        }
        drop(pump);
        let mut g = lock(&self.inner);
        loop {
            if self.is_done() {
                return true;
            }
            self.sleepers.fetch_add(1, Ordering::Relaxed);
            g = match deadline.remaining() {
                None => match self.cond.wait(g) {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                },
                Some(left) if left.is_zero() => {
                    self.sleepers.fetch_sub(1, Ordering::Relaxed);
                    return false;
                }
                Some(left) => match self.cond.wait_timeout(g, left) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                },
            };
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Runs `f` on the outcome if the future is done; `None` while it is not.
    ///
    /// The outcome never changes once set, so data pointers taken from it stay valid as long
    /// as the future is alive.
    pub fn with_outcome<R>(&self, f: impl FnOnce(Resolved<'_>) -> R) -> Option<R> {
        let g = lock(&self.inner);
        let resolved = match (&g.slot, self.state()) {
            (Slot::Done(Outcome::Ok(b)), _) => Resolved::Ok(b.as_slice()),
            (Slot::Done(Outcome::Failed(k, c, m)), _) => Resolved::Failed(*k, *c, m),
            (_, State::Cancelled) => Resolved::Cancelled,
            _ => return None,
        };
        Some(f(resolved))
    }

    /// Installs `waiter` with `token` unless the future is already done; in that case
    /// returns `Some(failed)` and installs nothing.
    pub(crate) fn add_waiter(&self, waiter: &Arc<Waiter>, token: usize) -> Option<bool> {
        let mut g = lock(&self.inner);
        let s = self.state();
        if s.is_done() {
            return Some(s == State::Failed);
        }
        g.listeners().waiters.push((Arc::clone(waiter), token));
        None
    }

    /// Removes `waiter` if it is still installed (it is not once the future completed).
    pub(crate) fn remove_waiter(&self, waiter: &Arc<Waiter>) {
        let mut g = lock(&self.inner);
        if let Some(l) = g.listeners.as_mut() {
            if let Some(i) = l.waiters.iter().position(|(w, _)| Arc::ptr_eq(w, waiter)) {
                l.waiters.swap_remove(i);
            }
        }
    }

    /// Returns once a completion that has already notified this future's waiters is also
    /// visible in its state (waiters are told just before the state is published, under the
    /// future's lock).
    pub(crate) fn settle(&self) {
        if !self.is_done() {
            drop(lock(&self.inner));
        }
    }

    /// Number of waiters installed (for tests of waiter cleanup).
    pub fn waiter_count(&self) -> usize {
        lock(&self.inner)
            .listeners
            .as_ref()
            .map_or(0, |l| l.waiters.len())
    }
}

fn run_callback(cb: Callback, f: &Arc<Future>) {
    // A panicking Rust callback must not take the completing thread (a pool worker) down with
    // it; CPython likewise logs and ignores exceptions raised by callbacks.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(f)));
}

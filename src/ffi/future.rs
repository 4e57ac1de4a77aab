//! `cf_future`: the C view of [`crate::future::Future`].

use std::ffi::{c_char, c_int, c_void};
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::Arc;

use super::{cf_status, deadline, fail, ffi_boundary, invalid, non_null, set_last_error};
use crate::future::{FailKind, Future, Resolved, State};
use crate::{Deadline, Error, Status};

/// A future: the eventual outcome of one submitted task (CPython: `concurrent.futures.Future`).
///
/// Reference counted: the creator owns one reference; `cf_future_retain` adds one and
/// `cf_future_free` drops one. Freeing never cancels or stops the task. Every function may be
/// called from any thread, concurrently.
pub struct cf_future {
    _opaque: [u8; 0],
}

/// A done-callback: receives the future (borrowed: valid during the call; retain it to keep
/// it) and the `user_data` given with it.
pub type cf_done_callback = Option<unsafe extern "C" fn(f: *mut cf_future, user_data: *mut c_void)>;

/// A borrowed future handle: an `Arc` that is never dropped here.
pub(crate) struct FutureRef(ManuallyDrop<Arc<Future>>);

impl Deref for FutureRef {
    type Target = Arc<Future>;
    fn deref(&self) -> &Arc<Future> {
        &self.0
    }
}

impl FutureRef {
    /// Borrows the future behind a non-NULL handle.
    ///
    /// # Safety
    /// `p` must be a live handle obtained from this library (`Arc::into_raw`).
    pub(crate) unsafe fn from_handle(p: *const cf_future) -> FutureRef {
        // SAFETY: the caller promises `p` came from `into_handle` and still holds a reference;
        // ManuallyDrop keeps that reference untouched.
        FutureRef(ManuallyDrop::new(unsafe {
            Arc::from_raw(p.cast::<Future>())
        }))
    }
}

/// Turns an owned future into a C handle (the handle owns that reference).
pub(crate) fn into_handle(f: Arc<Future>) -> *mut cf_future {
    Arc::into_raw(f).cast_mut().cast()
}

/// The `cf_status` that a done future's outcome stands for.
pub(crate) fn outcome_status(r: &Resolved<'_>) -> cf_status {
    match r {
        Resolved::Ok(_) => cf_status::CF_OK,
        Resolved::Cancelled => cf_status::CF_CANCELLED,
        Resolved::Failed(kind, ..) => match kind {
            FailKind::Task => cf_status::CF_TASK_FAILED,
            FailKind::WorkerDied => cf_status::CF_WORKER_DIED,
            FailKind::Expired => cf_status::CF_TASK_EXPIRED,
            FailKind::Broken => cf_status::CF_BROKEN,
            FailKind::Invalid => cf_status::CF_INVALID_ARGUMENT,
        },
    }
}

/// Records the failure of a done future in `cf_last_error` and returns its status; for a
/// successful one returns `CF_OK` and gives the data through `ok`.
pub(crate) fn report_outcome(f: &Future, ok: impl FnOnce(&[u8])) -> cf_status {
    let r = f.with_outcome(|r| {
        let st = outcome_status(&r);
        match r {
            Resolved::Ok(data) => ok(data),
            Resolved::Cancelled => set_last_error("the future was cancelled"),
            Resolved::Failed(_, _, msg) => set_last_error(&msg.to_string_lossy()),
        }
        st
    });
    r.unwrap_or_else(|| fail(Error::new(Status::Internal, "future is not done")))
}

fn wait_for(f: &Future, d: Deadline) -> Result<(), cf_status> {
    if f.wait_done(d) {
        Ok(())
    } else {
        Err(fail(Error::new(
            Status::Timeout,
            "timed out waiting for the future",
        )))
    }
}

/// Waits for the future and gives its result (CPython: `Future.result(timeout)`).
///
/// `timeout` is in seconds: negative (`CF_FOREVER`) or +inf waits without limit, 0 polls, NaN
/// is `CF_INVALID_ARGUMENT`. Returns `CF_OK` with `*data`/`*len` set to the result bytes
/// (borrowed: valid while the caller holds a reference to `f`; 16-byte aligned; `*data` may be
/// a non-NULL pointer to nothing when `*len` is 0), `CF_TIMEOUT` if the deadline came first
/// (nothing changes), `CF_CANCELLED`, or the failure (`CF_TASK_FAILED`, `CF_WORKER_DIED`,
/// `CF_TASK_EXPIRED`, `CF_BROKEN`) with its message in `cf_last_error()`.
/// Differs from CPython: a negative timeout waits forever instead of polling.
#[no_mangle]
pub extern "C" fn cf_future_result(
    f: *mut cf_future,
    timeout: f64,
    data: *mut *const c_void,
    len: *mut usize,
) -> cf_status {
    ffi_boundary! {
        non_null!(f, data, len);
        let d = deadline!(timeout);
        // SAFETY: `f` is non-NULL and, by the API contract, a live future handle.
        let fut = unsafe { FutureRef::from_handle(f) };
        if let Err(st) = wait_for(&fut, d) {
            return st;
        }
        report_outcome(&fut, |bytes| {
            // SAFETY: `data` and `len` are non-NULL and point to writable storage (API contract).
            unsafe {
                *data = bytes.as_ptr().cast();
                *len = bytes.len();
            }
        })
    }
}

/// Waits for the future and gives how it ended (CPython: `Future.exception(timeout)`):
/// `CF_OK` if it succeeded, `CF_TIMEOUT` if still not done at the deadline, else its failure
/// status (`CF_CANCELLED`, `CF_TASK_FAILED`, ...) with the message in `cf_last_error()`.
/// Timeouts as for `cf_future_result`.
#[no_mangle]
pub extern "C" fn cf_future_exception(f: *mut cf_future, timeout: f64) -> cf_status {
    ffi_boundary! {
        non_null!(f);
        let d = deadline!(timeout);
        // SAFETY: `f` is non-NULL and, by the API contract, a live future handle.
        let fut = unsafe { FutureRef::from_handle(f) };
        if let Err(st) = wait_for(&fut, d) {
            return st;
        }
        report_outcome(&fut, |_| {})
    }
}

/// The failed task's code: its nonzero return value (0 when it failed only through
/// `cf_out_fail`); for `CF_WORKER_DIED`, minus the signal number or the exit status, as
/// Python's `Process.exitcode`. 0 when the future has not failed, or `f` is NULL.
#[no_mangle]
pub extern "C" fn cf_future_error_code(f: *const cf_future) -> c_int {
    ffi_boundary! {
        non_null!(f);
        // SAFETY: `f` is non-NULL and, by the API contract, a live future handle.
        let fut = unsafe { FutureRef::from_handle(f) };
        fut.with_outcome(|r| match r {
            Resolved::Failed(_, code, _) => code,
            _ => 0,
        })
        .unwrap_or(0)
    }
}

/// The failure's message (given to `cf_out_fail`, else "task returned N"; for other failures
/// a description of the cause), or NULL when the future has not failed.
/// Borrowed: valid while the caller holds a reference to `f`; do not free.
#[no_mangle]
pub extern "C" fn cf_future_error_message(f: *const cf_future) -> *const c_char {
    ffi_boundary! {
        non_null!(f);
        // SAFETY: `f` is non-NULL and, by the API contract, a live future handle.
        let fut = unsafe { FutureRef::from_handle(f) };
        fut.with_outcome(|r| match r {
            Resolved::Failed(_, _, msg) => msg.as_ptr(),
            _ => std::ptr::null(),
        })
        .unwrap_or(std::ptr::null())
    }
}

/// Cancels the future if it has not started (CPython: `Future.cancel()`). Returns true if it
/// is now cancelled (also when it already was), false if it is running or finished (or `f` is
/// NULL). A cancel wakes every waiter at once (`cf_future_result`, `cf_wait`,
/// `cf_as_completed_next`), unlike CPython which notices when a worker dequeues the item; the
/// done-callbacks run in this thread before it returns.
#[no_mangle]
pub extern "C" fn cf_future_cancel(f: *mut cf_future) -> bool {
    ffi_boundary! {
        non_null!(f);
        // SAFETY: `f` is non-NULL and, by the API contract, a live future handle.
        let fut = unsafe { FutureRef::from_handle(f) };
        // Hold our own reference: a callback run by the cancel may free the caller's.
        let owned = Arc::clone(&fut);
        owned.cancel()
    }
}

/// Whether the future was cancelled (CPython: `Future.cancelled()`). False for NULL.
#[no_mangle]
pub extern "C" fn cf_future_cancelled(f: *const cf_future) -> bool {
    ffi_boundary! { state_is(f, |s| s == State::Cancelled) }
}

/// Whether a worker is running the task now (CPython: `Future.running()`). False for NULL.
#[no_mangle]
pub extern "C" fn cf_future_running(f: *const cf_future) -> bool {
    ffi_boundary! { state_is(f, |s| s == State::Running) }
}

/// Whether the future finished or was cancelled (CPython: `Future.done()`). False for NULL.
#[no_mangle]
pub extern "C" fn cf_future_done(f: *const cf_future) -> bool {
    ffi_boundary! { state_is(f, State::is_done) }
}

fn state_is(f: *const cf_future, pred: impl FnOnce(State) -> bool) -> bool {
    non_null!(f);
    // SAFETY: `f` is non-NULL and, by the API contract, a live future handle.
    let fut = unsafe { FutureRef::from_handle(f) };
    pred(fut.fresh_state())
}

struct UserData(*mut c_void);
// SAFETY: the user data pointer is only handed back to the user's callback; the API documents
// that the callback may run on another thread, so the user vouches for sending it.
unsafe impl Send for UserData {}

/// Adds a done-callback (CPython: `Future.add_done_callback`). `fn` runs exactly once with the
/// future and `user_data`, after waiters have been woken and outside every internal lock: in
/// the thread that completes the future (a thread pool worker; for the process pool, the
/// pool's callback thread, so that a slow callback never delays crash detection or other
/// results), in the thread that cancels it, or at once in this thread, before this call
/// returns, if the future is already done. Callbacks run in
/// the order added. A callback may call back into cfutures (submit, cancel, free, ...).
/// On failure (NULL `f` or `fn`) the callback is never called.
#[no_mangle]
pub extern "C" fn cf_future_add_done_callback(
    f: *mut cf_future,
    r#fn: cf_done_callback,
    user_data: *mut c_void,
) -> cf_status {
    ffi_boundary! {
        non_null!(f);
        let Some(cb) = r#fn else {
            return invalid("argument `fn` is NULL");
        };
        // SAFETY: `f` is non-NULL and, by the API contract, a live future handle.
        let fut = unsafe { FutureRef::from_handle(f) };
        let ud = UserData(user_data);
        // Hold our own reference: a callback run at once may free the caller's.
        let owned = Arc::clone(&fut);
        owned.add_done_callback(Box::new(move |done: &Arc<Future>| {
            let ud = ud;
            let p = Arc::as_ptr(done).cast_mut().cast::<cf_future>();
            // SAFETY: `cb` is the user's callback; `p` is a live handle for the duration of the
            // call because `done` holds a reference.
            unsafe { cb(p, ud.0) }
        }));
        cf_status::CF_OK
    }
}

/// Adds a reference to the future and returns it (NULL for NULL). Release it with
/// `cf_future_free`.
#[no_mangle]
pub extern "C" fn cf_future_retain(f: *mut cf_future) -> *mut cf_future {
    ffi_boundary! {
        non_null!(f);
        // SAFETY: `f` is non-NULL and, by the API contract, a live handle from `Arc::into_raw`.
        unsafe { Arc::increment_strong_count(f.cast_const().cast::<Future>()) };
        f
    }
}

/// Drops one reference to the future (NULL is a no-op). The task is not cancelled: it still
/// runs, and the future is released once nothing (executor, waiters, callbacks) refers to it.
#[no_mangle]
pub extern "C" fn cf_future_free(f: *mut cf_future) {
    ffi_boundary! {
        if f.is_null() {
            return;
        }
        // SAFETY: `f` is a live handle from `Arc::into_raw` and the caller gives up this
        // reference.
        unsafe { drop(Arc::from_raw(f.cast_const().cast::<Future>())) };
    }
}

//! `cf_executor`: creating executors, submitting, shutting down.

use std::ffi::{c_uint, c_void};

use super::{
    c_bytes, cf_executor_options, cf_future, cf_status, cf_task_fn, enum_arg, fail, ffi_boundary,
    future::into_handle, invalid, non_null, task_fn,
};
use crate::executor::{Executor, Kind, Options};

/// Largest `max_workers` accepted.
const MAX_WORKERS_LIMIT: u32 = 1 << 16;

/// An executor: a thread pool or a process pool (CPython: `Executor`). Caller owns; release
/// with `cf_executor_free`. All calls may be made from any thread, concurrently, except that
/// `cf_executor_free` must be the last call on it.
pub struct cf_executor {
    inner: Executor,
}

/// Which pool `cf_executor_new` creates.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cf_executor_kind {
    /// Threads in this process (CPython: `ThreadPoolExecutor`).
    CF_THREAD_POOL = 0,
    /// Worker processes (CPython: `ProcessPoolExecutor`).
    CF_PROCESS_POOL = 1,
}

/// A `cf_executor_kind` value as received from C (checked); shown as `cf_executor_kind`.
pub type CfExecutorKindArg = c_uint;

/// Creates an executor (CPython: `ThreadPoolExecutor(...)` / `ProcessPoolExecutor(...)`).
///
/// `max_workers` 0 means the default: `min(32, cpus + 4)` threads, or one process per CPU.
/// `opts` may be NULL for the defaults; it is copied, so it can be freed at once.
/// Returns NULL on failure with `cf_last_error()` set (an unknown `kind`, `max_workers` above
/// 65536). Caller owns the result; release with `cf_executor_free`. Threads (and processes)
/// start lazily, on submit.
#[no_mangle]
pub extern "C" fn cf_executor_new(
    kind: CfExecutorKindArg,
    max_workers: u32,
    opts: *const cf_executor_options,
) -> *mut cf_executor {
    ffi_boundary! {
        let kind = match enum_arg("executor kind", kind, |k| match k {
            0 => Some(Kind::Thread),
            1 => Some(Kind::Process),
            _ => None,
        }) {
            Ok(k) => k,
            Err(e) => return invalid(&e.message),
        };
        if max_workers > MAX_WORKERS_LIMIT {
            return invalid("max_workers is larger than 65536");
        }
        let options = if opts.is_null() {
            Options::default()
        } else {
            // SAFETY: `opts` is non-NULL and, by the API contract, live options.
            unsafe { (*opts).opts.clone() }
        };
        match Executor::new(kind, max_workers as usize, options) {
            Ok(inner) => Box::into_raw(Box::new(cf_executor { inner })),
            Err(e) => {
                fail(e);
                std::ptr::null_mut()
            }
        }
    }
}

fn exec<'a>(ex: *mut cf_executor) -> &'a Executor {
    // SAFETY: callers check `ex` is non-NULL; by the API contract it is a live executor, and
    // `Executor` is safe to share between threads.
    unsafe { &(*ex).inner }
}

/// Schedules `fn(arg)` and gives its future (CPython: `Executor.submit`).
///
/// The `arg_len` bytes at `arg` are copied now (`arg` may be NULL when `arg_len` is 0).
/// On `CF_OK`, `*out` is a new future: caller owns; release with `cf_future_free`.
/// `CF_SHUTDOWN` after shutdown, `CF_BROKEN` on a broken executor, `CF_INVALID_ARGUMENT` for
/// NULL `ex`, `fn` or `out`, NULL `arg` with a nonzero length, or an `arg_len` no object can
/// have (above `PTRDIFF_MAX`); `CF_NO_MEMORY` if the copy cannot be made.
#[no_mangle]
pub extern "C" fn cf_submit(
    ex: *mut cf_executor,
    r#fn: cf_task_fn,
    arg: *const c_void,
    arg_len: usize,
    out: *mut *mut cf_future,
) -> cf_status {
    ffi_boundary! {
        non_null!(ex, out);
        let Some(f) = r#fn else {
            return invalid("argument `fn` is NULL");
        };
        let bytes = match c_bytes(arg, arg_len, "arg", "arg_len") {
            Ok(b) => b,
            Err(st) => return st,
        };
        match exec(ex).submit(task_fn(f), bytes) {
            Ok(fut) => {
                // SAFETY: `out` is non-NULL and writable (API contract).
                unsafe { *out = into_handle(fut) };
                cf_status::CF_OK
            }
            Err(e) => fail(e),
        }
    }
}

/// Shuts the executor down (CPython: `Executor.shutdown(wait, cancel_futures)`).
///
/// Later submits return `CF_SHUTDOWN`. With `cancel_futures`, every future not yet running is
/// cancelled; otherwise queued work still runs. With `wait`, returns once all work is done and
/// the workers have exited; without, returns at once. Called with `wait` from one of the
/// executor's own tasks or done-callbacks it cannot wait for itself: the shutdown starts and
/// the call returns `CF_INVALID_ARGUMENT` (CPython raises "cannot join current thread").
/// Calling it again is harmless.
#[no_mangle]
pub extern "C" fn cf_executor_shutdown(
    ex: *mut cf_executor,
    wait: bool,
    cancel_futures: bool,
) -> cf_status {
    ffi_boundary! {
        non_null!(ex);
        match exec(ex).shutdown(wait, cancel_futures) {
            Ok(()) => cf_status::CF_OK,
            Err(e) => fail(e),
        }
    }
}

/// Shuts the executor down with `wait` (queued work runs to the end), then releases it
/// (NULL is a no-op). Futures held elsewhere stay valid and complete. Called from one of the
/// executor's own tasks, it does not wait: the workers finish the queue and exit on their own.
#[no_mangle]
pub extern "C" fn cf_executor_free(ex: *mut cf_executor) {
    ffi_boundary! {
        if ex.is_null() {
            return;
        }
        // SAFETY: `ex` came from `cf_executor_new` and the caller gives it up; dropping the
        // executor shuts it down with wait.
        drop(unsafe { Box::from_raw(ex) });
    }
}

/// Borrows the executor behind a non-NULL handle, for the map module.
pub(crate) fn executor_ref<'a>(ex: *mut cf_executor) -> &'a Executor {
    exec(ex)
}

/// Process pool: terminates every worker now (CPython 3.14: `terminate_workers()`): shuts the
/// executor down, cancels every future not yet running, and sends SIGTERM to each worker;
/// futures of running tasks fail with `CF_WORKER_DIED`. No replacement starts; later submits
/// give `CF_SHUTDOWN`. Returns at once. `CF_INVALID_ARGUMENT` for a thread pool.
#[no_mangle]
pub extern "C" fn cf_executor_terminate_workers(ex: *mut cf_executor) -> cf_status {
    ffi_boundary! {
        non_null!(ex);
        match exec(ex).signal_workers(libc::SIGTERM) {
            Ok(()) => cf_status::CF_OK,
            Err(e) => fail(e),
        }
    }
}

/// Process pool: as `cf_executor_terminate_workers`, with SIGKILL (CPython 3.14:
/// `kill_workers()`).
#[no_mangle]
pub extern "C" fn cf_executor_kill_workers(ex: *mut cf_executor) -> cf_status {
    ffi_boundary! {
        non_null!(ex);
        match exec(ex).signal_workers(libc::SIGKILL) {
            Ok(()) => cf_status::CF_OK,
            Err(e) => fail(e),
        }
    }
}

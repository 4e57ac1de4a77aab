//! `cf_map_iter`: `Executor.map`.

use std::ffi::{c_int, c_void};

use super::executor::executor_ref;
use super::{
    c_bytes, cf_executor, cf_status, cf_task_fn, deadline, fail, ffi_boundary, invalid, non_null,
    task_fn,
};
use crate::executor::MapIter;

/// The results of `cf_map`, in input order. Caller owns; release with `cf_map_free`. Use from
/// one thread at a time.
pub struct cf_map_iter {
    it: MapIter,
}

/// Runs `fn` over `n` items (CPython: `Executor.map(fn, iterable, timeout, chunksize)`).
///
/// `args` holds `n` items of `arg_len` bytes laid end to end (copied now; NULL allowed when
/// `n * arg_len` is 0; `CF_INVALID_ARGUMENT` when `n * arg_len` overflows or exceeds
/// `PTRDIFF_MAX`). Every item is submitted at once. `timeout` counts from this call
/// (negative: no limit; NaN: `CF_INVALID_ARGUMENT`). `chunksize` batches items per message in
/// the process pool and is ignored by the thread pool; 0 is `CF_INVALID_ARGUMENT` (CPython:
/// ValueError). On `CF_OK`, `*out` is the iterator: caller owns; release with `cf_map_free`.
#[no_mangle]
pub extern "C" fn cf_map(
    ex: *mut cf_executor,
    r#fn: cf_task_fn,
    args: *const c_void,
    arg_len: usize,
    n: usize,
    timeout: f64,
    chunksize: usize,
    out: *mut *mut cf_map_iter,
) -> cf_status {
    ffi_boundary! {
        non_null!(ex, out);
        let Some(f) = r#fn else {
            return invalid("argument `fn` is NULL");
        };
        let d = deadline!(timeout);
        let Some(total) = arg_len.checked_mul(n) else {
            return invalid("n * arg_len overflows");
        };
        let bytes = match c_bytes(args, total, "args", "n * arg_len") {
            Ok(b) => b,
            Err(st) => return st,
        };
        match executor_ref(ex).map(task_fn(f), bytes, arg_len, n, d, chunksize) {
            Ok(it) => {
                // SAFETY: `out` is non-NULL and writable (API contract).
                unsafe { *out = Box::into_raw(Box::new(cf_map_iter { it })) };
                cf_status::CF_OK
            }
            Err(e) => fail(e),
        }
    }
}

/// The next result, in input order (CPython: the `map` iterator's `__next__`). Waits for it
/// until the map's deadline. `CF_OK` with `*data`/`*len` set (borrowed: valid until the next
/// `cf_map_next` or `cf_map_free` on this iterator; 16-byte aligned); `CF_DONE` after the
/// last item; otherwise the item's failure (`CF_TASK_FAILED`, `CF_CANCELLED`, ...) or
/// `CF_TIMEOUT`, with the message in `cf_last_error()`. In the process pool a chunk is one
/// unit of work: if its worker dies, its items not yet reported fail together. After a failure or a timeout the iterator is finished: later
/// calls give `CF_DONE` and every item not yet started has been cancelled (as CPython 3.14).
#[no_mangle]
pub extern "C" fn cf_map_next(
    it: *mut cf_map_iter,
    data: *mut *const c_void,
    len: *mut usize,
) -> cf_status {
    ffi_boundary! {
        non_null!(it, data, len);
        // SAFETY: `it` is non-NULL and, by the API contract, a live iterator used by one thread.
        let iter = unsafe { &mut (*it).it };
        match iter.next_item() {
            Ok((p, n)) => {
                // SAFETY: `data` and `len` are non-NULL and writable (API contract).
                unsafe {
                    *data = p.cast();
                    *len = n;
                }
                cf_status::CF_OK
            }
            Err(e) => fail(e),
        }
    }
}

/// The code of the failure the last `cf_map_next` on `it` reported (CPython: the exception
/// `__next__` raised): the task's nonzero return value or `cf_out_fail`'s code for
/// `CF_TASK_FAILED`, the signal number or exit status for `CF_WORKER_DIED`; 0 when the last
/// call reported no failure (and for a NULL `it`, with `cf_last_error()` set). As `cf_future_error_code` for a future.
#[no_mangle]
pub extern "C" fn cf_map_error_code(it: *const cf_map_iter) -> c_int {
    ffi_boundary! {
        non_null!(it);
        // SAFETY: `it` is non-NULL and, by the API contract, a live iterator.
        unsafe { (*it).it.error_code() }
    }
}

/// Releases the iterator (NULL is a no-op), cancelling every item that has not started.
#[no_mangle]
pub extern "C" fn cf_map_free(it: *mut cf_map_iter) {
    ffi_boundary! {
        if !it.is_null() {
            // SAFETY: `it` came from `cf_map` and the caller gives it up.
            drop(unsafe { Box::from_raw(it) });
        }
    }
}

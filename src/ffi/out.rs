//! `cf_out`: where a running task puts its result.

use std::ffi::{c_char, c_int, c_void, CStr};

use super::{c_bytes, cf_status, ffi_boundary, invalid, non_null, set_last_error};
use crate::future::Out;

/// Where a running task puts its result. Borrowed: valid only during the task call that
/// received it, and only on that thread; used after the task returned or from another thread,
/// the `cf_out_*` calls give `CF_INVALID_ARGUMENT` (NULL for `cf_out_alloc`).
pub struct cf_out {
    _opaque: [u8; 0],
}

/// A task function, the one signature for both pools (CPython: the callable given to
/// `submit`). It receives its argument bytes (borrowed for the call; 16-byte aligned; `arg`
/// may be non-NULL with `arg_len` 0) and returns 0 for success. A nonzero return, or a call to
/// `cf_out_fail`, fails the future with `CF_TASK_FAILED`. The result is set with `cf_out_set`
/// or `cf_out_alloc`; without either the result is empty.
pub type cf_task_fn =
    Option<unsafe extern "C" fn(arg: *const c_void, arg_len: usize, out: *mut cf_out) -> c_int>;

/// Converts a non-NULL C task function to the core's type.
pub(crate) fn task_fn(
    f: unsafe extern "C" fn(*const c_void, usize, *mut cf_out) -> c_int,
) -> crate::TaskFn {
    // SAFETY: the two function pointer types differ only in the pointee of the third argument
    // (`cf_out`, an opaque marker, versus `Out`); the pointer passed is always a `*mut Out`
    // that the C side treats as opaque, so the ABI and the meaning are the same.
    unsafe {
        std::mem::transmute::<
            unsafe extern "C" fn(*const c_void, usize, *mut cf_out) -> c_int,
            crate::TaskFn,
        >(f)
    }
}

/// The `Out` behind `out`, or `None` unless `out` is the `cf_out` of the task call running on
/// this thread (kept after the task returned, or passed to another thread: refused).
fn out_mut<'a>(out: *mut cf_out) -> Option<&'a mut Out> {
    if !crate::future::out_is_live(out.cast::<Out>()) {
        set_last_error(
            "cf_out used outside the task call that received it (after the task returned, or \
             from another thread)",
        );
        return None;
    }
    // SAFETY: `out` is the `Out` of the task call running on this thread (checked above): it
    // lives on this thread's stack until the call returns, and only this thread uses it.
    Some(unsafe { &mut *out.cast::<Out>() })
}

/// Sets the task's result to a copy of `len` bytes at `data` (`data` may be NULL when `len`
/// is 0). A later call replaces an earlier result. `CF_NO_MEMORY` if the copy cannot be made.
#[no_mangle]
pub extern "C" fn cf_out_set(out: *mut cf_out, data: *const c_void, len: usize) -> cf_status {
    ffi_boundary! {
        non_null!(out);
        let bytes = match c_bytes(data, len, "data", "len") {
            Ok(b) => b,
            Err(st) => return st,
        };
        let Some(o) = out_mut(out) else {
            return cf_status::CF_INVALID_ARGUMENT;
        };
        if o.set(bytes) {
            cf_status::CF_OK
        } else {
            set_last_error("out of memory copying the task result");
            cf_status::CF_NO_MEMORY
        }
    }
}

/// Allocates a zeroed result buffer of `len` bytes and returns it to be filled in place
/// (16-byte aligned; owned by cfutures: do not free). It becomes the task's result, replacing
/// any earlier one (an earlier buffer from this function is released). NULL if memory ran out
/// or `out` is NULL; for `len` 0 a non-NULL pointer to nothing.
#[no_mangle]
pub extern "C" fn cf_out_alloc(out: *mut cf_out, len: usize) -> *mut c_void {
    ffi_boundary! {
        non_null!(out);
        let Some(o) = out_mut(out) else {
            return std::ptr::null_mut();
        };
        match o.alloc(len) {
            Some(buf) => buf.as_mut_ptr().cast(),
            None => invalid("out of memory allocating the task result"),
        }
    }
}

/// Fails the task with `message` (copied; NULL gives "task failed"), as raising does in
/// Python. The future gets `CF_TASK_FAILED` whatever the task then returns; its error code is
/// the task's return value.
#[no_mangle]
pub extern "C" fn cf_out_fail(out: *mut cf_out, message: *const c_char) -> cf_status {
    ffi_boundary! {
        non_null!(out);
        let msg = if message.is_null() {
            None
        } else {
            // SAFETY: `message` is non-NULL and, by the API contract, a NUL-terminated string.
            Some(unsafe { CStr::from_ptr(message) }.to_owned())
        };
        let Some(o) = out_mut(out) else {
            return cf_status::CF_INVALID_ARGUMENT;
        };
        o.fail(msg);
        cf_status::CF_OK
    }
}

//! `cf_wait` and `cf_as_completed`.

use std::ffi::c_uint;
use std::sync::Arc;

use super::future::FutureRef;
use super::{
    cf_future, cf_status, deadline, enum_arg, fail, ffi_boundary, invalid, non_null, set_last_error,
};
use crate::future::Future;
use crate::wait::{wait, AsCompleted, ReturnWhen};

/// When `cf_wait` returns (CPython: `return_when`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cf_return_when {
    /// When every future is done.
    CF_ALL_COMPLETED = 0,
    /// When any future is done (finished or cancelled).
    CF_FIRST_COMPLETED = 1,
    /// When any future finishes by failing (not by being cancelled); if none fails, when all
    /// are done.
    CF_FIRST_EXCEPTION = 2,
}

/// A `cf_return_when` value as received from C (checked); shown as `cf_return_when`.
pub type CfReturnWhenArg = c_uint;

/// Borrows the futures of a C array, checking every entry.
fn futures(fs: *const *mut cf_future, n: usize) -> Result<Vec<FutureRef>, cf_status> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if fs.is_null() {
        return Err(invalid("argument `fs` is NULL but `n` is not 0"));
    }
    // A count no array can have: making the slice would be undefined behaviour.
    if n > isize::MAX as usize / std::mem::size_of::<*mut cf_future>() {
        return Err(invalid(&format!(
            "`n` is {n}: no array of futures is that large"
        )));
    }
    // SAFETY: `fs` is non-NULL, `n` entries span at most isize::MAX bytes, and the caller
    // promises `n` readable entries.
    let ptrs = unsafe { std::slice::from_raw_parts(fs, n) };
    let mut out = Vec::with_capacity(n);
    for (i, p) in ptrs.iter().enumerate() {
        if p.is_null() {
            return Err(invalid(&format!("fs[{i}] is NULL")));
        }
        // SAFETY: non-NULL entries are live future handles (API contract).
        out.push(unsafe { FutureRef::from_handle(*p) });
    }
    Ok(out)
}

/// Waits for the futures (CPython: `concurrent.futures.wait(fs, timeout, return_when)`).
///
/// `fs` holds `n` futures (NULL allowed when `n` is 0); duplicates count once; futures from
/// different executors mix. Returns `CF_OK` when the condition holds (at once for zero
/// futures) and `CF_TIMEOUT` when the deadline came first. In both cases, and only then,
/// `done` (if not NULL, `n` flags) tells which futures were done at return (every position of a
/// duplicate is set) and `n_done` (if not NULL) how many distinct futures were. A cancel wakes
/// the wait at once. Timeouts as for `cf_future_result`.
#[no_mangle]
pub extern "C" fn cf_wait(
    fs: *const *mut cf_future,
    n: usize,
    timeout: f64,
    when: CfReturnWhenArg,
    done: *mut bool,
    n_done: *mut usize,
) -> cf_status {
    ffi_boundary! {
        let when = match enum_arg("return_when", when, |w| match w {
            0 => Some(ReturnWhen::AllCompleted),
            1 => Some(ReturnWhen::FirstCompleted),
            2 => Some(ReturnWhen::FirstException),
            _ => None,
        }) {
            Ok(w) => w,
            Err(e) => return fail(e),
        };
        let d = deadline!(timeout);
        let owned = match futures(fs, n) {
            Ok(v) => v,
            Err(st) => return st,
        };
        let refs: Vec<&Future> = owned.iter().map(|f| &***f).collect();
        let flags = if done.is_null() || n == 0 {
            None
        } else {
            // SAFETY: `done` is non-NULL and the caller promises `n` writable flags.
            Some(unsafe { std::slice::from_raw_parts_mut(done, n) })
        };
        let r = wait(&refs, d, when, flags);
        if !n_done.is_null() {
            // SAFETY: `n_done` is non-NULL and writable (API contract).
            unsafe { *n_done = r.n_done };
        }
        if r.satisfied {
            cf_status::CF_OK
        } else {
            set_last_error("timed out waiting for the futures");
            cf_status::CF_TIMEOUT
        }
    }
}

/// Iterates over futures as they complete (CPython: `concurrent.futures.as_completed`).
/// Caller owns; release with `cf_as_completed_free`. Use from one thread at a time.
pub struct cf_as_completed {
    it: AsCompleted,
}

/// Starts an `as_completed` iteration over `n` futures (NULL `fs` allowed when `n` is 0).
///
/// The iterator holds a reference to each future until it is freed. The deadline counts from
/// this call (CPython starts it at the first `next`). On `CF_OK`, `*out` is the iterator:
/// caller owns; release with `cf_as_completed_free`.
#[no_mangle]
pub extern "C" fn cf_as_completed_new(
    fs: *const *mut cf_future,
    n: usize,
    timeout: f64,
    out: *mut *mut cf_as_completed,
) -> cf_status {
    ffi_boundary! {
        non_null!(out);
        let d = deadline!(timeout);
        let owned = match futures(fs, n) {
            Ok(v) => v,
            Err(st) => return st,
        };
        let arcs: Vec<Arc<Future>> = owned.iter().map(|f| Arc::clone(f)).collect();
        let it = AsCompleted::new(arcs, d);
        // SAFETY: `out` is non-NULL and writable (API contract).
        unsafe { *out = Box::into_raw(Box::new(cf_as_completed { it })) };
        cf_status::CF_OK
    }
}

/// The next completed future: each distinct future once, those already done at `_new` first,
/// then in completion order. `CF_OK` with `*f` set to the pointer given in `fs` (borrowed: the
/// caller's own handle) and `*index` (if not NULL) to its first position in `fs`; `CF_DONE`
/// after the last; `CF_TIMEOUT` when the deadline has passed with futures still pending (those
/// that finished are still handed out first, unlike cpython#73919; `cf_last_error()` says how
/// many are unfinished). A cancel wakes it at once.
#[no_mangle]
pub extern "C" fn cf_as_completed_next(
    it: *mut cf_as_completed,
    f: *mut *mut cf_future,
    index: *mut usize,
) -> cf_status {
    ffi_boundary! {
        non_null!(it, f);
        // SAFETY: `it` is non-NULL and, by the API contract, a live iterator used by one thread.
        let iter = unsafe { &mut (*it).it };
        match iter.next_completed() {
            Ok((fut, i)) => {
                // SAFETY: `f` is non-NULL and writable; `index` is checked (API contract).
                unsafe {
                    *f = Arc::as_ptr(&fut).cast_mut().cast();
                    if !index.is_null() {
                        *index = i;
                    }
                }
                cf_status::CF_OK
            }
            Err(e) => fail(e),
        }
    }
}

/// Releases the iterator and its references to the futures (NULL is a no-op). The futures
/// themselves are not affected.
#[no_mangle]
pub extern "C" fn cf_as_completed_free(it: *mut cf_as_completed) {
    ffi_boundary! {
        if !it.is_null() {
            // SAFETY: `it` came from `cf_as_completed_new` and the caller gives it up.
            drop(unsafe { Box::from_raw(it) });
        }
    }
}

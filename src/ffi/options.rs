//! `cf_executor_options`: settings for `cf_executor_new`, extensible without ABI breaks.

use std::ffi::{c_char, c_void, CStr};

use super::{cf_status, cf_task_fn, ffi_boundary, invalid, non_null, task_fn};
use crate::executor::Options;
use crate::future::{Bytes, Task};

/// Options for `cf_executor_new` (CPython: the executor constructors' keyword arguments).
/// Create with `cf_executor_options_new`, set with the `cf_executor_options_set_*` calls, pass
/// to `cf_executor_new` (which copies them), release with `cf_executor_options_free`. Not
/// thread-safe: use one options object from one thread at a time.
pub struct cf_executor_options {
    pub(crate) opts: Options,
}

/// Creates options holding the defaults. Caller owns; release with
/// `cf_executor_options_free`. NULL if memory ran out.
#[no_mangle]
pub extern "C" fn cf_executor_options_new() -> *mut cf_executor_options {
    ffi_boundary! {
        Box::into_raw(Box::new(cf_executor_options { opts: Options::default() }))
    }
}

/// Releases options (NULL is a no-op). Executors created with them are not affected.
#[no_mangle]
pub extern "C" fn cf_executor_options_free(opts: *mut cf_executor_options) {
    ffi_boundary! {
        if !opts.is_null() {
            // SAFETY: `opts` came from `cf_executor_options_new` and the caller gives it up.
            drop(unsafe { Box::from_raw(opts) });
        }
    }
}

fn opts_mut<'a>(opts: *mut cf_executor_options) -> &'a mut Options {
    // SAFETY: callers check `opts` is non-NULL; it came from `cf_executor_options_new` and is
    // used by one thread at a time (documented).
    unsafe { &mut (*opts).opts }
}

/// Thread pool: names its threads `<prefix>_<n>` (CPython: `thread_name_prefix`; the default
/// is `ThreadPoolExecutor-<k>`). `prefix` is copied; NULL or "" restores the default. Linux
/// shows at most 15 bytes of a thread name.
#[no_mangle]
pub extern "C" fn cf_executor_options_set_thread_name_prefix(
    opts: *mut cf_executor_options,
    prefix: *const c_char,
) -> cf_status {
    ffi_boundary! {
        non_null!(opts);
        let p = if prefix.is_null() {
            None
        } else {
            // SAFETY: `prefix` is non-NULL and, by the API contract, NUL-terminated.
            let s = unsafe { CStr::from_ptr(prefix) };
            match s.to_str() {
                Ok("") => None,
                Ok(s) => Some(s.to_owned()),
                Err(_) => return invalid("thread name prefix is not valid UTF-8"),
            }
        };
        opts_mut(opts).thread_name_prefix = p;
        cf_status::CF_OK
    }
}

/// Sets the initializer (CPython: `initializer`, `initargs`): `fn` runs once in each new
/// worker before any task, with a copy of the `initargs_len` bytes at `initargs`. If it fails
/// (nonzero return or `cf_out_fail`), the executor is broken: queued futures fail with
/// `CF_BROKEN` and later submits return `CF_BROKEN`. `fn` NULL removes the initializer.
/// Its result, if it sets one, is ignored.
#[no_mangle]
pub extern "C" fn cf_executor_options_set_initializer(
    opts: *mut cf_executor_options,
    r#fn: cf_task_fn,
    initargs: *const c_void,
    initargs_len: usize,
) -> cf_status {
    ffi_boundary! {
        non_null!(opts);
        let Some(f) = r#fn else {
            opts_mut(opts).initializer = None;
            return cf_status::CF_OK;
        };
        let args: &[u8] = if initargs_len == 0 {
            &[]
        } else {
            non_null!(initargs);
            // SAFETY: `initargs` is non-NULL and the caller promises `initargs_len` bytes.
            unsafe { std::slice::from_raw_parts(initargs.cast::<u8>(), initargs_len) }
        };
        let Some(arg) = Bytes::copy_from(args) else {
            return super::fail(crate::Error::new(crate::Status::NoMemory, "out of memory copying initargs"));
        };
        opts_mut(opts).initializer = Some(Task { func: task_fn(f), arg });
        cf_status::CF_OK
    }
}

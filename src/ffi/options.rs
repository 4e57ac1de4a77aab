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
        let args = match super::c_bytes(initargs, initargs_len, "initargs", "initargs_len") {
            Ok(b) => b,
            Err(st) => return st,
        };
        let Some(arg) = Bytes::copy_from(args) else {
            return super::fail(crate::Error::new(crate::Status::NoMemory, "out of memory copying initargs"));
        };
        opts_mut(opts).initializer = Some(Task { func: task_fn(f), arg });
        cf_status::CF_OK
    }
}

/// How the process pool starts its workers (CPython: the multiprocessing start method).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cf_start_method {
    /// The default: a single-threaded server, forked when the executor is created, forks every
    /// worker. Any function present in the program at that moment runs in workers (including
    /// `static` functions of the main program); functions of libraries loaded later are loaded
    /// by path. No lock held by another thread of the application can be inherited by workers.
    CF_START_FORKSERVER = 0,
    /// Workers are forked directly from the pool's thread: fastest to start, and sees
    /// everything loaded at each fork, but inherits whatever locks other threads hold then.
    CF_START_FORK = 1,
    /// Workers are the `cf-worker` program, which loads each task's shared library by path and
    /// finds the task by its symbol: tasks must be exported functions of shared libraries.
    CF_START_SPAWN = 2,
}

/// A `cf_start_method` value as received from C (checked); shown as `cf_start_method`.
pub type CfStartMethodArg = std::ffi::c_uint;

/// Process pool: chooses how workers start (CPython: `mp_context`); see `cf_start_method`.
/// An unknown value gives `CF_INVALID_ARGUMENT`. The thread pool rejects this option.
#[no_mangle]
pub extern "C" fn cf_executor_options_set_start_method(
    opts: *mut cf_executor_options,
    method: CfStartMethodArg,
) -> cf_status {
    ffi_boundary! {
        non_null!(opts);
        use crate::process::start::Method;
        let m = match method {
            0 => Method::ForkServer,
            1 => Method::Fork,
            2 => Method::Spawn,
            _ => return invalid("start method: not a valid cf_start_method value"),
        };
        opts_mut(opts).start_method = Some(m);
        cf_status::CF_OK
    }
}

/// Process pool: replaces a worker after it has run `max_tasks` tasks (CPython:
/// `max_tasks_per_child`); 0 (the default) never replaces. A `cf_map` chunk counts as one.
/// The thread pool rejects this option.
#[no_mangle]
pub extern "C" fn cf_executor_options_set_max_tasks_per_child(
    opts: *mut cf_executor_options,
    max_tasks: u64,
) -> cf_status {
    ffi_boundary! {
        non_null!(opts);
        opts_mut(opts).max_tasks_per_child = max_tasks;
        cf_status::CF_OK
    }
}

/// Process pool: a per-task time limit in seconds (pebble: `timeout`; CPython has none). A
/// task still running after it has its worker killed (SIGTERM, then SIGKILL one second later)
/// and its future fails with `CF_TASK_EXPIRED`; the pool starts a replacement and goes on. A
/// `cf_map` chunk of k items gets k times the limit. 0, a negative value or +inf removes the
/// limit; NaN is `CF_INVALID_ARGUMENT`. The thread pool rejects this option: a thread cannot
/// be killed.
#[no_mangle]
pub extern "C" fn cf_executor_options_set_task_timeout(
    opts: *mut cf_executor_options,
    seconds: f64,
) -> cf_status {
    ffi_boundary! {
        non_null!(opts);
        if seconds.is_nan() {
            return invalid("task timeout is NaN");
        }
        let limit = if seconds <= 0.0 || seconds.is_infinite() {
            None
        } else {
            std::time::Duration::try_from_secs_f64(seconds).ok()
        };
        opts_mut(opts).task_timeout = limit;
        cf_status::CF_OK
    }
}

/// Process pool, spawn start method: the path of the `cf-worker` program (copied; NULL
/// restores the default search: the `CF_WORKER_PATH` environment variable, then beside the
/// library holding cfutures, then `../libexec/cfutures/cf-worker` from the library's
/// directory (an installed layout), then beside the executable). `cf_executor_new` fails with
/// `CF_INVALID_ARGUMENT` naming the places tried when none is executable.
#[no_mangle]
pub extern "C" fn cf_executor_options_set_worker_path(
    opts: *mut cf_executor_options,
    path: *const c_char,
) -> cf_status {
    ffi_boundary! {
        non_null!(opts);
        let p = if path.is_null() {
            None
        } else {
            // SAFETY: `path` is non-NULL and, by the API contract, NUL-terminated.
            let s = unsafe { CStr::from_ptr(path) };
            use std::os::unix::ffi::OsStrExt;
            Some(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(s.to_bytes())))
        };
        opts_mut(opts).worker_path = p;
        cf_status::CF_OK
    }
}

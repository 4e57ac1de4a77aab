//! The C ABI. Only thin wrappers live here: NULL checks, the panic boundary, conversions and
//! status codes; the work is done by the core modules.
//!
//! Every exported function body is wrapped in [`ffi_boundary!`], which turns a panic into
//! `CF_INTERNAL` (or NULL, false, 0) and records it in `cf_last_error()`. Pointers are checked
//! with the [`non_null!`] family before use.
#![allow(non_camel_case_types)]
#![allow(clippy::not_unsafe_ptr_arg_deref)]
#![deny(missing_docs)]

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

use crate::{Error, Status};

pub mod executor;
pub mod future;
pub mod map;
pub mod options;
pub mod out;
pub mod wait;

pub use executor::*;
pub use future::*;
pub use map::*;
pub use options::*;
pub use out::*;
pub use wait::*;

/// Major version of the library this header belongs to.
pub const CFUTURES_VERSION_MAJOR: u32 = 0;
/// Minor version.
pub const CFUTURES_VERSION_MINOR: u32 = 1;
/// Patch version.
pub const CFUTURES_VERSION_PATCH: u32 = 0;

/// A timeout that waits without limit (any negative value or +inf does the same).
pub const CF_FOREVER: f64 = -1.0;

/// The outcome of a call. Values are fixed and never renumbered.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cf_status {
    /// Success.
    CF_OK = 0,
    /// The wait's deadline passed first; nothing changed.
    CF_TIMEOUT = 1,
    /// The future was cancelled before it ran (CPython: `CancelledError`).
    CF_CANCELLED = 2,
    /// The task returned nonzero or called `cf_out_fail` (CPython: the task raised).
    CF_TASK_FAILED = 3,
    /// The process running the task died (signal or exit).
    CF_WORKER_DIED = 4,
    /// The task outran the executor's per-task time limit; its worker was killed.
    CF_TASK_EXPIRED = 5,
    /// The executor can run nothing more, e.g. an initializer failed (CPython: `BrokenExecutor`).
    CF_BROKEN = 6,
    /// The executor no longer accepts work (CPython: `RuntimeError` after shutdown).
    CF_SHUTDOWN = 7,
    /// A NULL handle, a bad option, a NaN timeout, an unresolvable task function, ...
    CF_INVALID_ARGUMENT = 8,
    /// Memory ran out.
    CF_NO_MEMORY = 9,
    /// An iterator has nothing more to give.
    CF_DONE = 10,
    /// A bug in cfutures (including a caught panic); `cf_last_error()` says more.
    CF_INTERNAL = 11,
}

impl From<Status> for cf_status {
    fn from(s: Status) -> cf_status {
        match s {
            Status::Ok => cf_status::CF_OK,
            Status::Timeout => cf_status::CF_TIMEOUT,
            Status::Cancelled => cf_status::CF_CANCELLED,
            Status::TaskFailed => cf_status::CF_TASK_FAILED,
            Status::WorkerDied => cf_status::CF_WORKER_DIED,
            Status::TaskExpired => cf_status::CF_TASK_EXPIRED,
            Status::Broken => cf_status::CF_BROKEN,
            Status::Shutdown => cf_status::CF_SHUTDOWN,
            Status::InvalidArgument => cf_status::CF_INVALID_ARGUMENT,
            Status::NoMemory => cf_status::CF_NO_MEMORY,
            Status::Done => cf_status::CF_DONE,
            Status::Internal => cf_status::CF_INTERNAL,
        }
    }
}

/// A `cf_status` value as received from C: an integer, checked before use (an out-of-range
/// enum value would be undefined behaviour in Rust). Shown as `cf_status` in the header.
pub type CfStatusArg = c_int;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's `cf_last_error()`.
pub(crate) fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', "\u{fffd}")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Records `err` and returns its status.
pub(crate) fn fail(err: Error) -> cf_status {
    set_last_error(&err.message);
    err.status.into()
}

/// Records `message` and returns the "invalid argument" value of `T`.
pub(crate) fn invalid<T: Fallback>(message: &str) -> T {
    set_last_error(message);
    T::invalid()
}

/// What an exported function returns when it cannot do its work.
pub trait Fallback {
    /// The value after a caught panic.
    fn panicked() -> Self;
    /// The value for an invalid argument (NULL handle, ...).
    fn invalid() -> Self;
}

impl Fallback for cf_status {
    fn panicked() -> Self {
        cf_status::CF_INTERNAL
    }
    fn invalid() -> Self {
        cf_status::CF_INVALID_ARGUMENT
    }
}

impl<T> Fallback for *mut T {
    fn panicked() -> Self {
        std::ptr::null_mut()
    }
    fn invalid() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> Fallback for *const T {
    fn panicked() -> Self {
        std::ptr::null()
    }
    fn invalid() -> Self {
        std::ptr::null()
    }
}

impl Fallback for bool {
    fn panicked() -> Self {
        false
    }
    fn invalid() -> Self {
        false
    }
}

impl Fallback for c_int {
    fn panicked() -> Self {
        0
    }
    fn invalid() -> Self {
        0
    }
}

impl Fallback for () {
    fn panicked() -> Self {}
    fn invalid() -> Self {}
}

/// Records a caught panic in `cf_last_error()`.
pub(crate) fn record_panic(payload: Box<dyn std::any::Any + Send>) {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    set_last_error(&format!(
        "internal error (a bug in cfutures): panic: {text}"
    ));
}

/// The panic boundary: every exported function's body goes inside it.
macro_rules! ffi_boundary {
    ($($body:tt)*) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(v) => v,
            Err(payload) => {
                $crate::ffi::record_panic(payload);
                $crate::ffi::Fallback::panicked()
            }
        }
    }};
}
pub(crate) use ffi_boundary;

/// Returns the invalid-argument value (and sets `cf_last_error`) when a pointer is NULL.
macro_rules! non_null {
    ($($p:ident),+) => {
        $(
            if $p.is_null() {
                return $crate::ffi::invalid(concat!("argument `", stringify!($p), "` is NULL"));
            }
        )+
    };
}
pub(crate) use non_null;

/// Borrows the `len` bytes at `p` that the caller passes as argument `name` with length
/// `len_name`: empty when `len` is 0 (`p` may then be NULL). `CF_INVALID_ARGUMENT`, recorded
/// in `cf_last_error()`, for NULL with a nonzero length, and for a length no object can have
/// (above `isize::MAX`, the most a Rust slice, or a C object, may span): making a slice of it
/// would be undefined behaviour (an abort in debug builds), so it is refused before any read.
pub(crate) fn c_bytes<'a>(
    p: *const c_void,
    len: usize,
    name: &str,
    len_name: &str,
) -> Result<&'a [u8], cf_status> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(invalid(&format!(
            "argument `{name}` is NULL but `{len_name}` is not 0"
        )));
    }
    if len > isize::MAX as usize {
        return Err(invalid(&format!(
            "`{len_name}` is {len}: no object is that large (`{name}` cannot hold it)"
        )));
    }
    // SAFETY: `p` is non-NULL, `len` is at most isize::MAX, and the caller promises `len`
    // readable bytes at `p` for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// Converts a timeout in seconds, or returns `CF_INVALID_ARGUMENT` for NaN.
macro_rules! deadline {
    ($t:expr) => {
        match $crate::Deadline::from_timeout($t) {
            Ok(d) => d,
            Err(e) => return $crate::ffi::fail(e),
        }
    };
}
pub(crate) use deadline;

/// The message of the last failing cfutures call on this thread (an empty string if none).
///
/// Borrowed: valid until the next cfutures call on this thread; do not free. Never NULL.
#[no_mangle]
pub extern "C" fn cf_last_error() -> *const c_char {
    ffi_boundary! {
        LAST_ERROR.with(|e| e.borrow().as_ptr())
    }
}

/// A static, human-readable name for a status value; safe for any integer ("unknown status"
/// for values outside `cf_status`). Never NULL; do not free.
#[no_mangle]
pub extern "C" fn cf_status_str(status: CfStatusArg) -> *const c_char {
    ffi_boundary! {
        let s: &'static CStr = match status {
            0 => c"CF_OK: success",
            1 => c"CF_TIMEOUT: the deadline passed first",
            2 => c"CF_CANCELLED: the future was cancelled",
            3 => c"CF_TASK_FAILED: the task failed",
            4 => c"CF_WORKER_DIED: the worker process died",
            5 => c"CF_TASK_EXPIRED: the task outran its time limit",
            6 => c"CF_BROKEN: the executor is broken",
            7 => c"CF_SHUTDOWN: the executor has been shut down",
            8 => c"CF_INVALID_ARGUMENT: invalid argument",
            9 => c"CF_NO_MEMORY: out of memory",
            10 => c"CF_DONE: no more items",
            11 => c"CF_INTERNAL: internal error in cfutures",
            _ => c"unknown status",
        };
        s.as_ptr()
    }
}

/// The library's version, "MAJOR.MINOR.PATCH" (static; do not free).
#[no_mangle]
pub extern "C" fn cf_version() -> *const c_char {
    ffi_boundary! {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    }
}

/// Converts a checked integer from C to an enum through `f`, or reports it invalid.
pub(crate) fn enum_arg<T>(
    what: &str,
    v: c_uint,
    f: impl FnOnce(c_uint) -> Option<T>,
) -> Result<T, Error> {
    f(v).ok_or_else(|| Error::invalid(format!("{what}: {v} is not a valid value")))
}

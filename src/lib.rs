//! cfutures: Python's `concurrent.futures` for C, C++ and every language with a C FFI.
//!
//! Module map (see DESIGN.md in the project notes):
//! - [`future`]: the future state machine, results, done-callbacks and waiter registration.
//!   It knows nothing of executors.
//! - [`wait`]: `wait()` and `as_completed()`, built on waiters installed on futures.
//! - [`thread_pool`]: the thread pool executor.
//! - [`executor`]: the executor front that the C ABI talks to.
//! - `ffi`: the C ABI only (thin wrappers, NULL checks, panic boundary, status codes).
//!
//! The Rust API is usable directly (the tests do), but the C API is the product.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

pub(crate) mod sync;

pub mod future;
pub mod wait;

#[cfg(not(loom))]
pub mod executor;
#[cfg(not(loom))]
pub(crate) mod fault;
#[cfg(not(loom))]
pub mod ffi;
#[cfg(not(loom))]
pub mod process;
/// Also built under `--cfg loom`: tests/loom.rs models its shutdown and idle-thread flags.
pub mod thread_pool;

pub use future::{Bytes, FailKind, Future, Out, State, Task, TaskFn};

/// The process-pool protocol, for the fuzz targets in `fuzz/` only (feature `fuzzing`): the
/// targets depend on this module alone, whatever becomes of the protocol module's visibility.
#[cfg(all(feature = "fuzzing", not(loom)))]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::process::protocol::{
        decode, encode, encode_items, read_item, FnRef, FrameReader, ItemOutcome, ItemRef, Msg,
    };

    /// The largest frame body the reader accepts (`protocol::MAX_FRAME`). A function, not a
    /// `pub const`: cbindgen would put a public constant into the C header.
    pub fn max_frame() -> u64 {
        crate::process::protocol::MAX_FRAME
    }
}

/// The outcome of an operation, mirrored one to one by the C `cf_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Success.
    Ok,
    /// A wait's deadline passed first.
    Timeout,
    /// The future was cancelled.
    Cancelled,
    /// The task failed (nonzero return or `cf_out_fail`).
    TaskFailed,
    /// The process running the task died.
    WorkerDied,
    /// The task outran its time limit.
    TaskExpired,
    /// The executor can run nothing more.
    Broken,
    /// The executor no longer accepts work.
    Shutdown,
    /// A bad argument.
    InvalidArgument,
    /// An allocation failed.
    NoMemory,
    /// An iterator has nothing more to give.
    Done,
    /// A bug in cfutures.
    Internal,
}

/// An error: a status and a message for `cf_last_error()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// What kind of failure.
    pub status: Status,
    /// Human-readable cause.
    pub message: Cow<'static, str>,
}

impl Error {
    /// Builds an error.
    pub fn new(status: Status, message: impl Into<Cow<'static, str>>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }

    /// A `Status::InvalidArgument` error.
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(Status::InvalidArgument, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.status, self.message)
    }
}

impl std::error::Error for Error {}

/// When a wait gives up. Built from a timeout in seconds by [`Deadline::from_timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Wait without limit.
    Forever,
    /// Give up at this instant (monotonic clock).
    At(Instant),
}

impl Deadline {
    /// Converts a timeout in seconds, as the C API takes it: NaN is invalid; a negative value
    /// or +inf waits forever; a value too large for the clock also waits forever (never an
    /// overflow); 0 (or anything that rounds to 0) polls.
    pub fn from_timeout(seconds: f64) -> Result<Deadline, Error> {
        if seconds.is_nan() {
            return Err(Error::invalid("timeout is NaN"));
        }
        if seconds < 0.0 || seconds.is_infinite() {
            return Ok(Deadline::Forever);
        }
        let Ok(d) = Duration::try_from_secs_f64(seconds) else {
            return Ok(Deadline::Forever);
        };
        Ok(Deadline::after(d))
    }

    /// The deadline `d` from now; forever if that instant cannot be represented.
    pub fn after(d: Duration) -> Deadline {
        match Instant::now().checked_add(d) {
            Some(t) => Deadline::At(t),
            None => Deadline::Forever,
        }
    }

    /// Time left, `None` for forever; zero once passed.
    pub fn remaining(&self) -> Option<Duration> {
        match self {
            Deadline::Forever => None,
            Deadline::At(t) => Some(t.saturating_duration_since(Instant::now())),
        }
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }
}

/// Number of CPUs available to this process (at least 1).
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

//! The executor front the C ABI talks to: one type over the thread pool (and, later, the
//! process pool), plus `map` and the process-exit hook.

use std::sync::Arc;

use once_cell::sync::OnceCell;

use crate::future::{Bytes, Future, Task, TaskFn};
use crate::thread_pool::{ThreadPool, ThreadPoolOptions};
use crate::{Deadline, Error, Status};

/// Which pool stands behind an executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Threads in this process.
    Thread,
    /// Worker processes.
    Process,
}

/// Options common to both pools (process-pool ones arrive with the process pool).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Thread pool: prefix of thread names.
    pub thread_name_prefix: Option<String>,
    /// Run once per worker before any task; a failure breaks the executor.
    pub initializer: Option<Task>,
}

/// An executor.
pub enum Executor {
    /// A thread pool.
    Thread(ThreadPool),
}

impl Executor {
    /// Creates an executor of `kind` with at most `max_workers` workers (0: the default).
    pub fn new(kind: Kind, max_workers: usize, opts: Options) -> Result<Executor, Error> {
        match kind {
            Kind::Thread => Ok(Executor::Thread(ThreadPool::new(
                max_workers,
                ThreadPoolOptions {
                    thread_name_prefix: opts.thread_name_prefix,
                    initializer: opts.initializer,
                },
            )?)),
            Kind::Process => Err(Error::invalid(
                "the process pool (CF_PROCESS_POOL) is not available in this version of \
                 cfutures yet; use CF_THREAD_POOL",
            )),
        }
    }

    /// Submits `func(arg)`.
    pub fn submit(&self, func: TaskFn, arg: &[u8]) -> Result<Arc<Future>, Error> {
        let arg = Bytes::copy_from(arg).ok_or_else(no_memory)?;
        match self {
            Executor::Thread(p) => p.submit(Task { func, arg }),
        }
    }

    /// CPython's `map`: submits every item (each `item_len` bytes) at once, in order.
    /// `chunksize` batches items per message for the process pool; the thread pool ignores
    /// it, as CPython's does. The deadline counts from this call.
    pub fn map(
        &self,
        func: TaskFn,
        args: &[u8],
        item_len: usize,
        n: usize,
        timeout: Deadline,
        chunksize: usize,
    ) -> Result<MapIter, Error> {
        if chunksize == 0 {
            return Err(Error::invalid("chunksize must be >= 1"));
        }
        if item_len.checked_mul(n) != Some(args.len()) {
            return Err(Error::invalid("args must hold n items of arg_len bytes"));
        }
        let mut futures = Vec::new();
        futures.try_reserve_exact(n).map_err(|_| no_memory())?;
        for i in 0..n {
            let item = &args[i * item_len..(i + 1) * item_len];
            match self.submit(func, item) {
                Ok(f) => futures.push(f),
                Err(e) => {
                    for f in &futures {
                        f.cancel();
                    }
                    return Err(e);
                }
            }
        }
        Ok(MapIter {
            futures: futures.into_iter(),
            current: None,
            deadline: timeout,
            finished: false,
        })
    }

    /// CPython's `shutdown(wait, cancel_futures)`.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) -> Result<(), Error> {
        match self {
            Executor::Thread(p) => p.shutdown(wait, cancel_futures),
        }
    }
}

fn no_memory() -> Error {
    Error::new(Status::NoMemory, "out of memory copying the task argument")
}

/// The iterator returned by [`Executor::map`]: results in input order.
pub struct MapIter {
    futures: std::vec::IntoIter<Arc<Future>>,
    current: Option<Arc<Future>>,
    deadline: Deadline,
    finished: bool,
}

impl MapIter {
    /// The next future in input order once it is done, or `Err`: `Done` at the end,
    /// `Timeout` when the deadline passed first, or the item's own failure. After a timeout or
    /// a failure the iterator is finished and what has not started is cancelled.
    pub fn next_done(&mut self) -> Result<Arc<Future>, Error> {
        self.current = None;
        if self.finished {
            return Err(Error::new(Status::Done, "map: no more results"));
        }
        let Some(f) = self.futures.next() else {
            self.finished = true;
            return Err(Error::new(Status::Done, "map: no more results"));
        };
        if !f.wait_done(self.deadline) {
            self.finish();
            f.cancel();
            return Err(Error::new(Status::Timeout, "map: the timeout passed"));
        }
        if f.state() != crate::future::State::Succeeded {
            // The first failure ends the iteration, as in CPython 3.14.
            self.finish();
        }
        self.current = Some(Arc::clone(&f));
        Ok(f)
    }

    /// Stops the iteration: cancels every item not yet started.
    pub fn finish(&mut self) {
        self.finished = true;
        for f in self.futures.by_ref() {
            f.cancel();
        }
    }
}

impl Drop for MapIter {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Registers (once) the process-exit hook that shuts down the executors still alive, as
/// Python's `threading._register_atexit` hook does.
pub(crate) fn register_exit_hook() {
    static ONCE: OnceCell<()> = OnceCell::new();
    ONCE.get_or_init(|| {
        // SAFETY: `at_exit` is an `extern "C" fn()` that never unwinds (it catches panics).
        unsafe {
            libc::atexit(at_exit);
        }
    });
}

extern "C" fn at_exit() {
    let _ = std::panic::catch_unwind(crate::thread_pool::shutdown_all_at_exit);
}

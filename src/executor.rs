//! The executor front the C ABI talks to: one type over the thread pool and the process
//! pool, plus `map` and the process-exit hook.

use std::sync::{Arc, Mutex, Weak};

use once_cell::sync::{Lazy, OnceCell};

use crate::sync::lock;

use crate::future::{Bytes, FailKind, Future, Resolved, State, Task, TaskFn};
use crate::process::protocol::{read_item, ItemRef};
use crate::process::start::Method;
use crate::process::{ProcessOptions, ProcessPool};
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

/// Options of both pools; each pool rejects those that do not apply to it.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Thread pool: prefix of thread names.
    pub thread_name_prefix: Option<String>,
    /// Run once per worker before any task; a failure breaks the executor.
    pub initializer: Option<Task>,
    /// Process pool: how workers start (default: forkserver).
    pub start_method: Option<Method>,
    /// Process pool: replace a worker after this many tasks (0: never).
    pub max_tasks_per_child: u64,
    /// Process pool: per-task time limit.
    pub task_timeout: Option<std::time::Duration>,
    /// Process pool: the cf-worker program (spawn).
    pub worker_path: Option<std::path::PathBuf>,
}

/// An executor.
pub enum Executor {
    /// A thread pool.
    Thread(ThreadPool),
    /// A process pool.
    Process(ProcessPool),
}

impl Executor {
    /// Creates an executor of `kind` with at most `max_workers` workers (0: the default).
    pub fn new(kind: Kind, max_workers: usize, opts: Options) -> Result<Executor, Error> {
        match kind {
            Kind::Thread => {
                if opts.task_timeout.is_some() {
                    return Err(Error::invalid(
                        "a per-task time limit needs the process pool: a thread cannot be killed (the thread pool rejects the option)",
                    ));
                }
                if opts.start_method.is_some()
                    || opts.max_tasks_per_child > 0
                    || opts.worker_path.is_some()
                {
                    return Err(Error::invalid(
                        "start method, max_tasks_per_child and worker path are process pool options",
                    ));
                }
                Ok(Executor::Thread(ThreadPool::new(
                    max_workers,
                    ThreadPoolOptions {
                        thread_name_prefix: opts.thread_name_prefix,
                        initializer: opts.initializer,
                    },
                )?))
            }
            Kind::Process => {
                if opts.thread_name_prefix.is_some() {
                    return Err(Error::invalid(
                        "the thread name prefix is a thread pool option",
                    ));
                }
                Ok(Executor::Process(ProcessPool::new(
                    max_workers,
                    ProcessOptions {
                        method: opts.start_method.unwrap_or(Method::ForkServer),
                        max_tasks_per_child: opts.max_tasks_per_child,
                        task_timeout: opts.task_timeout,
                        worker_path: opts.worker_path,
                        initializer: opts.initializer,
                    },
                )?))
            }
        }
    }

    /// Submits `func(arg)`.
    pub fn submit(&self, func: TaskFn, arg: &[u8]) -> Result<Arc<Future>, Error> {
        match self {
            Executor::Thread(p) => {
                let arg = Bytes::copy_from(arg).ok_or_else(no_memory)?;
                p.submit(Task { func, arg })
            }
            Executor::Process(p) => p.submit(func, arg),
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
        if let Executor::Process(p) = self {
            let chunks = p.submit_chunks(func, args, item_len, n, chunksize)?;
            return Ok(MapIter::new(Source::Chunks(chunks.into_iter()), timeout));
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
        Ok(MapIter::new(Source::Futures(futures.into_iter()), timeout))
    }

    /// CPython's `shutdown(wait, cancel_futures)`.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) -> Result<(), Error> {
        match self {
            Executor::Thread(p) => p.shutdown(wait, cancel_futures),
            Executor::Process(p) => p.shutdown(wait, cancel_futures),
        }
    }

    /// CPython 3.14's `terminate_workers` (`SIGTERM`) / `kill_workers` (`SIGKILL`): process
    /// pool only.
    pub fn signal_workers(&self, sig: i32) -> Result<(), Error> {
        match self {
            Executor::Thread(_) => Err(Error::invalid(
                "terminate_workers and kill_workers apply to the process pool only",
            )),
            Executor::Process(p) => p.signal_workers(sig),
        }
    }
}

fn no_memory() -> Error {
    Error::new(Status::NoMemory, "out of memory copying the task argument")
}

/// Where a map iterator's results come from.
enum Source {
    /// One future per item (the thread pool).
    Futures(std::vec::IntoIter<Arc<Future>>),
    /// One future per chunk of items, whose result is the chunk's item records (the process
    /// pool: no future, lock or allocation per item).
    Chunks(std::vec::IntoIter<(Arc<Future>, u32)>),
}

/// An item's result: where it lies in its chunk's records, or an aligned copy.
enum Item {
    At(*const u8, usize),
    Copied(Bytes),
}

/// The chunk being read: its future, items left, and where the next record starts.
struct Cursor {
    future: Arc<Future>,
    left: u32,
    pos: usize,
}

/// The iterator returned by [`Executor::map`]: results in input order.
pub struct MapIter {
    source: Source,
    current: Option<Arc<Future>>,
    cursor: Option<Cursor>,
    /// An item's result copied to 16-byte alignment when its record left it unaligned.
    aligned: Bytes,
    deadline: Deadline,
    finished: bool,
    /// The code of the failure `next_item` last reported (the task's return value, a signal,
    /// an exit status; 0 when it reported none).
    error_code: i32,
}

fn failure_status(kind: FailKind) -> Status {
    match kind {
        FailKind::Task => Status::TaskFailed,
        FailKind::WorkerDied => Status::WorkerDied,
        FailKind::Expired => Status::TaskExpired,
        FailKind::Broken => Status::Broken,
        FailKind::Invalid => Status::InvalidArgument,
    }
}

fn done_error() -> Error {
    Error::new(Status::Done, "map: no more results")
}

impl MapIter {
    fn new(source: Source, deadline: Deadline) -> MapIter {
        MapIter {
            source,
            current: None,
            cursor: None,
            aligned: Bytes::empty(),
            deadline,
            finished: false,
            error_code: 0,
        }
    }

    /// The next future in input order once it is done, or `Err`: `Done` at the end,
    /// `Timeout` when the deadline passed first, or the item's own failure. After a timeout or
    /// a failure the iterator is finished and what has not started is cancelled. (One future
    /// per item: the thread pool's map; see [`MapIter::next_item`] for both pools.)
    pub fn next_done(&mut self) -> Result<Arc<Future>, Error> {
        self.current = None;
        if self.finished {
            return Err(done_error());
        }
        let next = match &mut self.source {
            Source::Futures(it) => it.next(),
            Source::Chunks(_) => {
                return Err(Error::new(Status::Internal, "map: chunked results"));
            }
        };
        let Some(f) = next else {
            self.finished = true;
            return Err(done_error());
        };
        self.wait_for(&f)?;
        if f.state() != State::Succeeded {
            // The first failure ends the iteration, as in CPython 3.14.
            self.finish();
        }
        self.current = Some(Arc::clone(&f));
        Ok(f)
    }

    /// The next result in input order: its bytes (borrowed: valid until the next call or the
    /// iterator's drop; 16-byte aligned), or `Err` as for [`MapIter::next_done`], with the
    /// item's own failure message.
    /// The code of the failure the last `next_item` reported (0 if it reported none): the
    /// task's return value, or the signal or exit status of a worker that died.
    pub fn error_code(&self) -> i32 {
        self.error_code
    }

    pub fn next_item(&mut self) -> Result<(*const u8, usize), Error> {
        self.error_code = 0;
        if let Source::Futures(_) = self.source {
            let f = self.next_done()?;
            let mut code = 0;
            let r = f
                .with_outcome(|r| match r {
                    Resolved::Ok(b) => Ok((b.as_ptr(), b.len())),
                    Resolved::Failed(kind, c, msg) => {
                        code = c;
                        Err(Error::new(
                            failure_status(kind),
                            msg.to_string_lossy().into_owned(),
                        ))
                    }
                    Resolved::Cancelled => Err(Error::new(Status::Cancelled, "cancelled")),
                })
                .unwrap_or_else(|| Err(Error::new(Status::Internal, "map: future not done")));
            self.error_code = code;
            return r;
        }
        loop {
            if self.finished {
                return Err(done_error());
            }
            if let Some(c) = &mut self.cursor {
                if c.left > 0 {
                    c.left -= 1;
                    let pos = &mut c.pos;
                    let code = &mut self.error_code;
                    let item = c.future.with_outcome(|r| match r {
                        Resolved::Ok(raw) => match read_item(raw, pos) {
                            // Results keep the 16-byte alignment promised by cf_map_next: one
                            // whose record left it unaligned is copied.
                            Ok(ItemRef::Ok(b)) if (b.as_ptr() as usize) % 16 == 0 => {
                                Ok(Item::At(b.as_ptr(), b.len()))
                            }
                            Ok(ItemRef::Ok(b)) => Bytes::copy_from(b)
                                .map(Item::Copied)
                                .ok_or_else(|| Error::new(Status::NoMemory, "out of memory")),
                            Ok(ItemRef::Failed(c, m)) => {
                                *code = c;
                                Err(Error::new(Status::TaskFailed, m.to_string()))
                            }
                            Ok(ItemRef::Unresolved(m)) => {
                                Err(Error::new(Status::InvalidArgument, m.to_string()))
                            }
                            Err(e) => Err(Error::new(Status::Internal, format!("map: {e}"))),
                        },
                        _ => Err(Error::new(Status::Internal, "map: chunk without records")),
                    });
                    let item = item.unwrap_or_else(|| {
                        Err(Error::new(Status::Internal, "map: chunk not done"))
                    });
                    return match item {
                        Ok(Item::At(p, len)) => Ok((p, len)),
                        Ok(Item::Copied(b)) => {
                            self.aligned = b;
                            Ok((self.aligned.as_slice().as_ptr(), self.aligned.len()))
                        }
                        Err(e) => {
                            // The first failure ends the iteration, as in CPython 3.14.
                            self.finish();
                            Err(e)
                        }
                    };
                }
                self.cursor = None;
            }
            let next = match &mut self.source {
                Source::Chunks(it) => it.next(),
                Source::Futures(_) => None,
            };
            let Some((f, n)) = next else {
                self.finished = true;
                return Err(done_error());
            };
            self.wait_for(&f)?;
            let code = &mut self.error_code;
            let whole = f.with_outcome(|r| match r {
                Resolved::Ok(_) => None,
                Resolved::Failed(kind, c, msg) => {
                    *code = c;
                    Some(Error::new(
                        failure_status(kind),
                        msg.to_string_lossy().into_owned(),
                    ))
                }
                Resolved::Cancelled => Some(Error::new(Status::Cancelled, "cancelled")),
            });
            match whole {
                Some(None) => {
                    self.cursor = Some(Cursor {
                        future: f,
                        left: n,
                        pos: 0,
                    })
                }
                Some(Some(e)) => {
                    // The whole chunk failed (its worker died, ...): so did its first item.
                    self.finish();
                    return Err(e);
                }
                None => return Err(Error::new(Status::Internal, "map: chunk not done")),
            }
        }
    }

    /// Waits for `f` until the map's deadline; on a timeout, finishes the iteration (cancelling
    /// what has not started, `f` included).
    fn wait_for(&mut self, f: &Arc<Future>) -> Result<(), Error> {
        if f.wait_done(self.deadline) {
            return Ok(());
        }
        self.finish();
        f.cancel();
        Err(Error::new(Status::Timeout, "map: the timeout passed"))
    }

    /// Stops the iteration: cancels every item not yet started.
    pub fn finish(&mut self) {
        self.finished = true;
        // Last first, as CPython does: a worker taking items in order while we cancel can then
        // never slip past the cancels into a later item.
        match &mut self.source {
            Source::Futures(it) => {
                for f in it.by_ref().rev() {
                    f.cancel();
                }
            }
            Source::Chunks(it) => {
                for (f, _) in it.by_ref().rev() {
                    f.cancel();
                }
            }
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
    let _ = std::panic::catch_unwind(|| {
        let pools: Vec<Weak<dyn ExitShutdown>> = std::mem::take(&mut *lock(&LIVE));
        for p in pools.iter().filter_map(Weak::upgrade) {
            p.shutdown_at_exit();
        }
    });
}

/// A pool that the process-exit hook shuts down (with wait) if it is still alive.
pub(crate) trait ExitShutdown: Send + Sync {
    /// Shuts down with wait (does nothing in a process forked from the pool's creator).
    fn shutdown_at_exit(&self);
}

static LIVE: Lazy<Mutex<Vec<Weak<dyn ExitShutdown>>>> = Lazy::new(|| {
    register_exit_hook();
    Mutex::new(Vec::new())
});

/// Records a live pool for the exit hook (dead entries are dropped on the way).
pub(crate) fn register_live(pool: Weak<dyn ExitShutdown>) {
    let mut live = lock(&LIVE);
    live.retain(|w| w.strong_count() > 0);
    live.push(pool);
}

static FORK_GEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn after_fork_in_child() {
    FORK_GEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Counts the `fork()`s this process descends from since cfutures was first used: executors
/// remember it, and refuse work in a forked child, where their threads do not exist.
pub(crate) fn fork_generation() -> usize {
    static ONCE: OnceCell<()> = OnceCell::new();
    ONCE.get_or_init(|| {
        // SAFETY: registers a child handler that only bumps an atomic (async-signal-safe).
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
    FORK_GEN.load(std::sync::atomic::Ordering::Relaxed)
}

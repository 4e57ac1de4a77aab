//! The thread pool executor (CPython's `ThreadPoolExecutor`).
//!
//! Work goes through one crossbeam channel. Threads start lazily, up to `max_workers`, and
//! only when no idle thread can take the new item (CPython's idle semaphore). Shutdown closes
//! the channel: workers drain what is queued, then exit.
//!
//! Under `--cfg loom` the channel, threads, locks and atomics are loom's (`crate::sync`), so
//! that tests/loom.rs can model submit, shutdown and the workers; the process-exit and fork
//! hooks of `executor.rs` are left out there.

use std::cell::Cell;
use std::sync::Arc;

use crate::future::{FailKind, Future, Outcome, Task};
use crate::sync::channel::{unbounded, Receiver, Sender, TryRecvError};
use crate::sync::thread::{Builder, JoinHandle};
use crate::sync::{lock, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering};
use crate::{Error, Status};

#[cfg(not(loom))]
use crate::executor::{fork_generation, register_live};

/// Under loom there is no fork.
#[cfg(loom)]
fn fork_generation() -> usize {
    0
}

/// How long an idle worker polls the queue before it parks: waking a parked thread costs far
/// more than a small task.
const IDLE_SPIN: std::time::Duration = std::time::Duration::from_micros(20);

static POOL_IDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

#[cfg(not(loom))]
thread_local! {
    /// The id of the pool whose worker this thread is (0: none).
    static CURRENT_POOL: Cell<usize> = const { Cell::new(0) };
}

#[cfg(loom)]
loom::thread_local! {
    static CURRENT_POOL: Cell<usize> = Cell::new(0);
}

/// Options of a thread pool.
#[derive(Clone, Debug, Default)]
pub struct ThreadPoolOptions {
    /// Prefix of thread names; default `ThreadPoolExecutor-N`.
    pub thread_name_prefix: Option<String>,
    /// Run once in each new thread before any task; a failure breaks the pool.
    pub initializer: Option<Task>,
}

struct State {
    /// `None` once shut down: dropping the sender lets workers drain the queue and exit.
    tx: Option<Sender<Arc<Future>>>,
    broken: Option<String>,
    threads: Vec<JoinHandle<()>>,
    /// How far the one teardown (joining every thread) has got.
    teardown: Teardown,
}

/// The teardown of a shut-down pool: exactly one `shutdown(wait=true)` joins the threads;
/// every other one that waits (concurrent or later) waits for it to finish (BI07).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Teardown {
    /// No waiting shutdown has started joining.
    NotStarted,
    /// A waiting shutdown has taken the threads and is joining them.
    Joining,
    /// Every thread has been joined.
    Joined,
}

struct Shared {
    id: usize,
    max_workers: usize,
    prefix: String,
    initializer: Option<Task>,
    rx: Receiver<Arc<Future>>,
    state: Mutex<State>,
    /// Signalled when the teardown becomes `Joined`.
    torn_down: Condvar,
    /// Threads waiting for work that a submit may count on (CPython's `_idle_semaphore`).
    idle: AtomicUsize,
    /// Threads running done-callbacks, that will count themselves idle once those return.
    finishing: AtomicUsize,
    broken: AtomicBool,
    /// The fork generation the pool was made in (see `executor::fork_generation`).
    fork_gen: usize,
}

/// A thread pool. Dropping it shuts it down and waits for queued work.
pub struct ThreadPool {
    shared: Arc<Shared>,
}

#[cfg(not(loom))]
impl crate::executor::ExitShutdown for Shared {
    fn shutdown_at_exit(&self) {
        let _ = shutdown(self, true, false);
    }
}

impl ThreadPool {
    /// A pool of at most `max_workers` threads (0: `min(32, cpus + 4)`).
    pub fn new(max_workers: usize, opts: ThreadPoolOptions) -> Result<ThreadPool, Error> {
        let max_workers = if max_workers == 0 {
            (crate::cpu_count() + 4).min(32)
        } else {
            max_workers
        };
        let id = POOL_IDS.fetch_add(1, Ordering::Relaxed);
        let prefix = opts
            .thread_name_prefix
            .unwrap_or_else(|| format!("ThreadPoolExecutor-{}", id - 1));
        let (tx, rx) = unbounded();
        let shared = Arc::new(Shared {
            id,
            max_workers,
            prefix,
            initializer: opts.initializer,
            rx,
            state: Mutex::new(State {
                tx: Some(tx),
                broken: None,
                threads: Vec::new(),
                teardown: Teardown::NotStarted,
            }),
            torn_down: Condvar::new(),
            idle: AtomicUsize::new(0),
            finishing: AtomicUsize::new(0),
            broken: AtomicBool::new(false),
            fork_gen: fork_generation(),
        });
        #[cfg(not(loom))]
        {
            let weak: std::sync::Weak<Shared> = Arc::downgrade(&shared);
            register_live(weak);
        }
        Ok(ThreadPool { shared })
    }

    /// The maximum number of threads.
    pub fn max_workers(&self) -> usize {
        self.shared.max_workers
    }

    /// Queues `task` and returns its future (CPython's `submit`).
    pub fn submit(&self, task: Task) -> Result<Arc<Future>, Error> {
        let f = Arc::new(Future::new(Some(task)));
        self.submit_future(&f)?;
        Ok(f)
    }

    /// Queues an already built pending future.
    pub fn submit_future(&self, f: &Arc<Future>) -> Result<(), Error> {
        let sh = &self.shared;
        if sh.fork_gen != fork_generation() {
            return Err(Error::invalid(
                "this executor belongs to the parent process: its threads do not exist in a \
                 process forked from it",
            ));
        }
        let mut st = lock(&sh.state);
        if let Some(msg) = &st.broken {
            return Err(Error::new(Status::Broken, msg.clone()));
        }
        if st.tx.is_none() {
            return Err(Error::new(
                Status::Shutdown,
                "cannot schedule new futures after shutdown",
            ));
        }
        let need_thread = !take_idle_or_finishing(sh) && st.threads.len() < sh.max_workers;
        if need_thread {
            let name = format!("{}_{}", sh.prefix, st.threads.len());
            let worker_shared = Arc::clone(sh);
            let spawned = Builder::new()
                .name(name)
                .spawn(move || worker(worker_shared));
            match spawned {
                Ok(h) => st.threads.push(h),
                Err(e) if st.threads.is_empty() => {
                    return Err(Error::new(
                        Status::NoMemory,
                        format!("cannot start a thread: {e}"),
                    ))
                }
                // Other threads exist and will get to the item.
                Err(_) => {}
            }
        }
        // The receiver lives in `shared`, so the channel cannot be disconnected here.
        match &st.tx {
            Some(tx) => tx
                .send(Arc::clone(f))
                .map_err(|_| Error::new(Status::Internal, "work queue closed")),
            None => Err(Error::new(Status::Internal, "work queue closed")),
        }
    }

    /// CPython's `shutdown(wait, cancel_futures)`.
    ///
    /// Called with `wait` from one of this pool's own threads (a task or a done-callback), it
    /// starts the shutdown, cannot wait for itself, and returns `InvalidArgument` (CPython
    /// raises "cannot join current thread").
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) -> Result<(), Error> {
        shutdown(&self.shared, wait, cancel_futures)
    }

    /// Number of threads started so far.
    pub fn thread_count(&self) -> usize {
        lock(&self.shared.state).threads.len()
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        let _ = shutdown(&self.shared, true, false);
    }
}

fn shutdown(sh: &Shared, wait: bool, cancel_futures: bool) -> Result<(), Error> {
    if sh.fork_gen != fork_generation() {
        // A forked child: the pool's threads do not exist here, and its lock may have been
        // held by one of them at the fork. Touch nothing.
        return Ok(());
    }
    let own_thread = CURRENT_POOL.with(Cell::get) == sh.id;
    let waits = wait && !own_thread;
    let (cancelled, threads) = {
        let mut st = lock(&sh.state);
        let mut cancelled = Vec::new();
        if cancel_futures {
            while let Ok(f) = sh.rx.try_recv() {
                cancelled.push(f);
            }
        }
        st.tx = None;
        // The first waiting shutdown joins the threads; the others wait for it below.
        let threads = if waits && st.teardown == Teardown::NotStarted {
            st.teardown = Teardown::Joining;
            Some(std::mem::take(&mut st.threads))
        } else {
            None
        };
        (cancelled, threads)
    };
    // Cancel outside the pool lock: done-callbacks may call back into the pool.
    for f in cancelled {
        f.cancel();
    }
    // No threads are taken when called from one of the pool's own threads, which cannot join
    // itself.
    if let Some(threads) = threads {
        for h in threads {
            let _ = h.join();
        }
        lock(&sh.state).teardown = Teardown::Joined;
        sh.torn_down.notify_all();
    } else if waits {
        // Another shutdown is joining the threads: return only once it has (CPython's
        // shutdown joins every thread in each caller).
        let mut st = lock(&sh.state);
        while st.teardown != Teardown::Joined {
            st = match sh.torn_down.wait(st) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
    }
    if wait && own_thread {
        return Err(Error::invalid(
            "shutdown(wait=true) called from one of the executor's own threads: it cannot wait \
             for itself; the shutdown has started and the threads exit once the queue is drained",
        ));
    }
    Ok(())
}

/// How long a submit that finds no idle thread waits for one that is finishing its
/// done-callbacks, before it starts a new thread instead.
#[cfg(not(loom))]
const FINISHING_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// Claims an idle thread. With none idle but some finishing their done-callbacks, waits up to
/// `FINISHING_WAIT` for one of them: a caller woken by a callback (Python's binding sets its
/// future there) and submitting at once reuses that thread, as it would with no callbacks,
/// while a callback that blocks (RE09) only delays the new thread by that bound.
fn take_idle_or_finishing(sh: &Shared) -> bool {
    if try_take_idle(&sh.idle) {
        return true;
    }
    #[cfg(not(loom))]
    {
        let start = std::time::Instant::now();
        while sh.finishing.load(Ordering::Acquire) > 0 && start.elapsed() < FINISHING_WAIT {
            std::thread::yield_now();
            if try_take_idle(&sh.idle) {
                return true;
            }
        }
        // A thread may have counted itself idle just before it stopped finishing.
        try_take_idle(&sh.idle)
    }
    #[cfg(loom)]
    false
}

fn try_take_idle(idle: &AtomicUsize) -> bool {
    let mut n = idle.load(Ordering::Acquire);
    while n > 0 {
        match idle.compare_exchange_weak(n, n - 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(v) => n = v,
        }
    }
    false
}

fn recv(rx: &Receiver<Arc<Future>>) -> Option<Arc<Future>> {
    let mut got = None;
    let mut closed = false;
    crate::sync::spin_until(
        || match rx.try_recv() {
            Ok(f) => {
                got = Some(f);
                true
            }
            Err(TryRecvError::Disconnected) => {
                closed = true;
                true
            }
            Err(TryRecvError::Empty) => false,
        },
        IDLE_SPIN,
    );
    if got.is_some() || closed {
        return got;
    }
    rx.recv().ok()
}

fn worker(sh: Arc<Shared>) {
    CURRENT_POOL.with(|c| c.set(sh.id));
    if let Some(init) = &sh.initializer {
        if let Outcome::Failed(_, code, msg) = init.run() {
            let msg = format!(
                "a thread initializer failed (code {code}: {}); the executor is broken",
                msg.to_string_lossy()
            );
            break_pool(&sh, msg);
            return;
        }
    }
    while let Some(f) = recv(&sh.rx) {
        if sh.broken.load(Ordering::Acquire) {
            fail_broken(&sh, &f);
            continue;
        }
        let task = f.set_running();
        let outcome = task.map(|t| t.run());
        let mut counted_idle = false;
        if let Some(outcome) = outcome {
            // Count this thread idle *before* publishing the outcome: a caller that sees the
            // future done and submits again must find this thread idle rather than start
            // another one. Unless the thread is about to run done-callbacks: a submit made
            // while a slow callback runs must start another thread (the pool has room) rather
            // than queue behind it (RE09); the thread counts itself idle after them.
            let mut finishing = false;
            let callbacks = f.set_outcome_deferred_with(outcome, |has_callbacks| {
                if has_callbacks {
                    // A submit that finds no idle thread waits briefly for this one.
                    sh.finishing.fetch_add(1, Ordering::Release);
                    finishing = true;
                } else {
                    sh.idle.fetch_add(1, Ordering::Release);
                    counted_idle = true;
                }
            });
            f.run_callbacks(callbacks);
            if finishing {
                sh.idle.fetch_add(1, Ordering::Release);
                counted_idle = true;
                sh.finishing.fetch_sub(1, Ordering::Release);
            }
        }
        if !counted_idle {
            sh.idle.fetch_add(1, Ordering::Release);
        }
    }
}

fn fail_broken(sh: &Shared, f: &Arc<Future>) {
    let msg = lock(&sh.state)
        .broken
        .clone()
        .unwrap_or_else(|| "the executor is broken".into());
    f.set_failure(FailKind::Broken, 0, msg);
}

/// Marks the pool broken and fails everything queued with `Broken` (CPython's
/// `_initializer_failed`).
fn break_pool(sh: &Shared, msg: String) {
    let queued: Vec<Arc<Future>> = {
        let mut st = lock(&sh.state);
        if st.broken.is_none() {
            st.broken = Some(msg);
        }
        sh.broken.store(true, Ordering::Release);
        sh.rx.try_iter().collect()
    };
    for f in queued {
        fail_broken(sh, &f);
    }
}

//! The process pool (CPython's `ProcessPoolExecutor`, with crash isolation and time limits).
//!
//! One manager thread per pool watches the workers' channels and pidfds (and the fork
//! server's reports), starts and replaces workers, enforces time limits and completes futures.
//! Submitting threads write jobs straight to an idle worker's channel when they can, so a task
//! does not hop through the manager on its way out.
//!
//! A job is one task, or a chunk of `cf_map` items run by one worker in one message. It is
//! pending until its worker claims its slot (see `slots.rs`), running once the worker's
//! `Started` arrives, and done when its `Done` arrives. If its worker dies first, a started job
//! fails with `WorkerDied` (or `Expired` when the pool killed it for its time limit) and jobs
//! sent ahead to that worker go back to the head of the queue.

#[cfg(test)]
mod capped_alloc;
pub mod protocol;
pub mod resolve;
pub mod slots;
pub mod start;
pub(crate) mod transport;
pub mod worker;

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use self::protocol::{FnRef, FrameReader, ItemOutcome, Msg};
use self::slots::SlotTable;
use self::start::{Method, Starter};
use self::transport::{Socket, Transport};
use crate::future::{Bytes, FailKind, Future, Gate, Outcome, State, Task, TaskFn};
use crate::sync::lock;
use crate::{Error, Status};

/// Jobs sent ahead to one worker at most.
const WINDOW: usize = 8;
/// Words of the slot table per worker: its job slots, then its reply bell and its job bell.
const SLOTS_PER_WORKER: usize = 16;
/// Job slots per worker (at least `WINDOW`).
const JOB_SLOTS: usize = SLOTS_PER_WORKER - 2;
/// `reply_ns` before the first reply.
const REPLY_NS_UNKNOWN: u64 = u64::MAX;
/// Waiters spin longer than the default only while replies take at most this long.
const LONG_SPIN_REPLY_NS: u64 = 150_000;
/// Replies slower than this make waiters yield after every pump (see `yielding`).
const YIELD_EACH_PUMP_NS: u64 = 20_000;
/// A waiter spinning for a quick reply yields its CPU at most this often.
const WAITER_YIELD_GAP: Duration = Duration::from_micros(20);
/// The longest a waiter spins.
const MAX_WAITER_SPIN: Duration = Duration::from_micros(200);
/// How long the manager polls without blocking while jobs are in flight.
const MANAGER_SPIN: Duration = Duration::from_micros(20);
/// Time between SIGTERM and SIGKILL for a task that outran its limit.
const KILL_GRACE: Duration = Duration::from_secs(1);
/// A pool whose workers die this many times in a row before becoming ready is broken.
const MAX_START_FAILURES: u32 = 3;

static POOL_IDS: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// The id of the pool whose manager thread this is (0: none).
    static CURRENT_POOL: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Options of a process pool.
#[derive(Clone, Debug)]
pub struct ProcessOptions {
    /// How workers start.
    pub method: Method,
    /// Replace a worker after this many jobs (0: never).
    pub max_tasks_per_child: u64,
    /// Kill a task's worker when the task runs longer than this.
    pub task_timeout: Option<Duration>,
    /// The `cf-worker` program for the spawn method.
    pub worker_path: Option<PathBuf>,
    /// Run once in each worker before any task; a failure breaks the pool.
    pub initializer: Option<Task>,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions {
            method: Method::ForkServer,
            max_tasks_per_child: 0,
            task_timeout: None,
            worker_path: None,
            initializer: None,
        }
    }
}

/// A job: one task, or a chunk of map items.
struct Job {
    id: u64,
    fid: u32,
    /// Its future; a map chunk has one future for all its items, whose result is the chunk's
    /// item records (read by the map iterator).
    future: Arc<Future>,
    chunked: bool,
    n: u32,
    item_len: u64,
    data: JobData,
    /// Where it was sent: worker index and slot (relative to the worker's base).
    at: Option<(u32, u32)>,
    /// When it was written to its worker.
    sent: Stamp,
    started: Stamp,
}

// A million queued jobs are a million `Job`s in the queue: keep it small (see the memory
// scenario of `make bench`).
const _: () = assert!(std::mem::size_of::<Job>() <= 88);

/// A job's argument bytes, kept until the job is done (to be sent again if its worker dies).
///
/// They are only ever copied into a frame, never handed to C in this process, so unlike `Bytes`
/// they need no alignment: 24 bytes, inline up to `JOB_INLINE` (`Bytes` takes 48).
enum JobData {
    Inline(u8, [u8; JOB_INLINE]),
    Heap(Box<[u8]>),
}

const JOB_INLINE: usize = 22;

impl JobData {
    /// A copy of `data`; `None` when the allocation fails.
    fn copy_from(data: &[u8]) -> Option<JobData> {
        if data.len() <= JOB_INLINE {
            let mut buf = [0; JOB_INLINE];
            buf[..data.len()].copy_from_slice(data);
            return Some(JobData::Inline(data.len() as u8, buf));
        }
        let mut v = Vec::new();
        v.try_reserve_exact(data.len()).ok()?;
        v.extend_from_slice(data);
        Some(JobData::Heap(v.into_boxed_slice()))
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            JobData::Inline(n, b) => &b[..*n as usize],
            JobData::Heap(b) => b,
        }
    }
}

/// An optional instant in 8 bytes: nanoseconds since a process-wide epoch, 0 for none (an
/// `Option<Instant>` takes 16, and a million queued jobs carry two each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp(u64);

impl Stamp {
    const NONE: Stamp = Stamp(0);

    fn epoch() -> Instant {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    fn now() -> Stamp {
        let e = Self::epoch();
        Stamp((e.elapsed().as_nanos() as u64).max(1))
    }

    fn get(self) -> Option<Instant> {
        (self.0 != 0).then(|| Self::epoch() + Duration::from_nanos(self.0))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WState {
    /// Forked; no `Ready` yet. It takes jobs already: they wait behind its Setup.
    Starting,
    /// Initialised; takes jobs.
    Ready,
    /// Takes no more jobs (recycled after max_tasks_per_child, or told to exit).
    Retiring,
}

struct Worker {
    pid: i32,
    chan: Box<dyn Transport>,
    /// Its job bell (the slot table and the word's index), rung after writing to it.
    bell: (Arc<SlotTable>, usize),
    pidfd: Option<OwnedFd>,
    state: WState,
    hello: bool,
    /// It sent `Ready` (its state may already be `Retiring`: jobs are sent to a starting
    /// worker, and its last one under max_tasks_per_child can go before `Ready` comes).
    ready: bool,
    reader: FrameReader,
    out: Vec<u8>,
    out_pos: usize,
    inflight: VecDeque<u64>,
    free_slots: Vec<u32>,
    defined: Vec<bool>,
    sent: u64,
    /// Why the pool killed it, if it did: the expired job, or a protocol error.
    expired: Option<u64>,
    garbage: Option<String>,
    /// SIGKILL at this instant if still alive.
    kill_at: Option<Instant>,
}

struct St {
    shutdown: bool,
    broken: Option<String>,
    queue: VecDeque<Job>,
    jobs: HashMap<u64, Job>,
    workers: Vec<Option<Worker>>,
    fns: HashMap<usize, u32>,
    fn_refs: Vec<FnRef>,
    next_job: u64,
    /// Workers that died before becoming ready, in a row.
    start_failures: u32,
    /// Exit sent to every worker (shutting down).
    exit_sent: bool,
}

struct Shared {
    id: usize,
    max_workers: usize,
    opts: ProcessOptions,
    slots: Arc<SlotTable>,
    wake: OwnedFd,
    st: Mutex<St>,
    manager: Mutex<Option<JoinHandle<()>>>,
    fork_gen: usize,
    /// The manager is (about to be) blocked in poll with nothing in flight.
    manager_asleep: std::sync::atomic::AtomicBool,
    /// The sum of the workers' reply bells at the last pump that read their channels.
    rings_seen: std::sync::atomic::AtomicU64,
    /// How long replies take to come back (sent -> done), in nanoseconds: a moving average
    /// that tells waiters how long to keep pumping before they park (see `spin_budget`).
    reply_ns: std::sync::atomic::AtomicU64,
    /// Runs done-callbacks, for the manager and for pumping waiters.
    callbacks: Mutex<CallbackThread>,
    /// The initializer as workers find it, described once at creation.
    init: Option<(FnRef, Bytes)>,
}

/// Where worker place `wi`'s reply bell is in the slot table: right after its job slots, and
/// its job bell right after that (the worker finds them from its Setup the same way).
fn reply_bell(wi: usize) -> usize {
    wi * SLOTS_PER_WORKER + JOB_SLOTS
}

impl Shared {
    /// The sum of the workers' reply bells: it changes when any worker writes.
    fn rings(&self) -> u64 {
        (0..self.max_workers)
            .map(|wi| self.slots.rings(reply_bell(wi)))
            .fold(0u64, u64::wrapping_add)
    }
}

impl crate::future::Pump for Shared {
    /// Called by a thread waiting for one of this pool's futures: reads the replies that have
    /// arrived and completes their futures, so that the waiter does not depend on the manager
    /// thread waking up. Never blocks: if the pool is busy, the manager is at work anyway.
    fn pump(&self) {
        // Nothing written since the last look (the bells are counters in shared memory): no
        // lock, no system call.
        let rings = self.rings();
        if rings == self.rings_seen.load(Ordering::Acquire) {
            return;
        }
        let Ok(mut st) = self.st.try_lock() else {
            return;
        };
        // Counted before reading: replies written after this still change the sum.
        self.rings_seen.store(rings, Ordering::Release);
        let mut done = Done::default();
        for wi in 0..st.workers.len() {
            if st.workers[wi].is_some() {
                read_worker(&mut st, wi, &mut done, false);
            }
        }
        if done.frames > 0 {
            // Anything but results (a worker ready, a job started under a time limit, ...)
            // changes what the manager must do next: wake it to look. So does the last result
            // of a pool shutting down: the manager then tells the workers to exit (SD02).
            let wake = dispatch(self, &mut st);
            let drained = st.shutdown && st.jobs.is_empty() && st.queue.is_empty();
            if wake || done.news || drained {
                poke(self.wake.as_raw_fd());
            }
        }
        drop(st);
        done.record_reply(self);
        done.apply(&self.callbacks);
        run_cancels();
    }

    /// Replies that come back within a few hundred microseconds (short tasks, or an idle
    /// worker waking up) are worth waiting for awake: parking costs two more wake-ups (the
    /// manager's, then the waiter's), each tens of microseconds on an idle machine. Long
    /// tasks get the short default, so a waiter does not take CPU time from the workers.
    fn spin_budget(&self) -> Duration {
        let ns = self.reply_ns.load(Ordering::Relaxed);
        if ns > LONG_SPIN_REPLY_NS {
            return crate::future::RESULT_SPIN;
        }
        Duration::from_nanos(ns + ns / 2)
            .max(crate::future::RESULT_SPIN)
            .min(MAX_WAITER_SPIN)
    }

    /// A reply that takes tens of microseconds usually means the worker was asleep, and the
    /// scheduler tends to wake it on the waiter's CPU (a socket write is a "sync" wake-up): the
    /// waiter then yields after every pump so that the worker runs at once. Quick replies come
    /// from a worker that is awake on another CPU: the waiter yields only now and then (by
    /// time: a pump that finds the bells unchanged costs nanoseconds, one that reads costs
    /// microseconds; yielding every few nanoseconds handed the CPU to the manager thread, which
    /// then took the reply and made the waiter wait for it: 6 us round trips became 11-35 us).
    fn yielding(&self) -> crate::sync::Yield {
        let ns = self.reply_ns.load(Ordering::Relaxed);
        if ns > YIELD_EACH_PUMP_NS && ns != REPLY_NS_UNKNOWN {
            crate::sync::Yield::Every(1)
        } else {
            crate::sync::Yield::After(WAITER_YIELD_GAP)
        }
    }
}

/// A process pool. Dropping it shuts it down and waits for queued work.
pub struct ProcessPool {
    sh: Arc<Shared>,
}

impl crate::executor::ExitShutdown for Shared {
    fn shutdown_at_exit(&self) {
        let _ = shutdown(self, true, false);
    }
}

fn eventfd() -> std::io::Result<OwnedFd> {
    // SAFETY: eventfd returns a new descriptor or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn poke(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writing 8 bytes from a valid u64 to an eventfd.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

impl ProcessPool {
    /// A pool of at most `max_workers` processes (0: one per CPU).
    pub fn new(max_workers: usize, opts: ProcessOptions) -> Result<ProcessPool, Error> {
        let max_workers = if max_workers == 0 {
            crate::cpu_count()
        } else {
            max_workers
        };
        let mut opts = opts;
        if opts.method == Method::Spawn {
            opts.worker_path = Some(start::find_worker_program(opts.worker_path.as_deref())?);
        }
        let sys = |what: &str, e: std::io::Error| {
            Error::new(
                Status::NoMemory,
                format!("cannot create the process pool: {what}: {e}"),
            )
        };
        let slots =
            Arc::new(SlotTable::new(max_workers * SLOTS_PER_WORKER).map_err(|e| sys("memfd", e))?);
        let wake = eventfd().map_err(|e| sys("eventfd", e))?;
        // An initializer that workers could not find fails the creation, not every worker.
        let init = match &opts.initializer {
            Some(t) => Some((
                resolve::describe(t.func as usize, opts.method == Method::Spawn)?,
                t.arg.clone(),
            )),
            None => None,
        };
        let id = POOL_IDS.fetch_add(1, Ordering::Relaxed);
        let sh = Arc::new(Shared {
            id,
            max_workers,
            opts,
            slots,
            wake,
            st: Mutex::new(St {
                shutdown: false,
                broken: None,
                queue: VecDeque::new(),
                jobs: HashMap::new(),
                workers: (0..max_workers).map(|_| None).collect(),
                fns: HashMap::new(),
                fn_refs: Vec::new(),
                next_job: 1,
                start_failures: 0,
                exit_sent: false,
            }),
            manager: Mutex::new(None),
            fork_gen: crate::executor::fork_generation(),
            manager_asleep: std::sync::atomic::AtomicBool::new(false),
            rings_seen: std::sync::atomic::AtomicU64::new(0),
            reply_ns: std::sync::atomic::AtomicU64::new(REPLY_NS_UNKNOWN),
            callbacks: Mutex::new(CallbackThread {
                pool: id,
                tx: None,
                handle: None,
            }),
            init,
        });
        // The manager thread makes the start method (forking the fork server) and reports.
        let (tx, rx) = std::sync::mpsc::channel();
        let msh = Arc::clone(&sh);
        let handle = std::thread::Builder::new()
            .name(format!("cf-process-{}", id - 1))
            .spawn(move || manager(msh, tx))
            .map_err(|e| Error::new(Status::NoMemory, format!("cannot start a thread: {e}")))?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = handle.join();
                return Err(e);
            }
            Err(_) => {
                let _ = handle.join();
                return Err(Error::new(Status::Internal, "the manager thread died"));
            }
        }
        *lock(&sh.manager) = Some(handle);
        let weak: Weak<Shared> = Arc::downgrade(&sh);
        crate::executor::register_live(weak);
        Ok(ProcessPool { sh })
    }

    /// The maximum number of worker processes.
    pub fn max_workers(&self) -> usize {
        self.sh.max_workers
    }

    /// Submits `func(arg)`.
    pub fn submit(&self, func: TaskFn, arg: &[u8]) -> Result<Arc<Future>, Error> {
        let data = JobData::copy_from(arg)
            .ok_or_else(|| Error::new(Status::NoMemory, "out of memory copying the argument"))?;
        let f = Arc::new(self.new_future());
        self.submit_job(func, Arc::clone(&f), false, 1, arg.len() as u64, data)?;
        Ok(f)
    }

    /// Submits `n` items of `item_len` bytes as chunks of `chunksize` items, each chunk one
    /// job and one future whose result is the chunk's item records
    /// (`protocol::read_item`); returns each chunk's future and item count, in order.
    pub fn submit_chunks(
        &self,
        func: TaskFn,
        args: &[u8],
        item_len: usize,
        n: usize,
        chunksize: usize,
    ) -> Result<Vec<(Arc<Future>, u32)>, Error> {
        let chunk = chunksize.clamp(1, u32::MAX as usize);
        let mut all: Vec<(Arc<Future>, u32)> = Vec::new();
        all.try_reserve_exact(n.div_ceil(chunk))
            .map_err(|_| Error::new(Status::NoMemory, "out of memory"))?;
        let mut i = 0;
        while i < n {
            let k = chunk.min(n - i);
            let f = Arc::new(self.new_future());
            let data = JobData::copy_from(&args[i * item_len..(i + k) * item_len])
                .ok_or_else(|| Error::new(Status::NoMemory, "out of memory copying arguments"));
            let submitted = data.and_then(|data| {
                self.submit_job(func, Arc::clone(&f), true, k as u32, item_len as u64, data)
            });
            if let Err(e) = submitted {
                for (f, _) in all.iter().rev() {
                    f.cancel();
                }
                return Err(e);
            }
            all.push((f, k as u32));
            i += k;
        }
        Ok(all)
    }

    /// A pending future whose waiters can read the replies themselves (see `Pump`).
    fn new_future(&self) -> Future {
        let pump: Arc<dyn crate::future::Pump> = self.sh.clone();
        Future::new_driven(pump)
    }

    fn submit_job(
        &self,
        func: TaskFn,
        future: Arc<Future>,
        chunked: bool,
        n: u32,
        item_len: u64,
        data: JobData,
    ) -> Result<(), Error> {
        let sh = &self.sh;
        if sh.fork_gen != crate::executor::fork_generation() {
            return Err(Error::invalid(
                "this executor belongs to the parent process: it cannot be used in a process \
                 forked from it",
            ));
        }
        let mut st = lock(&sh.st);
        if let Some(msg) = &st.broken {
            return Err(Error::new(Status::Broken, msg.clone()));
        }
        if st.shutdown {
            return Err(Error::new(
                Status::Shutdown,
                "cannot schedule new futures after shutdown",
            ));
        }
        let fid = function_id(sh, &mut st, func)?;
        let id = st.next_job;
        st.next_job += 1;
        st.queue.push_back(Job {
            id,
            fid,
            future,
            chunked,
            n,
            item_len,
            data,
            at: None,
            sent: Stamp::NONE,
            started: Stamp::NONE,
        });
        // Wake a manager that sleeps: the reply is then read by a manager already awake
        // (its wake-up overlaps the task instead of following it).
        if dispatch(sh, &mut st) || sh.manager_asleep.load(Ordering::Relaxed) {
            poke(sh.wake.as_raw_fd());
        }
        Ok(())
    }

    /// CPython's `shutdown(wait, cancel_futures)`.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) -> Result<(), Error> {
        shutdown(&self.sh, wait, cancel_futures)
    }

    /// CPython 3.14's `terminate_workers` (`SIGTERM`) and `kill_workers` (`SIGKILL`): shuts
    /// down, cancels what has not started, and signals every worker; running tasks fail with
    /// `WorkerDied`. Returns at once.
    pub fn signal_workers(&self, sig: i32) -> Result<(), Error> {
        let sh = &self.sh;
        let cancelled = {
            let mut st = lock(&sh.st);
            st.shutdown = true;
            let c = take_unstarted(sh, &mut st);
            for w in st.workers.iter().flatten() {
                // SAFETY: signalling our own worker process.
                unsafe { libc::kill(w.pid, sig) };
            }
            c
        };
        for f in cancelled {
            f.cancel();
        }
        poke(sh.wake.as_raw_fd());
        Ok(())
    }

    /// Pids of the live workers (for tests and diagnostics).
    pub fn worker_pids(&self) -> Vec<i32> {
        lock(&self.sh.st)
            .workers
            .iter()
            .flatten()
            .map(|w| w.pid)
            .collect()
    }
}

impl Drop for ProcessPool {
    fn drop(&mut self) {
        let _ = shutdown(&self.sh, true, false);
    }
}

/// The function id of `func` in this pool, describing it on first use.
fn function_id(sh: &Shared, st: &mut St, func: TaskFn) -> Result<u32, Error> {
    let addr = func as usize;
    if let Some(&fid) = st.fns.get(&addr) {
        return Ok(fid);
    }
    let r = resolve::describe(addr, sh.opts.method == Method::Spawn)?;
    let fid = st.fn_refs.len() as u32;
    st.fn_refs.push(r);
    st.fns.insert(addr, fid);
    Ok(fid)
}

/// The futures of every job that has not started: the queued ones (removed from the queue),
/// and those sent ahead whose slot could still be claimed (they stay listed until their
/// worker answers `Skipped`). The caller cancels them outside the lock.
fn take_unstarted(sh: &Shared, st: &mut St) -> Vec<Arc<Future>> {
    let mut out: Vec<Arc<Future>> = st.queue.drain(..).map(|j| j.future).collect();
    for (id, job) in &st.jobs {
        if let (Some((w, slot)), None) = (job.at, job.started.get()) {
            let tok = slots::token(w * SLOTS_PER_WORKER as u32 + slot, *id);
            if crate::future::CancelGate::try_cancel(&*sh.slots, tok) {
                out.push(Arc::clone(&job.future));
            }
        }
    }
    out
}

fn shutdown(sh: &Shared, wait: bool, cancel_futures: bool) -> Result<(), Error> {
    if sh.fork_gen != crate::executor::fork_generation() {
        // A forked child: the manager thread does not exist here, and the pool's lock may
        // have been held at the fork. Touch nothing.
        return Ok(());
    }
    let cancelled = {
        let mut st = lock(&sh.st);
        st.shutdown = true;
        if cancel_futures {
            take_unstarted(sh, &mut st)
        } else {
            Vec::new()
        }
    };
    for f in cancelled {
        f.cancel();
    }
    poke(sh.wake.as_raw_fd());
    if !wait {
        return Ok(());
    }
    if CURRENT_POOL.with(|c| c.get()) == sh.id {
        return Err(Error::invalid(
            "shutdown(wait=true) called from the process pool's own manager thread (a \
             done-callback): it cannot wait for itself; the shutdown has started",
        ));
    }
    // The lock is held through the join: a concurrent waiting shutdown blocks here until the
    // manager has exited, instead of finding no handle and returning before the work is done
    // (BI07). The manager never takes this lock.
    let mut manager = lock(&sh.manager);
    if let Some(h) = manager.take() {
        let _ = h.join();
    }
    Ok(())
}

/// Sends queued jobs to ready workers with room; returns whether the manager must wake (to
/// start workers or to finish writing).
fn dispatch(sh: &Shared, st: &mut St) -> bool {
    let mut wake = false;
    // Send ahead only a fair share: with 6 jobs and 2 workers (one still starting), the ready
    // one gets 3, not all 6.
    let live = st
        .workers
        .iter()
        .flatten()
        .filter(|w| w.state != WState::Retiring)
        .count()
        .max(1);
    let inflight: usize = st.workers.iter().flatten().map(|w| w.inflight.len()).sum();
    let total = st.queue.len() + inflight;
    // Count the workers that will start for this work too: a quick task must not queue behind
    // a blocked one while the pool has room for another worker.
    let will_be = live.max(total.min(sh.max_workers)).max(1);
    let cap = total.div_ceil(will_be).clamp(1, WINDOW);
    while let Some(job) = st.queue.front() {
        // Drop jobs cancelled while queued (a chunk is cancelled as a whole).
        if job.future.state() == State::Cancelled {
            if let Some(job) = st.queue.pop_front() {
                job.future.set_gate(None);
                cancel_later([job.future]);
            }
            continue;
        }
        let best = st
            .workers
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.as_ref().map(|w| (i, w)))
            // A starting worker takes jobs too: they follow its Setup in its channel, so its
            // first job costs no round trip for `Ready` (if its initializer fails, the pool is
            // broken and they fail with it; if it dies first, they are sent elsewhere).
            .filter(|(_, w)| w.state != WState::Retiring && w.inflight.len() < cap)
            .min_by_key(|(_, w)| w.inflight.len())
            .map(|(i, _)| i);
        let Some(wi) = best else { break };
        let Some(mut job) = st.queue.pop_front() else {
            break;
        };
        let max_tasks = sh.opts.max_tasks_per_child;
        let fn_ref = st.fn_refs[job.fid as usize].clone();
        let Some(w) = st.workers[wi].as_mut() else {
            break;
        };
        let Some(slot) = w.free_slots.pop() else {
            st.queue.push_front(job);
            break;
        };
        let global = (wi * SLOTS_PER_WORKER) as u32 + slot;
        sh.slots.arm(global as usize, job.id);
        let gate: Arc<dyn crate::future::CancelGate> = sh.slots.clone();
        let gated = job.future.set_gate(Some(Gate {
            gate,
            token: slots::token(global, job.id),
        }));
        if !gated {
            // Cancelled meanwhile (a map chunk goes as a whole).
            w.free_slots.push(slot);
            cancel_later([job.future]);
            continue;
        }
        if w.defined.len() <= job.fid as usize {
            w.defined.resize(job.fid as usize + 1, false);
        }
        if !w.defined[job.fid as usize] {
            protocol::encode(
                &Msg::Define {
                    fid: job.fid,
                    func: fn_ref,
                },
                &mut w.out,
            );
            w.defined[job.fid as usize] = true;
        }
        protocol::encode_run_header(&mut w.out, job.id, slot, job.fid, job.n, job.item_len);
        // The job keeps its data until it is done, to be sent again if its worker dies.
        w.out.extend_from_slice(job.data.as_slice());
        job.at = Some((wi as u32, slot));
        job.sent = Stamp::now();
        w.inflight.push_back(job.id);
        w.sent += 1;
        if max_tasks > 0 && w.sent >= max_tasks {
            w.state = WState::Retiring;
        }
        st.jobs.insert(job.id, job);
    }
    for w in st.workers.iter_mut().flatten() {
        if w.out_pos < w.out.len() && !flush(w) {
            wake = true;
        }
    }
    wake | needs_worker(sh, st)
}

thread_local! {
    /// Futures to cancel once the pool lock is released.
    static TO_CANCEL: std::cell::RefCell<Vec<Arc<Future>>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn cancel_later(fs: impl IntoIterator<Item = Arc<Future>>) {
    TO_CANCEL.with(|t| t.borrow_mut().extend(fs));
}

fn run_cancels() {
    let fs = TO_CANCEL.with(|t| std::mem::take(&mut *t.borrow_mut()));
    for f in fs {
        f.cancel();
    }
}

/// Whether more workers should start: more jobs than live workers, and room for one.
fn needs_worker(sh: &Shared, st: &St) -> bool {
    if st.shutdown && st.queue.is_empty() {
        return false;
    }
    let live = st
        .workers
        .iter()
        .flatten()
        .filter(|w| w.state != WState::Retiring)
        .count();
    let inflight: usize = st.workers.iter().flatten().map(|w| w.inflight.len()).sum();
    let slots_free = st.workers.iter().any(Option::is_none);
    slots_free && live < sh.max_workers && st.queue.len() + inflight > live
}

/// Writes what a worker's output buffer holds, without blocking. `true` when all is out.
fn flush(w: &mut Worker) -> bool {
    let mut wrote = false;
    let mut all = true;
    while w.out_pos < w.out.len() {
        match w.chan.write(&w.out[w.out_pos..]) {
            Ok(n) => {
                w.out_pos += n;
                wrote |= n > 0;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                all = false;
                break;
            }
            // The worker is gone: its death is seen through its pidfd or the fork server.
            Err(_) => break,
        }
    }
    if wrote {
        w.bell.0.ring(w.bell.1);
    }
    if all {
        w.out.clear();
        w.out_pos = 0;
    }
    all
}

/// Completions gathered under the lock and applied after it is released.
#[derive(Default)]
struct Done {
    outcomes: Vec<(Arc<Future>, Outcome)>,
    /// The latest reply's time from sent to done.
    reply: Option<Duration>,
    /// Frames handled (by a pumping waiter: to know whether the manager must look).
    frames: usize,
    /// Something other than plain results happened (a worker ready, a job started, ...).
    news: bool,
}

impl Done {
    /// Folds the latest reply time into the pool's moving average (weight 1/4).
    fn record_reply(&self, sh: &Shared) {
        if let Some(d) = self.reply {
            let ns = d.as_nanos().min(u64::MAX as u128) as u64;
            let old = sh.reply_ns.load(Ordering::Relaxed);
            let new = if old == REPLY_NS_UNKNOWN {
                ns
            } else {
                old - old / 4 + ns / 4
            };
            sh.reply_ns.store(new, Ordering::Relaxed);
        }
    }

    fn fail(
        &mut self,
        fs: impl IntoIterator<Item = Arc<Future>>,
        kind: FailKind,
        code: i32,
        msg: &str,
    ) {
        for f in fs {
            let o = Outcome::failed(kind, code, msg.to_string());
            self.outcomes.push((f, o));
        }
    }

    /// Completes the futures here (waking their waiters at once); their done-callbacks go to
    /// the pool's callback thread, so a slow callback never delays the manager.
    fn apply(self, callbacks: &Mutex<CallbackThread>) {
        for (f, o) in self.outcomes {
            let cbs = f.set_outcome_deferred(o);
            if !cbs.is_empty() {
                lock(callbacks).run(f, cbs);
            }
        }
    }
}

/// The thread that runs a process pool's done-callbacks, started on first need.
struct CallbackThread {
    pool: usize,
    tx: Option<crossbeam_channel::Sender<(Arc<Future>, Vec<crate::future::Callback>)>>,
    handle: Option<JoinHandle<()>>,
}

impl CallbackThread {
    fn run(&mut self, f: Arc<Future>, cbs: Vec<crate::future::Callback>) {
        if self.tx.is_none() {
            let (tx, rx) =
                crossbeam_channel::unbounded::<(Arc<Future>, Vec<crate::future::Callback>)>();
            let pool = self.pool;
            let spawned = std::thread::Builder::new()
                .name(format!("cf-process-{}-cb", pool - 1))
                .spawn(move || {
                    CURRENT_POOL.with(|c| c.set(pool));
                    for (f, cbs) in rx {
                        f.run_callbacks(cbs);
                    }
                });
            match spawned {
                Ok(h) => {
                    self.tx = Some(tx);
                    self.handle = Some(h);
                }
                // No thread to be had: run them here rather than lose them.
                Err(_) => return f.run_callbacks(cbs),
            }
        }
        if let Some(tx) = &self.tx {
            if let Err(e) = tx.send((f, cbs)) {
                let (f, cbs) = e.into_inner();
                f.run_callbacks(cbs);
            }
        }
    }

    /// Lets the queued callbacks run, then ends the thread. The join happens outside the
    /// lock: a callback may itself complete futures (and so need the lock).
    fn finish(this: &Mutex<CallbackThread>) {
        let handle = {
            let mut t = lock(this);
            t.tx = None;
            t.handle.take()
        };
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

fn describe_status(pid: i32, status: Option<i32>) -> (i32, String) {
    match status {
        Some(s) if libc::WIFSIGNALED(s) => {
            let sig = libc::WTERMSIG(s);
            (
                -sig,
                format!(
                    "worker process {pid} was killed by signal {sig} ({})",
                    signal_name(sig)
                ),
            )
        }
        Some(s) if libc::WIFEXITED(s) => {
            let code = libc::WEXITSTATUS(s);
            (
                code,
                format!("worker process {pid} exited with status {code}"),
            )
        }
        _ => (
            0,
            format!("worker process {pid} died (its exit status was collected elsewhere)"),
        ),
    }
}

fn signal_name(sig: i32) -> String {
    // SAFETY: strsignal returns a pointer to a static or thread-local string.
    let p = unsafe { libc::strsignal(sig) };
    let desc = if p.is_null() {
        String::new()
    } else {
        // SAFETY: a NUL-terminated string from strsignal.
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned()
    };
    let abbrev = match sig {
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGALRM => "SIGALRM",
        _ => "",
    };
    match (abbrev.is_empty(), desc.is_empty()) {
        (false, false) => format!("{abbrev}: {desc}"),
        (false, true) => abbrev.to_string(),
        (true, _) => desc,
    }
}

/// Handles a worker's exit: fails its started job, re-queues the jobs sent ahead.
fn on_exit(sh: &Shared, st: &mut St, wi: usize, status: Option<i32>, done: &mut Done) {
    let Some(w) = st.workers[wi].take() else {
        return;
    };
    let (code, mut desc) = describe_status(w.pid, status);
    if let Some(g) = &w.garbage {
        desc = format!("{desc} after sending a malformed message ({g})");
    }
    if !w.ready {
        st.start_failures += 1;
        if st.start_failures >= MAX_START_FAILURES && st.broken.is_none() {
            let msg = format!(
                "worker processes keep dying before they are ready ({desc}); the process \
                 pool is broken"
            );
            break_pool(st, msg, done);
        }
    }
    let mut requeue = Vec::new();
    for id in w.inflight.iter().copied() {
        let Some(mut job) = st.jobs.remove(&id) else {
            continue;
        };
        let slot = job
            .at
            .map_or(0, |(_, s)| (wi * SLOTS_PER_WORKER) as u32 + s);
        let started = job.started.get().is_some() || sh.slots.is_running(slot as usize, id);
        if w.expired == Some(id) {
            let limit = sh.opts.task_timeout.unwrap_or_default().as_secs_f64();
            let msg = format!(
                "the task outran its time limit of {limit} s; its worker process {} was killed",
                w.pid
            );
            done.fail([job.future], FailKind::Expired, code, &msg);
        } else if started {
            let msg = if job.n > 1 {
                format!("{desc} while running a chunk of {} map items", job.n)
            } else {
                format!("{desc} while running the task")
            };
            done.fail([job.future], FailKind::WorkerDied, code, &msg);
        } else {
            job.future.set_gate(None);
            job.at = None;
            requeue.push(job);
        }
    }
    for job in requeue.into_iter().rev() {
        st.queue.push_front(job);
    }
    // Dropping the worker closes its channel and pidfd (the caller has reaped it).
    drop(w);
}

fn break_pool(st: &mut St, msg: String, done: &mut Done) {
    st.broken = Some(msg.clone());
    st.shutdown = true;
    let queued: Vec<Arc<Future>> = st.queue.drain(..).map(|j| j.future).collect();
    done.fail(queued, FailKind::Broken, 0, &msg);
    let jobs: Vec<Job> = st.jobs.drain().map(|(_, j)| j).collect();
    for j in jobs {
        done.fail([j.future], FailKind::Broken, 0, &msg);
    }
    for w in st.workers.iter_mut().flatten() {
        w.inflight.clear();
        // SAFETY: killing our own worker process.
        unsafe { libc::kill(w.pid, libc::SIGKILL) };
    }
}

/// Handles one message from worker `wi`.
fn on_msg(st: &mut St, wi: usize, msg: Msg, done: &mut Done) -> Result<(), String> {
    let Some(w) = st.workers[wi].as_mut() else {
        return Ok(());
    };
    if !w.hello {
        return match msg {
            Msg::Hello {
                magic,
                version,
                pid,
            } if magic == protocol::MAGIC
                && version == protocol::VERSION
                && pid as i32 == w.pid =>
            {
                w.hello = true;
                Ok(())
            }
            _ => Err("bad hello".into()),
        };
    }
    match msg {
        Msg::Ready if !w.ready => {
            w.ready = true;
            if w.state == WState::Starting {
                w.state = WState::Ready;
            }
            st.start_failures = 0;
        }
        Msg::InitFailed { code, message } => {
            let msg = format!(
                "a worker's initializer failed (code {code}: {message}); the process pool is broken"
            );
            break_pool(st, msg, done);
        }
        Msg::Started { job } => {
            if !w.inflight.contains(&job) {
                return Err(format!("started unknown job {job}"));
            }
            if let Some(j) = st.jobs.get_mut(&job) {
                j.started = Stamp::now();
                j.future.mark_running();
            }
        }
        Msg::Done { job, items } => {
            let j = finish_job(st, wi, job)?;
            done.reply = j.sent.get().map(|t| t.elapsed());
            if items.len() != j.n as usize {
                return Err(format!("{} results for {} items", items.len(), j.n));
            }
            if j.chunked {
                // A map chunk of one item: its future holds item records, as for bigger ones.
                let mut raw = Vec::new();
                protocol::encode_items(&items, &mut raw);
                done.outcomes
                    .push((j.future, Outcome::Ok(Bytes::from_vec_at(raw, 0))));
                return Ok(());
            }
            // A task: one item (checked above).
            if let Some(it) = items.into_iter().next() {
                let o = match it {
                    ItemOutcome::Ok(b) => Outcome::Ok(b),
                    ItemOutcome::Failed(code, m) => Outcome::failed(FailKind::Task, code, m),
                    ItemOutcome::Unresolved(m) => Outcome::failed(FailKind::Invalid, 0, m),
                };
                done.outcomes.push((j.future, o));
            }
        }
        Msg::DoneRaw { job, n, items } => {
            let j = finish_job(st, wi, job)?;
            done.reply = j.sent.get().map(|t| t.elapsed());
            if !j.chunked || j.n != n {
                return Err(format!("{n} results for a job of {} items", j.n));
            }
            done.outcomes.push((j.future, Outcome::Ok(items)));
        }
        Msg::Skipped { job } => {
            let j = finish_job(st, wi, job)?;
            cancel_later([j.future]);
        }
        _ => return Err("unexpected message".into()),
    }
    Ok(())
}

/// Takes job `job` off worker `wi` (which must have it in flight) and frees its slot.
fn finish_job(st: &mut St, wi: usize, job: u64) -> Result<Job, String> {
    let w = st.workers[wi].as_mut().ok_or("no worker")?;
    let pos = w
        .inflight
        .iter()
        .position(|&j| j == job)
        .ok_or_else(|| format!("reply for job {job}, which it was not given"))?;
    w.inflight.remove(pos);
    let j = st
        .jobs
        .remove(&job)
        .ok_or_else(|| format!("unknown job {job}"))?;
    if let Some((_, slot)) = j.at {
        w.free_slots.push(slot);
    }
    Ok(j)
}

/// Reads and handles everything available from worker `wi`.
/// `drain`: read until nothing is left (a dead worker: everything it sent is buffered), else at
/// most a few reads, so that one busy worker cannot starve the others.
fn read_worker(st: &mut St, wi: usize, done: &mut Done, drain: bool) {
    let mut budget = if drain { usize::MAX } else { 8 };
    loop {
        let Some(w) = st.workers[wi].as_mut() else {
            return;
        };
        if w.garbage.is_some() {
            // Killed for a malformed message: nothing it sent after that is trusted (a frame
            // well formed but wrong is consumed before it is found wrong, and what follows
            // would otherwise be taken as its result). Drop what comes until its death is seen.
            // (Bounded: a grandchild holding its channel could write for ever.)
            let mut sink = [0u8; 4096];
            for _ in 0..16 {
                if !matches!(w.chan.read(&mut sink), Ok(n) if n > 0) {
                    break;
                }
            }
            return;
        }
        let room = w.reader.spare().len();
        // A read shorter than the room took all there was: stop after it, without a read that
        // would only say so (the manager's poll, or the reply bell for waiters, tells of more).
        let mut all_read = drain;
        match w.chan.read(w.reader.spare()) {
            Ok(0) => return, // EOF: the death is handled through the pidfd or the fork server
            Ok(n) => {
                w.reader.filled(n);
                all_read = all_read || n < room;
            }
            Err(_) => return, // nothing more now
        }
        loop {
            let Some(w) = st.workers[wi].as_mut() else {
                return;
            };
            let body = match w.reader.next_body() {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(e) => {
                    kill_garbage(w, e.to_string());
                    return;
                }
            };
            done.frames += 1;
            let r = protocol::decode(body)
                .map_err(|e| e.to_string())
                .and_then(|m| {
                    done.news |= !matches!(m, Msg::Done { .. } | Msg::DoneRaw { .. });
                    on_msg(st, wi, m, done)
                });
            if let Err(e) = r {
                if let Some(w) = st.workers[wi].as_mut() {
                    kill_garbage(w, e);
                }
                return;
            }
        }
        budget -= 1;
        if budget == 0 || (all_read && !drain) {
            return;
        }
    }
}

fn kill_garbage(w: &mut Worker, why: String) {
    if w.garbage.is_none() {
        w.garbage = Some(why);
    }
    // SAFETY: killing our own worker process.
    unsafe { libc::kill(w.pid, libc::SIGKILL) };
}

/// Reaps worker `wi` if its pidfd says it exited.
fn reap(sh: &Shared, st: &mut St, wi: usize, done: &mut Done) {
    let Some(w) = st.workers[wi].as_ref() else {
        return;
    };
    let pid = w.pid;
    let mut status = 0;
    // SAFETY: reaping our own child.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    let status = match r {
        0 => return, // not yet
        r if r == pid => Some(status),
        _ => None, // ECHILD: collected elsewhere (SIGCHLD ignored or reaped by the app)
    };
    on_exit(sh, st, wi, status, done);
}

/// Installs a just-started worker at index `wi` and sends it its settings.
fn install_worker(sh: &Shared, st: &mut St, s: start::Started, wi: usize) {
    let mut w = Worker {
        pid: s.pid,
        chan: Box::new(Socket::new(s.chan)),
        bell: (Arc::clone(&sh.slots), reply_bell(wi) + 1),
        pidfd: s.pidfd,
        state: WState::Starting,
        hello: false,
        ready: false,
        reader: FrameReader::default(),
        out: Vec::new(),
        out_pos: 0,
        inflight: VecDeque::new(),
        free_slots: (0..JOB_SLOTS as u32).rev().collect(),
        defined: Vec::new(),
        sent: 0,
        expired: None,
        garbage: None,
        kill_at: None,
    };
    let init = sh.init.clone();
    protocol::encode(
        &Msg::Setup {
            slot_base: (wi * SLOTS_PER_WORKER) as u32,
            slot_count: JOB_SLOTS as u32,
            max_tasks: sh.opts.max_tasks_per_child,
            notify_start: sh.opts.task_timeout.is_some(),
            init,
        },
        &mut w.out,
    );
    flush(&mut w);
    st.workers[wi] = Some(w);
}

/// Handles the fork server's exit reports (including those that arrived while it was asked
/// for a worker); if the server is gone, its workers died with it and the pool is broken.
fn server_exits(sh: &Shared, st: &mut St, starter: &mut Starter, done: &mut Done) {
    let Some(server) = starter.server() else {
        return;
    };
    match server.exits() {
        Some(list) => {
            for (pid, status) in list {
                let wi = st
                    .workers
                    .iter()
                    .position(|w| w.as_ref().is_some_and(|w| w.pid == pid));
                if let Some(wi) = wi {
                    // Everything it sent before exiting is in its channel: read it first, or a
                    // task it finished would be reported as killed with it.
                    read_worker(st, wi, done, true);
                    on_exit(sh, st, wi, Some(status), done);
                }
            }
        }
        None => {
            for wi in 0..st.workers.len() {
                read_worker(st, wi, done, true);
                on_exit(sh, st, wi, None, done);
            }
            if st.broken.is_none() {
                let msg = "the fork server died; the process pool is broken".to_string();
                break_pool(st, msg, done);
            }
            st.exit_sent = true;
        }
    }
}

fn manager(sh: Arc<Shared>, ready: std::sync::mpsc::Sender<Result<(), Error>>) {
    CURRENT_POOL.with(|c| c.set(sh.id));
    let mut starter = match Starter::new(
        sh.opts.method,
        Arc::clone(&sh.slots),
        sh.opts.worker_path.clone(),
    ) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    drop(ready);
    let callbacks = &sh.callbacks;
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut owners: Vec<(usize, u8)> = Vec::new(); // (worker index, 0 chan / 1 pidfd)
    loop {
        let mut done = Done::default();
        let timeout_ms;
        let busy;
        {
            let mut st = lock(&sh.st);
            // Start workers as needed. The pool's lock is released while a process is made
            // (a fork, a posix_spawn or a round trip to the fork server), so that submits go
            // on meanwhile. Only this thread starts workers, so index `wi` stays free; and it must
            // be this long-lived thread: PR_SET_PDEATHSIG binds a worker to the thread that made
            // it (spawning from short-lived helper threads, tried for speed, got workers killed
            // when the helpers exited).
            while needs_worker(&sh, &st) && st.broken.is_none() {
                let Some(wi) = st.workers.iter().position(Option::is_none) else {
                    break;
                };
                drop(st);
                let started = starter.start();
                st = lock(&sh.st);
                let installed = started.map(|s| install_worker(&sh, &mut st, s, wi));
                if let Err(e) = installed {
                    let live = st.workers.iter().flatten().count();
                    if live == 0 {
                        let msg = e.message.to_string();
                        break_pool(&mut st, msg, &mut done);
                    }
                    break;
                }
            }
            // Exit reports that came in while the fork server was asked for workers.
            if starter.server().is_some_and(|s| s.has_pending_exits()) {
                server_exits(&sh, &mut st, &mut starter, &mut done);
            }
            dispatch(&sh, &mut st);
            // Shutting down with nothing left: tell the workers to exit.
            if st.shutdown && st.queue.is_empty() && st.jobs.is_empty() && !st.exit_sent {
                st.exit_sent = true;
                for w in st.workers.iter_mut().flatten() {
                    w.state = WState::Retiring;
                    protocol::encode(&Msg::Exit, &mut w.out);
                    flush(w);
                }
            }
            if st.exit_sent && st.workers.iter().all(Option::is_none) {
                drop(st);
                done.record_reply(&sh);
                done.apply(callbacks);
                run_cancels();
                CallbackThread::finish(callbacks);
                break;
            }
            // Time limits.
            let now = Instant::now();
            let mut next: Option<Instant> = None;
            let limit = sh.opts.task_timeout;
            let St { workers, jobs, .. } = &mut *st;
            for w in workers.iter_mut().flatten() {
                if let Some(at) = w.kill_at {
                    if now >= at {
                        // SAFETY: killing our own worker process.
                        unsafe { libc::kill(w.pid, libc::SIGKILL) };
                        w.kill_at = None;
                    } else {
                        next = Some(next.map_or(at, |n| n.min(at)));
                    }
                }
                let (Some(limit), None) = (limit, w.expired) else {
                    continue;
                };
                let Some(&front) = w.inflight.front() else {
                    continue;
                };
                let Some(job) = jobs.get(&front) else {
                    continue;
                };
                let Some(t0) = job.started.get() else {
                    continue;
                };
                // A limit too far off to represent (a huge task timeout, or times a chunk's
                // items) never expires: checked, as `+` and `*` panic on overflow.
                let Some(deadline) = limit.checked_mul(job.n).and_then(|l| t0.checked_add(l))
                else {
                    continue;
                };
                if now >= deadline {
                    w.expired = Some(front);
                    // SAFETY: signalling our own worker process.
                    unsafe { libc::kill(w.pid, libc::SIGTERM) };
                    let at = now + KILL_GRACE;
                    w.kill_at = Some(at);
                    next = Some(next.map_or(at, |n| n.min(at)));
                } else {
                    next = Some(next.map_or(deadline, |n| n.min(deadline)));
                }
            }
            busy = !st.jobs.is_empty();
            timeout_ms = next.map_or(-1, |t| {
                (t.saturating_duration_since(now).as_millis() as i64 + 1).min(i32::MAX as i64)
                    as i32
            });
            // What to watch.
            fds.clear();
            owners.clear();
            fds.push(libc::pollfd {
                fd: sh.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            owners.push((usize::MAX, 0));
            if let Some(server) = starter.server() {
                fds.push(libc::pollfd {
                    fd: server.fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
                owners.push((usize::MAX, 1));
            }
            for (i, w) in st.workers.iter().enumerate() {
                let Some(w) = w else { continue };
                let mut ev = libc::POLLIN;
                if w.out_pos < w.out.len() {
                    ev |= libc::POLLOUT;
                }
                fds.push(libc::pollfd {
                    fd: w.chan.poll_fd(),
                    events: ev,
                    revents: 0,
                });
                owners.push((i, 0));
                if let Some(p) = &w.pidfd {
                    fds.push(libc::pollfd {
                        fd: p.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    });
                    owners.push((i, 1));
                }
            }
        }
        done.record_reply(&sh);
        done.apply(callbacks);
        run_cancels();
        // Test-only (src/fault.rs): a slow manager (LD02, SD02); nothing when unset.
        crate::fault::manager_turn();
        // With work in flight a reply is likely within microseconds, and waking from a
        // blocking poll costs far more: look a few times without blocking first.
        // The reply bells say when a poll is worth its system call; anything else (a death,
        // a poke) waits for the blocking poll below, at most MANAGER_SPIN later.
        let mut r = 0;
        if busy {
            let mut rings = sh.rings();
            let mut first = true;
            crate::sync::spin_until_yielding(
                || {
                    let now = sh.rings();
                    if !std::mem::take(&mut first) && now == rings {
                        return false;
                    }
                    rings = now;
                    // SAFETY: `fds` is a valid array of pollfds.
                    r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
                    r != 0
                },
                MANAGER_SPIN,
                crate::sync::Yield::After(WAITER_YIELD_GAP),
            );
        }
        if r == 0 {
            sh.manager_asleep.store(!busy, Ordering::Relaxed);
            // SAFETY: `fds` is a valid array of pollfds.
            r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
            sh.manager_asleep.store(false, Ordering::Relaxed);
        }
        if r < 0 {
            continue;
        }
        let mut done = Done::default();
        {
            let mut st = lock(&sh.st);
            for (k, p) in fds.iter().enumerate() {
                if p.revents == 0 {
                    continue;
                }
                match owners[k] {
                    (usize::MAX, 0) => {
                        let mut v = 0u64;
                        // SAFETY: reading 8 bytes into a u64 from our eventfd.
                        unsafe { libc::read(p.fd, (&mut v as *mut u64).cast(), 8) };
                    }
                    (usize::MAX, _) => server_exits(&sh, &mut st, &mut starter, &mut done),
                    (wi, 0) => {
                        if p.revents & libc::POLLOUT != 0 {
                            if let Some(w) = st.workers[wi].as_mut() {
                                flush(w);
                            }
                        }
                        if p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                            read_worker(&mut st, wi, &mut done, false);
                        }
                    }
                    (wi, _) => {
                        // Read everything it sent before dying, then reap it.
                        read_worker(&mut st, wi, &mut done, true);
                        reap(&sh, &mut st, wi, &mut done);
                    }
                }
            }
            dispatch(&sh, &mut st);
        }
        done.record_reply(&sh);
        done.apply(callbacks);
        run_cancels();
    }
}

//! Integration tests of the Rust API (no C compiler involved): the thread pool through
//! `cfutures::executor::Executor` and `cfutures::thread_pool::ThreadPool`, with `extern "C"`
//! task functions written here; futures, `wait`, `as_completed`, `map`, deadlines, `Bytes` and
//! `Out`.
//!
//! Ordering between a test and its tasks goes through gates (Mutex + Condvar); no sleep stands
//! in for synchronisation and nothing asserts on timing. Waits that could hang on a bug use a
//! generous watchdog deadline ([`WATCHDOG`]) and fail instead.
#![cfg(not(loom))]

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use cfutures::executor::{Executor, Kind, MapIter, Options};
use cfutures::ffi::{cf_out_alloc, cf_out_fail, cf_out_set, cf_status};
use cfutures::future::{Outcome, Resolved};
use cfutures::thread_pool::{ThreadPool, ThreadPoolOptions};
use cfutures::wait::{wait, AsCompleted, ReturnWhen};
use cfutures::{Bytes, Deadline, FailKind, Future, Out, State, Status, Task};

/// How long a wait may take before the test calls it a hang (a watchdog, not a timing check).
const WATCHDOG: Duration = Duration::from_secs(60);

fn watchdog() -> Deadline {
    Deadline::after(WATCHDOG)
}

// ---------------------------------------------------------------------------------------------
// Helpers: gates, argument passing, result reading
// ---------------------------------------------------------------------------------------------

/// A one-way gate: tasks block in `pass` until the test calls `open`. Also counts arrivals so
/// the test can wait until a task has started (`wait_arrivals`).
#[derive(Default)]
struct Gate {
    state: Mutex<(bool, usize)>,
    cv: Condvar,
}

impl Gate {
    fn pass(&self) {
        let mut s = self.state.lock().unwrap();
        s.1 += 1;
        self.cv.notify_all();
        while !s.0 {
            s = self.cv.wait(s).unwrap();
        }
    }

    fn open(&self) {
        self.state.lock().unwrap().0 = true;
        self.cv.notify_all();
    }

    /// Blocks until `n` tasks have reached the gate (watchdog: panics after WATCHDOG).
    fn wait_arrivals(&self, n: usize) {
        let start = Instant::now();
        let mut s = self.state.lock().unwrap();
        while s.1 < n {
            assert!(
                start.elapsed() < WATCHDOG,
                "watchdog: tasks never reached the gate"
            );
            s = self.cv.wait_timeout(s, Duration::from_secs(1)).unwrap().0;
        }
    }
}

/// Views a plain `#[repr(C)]` value as its bytes, to pass it as a task argument.
fn as_bytes<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: `T` is a plain `#[repr(C)]` struct of integers and pointers without padding in
    // every use here; reading its bytes is reading initialised memory of the right size.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

/// Reads a task argument as `T` (the argument is 16-byte aligned, checked by `argument_alignment`).
///
/// # Safety
/// `arg` must point at `len` readable bytes that were made by `as_bytes::<T>`.
unsafe fn arg_as<'a, T>(arg: *const c_void, len: usize) -> Option<&'a T> {
    if len != std::mem::size_of::<T>() || (arg as usize) % std::mem::align_of::<T>() != 0 {
        return None;
    }
    Some(&*arg.cast::<T>())
}

/// Sets the task's result through the C entry point, as a C task would.
///
/// # Safety
/// `out` is the live `cf_out` of the running task.
unsafe fn set(out: *mut Out, data: &[u8]) -> c_int {
    match cf_out_set(out.cast(), data.as_ptr().cast(), data.len()) {
        cf_status::CF_OK => 0,
        _ => 99,
    }
}

fn result(f: &Future) -> Vec<u8> {
    assert!(f.wait_done(watchdog()), "watchdog: future never finished");
    f.with_outcome(|r| match r {
        Resolved::Ok(b) => b.to_vec(),
        other => panic!("expected a result, got {other:?}"),
    })
    .unwrap()
}

fn failure(f: &Future) -> (FailKind, c_int, String) {
    assert!(f.wait_done(watchdog()), "watchdog: future never finished");
    f.with_outcome(|r| match r {
        Resolved::Failed(k, c, m) => (k, c, m.to_string_lossy().into_owned()),
        other => panic!("expected a failure, got {other:?}"),
    })
    .unwrap()
}

fn thread_pool(ex: &Executor) -> &ThreadPool {
    match ex {
        Executor::Thread(p) => p,
        Executor::Process(_) => panic!("expected a thread pool"),
    }
}

fn executor(max_workers: usize) -> Executor {
    Executor::new(Kind::Thread, max_workers, Options::default()).unwrap()
}

fn vm_rss_kib() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Task functions
// ---------------------------------------------------------------------------------------------

/// Returns its argument unchanged.
unsafe extern "C" fn echo(arg: *const c_void, len: usize, out: *mut Out) -> c_int {
    let data: &[u8] = if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(arg.cast::<u8>(), len)
    };
    set(out, data)
}

/// Argument: a u64 (native endian); result: its square, as a u64.
unsafe extern "C" fn square(arg: *const c_void, len: usize, out: *mut Out) -> c_int {
    let Some(&x) = arg_as::<u64>(arg, len) else {
        return 1;
    };
    set(out, &(x * x).to_ne_bytes())
}

/// Returns the code in its argument (a c_int) without setting a result.
unsafe extern "C" fn return_code(arg: *const c_void, len: usize, _out: *mut Out) -> c_int {
    arg_as::<c_int>(arg, len).copied().unwrap_or(-1)
}

/// Calls `cf_out_fail` with the NUL-terminated message in its argument (empty: NULL message).
unsafe extern "C" fn fail_with(arg: *const c_void, len: usize, out: *mut Out) -> c_int {
    let bytes = std::slice::from_raw_parts(arg.cast::<u8>(), len);
    let msg = if bytes.len() <= 1 {
        std::ptr::null()
    } else {
        bytes.as_ptr().cast()
    };
    match cf_out_fail(out.cast(), msg) {
        cf_status::CF_OK => 0,
        _ => 99,
    }
}

/// Fills a result buffer of `arg` (u64) bytes in place with `i % 251`.
unsafe extern "C" fn alloc_pattern(arg: *const c_void, len: usize, out: *mut Out) -> c_int {
    let Some(&n) = arg_as::<u64>(arg, len) else {
        return 1;
    };
    let p = cf_out_alloc(out.cast(), n as usize).cast::<u8>();
    if p.is_null() {
        return 2;
    }
    if n > 0 && (p as usize) % 16 != 0 {
        return 3;
    }
    let buf = std::slice::from_raw_parts_mut(p, n as usize);
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    0
}

/// Result: the name of the thread running the task (empty if unnamed).
unsafe extern "C" fn thread_name(_arg: *const c_void, _len: usize, out: *mut Out) -> c_int {
    let t = std::thread::current();
    set(out, t.name().unwrap_or("").as_bytes())
}

/// Result: the argument pointer's address modulo 16, as one byte.
unsafe extern "C" fn arg_alignment(arg: *const c_void, _len: usize, out: *mut Out) -> c_int {
    set(out, &[(arg as usize % 16) as u8])
}

/// Argument for gated tasks: a gate to pass, a run counter, and a value.
#[derive(Clone, Copy)]
#[repr(C)]
struct GatedArg {
    gate: *const Gate,
    runs: *const AtomicUsize,
    value: u64,
    /// Return code: 0 succeeds with `value` as the result; nonzero fails.
    rc: u64,
}

/// Counts the run, passes the gate (if any), then returns `rc` with `value` as the result.
unsafe extern "C" fn gated(arg: *const c_void, len: usize, out: *mut Out) -> c_int {
    let Some(a) = arg_as::<GatedArg>(arg, len) else {
        return -1;
    };
    if !a.runs.is_null() {
        (*a.runs).fetch_add(1, Ordering::SeqCst);
    }
    if !a.gate.is_null() {
        (*a.gate).pass();
    }
    if a.rc != 0 {
        return a.rc as c_int;
    }
    set(out, &a.value.to_ne_bytes())
}

fn gated_arg(gate: Option<&Gate>, runs: Option<&AtomicUsize>, value: u64, rc: u64) -> GatedArg {
    GatedArg {
        gate: gate.map_or(std::ptr::null(), |g| g as *const Gate),
        runs: runs.map_or(std::ptr::null(), |r| r as *const AtomicUsize),
        value,
        rc,
    }
}

fn u64_of(v: &[u8]) -> u64 {
    u64::from_ne_bytes(v.try_into().expect("an 8-byte result"))
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

#[test]
fn results_success_and_failures() {
    let ex = executor(2);
    let small = ex.submit(echo, b"hello").unwrap();
    let big_arg: Vec<u8> = (0..10_000u32).map(|i| (i % 256) as u8).collect();
    let big = ex.submit(echo, &big_arg).unwrap();
    let empty = ex.submit(echo, &[]).unwrap();
    let sq = ex.submit(square, &12345u64.to_ne_bytes()).unwrap();
    let rc = ex
        .submit(return_code, &(42 as c_int).to_ne_bytes())
        .unwrap();
    let failed_msg = ex.submit(fail_with, b"it broke\0").unwrap();
    let failed_null = ex.submit(fail_with, b"\0").unwrap();
    let alloc = ex.submit(alloc_pattern, &100_000u64.to_ne_bytes()).unwrap();
    let alloc0 = ex.submit(alloc_pattern, &0u64.to_ne_bytes()).unwrap();

    assert_eq!(result(&small), b"hello");
    assert_eq!(result(&big), big_arg);
    assert_eq!(result(&empty), b"");
    assert_eq!(u64_of(&result(&sq)), 12345 * 12345);
    assert_eq!(
        failure(&rc),
        (FailKind::Task, 42, "task returned 42".to_string())
    );
    assert_eq!(
        failure(&failed_msg),
        (FailKind::Task, 0, "it broke".to_string())
    );
    assert_eq!(
        failure(&failed_null),
        (FailKind::Task, 0, "task failed".to_string())
    );
    let pattern = result(&alloc);
    assert_eq!(pattern.len(), 100_000);
    assert!(pattern
        .iter()
        .enumerate()
        .all(|(i, &b)| b == (i % 251) as u8));
    assert_eq!(result(&alloc0), b"");

    assert_eq!(small.state(), State::Succeeded);
    assert_eq!(rc.state(), State::Failed);
    // The outcome never changes: reading twice gives the same bytes at the same address.
    let p1 = big.with_outcome(|r| match r {
        Resolved::Ok(b) => b.as_ptr() as usize,
        _ => 0,
    });
    let p2 = big.with_outcome(|r| match r {
        Resolved::Ok(b) => b.as_ptr() as usize,
        _ => 0,
    });
    assert_eq!(p1, p2);
    // Finished futures refuse cancel and a second outcome.
    assert!(!small.cancel());
    assert!(!small.set_result(Bytes::copy_from(b"other").unwrap()));
    assert_eq!(result(&small), b"hello");
    ex.shutdown(true, false).unwrap();
}

/// Task arguments are 16-byte aligned, inline (small) or on the heap (large).
#[test]
fn argument_alignment() {
    let ex = executor(2);
    let fs: Vec<_> = [1usize, 7, 16, 31, 32, 33, 64, 1000, 1 << 20]
        .iter()
        .map(|&n| ex.submit(arg_alignment, &vec![0xAB; n]).unwrap())
        .collect();
    for f in &fs {
        assert_eq!(result(f), [0], "a task argument was not 16-byte aligned");
    }
}

// ---------------------------------------------------------------------------------------------
// Threads: lazy start, reuse, names
// ---------------------------------------------------------------------------------------------

/// Sequential submit + wait on a max_workers=4 pool never needs a second thread: the one
/// thread is idle again whenever the caller sees its future done. Many rounds, because a race
/// between "future done" and "thread counted idle" shows up only once in a few thousand.
#[test]
fn threads_start_lazily_and_idle_ones_are_reused() {
    let pool = ThreadPool::new(4, ThreadPoolOptions::default()).unwrap();
    assert_eq!(pool.max_workers(), 4);
    assert_eq!(pool.thread_count(), 0, "a thread started before any submit");
    for i in 0..100_000u64 {
        let f = pool
            .submit(Task {
                func: square,
                arg: Bytes::copy_from(&i.to_ne_bytes()).unwrap(),
            })
            .unwrap();
        assert!(f.wait_done(watchdog()), "watchdog: future never finished");
        if i < 1000 {
            assert_eq!(u64_of(&result(&f)), i * i);
        }
        assert_eq!(
            pool.thread_count(),
            1,
            "sequential submit+wait started a second thread at item {i} although the first \
             one had finished its work"
        );
    }
}

#[test]
fn threads_start_up_to_max_workers_when_busy() {
    let ex = executor(3);
    let gate = Gate::default();
    let fs: Vec<_> = (0..6)
        .map(|i| {
            ex.submit(gated, as_bytes(&gated_arg(Some(&gate), None, i, 0)))
                .unwrap()
        })
        .collect();
    gate.wait_arrivals(3);
    assert_eq!(thread_pool(&ex).thread_count(), 3);
    gate.open();
    for (i, f) in fs.iter().enumerate() {
        assert_eq!(u64_of(&result(f)), i as u64);
    }
    assert_eq!(
        thread_pool(&ex).thread_count(),
        3,
        "more threads than max_workers"
    );
}

#[test]
fn thread_names_carry_the_prefix() {
    let ex = Executor::new(
        Kind::Thread,
        2,
        Options {
            thread_name_prefix: Some("cf-test-worker".into()),
            ..Options::default()
        },
    )
    .unwrap();
    let name = String::from_utf8(result(&ex.submit(thread_name, &[]).unwrap())).unwrap();
    assert_eq!(name, "cf-test-worker_0");

    // Default prefix: CPython's "ThreadPoolExecutor-N_M".
    let ex = executor(1);
    let name = String::from_utf8(result(&ex.submit(thread_name, &[]).unwrap())).unwrap();
    assert!(name.starts_with("ThreadPoolExecutor-"), "{name}");
    assert!(name.ends_with("_0"), "{name}");
}

// ---------------------------------------------------------------------------------------------
// Waiters
// ---------------------------------------------------------------------------------------------

/// LD09: a million polls of one pending future leave no waiter and no memory behind; so do
/// many short timed waits (which do install a waiter and must remove it), from two threads at
/// once on the same future.
#[test]
fn repeated_timed_out_waits_leave_no_waiter() {
    let f = Arc::new(Future::new(None));
    let rss_before = vm_rss_kib();
    for _ in 0..1_000_000 {
        let r = wait(
            &[&f],
            Deadline::At(Instant::now()),
            ReturnWhen::AllCompleted,
            None,
        );
        assert!(!r.satisfied);
        assert_eq!(r.n_done, 0);
    }
    assert_eq!(f.waiter_count(), 0);

    // Short deadlines: these get past the spin phase and install a waiter before timing out.
    let g = Arc::new(Future::new(None));
    let timed = |fut: &Future| {
        for _ in 0..20_000 {
            let r = wait(
                &[fut, &g],
                Deadline::after(Duration::from_micros(2)),
                ReturnWhen::FirstCompleted,
                None,
            );
            assert!(!r.satisfied);
        }
    };
    std::thread::scope(|s| {
        s.spawn(|| timed(&f));
        timed(&f);
    });
    assert_eq!(
        f.waiter_count(),
        0,
        "a timed-out wait left its waiter installed"
    );
    assert_eq!(
        g.waiter_count(),
        0,
        "a timed-out wait left its waiter installed"
    );
    let grown = vm_rss_kib().saturating_sub(rss_before);
    // A leaked waiter is ~100 bytes: a leak in the million-poll loop alone would be ~100 MiB.
    assert!(
        grown < 32 * 1024,
        "memory grew by {grown} KiB over the waits"
    );

    // The future still works afterwards.
    assert!(f.set_result(Bytes::copy_from(b"x").unwrap()));
    let r = wait(
        &[&f],
        Deadline::At(Instant::now()),
        ReturnWhen::AllCompleted,
        None,
    );
    assert!(r.satisfied);
}

#[test]
fn wait_semantics_on_a_pool() {
    let ex = executor(2);
    let gate = Gate::default();
    let slow = ex
        .submit(gated, as_bytes(&gated_arg(Some(&gate), None, 1, 0)))
        .unwrap();
    let quick = ex.submit(echo, b"q").unwrap();
    let failing = ex.submit(return_code, &(5 as c_int).to_ne_bytes()).unwrap();
    assert_eq!(result(&quick), b"q");
    failure(&failing);

    let mut done = [false; 4];
    let r = wait(
        &[&slow, &quick, &failing, &quick],
        watchdog(),
        ReturnWhen::FirstCompleted,
        Some(&mut done),
    );
    assert!(r.satisfied);
    assert_eq!(r.n_done, 2, "duplicates count once");
    assert_eq!(done, [false, true, true, true]);

    let r = wait(
        &[&slow, &failing],
        watchdog(),
        ReturnWhen::FirstException,
        None,
    );
    assert!(r.satisfied);
    let r = wait(
        &[&slow, &quick],
        Deadline::At(Instant::now()),
        ReturnWhen::FirstException,
        None,
    );
    assert!(
        !r.satisfied,
        "FIRST_EXCEPTION with no failure is ALL_COMPLETED"
    );
    let r = wait(
        &[&slow, &quick],
        Deadline::At(Instant::now()),
        ReturnWhen::AllCompleted,
        None,
    );
    assert!(!r.satisfied);
    assert_eq!(r.n_done, 1);
    let r = wait(
        &[],
        Deadline::At(Instant::now()),
        ReturnWhen::AllCompleted,
        None,
    );
    assert!(r.satisfied, "zero futures: satisfied at once");

    gate.open();
    let r = wait(
        &[&slow, &quick, &failing],
        watchdog(),
        ReturnWhen::AllCompleted,
        None,
    );
    assert!(r.satisfied);
    assert_eq!(r.n_done, 3);
    for f in [&slow, &quick, &failing] {
        assert_eq!(f.waiter_count(), 0);
    }
}

/// A cancel of a queued item wakes a FIRST_COMPLETED wait at once (cpython#92001), and the
/// task never runs.
#[test]
fn cancel_of_queued_item_wakes_wait() {
    let ex = executor(1);
    let gate = Gate::default();
    let runs = AtomicUsize::new(0);
    let blocker = ex
        .submit(gated, as_bytes(&gated_arg(Some(&gate), None, 0, 0)))
        .unwrap();
    gate.wait_arrivals(1);
    let queued = ex
        .submit(gated, as_bytes(&gated_arg(None, Some(&runs), 0, 0)))
        .unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| wait(&[&*queued], watchdog(), ReturnWhen::FirstCompleted, None));
        assert!(queued.cancel());
        let r = waiter.join().unwrap();
        assert!(r.satisfied);
    });
    assert_eq!(queued.state(), State::Cancelled);
    assert!(queued.with_outcome(|r| r == Resolved::Cancelled).unwrap());
    assert!(!blocker.cancel(), "a running future cannot be cancelled");
    gate.open();
    result(&blocker);
    ex.shutdown(true, false).unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 0, "a cancelled task ran");
}

#[test]
fn as_completed_on_a_pool() {
    let ex = executor(2);
    let gate = Gate::default();
    let done_first = ex.submit(echo, b"a").unwrap();
    result(&done_first);
    let slow = ex
        .submit(gated, as_bytes(&gated_arg(Some(&gate), None, 7, 0)))
        .unwrap();
    let mut it = AsCompleted::new(
        vec![
            Arc::clone(&slow),
            Arc::clone(&done_first),
            Arc::clone(&slow),
        ],
        watchdog(),
    );
    assert_eq!(it.remaining(), 2);
    let (f, i) = it.next_completed().unwrap();
    assert!(Arc::ptr_eq(&f, &done_first));
    assert_eq!(i, 1);
    gate.open();
    let (f, i) = it.next_completed().unwrap();
    assert!(Arc::ptr_eq(&f, &slow));
    assert_eq!(i, 0, "the first index of a duplicate");
    assert_eq!(it.next_completed().unwrap_err().status, Status::Done);
    drop(it);
    assert_eq!(slow.waiter_count(), 0);

    // A deadline that has passed: done futures still come out, then Timeout.
    let gate2 = Gate::default();
    let pending = ex
        .submit(gated, as_bytes(&gated_arg(Some(&gate2), None, 0, 0)))
        .unwrap();
    let mut it = AsCompleted::new(
        vec![Arc::clone(&pending), Arc::clone(&done_first)],
        Deadline::At(Instant::now()),
    );
    assert_eq!(it.next_completed().unwrap().1, 1);
    let e = it.next_completed().unwrap_err();
    assert_eq!(e.status, Status::Timeout);
    assert!(
        e.message.contains("1 (of 2) futures unfinished"),
        "{}",
        e.message
    );
    drop(it);
    assert_eq!(
        pending.waiter_count(),
        0,
        "dropping the iterator left a waiter"
    );
    gate2.open();
    result(&pending);
}

// ---------------------------------------------------------------------------------------------
// Deadlines
// ---------------------------------------------------------------------------------------------

#[test]
fn deadline_from_timeout() {
    let e = Deadline::from_timeout(f64::NAN).unwrap_err();
    assert_eq!(e.status, Status::InvalidArgument);
    assert!(Deadline::from_timeout(-f64::NAN).is_err());
    for forever in [
        -1.0,
        -0.5,
        -1e-300,
        f64::NEG_INFINITY,
        f64::INFINITY,
        1e300,
        f64::MAX,
        1e19, // fits a Duration, but not the clock: never an overflow
    ] {
        assert_eq!(
            Deadline::from_timeout(forever),
            Ok(Deadline::Forever),
            "timeout {forever}"
        );
    }
    let zero = Deadline::from_timeout(0.0).unwrap();
    assert!(matches!(zero, Deadline::At(_)));
    assert!(zero.expired());
    assert_eq!(zero.remaining(), Some(Duration::ZERO));
    // The smallest subnormal rounds to zero: a poll, without a panic.
    let tiny = Deadline::from_timeout(5e-324).unwrap();
    assert!(matches!(tiny, Deadline::At(_)));
    assert!(tiny.expired());
    // Small but nonzero: no panic, a finite deadline.
    assert!(matches!(
        Deadline::from_timeout(1e-9).unwrap(),
        Deadline::At(_)
    ));
    // Long but representable: finite and not expired.
    let long = Deadline::from_timeout(1e9).unwrap();
    assert!(matches!(long, Deadline::At(_)));
    assert!(!long.expired());
    assert_eq!(Deadline::Forever.remaining(), None);
    assert!(!Deadline::Forever.expired());
    assert_eq!(Deadline::after(Duration::MAX), Deadline::Forever);

    // A zero timeout on a pending future: Timeout at once, the future unchanged (TO04).
    let f = Future::new(None);
    assert!(!f.wait_done(Deadline::from_timeout(0.0).unwrap()));
    assert!(!f.wait_done(Deadline::from_timeout(5e-324).unwrap()));
    assert_eq!(f.state(), State::Pending);
}

// ---------------------------------------------------------------------------------------------
// Bytes and Out
// ---------------------------------------------------------------------------------------------

#[test]
fn bytes_inline_and_heap() {
    for n in [0usize, 1, 15, 16, 31, 32, 33, 48, 100, 4096, 1 << 20] {
        let data: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
        let b = Bytes::copy_from(&data).unwrap();
        assert_eq!(b.len(), n);
        assert_eq!(b.is_empty(), n == 0);
        assert_eq!(b.as_slice(), &data[..]);
        assert_eq!(
            b.as_slice().as_ptr() as usize % 16,
            0,
            "len {n}: not 16-byte aligned"
        );
        assert_ne!(b.as_slice().as_ptr(), data.as_ptr(), "copy_from must copy");

        // A clone is an independent copy.
        let mut c = b.clone();
        assert_eq!(c.as_slice(), b.as_slice());
        assert_eq!(c.as_slice().as_ptr() as usize % 16, 0);
        if n > 0 {
            assert_ne!(c.as_slice().as_ptr(), b.as_slice().as_ptr());
            c.as_mut_slice()[0] ^= 0xFF;
            assert_ne!(c.as_slice()[0], b.as_slice()[0], "a clone shares storage");
        }
        // Moving keeps the alignment too (the inline buffer moves with the value).
        let moved = vec![b.clone(), b];
        for m in &moved {
            assert_eq!(m.as_slice().as_ptr() as usize % 16, 0);
            assert_eq!(m.as_slice(), &data[..]);
        }

        let z = Bytes::zeroed(n).unwrap();
        assert_eq!(z.len(), n);
        assert!(z.as_slice().iter().all(|&x| x == 0));
        assert_eq!(z.as_slice().as_ptr() as usize % 16, 0);
    }
    assert!(Bytes::empty().is_empty());
    assert_eq!(Bytes::empty().as_slice(), b"");
    // An impossible size fails cleanly instead of aborting.
    assert!(Bytes::zeroed(usize::MAX).is_none());
}

#[test]
fn out_finish_mapping() {
    fn failed(o: Outcome) -> (FailKind, c_int, String) {
        match o {
            Outcome::Failed(k, c, m) => (k, c, m.to_string_lossy().into_owned()),
            Outcome::Ok(b) => panic!("expected a failure, got {} bytes", b.len()),
        }
    }
    fn ok(o: Outcome) -> Vec<u8> {
        match o {
            Outcome::Ok(b) => b.as_slice().to_vec(),
            Outcome::Failed(_, c, m) => panic!("expected success, got {c} {m:?}"),
        }
    }

    assert_eq!(ok(Out::default().finish(0)), b"");
    let mut out = Out::default();
    assert!(out.set(b"first"));
    assert!(out.set(b"second"));
    assert_eq!(ok(out.finish(0)), b"second", "the last set wins");
    let mut out = Out::default();
    out.alloc(3).unwrap().copy_from_slice(b"abc");
    assert_eq!(ok(out.finish(0)), b"abc");

    assert_eq!(
        failed(Out::default().finish(3)),
        (FailKind::Task, 3, "task returned 3".into())
    );
    assert_eq!(
        failed(Out::default().finish(-1)),
        (FailKind::Task, -1, "task returned -1".into())
    );
    let mut out = Out::default();
    assert!(out.set(b"ignored"));
    assert_eq!(
        failed(out.finish(7)),
        (FailKind::Task, 7, "task returned 7".into()),
        "a nonzero return fails even with a result set"
    );
    let mut out = Out::default();
    out.fail(None);
    assert_eq!(
        failed(out.finish(0)),
        (FailKind::Task, 0, "task failed".into())
    );
    let mut out = Out::default();
    out.fail(Some(c"custom".to_owned()));
    assert_eq!(failed(out.finish(0)), (FailKind::Task, 0, "custom".into()));
    let mut out = Out::default();
    out.fail(Some(c"custom".to_owned()));
    assert_eq!(
        failed(out.finish(9)),
        (FailKind::Task, 9, "custom".into()),
        "the code is the return value, the message the one given to fail"
    );
    let mut out = Out::default();
    assert!(out.set(b"r"));
    out.fail(None);
    assert_eq!(
        failed(out.finish(0)),
        (FailKind::Task, 0, "task failed".into()),
        "fail wins over a result"
    );
    // Outcome::failed replaces interior NULs instead of failing.
    let (_, _, m) = failed(Outcome::failed(FailKind::WorkerDied, -9, "a\0b".into()));
    assert_eq!(m, "a\u{fffd}b");
}

// ---------------------------------------------------------------------------------------------
// Shutdown and drop
// ---------------------------------------------------------------------------------------------

/// Argument of `shutdown_own_pool`: the pool to shut down.
#[derive(Clone, Copy)]
#[repr(C)]
struct PoolArg {
    pool: *const ThreadPool,
}

/// Calls `shutdown(wait=true)` on its own pool; the result is the status as one byte.
unsafe extern "C" fn shutdown_own_pool(arg: *const c_void, len: usize, out: *mut Out) -> c_int {
    let Some(a) = arg_as::<PoolArg>(arg, len) else {
        return -1;
    };
    let status = match (*a.pool).shutdown(true, false) {
        Ok(()) => Status::Ok,
        Err(e) => e.status,
    };
    set(out, &[status as u8])
}

/// RE06: `shutdown(wait=true)` from inside one of the pool's own tasks returns
/// InvalidArgument instead of joining itself; the shutdown still takes effect.
#[test]
fn shutdown_from_a_pool_task_does_not_deadlock() {
    let pool = ThreadPool::new(2, ThreadPoolOptions::default()).unwrap();
    let arg = PoolArg { pool: &pool };
    let before = pool
        .submit(Task {
            func: echo,
            arg: Bytes::copy_from(b"queued before").unwrap(),
        })
        .unwrap();
    let f = pool
        .submit(Task {
            func: shutdown_own_pool,
            arg: Bytes::copy_from(as_bytes(&arg)).unwrap(),
        })
        .unwrap();
    assert_eq!(result(&f), [Status::InvalidArgument as u8]);
    assert_eq!(result(&before), b"queued before");
    let e = pool
        .submit(Task {
            func: echo,
            arg: Bytes::empty(),
        })
        .unwrap_err();
    assert_eq!(e.status, Status::Shutdown);
    // From outside, shutdown(wait=true) now joins the threads (the one that called shutdown
    // on itself included).
    pool.shutdown(true, false).unwrap();
    pool.shutdown(true, false).unwrap();
}

/// RE05: `shutdown(wait=true)` from a done-callback run on a pool thread.
#[test]
fn shutdown_from_a_done_callback_on_a_pool_thread() {
    let pool = Arc::new(ThreadPool::new(1, ThreadPoolOptions::default()).unwrap());
    let gate = Gate::default();
    let f = pool
        .submit(Task {
            func: gated,
            arg: Bytes::copy_from(as_bytes(&gated_arg(Some(&gate), None, 1, 0))).unwrap(),
        })
        .unwrap();
    gate.wait_arrivals(1);
    let status: Arc<Mutex<Option<(Status, bool)>>> = Arc::default();
    {
        let (pool, status) = (Arc::clone(&pool), Arc::clone(&status));
        // Added while the task is running: it runs on the pool thread that completes it.
        f.add_done_callback(Box::new(move |_| {
            let on_pool = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("ThreadPoolExecutor-"));
            let s = match pool.shutdown(true, false) {
                Ok(()) => Status::Ok,
                Err(e) => e.status,
            };
            *status.lock().unwrap() = Some((s, on_pool));
        }));
    }
    gate.open();
    result(&f);
    // The callback runs after waiters are woken: wait for it through the pool's shutdown
    // from this thread, which joins the worker.
    pool.shutdown(true, false).unwrap();
    assert_eq!(
        *status.lock().unwrap(),
        Some((Status::InvalidArgument, true)),
        "shutdown from a callback on the pool's own thread"
    );
}

/// SD07/SD01: dropping a pool finishes its queued work first.
#[test]
fn drop_waits_for_queued_work() {
    let pool = ThreadPool::new(1, ThreadPoolOptions::default()).unwrap();
    let gate = Gate::default();
    let runs = AtomicUsize::new(0);
    let mut fs = vec![pool
        .submit(Task {
            func: gated,
            arg: Bytes::copy_from(as_bytes(&gated_arg(Some(&gate), Some(&runs), 0, 0))).unwrap(),
        })
        .unwrap()];
    for i in 1..=20 {
        fs.push(
            pool.submit(Task {
                func: gated,
                arg: Bytes::copy_from(as_bytes(&gated_arg(None, Some(&runs), i, 0))).unwrap(),
            })
            .unwrap(),
        );
    }
    gate.wait_arrivals(1);
    std::thread::scope(|s| {
        let dropper = s.spawn(move || drop(pool));
        gate.open();
        dropper.join().unwrap();
        // Drop has returned: everything queued has run, without waiting on the futures.
        assert_eq!(runs.load(Ordering::SeqCst), 21);
        for (i, f) in fs.iter().enumerate() {
            assert_eq!(
                f.state(),
                State::Succeeded,
                "item {i} not finished when drop returned"
            );
        }
    });
    for (i, f) in fs.iter().enumerate() {
        assert_eq!(u64_of(&result(f)), i as u64);
    }
}

/// TO14: shutdown(wait=false, cancel_futures=true) cancels what is queued; the running task
/// finishes; submit then gives Shutdown.
#[test]
fn shutdown_cancel_futures() {
    let ex = executor(1);
    let gate = Gate::default();
    let runs = AtomicUsize::new(0);
    let running = ex
        .submit(gated, as_bytes(&gated_arg(Some(&gate), None, 1, 0)))
        .unwrap();
    gate.wait_arrivals(1);
    let queued: Vec<_> = (0..50)
        .map(|i| {
            ex.submit(gated, as_bytes(&gated_arg(None, Some(&runs), i, 0)))
                .unwrap()
        })
        .collect();
    ex.shutdown(false, true).unwrap();
    for f in &queued {
        assert_eq!(f.state(), State::Cancelled);
    }
    assert_eq!(ex.submit(echo, b"").unwrap_err().status, Status::Shutdown);
    gate.open();
    assert_eq!(u64_of(&result(&running)), 1);
    ex.shutdown(true, false).unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 0);
}

/// BI07: eight threads call `shutdown(wait=true)` at once while the pool's only thread is held
/// by a gated task and work is queued. Exactly one of them joins the thread; every one returns
/// `Ok` only once all the work has run (CPython joins in every caller). The deterministic
/// version (callers seen parked before the gate opens) is test_shutdown.c; the exhaustive one
/// is the loom model `pool_two_shutdowns_wait_for_one_teardown`.
#[test]
fn concurrent_shutdowns_all_wait_for_the_teardown() {
    let gate = Gate::default();
    let runs = AtomicUsize::new(0);
    let pool = ThreadPool::new(1, ThreadPoolOptions::default()).unwrap();
    let task = |g: Option<&Gate>, i| Task {
        func: gated,
        arg: Bytes::copy_from(as_bytes(&gated_arg(g, Some(&runs), i, 0))).unwrap(),
    };
    let mut fs = vec![pool.submit(task(Some(&gate), 0)).unwrap()];
    for i in 1..=10 {
        fs.push(pool.submit(task(None, i)).unwrap());
    }
    gate.wait_arrivals(1);
    let start = std::sync::Barrier::new(9);
    std::thread::scope(|s| {
        let callers: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    pool.shutdown(true, false).unwrap();
                    (runs.load(Ordering::SeqCst), fs.iter().all(|f| f.is_done()))
                })
            })
            .collect();
        start.wait();
        gate.open();
        for c in callers {
            assert_eq!(
                c.join().unwrap(),
                (11, true),
                "a shutdown(wait=true) returned before the work was done"
            );
        }
    });
    assert_eq!(pool.thread_count(), 0);
    pool.shutdown(true, true).unwrap();
}

/// RE09 (thread side): a worker blocked in a done-callback is not counted idle: a single
/// submit made meanwhile starts a second thread (the pool has room) instead of queueing behind
/// the callback. Deterministic: the callback stays blocked until the new task is done.
#[test]
fn a_worker_running_callbacks_is_not_counted_idle() {
    let task_gate = Gate::default();
    let cb_gate = Arc::new(Gate::default());
    let pool = ThreadPool::new(2, ThreadPoolOptions::default()).unwrap();
    let f = pool
        .submit(Task {
            func: gated,
            arg: Bytes::copy_from(as_bytes(&gated_arg(Some(&task_gate), None, 1, 0))).unwrap(),
        })
        .unwrap();
    task_gate.wait_arrivals(1);
    {
        let cb_gate = Arc::clone(&cb_gate);
        f.add_done_callback(Box::new(move |_| cb_gate.pass()));
    }
    task_gate.open();
    cb_gate.wait_arrivals(1);
    // The future is done for waiters although its callback is still running.
    assert_eq!(u64_of(&result(&f)), 1);
    let g = pool
        .submit(Task {
            func: gated,
            arg: Bytes::copy_from(as_bytes(&gated_arg(None, None, 7, 0))).unwrap(),
        })
        .unwrap();
    let finished = g.wait_done(watchdog());
    // Release the callback first, so that a failure below cannot hang the pool's drop.
    cb_gate.open();
    assert!(
        finished,
        "a task submitted while a done-callback blocked waited behind it"
    );
    assert_eq!(u64_of(&result(&g)), 7);
    assert_eq!(pool.thread_count(), 2);
    pool.shutdown(true, false).unwrap();
}

// ---------------------------------------------------------------------------------------------
// map
// ---------------------------------------------------------------------------------------------

/// Argument of `ordered_item`: item `index` of `n`; item 0 waits until all others finished,
/// so completion order is the reverse of input order for the first item.
#[derive(Clone, Copy)]
#[repr(C)]
struct OrderArg {
    ctx: *const OrderCtx,
    index: u64,
}

struct OrderCtx {
    finished: Mutex<usize>,
    cv: Condvar,
    n: usize,
}

unsafe extern "C" fn ordered_item(arg: *const c_void, len: usize, out: *mut Out) -> c_int {
    let Some(a) = arg_as::<OrderArg>(arg, len) else {
        return -1;
    };
    let ctx = &*a.ctx;
    let mut finished = ctx.finished.lock().unwrap();
    if a.index == 0 {
        // Item 0 finishes last: wait for the others (they run on the other workers).
        while *finished < ctx.n - 1 {
            finished = ctx.cv.wait(finished).unwrap();
        }
    }
    *finished += 1;
    ctx.cv.notify_all();
    drop(finished);
    set(out, &(a.index * 10).to_ne_bytes())
}

fn map_results(it: &mut MapIter) -> Vec<Result<u64, Status>> {
    let mut v = Vec::new();
    loop {
        match it.next_done() {
            Ok(f) => v.push(match f.state() {
                State::Succeeded => Ok(u64_of(&result(&f))),
                s => Err(match s {
                    State::Cancelled => Status::Cancelled,
                    _ => Status::TaskFailed,
                }),
            }),
            Err(e) if e.status == Status::Done => return v,
            Err(e) => v.push(Err(e.status)),
        }
    }
}

#[test]
fn map_gives_results_in_input_order() {
    let n = 4;
    let ex = executor(n);
    let ctx = OrderCtx {
        finished: Mutex::new(0),
        cv: Condvar::new(),
        n,
    };
    let args: Vec<u8> = (0..n as u64)
        .flat_map(|i| {
            as_bytes(&OrderArg {
                ctx: &ctx,
                index: i,
            })
            .to_vec()
        })
        .collect();
    let mut it = ex
        .map(
            ordered_item,
            &args,
            std::mem::size_of::<OrderArg>(),
            n,
            watchdog(),
            1,
        )
        .unwrap();
    let got = map_results(&mut it);
    assert_eq!(got, (0..n as u64).map(|i| Ok(i * 10)).collect::<Vec<_>>());
    assert_eq!(it.next_done().unwrap_err().status, Status::Done);

    // Degenerate calls.
    let e = ex.map(echo, &[], 0, 0, watchdog(), 0).err().unwrap();
    assert_eq!(e.status, Status::InvalidArgument, "chunksize 0");
    let e = ex.map(echo, &[1, 2, 3], 2, 2, watchdog(), 1).err().unwrap();
    assert_eq!(
        e.status,
        Status::InvalidArgument,
        "args shorter than n * arg_len"
    );
    let mut empty = ex.map(echo, &[], 8, 0, watchdog(), 1).unwrap();
    assert_eq!(empty.next_done().unwrap_err().status, Status::Done);
    // Zero-length items are valid.
    let mut zero_len = ex.map(echo, &[], 0, 3, watchdog(), 1).unwrap();
    for _ in 0..3 {
        assert_eq!(result(&zero_len.next_done().unwrap()), b"");
    }
    assert_eq!(zero_len.next_done().unwrap_err().status, Status::Done);
}

/// The first failure ends the iteration and cancels what has not started (CPython 3.14).
#[test]
fn map_failure_cancels_the_rest() {
    let ex = executor(1);
    let gate = Gate::default();
    let late_runs = AtomicUsize::new(0);
    let mut args = Vec::new();
    args.extend_from_slice(as_bytes(&gated_arg(None, None, 100, 0)));
    args.extend_from_slice(as_bytes(&gated_arg(None, None, 0, 3)));
    for i in 2..10 {
        args.extend_from_slice(as_bytes(&gated_arg(Some(&gate), Some(&late_runs), i, 0)));
    }
    let mut it = ex
        .map(
            gated,
            &args,
            std::mem::size_of::<GatedArg>(),
            10,
            watchdog(),
            1,
        )
        .unwrap();
    let first = it.next_done().unwrap();
    assert_eq!(u64_of(&result(&first)), 100);
    let second = it.next_done().unwrap();
    assert_eq!(
        failure(&second),
        (FailKind::Task, 3, "task returned 3".into())
    );
    assert_eq!(
        it.next_done().unwrap_err().status,
        Status::Done,
        "the iterator is finished after a failure"
    );
    gate.open();
    drop(it);
    ex.shutdown(true, false).unwrap();
    // With one worker, at most one later item can have started before the cancel.
    assert!(
        late_runs.load(Ordering::SeqCst) <= 1,
        "items ran after the failure"
    );
}

/// A map whose deadline has passed reports Timeout for a pending item and cancels the rest.
#[test]
fn map_timeout_cancels_the_rest() {
    let ex = executor(1);
    let gate = Gate::default();
    let late_runs = AtomicUsize::new(0);
    let mut args = Vec::new();
    args.extend_from_slice(as_bytes(&gated_arg(Some(&gate), None, 0, 0)));
    for i in 1..5 {
        args.extend_from_slice(as_bytes(&gated_arg(None, Some(&late_runs), i, 0)));
    }
    let mut it = ex
        .map(
            gated,
            &args,
            std::mem::size_of::<GatedArg>(),
            5,
            Deadline::At(Instant::now()),
            1,
        )
        .unwrap();
    gate.wait_arrivals(1);
    assert_eq!(it.next_done().unwrap_err().status, Status::Timeout);
    assert_eq!(it.next_done().unwrap_err().status, Status::Done);
    gate.open();
    drop(it);
    ex.shutdown(true, false).unwrap();
    assert_eq!(
        late_runs.load(Ordering::SeqCst),
        0,
        "items ran after the timeout"
    );
}

// ---------------------------------------------------------------------------------------------
// Callbacks
// ---------------------------------------------------------------------------------------------

/// A panicking Rust done-callback does not kill the worker that runs it: the pool (one
/// thread) keeps running work, and later callbacks on the same future still run.
#[test]
fn panicking_callback_does_not_kill_the_worker() {
    let pool = ThreadPool::new(1, ThreadPoolOptions::default()).unwrap();
    let gate = Gate::default();
    let f = pool
        .submit(Task {
            func: gated,
            arg: Bytes::copy_from(as_bytes(&gated_arg(Some(&gate), None, 5, 0))).unwrap(),
        })
        .unwrap();
    gate.wait_arrivals(1);
    let after = Arc::new(AtomicUsize::new(0));
    let ran_on = Arc::new(Mutex::new(String::new()));
    f.add_done_callback(Box::new(|_: &Arc<Future>| {
        panic!("callback panics on purpose (test)")
    }));
    {
        let (after, ran_on) = (Arc::clone(&after), Arc::clone(&ran_on));
        f.add_done_callback(Box::new(move |_| {
            *ran_on.lock().unwrap() = std::thread::current().name().unwrap_or("").to_owned();
            after.fetch_add(1, Ordering::SeqCst);
        }));
    }
    gate.open();
    assert_eq!(u64_of(&result(&f)), 5);
    for i in 0..20u64 {
        let g = pool
            .submit(Task {
                func: square,
                arg: Bytes::copy_from(&i.to_ne_bytes()).unwrap(),
            })
            .unwrap();
        assert_eq!(u64_of(&result(&g)), i * i);
    }
    assert_eq!(pool.thread_count(), 1, "the worker died and was replaced");
    drop(pool);
    assert_eq!(after.load(Ordering::SeqCst), 1);
    assert!(ran_on.lock().unwrap().starts_with("ThreadPoolExecutor-"));
}

/// RE01 and RE08: callbacks run exactly once, at once on a done future, and in the order
/// added; many threads adding while the future completes (exactly-once, 1 000 rounds).
#[test]
fn done_callbacks_exactly_once_under_races() {
    let f = Arc::new(Future::new(None));
    assert!(f.set_result(Bytes::copy_from(b"x").unwrap()));
    let hit = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hit);
    f.add_done_callback(Box::new(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
    }));
    assert_eq!(
        hit.load(Ordering::SeqCst),
        1,
        "a callback on a done future runs at once"
    );

    let order = Arc::new(Mutex::new(Vec::new()));
    let f = Arc::new(Future::new(None));
    for i in 0..5 {
        let order = Arc::clone(&order);
        f.add_done_callback(Box::new(move |_| order.lock().unwrap().push(i)));
    }
    assert!(f.cancel());
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);

    for _ in 0..1_000 {
        let f = Arc::new(Future::new(None));
        let counts: Arc<Vec<AtomicUsize>> =
            Arc::new((0..8 * 4).map(|_| AtomicUsize::new(0)).collect());
        std::thread::scope(|s| {
            for t in 0..8 {
                let (f, counts) = (Arc::clone(&f), Arc::clone(&counts));
                s.spawn(move || {
                    for k in 0..4 {
                        let counts = Arc::clone(&counts);
                        f.add_done_callback(Box::new(move |_| {
                            counts[t * 4 + k].fetch_add(1, Ordering::SeqCst);
                        }));
                    }
                });
            }
            assert!(f.set_result(Bytes::empty()));
        });
        for (i, c) in counts.iter().enumerate() {
            assert_eq!(c.load(Ordering::SeqCst), 1, "callback {i}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Initializer
// ---------------------------------------------------------------------------------------------

/// CR14 on the thread pool: a failing initializer breaks the pool; queued futures get Broken
/// and later submits are refused with Broken.
#[test]
fn failing_initializer_breaks_the_pool() {
    let ex = Executor::new(
        Kind::Thread,
        2,
        Options {
            thread_name_prefix: None,
            initializer: Some(Task {
                func: return_code,
                arg: Bytes::copy_from(&(4 as c_int).to_ne_bytes()).unwrap(),
            }),
            ..Options::default()
        },
    )
    .unwrap();
    let f = ex.submit(echo, b"never").unwrap();
    let (kind, _, msg) = failure(&f);
    assert_eq!(kind, FailKind::Broken);
    assert!(msg.contains("initializer"), "{msg}");
    assert_eq!(ex.submit(echo, b"").unwrap_err().status, Status::Broken);

    // A succeeding initializer runs before the first task.
    let ex = Executor::new(
        Kind::Thread,
        1,
        Options {
            thread_name_prefix: None,
            initializer: Some(Task {
                func: echo,
                arg: Bytes::empty(),
            }),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(result(&ex.submit(echo, b"ok").unwrap()), b"ok");
}

/// A failure message keeps its bytes exactly, even when they are not UTF-8.
#[test]
fn failure_message_is_a_c_string() {
    let ex = executor(1);
    let f = ex.submit(fail_with, b"with \xff bytes\0").unwrap();
    assert!(f.wait_done(watchdog()));
    let raw = f
        .with_outcome(|r| match r {
            Resolved::Failed(_, _, m) => m.to_bytes().to_vec(),
            _ => Vec::new(),
        })
        .unwrap();
    assert_eq!(raw, b"with \xff bytes");
}

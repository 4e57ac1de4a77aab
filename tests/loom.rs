//! Loom models of the future state machine (`src/future.rs`), the waiters of `wait()` and
//! `as_completed()` (`src/wait.rs`), and the thread pool's shutdown, teardown, idle-thread and
//! broken flags (`src/thread_pool.rs`, built under loom with loom's channel, threads and locks
//! from `src/sync.rs`). RELIABILITY.md §3; RE08, RE09 (a worker running callbacks is not idle),
//! TO11 and TO14 (submit/cancel/shutdown races) and BI07 (concurrent shutdowns, one teardown)
//! are modelled here.
//!
//! Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --test loom
//! ```
//!
//! Each future and waiter model explores every interleaving of its threads (exhaustively: they
//! take about 35 s on 2 cores; `LOOM_MAX_PREEMPTIONS=3` bounds them to about 1 s if CI needs
//! that). The thread-pool models (`pool_*`) run the pool's real code; the three larger ones
//! have a preemption bound of 3 unless `LOOM_MAX_PREEMPTIONS` is set (each takes about a
//! second; unbounded, minutes).
//! A lost wake-up shows up as loom's "deadlock" failure, a callback run twice or a waiter left
//! installed as a failed assertion. Only `Deadline::Forever` is used: loom has no clock (its `Condvar::wait_timeout`
//! never times out), and the spin phases of the waits are single checks under loom.
#![cfg(loom)]

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Mutex;
use loom::thread;

use cfutures::future::{Callback, Resolved};
use cfutures::thread_pool::{ThreadPool, ThreadPoolOptions};
use cfutures::wait::{wait, AsCompleted, ReturnWhen};
use cfutures::{Bytes, Deadline, FailKind, Future, Out, State, Status, Task};

/// A task function that is never run by the models (the executor is not part of them); only
/// whether a worker *took* the task matters.
unsafe extern "C" fn never_run(_arg: *const c_void, _len: usize, _out: *mut Out) -> c_int {
    0
}

fn pending() -> Arc<Future> {
    Arc::new(Future::new(Some(Task {
        func: never_run,
        arg: Bytes::copy_from(b"arg").unwrap(),
    })))
}

/// Runs `body` on a new thread with its own handle to `f`.
fn on_thread<T: Send + 'static>(
    f: &Arc<Future>,
    body: impl FnOnce(Arc<Future>) -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let f = Arc::clone(f);
    thread::spawn(move || body(f))
}

fn bytes(b: &[u8]) -> Bytes {
    Bytes::copy_from(b).unwrap()
}

fn result_of(f: &Future) -> Option<Vec<u8>> {
    f.with_outcome(|r| match r {
        Resolved::Ok(b) => Some(b.to_vec()),
        _ => None,
    })
    .flatten()
}

// ---------------------------------------------------------------------------------------------
// State machine
// ---------------------------------------------------------------------------------------------

/// A worker's `set_running` + `set_result` races a `cancel`: exactly one of them wins.
/// Either the cancel returned true, the state is Cancelled and the worker never got the task,
/// or the worker got the task, the state ends Succeeded and the cancel returned false.
#[test]
fn set_running_races_cancel() {
    loom::model(|| {
        let f = pending();
        let worker = on_thread(&f, move |f| match f.set_running() {
            Some(task) => {
                assert_eq!(task.arg.as_slice(), b"arg");
                // A running future cannot be cancelled any more.
                assert!(f.set_result(bytes(b"ok")), "set_result on a running future");
                true
            }
            None => false,
        });
        let cancelled = f.cancel();
        let took_task = worker.join().unwrap();

        assert_ne!(cancelled, took_task, "exactly one of cancel / run must win");
        if cancelled {
            assert_eq!(f.state(), State::Cancelled);
            assert!(f.with_outcome(|r| r == Resolved::Cancelled).unwrap());
            // Cancel is idempotent once cancelled; a late result is refused.
            assert!(f.cancel());
            assert!(!f.set_result(bytes(b"late")));
            assert_eq!(f.state(), State::Cancelled);
        } else {
            assert_eq!(f.state(), State::Succeeded);
            assert_eq!(result_of(&f).as_deref(), Some(&b"ok"[..]));
            assert!(!f.cancel());
        }
        assert_eq!(f.waiter_count(), 0);
    });
}

/// Two cancellers and a worker: the cancellers always agree, and agree with the worker.
#[test]
fn two_cancels_race_worker() {
    loom::model(|| {
        let f = pending();
        let worker = on_thread(&f, move |f| match f.set_running() {
            Some(_) => {
                assert!(f.set_failure(FailKind::Task, 7, "boom".into()));
                true
            }
            None => false,
        });
        let other = on_thread(&f, move |f| f.cancel());
        let c1 = f.cancel();
        let c2 = other.join().unwrap();
        let took = worker.join().unwrap();
        assert_eq!(c1, c2, "two cancels of the same future disagree");
        assert_ne!(c1, took);
        if took {
            assert_eq!(f.state(), State::Failed);
            assert!(f
                .with_outcome(|r| matches!(r, Resolved::Failed(FailKind::Task, 7, m) if m.to_bytes() == b"boom"))
                .unwrap());
        } else {
            assert_eq!(f.state(), State::Cancelled);
        }
    });
}

/// Two completers race: exactly one `set_*` succeeds and its outcome is the one kept.
#[test]
fn set_result_races_set_failure() {
    loom::model(|| {
        let f = Arc::new(Future::new(None));
        let t = on_thread(&f, move |f| {
            f.set_failure(FailKind::WorkerDied, -9, "killed".into())
        });
        let ok = f.set_result(bytes(b"r"));
        let failed = t.join().unwrap();
        assert_ne!(ok, failed, "exactly one completion must win");
        if ok {
            assert_eq!(f.state(), State::Succeeded);
            assert_eq!(result_of(&f).as_deref(), Some(&b"r"[..]));
        } else {
            assert_eq!(f.state(), State::Failed);
            assert!(f
                .with_outcome(|r| matches!(r, Resolved::Failed(FailKind::WorkerDied, -9, _)))
                .unwrap());
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Done-callbacks
// ---------------------------------------------------------------------------------------------

/// Records which callbacks ran, in which order, and on which thread.
struct Log {
    counts: [AtomicUsize; 3],
    order: Mutex<Vec<(usize, thread::ThreadId)>>,
}

fn callback(log: &Arc<Log>, i: usize) -> Callback {
    let log = Arc::clone(log);
    Box::new(move |f: &Arc<Future>| {
        // A callback sees the future done, and can read it (no future lock is held while
        // callbacks run: loom would report the self-deadlock).
        assert!(f.is_done());
        assert_eq!(result_of(f).as_deref(), Some(&b"done"[..]));
        assert_eq!(f.waiter_count(), 0);
        log.counts[i].fetch_add(1, Ordering::SeqCst);
        log.order.lock().unwrap().push((i, thread::current().id()));
    })
}

/// `add_done_callback` on two threads races completion on a third. Every callback runs exactly
/// once; the callbacks the completer runs are the ones added before completion, in the order
/// they were added; a callback added after completion runs at once in its adder's thread.
#[test]
fn callbacks_run_exactly_once() {
    loom::model(|| {
        let log = Arc::new(Log {
            counts: Default::default(),
            order: Mutex::new(Vec::new()),
        });
        let f = Arc::new(Future::new(None));
        // Added before anything races: always run by the completer, first.
        f.add_done_callback(callback(&log, 0));

        let completer = on_thread(&f, move |f| {
            assert!(f.set_result(bytes(b"done")));
            thread::current().id()
        });
        let adder = {
            let (f, log) = (Arc::clone(&f), Arc::clone(&log));
            thread::spawn(move || {
                f.add_done_callback(callback(&log, 1));
                thread::current().id()
            })
        };
        f.add_done_callback(callback(&log, 2));
        let main_id = thread::current().id();
        let completer_id = completer.join().unwrap();
        let adder_id = adder.join().unwrap();

        for (i, c) in log.counts.iter().enumerate() {
            assert_eq!(
                c.load(Ordering::SeqCst),
                1,
                "callback {i} ran a wrong number of times"
            );
        }
        let order = log.order.lock().unwrap().clone();
        assert_eq!(order.len(), 3);
        // The completer runs the callbacks queued before completion, in the order they were
        // queued: 0 (queued before the race started) always comes first.
        let by_completer: Vec<usize> = order
            .iter()
            .filter(|(_, t)| *t == completer_id)
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(by_completer.first(), Some(&0), "order {order:?}");
        // Callbacks 1 and 2 ran either on the completer or at once on their own adder.
        for (i, adder_thread) in [(1, adder_id), (2, main_id)] {
            let t = order.iter().find(|(j, _)| *j == i).unwrap().1;
            assert!(
                t == completer_id || t == adder_thread,
                "callback {i} ran on a stranger"
            );
        }
    });
}

/// Callbacks queued before completion run on the completer in the order added (0 then 1);
/// one added during the race (2) runs on the completer after them, or at once on main.
#[test]
fn callbacks_added_before_completion_run_in_order() {
    loom::model(|| {
        let log = Arc::new(Log {
            counts: Default::default(),
            order: Mutex::new(Vec::new()),
        });
        let f = Arc::new(Future::new(None));
        f.add_done_callback(callback(&log, 0));
        f.add_done_callback(callback(&log, 1));
        let completer = on_thread(&f, move |f| {
            assert!(f.set_result(bytes(b"done")));
            thread::current().id()
        });
        f.add_done_callback(callback(&log, 2));
        let main_id = thread::current().id();
        let completer_id = completer.join().unwrap();
        for c in &log.counts {
            assert_eq!(c.load(Ordering::SeqCst), 1);
        }
        let order = log.order.lock().unwrap().clone();
        let ids: Vec<usize> = order.iter().map(|(i, _)| *i).collect();
        let on_completer: Vec<usize> = order
            .iter()
            .filter(|(_, t)| *t == completer_id)
            .map(|(i, _)| *i)
            .collect();
        // 2 may run on main while the completer is still running 0 or 1; otherwise the
        // completer ran all three, in order.
        let t2 = order.iter().find(|(i, _)| *i == 2).unwrap().1;
        if t2 == main_id {
            assert_eq!(on_completer, [0, 1], "order {order:?}");
        } else {
            assert_eq!(ids, [0, 1, 2], "order {order:?}");
        }
    });
}

/// RE04: a done-callback calls back into its own future (cancel, wait_done, wait, and a nested
/// add_done_callback) while an adder races the completer. Nothing deadlocks (no lock is held
/// while callbacks run), and the nested callback runs at once, exactly once.
#[test]
fn callback_reenters_its_future() {
    loom::model(|| {
        let nested = Arc::new(AtomicUsize::new(0));
        let outer = Arc::new(AtomicUsize::new(0));
        let f = Arc::new(Future::new(None));
        let completer = on_thread(&f, move |f| assert!(f.set_result(bytes(b"done"))));
        let cb: Callback = {
            let (nested, outer) = (Arc::clone(&nested), Arc::clone(&outer));
            Box::new(move |f: &Arc<Future>| {
                assert!(!f.cancel(), "cancel of a finished future succeeded");
                assert!(f.wait_done(Deadline::Forever));
                let r = wait(&[&**f], Deadline::Forever, ReturnWhen::AllCompleted, None);
                assert!(r.satisfied);
                let n = Arc::clone(&nested);
                f.add_done_callback(Box::new(move |_| {
                    n.fetch_add(1, Ordering::SeqCst);
                }));
                // Already done: the nested callback ran at once, in this thread.
                assert_eq!(nested.load(Ordering::SeqCst), 1);
                outer.fetch_add(1, Ordering::SeqCst);
            })
        };
        f.add_done_callback(cb);
        completer.join().unwrap();
        assert_eq!(outer.load(Ordering::SeqCst), 1);
        assert_eq!(nested.load(Ordering::SeqCst), 1);
        assert_eq!(f.waiter_count(), 0);
    });
}

// ---------------------------------------------------------------------------------------------
// wait()
// ---------------------------------------------------------------------------------------------

/// FIRST_COMPLETED over two futures while another thread completes one: the wait returns
/// satisfied, and no waiter is left installed on either future.
#[test]
fn wait_first_completed_hand_off() {
    loom::model(|| {
        let f1 = pending();
        let f2 = pending();
        let t = {
            let f1 = Arc::clone(&f1);
            thread::spawn(move || assert!(f1.set_result(bytes(b"1"))))
        };
        let mut done = [false; 2];
        let r = wait(
            &[&f1, &f2],
            Deadline::Forever,
            ReturnWhen::FirstCompleted,
            Some(&mut done),
        );
        assert!(r.satisfied);
        assert_eq!(r.n_done, 1);
        assert_eq!(done, [true, false]);
        assert_eq!(f1.waiter_count(), 0, "waiter left on the completed future");
        assert_eq!(f2.waiter_count(), 0, "waiter left on the pending future");
        t.join().unwrap();
        assert_eq!(f1.waiter_count(), 0);
        assert_eq!(f2.waiter_count(), 0);
        assert_eq!(f2.state(), State::Pending);
    });
}

/// FIRST_COMPLETED while both futures complete on two threads: satisfied, and no waiter is
/// left on either (the second completer may take the waiter after the wait has returned).
#[test]
fn wait_first_completed_two_completers() {
    loom::model(|| {
        let f1 = pending();
        let f2 = pending();
        let t1 = on_thread(&f1, move |f| assert!(f.set_result(bytes(b"1"))));
        let t2 = on_thread(&f2, move |f| assert!(f.set_result(bytes(b"2"))));
        let r = wait(
            &[&f1, &f2],
            Deadline::Forever,
            ReturnWhen::FirstCompleted,
            None,
        );
        assert!(r.satisfied);
        assert!(r.n_done >= 1);
        assert_eq!(f1.waiter_count(), 0);
        assert_eq!(f2.waiter_count(), 0);
        t1.join().unwrap();
        t2.join().unwrap();
    });
}

/// Two concurrent `wait`s on the same future and a completer: both wake, and each removes
/// only its own waiter (nothing is left installed).
#[test]
fn two_waits_on_one_future() {
    loom::model(|| {
        let f = pending();
        let g = pending();
        let other = on_thread(&f, move |f| {
            let r = wait(&[&f], Deadline::Forever, ReturnWhen::AllCompleted, None);
            assert!(r.satisfied);
        });
        let completer = on_thread(&f, move |f| assert!(f.set_result(bytes(b"1"))));
        let r = wait(
            &[&g, &f],
            Deadline::Forever,
            ReturnWhen::FirstCompleted,
            None,
        );
        assert!(r.satisfied);
        assert_eq!(r.n_done, 1);
        other.join().unwrap();
        completer.join().unwrap();
        assert_eq!(f.waiter_count(), 0);
        assert_eq!(
            g.waiter_count(),
            0,
            "a waiter was left on the pending future"
        );
    });
}

/// Two FIRST_COMPLETED waits share a future that stays pending (`g`) and are both satisfied by
/// `f`: each removes exactly its own waiter from `g`, wherever it sits in `g`'s list. This
/// model is large, so it runs with a preemption bound of 3 (unless `LOOM_MAX_PREEMPTIONS` is
/// set); unbounded it takes over a minute.
#[test]
fn two_waits_share_a_pending_future() {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(|| {
        let f = pending();
        let g = pending();
        let other = {
            let (f, g) = (Arc::clone(&f), Arc::clone(&g));
            thread::spawn(move || {
                let r = wait(
                    &[&g, &f],
                    Deadline::Forever,
                    ReturnWhen::FirstCompleted,
                    None,
                );
                assert!(r.satisfied);
            })
        };
        let completer = on_thread(&f, move |f| assert!(f.set_result(bytes(b"1"))));
        let r = wait(
            &[&g, &f],
            Deadline::Forever,
            ReturnWhen::FirstCompleted,
            None,
        );
        assert!(r.satisfied);
        other.join().unwrap();
        completer.join().unwrap();
        assert_eq!(f.waiter_count(), 0);
        assert_eq!(
            g.waiter_count(),
            0,
            "a waiter was left on the pending future"
        );
    });
}

/// ALL_COMPLETED with two completers: satisfied with both done, nothing left installed.
#[test]
fn wait_all_completed_two_completers() {
    loom::model(|| {
        let f1 = pending();
        let f2 = pending();
        let t1 = on_thread(&f1, move |f| assert!(f.set_result(bytes(b"1"))));
        let t2 = on_thread(&f2, move |f| {
            assert!(f.set_failure(FailKind::Task, 1, "x".into()))
        });
        let mut done = [false; 3];
        // A duplicate counts once.
        let r = wait(
            &[&f1, &f2, &f1],
            Deadline::Forever,
            ReturnWhen::AllCompleted,
            Some(&mut done),
        );
        assert!(r.satisfied);
        assert_eq!(r.n_done, 2);
        assert_eq!(done, [true, true, true]);
        assert_eq!(f1.waiter_count(), 0);
        assert_eq!(f2.waiter_count(), 0);
        t1.join().unwrap();
        t2.join().unwrap();
    });
}

/// A cancel on another thread wakes a FIRST_COMPLETED wait (cpython#92001 fixed).
#[test]
fn cancel_wakes_first_completed_wait() {
    loom::model(|| {
        let f1 = pending();
        let f2 = pending();
        let t = {
            let f2 = Arc::clone(&f2);
            thread::spawn(move || assert!(f2.cancel()))
        };
        let r = wait(
            &[&f1, &f2],
            Deadline::Forever,
            ReturnWhen::FirstCompleted,
            None,
        );
        assert!(r.satisfied);
        assert_eq!(r.n_done, 1);
        assert_eq!(f2.state(), State::Cancelled);
        assert_eq!(f1.waiter_count(), 0);
        assert_eq!(f2.waiter_count(), 0);
        t.join().unwrap();
    });
}

/// FIRST_EXCEPTION returns on a failure although another future stays pending; a success on a
/// third thread does not satisfy it on its own.
#[test]
fn wait_first_exception_wakes_on_failure() {
    loom::model(|| {
        let f1 = pending();
        let f2 = pending();
        let f3 = pending();
        let t1 = on_thread(&f1, move |f| assert!(f.set_result(bytes(b"1"))));
        let t2 = on_thread(&f2, move |f| {
            assert!(f.set_failure(FailKind::Task, 2, "x".into()))
        });
        let r = wait(
            &[&f1, &f2, &f3],
            Deadline::Forever,
            ReturnWhen::FirstException,
            None,
        );
        assert!(r.satisfied);
        assert_eq!(
            f2.state(),
            State::Failed,
            "FIRST_EXCEPTION returned before any failure"
        );
        assert_eq!(f3.state(), State::Pending);
        for f in [&f1, &f2, &f3] {
            assert_eq!(f.waiter_count(), 0);
        }
        t1.join().unwrap();
        t2.join().unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// as_completed()
// ---------------------------------------------------------------------------------------------

/// `AsCompleted::new` then `next_completed` racing two completions: each future is handed out
/// exactly once, then Done; dropping the iterator leaves no waiter installed.
#[test]
fn as_completed_two_completions() {
    loom::model(|| {
        let f1 = pending();
        let f2 = pending();
        let t1 = on_thread(&f1, move |f| assert!(f.set_result(bytes(b"1"))));
        let t2 = on_thread(&f2, move |f| assert!(f.cancel()));
        let mut it = AsCompleted::new(
            vec![Arc::clone(&f1), Arc::clone(&f2), Arc::clone(&f1)],
            Deadline::Forever,
        );
        let (a, ia) = it.next_completed().expect("first");
        assert!(a.is_done());
        let (b, ib) = it.next_completed().expect("second");
        assert!(b.is_done());
        let mut got = [ia, ib];
        got.sort_unstable();
        assert_eq!(
            got,
            [0, 1],
            "each distinct future once, with its first index"
        );
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(it.next_completed().unwrap_err().status, Status::Done);
        drop(it);
        assert_eq!(f1.waiter_count(), 0);
        assert_eq!(f2.waiter_count(), 0);
        t1.join().unwrap();
        t2.join().unwrap();
    });
}

/// Dropping the iterator after one future was handed out, while the other may still be
/// pending or completing, leaves no waiter installed on either.
#[test]
fn as_completed_drop_early_removes_waiters() {
    loom::model(|| {
        let f1 = pending();
        let f2 = pending();
        let t1 = on_thread(&f1, move |f| assert!(f.set_result(bytes(b"1"))));
        let t2 = on_thread(&f2, move |f| assert!(f.set_result(bytes(b"2"))));
        let mut it = AsCompleted::new(vec![Arc::clone(&f1), Arc::clone(&f2)], Deadline::Forever);
        let (a, _) = it.next_completed().expect("first");
        assert!(a.is_done());
        assert_eq!(it.remaining(), 1);
        drop(it);
        assert_eq!(f1.waiter_count(), 0, "waiter left on f1 after drop");
        assert_eq!(f2.waiter_count(), 0, "waiter left on f2 after drop");
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(f1.waiter_count(), 0);
        assert_eq!(f2.waiter_count(), 0);
    });
}

/// A future already done at creation is handed out first; the other one, completed by a
/// thread, comes next; then Done.
#[test]
fn as_completed_early_future_first() {
    loom::model(|| {
        let f1 = pending();
        let f2 = pending();
        assert!(f2.set_result(bytes(b"early")));
        let mut it = AsCompleted::new(vec![Arc::clone(&f1), Arc::clone(&f2)], Deadline::Forever);
        // f1 is certainly pending at creation; its completion races the iteration.
        let t = on_thread(&f1, move |f| assert!(f.set_result(bytes(b"late"))));
        let (_, i) = it.next_completed().unwrap();
        assert_eq!(i, 1, "the future done at creation must come first");
        let (_, i) = it.next_completed().unwrap();
        assert_eq!(i, 0);
        assert_eq!(it.next_completed().unwrap_err().status, Status::Done);
        assert_eq!(f1.waiter_count(), 0);
        drop(it);
        t.join().unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// Future::wait_done (the wait behind result())
// ---------------------------------------------------------------------------------------------

/// `wait_done(Forever)` against `set_result`: the wake-up is never lost (a lost one is a loom
/// deadlock).
#[test]
fn wait_done_never_misses_wakeup() {
    loom::model(|| {
        let f = pending();
        let t = on_thread(&f, move |f| {
            assert!(f.set_running().is_some());
            assert!(f.set_result(bytes(b"r")));
        });
        assert!(f.wait_done(Deadline::Forever));
        assert_eq!(result_of(&f).as_deref(), Some(&b"r"[..]));
        t.join().unwrap();
    });
}

/// Two threads parked in `wait_done` and a cancel: both wake (notify_all, sleepers count).
#[test]
fn wait_done_two_sleepers_woken_by_cancel() {
    loom::model(|| {
        let f = pending();
        let other = on_thread(&f, move |f| assert!(f.wait_done(Deadline::Forever)));
        let canceller = on_thread(&f, move |f| assert!(f.cancel()));
        assert!(f.wait_done(Deadline::Forever));
        assert_eq!(f.state(), State::Cancelled);
        other.join().unwrap();
        canceller.join().unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// The thread pool: submit, shutdown, teardown, idle threads, a broken pool
// ---------------------------------------------------------------------------------------------
//
// `src/thread_pool.rs` itself runs here: under `--cfg loom` its work queue is a mutex-and-condvar
// channel with crossbeam's semantics (`src/sync.rs`), its threads are loom threads and its
// locks, condvar and atomics loom's, so every interleaving of submit, shutdown and the workers'
// `recv` / `set_running` / idle counting is explored. Only the process-exit hook and the fork
// generation (`executor.rs`, which needs real processes) are left out.

/// Counts its runs: the argument is the address of a loom `AtomicUsize` that the model keeps
/// alive until every task has finished (the pool is shut down with wait first).
unsafe extern "C" fn count_run(arg: *const c_void, len: usize, _out: *mut Out) -> c_int {
    assert_eq!(len, std::mem::size_of::<usize>());
    let mut addr = [0u8; std::mem::size_of::<usize>()];
    // SAFETY: the pool passes `len` readable argument bytes.
    addr.copy_from_slice(unsafe { std::slice::from_raw_parts(arg.cast::<u8>(), len) });
    let counter = usize::from_ne_bytes(addr) as *const AtomicUsize;
    // SAFETY: the address of an `AtomicUsize` inside an `Arc` that outlives every task (see
    // `counting`).
    unsafe { &*counter }.fetch_add(1, Ordering::SeqCst);
    0
}

/// An initializer that fails: it breaks the pool.
unsafe extern "C" fn failing_init(_arg: *const c_void, _len: usize, _out: *mut Out) -> c_int {
    1
}

/// A task that counts its runs on `runs`.
fn counting(runs: &Arc<AtomicUsize>) -> Task {
    let addr = Arc::as_ptr(runs) as usize;
    Task {
        func: count_run,
        arg: Bytes::copy_from(&addr.to_ne_bytes()).unwrap(),
    }
}

/// A model builder with a preemption bound of `n` unless `LOOM_MAX_PREEMPTIONS` is set: the
/// pool models run the pool's real locks, channel and condvars, and unbounded they take
/// minutes. Bugs of the kind modelled here need one or two preemptions (loom's guidance).
fn bounded(n: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(n);
    }
    b
}

fn pool(max_workers: usize) -> Arc<ThreadPool> {
    Arc::new(ThreadPool::new(max_workers, ThreadPoolOptions::default()).unwrap())
}

/// Adds a done-callback that counts its calls on `calls`.
fn count_callbacks(f: &Arc<Future>, calls: &Arc<AtomicUsize>) {
    let calls = Arc::clone(calls);
    f.add_done_callback(Box::new(move |_| {
        calls.fetch_add(1, Ordering::SeqCst);
    }));
}

/// A submit racing `shutdown(wait=true)`: the submit either gets `Shutdown` and its task never
/// runs, or is accepted, and then its task has run by the time the shutdown returns (the
/// thread that runs it was started under the same lock and is joined). Never lost.
#[test]
fn pool_submit_races_shutdown() {
    loom::model(|| {
        let p = pool(1);
        let runs = Arc::new(AtomicUsize::new(0));
        let submitter = {
            let (p, task) = (Arc::clone(&p), counting(&runs));
            thread::spawn(move || p.submit(task))
        };
        p.shutdown(true, false).unwrap();
        let ran_at_shutdown = runs.load(Ordering::SeqCst);
        match submitter.join().unwrap() {
            Ok(f) => {
                assert_eq!(f.state(), State::Succeeded, "an accepted task was lost");
                assert_eq!(
                    ran_at_shutdown, 1,
                    "shutdown(wait) returned before the task ran"
                );
            }
            Err(e) => {
                assert_eq!(e.status, Status::Shutdown);
                assert_eq!(runs.load(Ordering::SeqCst), 0);
            }
        }
        assert_eq!(p.thread_count(), 0, "a thread was left unjoined");
    });
}

/// BI07: two `shutdown(wait=true)` at once. Exactly one joins the threads (a join handle can
/// be joined once), and *both* return only once the queued work is done and the threads have
/// exited, as CPython's shutdown does in every caller.
#[test]
fn pool_two_shutdowns_wait_for_one_teardown() {
    loom::model(|| {
        let p = pool(1);
        let runs = Arc::new(AtomicUsize::new(0));
        let f = p.submit(counting(&runs)).unwrap();
        let other = {
            let (p, f, runs) = (Arc::clone(&p), Arc::clone(&f), Arc::clone(&runs));
            thread::spawn(move || {
                p.shutdown(true, false).unwrap();
                assert!(
                    f.is_done(),
                    "a concurrent shutdown(wait=true) returned before the work was done"
                );
                assert_eq!(runs.load(Ordering::SeqCst), 1);
            })
        };
        p.shutdown(true, false).unwrap();
        assert!(
            f.is_done(),
            "shutdown(wait=true) returned before the work was done"
        );
        other.join().unwrap();
        assert_eq!(f.state(), State::Succeeded);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // A third shutdown after the teardown: at once, still fine.
        p.shutdown(true, false).unwrap();
    });
}

/// TO14/TO11: `shutdown(wait=false, cancel_futures=true)` races the worker taking queued items
/// and a submit from another thread. Every future ends exactly one of Cancelled (its task never
/// ran) or Succeeded (ran once); each callback runs exactly once; a submit either is refused
/// with `Shutdown` or its future is one of those.
#[test]
fn pool_cancel_futures_races_worker_and_submit() {
    bounded(3).check(|| {
        let p = pool(1);
        let runs: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        let calls: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        let f0 = p.submit(counting(&runs[0])).unwrap();
        count_callbacks(&f0, &calls[0]);
        let f1 = p.submit(counting(&runs[1])).unwrap();
        count_callbacks(&f1, &calls[1]);
        let submitter = {
            let (p, task, calls) = (Arc::clone(&p), counting(&runs[2]), Arc::clone(&calls[2]));
            thread::spawn(move || {
                let r = p.submit(task);
                if let Ok(f) = &r {
                    count_callbacks(f, &calls);
                }
                r
            })
        };
        p.shutdown(false, true).unwrap();
        let late = submitter.join().unwrap();
        p.shutdown(true, false).unwrap();

        let mut futures = vec![f0, f1];
        match late {
            Ok(f) => futures.push(f),
            Err(e) => {
                assert_eq!(e.status, Status::Shutdown);
                assert_eq!(runs[2].load(Ordering::SeqCst), 0);
            }
        }
        for (i, f) in futures.iter().enumerate() {
            let ran = runs[i].load(Ordering::SeqCst);
            match f.state() {
                State::Succeeded => assert_eq!(ran, 1, "future {i} succeeded without one run"),
                State::Cancelled => assert_eq!(ran, 0, "cancelled future {i} ran"),
                s => panic!("future {i} ended {s:?} after shutdown(wait=true)"),
            }
            assert_eq!(calls[i].load(Ordering::SeqCst), 1, "callback {i} count");
        }
    });
}

/// The idle-thread count (CPython's idle semaphore): a worker counts itself idle *before* it
/// publishes the outcome, so a caller that sees a future done and submits again always finds
/// it idle and never starts a second thread (test_reuse in test_pool.c, exhaustively).
#[test]
fn pool_idle_worker_is_reused() {
    bounded(3).check(|| {
        let p = pool(2);
        let runs = Arc::new(AtomicUsize::new(0));
        let f1 = p.submit(counting(&runs)).unwrap();
        assert!(f1.wait_done(Deadline::Forever));
        let f2 = p.submit(counting(&runs)).unwrap();
        assert_eq!(
            p.thread_count(),
            1,
            "a second thread started beside an idle one"
        );
        assert!(f2.wait_done(Deadline::Forever));
        p.shutdown(true, false).unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    });
}

/// A failing initializer breaks the pool while another thread submits: the submit is refused
/// with `Broken`, or accepted and its future fails with `Broken`. No task runs and no future is
/// left pending.
#[test]
fn pool_broken_initializer_races_submit() {
    loom::model(|| {
        let p = Arc::new(
            ThreadPool::new(
                1,
                ThreadPoolOptions {
                    thread_name_prefix: None,
                    initializer: Some(Task {
                        func: failing_init,
                        arg: Bytes::empty(),
                    }),
                },
            )
            .unwrap(),
        );
        let runs = Arc::new(AtomicUsize::new(0));
        let f1 = p.submit(counting(&runs)).unwrap();
        let submitter = {
            let (p, task) = (Arc::clone(&p), counting(&runs));
            thread::spawn(move || p.submit(task))
        };
        let r2 = submitter.join().unwrap();
        assert!(f1.wait_done(Deadline::Forever));
        let mut futures = vec![f1];
        match r2 {
            Ok(f) => {
                assert!(f.wait_done(Deadline::Forever));
                futures.push(f);
            }
            Err(e) => assert_eq!(e.status, Status::Broken),
        }
        for f in &futures {
            assert!(f
                .with_outcome(|r| matches!(r, Resolved::Failed(FailKind::Broken, _, _)))
                .unwrap());
        }
        p.shutdown(true, false).unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        let e = p.submit(counting(&runs)).unwrap_err();
        assert_eq!(e.status, Status::Broken);
    });
}

/// A gate a task or a callback can block on (a loom mutex and condvar).
struct LoomGate {
    open: Mutex<bool>,
    cond: loom::sync::Condvar,
}

impl LoomGate {
    fn new() -> Arc<LoomGate> {
        Arc::new(LoomGate {
            open: Mutex::new(false),
            cond: loom::sync::Condvar::new(),
        })
    }

    fn pass(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cond.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cond.notify_all();
    }
}

/// Passes the `LoomGate` whose address is the argument.
unsafe extern "C" fn gated_run(arg: *const c_void, len: usize, _out: *mut Out) -> c_int {
    assert_eq!(len, std::mem::size_of::<usize>());
    let mut addr = [0u8; std::mem::size_of::<usize>()];
    // SAFETY: the pool passes `len` readable argument bytes.
    addr.copy_from_slice(unsafe { std::slice::from_raw_parts(arg.cast::<u8>(), len) });
    // SAFETY: the address of a `LoomGate` inside an `Arc` the model keeps until the pool is
    // shut down with wait.
    unsafe { &*(usize::from_ne_bytes(addr) as *const LoomGate) }.pass();
    0
}

/// RE09 (thread side): a worker running a done-callback is not idle. While the callback of
/// `f1` blocks (on a gate that opens only once `f2` is done), a submit starts a second thread
/// for `f2` instead of queueing it behind the callback; were the blocked worker counted idle,
/// `f2` would never run and loom would report the deadlock.
#[test]
fn pool_worker_running_callbacks_is_not_idle() {
    bounded(3).check(|| {
        let p = pool(2);
        let task_gate = LoomGate::new();
        let cb_gate = LoomGate::new();
        let f1 = p
            .submit(Task {
                func: gated_run,
                arg: Bytes::copy_from(&(Arc::as_ptr(&task_gate) as usize).to_ne_bytes()).unwrap(),
            })
            .unwrap();
        {
            let cb_gate = Arc::clone(&cb_gate);
            f1.add_done_callback(Box::new(move |_| cb_gate.pass()));
        }
        task_gate.open();
        assert!(f1.wait_done(Deadline::Forever));
        let runs = Arc::new(AtomicUsize::new(0));
        let f2 = p.submit(counting(&runs)).unwrap();
        assert!(f2.wait_done(Deadline::Forever));
        assert_eq!(p.thread_count(), 2);
        cb_gate.open();
        p.shutdown(true, false).unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    });
}

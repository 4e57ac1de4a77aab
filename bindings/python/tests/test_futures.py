"""Future states, results, exceptions, callbacks and cancel on cfutures.ThreadPoolExecutor
futures (the behaviours CPython's test_concurrent_futures checks on its futures)."""

from __future__ import annotations

import concurrent.futures
import logging
import re
import threading
from concurrent.futures import CancelledError

import pytest

import cfutures
from conftest import LONG


class Blocker:
    """A Python task that reports it started, then waits for release()."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.go = threading.Event()

    def __call__(self, value: object = None) -> object:
        self.started.set()
        if not self.go.wait(LONG):
            raise RuntimeError("never released")
        return value

    def release(self) -> None:
        self.go.set()


@pytest.fixture
def one_worker():
    """A one-thread pool whose worker is busy until the test releases it, so that what is
    submitted next stays pending."""
    ex = cfutures.ThreadPoolExecutor(max_workers=1)
    blocker = Blocker()
    running = ex.submit(blocker, "first")
    assert blocker.started.wait(LONG)
    try:
        yield ex, blocker, running
    finally:
        blocker.release()
        ex.shutdown(wait=True, cancel_futures=True)


def test_future_is_a_stdlib_future(thread_pool):
    f = thread_pool.submit(int, "7")
    assert isinstance(f, concurrent.futures.Future)
    assert isinstance(f, cfutures.Future)
    assert f.result(LONG) == 7


def test_states(one_worker):
    ex, blocker, running = one_worker
    pending = ex.submit(pow, 2, 5)
    assert running.running() and not running.done() and not running.cancelled()
    assert not pending.running() and not pending.done() and not pending.cancelled()
    blocker.release()
    assert running.result(LONG) == "first"
    assert pending.result(LONG) == 32
    for f in (running, pending):
        assert f.done() and not f.running() and not f.cancelled()


def test_repr(one_worker):
    ex, blocker, running = one_worker
    pending = ex.submit(pow, 2, 5)
    failing = ex.submit(divmod, 1, 0)
    cancelled = ex.submit(pow, 2, 6)
    assert cancelled.cancel()
    assert re.fullmatch(r"<Future at 0x[0-9a-f]+ state=running>", repr(running))
    assert re.fullmatch(r"<Future at 0x[0-9a-f]+ state=pending>", repr(pending))
    assert re.fullmatch(r"<Future at 0x[0-9a-f]+ state=cancelled>", repr(cancelled))
    blocker.release()
    pending.result(LONG)
    failing.exception(LONG)
    assert re.fullmatch(r"<Future at 0x[0-9a-f]+ state=finished returned int>", repr(pending))
    assert re.fullmatch(
        r"<Future at 0x[0-9a-f]+ state=finished raised ZeroDivisionError>", repr(failing)
    )


def test_result_and_exception_with_timeout(one_worker):
    ex, blocker, running = one_worker
    pending = ex.submit(pow, 2, 3)
    for f in (running, pending):
        with pytest.raises(TimeoutError):
            f.result(timeout=0)
        with pytest.raises(TimeoutError):
            f.exception(timeout=0)
        with pytest.raises(TimeoutError):
            f.result(timeout=-1)  # negative: poll, as threading.Condition.wait
        with pytest.raises(TimeoutError):
            f.result(timeout=0.01)
    with pytest.raises(ValueError):
        pending.result(timeout=float("nan"))
    blocker.release()
    assert pending.result(timeout=LONG) == 8
    assert pending.exception(timeout=0) is None
    assert pending.result(timeout=0) == 8


def test_result_raises_the_task_exception(thread_pool):
    f = thread_pool.submit(divmod, 1, 0)
    with pytest.raises(ZeroDivisionError):
        f.result(LONG)
    exc = f.exception(0)
    assert isinstance(exc, ZeroDivisionError)
    assert exc.__traceback__ is not None


def test_base_exception_is_kept(thread_pool):
    def leave():
        raise SystemExit(3)

    f = thread_pool.submit(leave)
    assert isinstance(f.exception(LONG), SystemExit)
    # the pool is still usable
    assert thread_pool.submit(pow, 3, 2).result(LONG) == 9


def test_result_wakes_when_another_thread_completes(one_worker):
    ex, blocker, running = one_worker
    pending = ex.submit(str, 42)
    waiting = threading.Event()

    def release_soon():
        waiting.wait(LONG)
        blocker.release()

    t = threading.Thread(target=release_soon)
    t.start()
    waiting.set()
    assert pending.result(timeout=LONG) == "42"
    t.join(LONG)


def test_cancel(one_worker):
    ex, blocker, running = one_worker
    pending = ex.submit(pow, 2, 5)
    assert not running.cancel()  # running: cannot
    assert pending.cancel()
    assert pending.cancel()  # again: still True
    assert pending.cancelled() and pending.done() and not pending.running()
    with pytest.raises(CancelledError):
        pending.result(0)
    with pytest.raises(CancelledError):
        pending.exception(0)
    blocker.release()
    assert running.result(LONG) == "first"
    assert not running.cancel()  # finished: cannot
    assert not running.cancelled()


def test_cancel_wakes_a_waiting_result_at_once(one_worker):
    ex, blocker, running = one_worker
    pending = ex.submit(pow, 2, 5)
    outcome = []
    about_to_wait = threading.Event()

    def waiter():
        about_to_wait.set()
        try:
            pending.result(timeout=LONG)
        except CancelledError:
            outcome.append("cancelled")
        except TimeoutError:
            outcome.append("timeout")

    t = threading.Thread(target=waiter)
    t.start()
    about_to_wait.wait(LONG)
    assert pending.cancel()
    t.join(LONG)
    assert not t.is_alive()
    assert outcome == ["cancelled"]
    assert not blocker.go.is_set()  # woken by the cancel, not by the worker moving on


@pytest.mark.parametrize("api", ["stdlib", "cfutures"])
def test_cancel_is_seen_at_once_by_wait(one_worker, api):
    ex, blocker, running = one_worker
    pending = ex.submit(pow, 2, 5)
    mod = concurrent.futures if api == "stdlib" else cfutures
    result = []

    def waiter():
        result.append(mod.wait([pending], timeout=5, return_when=mod.FIRST_COMPLETED))

    t = threading.Thread(target=waiter)
    t.start()
    assert pending.cancel()
    t.join(LONG)
    (done, not_done), = result
    assert done == {pending} and not_done == set()
    assert not blocker.go.is_set()


@pytest.mark.parametrize("api", ["stdlib", "cfutures"])
def test_cancel_is_seen_at_once_by_as_completed(one_worker, api):
    ex, blocker, running = one_worker
    pending = ex.submit(pow, 2, 5)
    mod = concurrent.futures if api == "stdlib" else cfutures
    got = []

    def consumer():
        try:
            for f in mod.as_completed([pending], timeout=5):
                got.append(f)
        except TimeoutError:
            got.append("timeout")

    t = threading.Thread(target=consumer)
    t.start()
    assert pending.cancel()
    t.join(LONG)
    assert got == [pending]
    assert pending.cancelled()


# -- done-callbacks ------------------------------------------------------------------------


def test_done_callback_with_result(one_worker):
    ex, blocker, running = one_worker
    seen = []
    called = threading.Event()

    def cb(f):
        seen.append((f, f.result(0), threading.current_thread().name))
        called.set()

    pending = ex.submit(pow, 2, 5)
    pending.add_done_callback(cb)
    blocker.release()
    assert called.wait(LONG)
    assert seen[0][:2] == (pending, 32)


def test_done_callback_with_exception(thread_pool):
    seen = []
    called = threading.Event()
    gate = threading.Event()

    def fail():
        gate.wait(LONG)
        raise KeyError("x")

    f = thread_pool.submit(fail)
    f.add_done_callback(lambda fut: (seen.append(fut.exception(0)), called.set()))
    gate.set()
    assert called.wait(LONG)
    assert isinstance(seen[0], KeyError)


def test_done_callback_with_cancel_runs_in_the_cancelling_thread(one_worker):
    ex, blocker, running = one_worker
    pending = ex.submit(pow, 2, 5)
    seen = []
    pending.add_done_callback(lambda f: seen.append((f.cancelled(), threading.get_ident())))
    assert pending.cancel()
    assert seen == [(True, threading.get_ident())]


def test_done_callback_added_after_done_runs_at_once(thread_pool):
    ok = thread_pool.submit(pow, 2, 2)
    bad = thread_pool.submit(divmod, 1, 0)
    ok.result(LONG)
    bad.exception(LONG)
    seen = []
    ok.add_done_callback(lambda f: seen.append(f.result(0)))
    bad.add_done_callback(lambda f: seen.append(type(f.exception(0))))
    assert seen == [4, ZeroDivisionError]


def test_done_callback_added_after_cancel_runs_at_once(one_worker):
    ex, blocker, running = one_worker
    pending = ex.submit(pow, 2, 5)
    assert pending.cancel()
    seen = []
    pending.add_done_callback(lambda f: seen.append(f.cancelled()))
    assert seen == [True]


def test_done_callbacks_run_in_order_once(one_worker):
    ex, blocker, running = one_worker
    pending = ex.submit(pow, 2, 5)
    seen = []
    last = threading.Event()
    for i in range(5):
        pending.add_done_callback(lambda f, i=i: seen.append(i))
    pending.add_done_callback(lambda f: last.set())
    blocker.release()
    assert last.wait(LONG)
    pending.result(0)
    pending.done()
    assert seen == [0, 1, 2, 3, 4]


def test_raising_callback_is_logged_and_others_still_run(thread_pool, caplog):
    gate = threading.Event()
    f = thread_pool.submit(gate.wait, LONG)
    seen = []
    last = threading.Event()

    def raising(fut):
        seen.append("raising")
        raise Exception("doh!")

    f.add_done_callback(raising)
    f.add_done_callback(lambda fut: (seen.append("next"), last.set()))
    with caplog.at_level(logging.ERROR, logger="concurrent.futures"):
        gate.set()
        assert last.wait(LONG)
    assert seen == ["raising", "next"]
    assert "exception calling callback for" in caplog.text
    assert "doh!" in caplog.text


def test_raising_callback_added_after_done_is_logged(thread_pool, caplog):
    f = thread_pool.submit(pow, 2, 2)
    f.result(LONG)

    def raising(fut):
        raise Exception("late doh!")

    with caplog.at_level(logging.ERROR, logger="concurrent.futures"):
        f.add_done_callback(raising)
    assert "exception calling callback for" in caplog.text
    assert "late doh!" in caplog.text


def test_plain_future_constructor_behaves_as_stdlib():
    f = cfutures.Future()
    assert not f.done()
    f.set_result(5)
    assert f.result(0) == 5
    g = cfutures.Future()
    assert g.cancel() and g.cancelled()

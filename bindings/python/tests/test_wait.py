"""wait() and as_completed(): cfutures' own (on cf_wait / cf_as_completed) and the standard
library's, on cfutures futures mixed with plain concurrent.futures.Futures."""

from __future__ import annotations

import concurrent.futures
import gc
import itertools
import threading
import weakref
from concurrent.futures import Future

import pytest

import cfutures
from conftest import LONG

APIS = ["cfutures", "stdlib"]


def api(name):
    return cfutures if name == "cfutures" else concurrent.futures


def plain(state, value=None):
    """A plain concurrent.futures.Future in the given state."""
    f = Future()
    if state == "running":
        f.set_running_or_notify_cancel()
    elif state == "cancelled":
        f.cancel()
    elif state == "cancelled_and_notified":
        f.cancel()
        f.set_running_or_notify_cancel()
    elif state == "exception":
        f.set_exception(OSError())
    elif state == "success":
        f.set_result(42 if value is None else value)
    return f


def mul(x, y):
    return x * y


def wait_and_raise(event):
    event.wait(LONG)
    raise Exception("this is an exception")


def test_constants_equal_the_stdlib():
    assert cfutures.FIRST_COMPLETED == concurrent.futures.FIRST_COMPLETED
    assert cfutures.FIRST_EXCEPTION == concurrent.futures.FIRST_EXCEPTION
    assert cfutures.ALL_COMPLETED == concurrent.futures.ALL_COMPLETED


@pytest.mark.parametrize("which", APIS)
def test_duplicates_count_once(thread_pool, which):
    f = thread_pool.submit(mul, 1, 2)
    done, not_done = api(which).wait([f, f], return_when=cfutures.ALL_COMPLETED)
    assert done == {f} and not_done == set()


@pytest.mark.parametrize("which", APIS)
def test_first_completed(thread_pool, which):
    event = threading.Event()
    cancelled = plain("cancelled")
    f1 = thread_pool.submit(mul, 21, 2)
    f2 = thread_pool.submit(event.wait, LONG)
    try:
        done, not_done = api(which).wait(
            [cancelled, f1, f2], timeout=LONG, return_when=cfutures.FIRST_COMPLETED
        )
        assert done == {f1}
        assert not_done == {cancelled, f2}
    finally:
        event.set()
    f2.result(LONG)


@pytest.mark.parametrize("which", APIS)
def test_first_completed_some_already_completed(thread_pool, which):
    event = threading.Event()
    cn, ok = plain("cancelled_and_notified"), plain("success")
    f1 = thread_pool.submit(event.wait, LONG)
    try:
        done, not_done = api(which).wait(
            [cn, ok, f1], timeout=LONG, return_when=cfutures.FIRST_COMPLETED
        )
        assert done == {cn, ok}
        assert not_done == {f1}
    finally:
        event.set()
    f1.result(LONG)


@pytest.mark.parametrize("which", APIS)
def test_first_exception(thread_pool, which):
    event1, event2 = threading.Event(), threading.Event()
    try:
        f1 = thread_pool.submit(mul, 2, 21)
        f2 = thread_pool.submit(wait_and_raise, event1)
        f3 = thread_pool.submit(event2.wait, LONG)

        def after_f1():
            f1.result(LONG)
            event1.set()

        t = threading.Thread(target=after_f1)
        t.start()
        done, not_done = api(which).wait(
            [f1, f2, f3], timeout=LONG, return_when=cfutures.FIRST_EXCEPTION
        )
        assert done == {f1, f2}
        assert not_done == {f3}
        t.join(LONG)
    finally:
        event1.set()
        event2.set()
    f3.result(LONG)


@pytest.mark.parametrize("which", APIS)
def test_first_exception_some_already_complete(thread_pool, which):
    event = threading.Event()
    ok, c, cn = plain("success"), plain("cancelled"), plain("cancelled_and_notified")
    f1 = thread_pool.submit(divmod, 21, 0)
    f2 = thread_pool.submit(event.wait, LONG)
    try:
        done, not_done = api(which).wait(
            [ok, c, cn, f1, f2], timeout=LONG, return_when=cfutures.FIRST_EXCEPTION
        )
        assert done == {ok, cn, f1}
        assert not_done == {c, f2}
    finally:
        event.set()
    f2.result(LONG)


@pytest.mark.parametrize("which", APIS)
def test_first_exception_one_already_failed(thread_pool, which):
    event = threading.Event()
    failed = plain("exception")
    f1 = thread_pool.submit(event.wait, LONG)
    try:
        done, not_done = api(which).wait(
            [failed, f1], timeout=LONG, return_when=cfutures.FIRST_EXCEPTION
        )
        assert done == {failed}
        assert not_done == {f1}
    finally:
        event.set()
    f1.result(LONG)


def test_first_exception_ignores_cancellation(thread_pool):
    # A cancelled future is not an exception: FIRST_EXCEPTION waits on (here: times out).
    ex = cfutures.ThreadPoolExecutor(max_workers=1)
    gate = threading.Event()
    try:
        blocker = ex.submit(gate.wait, LONG)
        pending = ex.submit(pow, 2, 2)
        assert pending.cancel()
        done, not_done = cfutures.wait(
            [blocker, pending], timeout=0.05, return_when=cfutures.FIRST_EXCEPTION
        )
        assert done == {pending} and not_done == {blocker}
    finally:
        gate.set()
        ex.shutdown()


@pytest.mark.parametrize("which", APIS)
def test_all_completed(thread_pool, which):
    ok, cn, failed = plain("success"), plain("cancelled_and_notified"), plain("exception")
    f1 = thread_pool.submit(divmod, 2, 0)
    f2 = thread_pool.submit(mul, 2, 21)
    done, not_done = api(which).wait(
        [ok, cn, failed, f1, f2], timeout=LONG, return_when=cfutures.ALL_COMPLETED
    )
    assert done == {ok, cn, failed, f1, f2}
    assert not_done == set()
    assert f2.result(0) == 42


@pytest.mark.parametrize("which", APIS)
def test_wait_timeout(thread_pool, which):
    event = threading.Event()
    cn, failed, ok = plain("cancelled_and_notified"), plain("exception"), plain("success")
    f = thread_pool.submit(event.wait, LONG)
    try:
        done, not_done = api(which).wait(
            [cn, failed, ok, f], timeout=0.05, return_when=cfutures.ALL_COMPLETED
        )
        assert done == {cn, failed, ok}
        assert not_done == {f}
    finally:
        event.set()
    f.result(LONG)


def test_wait_with_a_pending_plain_future(thread_pool):
    p = plain("pending")
    f = thread_pool.submit(mul, 6, 7)
    t = threading.Thread(target=lambda: (f.result(LONG), p.set_result(1)))
    t.start()
    done, not_done = cfutures.wait([p, f], timeout=LONG)
    t.join(LONG)
    assert done == {p, f} and not_done == set()


def test_wait_zero_futures():
    done, not_done = cfutures.wait([])
    assert done == set() and not_done == set()


def test_wait_bad_return_when(thread_pool):
    with pytest.raises(ValueError):
        cfutures.wait([thread_pool.submit(int)], return_when="SOMETIMES")


def test_wait_mixes_executors(thread_pool, native):
    with cfutures.ProcessPoolExecutor(max_workers=1) as pp:
        fs = [pp.submit(native.echo_task, b"x"), thread_pool.submit(mul, 2, 3)]
        done, not_done = cfutures.wait(fs, timeout=LONG)
    assert done == set(fs) and not_done == set()


def test_pending_calls_race(thread_pool):
    event = threading.Event()
    fs = {thread_pool.submit(event.wait, LONG) for _ in range(100)}
    event.set()
    done, not_done = cfutures.wait(fs, timeout=LONG, return_when=cfutures.ALL_COMPLETED)
    assert done == fs and not not_done


# -- as_completed --------------------------------------------------------------------------


@pytest.mark.parametrize("which", APIS)
def test_as_completed_no_timeout(thread_pool, which):
    cn, failed, ok = plain("cancelled_and_notified"), plain("exception"), plain("success")
    f1 = thread_pool.submit(mul, 2, 21)
    f2 = thread_pool.submit(mul, 7, 6)
    got = list(api(which).as_completed([cn, failed, ok, f1, f2]))
    assert len(got) == 5
    assert set(got) == {cn, failed, ok, f1, f2}


@pytest.mark.parametrize("which", APIS)
@pytest.mark.parametrize("timeout", [0, 0.1])
def test_as_completed_times_out(thread_pool, which, timeout):
    already = {plain("cancelled_and_notified"), plain("exception"), plain("success")}
    event = threading.Event()
    f = thread_pool.submit(event.wait, LONG)
    got = set()
    try:
        with pytest.raises(TimeoutError):
            for x in api(which).as_completed(already | {f}, timeout):
                got.add(x)
    finally:
        event.set()
    assert got == already
    f.result(LONG)


def test_as_completed_timeout_counts_from_the_call(thread_pool):
    # The documentation counts the timeout from the as_completed() call; so a deadline that
    # passed before the first next() has already expired.
    event = threading.Event()
    f = thread_pool.submit(event.wait, LONG)
    it = cfutures.as_completed([f], timeout=0.05)
    try:
        done, _ = cfutures.wait([f], timeout=0.1)  # let the deadline pass
        assert not done
        with pytest.raises(TimeoutError):
            next(it)
    finally:
        event.set()
    f.result(LONG)


def test_as_completed_hands_out_finished_futures_after_the_deadline(thread_pool):
    event = threading.Event()
    blocked = thread_pool.submit(event.wait, LONG)
    quick = thread_pool.submit(mul, 2, 3)
    it = cfutures.as_completed([blocked, quick], timeout=0.05)
    try:
        quick.result(LONG)
        cfutures.wait([blocked], timeout=0.1)  # let the deadline pass
        assert next(it) is quick
        with pytest.raises(TimeoutError):
            next(it)
    finally:
        event.set()
    blocked.result(LONG)


@pytest.mark.parametrize("which", APIS)
def test_as_completed_duplicates(thread_pool, which):
    event = threading.Event()
    f = thread_pool.submit(event.wait, LONG)
    event.set()
    got = list(api(which).as_completed(itertools.repeat(f, 3), timeout=LONG))
    assert got == [f]


@pytest.mark.parametrize("which", APIS)
def test_as_completed_timeout_message(thread_pool, which):
    event = threading.Event()
    fs = [
        plain("cancelled_and_notified"),
        thread_pool.submit(event.wait, LONG),
        thread_pool.submit(event.wait, LONG),
        plain("success"),
    ]
    try:
        with pytest.raises(TimeoutError) as info:
            list(api(which).as_completed(fs, timeout=0))
        assert str(info.value) == "2 (of 4) futures unfinished"
    finally:
        event.set()


def test_as_completed_keeps_no_reference_to_yielded_futures(thread_pool):
    gate = threading.Event()
    fs = [thread_pool.submit(gate.wait, LONG) for _ in range(6)]
    gate.set()
    count = 0
    for f in cfutures.as_completed(fs, timeout=LONG):
        fs.remove(f)
        ref = weakref.ref(f)
        del f
        gc.collect()
        assert ref() is None
        count += 1
    assert count == 6 and fs == []


def test_as_completed_order_and_close(thread_pool):
    gates = [threading.Event() for _ in range(3)]
    fs = [thread_pool.submit(g.wait, LONG) for g in gates]
    it = cfutures.as_completed(fs, timeout=LONG)
    try:
        for i in (2, 0, 1):
            gates[i].set()
            assert next(it) is fs[i]
        with pytest.raises(StopIteration):
            next(it)
    finally:
        for g in gates:
            g.set()
    it2 = cfutures.as_completed(fs)
    it2.close()
    with pytest.raises(StopIteration):
        next(it2)

"""Thread safety of the binding, and the GIL: blocking calls and native tasks never hold it."""

from __future__ import annotations

import struct
import threading
import time
from collections import Counter

import pytest

import cfutures
from conftest import LONG

N_THREADS = 8


def run_threads(target, n=N_THREADS):
    errors = []
    barrier = threading.Barrier(n, timeout=LONG)

    def body(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(LONG * 2)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]


def test_many_threads_submit_and_wait(native):
    tp = cfutures.ThreadPoolExecutor(max_workers=4)
    pp = cfutures.ProcessPoolExecutor(max_workers=2)
    try:

        def work(i):
            py = [tp.submit(pow, i, k) for k in range(40)]
            nat = [tp.submit(native.echo_task, struct.pack("ii", i, k)) for k in range(20)]
            proc = [pp.submit(native.echo_task, struct.pack("ii", i, k)) for k in range(10)]
            done, not_done = cfutures.wait(py + nat + proc, timeout=LONG)
            assert not not_done
            assert [f.result(0) for f in py] == [i**k for k in range(40)]
            assert [f.result(0) for f in nat] == [struct.pack("ii", i, k) for k in range(20)]
            got = {f.result(0) for f in cfutures.as_completed(proc, timeout=LONG)}
            assert got == {struct.pack("ii", i, k) for k in range(10)}
            assert list(tp.map(str, range(10), timeout=LONG)) == [str(k) for k in range(10)]
            args = [struct.pack("ll", 6 * i + 6, 4 * i + 4)] * 5
            assert [struct.unpack("l", r)[0] for r in pp.map(native.gcd_task, args)] == [
                2 * i + 2
            ] * 5

        run_threads(work)
    finally:
        tp.shutdown()
        pp.shutdown()


def test_each_future_resolves_exactly_once_under_racing_cancels():
    ex = cfutures.ThreadPoolExecutor(max_workers=2)
    gate = threading.Event()
    calls = Counter()
    lock = threading.Lock()

    def cb(f):
        with lock:
            calls[id(f)] += 1

    try:
        fs = [ex.submit(gate.wait, LONG) for _ in range(200)]
        for f in fs:
            f.add_done_callback(cb)

        def racer(i):
            for f in fs[i::2] if i % 2 else fs:
                if i % 3 == 0:
                    f.cancel()
                elif i % 3 == 1:
                    f.done()
                    f.cancelled()
                else:
                    cfutures.wait([f], timeout=0)
            gate.set()

        run_threads(racer)
        done, not_done = cfutures.wait(fs, timeout=LONG)
        assert not not_done
        ex.shutdown(wait=True)
        assert all(calls[id(f)] == 1 for f in fs)
        for f in fs:
            assert f.cancelled() or f.result(0) is True
    finally:
        gate.set()
        ex.shutdown()


def test_submit_races_with_shutdown():
    ex = cfutures.ThreadPoolExecutor(max_workers=2)
    submitted = [[] for _ in range(4)]
    started = threading.Barrier(5, timeout=LONG)

    def submitter(i):
        started.wait()
        while True:
            try:
                submitted[i].append(ex.submit(pow, 2, 3))
            except RuntimeError:
                return

    threads = [threading.Thread(target=submitter, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    started.wait()
    ex.shutdown(wait=True)
    for t in threads:
        t.join(LONG)
    assert not any(t.is_alive() for t in threads)
    fs = [f for chunk in submitted for f in chunk]
    done, not_done = cfutures.wait(fs, timeout=LONG)
    assert not not_done
    assert all(f.result(0) == 8 for f in fs)


def _gate_opener(native):
    """Opens the gate from a Python thread once gate_task has started, after running some
    Python code (each sleep(0) gives up the GIL and takes it back). By then the main thread
    has entered its wait; a wait holding the GIL would stall this thread for good."""

    def opener():
        if native.gate_wait_started(LONG):
            for _ in range(300):
                time.sleep(0)
            native.gate_open()

    t = threading.Thread(target=opener)
    t.start()
    return t


WAYS = ["result", "exception", "wait", "as_completed", "map", "stdlib_wait"]


@pytest.mark.parametrize("way", WAYS)
def test_waiting_does_not_hold_the_gil(native, way):
    # gate_task blocks in C until another Python thread calls gate_open(); if the waiting
    # call below held the GIL, that thread could never run and gate_task would fail (after
    # 5 s) instead of succeeding.
    import concurrent.futures

    native.gate_reset()
    arg = struct.pack("d", 5.0)
    with cfutures.ThreadPoolExecutor(max_workers=1) as ex:
        if way == "map":
            it = ex.map(native.gate_task, [arg])
            t = _gate_opener(native)
            assert list(it) == [b""]
        else:
            f = ex.submit(native.gate_task, arg)
            t = _gate_opener(native)
            if way == "result":
                assert f.result(LONG) == b""
            elif way == "exception":
                assert f.exception(LONG) is None
            elif way == "wait":
                done, _ = cfutures.wait([f], timeout=LONG)
                assert done == {f} and f.result(0) == b""
            elif way == "stdlib_wait":
                done, _ = concurrent.futures.wait([f], timeout=LONG)
                assert done == {f} and f.result(0) == b""
            else:
                assert list(cfutures.as_completed([f], timeout=LONG)) == [f]
                assert f.result(0) == b""
        t.join(LONG)


def test_native_task_runs_without_the_gil(native):
    # The main thread runs Python code (the ctypes calls below) while the native task is
    # blocked in C on the thread pool.
    native.gate_reset()
    with cfutures.ThreadPoolExecutor(max_workers=1) as ex:
        f = ex.submit(native.gate_task, struct.pack("d", 5.0))
        assert native.gate_wait_started(LONG)
        assert not f.done()
        native.gate_open()
        assert f.result(LONG) == b""

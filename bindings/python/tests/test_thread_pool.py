"""cfutures.ThreadPoolExecutor as a drop-in for concurrent.futures.ThreadPoolExecutor: the
executor behaviours of CPython's test_concurrent_futures, on Python callables."""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.thread
import contextlib
import gc
import logging
import os
import re
import threading
import weakref

import pytest

import cfutures
from conftest import LONG


def mul(x, y):
    return x * y


def capture(*args, **kwargs):
    return args, kwargs


def test_is_an_executor(thread_pool):
    assert isinstance(thread_pool, concurrent.futures.Executor)


def test_submit(thread_pool):
    assert thread_pool.submit(pow, 2, 8).result(LONG) == 256


def test_submit_keyword(thread_pool):
    assert thread_pool.submit(mul, 2, y=8).result(LONG) == 16
    f = thread_pool.submit(capture, 1, self=2, fn=3)
    assert f.result(LONG) == ((1,), {"self": 2, "fn": 3})
    with pytest.raises(TypeError):
        thread_pool.submit(fn=capture, arg=1)
    with pytest.raises(TypeError):
        thread_pool.submit(arg=1)


def test_submit_not_callable(thread_pool):
    with pytest.raises(TypeError):
        thread_pool.submit(42)


def test_map(thread_pool):
    expected = list(map(pow, range(10), range(10)))
    assert list(thread_pool.map(pow, range(10), range(10))) == expected
    assert list(thread_pool.map(pow, range(10), range(10), chunksize=3)) == expected


def test_map_exception(thread_pool):
    it = thread_pool.map(divmod, [1, 1, 1, 1], [2, 3, 0, 5])
    assert next(it) == (0, 1)
    assert next(it) == (0, 1)
    with pytest.raises(ZeroDivisionError):
        next(it)


def test_map_timeout(thread_pool):
    gate = threading.Event()

    def task(block):
        if block:
            gate.wait(LONG)

    results = []
    try:
        with pytest.raises(TimeoutError):
            for r in thread_pool.map(task, [False, False, True], timeout=0.2):
                results.append(r)
    finally:
        gate.set()
    assert results == [None, None]


def test_map_submits_without_iteration():
    finished = []
    ex = cfutures.ThreadPoolExecutor(max_workers=3)
    ex.map(finished.append, range(10))
    ex.shutdown(wait=True)
    assert sorted(finished) == list(range(10))


def test_map_timeout_cancels_what_has_not_started():
    stop = threading.Event()
    log = []

    def log_n_wait(ident):
        log.append(f"{ident} started")
        try:
            stop.wait(LONG)
        finally:
            log.append(f"{ident} stopped")

    with cfutures.ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(log_n_wait, "first")
        try:
            with contextlib.closing(pool.map(log_n_wait, ["second", "third"], timeout=0)) as gen:
                with pytest.raises(TimeoutError):
                    next(gen)
        finally:
            stop.set()
        first.result(LONG)
    assert log == ["first started", "first stopped"]


def test_map_does_not_keep_results():
    class Obj:
        pass

    with cfutures.ThreadPoolExecutor(max_workers=2) as ex:
        for obj in ex.map(lambda _: Obj(), range(10)):
            ref = weakref.ref(obj)
            del obj
            gc.collect()
            assert ref() is None


def test_no_stale_references(thread_pool):
    class Obj:
        def method(self):
            pass

    obj = Obj()
    collected = threading.Event()
    ref = weakref.ref(obj, lambda _: collected.set())
    thread_pool.submit(obj.method)  # the future is dropped at once
    del obj
    assert collected.wait(LONG), "the executor kept a reference to the task"
    assert ref() is None


@pytest.mark.parametrize("n", [0, -1])
def test_max_workers_must_be_positive(n):
    with pytest.raises(ValueError, match="max_workers must be greater than 0"):
        cfutures.ThreadPoolExecutor(max_workers=n)


def test_default_workers():
    ex = cfutures.ThreadPoolExecutor()
    try:
        cpus = getattr(os, "process_cpu_count", os.cpu_count)() or 1
        assert ex._max_workers == min(32, cpus + 4)
    finally:
        ex.shutdown()


def test_idle_thread_is_reused():
    with cfutures.ThreadPoolExecutor() as ex:
        names = {ex.submit(lambda: threading.current_thread().name).result(LONG) for _ in range(5)}
    assert len(names) == 1


def _names_of_all_workers(ex, n):
    barrier = threading.Barrier(n, timeout=LONG)

    def name():
        barrier.wait()  # n tasks at once: n distinct threads
        return threading.current_thread().name

    return [f.result(LONG) for f in [ex.submit(name) for _ in range(n)]]


def test_thread_names_with_prefix():
    with cfutures.ThreadPoolExecutor(max_workers=5, thread_name_prefix="SpecialPool") as ex:
        names = _names_of_all_workers(ex, 5)
    assert len(set(names)) == 5
    for name in names:
        assert re.fullmatch(r"SpecialPool_[0-4]", name), name


def test_thread_names_default():
    with cfutures.ThreadPoolExecutor(max_workers=3) as ex:
        names = _names_of_all_workers(ex, 3)
    assert len(set(names)) == 3
    for name in names:
        assert re.fullmatch(r"ThreadPoolExecutor-\d+_[0-2]", name), name


# -- shutdown --------------------------------------------------------------------------------


def test_submit_after_shutdown():
    ex = cfutures.ThreadPoolExecutor(max_workers=2)
    ex.shutdown()
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        ex.submit(pow, 2, 5)
    ex.shutdown()  # again: harmless


def test_context_manager_shuts_down():
    with cfutures.ThreadPoolExecutor(max_workers=5) as ex:
        assert list(ex.map(abs, range(-5, 5))) == [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError):
        ex.submit(abs, 1)


def test_shutdown_waits_for_queued_work():
    ex = cfutures.ThreadPoolExecutor(max_workers=2)
    gate = threading.Event()
    fs = [ex.submit(gate.wait, LONG) for _ in range(50)]
    gate.set()
    ex.shutdown(wait=True)
    assert all(f.done() for f in fs)
    assert all(f.result(0) is True for f in fs)


def test_shutdown_without_wait_returns_while_work_runs():
    ex = cfutures.ThreadPoolExecutor(max_workers=1)
    gate = threading.Event()
    f = ex.submit(gate.wait, LONG)
    returned = threading.Event()
    t = threading.Thread(target=lambda: (ex.shutdown(wait=False), returned.set()))
    t.start()
    try:
        assert returned.wait(LONG)
        assert not f.done()
    finally:
        gate.set()
    assert f.result(LONG) is True
    t.join(LONG)
    ex.shutdown(wait=True)


def test_shutdown_cancel_futures():
    ex = cfutures.ThreadPoolExecutor(max_workers=1)
    started = threading.Event()
    gate = threading.Event()

    def first():
        started.set()
        return gate.wait(LONG)

    running = ex.submit(first)
    assert started.wait(LONG)
    queued = [ex.submit(pow, 2, i) for i in range(20)]
    ex.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in queued)
    gate.set()
    ex.shutdown(wait=True)
    assert running.result(0) is True


def test_delete_without_shutdown_still_runs_queued_work():
    ex = cfutures.ThreadPoolExecutor(max_workers=2)
    res = ex.map(abs, range(-5, 5))
    del ex
    gc.collect()
    assert list(res) == [5, 4, 3, 2, 1, 0, 1, 2, 3, 4]


def test_shutdown_with_wait_from_own_task_raises():
    ex = cfutures.ThreadPoolExecutor(max_workers=2)

    def shut_myself():
        ex.shutdown(wait=True)

    f = ex.submit(shut_myself)
    with pytest.raises(RuntimeError, match="cannot join current thread"):
        f.result(LONG)
    # the shutdown has started all the same
    with pytest.raises(RuntimeError):
        ex.submit(pow, 2, 2)
    ex.shutdown(wait=True)


def test_shutdown_without_wait_from_own_task_is_fine():
    ex = cfutures.ThreadPoolExecutor(max_workers=2)
    f = ex.submit(lambda: ex.shutdown(wait=False))
    assert f.result(LONG) is None
    ex.shutdown(wait=True)


# -- initializer ---------------------------------------------------------------------------


def test_initializer_runs_in_each_worker_thread():
    state = threading.local()
    inits = []

    def init(value):
        state.value = value
        inits.append(threading.current_thread().name)

    def read():
        barrier.wait()
        return getattr(state, "value", "uninitialized"), threading.current_thread().name

    barrier = threading.Barrier(3, timeout=LONG)
    with cfutures.ThreadPoolExecutor(
        max_workers=3, thread_name_prefix="Init", initializer=init, initargs=("initialized",)
    ) as ex:
        results = [f.result(LONG) for f in [ex.submit(read) for _ in range(3)]]
    # thread-local state set by the initializer is there in the tasks of that thread
    assert [v for v, _ in results] == ["initialized"] * 3
    assert sorted(inits) == sorted(name for _, name in results)
    assert all(name.startswith("Init_") for name in inits)


def test_initializer_must_be_callable():
    with pytest.raises(TypeError):
        cfutures.ThreadPoolExecutor(initializer=42)


def test_failing_initializer_breaks_the_pool(caplog):
    def init_fail():
        raise ValueError("error in initializer")

    ex = cfutures.ThreadPoolExecutor(max_workers=2, initializer=init_fail)
    try:
        with caplog.at_level(logging.CRITICAL, logger="concurrent.futures"):
            try:
                f = ex.submit(pow, 2, 2)
            except cfutures.BrokenExecutor:
                pass  # already broken
            else:
                with pytest.raises(cfutures.BrokenExecutor) as info:
                    f.result(LONG)
                assert isinstance(info.value, concurrent.futures.BrokenExecutor)
                assert isinstance(info.value, concurrent.futures.thread.BrokenThreadPool)
            with pytest.raises(concurrent.futures.BrokenExecutor):
                ex.submit(pow, 2, 2)
        assert "ValueError: error in initializer" in caplog.text
    finally:
        ex.shutdown(wait=True)

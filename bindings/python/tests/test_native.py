"""Native tasks (C functions from native_tasks.c) on both pools; the process pool with each
start method."""

from __future__ import annotations

import array
import concurrent.futures
import concurrent.futures.process
import ctypes
import os
import select
import struct

import pytest

import cfutures
from conftest import LONG, START_METHODS, compile_library, HERE


def pair(a, b):
    return struct.pack("ll", a, b)


def long_of(data):
    (value,) = struct.unpack("l", data)
    return value


def fail_arg(code, message=b""):
    return struct.pack("i", code) + message


def is_process(pool):
    return isinstance(pool, cfutures.ProcessPoolExecutor)


@pytest.fixture(params=START_METHODS)
def process_pool(request):
    ex = cfutures.ProcessPoolExecutor(max_workers=2, start_method=request.param)
    try:
        yield ex
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def test_success(any_pool, native):
    f = any_pool.submit(native.gcd_task, pair(1963309, 2265973))
    assert isinstance(f, concurrent.futures.Future)
    data = f.result(LONG)
    assert isinstance(data, bytes)
    assert long_of(data) == 1
    assert long_of(any_pool.submit(native.gcd_task, arg=pair(12, 18)).result(LONG)) == 6


def test_argument_forms(any_pool, native):
    assert any_pool.submit(native.echo_task).result(LONG) == b""
    assert any_pool.submit(native.echo_task, b"").result(LONG) == b""
    assert any_pool.submit(native.echo_task, bytearray(b"ab")).result(LONG) == b"ab"
    assert any_pool.submit(native.echo_task, memoryview(b"xyz")[1:]).result(LONG) == b"yz"
    arr = array.array("i", [1, 2])
    assert any_pool.submit(native.echo_task, arr).result(LONG) == arr.tobytes()
    c_pair = (ctypes.c_long * 2)(12, 18)
    assert long_of(any_pool.submit(native.gcd_task, c_pair).result(LONG)) == 6
    with pytest.raises(TypeError):
        any_pool.submit(native.echo_task, 5)  # not b"\0" * 5
    with pytest.raises(TypeError):
        any_pool.submit(native.echo_task, "text")
    with pytest.raises(TypeError):
        any_pool.submit(native.echo_task, b"a", b"b")


def test_failure_code_and_message(any_pool, native):
    f = any_pool.submit(native.fail_task, fail_arg(7, b"boom"))
    with pytest.raises(cfutures.TaskFailed) as info:
        f.result(LONG)
    assert info.value.code == 7
    assert info.value.message == "boom"
    exc = f.exception(0)
    assert isinstance(exc, cfutures.TaskFailed) and exc.code == 7


def test_failure_by_return_value(any_pool, native):
    exc = any_pool.submit(native.fail_task, fail_arg(42)).exception(LONG)
    assert isinstance(exc, cfutures.TaskFailed)
    assert exc.code == 42
    assert exc.message == "task returned 42"


def test_failure_only_through_cf_out_fail(any_pool, native):
    exc = any_pool.submit(native.fail_task, fail_arg(0, b"said so")).exception(LONG)
    assert isinstance(exc, cfutures.TaskFailed)
    assert (exc.code, exc.message) == (0, "said so")


def test_big_argument_and_result(any_pool, native):
    big = os.urandom(8 << 20)
    assert any_pool.submit(native.echo_task, big).result(LONG) == big
    n = 16 << 20
    data = any_pool.submit(native.pattern_task, struct.pack("Q", n)).result(LONG)
    assert len(data) == n
    assert data[:4] == bytes([7, 38, 69, 100]) and data[-1] == ((n - 1) * 31 + 7) & 0xFF


def test_native_map(any_pool, native):
    pairs = [(1963309, 2265973), (1879675, 2493670), (2030677, 3814172),
             (1551645, 2229620), (1988912, 4736670), (2198964, 7876293)]
    args = [pair(a, b) for a, b in pairs]
    for chunksize in (1, 4):
        got = [long_of(r) for r in any_pool.map(native.gcd_task, args, chunksize=chunksize)]
        assert got == [1, 5, 1, 5, 2, 3]
    assert list(any_pool.map(native.echo_task, [])) == []
    # items of different sizes: still in order
    assert list(any_pool.map(native.echo_task, [b"a", b"bcd", b""])) == [b"a", b"bcd", b""]
    with pytest.raises(ValueError):
        any_pool.map(native.echo_task, [b"a"], chunksize=0)


def test_native_map_failure_stops_the_iterator(any_pool, native):
    it = any_pool.map(native.fail_task, [struct.pack("i", 0), struct.pack("i", 9)])
    assert next(it) == b""
    with pytest.raises(cfutures.TaskFailed) as info:
        next(it)
    assert "task returned 9" in info.value.message
    assert info.value.code == 9
    with pytest.raises(StopIteration):
        next(it)


def test_native_map_timeout(any_pool, native):
    it = any_pool.map(native.sleep_task, [struct.pack("d", 0.0), struct.pack("d", 0.5)], timeout=0.1)
    assert next(it) == b""
    with pytest.raises(TimeoutError):
        next(it)


def test_process_pool_refuses_python_callables(process_pool, native):
    with pytest.raises(TypeError, match="native tasks only"):
        process_pool.submit(pow, 2, 3)
    with pytest.raises(TypeError, match="native tasks only"):
        process_pool.map(abs, [1, 2])
    with pytest.raises(TypeError, match="native tasks only"):
        cfutures.ProcessPoolExecutor(initializer=print)


def test_process_pool_arguments():
    for n in (0, -1):
        with pytest.raises(ValueError, match="max_workers must be greater than 0"):
            cfutures.ProcessPoolExecutor(max_workers=n)
    with pytest.raises(ValueError):
        cfutures.ProcessPoolExecutor(start_method="thread")
    with pytest.raises(ValueError):
        cfutures.ProcessPoolExecutor(max_tasks_per_child=0)
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError):
            cfutures.ProcessPoolExecutor(task_timeout=bad)


def test_runs_in_worker_processes(process_pool, native):
    pid = struct.unpack("q", process_pool.submit(native.pid_task).result(LONG))[0]
    assert pid != os.getpid()


def test_worker_death_fails_only_that_task(process_pool, native):
    queued = [process_pool.submit(native.gcd_task, pair(12, 18)) for _ in range(4)]
    died = process_pool.submit(native.abort_task)
    more = [process_pool.submit(native.gcd_task, pair(12, 18)) for _ in range(4)]
    with pytest.raises(cfutures.WorkerDied) as info:
        died.result(LONG)
    assert info.value.code == -6
    assert "SIGABRT" in info.value.message or "signal 6" in info.value.message
    for f in queued + more:
        assert long_of(f.result(LONG)) == 6
    # still usable after
    assert long_of(process_pool.submit(native.gcd_task, pair(8, 12)).result(LONG)) == 4


def test_worker_exit_status(process_pool, native):
    exc = process_pool.submit(native.exit_task, struct.pack("i", 3)).exception(LONG)
    assert isinstance(exc, cfutures.WorkerDied)
    assert exc.code == 3
    assert process_pool.submit(native.echo_task, b"ok").result(LONG) == b"ok"


@pytest.mark.parametrize("start_method", START_METHODS)
def test_task_timeout_expires(native, start_method):
    with cfutures.ProcessPoolExecutor(
        max_workers=1, start_method=start_method, task_timeout=0.3
    ) as ex:
        f = ex.submit(native.sleep_task, struct.pack("d", 30.0))
        with pytest.raises(cfutures.TaskExpired) as info:
            f.result(LONG)
        assert isinstance(info.value, cfutures.TaskError)
        # the pool goes on with a fresh worker
        assert ex.submit(native.echo_task, b"after").result(LONG) == b"after"


@pytest.mark.parametrize("start_method", START_METHODS)
def test_initializer(native, start_method):
    with cfutures.ProcessPoolExecutor(
        max_workers=2, start_method=start_method,
        initializer=native.init_task, initargs=b"hello",
    ) as ex:
        results = [f.result(LONG) for f in [ex.submit(native.init_state_task) for _ in range(4)]]
    assert results == [b"hello\x01"] * 4  # run once per worker, with initargs


def test_thread_pool_native_initializer(native):
    with cfutures.ThreadPoolExecutor(
        max_workers=1, initializer=native.init_task, initargs=b"threads"
    ) as ex:
        assert ex.submit(native.init_state_task).result(LONG)[:7] == b"threads"


@pytest.mark.parametrize("kind", ["thread"] + START_METHODS)
def test_failing_initializer_breaks_the_pool(native, kind):
    if kind == "thread":
        ex = cfutures.ThreadPoolExecutor(max_workers=2, initializer=native.init_fail_task)
        broken_cls = concurrent.futures.thread.BrokenThreadPool
    else:
        ex = cfutures.ProcessPoolExecutor(
            max_workers=2, start_method=kind, initializer=native.init_fail_task
        )
        broken_cls = concurrent.futures.process.BrokenProcessPool
    try:
        try:
            f = ex.submit(native.echo_task, b"x")
        except cfutures.BrokenExecutor:
            pass
        else:
            with pytest.raises(cfutures.BrokenExecutor) as info:
                f.result(LONG)
            assert isinstance(info.value, concurrent.futures.BrokenExecutor)
            assert isinstance(info.value, broken_cls)
        with pytest.raises(cfutures.BrokenExecutor):
            ex.submit(native.echo_task, b"x")
    finally:
        ex.shutdown(wait=True)


@pytest.mark.parametrize("start_method", START_METHODS)
def test_max_tasks_per_child(native, start_method):
    with cfutures.ProcessPoolExecutor(
        max_workers=1, start_method=start_method, max_tasks_per_child=1
    ) as ex:
        pids = [struct.unpack("q", ex.submit(native.pid_task).result(LONG))[0] for _ in range(3)]
    assert len(set(pids)) == 3


class Started:
    """A FIFO through which notify_sleep_task tells, across processes, that it has begun."""

    def __init__(self, directory):
        self.path = os.path.join(str(directory), "started.fifo")
        os.mkfifo(self.path)
        self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)

    def arg(self, seconds):
        return struct.pack("d", seconds) + self.path.encode()

    def wait(self, timeout=LONG):
        readable, _, _ = select.select([self.fd], [], [], timeout)
        return bool(readable) and os.read(self.fd, 1) == b"s"

    def close(self):
        os.close(self.fd)


@pytest.mark.parametrize("start_method", START_METHODS)
def test_running_cancel_and_terminate_workers(native, tmp_path, start_method):
    ex = cfutures.ProcessPoolExecutor(max_workers=1, start_method=start_method)
    started = Started(tmp_path)
    try:
        running = ex.submit(native.notify_sleep_task, started.arg(30.0))
        queued = [ex.submit(native.echo_task, b"q") for _ in range(3)]
        assert started.wait()
        assert running.running() and not running.done()
        assert not running.cancel()
        assert all(not f.running() for f in queued)
        assert queued[0].cancel()
        assert queued[0].cancelled()
        with pytest.raises(concurrent.futures.CancelledError):
            queued[0].result(0)
        ex.terminate_workers()
        exc = running.exception(LONG)
        assert isinstance(exc, cfutures.WorkerDied)
        assert exc.code == -15  # SIGTERM
        assert all(f.cancelled() for f in queued)
        with pytest.raises(RuntimeError):
            ex.submit(native.echo_task, b"x")
    finally:
        started.close()
        ex.shutdown(wait=True)


@pytest.mark.parametrize("kind", ["thread"] + START_METHODS)
def test_library_loaded_after_the_executor(native, tmp_path, kind):
    if kind == "thread":
        ex = cfutures.ThreadPoolExecutor(max_workers=1)
    else:
        ex = cfutures.ProcessPoolExecutor(max_workers=1, start_method=kind)
    try:
        # workers (and the fork server) exist before the library is loaded
        assert ex.submit(native.echo_task, b"warm").result(LONG) == b"warm"
        late_path = compile_library(HERE / "native_tasks.c", tmp_path, f"liblate_{kind}.so")
        late = ctypes.CDLL(str(late_path))
        assert late.echo_task is not None
        assert long_of(ex.submit(late.gcd_task, pair(21, 14)).result(LONG)) == 7
    finally:
        ex.shutdown(wait=True)

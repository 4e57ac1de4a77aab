"""ThreadPoolExecutor and ProcessPoolExecutor over cf_executor."""

from __future__ import annotations

import concurrent.futures
import ctypes
import itertools
import os
import queue
import struct
import threading
import weakref
from concurrent.futures import _base
from ctypes import byref, c_size_t, c_uint64, c_void_p
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Type

from . import _lib
from ._errors import (
    SHUTDOWN_MESSAGE,
    BrokenExecutor,
    BrokenProcessPool,
    BrokenThreadPool,
    status_error,
)
from ._future import PyCall, Future, c_timeout, calls, next_key

_clib = _lib.lib

# ---------------------------------------------------------------------------------------
# Native tasks

NativeTask = Any  # a ctypes function pointer (ctypes._CFuncPtr) following cf_task_fn


def native_address(fn: Any) -> Optional[int]:
    """The address of a native task (a ctypes function pointer), or None for anything else."""
    if isinstance(fn, ctypes._CFuncPtr):  # type: ignore[attr-defined]
        addr = ctypes.cast(fn, c_void_p).value
        if not addr:
            raise ValueError("the native task is a NULL function pointer")
        return addr
    return None


def to_bytes(arg: Any) -> bytes:
    """A task argument as bytes: any bytes-like object (bytes, bytearray, memoryview, array,
    ctypes object, ...). Unlike ``bytes(arg)``, an int is refused rather than turned into
    that many zero bytes."""
    if isinstance(arg, bytes):
        return arg
    try:
        return memoryview(arg).tobytes()
    except TypeError:
        raise TypeError(
            f"a native task's argument must be a bytes-like object, not {type(arg).__name__}"
        ) from None


def _one_arg(args: tuple, kwargs: dict) -> bytes:
    if not kwargs and len(args) <= 1:
        return to_bytes(args[0]) if args else b""
    if not args and set(kwargs) == {"arg"}:
        return to_bytes(kwargs["arg"])
    raise TypeError("submit(task, arg=b'') takes one bytes-like argument for a native task")


# ---------------------------------------------------------------------------------------
# Python callables on the thread pool: one trampoline task; its argument is a key into
# `calls`. The value or the exception stays on the Python side (in the PyCall).

_KEY = struct.Struct("=Q")
_tls = threading.local()

_PyGILState_Ensure = ctypes.pythonapi.PyGILState_Ensure
_PyGILState_Ensure.restype = ctypes.c_int
_PyGILState_Ensure.argtypes = []


def _pin_thread_state() -> None:
    """Keeps this C worker thread's Python thread state for the thread's life.

    ctypes gives a thread that CPython did not create a new thread state for each callback
    and drops it after; ``threading.local`` data (set by an initializer, or cached by one
    task for the next) would vanish between tasks. One extra PyGILState_Ensure that is never
    released keeps the state (and so thread-locals and ``current_thread()``) for as long as
    the thread lives. A thread-local flag tells whether this state is already pinned.
    """
    if not getattr(_tls, "pinned", False):
        _PyGILState_Ensure()
        _tls.pinned = True


class _ThreadNamer:
    """Gives each worker thread that runs Python code the name ``<prefix>_<n>``, as the
    standard library names its threads (``threading.current_thread().name``)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._names: Dict[int, str] = {}
        self._lock = threading.Lock()

    def apply(self) -> None:
        ident = threading.get_ident()
        name = self._names.get(ident)
        if name is None:
            with self._lock:
                name = self._names.setdefault(ident, f"{self.prefix}_{len(self._names)}")
        thread = threading.current_thread()
        if thread.name != name:
            thread.name = name


@_lib.TASK_FN
def _run_python_call(arg: Optional[int], _len: int, out: Optional[int]) -> int:
    try:
        _pin_thread_state()
        key = c_uint64.from_address(arg or 0).value if _len == 8 else 0
        call = calls.pop(key, None)
        if call is None:
            _clib.cf_out_fail(out, b"cfutures: the Python call was lost")
            return -1
        if call.namer is not None:
            call.namer.apply()
        fn, args, kwargs = call.fn, call.args, call.kwargs
        call.fn = call.args = call.kwargs = None  # hold no reference once it ran
        try:
            call.value = fn(*(args or ()), **(kwargs or {}))
        except BaseException as exc:
            call.exc = exc
            return 1
        finally:
            del fn, args, kwargs
        return 0
    except BaseException:  # never let an exception escape into C
        _base.LOGGER.exception("cfutures: error in the Python task trampoline")
        return -1


class _PyInit:
    __slots__ = ("namer", "fn", "args")

    def __init__(self, namer: _ThreadNamer, fn: Callable[..., Any], args: tuple) -> None:
        self.namer = namer
        self.fn = fn
        self.args = args


_initializers: Dict[int, _PyInit] = {}


@_lib.TASK_FN
def _run_python_initializer(arg: Optional[int], _len: int, out: Optional[int]) -> int:
    try:
        _pin_thread_state()
        key = c_uint64.from_address(arg or 0).value if _len == 8 else 0
        init = _initializers.get(key)
        if init is None:
            return 0
        init.namer.apply()
        try:
            init.fn(*init.args)
        except BaseException as exc:
            _base.LOGGER.critical("Exception in initializer:", exc_info=True)
            text = f"the initializer raised {type(exc).__name__}: {exc}"
            _clib.cf_out_fail(out, text.encode("utf-8", "replace"))
            return 1
        return 0
    except BaseException:
        _base.LOGGER.exception("cfutures: error in the initializer trampoline")
        return -1


_RUN_PYTHON_CALL: int = ctypes.cast(_run_python_call, c_void_p).value or 0
_RUN_PYTHON_INITIALIZER: int = ctypes.cast(_run_python_initializer, c_void_p).value or 0

# ---------------------------------------------------------------------------------------
# Lifetime: executors alive at interpreter exit are shut down (wait=True) by a Python-level
# exit hook, before finalization (the C library's own atexit hook runs after it, when a
# callback into Python would crash). Executors collected without a waited shutdown are
# released by a reaper thread, since releasing waits for their queued work.

_live: "weakref.WeakSet[_CFExecutor]" = weakref.WeakSet()
_global_shutdown = False
_in_forked_child = False


class _Handle:
    """The C executor handle and what must be released with it (no reference to the
    executor object, so that it can be collected)."""

    __slots__ = ("handle", "waited", "init_key", "__weakref__")

    def __init__(self, handle: int, init_key: int) -> None:
        self.handle: Optional[int] = handle
        self.waited = False
        self.init_key = init_key

    def free(self) -> None:
        handle, self.handle = self.handle, None
        if handle and not _in_forked_child:
            _clib.cf_executor_free(handle)
        _initializers.pop(self.init_key, None)


class _Reaper:
    def __init__(self) -> None:
        self._queue: "queue.SimpleQueue[Optional[_Handle]]" = queue.SimpleQueue()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def _run(self) -> None:
        while True:
            h = self._queue.get()
            if h is None:
                return
            h.free()

    def put(self, h: _Handle) -> None:
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="cfutures-reaper", daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # interpreter shutting down: release here
                    h.free()
                    return
                self._thread = thread
        self._queue.put(h)

    def join(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()


_reaper = _Reaper()


def _finalize(h: _Handle) -> None:
    """The executor object was collected."""
    if h.handle is None or _in_forked_child:
        return
    if h.waited:
        h.free()
        return
    # Stop accepting work at once, let queued work finish, release once it has.
    _clib.cf_executor_shutdown(h.handle, False, False)
    _reaper.put(h)


def _python_exit() -> None:
    global _global_shutdown
    _global_shutdown = True
    if _in_forked_child:
        return
    for executor in list(_live):
        try:
            executor._exit_shutdown()
        except Exception:
            pass
    _reaper.join()


def _after_fork_in_child() -> None:
    # The C executors' threads do not exist in a forked child: never touch them there.
    global _in_forked_child
    _in_forked_child = True
    _live.clear()
    _reaper.__init__()  # type: ignore[misc]


if hasattr(threading, "_register_atexit"):
    threading._register_atexit(_python_exit)  # type: ignore[attr-defined]
else:  # pragma: no cover
    import atexit

    atexit.register(_python_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _cpu_count() -> int:
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return count or 1


def _check(status: int) -> None:
    if status != _lib.CF_OK:
        raise status_error(status, _lib.last_error())


class _MapIterator(Iterator[bytes]):
    """The results of a native ``map``, over ``cf_map_next``; ``close()`` (or collection)
    cancels what has not started."""

    def __init__(self, handle: int, broken: Type[BrokenExecutor]) -> None:
        self._it: Optional[int] = handle
        self._broken = broken
        self._lock = threading.Lock()

    def __iter__(self) -> "_MapIterator":
        return self

    def __next__(self) -> bytes:
        with self._lock:
            it = self._it
            if it is None:
                raise StopIteration
            data = c_void_p()
            size = c_size_t()
            status = _clib.cf_map_next(it, byref(data), byref(size))
            if status == _lib.CF_OK:
                n = size.value
                return ctypes.string_at(data.value or 0, n) if n else b""
            text = _lib.last_error()
            code = _clib.cf_map_error_code(it)
            self._it = None
            _clib.cf_map_free(it)
            if status == _lib.CF_DONE:
                raise StopIteration
            if status == _lib.CF_CANCELLED:
                raise concurrent.futures.CancelledError(text)
            raise status_error(status, text, code, self._broken)

    def close(self) -> None:
        with self._lock:
            it, self._it = self._it, None
            if it:
                _clib.cf_map_free(it)

    def __del__(self, _free: Any = _clib.cf_map_free) -> None:
        it = self.__dict__.get("_it")
        if it:
            self._it = None
            _free(it)


class _CFExecutor(concurrent.futures.Executor):
    """What both pools share: a cf_executor handle, submit of native tasks, native map,
    shutdown."""

    _kind = _lib.CF_THREAD_POOL
    _broken_cls: Type[BrokenExecutor] = BrokenExecutor
    _h: Optional[_Handle] = None

    def _create(self, max_workers: int, configure: Callable[[int], None], init_key: int = 0) -> None:
        if _global_shutdown:
            raise RuntimeError("cannot create an executor after interpreter shutdown")
        opts = _clib.cf_executor_options_new()
        if not opts:
            raise MemoryError("cf_executor_options_new failed")
        try:
            configure(opts)
            handle = _clib.cf_executor_new(self._kind, max_workers, opts)
            if not handle:
                raise ValueError(_lib.last_error())
        finally:
            _clib.cf_executor_options_free(opts)
        self._shutdown = False
        self._h = _Handle(handle, init_key)
        weakref.finalize(self, _finalize, self._h).atexit = False
        _live.add(self)

    # -- submit -----------------------------------------------------------------------------

    def _handle(self) -> int:
        h = self._h
        if h is None or h.handle is None:
            raise RuntimeError(SHUTDOWN_MESSAGE)
        return h.handle

    def _submit_raw(self, addr: int, data: bytes, call: Optional[PyCall] = None) -> Future:
        if _global_shutdown:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")
        out = c_void_p()
        status = _clib.cf_submit(self._handle(), addr, data, len(data), byref(out))
        if status != _lib.CF_OK:
            raise status_error(status, _lib.last_error(), None, self._broken_cls)
        fut = Future()
        fut._broken = self._broken_cls
        fut._call = call
        fut._attach(out.value or 0)
        return fut

    def _submit_native(self, addr: int, args: tuple, kwargs: dict) -> Future:
        return self._submit_raw(addr, _one_arg(args, kwargs))

    # -- map --------------------------------------------------------------------------------

    def _map_native(
        self, addr: int, fn: Any, iterables: tuple, timeout: Optional[float], chunksize: int
    ) -> Iterator[bytes]:
        if len(iterables) != 1:
            raise TypeError("map(task, iterable_of_bytes) takes one iterable for a native task")
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        items = [to_bytes(x) for x in iterables[0]]
        t = c_timeout(timeout)
        size = len(items[0]) if items else 0
        if any(len(x) != size for x in items):
            # cf_map takes items of one size: submit one by one (the standard library's map).
            return super().map(fn, items, timeout=timeout)
        if _global_shutdown:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")
        it = c_void_p()
        status = _clib.cf_map(
            self._handle(), addr, b"".join(items), size, len(items), t, chunksize, byref(it)
        )
        if status != _lib.CF_OK:
            raise status_error(status, _lib.last_error(), None, self._broken_cls)
        return _MapIterator(it.value or 0, self._broken_cls)

    # -- shutdown ---------------------------------------------------------------------------

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        h = self._h
        if h is None or h.handle is None:
            return
        status = _clib.cf_executor_shutdown(h.handle, bool(wait), bool(cancel_futures))
        text = _lib.last_error() if status != _lib.CF_OK else ""
        self._shutdown = True
        if status == _lib.CF_OK:
            if wait:
                h.waited = True
                _live.discard(self)
            return
        if status == _lib.CF_INVALID_ARGUMENT and wait:
            # Called from one of this executor's own tasks or callbacks: the shutdown has
            # started, but a worker cannot wait for itself (CPython: "cannot join current
            # thread").
            raise RuntimeError(f"cannot join current thread: {text}")
        raise status_error(status, text)

    def _exit_shutdown(self) -> None:
        h = self._h
        if h is not None and h.handle is not None:
            _clib.cf_executor_shutdown(h.handle, True, False)
            h.waited = True

    def __reduce__(self) -> Any:
        raise TypeError(f"cannot pickle {type(self).__name__} objects")


_thread_counter = itertools.count()


class ThreadPoolExecutor(_CFExecutor):
    """A drop-in for ``concurrent.futures.ThreadPoolExecutor`` on the cfutures thread pool.

    ``submit`` takes a Python callable (``submit(fn, *args, **kwargs)``, run with the GIL
    like any Python code) or a native task (``submit(task, arg=b"")``: a ctypes function
    pointer following ``cf_task_fn``, run without the GIL; its result is ``bytes``).
    ``initializer`` is a Python callable called with ``*initargs`` in each new worker thread,
    or a native task called with ``bytes(initargs)``.
    """

    _kind = _lib.CF_THREAD_POOL
    _broken_cls = BrokenThreadPool

    def __init__(
        self,
        max_workers: Optional[int] = None,
        thread_name_prefix: str = "",
        initializer: Optional[Callable[..., Any]] = None,
        initargs: Any = (),
    ) -> None:
        if max_workers is None:
            max_workers = min(32, _cpu_count() + 4)
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._max_workers = max_workers
        self._thread_name_prefix = thread_name_prefix or (
            f"ThreadPoolExecutor-{next(_thread_counter)}"
        )
        self._namer = _ThreadNamer(self._thread_name_prefix)
        init_key = 0
        init_addr = native_address(initializer)
        init_arg = b""
        if init_addr is not None:
            init_arg = to_bytes(initargs) if initargs != () else b""
        elif initializer is not None:
            init_key = next_key()
            _initializers[init_key] = _PyInit(self._namer, initializer, tuple(initargs))
            init_addr = _RUN_PYTHON_INITIALIZER
            init_arg = struct.pack("=Q", init_key)

        def configure(opts: int) -> None:
            _check(
                _clib.cf_executor_options_set_thread_name_prefix(
                    opts, self._thread_name_prefix.encode("utf-8", "replace")
                )
            )
            if init_addr is not None:
                _check(
                    _clib.cf_executor_options_set_initializer(
                        opts, init_addr, init_arg, len(init_arg)
                    )
                )

        try:
            self._create(max_workers, configure, init_key)
        except BaseException:
            _initializers.pop(init_key, None)
            raise

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        addr = native_address(fn)
        if addr is not None:
            return self._submit_native(addr, args, kwargs)
        if not callable(fn):
            raise TypeError(f"{type(fn).__name__!r} object is not callable")
        key = next_key()
        call = PyCall(key, fn, args, kwargs, self._namer)
        calls[key] = call
        try:
            return self._submit_raw(_RUN_PYTHON_CALL, _KEY.pack(key), call)
        except BaseException:
            calls.pop(key, None)
            raise

    def map(
        self,
        fn: Any,
        *iterables: Iterable[Any],
        timeout: Optional[float] = None,
        chunksize: int = 1,
    ) -> Iterator[Any]:
        addr = native_address(fn)
        if addr is not None:
            return self._map_native(addr, fn, iterables, timeout, chunksize)
        return super().map(fn, *iterables, timeout=timeout, chunksize=chunksize)


_START_METHODS = {
    "forkserver": _lib.CF_START_FORKSERVER,
    "fork": _lib.CF_START_FORK,
    "spawn": _lib.CF_START_SPAWN,
}

_NOT_NATIVE = (
    "ProcessPoolExecutor runs native tasks only: a ctypes function pointer from a loaded "
    "shared library that follows cf_task_fn (e.g. ctypes.CDLL(path).my_task). Its worker "
    "processes run C, not Python, so a Python callable ({what}) cannot run there; use "
    "cfutures.ThreadPoolExecutor or concurrent.futures.ProcessPoolExecutor for Python code"
)


class ProcessPoolExecutor(_CFExecutor):
    """The cfutures process pool: native tasks run in worker processes.

    ``start_method`` is ``"forkserver"`` (the default), ``"fork"`` or ``"spawn"``;
    ``initializer`` is a native task run once in each new worker with ``initargs`` bytes;
    ``max_tasks_per_child`` replaces a worker after that many tasks; ``task_timeout`` (seconds)
    kills a worker whose task runs longer, failing the task with ``TaskExpired``.
    """

    _kind = _lib.CF_PROCESS_POOL
    _broken_cls = BrokenProcessPool

    def __init__(
        self,
        max_workers: Optional[int] = None,
        *,
        start_method: Optional[str] = None,
        initializer: Optional[NativeTask] = None,
        initargs: Any = b"",
        max_tasks_per_child: Optional[int] = None,
        task_timeout: Optional[float] = None,
    ) -> None:
        if max_workers is None:
            max_workers = _cpu_count()
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if start_method is not None and start_method not in _START_METHODS:
            raise ValueError(
                f"start_method must be one of {sorted(_START_METHODS)}, not {start_method!r}"
            )
        init_addr = None
        init_arg = b""
        if initializer is not None:
            init_addr = native_address(initializer)
            if init_addr is None:
                raise TypeError(_NOT_NATIVE.format(what=f"initializer {initializer!r}"))
            init_arg = to_bytes(initargs)
        if max_tasks_per_child is not None:
            if not isinstance(max_tasks_per_child, int):
                raise TypeError("max_tasks_per_child must be an integer")
            if max_tasks_per_child <= 0:
                raise ValueError("max_tasks_per_child must be >= 1")
        if task_timeout is not None:
            task_timeout = float(task_timeout)
            if not task_timeout > 0:  # also refuses NaN
                raise ValueError("task_timeout must be a positive number of seconds")
        self._max_workers = max_workers
        self._start_method = start_method or "forkserver"

        def configure(opts: int) -> None:
            if start_method is not None:
                _check(
                    _clib.cf_executor_options_set_start_method(opts, _START_METHODS[start_method])
                )
            if init_addr is not None:
                _check(
                    _clib.cf_executor_options_set_initializer(
                        opts, init_addr, init_arg, len(init_arg)
                    )
                )
            if max_tasks_per_child is not None:
                _check(
                    _clib.cf_executor_options_set_max_tasks_per_child(opts, max_tasks_per_child)
                )
            if task_timeout is not None:
                _check(_clib.cf_executor_options_set_task_timeout(opts, task_timeout))

        self._create(max_workers, configure)

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        addr = native_address(fn)
        if addr is None:
            raise TypeError(_NOT_NATIVE.format(what=repr(fn)))
        return self._submit_native(addr, args, kwargs)

    def map(  # type: ignore[override]
        self,
        fn: Any,
        *iterables: Iterable[Any],
        timeout: Optional[float] = None,
        chunksize: int = 1,
    ) -> Iterator[bytes]:
        addr = native_address(fn)
        if addr is None:
            raise TypeError(_NOT_NATIVE.format(what=repr(fn)))
        return self._map_native(addr, fn, iterables, timeout, chunksize)

    def terminate_workers(self) -> None:
        """Stops every worker now with SIGTERM (CPython 3.14): shuts the executor down,
        cancels what has not started; running tasks fail with WorkerDied."""
        _check(_clib.cf_executor_terminate_workers(self._handle()))
        self._shutdown = True

    def kill_workers(self) -> None:
        """As ``terminate_workers``, with SIGKILL (CPython 3.14)."""
        _check(_clib.cf_executor_kill_workers(self._handle()))
        self._shutdown = True

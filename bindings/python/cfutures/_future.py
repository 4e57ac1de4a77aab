"""cfutures.Future (a concurrent.futures.Future backed by a cf_future), wait and as_completed.

The C future is the source of truth. Its outcome is mirrored into the Python future's state
(the fields ``concurrent.futures.Future`` keeps: ``_state``, ``_result``, ``_exception``,
``_waiters``) by ``_sync``, which is idempotent under the future's own condition lock and is
called from a C done-callback and from every method that learns from C that the future is
done. So the standard library's ``wait()`` and ``as_completed()``, which install waiters on
those fields, see cfutures futures finish, fail and get cancelled as they see their own.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import itertools
import math
import threading
import time
from concurrent.futures import _base
from ctypes import byref, c_bool, c_size_t, c_void_p
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Set,
    Tuple,
    Type,
    TypeVar,
)

from . import _lib
from ._errors import BrokenExecutor, status_error

_T = TypeVar("_T")
_clib = _lib.lib

FIRST_COMPLETED = concurrent.futures.FIRST_COMPLETED
FIRST_EXCEPTION = concurrent.futures.FIRST_EXCEPTION
ALL_COMPLETED = concurrent.futures.ALL_COMPLETED

_RETURN_WHEN = {
    ALL_COMPLETED: _lib.CF_ALL_COMPLETED,
    FIRST_COMPLETED: _lib.CF_FIRST_COMPLETED,
    FIRST_EXCEPTION: _lib.CF_FIRST_EXCEPTION,
}

_PENDING = _base.PENDING
_CANCELLED = _base.CANCELLED
_CANCELLED_AND_NOTIFIED = _base.CANCELLED_AND_NOTIFIED
_FINISHED = _base.FINISHED
_DONE_STATES = (_CANCELLED, _CANCELLED_AND_NOTIFIED, _FINISHED)

# Keys handed to C as user_data / task arguments (never 0, which C would see as NULL).
_keys = itertools.count(1)
next_key = _keys.__next__

# Futures whose C done-callback has not run yet, by key. Holding them here keeps the Python
# future (and so its outcome) alive for as long as C may report to it, as the standard
# library's work items hold their futures.
_pending: Dict[int, "Future"] = {}


class PyCall:
    """A Python callable submitted to the thread pool, and its outcome once it ran."""

    __slots__ = ("key", "fn", "args", "kwargs", "namer", "value", "exc")

    def __init__(self, key: int, fn: Any, args: tuple, kwargs: dict, namer: Any) -> None:
        self.key = key
        self.fn: Any = fn
        self.args: Optional[tuple] = args
        self.kwargs: Optional[dict] = kwargs
        self.namer = namer
        self.value: Any = None
        self.exc: Optional[BaseException] = None


# Python calls submitted and not yet started, by key (the task argument).
calls: Dict[int, PyCall] = {}


def c_timeout(timeout: Optional[float]) -> float:
    """A Python timeout as the C API wants it: None waits forever; negative polls (as
    ``threading.Condition.wait``); NaN is refused."""
    if timeout is None:
        return _lib.CF_FOREVER
    t = float(timeout)
    if math.isnan(t):
        raise ValueError("timeout must not be NaN")
    return 0.0 if t < 0 else t


@_lib.DONE_CALLBACK
def _on_done(_handle: Optional[int], key: Optional[int]) -> None:
    # Runs in the thread that completed (or cancelled) the C future, with the GIL.
    try:
        fut = _pending.pop(key or 0, None)
        if fut is not None:
            fut._sync()
    except BaseException:  # never let an exception escape into C
        _base.LOGGER.exception("cfutures: error in a done-callback trampoline")


_ON_DONE_ADDR: int = ctypes.cast(_on_done, c_void_p).value or 0


class Future(concurrent.futures.Future):
    """A ``concurrent.futures.Future`` whose outcome comes from a C ``cf_future``.

    Created by the executors' ``submit``; a ``Future()`` made directly is a plain
    ``concurrent.futures.Future``. The result of a native task is ``bytes``; the result of a
    Python callable is its return value.
    """

    _handle: Optional[int] = None

    def __init__(self) -> None:
        super().__init__()
        self._handle = None
        self._key = 0
        self._call: Optional[PyCall] = None
        self._broken: Type[BrokenExecutor] = BrokenExecutor

    # -- plumbing ---------------------------------------------------------------------------

    def _attach(self, handle: int) -> None:
        """Takes ownership of a new cf_future and installs the C done-callback."""
        self._handle = handle
        key = next_key()
        self._key = key
        _pending[key] = self
        status = _clib.cf_future_add_done_callback(handle, _ON_DONE_ADDR, key)
        if status != _lib.CF_OK:  # cannot happen with a valid handle; do not lose the outcome
            _pending.pop(key, None)
            raise status_error(status, _lib.last_error())

    def _outcome(self, handle: int) -> Tuple[str, Any]:
        data = c_void_p()
        size = c_size_t()
        status = _clib.cf_future_result(handle, 0.0, byref(data), byref(size))
        call = self._call
        if status == _lib.CF_OK:
            if call is not None:
                return "result", call.value
            n = size.value
            return "result", ctypes.string_at(data.value or 0, n) if n else b""
        if status == _lib.CF_CANCELLED:
            return "cancelled", None
        text = _lib.last_error()
        if status == _lib.CF_TASK_FAILED and call is not None and call.exc is not None:
            return "exception", call.exc
        code = _clib.cf_future_error_code(handle)
        message = _clib.cf_future_error_message(handle)
        msg = message.decode("utf-8", "replace") if message else text
        return "exception", status_error(status, msg, code, self._broken)

    def _sync(self) -> bool:
        """Mirrors the C future's outcome into this future if C says it is done; returns
        whether this future is done. Idempotent and thread-safe; the done-callbacks run in
        the thread that makes the transition, outside the lock."""
        handle = self._handle
        if handle is None:
            return self._state in _DONE_STATES
        with self._condition:
            if self._state in _DONE_STATES:
                return True
            if not _clib.cf_future_done(handle):
                return False
            kind, value = self._outcome(handle)
            if kind == "result":
                self._result = value
                self._state = _FINISHED
                for waiter in self._waiters:
                    waiter.add_result(self)
            elif kind == "exception":
                self._exception = value
                self._state = _FINISHED
                for waiter in self._waiters:
                    waiter.add_exception(self)
            else:
                # Straight to CANCELLED_AND_NOTIFIED: a cancel is seen at once by every
                # waiter (the standard library only notices when a worker dequeues the item).
                self._state = _CANCELLED_AND_NOTIFIED
                for waiter in self._waiters:
                    waiter.add_cancelled(self)
            self._condition.notify_all()
            call = self._call
            if call is not None:
                self._call = None
                calls.pop(call.key, None)  # a call that never ran (cancelled, broken pool)
        _pending.pop(self._key, None)
        self._invoke_callbacks()  # type: ignore[attr-defined]
        return True

    def _wait_c(self, timeout: Optional[float]) -> None:
        """Blocks (without the GIL) until the C future is done or the timeout passes."""
        t = c_timeout(timeout)
        status = _clib.cf_future_exception(self._handle, t)
        if status == _lib.CF_TIMEOUT:
            raise TimeoutError()
        self._sync()

    def __del__(self, _free: Any = _clib.cf_future_free) -> None:
        handle = self.__dict__.get("_handle")
        if handle:
            self._handle = None
            _free(handle)

    # -- concurrent.futures.Future API ------------------------------------------------------

    def cancel(self) -> bool:
        handle = self._handle
        if handle is None:
            return super().cancel()
        with self._condition:
            if self._state in (_CANCELLED, _CANCELLED_AND_NOTIFIED):
                return True
            if self._state == _FINISHED:
                return False
        # cf_future_cancel runs the done-callback (hence _sync) in this thread before it
        # returns; _sync again in case it was installed after.
        cancelled = bool(_clib.cf_future_cancel(handle))
        if cancelled:
            self._sync()
        return cancelled

    def cancelled(self) -> bool:
        handle = self._handle
        if handle is None or self._state in _DONE_STATES:
            return super().cancelled()
        if _clib.cf_future_cancelled(handle):
            self._sync()
            return True
        return False

    def running(self) -> bool:
        handle = self._handle
        if handle is None or self._state in _DONE_STATES:
            return super().running()
        return bool(_clib.cf_future_running(handle))

    def done(self) -> bool:
        if self._handle is None:
            return super().done()
        return self._sync()

    def result(self, timeout: Optional[float] = None) -> Any:
        if self._handle is not None and self._state not in _DONE_STATES:
            self._wait_c(timeout)
            timeout = 0
        return super().result(timeout)

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        if self._handle is not None and self._state not in _DONE_STATES:
            self._wait_c(timeout)
            timeout = 0
        return super().exception(timeout)

    def __repr__(self) -> str:
        handle = self._handle
        if handle is not None and self._state == _PENDING and _clib.cf_future_running(handle):
            return f"<{self.__class__.__name__} at {id(self):#x} state=running>"
        return super().__repr__()


def _backed(f: Any) -> bool:
    return isinstance(f, Future) and f._handle is not None


def _settled(f: concurrent.futures.Future) -> bool:
    # As the standard library's wait() sees a plain future: a CANCELLED one is not done until
    # its executor has noticed (CANCELLED_AND_NOTIFIED).
    return f._state in (_CANCELLED_AND_NOTIFIED, _FINISHED)


def _failed(f: concurrent.futures.Future) -> bool:
    return not f.cancelled() and f.exception(0) is not None


def wait(
    fs: Iterable[concurrent.futures.Future],
    timeout: Optional[float] = None,
    return_when: str = ALL_COMPLETED,
) -> "concurrent.futures._base.DoneAndNotDoneFutures":
    """``concurrent.futures.wait`` on ``cf_wait``: waits without the GIL and without polling.

    Also accepts plain ``concurrent.futures.Future`` objects; while one of those is still
    pending the standard library's algorithm is used (cfutures futures work with it too).
    """
    if return_when not in _RETURN_WHEN:
        raise ValueError(f"Invalid return condition: {return_when!r}")
    fs = set(fs)
    native: List[Future] = [f for f in fs if isinstance(f, Future) and f._handle is not None]
    plain = [f for f in fs if not _backed(f)]
    if not all(_settled(f) for f in plain):
        return concurrent.futures.wait(fs, timeout=timeout, return_when=return_when)
    t = c_timeout(timeout)
    if plain and return_when == FIRST_COMPLETED:
        t = 0.0
    elif return_when == FIRST_EXCEPTION and any(_failed(f) for f in plain):
        t = 0.0
    done: Set[concurrent.futures.Future] = set(plain)
    n = len(native)
    if n:
        handles = (c_void_p * n)(*[f._handle for f in native])
        flags = (c_bool * n)()
        status = _clib.cf_wait(handles, n, t, _RETURN_WHEN[return_when], flags, None)
        if status not in (_lib.CF_OK, _lib.CF_TIMEOUT):
            raise status_error(status, _lib.last_error())
        for f, flag in zip(native, flags):
            if flag:
                f._sync()
                done.add(f)
    return _base.DoneAndNotDoneFutures(done, fs - done)


class _AsCompleted(Iterator[concurrent.futures.Future]):
    """The iterator of ``as_completed`` over ``cf_as_completed``. It keeps no reference to a
    future it has handed out."""

    def __init__(
        self,
        ready: List[concurrent.futures.Future],
        native: List[Future],
        total: int,
        timeout: Optional[float],
    ) -> None:
        self._lock = threading.Lock()
        self._ready = ready[::-1]
        self._native: List[Optional[Future]] = list(native)
        self._left = len(native)
        self._total = total
        self._it: Optional[int] = None
        n = len(native)
        if n:
            handles = (c_void_p * n)(*[f._handle for f in native])
            it = c_void_p()
            status = _clib.cf_as_completed_new(handles, n, c_timeout(timeout), byref(it))
            if status != _lib.CF_OK:
                raise status_error(status, _lib.last_error())
            self._it = it.value

    def __iter__(self) -> "_AsCompleted":
        return self

    def __next__(self) -> concurrent.futures.Future:
        with self._lock:
            if self._ready:
                return self._ready.pop()
            it = self._it
            if it is None:
                raise StopIteration
            index = c_size_t()
            handle = c_void_p()
            status = _clib.cf_as_completed_next(it, byref(handle), byref(index))
            if status == _lib.CF_OK:
                f = self._native[index.value]
                self._native[index.value] = None
                self._left -= 1
                assert f is not None
                f._sync()
                return f
            text = _lib.last_error()
            self._close()
            if status == _lib.CF_DONE:
                raise StopIteration
            if status == _lib.CF_TIMEOUT:
                raise TimeoutError(f"{self._left} (of {self._total}) futures unfinished")
            raise status_error(status, text)

    def _close(self) -> None:
        it, self._it = self._it, None
        self._native = []
        if it:
            _clib.cf_as_completed_free(it)

    def close(self) -> None:
        """Releases the C iterator; later ``next`` calls raise StopIteration."""
        with self._lock:
            self._ready = []
            self._close()

    def __del__(self, _free: Any = _clib.cf_as_completed_free) -> None:
        it = self.__dict__.get("_it")
        if it:
            self._it = None
            _free(it)


def _stdlib_as_completed(
    fs: List[concurrent.futures.Future], deadline: Optional[float]
) -> Iterator[concurrent.futures.Future]:
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    yield from concurrent.futures.as_completed(fs, timeout=remaining)


def as_completed(
    fs: Iterable[concurrent.futures.Future], timeout: Optional[float] = None
) -> Iterator[concurrent.futures.Future]:
    """``concurrent.futures.as_completed`` on ``cf_as_completed``.

    Yields each distinct future once as it completes, those already done first. The timeout
    counts from this call, as the documentation says (CPython's generator starts it at the
    first ``next``); futures already done are still handed out after it passed, then
    ``TimeoutError("N (of M) futures unfinished")``. Plain ``concurrent.futures.Future``
    objects are accepted; while one of those is pending the standard library's algorithm is
    used, with the deadline still counted from this call.
    """
    deadline = None if timeout is None else time.monotonic() + c_timeout(timeout)
    unique = list(dict.fromkeys(fs))
    plain = [f for f in unique if not _backed(f)]
    if not all(_settled(f) for f in plain):
        return _stdlib_as_completed(unique, deadline)
    native = [f for f in unique if isinstance(f, Future) and f._handle is not None]
    return _AsCompleted(plain, native, len(unique), timeout)

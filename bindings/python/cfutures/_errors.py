"""The exceptions of cfutures and the mapping from cf_status values to them."""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import concurrent.futures.thread
from typing import Optional, Type

from . import _lib


class TaskError(Exception):
    """Base of the failures a native task's future can end with.

    ``code`` and ``message`` are what the C API reports (``cf_future_error_code`` and
    ``cf_future_error_message``).
    """

    def __init__(self, code: Optional[int], message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message if self.code is None else f"{self.message} (code {self.code})"


class TaskFailed(TaskError):
    """The task returned nonzero or called ``cf_out_fail`` (the C counterpart of raising).

    ``code`` is the task's return value (0 when it failed only through ``cf_out_fail``);
    ``message`` the text given to ``cf_out_fail``, else "task returned N".
    """


class WorkerDied(TaskError):
    """The worker process running the task died. ``code`` follows ``Process.exitcode``: minus
    the signal number for a death by signal (-6 for SIGABRT), else the exit status."""


class TaskExpired(TaskError):
    """The task outran the process pool's ``task_timeout``; its worker was killed."""


class BrokenExecutor(concurrent.futures.BrokenExecutor):
    """The executor can run nothing more (e.g. an initializer failed)."""


class BrokenThreadPool(BrokenExecutor, concurrent.futures.thread.BrokenThreadPool):
    """A cfutures thread pool is broken (also a ``concurrent.futures.thread.BrokenThreadPool``)."""


class BrokenProcessPool(BrokenExecutor, concurrent.futures.process.BrokenProcessPool):
    """A cfutures process pool is broken (also a
    ``concurrent.futures.process.BrokenProcessPool``)."""


SHUTDOWN_MESSAGE = "cannot schedule new futures after shutdown"


def status_error(
    status: int,
    message: str,
    code: Optional[int] = None,
    broken: Type[BrokenExecutor] = BrokenExecutor,
) -> BaseException:
    """The Python exception for a failing cf_status (not CF_OK, CF_TIMEOUT or CF_CANCELLED)."""
    if status == _lib.CF_TASK_FAILED:
        return TaskFailed(code, message)
    if status == _lib.CF_WORKER_DIED:
        return WorkerDied(code, message)
    if status == _lib.CF_TASK_EXPIRED:
        return TaskExpired(code, message)
    if status == _lib.CF_BROKEN:
        return broken(message)
    if status == _lib.CF_SHUTDOWN:
        return RuntimeError(f"{SHUTDOWN_MESSAGE} ({message})" if message else SHUTDOWN_MESSAGE)
    if status == _lib.CF_INVALID_ARGUMENT:
        return ValueError(message)
    if status == _lib.CF_NO_MEMORY:
        return MemoryError(message)
    if status == _lib.CF_TIMEOUT:
        return TimeoutError(message)
    if status == _lib.CF_CANCELLED:
        return concurrent.futures.CancelledError(message)
    return RuntimeError(f"cfutures: {_lib.status_name(status)}: {message}")

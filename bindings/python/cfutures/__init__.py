"""cfutures: Python's concurrent.futures API over the cfutures C library (libcfutures.so).

``ThreadPoolExecutor`` is a drop-in for ``concurrent.futures.ThreadPoolExecutor`` that also
runs native tasks (C functions ``int task(const void *arg, size_t len, cf_out *out)`` loaded
with ctypes) without the GIL; ``ProcessPoolExecutor`` runs native tasks in worker processes.
Futures are ``concurrent.futures.Future`` instances; ``wait`` and ``as_completed`` run on the
C library's waiters.
"""

from concurrent.futures import CancelledError

from ._errors import (
    BrokenExecutor,
    BrokenProcessPool,
    BrokenThreadPool,
    TaskError,
    TaskExpired,
    TaskFailed,
    WorkerDied,
)
from ._executor import ProcessPoolExecutor, ThreadPoolExecutor
from ._future import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    Future,
    as_completed,
    wait,
)
from ._lib import path as library_path
from ._lib import version as library_version

__version__ = "0.1.0"

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "BrokenExecutor",
    "BrokenProcessPool",
    "BrokenThreadPool",
    "CancelledError",
    "Future",
    "ProcessPoolExecutor",
    "TaskError",
    "TaskExpired",
    "TaskFailed",
    "ThreadPoolExecutor",
    "WorkerDied",
    "as_completed",
    "library_path",
    "library_version",
    "wait",
]

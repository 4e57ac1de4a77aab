"""Finding and loading libcfutures.so, and the prototypes of the C API used by the package.

The library is looked up, in order, through the ``CFUTURES_LIB`` environment variable, beside
this package, then in the crate's ``target/release`` and ``target/debug`` directories (found
from the package's own location when it is used from a checkout of the repository, and from
``CARGO_TARGET_DIR`` when that is set), then through the system's library search
(``ctypes.util.find_library``: an installed copy the dynamic loader knows).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (
    POINTER,
    c_bool,
    c_char_p,
    c_double,
    c_int,
    c_size_t,
    c_uint,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import List, Optional

LIBRARY_NAME = "libcfutures.so"

# cf_status values (include/cfutures.h); fixed and never renumbered.
CF_OK = 0
CF_TIMEOUT = 1
CF_CANCELLED = 2
CF_TASK_FAILED = 3
CF_WORKER_DIED = 4
CF_TASK_EXPIRED = 5
CF_BROKEN = 6
CF_SHUTDOWN = 7
CF_INVALID_ARGUMENT = 8
CF_NO_MEMORY = 9
CF_DONE = 10
CF_INTERNAL = 11

CF_THREAD_POOL = 0
CF_PROCESS_POOL = 1

CF_ALL_COMPLETED = 0
CF_FIRST_COMPLETED = 1
CF_FIRST_EXCEPTION = 2

CF_START_FORKSERVER = 0
CF_START_FORK = 1
CF_START_SPAWN = 2

CF_FOREVER = -1.0

# int task(const void *arg, size_t arg_len, cf_out *out)
TASK_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_size_t, c_void_p)
# void callback(cf_future *f, void *user_data)
DONE_CALLBACK = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)


def _candidates() -> List[Path]:
    here = Path(__file__).resolve().parent
    found: List[Path] = [here / LIBRARY_NAME]
    roots: List[Path] = []
    target_dir = os.environ.get("CARGO_TARGET_DIR")
    if target_dir:
        roots.append(Path(target_dir))
    # From a checkout: <repo>/bindings/python/cfutures/_lib.py -> <repo>/target. Look a few
    # levels up for the crate (a Cargo.toml beside include/cfutures.h).
    for parent in list(here.parents)[:4]:
        if (parent / "Cargo.toml").is_file() and (parent / "include" / "cfutures.h").is_file():
            roots.append(parent / "target")
            break
    for root in roots:
        found.append(root / "release" / LIBRARY_NAME)
        found.append(root / "debug" / LIBRARY_NAME)
    return found


def find_library() -> str:
    """The path of the libcfutures.so that the package loads; ImportError if there is none."""
    env = os.environ.get("CFUTURES_LIB")
    if env:
        if not os.path.isfile(env):
            raise ImportError(
                f"cfutures: CFUTURES_LIB is set to {env!r}, which is not a file; point it at "
                "libcfutures.so (build it with `cargo build --release` or `make` in the cfutures "
                "repository) or unset it"
            )
        return env
    tried = _candidates()
    for path in tried:
        if path.is_file():
            return str(path)
    # Last, the system's own search (an install into a prefix the dynamic loader knows, such
    # as `make install PREFIX=/usr/local` followed by ldconfig).
    system = ctypes.util.find_library("cfutures")
    if system:
        return system
    places = "\n  ".join([str(p) for p in tried] + ["the dynamic loader's search path"])
    raise ImportError(
        f"cfutures: cannot find {LIBRARY_NAME}. Build it with `cargo build --release` (or `make`) "
        "in the cfutures repository, then set CFUTURES_LIB to the path of "
        f"target/release/{LIBRARY_NAME} (or PREFIX/lib/{LIBRARY_NAME} after `make install "
        "PREFIX=...`, or copy it beside the cfutures package). Looked in:\n  " + places
    )


def _declare(lib: ctypes.CDLL) -> None:
    """Sets argtypes/restype for every function the package calls."""
    vp = c_void_p
    protos = {
        "cf_last_error": (c_char_p, []),
        "cf_status_str": (c_char_p, [c_int]),
        "cf_version": (c_char_p, []),
        "cf_executor_new": (vp, [c_uint, c_uint32, vp]),
        "cf_submit": (c_int, [vp, vp, vp, c_size_t, POINTER(vp)]),
        "cf_executor_shutdown": (c_int, [vp, c_bool, c_bool]),
        "cf_executor_free": (None, [vp]),
        "cf_executor_terminate_workers": (c_int, [vp]),
        "cf_executor_kill_workers": (c_int, [vp]),
        "cf_future_result": (c_int, [vp, c_double, POINTER(vp), POINTER(c_size_t)]),
        "cf_future_exception": (c_int, [vp, c_double]),
        "cf_future_error_code": (c_int, [vp]),
        "cf_future_error_message": (c_char_p, [vp]),
        "cf_future_cancel": (c_bool, [vp]),
        "cf_future_cancelled": (c_bool, [vp]),
        "cf_future_running": (c_bool, [vp]),
        "cf_future_done": (c_bool, [vp]),
        "cf_future_add_done_callback": (c_int, [vp, vp, vp]),
        "cf_future_retain": (vp, [vp]),
        "cf_future_free": (None, [vp]),
        "cf_map": (
            c_int,
            [vp, vp, vp, c_size_t, c_size_t, c_double, c_size_t, POINTER(vp)],
        ),
        "cf_map_next": (c_int, [vp, POINTER(vp), POINTER(c_size_t)]),
        "cf_map_error_code": (c_int, [vp]),
        "cf_map_free": (None, [vp]),
        "cf_executor_options_new": (vp, []),
        "cf_executor_options_free": (None, [vp]),
        "cf_executor_options_set_thread_name_prefix": (c_int, [vp, c_char_p]),
        "cf_executor_options_set_initializer": (c_int, [vp, vp, vp, c_size_t]),
        "cf_executor_options_set_start_method": (c_int, [vp, c_uint]),
        "cf_executor_options_set_max_tasks_per_child": (c_int, [vp, c_uint64]),
        "cf_executor_options_set_task_timeout": (c_int, [vp, c_double]),
        "cf_executor_options_set_worker_path": (c_int, [vp, c_char_p]),
        "cf_out_set": (c_int, [vp, vp, c_size_t]),
        "cf_out_fail": (c_int, [vp, c_char_p]),
        "cf_wait": (
            c_int,
            [vp, c_size_t, c_double, c_uint, POINTER(c_bool), POINTER(c_size_t)],
        ),
        "cf_as_completed_new": (c_int, [vp, c_size_t, c_double, POINTER(vp)]),
        "cf_as_completed_next": (c_int, [vp, POINTER(vp), POINTER(c_size_t)]),
        "cf_as_completed_free": (None, [vp]),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def load() -> ctypes.CDLL:
    path = find_library()
    try:
        # CDLL (not PyDLL): every call releases the GIL, so blocking calls (result, wait,
        # shutdown) and native tasks never hold it. RTLD_GLOBAL: task libraries loaded later
        # with ctypes resolve cf_out_set & co. from it, as they do from a C program linked
        # with -lcfutures (and from the cf-worker program, which exports them).
        lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError as e:
        raise ImportError(
            f"cfutures: cannot load {path}: {e}. Rebuild it with `cargo build --release` "
            "(or `make`) in the cfutures repository, or set CFUTURES_LIB"
        ) from e
    try:
        _declare(lib)
    except AttributeError as e:
        raise ImportError(
            f"cfutures: {path} is not a compatible libcfutures ({e}); rebuild it with "
            "`cargo build --release`"
        ) from e
    return lib


lib = load()
path: str = lib._name
version: str = lib.cf_version().decode()


def last_error() -> str:
    """cf_last_error() as text; call it right after the failing call, on the same thread."""
    msg: Optional[bytes] = lib.cf_last_error()
    return msg.decode("utf-8", "replace") if msg else ""


def status_name(status: int) -> str:
    return lib.cf_status_str(status).decode()

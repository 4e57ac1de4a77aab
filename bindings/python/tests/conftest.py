"""Shared fixtures: the native task library (compiled once per session from native_tasks.c),
a per-test watchdog, and executors that are always shut down."""

from __future__ import annotations

import ctypes
import faulthandler
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

import cfutures

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
INCLUDE = REPO / "include"

# Every test is bounded: a hung test dumps every thread's traceback and ends the run.
WATCHDOG_SECONDS = float(os.environ.get("CFUTURES_TEST_WATCHDOG", "60"))
# Bound for waits that are expected to succeed (results, events); far above any real need.
LONG = 20.0

START_METHODS = ["forkserver", "fork", "spawn"]


def pytest_report_header(config: pytest.Config) -> list:
    return [f"cfutures: {cfutures.__file__}", f"libcfutures: {cfutures.library_path}"]


def compile_library(source: Path, out_dir: Path, name: str) -> Path:
    cc = os.environ.get("CC") or shutil.which("cc") or "gcc"
    out = out_dir / name
    cmd = [
        cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC",
        f"-I{INCLUDE}", str(source), "-o", str(out), "-lpthread",
    ]
    subprocess.run(cmd, check=True)
    return out


@pytest.fixture(scope="session")
def native_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("native")


@pytest.fixture(scope="session")
def native_path(native_dir: Path) -> Path:
    return compile_library(HERE / "native_tasks.c", native_dir, "libcf_native_tasks.so")


@pytest.fixture(scope="session")
def native(native_path: Path) -> ctypes.CDLL:
    """The native test tasks (see native_tasks.c)."""
    lib = ctypes.CDLL(str(native_path))
    lib.gate_wait_started.argtypes = [ctypes.c_double]
    lib.gate_wait_started.restype = ctypes.c_int
    lib.gate_open.argtypes = []
    lib.gate_open.restype = None
    lib.gate_reset.argtypes = []
    lib.gate_reset.restype = None
    return lib


@pytest.fixture(autouse=True)
def watchdog() -> Iterator[None]:
    faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def thread_pool() -> Iterator[cfutures.ThreadPoolExecutor]:
    ex = cfutures.ThreadPoolExecutor(max_workers=4)
    try:
        yield ex
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(params=["thread"] + START_METHODS)
def any_pool(request: pytest.FixtureRequest) -> Iterator[cfutures.ProcessPoolExecutor]:
    """Both pools: the thread pool and the process pool with each start method."""
    if request.param == "thread":
        ex = cfutures.ThreadPoolExecutor(max_workers=2)
    else:
        ex = cfutures.ProcessPoolExecutor(max_workers=2, start_method=request.param)
    try:
        yield ex
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def run_python(code: str, timeout: float = LONG, **env: str) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter with this one's cfutures importable."""
    environ = dict(os.environ)
    pkg_parent = str(Path(cfutures.__file__).resolve().parents[1])
    environ["PYTHONPATH"] = os.pathsep.join(
        [pkg_parent] + ([environ["PYTHONPATH"]] if environ.get("PYTHONPATH") else [])
    )
    environ["CFUTURES_LIB"] = cfutures.library_path
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environ,
    )

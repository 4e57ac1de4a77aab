"""Interpreter exit with live executors, finding the library, and forked children; each in a
fresh interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cfutures
from conftest import LONG, run_python


def script(body: str) -> str:
    return textwrap.dedent(body)


def test_exit_with_pending_work_on_both_pools(native_path):
    # Nothing is shut down explicitly: the exit hook must let the queued work and its
    # done-callbacks (which call into Python) finish before the interpreter finalizes.
    code = script(
        f"""
        import ctypes, struct, sys, time
        import cfutures
        lib = ctypes.CDLL({str(native_path)!r})

        def say(*words):  # one write per line: lines from several threads never mix
            sys.stdout.write(" ".join(map(str, words)) + "\\n")
            sys.stdout.flush()

        def slow(word):
            time.sleep(0.1)
            say(word)

        tp = cfutures.ThreadPoolExecutor(max_workers=2)
        pp = cfutures.ProcessPoolExecutor(max_workers=2)
        for word in ("apple", "pear", "plum"):
            tp.submit(slow, word).add_done_callback(lambda f: say("thread cb"))
        for i in range(4):
            f = pp.submit(lib.sleep_task, struct.pack("d", 0.1))
            f.add_done_callback(lambda f: say("process cb", f.result(0)))
        f = pp.submit(lib.abort_task)
        f.add_done_callback(lambda f: say("died", type(f.exception(0)).__name__))
        say("main done")
        """
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert sorted(proc.stdout.splitlines()) == sorted(
        ["main done", "apple", "pear", "plum"] + ["thread cb"] * 3 + ["process cb b''"] * 4
        + ["died WorkerDied"]
    )


def test_exit_after_shutdown_without_wait():
    code = script(
        """
        import time
        import cfutures

        def slow():
            time.sleep(0.2)
            print("apple", flush=True)

        t = cfutures.ThreadPoolExecutor(max_workers=3)
        t.submit(slow)
        t.shutdown(wait=False)
        """
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.strip() == "apple"


def test_exit_after_shutdown_cancel_futures_without_wait():
    code = script(
        """
        import time
        import cfutures
        t = cfutures.ThreadPoolExecutor()
        t.submit(lambda: (time.sleep(0.1), print("apple", flush=True)))
        t.shutdown(wait=False, cancel_futures=True)
        """
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.strip() in ("apple", "")


def test_executor_collected_without_shutdown_before_exit():
    code = script(
        """
        import gc, time
        import cfutures

        def make():
            ex = cfutures.ThreadPoolExecutor(max_workers=2)
            return [ex.submit(lambda i=i: (time.sleep(0.05), i)[1]) for i in range(6)]

        fs = make()
        gc.collect()
        print(sorted(f.result(10) for f in fs), flush=True)
        """
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.strip() == "[0, 1, 2, 3, 4, 5]"


def test_submit_after_interpreter_shutdown():
    code = script(
        """
        import atexit
        import cfutures

        @atexit.register
        def run_last():
            try:
                t.submit(id, None)
            except RuntimeError:
                print("runtime-error")
                raise

        t = cfutures.ThreadPoolExecutor(5)
        t.submit(id, 42).result()
        """
    )
    proc = run_python(code)
    assert "RuntimeError: cannot schedule new futures after interpreter shutdown" in proc.stderr
    assert proc.stdout.strip() == "runtime-error"


def test_forked_child_exits_cleanly(native_path):
    code = script(
        f"""
        import ctypes, os, sys
        import cfutures
        lib = ctypes.CDLL({str(native_path)!r})
        tp = cfutures.ThreadPoolExecutor(2)
        pp = cfutures.ProcessPoolExecutor(1)
        assert tp.submit(pow, 2, 3).result(10) == 8
        assert pp.submit(lib.echo_task, b"x").result(10) == b"x"
        pid = os.fork()
        if pid == 0:
            sys.exit(0)  # runs the exit hooks in the child
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status), flush=True)
        """
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "child 0"


# -- finding the library -------------------------------------------------------------------


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """A copy of the installed package outside the repository."""
    src = Path(cfutures.__file__).resolve().parent
    dst = tmp_path / "site" / "cfutures"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def _import_from(site: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("CFUTURES_LIB", "CARGO_TARGET_DIR")}
    environ["PYTHONPATH"] = str(site)
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import cfutures; print(cfutures.library_path)"],
        capture_output=True, text=True, timeout=LONG, env=environ, cwd=str(site),
    )


def test_missing_library_says_how_to_build_it(package_copy):
    for lib in package_copy.glob("*.so"):
        lib.unlink()
    proc = _import_from(package_copy.parent)
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr
    assert "cargo build --release" in proc.stderr
    assert "CFUTURES_LIB" in proc.stderr


def test_bad_cfutures_lib_is_an_import_error(package_copy):
    proc = _import_from(package_copy.parent, CFUTURES_LIB=str(package_copy / "nope.so"))
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "CFUTURES_LIB" in proc.stderr


def test_library_beside_the_package(package_copy):
    shutil.copy(cfutures.library_path, package_copy / "libcfutures.so")
    proc = _import_from(package_copy.parent)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == package_copy / "libcfutures.so"


def test_cfutures_lib_comes_first(package_copy):
    shutil.copy(cfutures.library_path, package_copy / "libcfutures.so")
    proc = _import_from(package_copy.parent, CFUTURES_LIB=cfutures.library_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == cfutures.library_path


def test_library_in_cargo_target_dir(package_copy, tmp_path):
    release = tmp_path / "target" / "release"
    release.mkdir(parents=True)
    shutil.copy(cfutures.library_path, release / "libcfutures.so")
    proc = _import_from(package_copy.parent, CARGO_TARGET_DIR=str(tmp_path / "target"))
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == release / "libcfutures.so"


def test_library_in_the_crate_target_dir_from_a_checkout(tmp_path):
    # A package used from the repository finds <repo>/target/release/libcfutures.so.
    repo = tmp_path / "repo"
    (repo / "include").mkdir(parents=True)
    (repo / "include" / "cfutures.h").write_text("")
    (repo / "Cargo.toml").write_text("")
    pkg = repo / "bindings" / "python" / "cfutures"
    shutil.copytree(Path(cfutures.__file__).resolve().parent, pkg,
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    (repo / "target" / "debug").mkdir(parents=True)
    shutil.copy(cfutures.library_path, repo / "target" / "debug" / "libcfutures.so")
    proc = _import_from(pkg.parent)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == repo / "target" / "debug" / "libcfutures.so"

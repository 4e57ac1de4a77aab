"""How the package finds libcfutures.so: CFUTURES_LIB, its own places, then the system's
search; an ImportError that says how to build the library when there is none."""

import ctypes.util

import pytest

from cfutures import _lib


def test_cfutures_lib_wins(monkeypatch):
    monkeypatch.setenv("CFUTURES_LIB", _lib.path)
    assert _lib.find_library() == _lib.path


def test_cfutures_lib_that_is_not_a_file(monkeypatch, tmp_path):
    missing = tmp_path / "nope.so"
    monkeypatch.setenv("CFUTURES_LIB", str(missing))
    with pytest.raises(ImportError, match="nope.so"):
        _lib.find_library()


def test_system_search_comes_last(monkeypatch, tmp_path):
    monkeypatch.delenv("CFUTURES_LIB", raising=False)
    nowhere = [tmp_path / "here" / _lib.LIBRARY_NAME, tmp_path / "release" / _lib.LIBRARY_NAME]
    monkeypatch.setattr(_lib, "_candidates", lambda: nowhere)
    asked = []

    def system(name):
        asked.append(name)
        return _lib.path if name == "cfutures" else None

    monkeypatch.setattr(ctypes.util, "find_library", system)
    assert _lib.find_library() == _lib.path
    assert asked == ["cfutures"]

    # A file in one of the package's own places wins over the system's search.
    nowhere[1].parent.mkdir()
    nowhere[1].write_bytes(b"")
    asked.clear()
    assert _lib.find_library() == str(nowhere[1])
    assert asked == []


def test_nowhere_says_how_to_build_it(monkeypatch, tmp_path):
    monkeypatch.delenv("CFUTURES_LIB", raising=False)
    monkeypatch.setattr(_lib, "_candidates", lambda: [tmp_path / _lib.LIBRARY_NAME])
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(ImportError) as info:
        _lib.find_library()
    text = str(info.value)
    assert "cargo build --release" in text and "CFUTURES_LIB" in text
    assert str(tmp_path / _lib.LIBRARY_NAME) in text

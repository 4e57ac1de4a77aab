# Python binding (bindings/python) and its examples (examples/python).
#
#   make python-examples   builds the gcd task library, runs every examples/python/*.py
#   make python-test       venv in build/venv (pytest pinned), installs the package into it
#                          (not editable), runs bindings/python/tests against $(LIB)
#
# After the first run the tests work offline: pip only installs the package itself
# (no build isolation, no dependencies).

PYTHON ?= python3
PY_VENV := build/venv
PY_VENV_PYTHON := $(PY_VENV)/bin/python
PY_PYTEST := pytest==8.3.*
PY_EXAMPLES := $(sort $(wildcard examples/python/*.py))
PY_GCD_LIB := build/examples/python/libgcd.so

.PHONY: python-examples python-test

build/examples/python:
	mkdir -p $@

# The task library leaves cf_out_set & co. undefined: they resolve from the libcfutures.so
# that the cfutures package has loaded (RTLD_GLOBAL), or from cf-worker in spawn mode.
$(PY_GCD_LIB): examples/python/gcd_task.c include/cfutures.h | build/examples/python
	$(CC) $(EXAMPLE_CFLAGS) $(CFLAGS) -shared -fPIC -Iinclude $< -o $@

python-examples: $(LIB) $(PY_GCD_LIB)
	@set -e; for ex in $(PY_EXAMPLES); do \
	  echo; echo "=== $$ex ==="; \
	  CFUTURES_LIB=$(abspath $(LIB)) CFUTURES_GCD_LIB=$(abspath $(PY_GCD_LIB)) \
	    PYTHONPATH=bindings/python $(PYTHON) $$ex || { echo "$$ex failed (exit $$?)"; exit 1; }; \
	done

$(PY_VENV_PYTHON):
	$(PYTHON) -m venv $(PY_VENV)

# Run from the repository root, so that `import cfutures` finds the installed package, not
# the source tree.
python-test: $(LIB) | $(PY_VENV_PYTHON)
	@$(PY_VENV_PYTHON) -c 'import pytest, setuptools, wheel' 2>/dev/null || \
	  { echo "$(PY_VENV_PYTHON) -m pip install '$(PY_PYTEST)' 'setuptools>=61' wheel"; \
	    $(PY_VENV_PYTHON) -m pip install --quiet '$(PY_PYTEST)' 'setuptools>=61' wheel; }
	$(PY_VENV_PYTHON) -m pip install --quiet --no-build-isolation --no-deps --force-reinstall ./bindings/python
	CC=$(CC) CFUTURES_LIB=$(abspath $(LIB)) $(PY_VENV_PYTHON) -m pytest -p no:cacheprovider -q bindings/python/tests

EXTRA_EXAMPLES += python-examples
EXTRA_TESTS += python-test

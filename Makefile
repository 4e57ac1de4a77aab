# cfutures: build the library, build and run the C examples, run every test.
#
#   make          cargo build --release, then build and run every examples/*.c
#   make test     rustfmt check, clippy, the whole Rust + C suite (nextest), loom model checks
#   make bench    the side-by-side benchmark (scripts/bench)
#   make clean    remove build products

CARGO ?= cargo
CC ?= cc
# Warnings are fixed; CFLAGS (optimisation, debug info) may be overridden.
EXAMPLE_CFLAGS := -std=c99 -Wall -Wextra -Wpedantic -Werror
CFLAGS ?= -O2 -g

# Follows CARGO_TARGET_DIR when it is set, as cargo does.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
LIBDIR := $(TARGET_DIR)/release
LIB := $(LIBDIR)/libcfutures.so
LDFLAGS_CFUTURES := -L$(LIBDIR) -lcfutures -Wl,-rpath,$(abspath $(LIBDIR))

# Bindings and packaging bring their own targets in mk/*.mk: each appends what `make` runs to
# EXTRA_EXAMPLES and what `make test` runs to EXTRA_TESTS.
.DEFAULT_GOAL := all
EXTRA_EXAMPLES :=
EXTRA_TESTS :=
include $(sort $(wildcard mk/*.mk))

EXAMPLE_SRCS := $(sort $(wildcard examples/*.c))
# Each example is built twice: on the thread pool and, with -DPOOL=CF_PROCESS_POOL, on the
# process pool (the one line the examples change between the two).
EXAMPLE_BINS := $(patsubst examples/%.c,build/examples/%,$(EXAMPLE_SRCS)) \
                $(patsubst examples/%.c,build/examples/%_process,$(EXAMPLE_SRCS))

.PHONY: all lib examples run-examples test fmt-check clippy nextest loom bench clean FORCE

all: run-examples $(EXTRA_EXAMPLES)

# Cargo decides whether anything needs rebuilding; the examples relink only when the library
# file actually changed.
$(LIB): FORCE
	$(CARGO) build --release

lib: $(LIB)

build/examples:
	mkdir -p $@

build/examples/%_process: examples/%.c include/cfutures.h $(LIB) | build/examples
	$(CC) $(EXAMPLE_CFLAGS) $(CFLAGS) -DPOOL=CF_PROCESS_POOL -Iinclude $< -o $@ $(LDFLAGS_CFUTURES)

build/examples/%: examples/%.c include/cfutures.h $(LIB) | build/examples
	$(CC) $(EXAMPLE_CFLAGS) $(CFLAGS) -Iinclude $< -o $@ $(LDFLAGS_CFUTURES)

examples: $(EXAMPLE_BINS)

run-examples: $(EXAMPLE_BINS)
	@set -e; for ex in $(EXAMPLE_BINS); do \
	  echo; echo "=== $$ex ==="; \
	  ./$$ex || { echo "$$ex failed (exit $$?)"; exit 1; }; \
	done

# Every check runs even when an earlier one fails (-k); the result fails if any did.
test:
	@$(MAKE) --no-print-directory -k fmt-check clippy nextest loom $(EXTRA_TESTS)

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

nextest:
	$(CARGO) nextest run --no-fail-fast

loom:
	@if [ -f tests/loom.rs ]; then \
	  echo 'RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom $(CARGO) test --release --test loom'; \
	  RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom $(CARGO) test --release --test loom; \
	else \
	  echo "note: tests/loom.rs does not exist yet; skipping the loom model checks"; \
	fi

bench: build/bench/process_pool
	scripts/bench

build/bench:
	mkdir -p $@

build/bench/libbenchtasks.so: benches/bench_tasks.c include/cfutures.h | build/bench
	$(CC) $(EXAMPLE_CFLAGS) -O2 -shared -fPIC -Iinclude $< -o $@

build/bench/process_pool: benches/process_pool.c build/bench/libbenchtasks.so $(LIB) | build/bench
	$(CC) $(EXAMPLE_CFLAGS) -O2 -Iinclude $< -o $@ -Lbuild/bench -lbenchtasks -Wl,-rpath,$(abspath build/bench) $(LDFLAGS_CFUTURES)

clean:
	$(CARGO) clean
	rm -rf build

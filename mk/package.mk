# Installing cfutures (cargo-c) and checking that the installed copy works through pkg-config
# alone: `make install PREFIX=...` and `make package-test` (part of `make test`).

PREFIX ?= /usr/local
DESTDIR ?=
# cargo-c's version; the test command (.ci/run) installs it when it is missing.
CARGO_C_VERSION := 0.10.24+cargo-0.98.0

.PHONY: install package-test

# cargo cinstall puts in the library (shared, with SONAME libcfutures.so.0.1, and static),
# the header and cfutures.pc; it installs no programs, so cf-worker goes to libexec/cfutures/,
# where the spawn start method looks for it.
install:
	@command -v cargo-cinstall >/dev/null 2>&1 || { \
	  echo "make install needs cargo-c: cargo install cargo-c --version $(CARGO_C_VERSION) --locked" >&2; \
	  exit 1; }
	$(CARGO) cinstall --release --prefix=$(PREFIX) --libdir=$(PREFIX)/lib $(if $(DESTDIR),--destdir=$(DESTDIR))
	$(CARGO) build --release --bin cf-worker
	install -d $(DESTDIR)$(PREFIX)/libexec/cfutures
	install -m 755 $(TARGET_DIR)/release/cf-worker $(DESTDIR)$(PREFIX)/libexec/cfutures/cf-worker

package-test:
	scripts/check-install

EXTRA_TESTS += package-test

# The soak (RELIABILITY row LD10; tests/soak/, scripts/soak).
#
#   make soak-ci    a 60-second soak (part of `make test`); SOAK_SEED=n replays a seed
#
# The scheduled long run is `scripts/soak 1800` (30 minutes; see the README's Tests section).

SOAK_CI_SECONDS ?= 60
SOAK_SEED ?=

.PHONY: soak-ci

soak-ci:
	CC="$(CC)" CARGO="$(CARGO)" scripts/soak $(SOAK_CI_SECONDS) $(SOAK_SEED)

EXTRA_TESTS += soak-ci

# mk/cpp.mk: the C++ binding's examples (included by the top-level Makefile).
#
#   make cpp-examples   build every examples/cpp/*.cpp twice (thread pool, and process pool
#                       with -DPOOL=CF_PROCESS_POOL) into build/examples/cpp/, then run them
#
# The C++ tests run through nextest (tests/cpp_api.rs), so nothing is added to EXTRA_TESTS.
# Warnings are fixed; CXXFLAGS (optimisation, debug info) may be overridden and defaults to
# the C examples' CFLAGS.

CXX ?= g++
CPP_EXAMPLE_CXXFLAGS := -std=c++17 -Wall -Wextra -Wpedantic -Werror
CXXFLAGS ?= $(CFLAGS)

CPP_EXAMPLE_SRCS := $(sort $(wildcard examples/cpp/*.cpp))
CPP_EXAMPLE_BINS := $(patsubst examples/cpp/%.cpp,build/examples/cpp/%,$(CPP_EXAMPLE_SRCS)) \
                    $(patsubst examples/cpp/%.cpp,build/examples/cpp/%_process,$(CPP_EXAMPLE_SRCS))
CPP_EXAMPLE_DEPS := bindings/cpp/cfutures.hpp include/cfutures.h $(wildcard examples/cpp/*.hpp)

.PHONY: cpp-examples

build/examples/cpp:
	mkdir -p $@

build/examples/cpp/%_process: examples/cpp/%.cpp $(CPP_EXAMPLE_DEPS) $(LIB) | build/examples/cpp
	$(CXX) $(CPP_EXAMPLE_CXXFLAGS) $(CXXFLAGS) -DPOOL=CF_PROCESS_POOL -Iinclude -Ibindings/cpp $< -o $@ $(LDFLAGS_CFUTURES)

build/examples/cpp/%: examples/cpp/%.cpp $(CPP_EXAMPLE_DEPS) $(LIB) | build/examples/cpp
	$(CXX) $(CPP_EXAMPLE_CXXFLAGS) $(CXXFLAGS) -Iinclude -Ibindings/cpp $< -o $@ $(LDFLAGS_CFUTURES)

cpp-examples: $(CPP_EXAMPLE_BINS)
	@set -e; for ex in $(CPP_EXAMPLE_BINS); do \
	  echo; echo "=== $$ex ==="; \
	  ./$$ex || { echo "$$ex failed (exit $$?)"; exit 1; }; \
	done

EXTRA_EXAMPLES += cpp-examples

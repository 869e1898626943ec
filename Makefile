# AstroLab: the README's two commands and the developer targets, over CMake and CTest.
#
#   make demo          install missing Debian packages, build (build/), run `astrolab demo`
#   make test          install missing Debian packages, build (build/), run every test
#   make asan          ASan+UBSan build (build-asan/) and every test
#   make tsan          TSan build (build-tsan/) and the tests labelled `threads`
#   make test-release  Release build (-O3) with RELEASE_CC (cc) in build-release-$(RELEASE_CC)/,
#                      and every test
#   make test-debug    Debug build (build-debug/), where the assert()s of documented
#                      preconditions are compiled in, and the memory manager's tests
#   make test-gpu      the tests labelled `gpu` against the real CUDA driver
#   make bench         build and run the benchmarks (bench/run.sh)
#   make format        clang-format every C file in place; make format-check only checks
#   make install       cmake --install build (PREFIX=/usr/local)
#   make clean         remove build/, build-asan/, build-tsan/, build-debug/, build-release-*/,
#                      build-bench*/
#
# Variables: BUILD_TYPE (RelWithDebInfo), JOBS (number of CPUs), CMAKE_FLAGS (extra -D options),
# PREFIX (/usr/local), WERROR (ON for test, test-gpu, asan and tsan; OFF for the others).
# ASTROLAB_SKIP_DEPS=1 skips the Debian package check.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
PREFIX ?= /usr/local
CTEST_FLAGS ?=
# Warnings are errors for developers (the test targets, and CI through them), never in the build
# a user asks for with make, make demo or make install: their compiler may be newer than ours.
# Each target passes it, so build/ follows the last target run (switching rebuilds build/).
WERROR ?= OFF
test test-gpu asan tsan test-release test-debug: WERROR = ON

BUILD := build
BUILD_ASAN := build-asan
BUILD_TSAN := build-tsan

FORMAT_DIRS := include src tools tests bench python/src
# Every C source and header under FORMAT_DIRS, except test fixtures and vendored code.
FORMAT_FILES = $(shell find $(FORMAT_DIRS) \( -path tests/data -o -name vendor \) -prune -o \
                 -type f \( -name '*.c' -o -name '*.h' \) -print 2>/dev/null | sort)

CTEST = ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

# The prerequisites run in order (packages, then cmake), even under make -j.
.NOTPARALLEL:

.PHONY: build demo test asan tsan test-release test-debug test-gpu bench format format-check \
        install clean \
        deps deps-test deps-bench configure

# ---- Debian packages (debian-packages.txt) ----
deps:
	bash scripts/deps.sh
deps-test:
	bash scripts/deps.sh test
deps-bench:
	bash scripts/deps.sh bench

# ---- The normal build ----
# cmake is rerun every time: it is quick with a cache, and picks up new source files and options.
# The install prefix is configured too: `astrolab run` looks for its preload library there.
configure:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DASTROLAB_WERROR=$(WERROR) \
	    -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

demo: deps configure
	cmake --build $(BUILD) -j $(JOBS)
	$(BUILD)/astrolab demo

test: deps-test configure
	cmake --build $(BUILD) -j $(JOBS)
	# [ui] npm dependencies of the browser test (tests/browser/package-lock.json).
	cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	cd $(BUILD) && $(CTEST)

test-gpu: deps-test configure
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ASTROLAB_CUDA_BACKEND=driver ctest --output-on-failure -L gpu --no-tests=error \
	    $(CTEST_FLAGS)

# ---- Sanitizer builds (benchmarks off: they measure nothing under a sanitizer) ----
asan: deps-test
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DASTROLAB_SANITIZE=address \
	    -DASTROLAB_BUILD_BENCH=OFF -DASTROLAB_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && $(CTEST)

# gcc 12's TSan runtime fails ("unexpected memory mapping") on kernels with high mmap
# randomization; without ASLR it always works, so the tests run under setarch -R where allowed.
TSAN_WRAP = $(shell setarch $$(uname -m) -R true 2>/dev/null && echo setarch $$(uname -m) -R)
tsan: deps-test
	cmake -S . -B $(BUILD_TSAN) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DASTROLAB_SANITIZE=thread \
	    -DASTROLAB_BUILD_BENCH=OFF -DASTROLAB_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(BUILD_TSAN) -j $(JOBS)
	cd $(BUILD_TSAN) && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	    $(TSAN_WRAP) $(CTEST) -L threads --no-tests=error

# ---- Release build: -O3 finds warnings (array bounds, for one) that -O2 does not ----
# CI runs it with gcc and with clang (RELEASE_CC=clang), each in its own folder.
RELEASE_CC ?= cc
BUILD_RELEASE = build-release-$(notdir $(RELEASE_CC))
test-release: deps-test
	cmake -S . -B $(BUILD_RELEASE) -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=$(RELEASE_CC) \
	    -DASTROLAB_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(BUILD_RELEASE) -j $(JOBS)
	cd $(BUILD_RELEASE) && $(CTEST)

# ---- Debug build: every other build has NDEBUG (RelWithDebInfo, Release), which compiles out
# the assert()s of documented preconditions ("caller holds the lock", "owner thread only",
# src/util/assert_int.h); this one keeps them and runs the memory manager's tests.
BUILD_DEBUG := build-debug
DEBUG_TESTS := test_memory test_scope test_diagnosis test_limits test_registry test_settings
test-debug: deps-test
	cmake -S . -B $(BUILD_DEBUG) -DCMAKE_BUILD_TYPE=Debug -DASTROLAB_BUILD_BENCH=OFF \
	    -DASTROLAB_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build $(BUILD_DEBUG) -j $(JOBS) --target $(DEBUG_TESTS)
	cd $(BUILD_DEBUG) && $(CTEST) -R '^($(subst $(eval) ,|,$(DEBUG_TESTS)))$$' --no-tests=error

# ---- Benchmarks ----
# bench/run.sh builds its own trees (build-bench*/) and prints the tables for docs/PERFORMANCE.md.
# BENCH_ARGS=--quick for a smoke run. Without bench/run.sh, every build/bench/bench_* runs.
BENCH_ARGS ?=
bench: deps-bench
	if [ -f bench/run.sh ]; then \
	    sh bench/run.sh $(BENCH_ARGS); \
	else \
	    cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DASTROLAB_BUILD_BENCH=ON \
	        -DASTROLAB_WERROR=$(WERROR) $(CMAKE_FLAGS); \
	    cmake --build $(BUILD) -j $(JOBS); \
	    found=0; \
	    for b in $(BUILD)/bench/bench_*; do \
	        [ -x "$$b" ] || continue; found=1; echo "== $$b"; "$$b"; \
	    done; \
	    [ $$found = 1 ] || { echo "make bench: no benchmarks found" >&2; exit 1; }; \
	fi

# ---- Formatting (.clang-format) ----
format: deps-test
	clang-format -i $(FORMAT_FILES)

format-check: deps-test
	clang-format --dry-run --Werror $(FORMAT_FILES)
	@echo "format-check: $(words $(FORMAT_FILES)) files follow .clang-format"

# ---- Install ----
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)
	if [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_TSAN) $(BUILD_DEBUG) build-release-* build-bench \
	    build-bench-system

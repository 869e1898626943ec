#!/bin/sh
# Whole-program mode against valgrind, heaptrack and the sanitizers, in one run:
#   bench/preload.sh [MILLIONS_OF_ALLOCATIONS] [REPEATS]      (defaults 10 and 5)
# Builds bench/preload/leak_workload three ways (plain, -fsanitize=leak, -fsanitize=address)
# in build-bench and prints a markdown table (wall-time medians, ratios, leak sites found).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
make -C "$build" -j2 astrolab_cli astrolab_preload leak_workload leak_workload_lsan \
    leak_workload_asan >/dev/null
python3 "$root/bench/preload/compare.py" "$build" "$root/bench/preload/leak_workload.c" \
    "${1:-10}" "${2:-5}"

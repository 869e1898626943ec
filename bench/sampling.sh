#!/bin/sh
# The cost of astrolab run's sampled stacks (issue 17 item 1) and the spread of their estimates:
#   bench/sampling.sh [MILLIONS_OF_ALLOCATIONS] [REPEATS] [BEFORE_ASTROLAB]   (defaults 10 and 7)
# BEFORE_ASTROLAB: an astrolab built from an older commit, timed alongside (optional).
# Builds in build-bench (RelWithDebInfo) as bench/preload.sh does; the spread of the estimates
# runs tests/programs/plain_sampled.c and bench/preload/peak_split.c, built here too.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
make -C "$build" -j2 astrolab_cli astrolab_preload leak_workload >/dev/null
cc -g -O1 -o "$build/plain_sampled" "$root/tests/programs/plain_sampled.c"
cc -g -O1 -o "$build/peak_split" "$root/bench/preload/peak_split.c"
python3 "$root/bench/preload/sampling.py" "$build" "$build/bench/preload/leak_workload" \
    "${1:-10}" "${2:-7}" "${3:-}" "$build/plain_sampled" "$build/peak_split"

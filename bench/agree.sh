#!/bin/sh
# Issue 17's agreement targets: do `astrolab run`'s sites agree with heaptrack's and valgrind's?
#   bench/agree.sh [--keep DIR] [--only perl|planted]
# On perl (a 200,000-key hash, half of it freed), the peak's top 5 sites and stacks against
# heaptrack's peak contributions and the lost blocks against valgrind's definitely and
# indirectly lost stacks; on bench/preload/leak_workload 1, the three planted sites exactly.
# Prints a markdown report (bench/preload/agree.py) and exits 1 below its expectations.
# Needs perl, heaptrack (heaptrack_print), valgrind and setarch; about 35 s on the 2-core VM.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-bench"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
make -C "$build" -j2 astrolab_cli astrolab_preload leak_workload >/dev/null
exec python3 "$root/bench/preload/agree.py" "$build" "$root/bench/preload/leak_workload.c" "$@"

#!/bin/sh
# Builds and runs the allocation and scope-reclaim benchmarks (bench_alloc, bench_scope) side by
# side and prints markdown tables for docs/PERFORMANCE.md; a copy goes to bench/results/
# (ignored by git). Other benchmarks add their build target and a report_* function here.
#
#   bench/run.sh            full run (about 1 minute on 2 cores, plus the build)
#   bench/run.sh --quick    smoke run: fewer operations and repeats; the figures mean little
#   bench/run.sh --update-doc   also writes the tables into docs/PERFORMANCE.md (between the
#                               <!-- bench_alloc:begin/end --> and bench_scope markers)
#
# Two build directories: build-bench (the default mimalloc backing) and build-bench-system
# (ASTROLAB_BACKING=system: the C library's malloc, or jemalloc when preloaded).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
quick=
update=
for arg in "$@"; do
    case "$arg" in
    --quick) quick=--quick ;;
    --update-doc) update=1 ;;
    *) echo "usage: bench/run.sh [--quick] [--update-doc]" >&2; exit 2 ;;
    esac
done
doc="$root/docs/PERFORMANCE.md"

main="$root/build-bench"
sys="$root/build-bench-system"
results="$root/bench/results"
mkdir -p "$results"
log="$results/build.log"
: >"$log"

build() { # build DIR [cmake options...]
    dir=$1
    shift
    if ! { cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
        -DASTROLAB_BUILD_BENCH=ON "$@" &&
        make -C "$dir" -j2 bench_alloc bench_alloc_libc bench_scope; } >>"$log" 2>&1; then
        echo "bench/run.sh: the build in $dir failed; see $log" >&2
        tail -20 "$log" >&2
        exit 1
    fi
}

echo "bench/run.sh: building (log in $log)" >&2
build "$main" -DASTROLAB_BACKING=mimalloc
build "$sys" -DASTROLAB_BACKING=system

failed=0
header() {
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
    echo "Run of \`bench/run.sh${quick:+ --quick}\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit" \
        "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
            git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')."
    echo
    echo "- CPU: ${cpu:-unknown}, $(nproc) cores; $(free -g | awk '/^Mem:/ {print $2}') GiB RAM;" \
        "Linux $(uname -r)"
    echo "- $(ldd --version | head -1 | sed 's/^ldd //'); $(cc --version | head -1);" \
        "RelWithDebInfo (-O2 -g)"
    echo "- load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
}

report_alloc() {
    header
    "$main/bench/bench_alloc" --markdown $quick \
        --config "al in a scope (mimalloc backing)=$main/bench/bench_alloc:al-scope" \
        --config "mimalloc + 48-byte header, untracked (al's layout)=$main/bench/bench_alloc:mimalloc-header48" \
        --config "mimalloc + 16-byte header, untracked (a lean layout)=$main/bench/bench_alloc:mimalloc-header16" \
        --config "al (system backing: glibc)=$sys/bench/bench_alloc:al" \
        --config "al (system backing: jemalloc)=$sys/bench/bench_alloc:al:libjemalloc.so.2" ||
        failed=1
    echo
    echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

report_scope() {
    echo "Same run (\`bench/run.sh${quick:+ --quick}\`), load average before:" \
        "$(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "With the mimalloc backing (default build):"
    "$main/bench/bench_scope" --markdown $quick || failed=1
    echo
    echo "With the system backing (glibc, no per-scope heap):"
    "$sys/bench/bench_scope" --markdown $quick || failed=1
}

# Replaces the lines between <!-- NAME:begin --> and <!-- NAME:end --> in the doc with FILE.
replace_block() {
    awk -v name="$1" -v file="$2" '
        $0 == "<!-- " name ":begin -->" { print; while ((getline line < file) > 0) print line
                                          skip = 1; next }
        $0 == "<!-- " name ":end -->" { skip = 0 }
        !skip { print }' "$doc" >"$doc.tmp" && mv "$doc.tmp" "$doc"
}

stamp=$(date +%Y%m%d-%H%M%S)${quick:+-quick}
report_alloc >"$results/$stamp-alloc.md"
cat "$results/$stamp-alloc.md"
echo
report_scope >"$results/$stamp-scope.md"
cat "$results/$stamp-scope.md"
echo "bench/run.sh: saved to $results/$stamp-*.md" >&2
if [ "$failed" -ne 0 ]; then
    echo "bench/run.sh: a benchmark failed (see the messages above); docs not updated" >&2
    exit 1
fi
if [ -n "$update" ]; then
    replace_block bench_alloc "$results/$stamp-alloc.md"
    replace_block bench_scope "$results/$stamp-scope.md"
    echo "bench/run.sh: updated $doc" >&2
fi

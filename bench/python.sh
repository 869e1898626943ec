#!/usr/bin/env bash
# The Python package's benchmarks (issue 16), side by side in one run, each measurement in its
# own process and repeated, medians printed as Markdown tables:
#   - SurveyTensorDict.from_file against the C loader (bench_survey load), astropy's
#     Table.read and astropy converted to native byte order, on a Gaia-like FITS table;
#   - numpy's allocator hook: small arrays and arrays of 8 MiB made and dropped without
#     AstroLab's handler, with it, and under tracemalloc instead, in rounds within one process
#     (bench_python.py numpy-paired: ratios of neighbouring blocks, medians);
#   - the call cost of get_memory_stats() and of diagnose_memory_leaks() with 10^6 live arrays.
#
#   bench/python.sh [--rows N] [--repeats N] [--dir DIR] [--build DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
rows=10000000
repeats=3
dir=${TMPDIR:-/tmp}/astrolab-bench-survey
build=$root/build-bench-python
while [ $# -gt 0 ]; do
    case $1 in
    --rows) rows=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "python.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
python=/usr/bin/python3
if [ ! -x "$build/bench/bench_survey" ] || [ ! -d "$build/python/astrolab" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
        -DASTROLAB_BUILD_BENCH=ON -DASTROLAB_PYTHON=ON >/dev/null
    make -C "$build" -j2 bench_survey astrolab_python >/dev/null
fi
export PYTHONPATH=$build/python
py="$python $here/python/bench_python.py"
mkdir -p "$dir"
fits=$dir/gaia_like_$rows.fits
[ -s "$fits" ] || { echo "generating $fits" >&2; "$build/bench/bench_survey" gen-fits "$fits" "$rows"; }
cat "$fits" >/dev/null # warm the page cache
results=$dir/python_results.jsonl
: >"$results"
for r in $(seq "$repeats"); do
    echo "repeat $r of $repeats" >&2
    {
        "$build/bench/bench_survey" load "$fits"
        $py load "$fits"
        $py astropy "$fits"
        $py numpy-paired small 100000 15
        $py numpy-paired large 100 9
        $py calls 1000000
    } >>"$results"
done
$python - "$results" "$fits" "$rows" "$repeats" <<'PY'
import json, os, statistics, sys
results, fits, rows, repeats = sys.argv[1:5]
runs = {}
for line in open(results):
    d = json.loads(line)
    runs.setdefault(d["method"], []).append(d)
med = lambda m, f: statistics.median(x[f] for x in runs[m])
mib = 1 << 20
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
            if l.startswith("model name")), "?")
print(f"Run: {rows} rows ({os.path.getsize(fits) / 1e9:.2f} GB), median of {repeats}; {cpu}, "
      f"{os.cpu_count()} CPUs, warm page cache.\n")
c = med("al_survey_load", "seconds")
print("| load | median s | vs C loader | peak RSS MiB | RSS above start / data |")
print("|---|---:|---:|---:|---:|")
for m in ("al_survey_load", "python_from_file", "astropy_table_read", "astropy_native_order"):
    if m not in runs:
        continue
    s, peak = med(m, "seconds"), med(m, "peak_rss_bytes")
    above = (peak - med(m, "start_rss_bytes")) / med(m, "data_bytes")
    print(f"| {m} | {s:.3f} | {s / c:.2f}x | {peak / mib:.0f} | {above:.3f} |")
print("\n| numpy, make and drop (rounds of the three in one process) | no handler | "
      "AstroLab's handler | ratio | tracemalloc | ratio |")
print("|---|---:|---:|---:|---:|---:|")
for size, unit in (("small", "ns"), ("large", "µs")):
    m = f"numpy_{size}_paired"
    off, al, tm = (med(m, k) for k in ("off", "astrolab", "tracemalloc"))
    ra, rt = med(m, "ratio_astrolab"), med(m, "ratio_tracemalloc")
    d = runs[m][0]
    what = (f"{d['rounds']} x 10^5 arrays of 64 B" if size == "small"
            else f"{d['rounds']} x 100 arrays of 8 MiB")
    print(f"| {what} | {off:.0f} {unit} | {al:.0f} {unit} | {ra:.3f}x | {tm:.0f} {unit} "
          f"| {rt:.2f}x |")
print(f"\nget_memory_stats(): {med('calls', 'get_memory_stats_us'):.1f} µs a call; "
      f"diagnose_memory_leaks() with 10^6 live arrays: "
      f"{med('calls', 'diagnose_memory_leaks_ms'):.2f} ms a call.")
PY

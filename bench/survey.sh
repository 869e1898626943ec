#!/usr/bin/env bash
# Survey loading benchmark: a Gaia DR3-like FITS table (10^7 rows, 1.2 GB of column data by
# default) and a Gaia archive-like CSV (10^6 rows), each loaded by al_survey_load, by a plain
# CFITSIO reader (fits_read_col in fits_get_rowsize blocks) and by astropy's Table.read (plus
# the conversion of its big-endian columns to native order), beside the physical limits:
# `cat FILE > /dev/null` and filling freshly allocated memory of the data's size. Every
# measurement runs in its own process (peak RSS is per process) and is repeated; the table
# gives medians, with the repeats interleaved. Files are read warm (from the page cache).
#
#   bench/survey.sh [--rows N] [--csv-rows N] [--repeats N] [--dir DIR] [--update-doc]
#
# --update-doc writes the table into docs/PERFORMANCE.md between the bench_survey markers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
rows=10000000
csv_rows=1000000
repeats=3
dir=${TMPDIR:-/tmp}/astrolab-bench-survey
update_doc=0
while [ $# -gt 0 ]; do
    case $1 in
    --rows) rows=$2; shift 2 ;;
    --csv-rows) csv_rows=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --update-doc) update_doc=1; shift ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "survey.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
python=/usr/bin/python3
build=$root/build-bench-survey
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
make -C "$build" -j2 bench_survey >/dev/null
bench=$build/bench/bench_survey
mkdir -p "$dir"
fits=$dir/gaia_like_$rows.fits
csv=$dir/gaia_like_$csv_rows.csv
[ -s "$fits" ] || { echo "generating $fits" >&2; "$bench" gen-fits "$fits" "$rows"; }
[ -s "$csv" ] || { echo "generating $csv" >&2; "$bench" gen-csv "$csv" "$csv_rows"; }

astropy_py='
import json, resource, sys, time
from astropy.table import Table
path, kind = sys.argv[1], sys.argv[2]
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = peak()
t0 = time.perf_counter()
t = Table.read(path, hdu=1) if kind == "fits" else Table.read(path, format="ascii.csv", comment="#")
t1 = time.perf_counter()
p1 = peak()
data = sum(t[c].nbytes for c in t.colnames)
for c in t.colnames:
    col = t[c]
    if col.dtype.byteorder not in ("=", "|"):
        t[c] = col.astype(col.dtype.newbyteorder("="))
t2 = time.perf_counter()
print(json.dumps({"method": "astropy_table_read", "seconds": t1 - t0, "peak_rss_bytes": p1,
                  "start_rss_bytes": start, "data_bytes": data}))
print(json.dumps({"method": "astropy_native_order", "seconds": t2 - t0,
                  "peak_rss_bytes": peak(), "start_rss_bytes": start, "data_bytes": data}))
'

cat_time() {
    local t0 t1
    t0=$(date +%s%N)
    cat "$1" >/dev/null
    t1=$(date +%s%N)
    echo "{\"method\": \"cat_to_dev_null\", \"seconds\": $(( (t1 - t0) / 1000 ))e-6, \"peak_rss_bytes\": 0, \"start_rss_bytes\": 0, \"data_bytes\": 0}"
}

results=$dir/results.jsonl
: >"$results"
cat "$fits" "$csv" >/dev/null # warm the page cache
fits_data=$("$bench" load "$fits" | $python -c 'import json,sys; print(json.load(sys.stdin)["data_bytes"])')
for r in $(seq "$repeats"); do
    echo "repeat $r of $repeats" >&2
    {
        "$bench" load "$fits" | sed 's/^/fits /'
        "$bench" cfitsio "$fits" | sed 's/^/fits /'
        $python -c "$astropy_py" "$fits" fits | sed 's/^/fits /'
        cat_time "$fits" | sed 's/^/fits /'
        "$bench" fill "$fits_data" | sed 's/^/fits /'
        "$bench" load "$csv" | sed 's/^/csv /'
        $python -c "$astropy_py" "$csv" csv | sed 's/^/csv /'
        cat_time "$csv" | sed 's/^/csv /'
    } >>"$results"
done

table=$($python - "$results" "$fits" "$csv" "$rows" "$csv_rows" "$repeats" <<'EOF'
import json, os, platform, statistics, sys
results, fits, csv, rows, csv_rows, repeats = sys.argv[1:7]
runs = {}
for line in open(results):
    kind, doc = line.split(" ", 1)
    d = json.loads(doc)
    runs.setdefault((kind, d["method"]), []).append(d)
def med(k, f):
    return statistics.median(x[f] for x in runs[k])
mib = 1 << 20
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Run: {rows} FITS rows ({os.path.getsize(fits) / 1e9:.2f} GB file), {csv_rows} CSV rows "
      f"({os.path.getsize(csv) / 1e6:.0f} MB file), median of {repeats}; {cpu}, "
      f"{os.cpu_count()} CPUs, Linux {platform.release()}, warm page cache.")
print()
for kind, path, floor in (("fits", fits, ("fits", "fill_fresh_memory")), ("csv", csv, None)):
    size = os.path.getsize(path)
    print(f"| {kind.upper()} method | median s | min s | MB/s of file | peak RSS MiB | RSS above start MiB | data MiB | vs fill floor |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for method in ("al_survey_load", "cfitsio_read_col", "astropy_table_read",
                   "astropy_native_order", "cat_to_dev_null", "fill_fresh_memory"):
        k = (kind, method)
        if k not in runs:
            continue
        s = med(k, "seconds")
        mn = min(x["seconds"] for x in runs[k])
        peak = med(k, "peak_rss_bytes")
        above = peak - med(k, "start_rss_bytes") if peak else 0
        data = med(k, "data_bytes")
        ratio = f"{s / med(floor, 'seconds'):.2f}x" if floor and floor in runs else ""
        print(f"| {method} | {s:.3f} | {mn:.3f} | {size / s / 1e6:.0f} | "
              f"{peak / mib:.0f} | {above / mib:.0f} | {data / mib:.0f} | {ratio} |")
    print()
EOF
)
echo "$table"
if [ "$update_doc" = 1 ]; then
    doc=$root/docs/PERFORMANCE.md
    $python - "$doc" "$table" <<'EOF'
import sys
doc, table = sys.argv[1], sys.argv[2]
text = open(doc).read()
begin, end = "<!-- bench_survey:begin -->", "<!-- bench_survey:end -->"
block = f"{begin}\n{table}\n{end}"
if begin in text:
    text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n## Survey loading\n\n" + block + "\n"
open(doc, "w").write(text)
EOF
    echo "updated $doc" >&2
fi

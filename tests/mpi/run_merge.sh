#!/bin/sh
# `astrolab run` under mpirun writes one report per rank, and `astrolab report merge` finds the
# leak on every rank and the one on rank 2 only.
#   run_merge.sh ASTROLAB PROGRAM MPIRUN ARGS...
set -eu
astrolab=$1 program=$2
shift 2
dir=$(mktemp -d /tmp/astrolab-merge-XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$@" "$astrolab" run --report "$dir/r.json" -- "$program"
for r in 0 1 2 3; do
    test -s "$dir/r.$r.json" || { echo "run_merge: no report of rank $r" >&2; exit 1; }
done
"$astrolab" report merge "$dir"/r.*.json --json >"$dir/job.json"
"$astrolab" report merge "$dir"/r.*.json | tee "$dir/job.txt"
/usr/bin/python3 - "$dir/job.json" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))
assert job["ranks"] == 4, job["ranks"]
by_fn = {s["function"]: s for s in job["sites"]}
e, o = by_fn.get("every_rank"), by_fn.get("only_rank2")
assert e and e["on_every_rank"] and e["ranks"] == [0, 1, 2, 3] and e["bytes"] == 4000, e
assert o and not o["on_every_rank"] and o["ranks"] == [2] and o["bytes"] == 5000, o
codes = [(r["code"], r["message"]) for r in job["recommendations"]]
assert any(c == "leak_on_some_ranks" and "rank 2 only" in m for c, m in codes), codes
print("run_merge: the merged view finds both leaks")
PY
grep -q "rank 2 only" "$dir/job.txt"

#!/bin/sh
# The dashboard under load (issue 14, docs/PERFORMANCE.md "Dashboard under load"): /metrics
# throughput alone, then while 8 clients poll /api/memory (a diagnosis per request, ~40 KB
# replies), against tests/programs/ui_host (a workload allocating over time). Needs wrk (Debian
# package wrk) and a build with the ui_host target.
#
#   bench/ui_load.sh [BUILD_DIR [SECONDS]]     defaults: build-ui, 10
#
# Prints one markdown table row per measurement. The token goes as a bearer header; a server
# from before issue 14 ignores it on reads, so the same script measures both.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-ui}
secs=${2:-10}
host_prog=$build/tests/ui_host
command -v wrk >/dev/null 2>&1 || { echo "ui_load.sh: wrk is not installed (Debian: wrk)" >&2; exit 2; }
[ -x "$host_prog" ] || { echo "ui_load.sh: $host_prog missing: cmake --build $build --target ui_host" >&2; exit 2; }

out=$(mktemp)
"$host_prog" 0 $((secs * 3 + 30)) >"$out" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$out" "$out".*' EXIT
url=
for _ in $(seq 1 100); do
    url=$(sed -n 's/^URL //p' "$out")
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "ui_load.sh: ui_host printed no URL" >&2; exit 1; }
base=${url%%/\?token=*}
token=${url##*token=}
auth="Authorization: Bearer $token"

# "Requests/sec:" of one wrk run, and its non-2xx and socket errors.
rate() { sed -n 's/^Requests\/sec: *//p' "$1"; }
errs() { grep -E 'Non-2xx|Socket errors' "$1" | tr -s ' ' | tr '\n' ';' || true; }

wrk -t1 -c2 -d"${secs}s" -H "$auth" "$base/metrics" >"$out.alone"
wrk -t2 -c8 -d"$((secs + 2))s" -H "$auth" "$base/api/memory" >"$out.memory" &
wpid=$!
sleep 1
wrk -t1 -c2 -d"${secs}s" -H "$auth" "$base/metrics" >"$out.loaded"
wait $wpid

echo "| measurement | requests/s | errors |"
echo "|---|---|---|"
echo "| /metrics alone (wrk -t1 -c2) | $(rate "$out.alone") | $(errs "$out.alone") |"
echo "| /api/memory, 8 clients (wrk -t2 -c8) | $(rate "$out.memory") | $(errs "$out.memory") |"
echo "| /metrics beside them (wrk -t1 -c2) | $(rate "$out.loaded") | $(errs "$out.loaded") |"

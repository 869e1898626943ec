#!/bin/sh
# CTest's browser_dashboard (label "browser"): starts tests/programs/ui_host, then runs
# dashboard.mjs in headless Chromium against it. Installs the npm dependencies (package-lock.json)
# when they are missing. Exits 77 (skipped) when node or chromium is not installed.
#   run.sh UI_HOST ARTIFACTS_DIR
set -eu
host_prog=$1
artifacts=$2
here=$(cd "$(dirname "$0")" && pwd)
chromium=${ASTROLAB_CHROMIUM:-/usr/bin/chromium}
command -v node >/dev/null 2>&1 || { echo "skip: node is not installed (Debian: nodejs)"; exit 77; }
[ -x "$chromium" ] || { echo "skip: $chromium is not installed (Debian: chromium)"; exit 77; }
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
    command -v npm >/dev/null 2>&1 || { echo "skip: npm is not installed (Debian: npm)"; exit 77; }
    (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
out=$(mktemp)
"$host_prog" 0 90 >"$out" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$out"' EXIT
url=
for _ in $(seq 1 100); do
    url=$(sed -n 's/^URL //p' "$out")
    [ -n "$url" ] && break
    kill -0 $pid 2>/dev/null || { echo "ui_host exited early"; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "ui_host printed no URL"; exit 1; }
echo "dashboard: $url"
ASTROLAB_CHROMIUM=$chromium node "$here/dashboard.mjs" "$url" "$artifacts"

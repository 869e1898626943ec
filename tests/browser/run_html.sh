#!/bin/sh
# CTest's browser_run_html (label "browser"): runs tests/programs/plain_html under
# `astrolab run --html`, checks that the vendored libraries are the npm packages' files (the
# versions package.json pins), then opens the page in headless Chromium (run_html.mjs), which
# saves ARTIFACTS_DIR/run_html.png. Installs the npm dependencies (package-lock.json) when they
# are missing. Exits 77 (skipped) when node or chromium is not installed.
#   run_html.sh ASTROLAB PLAIN_HTML ARTIFACTS_DIR
set -eu
astrolab=$1
program=$2
artifacts=$3
here=$(cd "$(dirname "$0")" && pwd)
vendor=$here/../../ui/run/vendor
chromium=${ASTROLAB_CHROMIUM:-/usr/bin/chromium}
command -v node >/dev/null 2>&1 || { echo "skip: node is not installed (Debian: nodejs)"; exit 77; }
[ -x "$chromium" ] || { echo "skip: $chromium is not installed (Debian: chromium)"; exit 77; }
for p in playwright-core d3 d3-flame-graph; do
    if [ ! -f "$here/node_modules/$p/package.json" ]; then
        command -v npm >/dev/null 2>&1 || { echo "skip: npm is not installed (Debian: npm)"; exit 77; }
        (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
        break
    fi
done
cmp "$here/node_modules/d3/dist/d3.min.js" "$vendor/d3.min.js"
cmp "$here/node_modules/d3-flame-graph/dist/d3-flamegraph.umd.min.js" "$vendor/d3-flamegraph.min.js"
echo "ok   ui/run/vendor/ holds the files of the pinned d3 and d3-flame-graph"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Eight frames per stack, so the flame graphs have depth (main, the caller, the wrapper).
ASTROLAB_STACK_DEPTH=8 "$astrolab" run --html "$dir/page.html" -- "$program" 2>"$dir/err" ||
    { cat "$dir/err"; echo "astrolab run --html failed"; exit 1; }
ASTROLAB_CHROMIUM=$chromium node "$here/run_html.mjs" "$dir/page.html" "$artifacts"

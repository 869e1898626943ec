#!/bin/sh
# The Python package installed two ways, each imported from a folder outside the source and
# build trees, checking that the extension loads the libastrolab installed with it:
#   1. cmake --install BUILD --prefix P; PYTHONPATH=P/<ASTROLAB_PYTHON_INSTALL_DIR>
#   2. pip install --no-build-isolation --target T ./python, taking the build's extension
#      (ASTROLAB_BUILD_DIR), with libastrolab.so.0 bundled beside it.
# Usage: install.sh BUILD_DIR SOURCE_DIR PYTHON PYTHON_INSTALL_DIR
set -eu
build=$1 src=$2 python=$3 pydir=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # $1: the package folder; $2: where libastrolab must come from
    cd "$tmp"
    PYTHONPATH=$1 PYTHONDONTWRITEBYTECODE=1 "$python" - "$2" <<'PY'
import sys
import numpy as np
import astro_lab, astro_lab.memory as mem
from astro_lab.tensors import AstroTensorDict
td = AstroTensorDict({"ra": np.arange(10.0)})
assert td["ra"][9] == 9.0
with mem.memory_management() as r:
    a = np.ones(1000)
assert r.bytes_allocated >= 8000, r
maps = open("/proc/self/maps").read()
libs = {line.split()[-1] for line in maps.splitlines() if "libastrolab.so" in line}
assert libs and all(l.startswith(sys.argv[1]) for l in libs), libs
assert astro_lab.__file__.startswith(sys.argv[1]), astro_lab.__file__
print("ok:", astro_lab.__file__, sorted(libs))
PY
}

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
check "$tmp/prefix/$pydir" "$tmp/prefix/"

if "$python" -m pip --version >/dev/null 2>&1; then
    cp -r "$src/python" "$tmp/pysrc" # pip builds in place: keep the source tree clean
    mkdir -p "$tmp/pysrc/../include/astrolab" && cp "$src/include/astrolab/defs.h" \
        "$tmp/include/astrolab/"
    ASTROLAB_BUILD_DIR=$build "$python" -m pip install --quiet --no-build-isolation --no-deps \
        --no-index --target "$tmp/pip" "$tmp/pysrc" 2>&1 | grep -v "as the 'root' user" || true
    check "$tmp/pip" "$tmp/pip/"
else
    echo "pip not installed: the pip install check is skipped (python3-pip)"
fi

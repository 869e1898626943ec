#!/usr/bin/env bash
# Install smoke test: installs a built tree into a scratch prefix and builds a program against
# it the two documented ways, then runs them.
#
#   tests/install/run.sh [BUILD_DIR] [WORK_DIR]     (defaults: build, a new temporary folder)
#
# 1. cmake --install BUILD_DIR --prefix WORK_DIR/prefix
# 2. cc consumer.c $(pkg-config --cflags --libs astrolab)            (shared library), run with
#    LD_LIBRARY_PATH, and again with the README's -Wl,-rpath, run without
# 3. the README's static command (pkg-config --static, -l:libastrolab.a): checks Libs.private,
#    and that the program does not load libastrolab.so
# 4. a CMake project: find_package(astrolab) + astrolab::astrolab, run from its build tree
#    without LD_LIBRARY_PATH (CMake's build RPATH, as the README says)
# 5. the installed astrolab tool runs without LD_LIBRARY_PATH        (checks its RPATH), and
#    `astrolab run` finds its preload library relative to itself (a relocated install)
# The commands of steps 2, 3 and 5 are the README's ("Installing"): this checks that the README
# still shows them, so change both together.
# Run by CTest as test_install (label "install") and by .ci/run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$(cd "${1:-build}" && pwd)"
work="${2:-}"
if [[ -z "$work" ]]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi
cc="${CC:-cc}"
prefix="$work/prefix"

step() { printf 'install-test: %s\n' "$*"; }

rm -rf "${work:?}/prefix" "${work:?}/bin" "${work:?}/cmake-build" "${work:?}/cmake-build-mpi"
mkdir -p "$work/bin"

step "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || {
    cat "$work/install.log" >&2
    exit 1
}

pc="$(find "$prefix" -name astrolab.pc -print -quit)"
[[ -n "$pc" ]] || { echo "install-test: no astrolab.pc under $prefix" >&2; exit 1; }
libdir="$(dirname "$(dirname "$pc")")"
for f in "$prefix/include/astrolab/astrolab.h" "$libdir/libastrolab.so" "$libdir/libastrolab.a" \
    "$libdir/cmake/astrolab/astrolabConfig.cmake" "$prefix/bin/astrolab"; do
    [[ -e "$f" ]] || { echo "install-test: not installed: $f" >&2; exit 1; }
done

readme="$here/../../README.md"
# shellcheck disable=SC2016 # the README's text, $(...) included
for shown in '-Wl,-rpath,$(pkg-config --variable=libdir astrolab)' \
    "\$(pkg-config --static --libs astrolab | sed 's/-lastrolab\\b/-l:libastrolab.a/')" \
    'relative to the tool (so a tree installed anywhere'; do
    grep -qF -- "$shown" "$readme" || {
        echo "install-test: README.md no longer shows: $shown" >&2
        exit 1
    }
done

PKG_CONFIG_PATH="$(dirname "$pc")"
export PKG_CONFIG_PATH
# Only the scratch prefix may satisfy -lastrolab and <astrolab/...>, never a system install.
step "pkg-config astrolab: $(pkg-config --cflags --libs astrolab)"
[[ "$(pkg-config --variable=prefix astrolab)" -ef "$prefix" ]] || {
    echo "install-test: astrolab.pc's prefix is not the install prefix (not relocatable)" >&2
    exit 1
}

step "build with pkg-config (shared), run with LD_LIBRARY_PATH"
# shellcheck disable=SC2046 # pkg-config output is a list of words
"$cc" -Wall -Wextra -Werror -o "$work/bin/consumer-pc" "$here/consumer.c" \
    $(pkg-config --cflags --libs astrolab)
LD_LIBRARY_PATH="$libdir" "$work/bin/consumer-pc"

step "build with pkg-config and -rpath (shared), run without LD_LIBRARY_PATH"
# shellcheck disable=SC2046
"$cc" -Wall -Wextra -Werror -o "$work/bin/consumer-rpath" "$here/consumer.c" \
    $(pkg-config --cflags --libs astrolab) -Wl,-rpath,$(pkg-config --variable=libdir astrolab)
env -u LD_LIBRARY_PATH "$work/bin/consumer-rpath"

step "build with pkg-config --static and -l:libastrolab.a (static library)"
# shellcheck disable=SC2046
"$cc" -Wall -Wextra -Werror -o "$work/bin/consumer-static" "$here/consumer.c" \
    $(pkg-config --cflags astrolab) \
    $(pkg-config --static --libs astrolab | sed 's/-lastrolab\b/-l:libastrolab.a/')
if env -u LD_LIBRARY_PATH ldd "$work/bin/consumer-static" | grep -q 'libastrolab\.so'; then
    echo "install-test: consumer-static loads libastrolab.so" >&2
    exit 1
fi
env -u LD_LIBRARY_PATH "$work/bin/consumer-static"

step "build with find_package(astrolab)"
cmake -S "$here/consumer" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$work/cmake.log" || {
    cat "$work/cmake.log" >&2
    exit 1
}
cmake --build "$work/cmake-build" >>"$work/cmake.log" || {
    cat "$work/cmake.log" >&2
    exit 1
}
grep -q "astrolab_DIR:PATH=$libdir/cmake/astrolab" "$work/cmake-build/CMakeCache.txt" || {
    echo "install-test: find_package(astrolab) did not find the scratch prefix" >&2
    grep astrolab_DIR "$work/cmake-build/CMakeCache.txt" >&2
    exit 1
}
env -u LD_LIBRARY_PATH "$work/cmake-build/consumer"

if [[ -e "$libdir/libastrolab_mpi.so" ]]; then
    # Open MPI refuses root unless told (CI's containers run as root): its documented opt-in.
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    step "build with pkg-config astrolab-mpi (libastrolab_mpi)"
    # shellcheck disable=SC2046
    "$cc" "$here/consumer_mpi.c" -o "$work/bin/consumer-mpi" \
        $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs astrolab-mpi) \
        -Wl,-rpath,"$libdir"
    env -u LD_LIBRARY_PATH "$work/bin/consumer-mpi"
    step "build with find_package(astrolab COMPONENTS mpi)"
    cmake -S "$here/consumer_mpi" -B "$work/cmake-build-mpi" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$work/cmake-mpi.log" &&
        cmake --build "$work/cmake-build-mpi" >>"$work/cmake-mpi.log" || {
        cat "$work/cmake-mpi.log" >&2
        exit 1
    }
    env -u LD_LIBRARY_PATH "$work/cmake-build-mpi/consumer_mpi"
fi

step "installed astrolab --version (no LD_LIBRARY_PATH)"
env -u LD_LIBRARY_PATH "$prefix/bin/astrolab" --version
if [[ -e "$libdir/astrolab/libastrolab_preload.so" ]]; then
    step "installed astrolab run, relocated: found relative to the tool"
    env -u LD_LIBRARY_PATH -u ASTROLAB_PRELOAD_LIB "$prefix/bin/astrolab" run -- true 2>"$work/run.err" || {
        cat "$work/run.err" >&2
        exit 1
    }
    grep -q "== astrolab run: true ==" "$work/run.err" || {
        echo "install-test: the relocated astrolab run wrote no report" >&2
        exit 1
    }
fi

echo "install-test: every check passed"

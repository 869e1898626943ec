#!/bin/sh
# Real astronomy programs from Debian under `astrolab run`, valgrind and heaptrack (issue 17):
#   bench/astro/programs.sh [REPEATS] [--only NAME,...] [--keep]      (REPEATS defaults to 3)
# Runs source-extractor, SWarp, astrometry.net's image2xy and solve-field, and scamp on two
# synthetic 2048 x 2048 star fields (bench/astro/make_field.py, Tycho-2 stars from
# astrometry.net's index, so solve-field solves them), plain and under each tool; compares the
# outputs with and without `astrolab run` byte for byte (FITS headers without DATE, which holds
# the time of the run, and the other time-of-run fields programs.py lists) and prints markdown
# tables: median wall times and ratios, and the leak totals against valgrind's. Exits 1 when
# an output of `astrolab run` differs from the plain run's. NAMES for --only:
# source-extractor, SWarp, image2xy, scamp, solve-field. Every run's outputs are kept until
# the end: about 1.2 GB under $TMPDIR (removed unless --keep). About 10 minutes, mostly
# valgrind's.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build-bench"

# The programs and the tools, with the Debian package each comes from.
missing=""
for pair in source-extractor:source-extractor SWarp:swarp scamp:scamp image2xy:astrometry.net \
    solve-field:astrometry.net query-starkd:astrometry.net valgrind:valgrind \
    heaptrack:heaptrack heaptrack_print:heaptrack python3:python3 cmake:cmake; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
[ -e /usr/share/astrometry/index-tycho2-10.littleendian.fits ] ||
    missing="$missing astrometry-data-tycho2-10-19-littleendian"
if [ -n "$missing" ]; then
    pkgs=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
    echo "programs.sh: missing Debian packages; as root run: apt-get install -y $pkgs" >&2
    exit 2
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
make -C "$build" -j2 astrolab_cli astrolab_preload >/dev/null
exec python3 "$root/bench/astro/programs.py" "$build" "$@"

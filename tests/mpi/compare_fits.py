"""Reads two FITS tables with astropy and checks that they hold the same values: the same
column names, row count, units and SURVEY keyword, and each column's values equal (NaN equal to
NaN), whatever the stored types (one file may hold narrowed integers or floats).

    /usr/bin/python3 compare_fits.py EXPECTED.fits GOT.fits   (exit 0 when equal)
"""
import sys

import numpy as np
from astropy.io import fits


def main(expected, got):
    with fits.open(expected) as a, fits.open(got) as b:
        ta, tb = a[1], b[1]
        problems = []
        if ta.columns.names != tb.columns.names:
            problems.append(f"columns {ta.columns.names} != {tb.columns.names}")
        if ta.header.get("SURVEY") != tb.header.get("SURVEY"):
            problems.append("SURVEY differs")
        if ta.data.shape != tb.data.shape:
            problems.append(f"rows {ta.data.shape} != {tb.data.shape}")
        for ca in ta.columns:
            if problems or ca.name not in tb.columns.names:
                break
            cb = tb.columns[ca.name]
            if (ca.unit or "") != (cb.unit or ""):
                problems.append(f"{ca.name}: unit {ca.unit!r} != {cb.unit!r}")
            x, y = np.asarray(ta.data[ca.name]), np.asarray(tb.data[ca.name])
            if x.dtype.kind in "fc" or y.dtype.kind in "fc":
                same = np.array_equal(x.astype(np.float64), y.astype(np.float64), equal_nan=True)
            else:
                same = np.array_equal(x, y)
            if not same:
                problems.append(f"{ca.name}: values differ")
        for p in problems:
            print(f"compare_fits: {p}", file=sys.stderr)
        print(f"compare_fits: {len(ta.columns.names)} columns, {len(ta.data)} rows, "
              f"{'equal' if not problems else 'DIFFERENT'}")
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

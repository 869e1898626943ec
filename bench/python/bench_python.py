"""Benchmarks of the Python package (issue 16), each figure from its own process where peak
RSS matters. Run through bench/python.sh, which builds what it needs.

    bench_python.py load PATH            SurveyTensorDict.from_file: seconds, peak RSS, data
    bench_python.py astropy PATH         astropy Table.read, then native byte order
    bench_python.py numpy-small N MODE   make and drop N arrays of 8 float64 (MODE: off,
                                         astrolab, tracemalloc)
    bench_python.py numpy-large N MODE   make and drop N arrays of 8 MiB (np.ones)
    bench_python.py numpy-paired small|large N ROUNDS
                                         the three modes in one process, a block of N arrays
                                         each, in turn (the order rotating), ROUNDS times: the
                                         median of each round's ratio to the block without
                                         the handler (this VM's speed drifts by up to 2x
                                         between processes; neighbouring blocks share it)
    bench_python.py calls N_ARRAYS       get_memory_stats() and diagnose_memory_leaks() with
                                         N_ARRAYS live numpy arrays
Each prints one JSON line."""
import json
import os
import resource
import sys
import time


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def load(path):
    import astro_lab.memory  # noqa: F401  (the import is not the load's cost)
    from astro_lab.tensors import SurveyTensorDict
    start = peak_rss()
    t0 = time.perf_counter()
    td = SurveyTensorDict.from_file(path)
    t1 = time.perf_counter()
    info = td.memory_info()
    print(json.dumps({"method": "python_from_file", "seconds": t1 - t0,
                      "peak_rss_bytes": peak_rss(), "start_rss_bytes": start,
                      "data_bytes": info["total_bytes"]}))


def astropy(path):
    from astropy.table import Table
    start = peak_rss()
    t0 = time.perf_counter()
    t = Table.read(path, hdu=1)
    t1 = time.perf_counter()
    p1 = peak_rss()
    data = sum(t[c].nbytes for c in t.colnames)
    for c in t.colnames:
        col = t[c]
        if col.dtype.byteorder not in ("=", "|"):
            t[c] = col.astype(col.dtype.newbyteorder("="))
    t2 = time.perf_counter()
    print(json.dumps({"method": "astropy_table_read", "seconds": t1 - t0,
                      "peak_rss_bytes": p1, "start_rss_bytes": start, "data_bytes": data}))
    print(json.dumps({"method": "astropy_native_order", "seconds": t2 - t0,
                      "peak_rss_bytes": peak_rss(), "start_rss_bytes": start,
                      "data_bytes": data}))


def numpy_mode(mode):
    if mode == "off":
        os.environ["ASTROLAB_NUMPY"] = "0"
    import astro_lab.memory  # noqa: F401  (installs the handler unless ASTROLAB_NUMPY=0)
    if mode == "tracemalloc":
        os.environ["ASTROLAB_NUMPY"] = "0"
        astro_lab.memory.track_numpy(False)
        import tracemalloc
        tracemalloc.start()
    import numpy as np
    return np


def numpy_small(n, mode):
    np = numpy_mode(mode)
    empty = np.empty
    t0 = time.perf_counter()
    for _ in range(n):
        a = empty(8)
        del a
    t1 = time.perf_counter()
    print(json.dumps({"method": f"numpy_small_{mode}", "seconds": t1 - t0,
                      "ns_per_array": (t1 - t0) / n * 1e9}))


def numpy_large(n, mode):
    np = numpy_mode(mode)
    t0 = time.perf_counter()
    for _ in range(n):
        a = np.ones(1 << 20)
        del a
    t1 = time.perf_counter()
    print(json.dumps({"method": f"numpy_large_{mode}", "seconds": t1 - t0,
                      "us_per_array": (t1 - t0) / n * 1e6}))


def small_block(np, n):
    empty = np.empty
    t0 = time.perf_counter()
    for _ in range(n):
        a = empty(8)
        del a
    return (time.perf_counter() - t0) / n


def large_block(np, n):
    ones = np.ones
    t0 = time.perf_counter()
    for _ in range(n):
        a = ones(1 << 20)
        del a
    return (time.perf_counter() - t0) / n


def numpy_paired(kind, n, rounds):
    import statistics
    import tracemalloc
    import astro_lab.memory as mem
    import numpy as np
    block = small_block if kind == "small" else large_block
    modes = ("off", "astrolab", "tracemalloc")
    times = {m: [] for m in modes}
    for r in range(rounds):
        for m in modes[r % 3:] + modes[:r % 3]:
            mem.track_numpy(m == "astrolab")
            if m == "tracemalloc":
                tracemalloc.start()
            block(np, max(n // 50, 1))  # warm: the handler's caches, tracemalloc's tables
            times[m].append(block(np, n))
            if m == "tracemalloc":
                tracemalloc.stop()
    mem.track_numpy(True)
    unit = 1e9 if kind == "small" else 1e6
    out = {"method": f"numpy_{kind}_paired", "arrays": n, "rounds": rounds,
           "unit": "ns" if kind == "small" else "us"}
    for m in modes:
        out[m] = statistics.median(times[m]) * unit
        out[f"ratio_{m}"] = statistics.median(t / o for t, o in zip(times[m], times["off"]))
    print(json.dumps(out))


def calls(n_arrays):
    import numpy as np
    import astro_lab.memory as mem
    keep = [np.empty(1) for _ in range(n_arrays)]
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        mem.get_memory_stats()
    t1 = time.perf_counter()
    m = 20
    t2 = time.perf_counter()
    for _ in range(m):
        mem.diagnose_memory_leaks()
    t3 = time.perf_counter()
    print(json.dumps({"method": "calls", "live_arrays": len(keep),
                      "get_memory_stats_us": (t1 - t0) / n * 1e6,
                      "diagnose_memory_leaks_ms": (t3 - t2) / m * 1e3}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "load":
        load(args[0])
    elif cmd == "astropy":
        astropy(args[0])
    elif cmd == "numpy-small":
        numpy_small(int(args[0]), args[1])
    elif cmd == "numpy-large":
        numpy_large(int(args[0]), args[1])
    elif cmd == "numpy-paired":
        numpy_paired(args[0], int(args[1]), int(args[2]))
    elif cmd == "calls":
        calls(int(args[0]))
    else:
        sys.exit(__doc__)

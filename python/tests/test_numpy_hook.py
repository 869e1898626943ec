"""numpy's array data in the one ledger: tagged numpy.ndarray, attributed to the Python line
that made the array (not numpy's own files), arrays made without the handler still freed by
numpy's allocator."""
import gc
import threading

import numpy as np
import pytest

import astro_lab.memory as mem


def make_arrays():
    return [np.zeros(1000) for _ in range(10)]  # the line diagnosis must name


def test_arrays_are_tagged_and_attributed_to_the_python_line():
    line = make_arrays.__code__.co_firstlineno + 1
    arrays = make_arrays()
    d = mem.diagnose_memory_leaks()
    sites = [s for s in d["top_consumers"] if s["tag"] == "numpy.ndarray"
             and s["file"] == __file__ and s["line"] == line]
    assert sites, d["top_consumers"][:5]
    assert sites[0]["count"] >= 10 and sites[0]["bytes"] >= 80000
    assert sites[0]["function"] in ("make_arrays", "<listcomp>")  # 3.11: its own code
    del arrays


def small_here():
    return np.ones(8)  # the line a reused block must name


def test_small_blocks_reused_from_the_cache_keep_the_counts_exact():
    """Small data blocks freed by numpy are kept for reuse (as numpy's default allocator
    does), freed in every count: making and dropping arrays leaves the statistics as they
    were, and a reused block is attributed to the line of its new array."""
    gc.collect()
    s0 = mem.get_memory_stats()
    for _ in range(1000):
        a = np.ones(8)
        b = np.empty(3, dtype=np.int8)
        del a, b
    s1 = mem.get_memory_stats()
    assert (s1["current_bytes"], s1["live_blocks"]) == (s0["current_bytes"], s0["live_blocks"])
    assert s1["errors"] == s0["errors"]
    keep = [small_here() for _ in range(5)]  # the first ones come from the cache
    line = small_here.__code__.co_firstlineno + 1
    d = mem.diagnose_memory_leaks()
    sites = [s for s in d["top_consumers"] if s["file"] == __file__ and s["line"] == line]
    assert sites and sites[0]["count"] == 5 and sites[0]["bytes"] == 5 * 64, sites
    assert mem.get_memory_stats()["current_bytes"] == s0["current_bytes"] + 5 * 64
    del keep
    assert mem.get_memory_stats()["current_bytes"] == s0["current_bytes"]


def test_a_thread_exiting_with_cached_blocks_leaves_the_counts_alone():
    gc.collect()
    before = mem.get_memory_stats()

    def work():
        mem.track_numpy(True)
        for n in range(1, 200):
            a = np.ones(n % 100 + 1)
            del a

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = mem.get_memory_stats()
    assert (after["current_bytes"], after["live_blocks"]) == \
        (before["current_bytes"], before["live_blocks"])
    assert after["errors"] == before["errors"]


def test_arrays_in_a_scope_bypass_the_cache():
    a = np.ones(8)
    del a  # one block in the cache
    with mem.memory_management("cache") as report:
        b = np.ones(8)
        del b
    assert report.bytes_allocated >= 64 and report.bytes_freed >= 64


def test_arrays_made_without_the_handler_free_normally():
    assert mem.track_numpy(False) is True  # it was on
    try:
        before = mem.get_memory_stats()["current_bytes"]
        a = np.ones(100000)
        assert mem.get_memory_stats()["current_bytes"] == before  # untracked
    finally:
        assert mem.track_numpy(True) is False
    b = np.ones(100000)
    assert mem.get_memory_stats()["current_bytes"] >= before + b.nbytes
    del a  # numpy's default allocator frees it: no error counted
    del b
    assert mem.get_memory_stats()["current_bytes"] == before
    assert mem.get_memory_stats()["errors"] == 0


def test_growth_by_realloc_and_views():
    a = np.arange(10)
    a.resize(100000, refcheck=False)  # realloc through the handler
    v = a[::2]
    assert v.base is a
    del a, v
    gc.collect()


def test_threads_started_by_threading_are_tracked_too():
    seen = []

    def run():
        before = mem.get_memory_stats()["current_bytes"]
        x = np.ones(50000)
        seen.append(mem.get_memory_stats()["current_bytes"] - before)
        mem.track_numpy(False)  # per thread: this one only
        y = np.ones(50000)
        seen.append(mem.get_memory_stats()["current_bytes"] - before)
        del x, y

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert seen[0] >= 400000 and seen[1] == seen[0]
    before = mem.get_memory_stats()["current_bytes"]
    z = np.ones(50000)  # the main thread is still tracked
    assert mem.get_memory_stats()["current_bytes"] - before >= 400000
    del z


def test_track_python_counts_python_objects_and_switches_off_safely():
    class Node:
        pass

    assert mem.track_python(True) is False  # off by default
    try:
        before = mem.get_memory_stats()["current_bytes"]
        nodes = [Node() for _ in range(10000)]
        grown = mem.get_memory_stats()["current_bytes"] - before
        tags = {t["tag"] for t in mem.diagnose_memory_leaks()["types"]}
    finally:
        assert mem.track_python(False) is True
    assert grown > 10000 * 16
    assert "python.object" in tags
    kept = [Node() for _ in range(100)]  # untracked now, freed by pymalloc later
    del nodes  # tracked blocks freed after tracking stopped: back to al_free
    gc.collect()
    assert mem.get_memory_stats()["errors"] == 0
    assert mem.get_memory_stats()["current_bytes"] < before + grown // 2
    del kept
    with pytest.raises(TypeError):
        mem.track_python()


def test_code_made_and_freed_at_run_time_keeps_its_own_lines():
    """Code objects made at run time (exec, generated functions) and freed: a new one may take
    a freed one's address, and each array must still name its own file and line."""
    wrong = []
    for i in range(200):
        src = "\n" * (i % 7) + "def f(np):\n    return np.zeros(131072 + %d)\n" % i
        ns = {}
        exec(compile(src, "generated_%d.py" % i, "exec"), ns)
        a = ns["f"](np)
        top = mem.diagnose_memory_leaks()["top_consumers"][0]
        if (top["file"], top["line"]) != ("generated_%d.py" % i, i % 7 + 2):
            wrong.append((i, top["file"], top["line"]))
        del a, ns
        gc.collect()
    assert not wrong, wrong[:5]

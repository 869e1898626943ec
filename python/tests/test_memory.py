"""astro_lab.memory: statistics, scopes (context manager and decorator), diagnosis, forced
cleanup and the weak cleanup registry."""
import gc
import threading
import weakref

import numpy as np
import pytest

import astro_lab
import astro_lab.memory as mem
import astrolab

SPEC_STATS = ("current_bytes", "peak_bytes", "live_blocks", "total_allocations", "total_frees",
              "rss_bytes", "peak_rss_bytes", "cuda_allocated_bytes", "cuda_reserved_bytes",
              "cuda_peak_allocated_bytes", "errors", "current_mb", "peak_mb",
              "cuda_memory_allocated")
SPEC_CLEANUP = ("success", "callbacks_run", "callbacks_failed", "bytes_released",
                "cuda_bytes_released", "rss_before_bytes", "rss_after_bytes", "duration_ns")


def test_alias_is_the_same_module():
    assert astro_lab.memory is astrolab.memory
    from astro_lab.memory import memory_management
    assert memory_management is mem.memory_management
    assert astro_lab.AstroLabError is astrolab.AstroLabError


def test_stats_have_every_spec_key():
    s = mem.get_memory_stats()
    for key in SPEC_STATS:
        assert key in s, key
    assert s["rss_bytes"] > 0
    assert s["current_mb"] == pytest.approx(s["current_bytes"] / 2**20)


def test_stats_follow_a_numpy_array():
    before = mem.get_memory_stats()["current_bytes"]
    a = np.ones(1 << 20)
    assert mem.get_memory_stats()["current_bytes"] - before == a.nbytes
    del a
    assert mem.get_memory_stats()["current_bytes"] == before


def test_scope_report_counts_what_it_allocated_freed_and_peaked():
    with mem.memory_management("work") as r:
        assert not r.ended
        a = np.ones(1 << 20)  # 8 MiB
        b = np.ones(1 << 20)
        del b
    assert r.ended and r.name == "work"
    assert r.bytes_allocated >= 2 * a.nbytes
    assert r.bytes_freed >= a.nbytes
    assert r.peak_bytes >= 2 * a.nbytes
    assert r.peak_mb == pytest.approx(r.peak_bytes / 2**20)
    assert r.reclaimed_bytes >= a.nbytes  # still live at the end: Python holds a
    assert a.sum() == a.size  # and it is still valid: Python scopes free nothing
    d = r.to_dict()
    for key in ("bytes_allocated", "bytes_freed", "peak_bytes", "reclaimed_blocks",
                "reclaimed_bytes", "cleanups_run", "duration_ns", "peak_mb"):
        assert key in d
    assert r["peak_mb"] == r.peak_mb


def test_scopes_nest():
    with mem.memory_management("outer") as outer:
        x = np.ones(1000)
        with mem.memory_management("inner") as inner:
            y = np.ones(2000)
        z = np.ones(3000)
    assert y.nbytes <= inner.bytes_allocated < y.nbytes + 64  # numpy's few bytes of dims
    assert outer.bytes_allocated >= x.nbytes + z.nbytes
    del x, y, z


def test_decorator_opens_a_scope_per_call():
    reports = []

    @mem.memory_management()
    def work(n):
        reports.append(mem.get_memory_stats())
        return np.ones(n).sum()

    assert work(10) == 10 and work(20) == 20
    assert work.__name__ == "work"
    with pytest.raises(TypeError):
        @mem.memory_management
        def bad():
            pass


def test_scopes_on_many_threads():
    errors, reports = [], []

    def run(i):
        try:
            for _ in range(50):
                with mem.memory_management(f"t{i}", collect=False) as r:
                    a = np.ones(1000 + i)
                    del a
                assert (1000 + i) * 8 <= r.bytes_allocated < (1000 + i) * 8 + 64
                reports.append(r)
        except Exception as e:  # collected for the main thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(reports) == 200


def test_scope_misuse_raises():
    cm = mem.memory_management("x")
    with cm:
        with pytest.raises(RuntimeError):
            cm.__enter__()
    with pytest.raises(TypeError):
        mem.memory_management(3)
    with pytest.raises(ValueError):
        mem.memory_management("x", budget_bytes=-1)
    with pytest.raises(TypeError):
        mem.memory_management("x", budget_bytes="1")
    from astrolab import _astrolab
    cap = _astrolab._scope_begin("once")
    _astrolab._scope_end(cap)
    with pytest.raises(astrolab.StateError):
        _astrolab._scope_end(cap)


def test_scope_ended_on_another_thread_is_refused():
    from astrolab import _astrolab
    cap = _astrolab._scope_begin("here")
    caught = []
    t = threading.Thread(target=lambda: caught.append(
        pytest.raises(astrolab.StateError, _astrolab._scope_end, cap)))
    t.start()
    t.join()
    assert caught
    _astrolab._scope_end(cap)


def test_scope_budget_raises_memory_error():
    with pytest.raises(MemoryError) as info:
        with mem.memory_management("small", budget_bytes=1 << 20):
            np.ones(1 << 20)  # 8 MiB
    assert isinstance(info.value, MemoryError)


class Row:
    pass


def test_diagnosis_has_the_seed_keys_and_python_objects():
    keep = [np.ones(10) for _ in range(5)] + [Row() for _ in range(5)]
    d = mem.diagnose_memory_leaks()
    for key in ("top_consumers", "types", "recommendations", "accounting", "python_objects"):
        assert key in d
    assert any(t["tag"] == "numpy.ndarray" for t in d["types"])
    rows = {r["type"]: r for r in d["python_objects"]}
    assert rows["Row"]["count"] == 5 and not rows["Row"]["flagged"]
    assert rows["function"]["flagged"] == (rows["function"]["count"] > 1000)
    for rec in d["recommendations"]:
        assert set(rec) >= {"severity", "code", "message"}
    del keep


def test_flagged_python_type_gets_a_recommendation():
    class Star:
        pass

    stars = [Star() for _ in range(1500)]
    d = mem.diagnose_memory_leaks()
    assert any(r["code"] == "high_object_count" and "Star" in r["message"]
               for r in d["recommendations"])
    del stars


class Cache:
    def __init__(self):
        self.data = np.ones(1000)
        self.cleaned = 0

    def cleanup(self):
        self.data = None
        self.cleaned += 1


def test_force_cleanup_runs_registered_cleanups_by_priority():
    order = []
    a, b = Cache(), Cache()
    ha = mem.register_for_cleanup(a, lambda o: order.append("a"), priority=5)
    hb = mem.register_for_cleanup(b, lambda o: order.append("b"), priority=1)
    c = Cache()
    hc = mem.register_for_cleanup(c)
    result = mem.force_comprehensive_cleanup()
    for key in SPEC_CLEANUP:
        assert key in result
    assert result["success"] is True
    assert order == ["b", "a"]
    assert c.cleaned == 1 and c.data is None
    assert result["python_callbacks_run"] == 3
    assert result["callbacks_run"] >= 3
    for h in (ha, hb, hc):
        assert h.unregister() is True
        assert h.unregister() is False


def test_failing_cleanup_is_counted_and_the_others_run():
    a, b = Cache(), Cache()

    def boom(obj):
        raise RuntimeError("boom")

    h1 = mem.register_for_cleanup(a, boom, priority=0)
    h2 = mem.register_for_cleanup(b, priority=1)
    result = mem.force_comprehensive_cleanup()
    assert result["success"] is False
    assert result["callbacks_failed"] >= 1
    assert b.cleaned == 1
    h1.unregister()
    h2.unregister()


def test_registry_holds_objects_weakly():
    c = Cache()
    ref = weakref.ref(c)
    h = mem.register_for_cleanup(c)  # the bound method path too:
    h2 = mem.register_for_cleanup(c, c.cleanup)
    assert h.alive and h2.alive
    del c
    gc.collect()
    assert ref() is None
    assert not h.alive and not h2.alive
    assert h.unregister() is False


def test_scope_reports_registrations_of_objects_that_died_in_it():
    with mem.memory_management() as r:
        c = Cache()
        mem.register_for_cleanup(c)
        del c
    assert r.registrations_dropped == 1


def test_register_rejects_bad_arguments():
    with pytest.raises(TypeError):
        mem.register_for_cleanup(object())  # no cleanup() method
    with pytest.raises(TypeError):
        mem.register_for_cleanup(Cache(), cleanup=42)
    with pytest.raises(TypeError):
        mem.register_for_cleanup(1, cleanup=print)  # ints cannot be held weakly
    with pytest.raises(TypeError):
        mem.register_for_cleanup(Cache(), priority="high")
    with pytest.raises(ValueError):
        mem.register_for_cleanup(Cache(), priority=2**40)


def test_soft_limit_runs_python_cleanups_from_c():
    """The C soft limit runs the release functions; the Python ones arrive as a pending call,
    delivered at the next bytecode boundary of the main thread."""
    c = Cache()
    h = mem.register_for_cleanup(c)
    base = mem.get_memory_stats()["current_bytes"]
    mem.set_memory_limit(base + (1 << 20), 0)
    try:
        big = np.ones(1 << 18)  # 2 MiB: crosses the soft limit
        for _ in range(1000):
            if c.cleaned:
                break
            sum(range(10))
    finally:
        mem.set_memory_limit(0, 0)
    assert c.cleaned >= 1
    h.unregister()
    del big


def test_set_memory_limit_rejects_soft_above_hard():
    with pytest.raises(ValueError):
        mem.set_memory_limit(10, 5)
    with pytest.raises(OverflowError):
        mem.set_memory_limit(-1, 0)


def test_memory_manager_class_and_global():
    from astro_lab.memory import MemoryManager
    mm = MemoryManager()
    assert set(mm.get_stats()) >= set(SPEC_STATS)
    with mm.context("ctx") as r:
        np.ones(10)
    assert r.ended
    assert "recommendations" in mm.diagnose()
    assert "success" in mm.force_cleanup()
    assert isinstance(mem._memory_manager, MemoryManager)


def test_repeated_calls_leave_nothing_behind(no_growth):
    for _ in range(1000):
        mem.get_memory_stats()
        with mem.memory_management(collect=False):
            pass
    for _ in range(20):  # each collects all garbage: milliseconds under pytest
        with mem.memory_management():
            pass
        mem.diagnose_memory_leaks()
        mem.force_comprehensive_cleanup()


def test_registering_from_many_threads():
    caches = [Cache() for _ in range(400)]
    handles = []

    def run(part):
        for c in part:
            handles.append(mem.register_for_cleanup(c))

    threads = [threading.Thread(target=run, args=(caches[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(handles) == 400
    result = mem.force_comprehensive_cleanup()
    assert result["python_callbacks_run"] >= 400
    assert all(c.cleaned == 1 for c in caches)
    assert sum(h.unregister() for h in handles) == 400


def test_object_census_counts_every_type_in_c():
    """The census behind python_objects: a C table that grows past its first 256 types."""
    from astrolab import _astrolab
    kinds = [type(f"Kind{i}", (), {}) for i in range(600)]
    objects = [k() for k in kinds for _ in range(2)] + [1.5] * 7 + ["x"] * 3
    ranked = _astrolab._count_by_type(objects)
    assert ranked[0] == (float, 7) and ranked[1] == (str, 3)
    assert len(ranked) == 602 and all(n == 2 for _, n in ranked[2:])
    assert [t for t, _ in ranked[2:]] == kinds  # ties in the order first seen
    assert _astrolab._count_by_type([]) == []
    with pytest.raises(TypeError):
        _astrolab._count_by_type((1, 2))

"""astro_lab.tensors: AstroTensorDict and SurveyTensorDict on the C tensordict; numpy views
that outlive cleanup() and the tensordict; zero-copy numpy and torch; the seed's methods."""
import gc
import threading

import numpy as np
import pytest

import astro_lab
import astro_lab.memory as mem
from astro_lab.tensors import AstroTensorDict, SurveyTensorDict, TensorDictView


def ptr(a):
    return a.__array_interface__["data"][0]


def test_numpy_in_zero_copy_and_view_out():
    ra = np.arange(1000, dtype=np.float64)
    td = AstroTensorDict({"ra": ra}, batch_size=[1000])
    assert td.batch_size == (1000,)
    view = td["ra"]
    assert ptr(view) == ptr(ra)  # DLPack in, view out: one buffer
    assert td.data_ptr("ra") == ptr(ra)
    np.testing.assert_array_equal(view, ra)


def test_view_outlives_cleanup_and_the_tensordict():
    td = AstroTensorDict({"x": np.arange(10**5, dtype=np.int64)})
    view = td["x"]
    assert td.cleanup() == 1
    assert "x" not in td and len(td) == 0 and td.batch_size == ()
    gc.collect()
    assert view.sum() == sum(range(10**5))  # storage alive: the view holds it
    del td
    gc.collect()
    junk = [np.full(10**5, 7, dtype=np.int64) for _ in range(5)]  # reuse freed memory
    assert view[12345] == 12345 and view.sum() == sum(range(10**5))
    del junk


def test_copies_where_dlpack_cannot_carry():
    ro = np.arange(5, dtype=np.int32)
    ro.flags.writeable = False
    swapped = np.arange(5, dtype=">f8")
    names = np.array([b"vega", b"sirius", b"rigel", b"deneb", b"altair"])
    td = AstroTensorDict({"ro": ro, "be": swapped, "name": names, "flag": ro > 2})
    np.testing.assert_array_equal(td["ro"], ro)
    np.testing.assert_array_equal(td["be"], swapped)
    assert td["be"].dtype == np.float64
    assert list(td["name"]) == list(names) and td["name"].dtype == names.dtype
    assert td["flag"].dtype == np.bool_ and list(td["flag"]) == [False] * 3 + [True] * 2


def test_torch_round_trip_shares_storage():
    torch = pytest.importorskip("torch")
    t = torch.arange(100, dtype=torch.float32)
    td = AstroTensorDict({"t": t})
    assert td.data_ptr("t") == t.data_ptr()
    back = td.to_torch("t")
    assert back.data_ptr() == t.data_ptr() and torch.equal(back, t)
    via_numpy = torch.from_dlpack(td["t"])
    assert via_numpy.data_ptr() == t.data_ptr()
    td.cleanup()
    del td
    gc.collect()
    assert torch.equal(back, torch.arange(100, dtype=torch.float32))


def test_nested_keys_and_views():
    td = AstroTensorDict({"pos": {"ra": np.ones(4), "dec": np.zeros(4)}, "mag": np.ones(4)})
    assert td.keys() == ["pos", "mag"]
    assert td.keys(include_nested=True) == ["pos.ra", "pos.dec", "mag"]
    assert isinstance(td["pos"], TensorDictView)
    np.testing.assert_array_equal(td["pos"]["ra"], np.ones(4))
    np.testing.assert_array_equal(td["pos.dec"], np.zeros(4))
    td["pos"]["pm"] = np.arange(4.0)
    assert "pos.pm" in td
    del td["pos.ra"]
    assert "pos.ra" not in td
    assert td.to_dict()["pos"]["pm"][3] == 3.0


def test_batch_size_is_enforced():
    td = AstroTensorDict({"a": np.ones(3)}, batch_size=3)
    with pytest.raises(ValueError) as info:
        td["b"] = np.ones(4)
    assert isinstance(info.value, astro_lab.ShapeError)
    with pytest.raises(ValueError):
        AstroTensorDict({}, batch_size=[2, 3])
    with pytest.raises(ValueError):
        AstroTensorDict({}, batch_size=-1)
    with pytest.raises(TypeError):
        AstroTensorDict({}, batch_size="3")


def test_bad_values_and_keys_raise():
    td = AstroTensorDict({"a": np.ones(3)})
    with pytest.raises(TypeError):
        td["u"] = np.array(["str", "not", "bytes"])
    with pytest.raises(TypeError):
        td["o"] = np.array([object()] * 3)
    with pytest.raises(TypeError):
        td[3] = np.ones(3)
    with pytest.raises(KeyError):
        td["missing"]
    with pytest.raises(KeyError):
        del td["missing"]
    with pytest.raises(ValueError):
        td["scalar"] = np.float64(1.0)
    with pytest.raises(TypeError):
        AstroTensorDict([1, 2, 3])
    assert td.get("missing", 5) == 5


def test_temporaries_and_clear_temp_tensors():
    td = AstroTensorDict({"keep": np.ones(8)})
    td.set("tmp", np.ones(8), temp=True)
    td.set("tmp2", np.ones(8), temp=True)
    info = td.memory_info()
    assert sum(r["temporary"] for r in info["tensors"]) == 2
    assert td.clear_temp_tensors() == 2
    assert td.keys() == ["keep"]


def test_temporaries_are_copies():
    """A C cleanup pass (any thread) drops temporaries: they must not borrow Python memory,
    whose release would need the GIL inside that pass."""
    x = np.ones(8)
    td = AstroTensorDict({"keep": x})
    td.set("tmp", x, temp=True)
    assert td.data_ptr("keep") == ptr(x) and td.data_ptr("tmp") != ptr(x)


def test_forced_cleanup_drops_temporaries():
    td = AstroTensorDict({"keep": np.ones(8)})
    td.set("tmp", np.ones(8), temp=True)
    mem.force_comprehensive_cleanup()
    assert td.keys() == ["keep"]


def test_memory_info_keys():
    td = AstroTensorDict({"a": np.ones(1000), "b": np.ones(1000, dtype=np.float32)})
    info = td.memory_info()
    assert info["n_tensors"] == 2
    assert info["total_bytes"] == 12000
    assert info["total_mb"] == pytest.approx(12000 / 2**20)
    assert [r["name"] for r in info["tensors"]] == ["a", "b"]


def test_optimize_memory_narrows_and_values_read_back_equal():
    ids = np.arange(1000, dtype=np.int64)
    flux = np.linspace(0, 1, 1000, dtype=np.float32).astype(np.float64)
    td = AstroTensorDict({"id": ids, "flux": flux})
    dry = td.optimize_memory(dry_run=True)
    assert dry["dry_run"] and td["id"].dtype == np.int64
    report = td.optimize_memory()
    assert report["bytes_after"] < report["bytes_before"]
    assert td["id"].dtype == np.int16 and td["flux"].dtype == np.float32
    np.testing.assert_array_equal(td["id"], ids)
    np.testing.assert_array_equal(td["flux"], flux)
    with pytest.raises(ValueError):
        td.optimize_memory(tolerance=2.0)
    with pytest.raises(TypeError):
        td.optimize_memory(dry_run="yes", tolerance="x")


def test_optimize_releases_the_gil_and_guards_the_object():
    td = AstroTensorDict({"x": np.arange(2_000_000, dtype=np.int64)})
    errors = []

    def other():
        try:
            for _ in range(200):
                try:
                    td.keys()
                except astro_lab.StateError:
                    pass  # refused while optimize runs: never a race
        except Exception as e:
            errors.append(e)

    t = threading.Thread(target=other)
    t.start()
    td.optimize_memory()
    t.join()
    assert not errors
    assert td["x"][-1] == 1_999_999


def write_csv(path, rows=100):
    lines = ["source_id,ra,dec,phot_g_mean_mag,name"]
    for i in range(rows):
        lines.append(f"{i},{i * 0.5},{-i * 0.25},{10 + i / 100},star{i}")
    path.write_text("\n".join(lines) + "\n")


def test_survey_load_save_round_trip(tmp_path):
    csv = tmp_path / "gaia.csv"
    write_csv(csv)
    seen = []
    td = SurveyTensorDict.from_file(str(csv), progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == 100
    assert td.batch_size == (100,)
    assert td.roles.get("ra") == "ra"
    assert td.survey == "Gaia DR3"
    td.set_column_info("ra", unit="deg")
    assert td.units["ra"] == "deg"
    out = tmp_path / "copy.fits"
    td.to_fits(str(out))
    back = SurveyTensorDict.from_file(str(out), columns=["ra", "name"])
    assert back.keys() == ["ra", "name"]
    np.testing.assert_array_equal(back["ra"], td["ra"])
    assert back["name"][3] == b"star3"
    assert back.units["ra"] == "deg"
    with pytest.raises(OSError):
        td.to_fits(str(tmp_path / "no" / "such" / "dir.fits"))
    with pytest.raises(KeyError):
        td.set_column_info("nope", unit="deg")


def test_progress_exception_propagates(tmp_path):
    csv = tmp_path / "t.csv"
    write_csv(csv)

    def bad(done, total):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        SurveyTensorDict.from_file(str(csv), progress=bad)


def test_fits_hdu_by_name_and_index(tmp_path):
    td = AstroTensorDict({"a": np.arange(5, dtype=np.int32)})
    std = SurveyTensorDict({"a": np.arange(5, dtype=np.int32)})
    path = tmp_path / "t.fits"
    std.to_fits(str(path), extname="STARS")
    assert list(SurveyTensorDict.from_file(str(path), hdu=1)["a"]) == list(range(5))
    assert list(SurveyTensorDict.from_file(str(path), hdu="STARS")["a"]) == list(range(5))
    with pytest.raises(KeyError):
        SurveyTensorDict.from_file(str(path), hdu="NOPE")
    from astrolab import _astrolab
    with pytest.raises(TypeError):
        _astrolab._survey_save(object(), str(path))
    with pytest.raises(TypeError):
        _astrolab._survey_load(int, str(path))
    td.cleanup()


def sweep(fn, limit=400):
    """Fails the n-th tracked allocation of fn() for n = 1, 2, ... until fn succeeds: each
    failure must raise MemoryError and leave no tracked block behind."""
    from astrolab import _astrolab
    fn()  # once first: lazily made process-wide tables are not leaks
    gc.collect()
    base = mem.get_memory_stats()["live_blocks"]
    for n in range(1, limit):
        _astrolab._fail_after(n)
        failed = False
        try:
            result = fn()
        except MemoryError:
            failed = True  # checked below: the traceback holds fn's locals until then
        finally:
            _astrolab._fail_after(0)
        if not failed:
            return n, result
        gc.collect()
        assert mem.get_memory_stats()["live_blocks"] == base, f"leak at allocation {n}"
    raise AssertionError("never succeeded")


def test_allocation_failure_sweep(tmp_path, fail_after):
    csv = tmp_path / "t.csv"
    write_csv(csv, rows=50)
    n, td = sweep(lambda: SurveyTensorDict.from_file(str(csv)))
    assert n > 3 and td.batch_size == (50,)
    del td
    ids = np.arange(300, dtype=np.int64)

    def optimize():
        t = AstroTensorDict({"id": ids, "x": ids.astype(np.float64)})
        report = t.optimize_memory()
        return t, report

    n, (t, report) = sweep(optimize)
    assert n > 2 and t["id"].dtype == np.int16
    del t
    n, info = sweep(lambda: AstroTensorDict({"a": ids}).memory_info())
    assert info["n_tensors"] == 1


def test_a_thousand_repetitions_leave_nothing(tmp_path, no_growth):
    import sys
    csv = tmp_path / "t.csv"
    write_csv(csv, rows=20)
    ids = np.arange(100, dtype=np.int64)
    gc.collect()
    refs = sys.gettotalrefcount() if hasattr(sys, "gettotalrefcount") else None
    objects = len(gc.get_objects())
    for _ in range(1000):
        td = SurveyTensorDict.from_file(str(csv))
        td.memory_info()
        td.optimize_memory()
        td["ra"]
        t2 = AstroTensorDict({"id": ids})
        t2.set("tmp", ids, temp=True)
        t2.clear_temp_tensors()
        t2.cleanup()
    del td, t2
    gc.collect()
    assert len(gc.get_objects()) - objects < 50  # no Python object left per repetition
    if refs is not None:
        assert sys.gettotalrefcount() - refs < 100


def test_fail_after_from_the_environment_never_crashes(tmp_path):
    """ASTROLAB_FAIL_AFTER=n, read by the library at start-up, fails the n-th tracked
    allocation of the whole process (the import's numpy arrays included): every n gives a
    clean MemoryError or success, never a crash."""
    import subprocess
    import sys
    csv = tmp_path / "t.csv"
    write_csv(csv, rows=30)
    code = ("import sys\n"
            "try:\n"
            "    from astro_lab.tensors import SurveyTensorDict\n"
            "    td = SurveyTensorDict.from_file(sys.argv[1])\n"
            "    td.optimize_memory(); td.memory_info()\n"
            "    print('ok', td.batch_size)\n"
            "except MemoryError as e:\n"
            "    print('MemoryError', e)\n")
    outcomes = set()
    for n in range(1, 41, 3):
        env = dict(__import__("os").environ, ASTROLAB_FAIL_AFTER=str(n))
        run = subprocess.run([sys.executable, "-c", code, str(csv)], env=env,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, (n, run.stderr[-2000:])
        outcomes.add(run.stdout.split()[0])
    assert "MemoryError" in outcomes


def test_from_file_releases_the_gil(tmp_path):
    """Another Python thread runs while the loader reads between two progress calls. With a
    switch interval of minutes, a thread holding the GIL in C would never let it run there;
    the ticker gives the GIL back at every tick (sleep(0)), so the progress callbacks, which
    take it back, are not held up."""
    import sys
    import time
    csv = tmp_path / "big.csv"
    write_csv(csv, rows=300_000)
    state = {"ticks": 0, "stop": False}
    seen = []

    def ticker():
        while not state["stop"]:
            state["ticks"] += 1
            time.sleep(0)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(120)
    t = threading.Thread(target=ticker)
    try:
        t.start()
        td = SurveyTensorDict.from_file(str(csv), progress=lambda d, n: seen.append(state["ticks"]))
    finally:
        state["stop"] = True
        sys.setswitchinterval(interval)
        t.join()
    assert td.batch_size == (300_000,)
    assert len(seen) >= 2, seen
    assert seen[-1] > seen[0]

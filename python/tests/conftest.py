"""Shared fixtures of the Python tests: run by CTest (label python) with PYTHONPATH set to the
build tree's package folder, build/python."""
import gc

import pytest

import astrolab.memory as mem


@pytest.fixture
def no_growth():
    """Checks that the test leaves no tracked block behind (numpy arrays the test still holds
    are its own business: it deletes them first)."""
    gc.collect()
    before = mem.get_memory_stats()["live_blocks"]
    yield
    gc.collect()
    after = mem.get_memory_stats()["live_blocks"]
    assert after <= before, f"{after - before} tracked blocks left behind"


@pytest.fixture
def fail_after():
    """Arms fault injection through the extension; always disarmed afterwards."""
    from astrolab import _astrolab
    yield _astrolab._fail_after
    _astrolab._fail_after(0)

"""astro_lab.ui.components: panels (HTML, text, dict), widget status, the live dashboard."""
import json
import urllib.request

import pytest

import astro_lab.ui
from astro_lab.ui.components import get_widget_status, ui_memory_management, ui_system_status


def test_memory_panel_renders_three_ways():
    p = ui_memory_management()
    html = p._repr_html_()
    assert html.lstrip().startswith("<") and "al-panel" in html
    assert len(str(p)) > 0
    d = p.to_dict()
    for key in ("stats", "top_consumers", "recommendations", "actions"):
        assert key in d
    assert "current_mb" in d["stats"]


def test_system_panel():
    p = ui_system_status()
    d = p.to_dict()
    assert d["cpus"] >= 1 and d["ram_total_bytes"] > 0
    assert "al-panel" in p._repr_html_()
    assert "cpus" in str(p).lower() or "cpu" in str(p).lower()


def test_widget_status_has_the_seed_keys():
    s = get_widget_status()
    for key in ("available", "torch_available", "cuda_available"):
        assert isinstance(s[key], bool)


def test_serve_and_fetch_stats():
    url = astro_lab.ui.serve(port=0)
    try:
        assert url.startswith("http://127.0.0.1:") and "token=" in url
        base, token = url.split("/?token=")
        req = urllib.request.Request(base + "/api/stats",
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=10) as r:
            stats = json.load(r)
        assert "current_bytes" in stats
        assert get_widget_status()["serving"] is True
        with pytest.raises(astro_lab.StateError):
            astro_lab.ui.serve(port=0)  # one dashboard per process
    finally:
        assert astro_lab.ui.stop() is True
    assert astro_lab.ui.stop() is False


def test_serve_rejects_bad_arguments():
    with pytest.raises(TypeError):
        astro_lab.ui.serve(port="80")
    with pytest.raises(TypeError):
        astro_lab.ui.serve(host=1)
    with pytest.raises(ValueError):
        astro_lab.ui.serve(port=70000)
    with pytest.raises(ValueError):
        astro_lab.ui.serve(host="not an address")

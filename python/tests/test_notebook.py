"""A notebook running the seed's examples and showing the panels, executed headless by
nbconvert (jupyter-nbconvert, python3-ipykernel) in a kernel of this Python; its HTML, and a
screenshot of it in headless Chromium, are kept as test artifacts (ASTROLAB_ARTIFACTS_DIR, which
CTest sets to tests/artifacts; default a temporary folder)."""
import os
import subprocess
import sys

import pytest

from test_seed_examples import seed_blocks

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbconvert")
pytest.importorskip("ipykernel")

SETUP = '''\
import numpy as np
from astro_lab.tensors import SurveyTensorDict
from astro_lab.ui.components import get_widget_status
def process_large_dataset(): return np.ones(10**5).sum()
def process_astronomical_data(): return np.arange(10**5).mean()
def _stand_in_survey():
    n = 1000
    return {"ra": np.linspace(0, 360, n), "dec": np.linspace(-90, 90, n),
            "source_id": np.arange(n, dtype=np.int64)}
def load_large_dataset(): return SurveyTensorDict(_stand_in_survey())
def process_dataset(d): return d.memory_info()["n_tensors"]
try:
    import torch
except ImportError:
    pass
'''


def test_notebook_executes_and_shows_the_panels(tmp_path):
    cells = [nbformat.v4.new_code_cell(SETUP)]
    for block in seed_blocks():
        if block.lstrip().startswith("class "):
            continue
        cells.append(nbformat.v4.new_code_cell(
            block.replace("SurveyTensorDict(...)", "SurveyTensorDict(_stand_in_survey())")))
    cells.append(nbformat.v4.new_code_cell("memory_ui"))  # the panels, rendered as HTML
    cells.append(nbformat.v4.new_code_cell("status_ui"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = tmp_path / "seed_examples.ipynb"
    nbformat.write(nb, str(path))
    out_dir = os.environ.get("ASTROLAB_ARTIFACTS_DIR") or str(tmp_path)
    os.makedirs(out_dir, exist_ok=True)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"), IPYTHONDIR=str(tmp_path / "ipython"))
    run = subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", "--execute",
         "--ExecutePreprocessor.timeout=120", "--ExecutePreprocessor.kernel_name=python3",
         "--output-dir", out_dir, "--output", "seed_examples", str(path)],
        env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    html = open(os.path.join(out_dir, "seed_examples.html"), encoding="utf-8").read()
    assert html.count("al-panel") >= 2  # both panels rendered through _repr_html_
    assert "Cleanup completed: True" in html
    assert "Traceback" not in html
    chromium = os.environ.get("ASTROLAB_CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        pytest.skip(f"{chromium} not installed: the notebook ran, no screenshot taken")
    shot = os.path.join(out_dir, "seed_examples.png")
    if os.path.exists(shot):
        os.remove(shot)
    run = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1280,4000",
         f"--screenshot={shot}", "file://" + os.path.join(out_dir, "seed_examples.html")],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert os.path.getsize(shot) > 20000  # a rendered page, not a blank one

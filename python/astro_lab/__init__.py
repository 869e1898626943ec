"""The seed's import name: an alias of the ``astrolab`` package, so that the seed's examples run
verbatim. ``astro_lab.memory`` is ``astrolab.memory`` (the same module object), and so on."""
import sys

import astrolab
import astrolab.memory
import astrolab.tensors
import astrolab.ui
import astrolab.ui.components
from astrolab import *  # noqa: F401,F403
from astrolab import __version__  # noqa: F401

memory = astrolab.memory
tensors = astrolab.tensors
ui = astrolab.ui
for _name in ("memory", "tensors", "ui", "ui.components"):
    sys.modules["astro_lab." + _name] = sys.modules["astrolab." + _name]
del _name

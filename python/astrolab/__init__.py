"""AstroLab: one centralized memory manager for data-heavy Python, on the libastrolab C core.

Modules: astrolab.memory (scopes, statistics, diagnosis, cleanup), astrolab.tensors
(AstroTensorDict, SurveyTensorDict), astrolab.ui (panels, the live dashboard). The seed's name
``astro_lab`` is an alias of this package: ``import astro_lab.memory`` gives the same module.
C log records reach Python's ``logging`` under ``astro_lab.<module>`` (or ``astrolab.<module>``).
"""
from astrolab._astrolab import (  # noqa: F401  (re-exported)
    AstroLabError,
    AstroLabFileNotFoundError,
    AstroLabKeyError,
    AstroLabMemoryError,
    AstroLabOSError,
    AstroLabValueError,
    DataTypeError,
    FormatError,
    ShapeError,
    StateError,
    UnsupportedError,
    flush_logs,
)
import atexit as _atexit
import os as _os

from astrolab import _astrolab, _logging

__version__ = _astrolab.version()
_logging.install()


def _shutdown():
    """Before the interpreter finalizes: no C thread or pass may call into Python any more."""
    _astrolab._registry_shutdown()
    _astrolab._log_uninstall()


_atexit.register(_shutdown)
# numpy's array data in the one ledger (python/src/numpy_hook.c), unless ASTROLAB_NUMPY=0.
if _os.environ.get("ASTROLAB_NUMPY", "1") != "0":
    _astrolab.track_numpy(True)

__all__ = [
    "AstroLabError", "AstroLabFileNotFoundError", "AstroLabKeyError", "AstroLabMemoryError",
    "AstroLabOSError", "AstroLabValueError", "DataTypeError", "FormatError", "ShapeError",
    "StateError", "UnsupportedError", "flush_logs", "__version__",
]

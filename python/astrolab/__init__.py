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
# numpy keeps its allocator in a context variable, which every new thread starts without:
# threading's start hook (a profile function that runs once, then hands over to whatever
# profile function was set before) installs it in each thread threading starts.
if _os.environ.get("ASTROLAB_NUMPY", "1") != "0":
    _astrolab.track_numpy(True)
    import sys as _sys
    import threading as _threading

    _previous_profile = _threading.getprofile()

    def _track_numpy_in_new_thread(frame, event, arg):
        _sys.setprofile(_previous_profile)
        _astrolab.track_numpy(True)
        if _previous_profile is not None:
            return _previous_profile(frame, event, arg)
        return None

    _threading.setprofile(_track_numpy_in_new_thread)

__all__ = [
    "AstroLabError", "AstroLabFileNotFoundError", "AstroLabKeyError", "AstroLabMemoryError",
    "AstroLabOSError", "AstroLabValueError", "DataTypeError", "FormatError", "ShapeError",
    "StateError", "UnsupportedError", "flush_logs", "__version__",
]

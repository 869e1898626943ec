"""The C loggers into Python's logging (the C side is python/src/logbridge.c).

Each C logger ``astrolab.<m>`` reports to the Python logger ``astro_lab.<m>`` (the seed's name)
when that one is enabled for the record's level, else to ``astrolab.<m>``: setting either name's
level works, and a record reaches the root's handlers once. Python owns the levels: whenever a
Python logger's level changes, the C levels are set to match, so
``logging.getLogger('astro_lab.memory').setLevel(logging.DEBUG)`` turns on the C module's debug
messages, and messages nobody would see are never even formatted in C. With ``ASTROLAB_LOG`` set
in the environment, the C levels come from it instead and are left alone.
"""
import logging
import os

from astrolab import _astrolab as _c

# The C loggers (SPEC §5 and the modules of src/); a record from another one still arrives.
_CHILDREN = ("memory", "cuda", "tensors", "survey", "ui", "log", "job", "mpi")
_C_LEVELS = ((logging.DEBUG, 10), (logging.INFO, 20), (logging.WARNING, 30), (logging.ERROR, 40))


def _names(c_name):
    suffix = c_name[len("astrolab"):] if c_name.startswith("astrolab") else "." + c_name
    return "astro_lab" + suffix, "astrolab" + suffix


def deliver(level, c_name, message):
    """Called by the extension with the GIL held and no AstroLab lock held, in logging order."""
    for name in _names(c_name):
        logger = logging.getLogger(name)
        if logger.isEnabledFor(level):
            logger.handle(logger.makeRecord(name, level, c_name, 0, message, None, None))
            return


def _c_level(python_level):
    for py, c in _C_LEVELS:
        if python_level <= py:
            return c
    return 100  # above ERROR: off


def sync_levels():
    """Sets each C logger's level to the lower Python effective level of its two names."""
    if os.environ.get("ASTROLAB_LOG"):
        return
    for child in ("",) + _CHILDREN:
        c_name = "astrolab" + ("." + child if child else "")
        level = min(logging.getLogger(n).getEffectiveLevel() for n in _names(c_name))
        if logging.root.manager.disable >= level:
            level = logging.CRITICAL + 1
        _c._log_set_level(c_name, _c_level(level))


_installed = False


def install():
    """Installs the sink and follows level changes: Logger.setLevel and logging.disable both
    call the logger manager's _clear_cache, which is wrapped here (CPython 3.7 and later)."""
    global _installed
    if _installed:
        return
    _installed = True
    manager = logging.Logger.manager
    original = manager._clear_cache

    def _clear_cache():
        original()
        sync_levels()

    manager._clear_cache = _clear_cache
    sync_levels()
    _c._log_install(deliver)

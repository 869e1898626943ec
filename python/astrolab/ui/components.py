"""The seed's UI components: panels that render in Jupyter (_repr_html_), as text (str) and as
a dict (to_dict()), each a snapshot taken when made."""
import sys

from astrolab import _astrolab as _c

__all__ = ["Panel", "ui_memory_management", "ui_system_status", "get_widget_status"]


class Panel:
    def __init__(self, kind):
        self._kind = kind
        self._model = _c._panel(kind, "json")

    def to_dict(self):
        return self._model

    def _repr_html_(self):
        return _c._panel(self._kind, "html")

    def __str__(self):
        return _c._panel(self._kind, "text")

    def __repr__(self):
        return f"<Panel {self._kind}>"


def ui_memory_management():
    """The memory-management panel: stats, timeline, top consumers, recommendations, actions."""
    return Panel("memory")


def ui_system_status():
    """The system-status panel: host, CPUs, RAM, process RSS, CUDA devices, versions."""
    return Panel("system")


def get_widget_status():
    """{available, torch_available, cuda_available, serving, port}."""
    status = _c.get_widget_status()
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import importlib.util
            status["torch_available"] = importlib.util.find_spec("torch") is not None
        except (ImportError, ValueError):
            status["torch_available"] = False
    else:
        status["torch_available"] = True
        try:
            status["cuda_available"] = status["cuda_available"] or bool(torch.cuda.is_available())
        except Exception:
            pass
    return status

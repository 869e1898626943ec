"""The seed's UI: panels (astrolab.ui.components) and the live dashboard, served from inside
the Python process by libastrolab's embedded HTTP server in background threads."""
from astrolab import _astrolab as _c

__all__ = ["serve", "stop"]


def serve(host="127.0.0.1", port=0, open_reads=False):
    """Starts the live dashboard (port 0: any free port); returns its URL with the access token.
    Binding wider than the loopback logs a warning on astro_lab.ui."""
    if not isinstance(host, str):
        raise TypeError("host must be a str")
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError("port must be an int")
    return _c._serve(host, port, bool(open_reads))


def stop():
    """Stops the dashboard; False when none was running."""
    return _c._stop()

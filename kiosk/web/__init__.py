"""The web output: the visitor screen, status, health, metrics and the event log over HTTP (issue 13).

screen.py: the page, its texts and its watchdog; presence.py: what it says between decisions (idle, step
closer, checking) from each frame's faces; eventlog.py: the persistent, bounded decision log; metrics.py: the
Prometheus text; live.py: /live, the installer's MJPEG view; statuspage.py: /status as a page for a
browser; guard.py: the connection guard (request heads read whole on one thread before a handler
thread is spent, caps per client address, /healthz answered when full); server.py: the HTTP server on
its own threads and the output the pipeline feeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import WebOutput

__all__ = ["WebOutput"]


def __getattr__(name: str):
    # The server (http.server, its threads and pages) loads only when a web output is built: the sound output
    # needs the screen's texts, and a kiosk without `[web] enabled` should not carry the server (~0.75 MiB of peak RSS here).
    if name == "WebOutput":
        from .server import WebOutput

        return WebOutput
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

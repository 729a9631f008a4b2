"""systemd notifications (READY=1, WATCHDOG=1, STATUS=...) without a library: one datagram each."""

from __future__ import annotations

import os
import socket


class Notifier:
    """Talks to systemd through $NOTIFY_SOCKET; does nothing when it is not set."""

    def __init__(self) -> None:
        addr = os.environ.get("NOTIFY_SOCKET", "")
        if addr.startswith("@"):  # abstract namespace socket
            addr = "\0" + addr[1:]
        self._addr = addr or None
        usec = os.environ.get("WATCHDOG_USEC", "")
        self.watchdog_interval = int(usec) / 1e6 / 2 if usec.isdigit() and int(usec) > 0 else None
        self._last_ping = 0.0

    @property
    def enabled(self) -> bool:
        """Started by systemd with Type=notify."""
        return self._addr is not None

    def send(self, message: str) -> None:
        """One datagram; never blocks and never raises."""
        if not self._addr:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            # Never block the frame loop on a busy or stuck receiver: a lost ping is what the
            # watchdog is for, a blocked loop is not.
            sock.setblocking(False)
            try:
                sock.connect(self._addr)
                sock.send(message.encode())
            except OSError:
                pass  # systemd gone (shutdown) or its queue full: nothing useful to do

    def ready(self, status: str = "") -> None:
        """Start-up is done (READY=1), with a status line."""
        self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, status: str) -> None:
        """A status line for `systemctl status`."""
        self.send(f"STATUS={status}")

    def watchdog(self, now: float) -> None:
        """Called by the frame loop after each processed frame; rate-limited to half the interval."""
        if self.watchdog_interval is None or now - self._last_ping < self.watchdog_interval / 2:
            return
        self._last_ping = now
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        """The kiosk is shutting down (STOPPING=1)."""
        self.send("STOPPING=1")

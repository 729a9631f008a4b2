"""Polling helpers for tests that wait on other processes and threads (broker, daemon, systemd)."""

from __future__ import annotations

import time
from typing import Any, Callable


def wait_until(pred: Callable[[], Any], timeout: float, what: str, poll: float = 0.05) -> Any:
    """The first truthy value of pred() within timeout seconds; AssertionError naming `what` if none."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


def publish_until(send: Callable[[], Any], done: Callable[[], bool], timeout: float = 5.0) -> None:
    """Send again until it has an effect: a client may not have subscribed yet when it connects."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        send()
        end = time.monotonic() + 0.5
        while time.monotonic() < end and not done():
            time.sleep(0.02)

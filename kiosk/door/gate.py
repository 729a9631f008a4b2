"""Gate relay and staff button, with gpiozero (the status light and buzzer: kiosk/door/lights.py).

The relay is the one output that matters for safety: it starts de-energised, every opening is bounded
by `max_open_seconds` through a timer that does not depend on the frame loop, and `close()` is called
on every way out of the daemon.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from gpiozero import Button, OutputDevice
from gpiozero.pins.mock import MockFactory, MockPin

from ..closing import Closing
from ..errors import KioskError

log = logging.getLogger("kiosk.gpio")


class LoggingMockPin(MockPin):
    """gpiozero's MockPin that also logs every level change (mock backend for demos)."""

    def _change_state(self, value):  # noqa: ANN001 - gpiozero's signature
        changed = super()._change_state(value)
        if changed:
            log.info("pin %s -> %d", self.info.name, int(bool(value)))
        return changed


def make_pin_factory(backend: str):
    """None lets gpiozero pick the platform's factory; 'mock' gives a logging MockFactory."""
    if backend == "mock":
        return MockFactory(pin_class=LoggingMockPin)
    return None


class Gate:
    """The relay. Thread-safe; any opening closes by itself after at most `max_open_seconds`.

    `close()` de-energises the relay (the gate shuts); `shutdown()` does that and releases the pin. Both
    may be called any number of times, in any order, from any thread (a late timer, a second signal, a
    remote command after the end): once released the gate stays shut and `open()` grants nothing.
    Also a context manager that releases the pin on exit. `on_change(is_open)` is called after each
    change (from the timer's thread too); it may be set after building.
    """

    def __init__(self, pin: int, active_high: bool, max_open_seconds: float, pin_factory=None,
                 on_change: Callable[[bool], None] | None = None) -> None:
        try:
            self._relay = OutputDevice(pin, active_high=active_high, initial_value=False,
                                       pin_factory=pin_factory)
        except Exception as exc:  # BadPinFactory off a Pi, PinInUse, ...
            raise KioskError(f"gpio: cannot claim relay pin GPIO{pin}: {type(exc).__name__}: {exc} "
                             "(set gpio.backend = \"mock\" on machines without GPIO)") from None
        self.max_open_seconds = max_open_seconds
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._close_at: float | None = None
        self.on_change = on_change
        self._released = False

    def __enter__(self) -> "Gate":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    @property
    def released(self) -> bool:
        """True once `shutdown()` gave the pin back."""
        return self._released

    @property
    def is_open(self) -> bool:
        """The relay is energised."""
        return not self._released and bool(self._relay.value)

    def open(self, seconds: float) -> float:
        """Energise the relay for `seconds` (capped at the maximum); returns the time granted (0 once released)."""
        granted = max(0.0, min(seconds, self.max_open_seconds))
        with self._lock:
            if self._released:
                log.warning("gate: open refused, the relay pin is already released")
                return 0.0
            if self._timer is not None:
                self._timer.cancel()
            was_open = self.is_open
            self._relay.on()
            self._close_at = time.monotonic() + granted
            self._timer = threading.Timer(granted, self._expire)
            self._timer.daemon = True
            self._timer.start()
        if not was_open and self.on_change:
            self.on_change(True)
        return granted

    def _expire(self) -> None:
        with self._lock:
            if self._close_at is not None and time.monotonic() + 0.005 < self._close_at:
                return  # re-opened meanwhile; the newer timer will close it
        self.close()

    def close(self) -> None:
        """Shut the gate (de-energise the relay) now."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._released:
                return
            was_open = self.is_open
            self._relay.off()
            self._close_at = None
        if was_open and self.on_change:
            self.on_change(False)

    def shutdown(self) -> None:
        """Shut the gate and release the relay pin; again is a no-op."""
        self.close()
        with self._lock:
            if not self._released:
                self._released = True
                self._relay.close()


class StaffButton(Closing):
    """A push button (to ground) that opens the gate by hand."""

    def __init__(self, pin: int, on_press: Callable[[], None] | None = None, pin_factory=None) -> None:
        try:
            self._button = Button(pin, pull_up=True, bounce_time=0.05, pin_factory=pin_factory)
        except Exception as exc:
            raise KioskError(f"gpio: cannot claim button pin GPIO{pin}: {type(exc).__name__}: {exc}") from None
        # Called from gpiozero's thread on each press; may be set after building (None: presses ignored).
        self.on_press = on_press
        self._button.when_pressed = self._pressed

    def _pressed(self) -> None:
        if self.on_press is not None:
            self.on_press()

    def close(self) -> None:
        """Release the pin; again is a no-op (as gpiozero's own close)."""
        self._closed = True
        self._button.close()

"""The door: the one object that decides what the relay, the light and the buzzer do, and for how long.

It owns the gate relay (Gate), the status light and buzzer (Indicator), the mode (auto or locked), the
faults it shows, and every deadline: how long the light shows a verdict and, on a recording, when the
relay closes. All of it on one clock and under one lock, so the frame loop, the gate's timer, the staff
button's thread and a command's thread never see half a change.

The clock: a live camera's door runs on the wall clock (time.monotonic). A recording's door runs on its
media time, which the frame loop feeds in (`advance`), so that a replay drives the relay and the light
for `open_seconds`/`deny_seconds` of the clip however slowly it is processed. Only the relay's own
max_open_seconds timer (Gate) stays on the wall clock, as the safety net.

It fails closed by itself: the relay starts and ends de-energised, `hold()` and `deny()` close it, the
locked mode refuses `open()`, and once `close()` has run nothing opens it again.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from .decision import Mode, Reason
from .gate import Gate
from .lights import Indicator, Pattern

# The journal's lines about the gate and faults keep the daemon's own logger name.
log = logging.getLogger("kiosk")

# Called after each change of what the state payload shows; `urgent`: publish it now rather than with
# the next frame (the gate closed, a fault, a new mode), because the frame loop may be stalled or gone.
ChangeHandler = Callable[[bool], None]


class Door:
    """The relay, the light and buzzer, the mode, the faults and their deadlines. Thread-safe.

    `on_change(urgent)` is called after every change the state shows, from the thread that made it (the
    gate's timer thread too); it may be set after building.
    """

    def __init__(self, gate: Gate, indicator: Indicator, open_seconds: float, deny_seconds: float,
                 recorded: bool = False, on_change: ChangeHandler | None = None) -> None:
        self.gate = gate
        self.indicator = indicator
        self.open_seconds = open_seconds
        self.deny_seconds = deny_seconds
        self.recorded = recorded
        self.on_change = on_change
        # Re-entrant: a change made under the lock calls on_change, which reads state() again.
        self._lock = threading.RLock()
        self._mode = Mode.AUTO
        self._faults: set[str] = set()
        self._media_now = 0.0  # recordings: the latest frame's media time
        self._light_until = 0.0  # on clock(); 0: no verdict shown
        self._gate_until: float | None = None  # recordings: when tick() closes the relay
        self._closed = False
        gate.on_change = self._gate_changed

    # -- the clock -----------------------------------------------------------------------------
    def clock(self) -> float:
        """The time the deadlines are on: media time on a recording, else the wall clock."""
        return self._media_now if self.recorded else time.monotonic()

    def advance(self, media_time: float) -> None:
        """A recording's latest frame was read at `media_time`: the door's clock from now on."""
        with self._lock:
            self._media_now = media_time

    def tick(self, media_time: float | None = None) -> None:
        """Expire the deadlines that have passed: the recording's relay closes, the light goes back
        to idle (or to the fault) once the relay is closed. `media_time`: `advance` first."""
        with self._lock:
            if media_time is not None:
                self._media_now = media_time
            t = self.clock()
            if self._gate_until is not None and t >= self._gate_until:
                self._gate_until = None
                self.gate.close()
            if self._light_until and t >= self._light_until and not self.gate.is_open:
                self._light_until = 0.0
                self.indicator.show(Pattern.FAULT if self._faults else Pattern.IDLE)

    # -- the gate ------------------------------------------------------------------------------
    def start(self) -> None:
        """How every run begins: the relay closed, the light idle."""
        with self._lock:
            self._gate_until = None
            self.gate.close()
            self.indicator.show(Pattern.IDLE)

    def open(self, at: float | None = None) -> bool:
        """Let a person in whom the faces decided for, at clock time `at` (default: now): the relay for
        `open_seconds`, the light showing it. False, and nothing done, in locked mode or once closed."""
        with self._lock:
            if self._closed or self._mode == Mode.LOCKED:
                return False
            t = self.clock() if at is None else at
            if self.recorded:
                # tick() closes it after open_seconds of media time; the gate's wall-clock timer is only
                # the safety net (a replay slower than max_open_seconds: closed early).
                return self._energise(self.gate.max_open_seconds, t + self.open_seconds, t + self.open_seconds)
            return self._energise(self.open_seconds, None, t + self.open_seconds)

    def open_by_hand(self) -> bool:
        """A person opens it (the staff button, a remote command): in either mode, for `open_seconds`
        on the gate's own wall-clock timer. False, and nothing done, once closed."""
        with self._lock:
            if self._closed:
                return False
            return self._energise(self.open_seconds, None, self.clock() + self.open_seconds)

    def deny(self, reason: str, at: float | None = None) -> None:
        """Refuse at clock time `at` (default: now): the relay closed, the refusal shown for
        `deny_seconds` (a mask below the nose has its own pattern)."""
        with self._lock:
            self._gate_until = None
            self.gate.close()
            t = self.clock() if at is None else at
            self._show(Pattern.INCORRECT if reason == Reason.INCORRECT else Pattern.DENY, t + self.deny_seconds)

    def hold(self) -> None:
        """Close the relay now and keep no opening pending (the camera is down, a model failed)."""
        with self._lock:
            self._gate_until = None
            self.gate.close()

    @property
    def is_open(self) -> bool:
        """The relay is energised."""
        return self.gate.is_open

    # -- mode and faults -----------------------------------------------------------------------
    @property
    def mode(self) -> Mode:
        """auto: the faces open the gate; locked: they never do (openings by hand still do)."""
        return self._mode

    def set_mode(self, mode: Mode | str) -> None:
        """Switch the mode; locking closes the relay at once."""
        mode = Mode(mode)
        with self._lock:
            self._mode = mode
            if mode == Mode.LOCKED:
                self._gate_until = None
                self.gate.close()
            self._changed(True)

    @property
    def faults(self) -> frozenset[str]:
        """The names of the faults shown now."""
        with self._lock:
            return frozenset(self._faults)

    def has_fault(self, name: str) -> bool:
        """Whether the fault `name` is shown now (the frame loop asks every frame: no copy of the set)."""
        return name in self._faults

    def fault(self, name: str, detail: str = "") -> None:
        """Show the fault `name` (camera, model, an output's name) until `clear_fault(name)`."""
        with self._lock:
            self._faults.add(name)
            self.indicator.show(Pattern.FAULT)
            log.warning("fault: %s (%s)", name, detail)
            self._changed(True)

    def clear_fault(self, name: str) -> None:
        """The fault `name` is over; the light goes idle when it was the last one and no verdict is
        still being shown (tick() does it then)."""
        with self._lock:
            self._faults.discard(name)
            if not self._faults and not self._light_until:
                self.indicator.show(Pattern.IDLE)
            log.info("fault cleared: %s", name)
            self._changed(False)

    def state(self) -> dict[str, Any]:
        """The door's part of the state payload: the gate, the mode, the faults."""
        with self._lock:
            return {"gate": "open" if self.gate.is_open else "closed", "mode": self._mode,
                    "faults": sorted(self._faults)}

    # -- the end -------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once `close()` has run: nothing opens the relay any more."""
        return self._closed

    def close(self) -> None:
        """The relay de-energised, the light idle, and no opening granted from now on; again is harmless.
        The pins themselves are released by their owner (kiosk/parts.py), relay last."""
        with self._lock:
            self._closed = True
            self._gate_until = None
            self._light_until = 0.0
            self.gate.close()
            self.indicator.show(Pattern.IDLE)

    # -- inside --------------------------------------------------------------------------------
    def _energise(self, seconds: float, gate_until: float | None, light_until: float) -> bool:  # lock held
        self._gate_until = None
        try:
            if not self.gate.open(seconds):  # released: nothing opens any more
                return False
            self._gate_until = gate_until
            self._show(Pattern.OPEN, light_until)
        except BaseException:
            # An opening that did not complete (a light that failed, a listener that raised) is no
            # opening: the relay is not left energised on an error path.
            self._gate_until = None
            self.gate.close()
            raise
        return True

    def _show(self, pattern: Pattern, until: float) -> None:  # with self._lock held
        self.indicator.show(pattern)
        self._light_until = until

    def _gate_changed(self, is_open: bool) -> None:
        log.info("gate: %s", "open" if is_open else "closed")
        # a closing is published at once, from the gate's timer too: the state topic follows the relay
        self._changed(not is_open)

    def _changed(self, urgent: bool) -> None:
        if self.on_change is not None:
            self.on_change(urgent)

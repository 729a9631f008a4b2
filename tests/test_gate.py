"""Relay, status light and staff button on gpiozero's MockFactory pins: whole timelines asserted."""

from __future__ import annotations

import threading
import time

import pytest

from kiosk.door.gate import Gate, StaffButton
from kiosk.door.lights import Indicator


def levels(pin) -> list[int]:
    return [int(bool(s.state)) for s in pin.states]


def wait_closed(gate, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while gate.is_open and time.monotonic() < deadline:
        time.sleep(0.005)


# Timer-driven durations: never shorter than asked; a little later than asked on a loaded machine.
LATE = 0.15


def test_relay_starts_closed_and_opens_for_the_time_asked(factory):
    changes = []
    gate = Gate(17, True, max_open_seconds=1.0, pin_factory=factory, on_change=changes.append)
    pin = factory.pin(17)
    assert levels(pin) == [0]  # initial_value=False: never energised at start
    granted = gate.open(0.2)
    assert granted == pytest.approx(0.2)
    assert gate.is_open and levels(pin) == [0, 1]
    wait_closed(gate)
    assert not gate.is_open
    assert levels(pin) == [0, 1, 0]
    time.sleep(0.05)
    assert changes == [True, False]
    # the high phase lasted the time asked
    assert 0.2 - 0.01 <= pin.states[2].timestamp <= 0.2 + LATE
    gate.shutdown()


def test_max_open_is_never_exceeded(factory):
    gate = Gate(17, True, max_open_seconds=0.2, pin_factory=factory)
    assert gate.open(30.0) == pytest.approx(0.2)
    wait_closed(gate)
    pin = factory.pin(17)
    assert levels(pin) == [0, 1, 0]
    assert 0.2 - 0.01 <= pin.states[2].timestamp <= 0.2 + LATE
    gate.shutdown()


def test_reopening_extends_without_glitch_and_stays_bounded(factory):
    gate = Gate(17, True, max_open_seconds=0.3, pin_factory=factory)
    t0 = time.monotonic()
    gate.open(0.3)
    time.sleep(0.15)
    t1 = time.monotonic()
    gate.open(0.3)  # a second person: the relay stays energised, no close/open blip
    wait_closed(gate)
    pin = factory.pin(17)
    assert levels(pin) == [0, 1, 0]
    # open from t0 until 0.3 s after the second opening (the first timer did not close it)
    assert (t1 - t0) + 0.3 - 0.01 <= pin.states[2].timestamp <= (t1 - t0) + 0.3 + LATE
    gate.shutdown()


def test_active_low_relay(factory):
    gate = Gate(5, False, max_open_seconds=1.0, pin_factory=factory)
    pin = factory.pin(5)
    assert levels(pin) == [0, 1]  # claimed, driven high = de-energised for an active-low board
    gate.open(1.0)
    gate.close()
    assert levels(pin) == [0, 1, 0, 1]
    gate.shutdown()


def test_close_is_idempotent_and_shutdown_leaves_it_off(factory):
    changes = []
    gate = Gate(17, True, 1.0, pin_factory=factory, on_change=changes.append)
    gate.close()
    gate.open(1.0)
    gate.shutdown()
    assert levels(factory.pin(17)) == [0, 1, 0]
    assert changes == [True, False]


def test_release_is_idempotent_in_any_order_and_a_released_gate_stays_shut(factory):
    changes = []
    gate = Gate(17, True, 0.1, pin_factory=factory, on_change=changes.append)
    gate.open(0.1)
    gate.shutdown()
    gate.shutdown()  # a second signal
    gate.close()  # the loop's own fail-closed path after the end
    assert gate.released and not gate.is_open
    assert gate.open(5.0) == 0.0  # a late remote command or button press: nothing granted
    time.sleep(0.2)  # the max-open timer of the opening above fires after the release
    assert levels(factory.pin(17)) == [0, 1, 0] and changes == [True, False]
    # the pin is really given back: it can be claimed again
    with Gate(17, True, 1.0, pin_factory=factory) as again:
        assert not again.is_open
    assert again.released


def test_lights_and_button_release_twice_and_ignore_late_patterns(factory):
    for kind in ("pair", "rgb"):
        ind = Indicator(kind, red=22, green=27, blue=24, buzzer_pin=23, pin_factory=factory)
        ind.show("open")
        ind.close()
        ind.close()
        ind.show("deny")  # a pattern from a late thread after the release
        assert levels(factory.pin(23))[-1] == 0
        factory.reset()
    btn = StaffButton(26, lambda: None, pin_factory=factory)
    btn.close()
    btn.close()


def test_staff_button_calls_back(factory):
    pressed = threading.Event()
    btn = StaffButton(26, pressed.set, pin_factory=factory)
    pin = factory.pin(26)
    pin.drive_low()  # button to ground, pull-up: pressed
    assert pressed.wait(1.0)
    btn.close()


def test_relay_pin_conflict_is_a_clear_error(factory):
    from kiosk.errors import KioskError

    g = Gate(17, True, 1.0, pin_factory=factory)
    with pytest.raises(KioskError, match="cannot claim relay pin GPIO17"):
        Gate(17, True, 1.0, pin_factory=factory)
    g.shutdown()

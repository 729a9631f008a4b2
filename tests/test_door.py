"""The door alone (kiosk/door/door.py) on gpiozero's MockFactory pins: the relay, the light, the mode,
the faults and the deadlines, on a recording's media clock and on the wall clock."""

from __future__ import annotations

import threading
import time

import pytest

from kiosk.door.decision import Mode, Reason
from kiosk.door.door import Door
from kiosk.door.gate import Gate
from kiosk.door.lights import Indicator, Pattern

RELAY, RED, GREEN = 17, 22, 27


def levels(pin) -> list[int]:
    return [int(bool(s.state)) for s in pin.states]


@pytest.fixture
def make_door(factory):
    built: list[Door] = []

    def make(recorded: bool = True, open_s: float = 0.5, deny_s: float = 0.3, max_open_s: float = 10.0) -> Door:
        gate = Gate(RELAY, True, max_open_s, pin_factory=factory)
        indicator = Indicator("pair", red=RED, green=GREEN, blue=24, pin_factory=factory)
        door = Door(gate, indicator, open_s, deny_s, recorded=recorded)
        door.start()
        built.append(door)
        return door

    yield make
    for door in built:  # as kiosk/parts.py does: the pins are the owner's to release
        door.close()
        door.gate.shutdown()
        door.indicator.close()


def test_a_recording_opens_and_closes_on_its_media_clock(make_door, factory):
    door = make_door(recorded=True, open_s=0.5)
    relay = factory.pin(RELAY)
    door.advance(10.0)
    assert door.open(10.0)
    assert door.is_open and door.indicator.pattern == Pattern.OPEN
    time.sleep(0.7)  # more wall time than open_seconds: only media time counts
    door.tick(10.49)
    assert door.is_open and door.indicator.pattern == Pattern.OPEN
    door.tick(10.5)
    assert not door.is_open and door.indicator.pattern == Pattern.IDLE
    assert levels(relay) == [0, 1, 0]
    assert door.state() == {"gate": "closed", "mode": Mode.AUTO, "faults": []}


def test_the_gate_timer_is_the_safety_net_of_a_stalled_recording(make_door, factory):
    door = make_door(recorded=True, open_s=5.0, max_open_s=0.2)
    assert door.open(0.0)
    deadline = time.monotonic() + 3
    while door.is_open and time.monotonic() < deadline:  # the media clock never moves
        time.sleep(0.01)
    assert levels(factory.pin(RELAY)) == [0, 1, 0]


def test_a_live_door_closes_on_the_wall_clock(make_door, factory):
    door = make_door(recorded=False, open_s=0.15)
    assert door.open()
    assert door.is_open
    time.sleep(0.4)
    door.tick()
    assert not door.is_open and door.indicator.pattern == Pattern.IDLE
    assert levels(factory.pin(RELAY)) == [0, 1, 0]


def test_deny_shows_its_pattern_for_deny_seconds_and_keeps_the_relay_low(make_door, factory):
    door = make_door(recorded=True, deny_s=0.3)
    door.deny(Reason.NO_MASK, 1.0)
    assert door.indicator.pattern == Pattern.DENY and levels(factory.pin(RED))[-1] == 1
    door.tick(1.2)
    assert door.indicator.pattern == Pattern.DENY
    door.tick(1.3)
    assert door.indicator.pattern == Pattern.IDLE
    door.deny(Reason.INCORRECT, 2.0)
    assert door.indicator.pattern == Pattern.INCORRECT  # a mask below the nose has its own
    assert levels(factory.pin(RELAY)) == [0]


def test_a_deny_closes_an_open_relay_at_once(make_door, factory):
    door = make_door(recorded=True, open_s=5.0)
    assert door.open(0.0)
    door.deny(Reason.COVERED, 0.1)
    assert not door.is_open and door.indicator.pattern == Pattern.DENY
    door.tick(6.0)  # the opening's deadline is gone with it
    assert levels(factory.pin(RELAY)) == [0, 1, 0]


def test_locked_mode_refuses_open_but_not_a_person(make_door, factory):
    door = make_door(recorded=True)
    assert door.open(0.0)
    door.set_mode("locked")  # locking closes the relay at once
    assert door.mode == Mode.LOCKED and not door.is_open
    assert not door.open(1.0)
    assert not door.is_open
    assert door.open_by_hand()  # the staff button, a remote `open`: in either mode
    assert door.is_open
    door.set_mode(Mode.AUTO)
    assert door.state()["mode"] == Mode.AUTO
    assert levels(factory.pin(RELAY)) == [0, 1, 0, 1]  # the hand opening runs its time


def test_a_fault_shows_and_clearing_waits_for_the_verdict_shown(make_door):
    door = make_door(recorded=True, deny_s=0.3)
    door.fault("camera", "cannot open")
    assert door.indicator.pattern == Pattern.FAULT and door.faults == {"camera"}
    door.clear_fault("camera")
    assert door.indicator.pattern == Pattern.IDLE and door.faults == set()
    # a verdict still shown: clearing the fault does not end it early
    door.deny(Reason.NO_MASK, 1.0)
    door.fault("mqtt", "broker gone")
    assert door.indicator.pattern == Pattern.FAULT and door.state()["faults"] == ["mqtt"]
    door.clear_fault("mqtt")
    assert door.indicator.pattern == Pattern.FAULT  # left until the deadline, then idle
    door.tick(1.3)
    assert door.indicator.pattern == Pattern.IDLE
    # a fault still on when a verdict's deadline passes: back to the fault, not to idle
    door.deny(Reason.NO_MASK, 2.0)
    door.fault("model")
    door.tick(2.3)
    assert door.indicator.pattern == Pattern.FAULT


def test_hold_closes_now(make_door, factory):
    door = make_door(recorded=True, open_s=5.0)
    assert door.open(0.0)
    door.hold()
    assert not door.is_open
    door.tick(1.0)
    assert levels(factory.pin(RELAY)) == [0, 1, 0]


def test_close_de_energises_and_grants_nothing_after(make_door, factory):
    door = make_door(recorded=False, open_s=5.0)
    assert door.open()
    door.close()
    assert not door.is_open and door.closed and door.indicator.pattern == Pattern.IDLE
    assert not door.open() and not door.open_by_hand()
    door.close()  # again: harmless
    assert levels(factory.pin(RELAY)) == [0, 1, 0]


@pytest.mark.parametrize("by_hand", [False, True])
def test_an_opening_that_fails_half_way_leaves_the_relay_low(make_door, factory, monkeypatch, by_hand):
    door = make_door(recorded=True)

    def broken(pattern) -> None:  # noqa: ANN001
        raise OSError("LED driver gone")

    monkeypatch.setattr(door.indicator, "show", broken)
    with pytest.raises(OSError, match="LED driver gone"):
        door.open_by_hand() if by_hand else door.open(0.0)
    assert not door.is_open and levels(factory.pin(RELAY)) == [0, 1, 0]
    door.tick(10.0)  # no deadline left behind either


def test_changes_are_reported_closings_and_faults_as_urgent(make_door):
    door = make_door(recorded=True)
    seen: list[bool] = []
    door.on_change = seen.append
    door.open(0.0)  # the gate opened: with the next frame
    door.tick(1.0)  # it closed: at once
    door.fault("camera")
    door.clear_fault("camera")
    door.set_mode(Mode.LOCKED)
    assert seen == [False, True, True, False, True]


def test_openings_from_another_thread_while_the_loop_ticks(make_door, factory):
    door = make_door(recorded=True, open_s=0.05)
    errors: list[BaseException] = []

    def staff() -> None:  # the button's or a command's thread
        try:
            for _ in range(300):
                door.open()
                door.open_by_hand()
                door.deny(Reason.NO_MASK)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    worker = threading.Thread(target=staff)
    worker.start()
    t = 0.0
    while worker.is_alive():  # the frame loop
        t += 0.01
        door.advance(t)
        door.tick()
        door.state()
    worker.join()
    assert errors == []
    door.hold()
    door.tick(1e6)
    assert not door.is_open and door.indicator.pattern == Pattern.IDLE
    states = levels(factory.pin(RELAY))
    assert states[0] == 0 and states[-1] == 0
    assert all(a != b for a, b in zip(states, states[1:]))  # a clean timeline: every change a real one

"""Remote commands next to the door (kiosk/messages/remote.py), without a broker: verified, acted on through
the door, answered; refusals counted, answered only up to the rate limit."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from kiosk.door.decision import Mode
from kiosk.door.door import Door
from kiosk.door.gate import Gate
from kiosk.door.lights import Indicator
from kiosk.messages.commands import CommandVerifier, sign
from kiosk.messages.remote import REFUSALS_BURST, RemoteCommands
from tests.test_commands import SECRET, body

MODEL = {"name": "m", "sha256": "ab" * 32}


class Callbacks:
    """What the kiosk gives the commands: its answer, record and count callbacks, kept."""

    def __init__(self) -> None:
        self.results: list[dict] = []
        self.events: list[dict] = []
        self.counters: Counter[str] = Counter()


@pytest.fixture
def door(factory):
    gate = Gate(17, True, 5.0, pin_factory=factory)
    indicator = Indicator("pair", red=22, green=27, blue=24, pin_factory=factory)
    d = Door(gate, indicator, 0.5, 0.3)
    yield d
    d.close()
    gate.shutdown()
    indicator.close()


def commands(door: Door, kiosk: Callbacks, signed: bool = True, home_assistant: bool = True) -> RemoteCommands:
    verifier = CommandVerifier(SECRET, "it", clock=lambda: 1000.0) if signed else None
    return RemoteCommands(door, verifier, home_assistant, "it", MODEL, answer=kiosk.results.append,
                          record=kiosk.events.append, count=lambda name: kiosk.counters.update([name]))


def test_an_accepted_open_opens_the_door_and_is_recorded(door):
    kiosk = Callbacks()
    cmds = commands(door, kiosk)
    cmds.handle(sign(SECRET, body(ts=1000.0, nonce="open-nonce-1")))
    assert door.is_open
    assert [(r["command"], r["accepted"], r["reason"], r["channel"]) for r in kiosk.results] == [
        ("open", True, "ok", "signed")]
    assert [(e["decision"], e["reason"]) for e in kiosk.events] == [("open", "remote")]
    assert kiosk.counters == {"opened": 1}


def test_home_assistant_mode_switches_the_door(door):
    kiosk = Callbacks()
    cmds = commands(door, kiosk, signed=False)
    door.open_by_hand()
    cmds.handle(b"locked", channel="home_assistant")
    assert door.mode == Mode.LOCKED and not door.is_open
    cmds.handle(b"auto", channel="home_assistant")
    assert door.mode == Mode.AUTO and kiosk.events == []


def test_a_channel_that_is_off_is_ignored_without_an_answer(door):
    kiosk = Callbacks()
    cmds = commands(door, kiosk, signed=False, home_assistant=False)
    assert not cmds.enabled
    cmds.handle(sign(SECRET, body(ts=1000.0)))
    cmds.handle(b"open", channel="home_assistant")
    assert kiosk.results == [] and not door.is_open


def test_refusals_are_all_counted_but_answered_only_up_to_the_rate(door):
    kiosk = Callbacks()
    cmds = commands(door, kiosk)
    t0 = time.monotonic()
    n = 3 * REFUSALS_BURST
    for _ in range(n):
        cmds.handle(b"{oops")
    cmds.handle(sign(SECRET, body(ts=1000.0, nonce="retained-1")), retained=True)
    assert kiosk.counters["commands_refused"] == n + 1 and not door.is_open
    answered = len(kiosk.results)
    assert REFUSALS_BURST <= answered <= REFUSALS_BURST + 5.0 * (time.monotonic() - t0) + 1
    assert all(not r["accepted"] for r in kiosk.results)


def test_a_closed_door_records_no_opening(door):
    kiosk = Callbacks()
    cmds = commands(door, kiosk)
    door.close()
    cmds.handle(b"open", channel="home_assistant")
    assert [r["accepted"] for r in kiosk.results] == [True]  # accepted, but the door grants nothing now
    assert kiosk.events == [] and not door.is_open

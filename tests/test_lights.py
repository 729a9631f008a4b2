"""The status light (pair, RGB, none) and the buzzer on gpiozero's MockFactory pins: whole timelines asserted."""

from __future__ import annotations

import time

import pytest
from gpiozero import OutputDevice

from kiosk.door.lights import Beeper, Indicator, PairLight, Pattern, RGBLight
from kiosk.errors import KioskError
from tests.test_gate import levels


def test_pair_light_patterns(factory):
    ind = Indicator("pair", red=22, green=27, blue=24, pin_factory=factory)
    red, green = factory.pin(22), factory.pin(27)
    ind.show("idle")
    ind.show("open")
    assert (green.state, red.state) == (1, 0)
    ind.show("deny")
    assert (green.state, red.state) == (0, 1)
    ind.show("idle")
    assert (green.state, red.state) == (0, 0)
    ind.show("incorrect")  # red blinking fast
    time.sleep(0.5)
    ind.show("idle")
    assert levels(green) == [0, 1, 0]
    red_levels = levels(red)
    assert red_levels[:3] == [0, 1, 0] and len(red_levels) >= 5  # deny, then blinks
    ind.close()


def test_rgb_light_and_buzzer(factory):
    ind = Indicator("rgb", red=22, green=27, blue=24, buzzer_pin=23, pin_factory=factory)
    r, g, b, bz = (factory.pin(n) for n in (22, 27, 24, 23))
    ind.show("idle")
    assert (r.state, g.state, b.state) == (0, 0, 1)
    ind.show("open")
    assert (r.state, g.state, b.state) == (0, 1, 0)
    time.sleep(0.4)
    ind.show("deny")
    assert (r.state, g.state, b.state) == (1, 0, 0)
    time.sleep(1.2)
    assert levels(bz) == [0, 1, 0, 1, 0, 1, 0]  # one short beep for open, two long ones for deny
    assert [round(s.timestamp, 1) for s in bz.states[2:3]] == [0.1]
    assert [round(s.timestamp, 1) for s in (bz.states[4], bz.states[6])] == [0.3, 0.3]
    ind.close()


def test_none_light_claims_no_pins(factory):
    ind = Indicator("none", red=22, green=27, blue=24, pin_factory=factory)
    ind.show("deny")
    assert 22 not in [p for p in factory.pins]
    ind.close()


@pytest.mark.parametrize("kind, taken", [("pair", 22), ("rgb", 24), ("rgb", 23)])
def test_a_light_that_cannot_claim_every_pin_claims_none(factory, kind, taken):
    """The second LED's (or the buzzer's) pin is in use: the pins claimed before it are given back."""
    other = OutputDevice(taken, pin_factory=factory)
    with pytest.raises(KioskError, match="cannot claim LED/buzzer pins"):
        Indicator(kind, red=22, green=27, blue=24, buzzer_pin=23, pin_factory=factory)
    other.close()
    for pin in (22, 27, 24, 23):
        OutputDevice(pin, pin_factory=factory).close()


@pytest.mark.parametrize("cls", [PairLight, RGBLight, Beeper])
def test_each_kind_documents_its_whole_table(cls):
    """The docstring's table names every pattern, and the class's TABLE knows no other."""
    rows = {line.split()[0] for line in cls.__doc__.splitlines() if line.strip() and line.split()[0] in set(Pattern)}
    assert rows == set(Pattern)
    assert set(cls.TABLE) <= set(Pattern)
    if cls is not Beeper:
        assert set(cls.TABLE) == set(Pattern)


def test_an_unknown_pattern_is_refused(factory):
    with Indicator("pair", red=22, green=27, blue=24, pin_factory=factory) as ind:
        with pytest.raises(ValueError):
            ind.show("party")

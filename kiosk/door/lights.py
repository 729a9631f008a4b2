"""The status light and the buzzer, with gpiozero: one class per kind of light, each with its table.

`gpio.led` picks the light: `PairLight` (a green and a red LED), `RGBLight` (one RGB LED) or `NoLight`.
`Indicator` drives the light and the optional `Beeper` together; the kiosk shows one `Pattern` at a time.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass
from enum import StrEnum

from gpiozero import LED, RGBLED, Buzzer

from ..closing import Closing
from ..errors import KioskError

log = logging.getLogger("kiosk.gpio")


class Pattern(StrEnum):
    """What the kiosk shows: waiting, letting someone in, refusing, a mask below the nose, a fault."""

    IDLE = "idle"
    OPEN = "open"
    DENY = "deny"
    INCORRECT = "incorrect"
    FAULT = "fault"



@dataclass(frozen=True)
class Blink:
    """On for `on_time` seconds, off for `off_time`, until the next pattern."""

    on_time: float
    off_time: float


@dataclass(frozen=True)
class Beeps:
    """`n` beeps of `on_time` seconds, `off_time` apart."""

    on_time: float
    off_time: float
    n: int


class NoLight(Closing):
    """No status light (``gpio.led = "none"``): claims no pin, shows nothing."""

    def show(self, pattern: Pattern) -> None:
        """Nothing to show."""

    def close(self) -> None:
        self._closed = True


class PairLight(Closing):
    """A green and a red LED (``gpio.led = "pair"``).

    Wiring: each LED with its resistor (about 330 ohm) from its pin to ground: green on
    ``gpio.led_green_pin`` (default GPIO27), red on ``gpio.led_red_pin`` (default GPIO22).

    =========  ======================  ======================
    pattern    green                   red
    =========  ======================  ======================
    idle       off                     off
    open       on                      off
    deny       off                     on
    incorrect  off                     blinking fast (0.15 s)
    fault      blinking (0.5 s, 1 s)   blinking (0.5 s, 1 s)
    =========  ======================  ======================
    """

    # pattern -> (green, red): off (False), on (True) or blinking
    TABLE: dict[Pattern, tuple[bool | Blink, bool | Blink]] = {
        Pattern.IDLE: (False, False),
        Pattern.OPEN: (True, False),
        Pattern.DENY: (False, True),
        Pattern.INCORRECT: (False, Blink(0.15, 0.15)),
        Pattern.FAULT: (Blink(0.5, 1.0), Blink(0.5, 1.0)),
    }

    def __init__(self, green: int, red: int, pin_factory=None) -> None:
        self._green = LED(green, pin_factory=pin_factory)
        try:
            self._red = LED(red, pin_factory=pin_factory)
        except Exception:
            self._green.close()
            raise

    def show(self, pattern: Pattern) -> None:
        """Set both LEDs as the table says."""
        if self._closed:
            return
        settings = zip((self._green, self._red), self.TABLE[pattern])
        # the one going off first, so that green and red are never lit together by a change
        for led, lit in sorted(settings, key=lambda s: s[1] is not False):
            if isinstance(lit, Blink):
                led.blink(on_time=lit.on_time, off_time=lit.off_time)
            elif lit:
                led.on()
            else:
                led.off()

    def close(self) -> None:
        """Both off, both pins released; again is a no-op."""
        if not self._closed:
            self._closed = True
            for led in (self._green, self._red):
                led.off()
                led.close()


class RGBLight(Closing):
    """A common-cathode RGB LED, switched without PWM (``gpio.led = "rgb"``).

    Wiring: the red, green and blue legs each through a resistor (about 330 ohm) to
    ``gpio.led_red_pin``, ``gpio.led_green_pin`` and ``gpio.led_blue_pin`` (defaults GPIO22, 27, 24),
    the common cathode to ground.

    =========  ==================================
    pattern    colour
    =========  ==================================
    idle       blue
    open       green
    deny       red
    incorrect  yellow blinking (0.25 s on, 0.25 s off)
    fault      red blinking slowly (0.2 s on, 1 s off)
    =========  ==================================
    """

    # pattern -> (colour as (red, green, blue), blinking or None for steady)
    TABLE: dict[Pattern, tuple[tuple[int, int, int], Blink | None]] = {
        Pattern.IDLE: ((0, 0, 1), None),
        Pattern.OPEN: ((0, 1, 0), None),
        Pattern.DENY: ((1, 0, 0), None),
        Pattern.INCORRECT: ((1, 1, 0), Blink(0.25, 0.25)),
        Pattern.FAULT: ((1, 0, 0), Blink(0.2, 1.0)),
    }

    def __init__(self, red: int, green: int, blue: int, pin_factory=None) -> None:
        self._rgb = RGBLED(red, green, blue, pwm=False, pin_factory=pin_factory)

    def show(self, pattern: Pattern) -> None:
        """Set the colour as the table says."""
        if self._closed:
            return
        colour, blink = self.TABLE[pattern]
        if blink is None:
            self._rgb.color = colour
        else:
            self._rgb.blink(on_time=blink.on_time, off_time=blink.off_time, on_color=colour, off_color=(0, 0, 0))

    def close(self) -> None:
        """Off, pins released; again is a no-op."""
        if not self._closed:
            self._closed = True
            self._rgb.off()
            self._rgb.close()


class Beeper(Closing):
    """An active buzzer on ``gpio.buzzer_pin`` (0: none), driven high to sound (through a transistor
    for one that draws more than a pin gives).

    =========  ================================
    pattern    sound
    =========  ================================
    open       one short beep (0.1 s)
    deny       two long beeps (0.3 s, 0.2 s apart)
    incorrect  three short beeps (0.1 s)
    idle       nothing new
    fault      nothing new
    =========  ================================
    """

    TABLE: dict[Pattern, Beeps] = {
        Pattern.OPEN: Beeps(0.1, 0.1, 1),
        Pattern.DENY: Beeps(0.3, 0.2, 2),
        Pattern.INCORRECT: Beeps(0.1, 0.1, 3),
    }

    def __init__(self, pin: int, pin_factory=None) -> None:
        self._buzzer = Buzzer(pin, pin_factory=pin_factory)

    def show(self, pattern: Pattern) -> None:
        """Beep as the table says; patterns without beeps leave the buzzer as it is."""
        beeps = self.TABLE.get(pattern)
        if beeps is not None and not self._closed:
            self._buzzer.beep(on_time=beeps.on_time, off_time=beeps.off_time, n=beeps.n)

    def close(self) -> None:
        """Silent, pin released; again is a no-op."""
        if not self._closed:
            self._closed = True
            self._buzzer.off()
            self._buzzer.close()


def make_light(kind: str, red: int, green: int, blue: int, pin_factory=None) -> NoLight | PairLight | RGBLight:
    """The light `gpio.led` names: "pair", "rgb" or "none"."""
    if kind == "rgb":
        return RGBLight(red, green, blue, pin_factory=pin_factory)
    if kind == "pair":
        return PairLight(green, red, pin_factory=pin_factory)
    return NoLight()


class Indicator(Closing):
    """The status light of the configured kind and the optional buzzer; `show(pattern)` drives both.

    Building it claims every pin or none (KioskError). After `close()` patterns are ignored.
    """

    def __init__(self, kind: str, red: int, green: int, blue: int, buzzer_pin: int = 0,
                 pin_factory=None) -> None:
        self.kind = kind
        with ExitStack() as stack:
            try:
                self.light = stack.enter_context(make_light(kind, red, green, blue, pin_factory))
                self.beeper = stack.enter_context(Beeper(buzzer_pin, pin_factory)) if buzzer_pin else None
            except Exception as exc:
                raise KioskError(f"gpio: cannot claim LED/buzzer pins: {type(exc).__name__}: {exc}") from None
            stack.pop_all()
        self.pattern = ""  # the pattern shown; "" before the first
        self._closed = False

    def show(self, pattern: Pattern | str) -> None:
        """Show `pattern` (ValueError for another name); the same pattern again changes nothing."""
        pattern = Pattern(pattern)
        if pattern == self.pattern or self._closed:
            return
        self.pattern = pattern
        log.debug("light: %s", pattern)
        self.light.show(pattern)
        if self.beeper is not None:
            self.beeper.show(pattern)

    def close(self) -> None:
        """Turn everything off and release the pins; again is a no-op, and so is `show` afterwards."""
        self._closed = True
        self.light.close()
        if self.beeper is not None:
            self.beeper.close()

"""Remote commands, from arrival to the door: verified, acted on, answered.

A command comes in on an output's thread (paho's, for MQTT) as the bytes it arrived as. Signed commands
are checked by CommandVerifier (kiosk/messages/commands.py), Home Assistant's plain ones by
parse_command (kiosk/messages/homeassistant.py); an accepted `open` opens the door by hand and is
recorded as an event, an accepted `mode` switches the door's mode. Every outcome is answered, but
refusals only up to REFUSALS_PER_S: all of them are counted, so a flood of them cannot fill the journal
or crowd events out of paho's queue.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any, Callable

from ..door.decision import Reason
from ..door.door import Door
from ..events import manual_event, utc_now_iso
from .commands import CommandVerifier, RateLimit, Verdict
from .homeassistant import parse_command as ha_parse_command

log = logging.getLogger("kiosk")

REFUSALS_PER_S = 5.0
REFUSALS_BURST = 20


class RemoteCommands:
    """The commands channel of one kiosk: `handle` is what its outputs are subscribed with.

    `verifier` None: signed commands are off; `home_assistant` False: Home Assistant's are off; a command
    on a channel that is off is ignored without an answer. The three callbacks are the kiosk's: `answer`
    publishes a command result, `record` an event (an opening by command), `count` adds one to a counter
    of the stats (commands_refused, opened)."""

    def __init__(self, door: Door, verifier: CommandVerifier | None, home_assistant: bool, kiosk_id: str,
                 model_info: dict[str, str], *, answer: Callable[[dict[str, Any]], None],
                 record: Callable[[dict[str, Any]], None], count: Callable[[str], None]) -> None:
        self.door = door
        self.verifier = verifier
        self.home_assistant = home_assistant
        self.kiosk_id = kiosk_id
        self.model_info = model_info
        self._answer, self._record, self._count = answer, record, count
        self._refusals = RateLimit(REFUSALS_PER_S, REFUSALS_BURST)
        self._lock = threading.Lock()  # RateLimit is not thread-safe; outputs may call from several threads

    @property
    def enabled(self) -> bool:
        """Any channel is on: only then are the outputs subscribed."""
        return self.verifier is not None or self.home_assistant

    def handle(self, payload: bytes, retained: bool = False, channel: str = "signed") -> None:
        """One command as it arrived (kiosk/outputs.py, CommandHandler): `channel` "home_assistant" for the
        broker-guarded topic, else signed."""
        if channel == "home_assistant":
            if not self.home_assistant:
                return
            verdict = ha_parse_command(payload, retained)
        elif self.verifier is None:
            return
        else:
            # A retained command is an old one that the broker hands to every new connection.
            verdict = Verdict(False, "retained") if retained else self.verifier.verify(payload)
        command = verdict.command or {}
        result = {"id": str(uuid.uuid4()), "ts": utc_now_iso(), "kiosk_id": self.kiosk_id,
                  "command": command.get("command"), "accepted": verdict.accepted, "reason": verdict.reason,
                  "channel": channel}
        if not verdict.accepted:
            self._count("commands_refused")
            with self._lock:
                answer = self._refusals.allow(time.monotonic())
            if answer:
                log.warning("command refused: %s", verdict.reason)
                self._answer(result)
            return
        log.info("command accepted: %s", command)
        self._answer(result)
        if command["command"] == "open":
            if self.door.open_by_hand():
                self._count("opened")
                self._record(manual_event(self.kiosk_id, self.model_info, Reason.REMOTE))
        elif command["command"] == "mode":
            self.door.set_mode(command["mode"])

"""What the kiosk says to Home Assistant's entities and what it accepts from them (beside discovery).

Events: each decision fires the `decision` event entity with one `event_type` (kiosk/messages/discovery.py's
EVENT_TYPES) and the decision's id, time, track, faces (label, score, box) and model as attributes.

Commands: Home Assistant cannot sign our HMAC commands, so with `commands.home_assistant = true` its
`Open gate` button and `Set mode` select publish plain payloads (`open`, `auto`, `locked`) on
`<prefix>/<id>/ha_command`. Nothing in the payload proves who sent it: the broker must, by letting only
Home Assistant's own user write that topic (README: Home Assistant, the mosquitto ACL). Anything else on
the topic (a retained message, other bytes, any size) is refused with a short reason.
"""

from __future__ import annotations

from typing import Any

from ..door.decision import Mode, Outcome, Reason
from .commands import Verdict

# The longest valid payload is "locked"; more than this is not worth looking at.
MAX_HA_COMMAND_BYTES = 64
_COMMANDS = {b"open": {"command": "open"}, **{m.value.encode(): {"command": "mode", "mode": m.value} for m in Mode}}


def event_type(event: dict[str, Any]) -> str:
    """The event entity's type of a decision event: `open` for an opening by the faces, else the reason
    (`no_mask`, `incorrect`, `covered`, `locked`; `manual` and `remote` for openings by a person)."""
    if event["decision"] == Outcome.OPEN and event["reason"] == Reason.MASK:
        return "open"
    return str(event["reason"])


def event_payload(event: dict[str, Any]) -> dict[str, Any]:
    """The `decision` event entity's message for one decision event (kiosk/events.py)."""
    out = {"event_type": event_type(event), "id": event["id"], "ts": event["ts"], "decision": event["decision"],
           "reason": event["reason"], "faces": event["faces"], "model": event["model"]["name"]}
    if "track" in event:
        out["track"] = event["track"]
    return out


def parse_command(payload: bytes, retained: bool) -> Verdict:
    """A Home Assistant command as it came from the broker (never raises): accepted with the same
    command body a signed command has ({"command": "open"} or {"command": "mode", "mode": ...})."""
    if retained:  # an old one, handed to every new connection
        return Verdict(False, "retained")
    if len(payload) > MAX_HA_COMMAND_BYTES:
        return Verdict(False, f"malformed: too large ({len(payload)} bytes > {MAX_HA_COMMAND_BYTES})")
    body = _COMMANDS.get(bytes(payload))
    if body is None:
        return Verdict(False, "malformed: not one of open, auto, locked")
    return Verdict(True, "ok", dict(body))

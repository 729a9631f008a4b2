"""Remote commands over MQTT, signed, because broker ACLs are often lax.

Off by default (`[commands] enabled = false`). A command is published to `<prefix>/<id>/command` as

    {"body": "<JSON text>", "sig": "<hex HMAC-SHA256(secret, body as UTF-8)>"}

where the body is a JSON object {"command": "open" | "mode", "mode": "auto" | "locked" (for "mode"),
"ts": <unix seconds>, "nonce": "<unique string>", "kiosk_id": "<target kiosk>"}. Signing the body text
as sent avoids any JSON canonicalisation question. A command is refused when it is malformed, unsigned,
wrongly signed, for another kiosk, outside the time window (stale or from the future) or a replay of a
nonce already seen within the window. tools/sign_command.py makes signed commands.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

COMMANDS = ("open", "mode")
MODES = ("auto", "locked")


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str  # "ok" or why it was refused
    command: dict[str, Any] | None = None


def sign(secret: bytes, body: dict[str, Any]) -> bytes:
    """A signed command payload (used by tools/sign_command.py and the tests)."""
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    sig = hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()
    return json.dumps({"body": text, "sig": sig}).encode()


class CommandVerifier:
    def __init__(self, secret: bytes, kiosk_id: str, window_s: float = 30.0, clock=time.time) -> None:
        if len(secret) < 16:
            raise ValueError("command secret must be at least 16 bytes")
        self._secret = secret
        self.kiosk_id = kiosk_id
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[str, float] = {}  # nonce -> ts, kept for the window

    def verify(self, payload: bytes) -> Verdict:
        try:
            outer = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return Verdict(False, "malformed: not JSON")
        if not isinstance(outer, dict) or not isinstance(outer.get("body"), str):
            return Verdict(False, "malformed: no body")
        sig = outer.get("sig")
        if sig is None or sig == "":
            return Verdict(False, "unsigned")
        if not isinstance(sig, str):
            return Verdict(False, "malformed: sig is not a string")
        want = hmac.new(self._secret, outer["body"].encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig.lower()):
            return Verdict(False, "bad signature")
        try:
            body = json.loads(outer["body"])
        except json.JSONDecodeError:
            return Verdict(False, "malformed: body is not JSON")
        if not isinstance(body, dict):
            return Verdict(False, "malformed: body is not an object")
        cmd, ts, nonce = body.get("command"), body.get("ts"), body.get("nonce")
        if cmd not in COMMANDS:
            return Verdict(False, f"malformed: unknown command {cmd!r}")
        if isinstance(ts, bool) or not isinstance(ts, (int, float)):
            return Verdict(False, "malformed: ts is not a number")
        if not isinstance(nonce, str) or not (8 <= len(nonce) <= 128):
            return Verdict(False, "malformed: nonce must be a string of 8 to 128 characters")
        if body.get("kiosk_id") != self.kiosk_id:
            return Verdict(False, "wrong kiosk")
        if cmd == "mode" and body.get("mode") not in MODES:
            return Verdict(False, f"malformed: mode must be one of {', '.join(MODES)}")
        now = self._clock()
        if abs(now - ts) > self.window_s:
            return Verdict(False, "stale")
        for n, t in list(self._seen.items()):
            if now - t > 2 * self.window_s:
                del self._seen[n]
        if nonce in self._seen:
            return Verdict(False, "replay")
        self._seen[nonce] = ts
        return Verdict(True, "ok", body)

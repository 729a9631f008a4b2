"""Remote commands over MQTT, signed, because broker ACLs are often lax.

Off by default (`[commands] enabled = false`). A command is published to `<prefix>/<id>/command` as

    {"body": "<JSON text>", "sig": "<hex HMAC-SHA256(secret, body as UTF-8)>"}

where the body is a JSON object {"command": "open" | "mode", "mode": "auto" | "locked" (for "mode"),
"ts": <unix seconds>, "nonce": "<unique string>", "kiosk_id": "<target kiosk>"}. Signing the body text
as sent avoids any JSON canonicalisation question. A command is refused when it is malformed, unsigned,
wrongly signed, for another kiosk, outside the time window (stale or from the future) or a replay of a
nonce already seen within the window. tools/ops/sign_command.py makes signed commands.

Anyone with write access to the topic can send anything, so the payload is parsed defensively: its
size is checked before parsing, and the parser refuses what Python's json would otherwise accept with
surprises (nesting deep enough to exhaust the stack, NaN and Infinity, numbers that overflow to
infinity or take seconds to convert, duplicate keys that two parsers could read differently).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from ..door.decision import MODES

COMMANDS = ("open", "mode")


# A signed command is about 300 bytes; anything much larger is not one, and is not worth parsing.
MAX_COMMAND_BYTES = 4096
MAX_NUMBER_DIGITS = 32
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class BadJson(ValueError):
    """A network payload refused by load_json; the message is the refusal reason."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise BadJson("malformed: duplicate key")
        out[key] = value
    return out


def _finite_float(text: str) -> float:
    value = float(text)
    if len(text) > MAX_NUMBER_DIGITS or not math.isfinite(value):
        raise BadJson("malformed: number out of range")
    return value


def _small_int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise BadJson("malformed: number out of range")
    return int(text)


def _no_constant(text: str) -> Any:
    raise BadJson(f"malformed: {text} is not allowed")


def load_json(data: bytes | str, max_bytes: int = MAX_COMMAND_BYTES) -> Any:
    """Parse JSON from the network, bounded: raises BadJson (one line) for anything refused."""
    if len(data) > max_bytes:
        raise BadJson(f"malformed: too large ({len(data)} bytes > {max_bytes})")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")  # strict: json.loads would also guess UTF-16 and UTF-32
        except UnicodeDecodeError:
            raise BadJson("malformed: not UTF-8") from None
    try:
        return json.loads(data, object_pairs_hook=_unique_keys, parse_float=_finite_float,
                          parse_int=_small_int, parse_constant=_no_constant)
    except BadJson:
        raise
    except RecursionError:  # the C decoder checks its depth and raises instead of crashing
        raise BadJson("malformed: nested too deep") from None
    except ValueError:  # JSONDecodeError, and int() beyond Python's digit limit
        raise BadJson("malformed: not JSON") from None


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a command: accepted, the reason, the command body when there is one."""

    accepted: bool
    reason: str  # "ok" or why it was refused
    command: dict[str, Any] | None = None


def sign(secret: bytes, body: dict[str, Any]) -> bytes:
    """A signed command payload (used by tools/ops/sign_command.py and the tests)."""
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    sig = hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()
    return json.dumps({"body": text, "sig": sig}).encode()


class CommandVerifier:
    """Checks signed remote commands: HMAC-SHA256 with the shared secret, the kiosk id, a time window and no replay."""

    def __init__(self, secret: bytes, kiosk_id: str, window_s: float = 30.0, clock=time.time) -> None:
        if len(secret) < 16:
            raise ValueError("command secret must be at least 16 bytes")
        self._secret = secret
        self.kiosk_id = kiosk_id
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[str, float] = {}  # nonce -> ts, kept for the window

    def verify(self, payload: bytes) -> Verdict:
        """Accept or refuse one payload as it came from the network (never raises)."""
        try:
            outer = load_json(payload)
        except BadJson as exc:
            return Verdict(False, str(exc))
        if not isinstance(outer, dict) or not isinstance(outer.get("body"), str):
            return Verdict(False, "malformed: no body")
        sig = outer.get("sig")
        if sig is None or sig == "":
            return Verdict(False, "unsigned")
        if not isinstance(sig, str):
            return Verdict(False, "malformed: sig is not a string")
        try:
            text = outer["body"].encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate written as \ud800
            return Verdict(False, "malformed: body is not UTF-8")
        want = hmac.new(self._secret, text, hashlib.sha256).hexdigest()
        # compare_digest refuses non-ASCII text with TypeError: check the shape first
        if not _HEX64.fullmatch(sig) or not hmac.compare_digest(want, sig.lower()):
            return Verdict(False, "bad signature")
        try:
            body = load_json(text)
        except BadJson as exc:
            return Verdict(False, str(exc).replace("malformed: ", "malformed: body: ", 1))
        if not isinstance(body, dict):
            return Verdict(False, "malformed: body is not an object")
        return self._check_body(body)

    def _check_body(self, body: dict[str, Any]) -> Verdict:
        cmd, ts, nonce = body.get("command"), body.get("ts"), body.get("nonce")
        if cmd not in COMMANDS:
            return Verdict(False, f"malformed: unknown command {_short(cmd)}")
        if isinstance(ts, bool) or not isinstance(ts, (int, float)):
            return Verdict(False, "malformed: ts is not a number")
        if not isinstance(nonce, str) or not (8 <= len(nonce) <= 128):
            return Verdict(False, "malformed: nonce must be a string of 8 to 128 characters")
        if body.get("kiosk_id") != self.kiosk_id:
            return Verdict(False, "wrong kiosk")
        if cmd == "mode" and body.get("mode") not in MODES:
            return Verdict(False, f"malformed: mode must be one of {', '.join(MODES)}")
        now = self._clock()
        if not abs(now - ts) <= self.window_s:  # written so that a NaN could never pass
            return Verdict(False, "stale")
        for n, t in list(self._seen.items()):
            if now - t > 2 * self.window_s:
                del self._seen[n]
        if nonce in self._seen:
            return Verdict(False, "replay")
        self._seen[nonce] = ts
        return Verdict(True, "ok", body)


def _short(value: Any, limit: int = 40) -> str:
    """repr() for a refusal reason, cut short: a reason is one line of bounded length."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RateLimit:
    """Token bucket: `rate` per second, bursts of `burst`. Not thread-safe (one caller thread)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at: float | None = None

    def allow(self, now: float) -> bool:
        """Take a token at time `now` if one is left."""
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

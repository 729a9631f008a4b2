"""Signed remote commands: each refusal case, then end to end through a real mosquitto."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time

import pytest

from kiosk.messages.commands import CommandVerifier, RateLimit, sign
from kiosk.pipeline import Kiosk
from tests.conftest import ROOT
from tests.test_pipeline import demo_cfg

SECRET = b"0123456789abcdef-shared-secret"


def body(**kw):
    b = {"command": "open", "ts": 1000.0, "nonce": "nonce-0001", "kiosk_id": "it"}
    b.update(kw)
    return b


def verifier(now: float = 1000.0) -> CommandVerifier:
    return CommandVerifier(SECRET, "it", window_s=30, clock=lambda: now)


def test_valid_command_accepted_once():
    v = verifier()
    ok = v.verify(sign(SECRET, body()))
    assert ok.accepted and ok.command["command"] == "open"
    again = v.verify(sign(SECRET, body()))
    assert (again.accepted, again.reason) == (False, "replay")


@pytest.mark.parametrize("payload, reason", [
    (b"not json", "malformed: not JSON"),
    (b'{"sig": "ab"}', "malformed: no body"),
    (json.dumps({"body": json.dumps(body())}).encode(), "unsigned"),
    (json.dumps({"body": json.dumps(body()), "sig": ""}).encode(), "unsigned"),
    (sign(b"another-secret-of-16-bytes", body()), "bad signature"),
    (sign(SECRET, body(ts=1000.0 - 31)), "stale"),
    (sign(SECRET, body(ts=1000.0 + 31)), "stale"),
    (sign(SECRET, body(command="reboot")), "malformed: unknown command 'reboot'"),
    (sign(SECRET, body(ts="now")), "malformed: ts is not a number"),
    (sign(SECRET, body(nonce="x")), "malformed: nonce must be a string of 8 to 128 characters"),
    (sign(SECRET, body(kiosk_id="other")), "wrong kiosk"),
    (sign(SECRET, body(command="mode", mode="party")), "malformed: mode must be one of auto, locked"),
    (json.dumps({"body": "[1, 2]", "sig": hmac.new(SECRET, b"[1, 2]", hashlib.sha256).hexdigest()}).encode(),
     "malformed: body is not an object"),
])
def test_refusals(payload, reason):
    verdict = verifier().verify(payload)
    assert (verdict.accepted, verdict.reason) == (False, reason)


def test_tampered_body_fails_signature():
    signed = json.loads(sign(SECRET, body()))
    signed["body"] = signed["body"].replace("open", "mode")
    assert verifier().verify(json.dumps(signed).encode()).reason == "bad signature"


def test_short_secret_refused():
    with pytest.raises(ValueError):
        CommandVerifier(b"short", "it")


def test_sign_tool(tmp_path):
    (tmp_path / "s").write_text(SECRET.decode() + "\n")
    r = subprocess.run([sys.executable, "-m", "tools.ops.sign_command", "--secret-file", str(tmp_path / "s"),
                        "--kiosk-id", "it", "mode", "locked"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    v = CommandVerifier(SECRET, "it")
    verdict = v.verify(r.stdout.strip().encode())
    assert verdict.accepted and verdict.command["mode"] == "locked"


def test_commands_end_to_end(broker, subscriber_factory, factory, tmp_path):
    (tmp_path / "secret").write_text(SECRET.decode())
    cfg = demo_cfg(broker.port, tmp_path)
    cfg.commands.enabled = True
    cfg.commands.secret_file = str(tmp_path / "secret")
    cfg.camera.source = str(tmp_path / "no-camera.mp4")  # commands work while the camera is down
    cfg.camera.on_end = "reopen"
    sub = subscriber_factory(broker.port, ["maskgate/it/command_result", "maskgate/it/events",
                                           "maskgate/it/state"])
    kiosk = Kiosk(cfg, pin_factory=factory)
    t = threading.Thread(target=kiosk.run, kwargs={"max_seconds": 6})
    t.start()
    assert kiosk.publisher.connected.wait(5)
    time.sleep(0.3)
    now = time.time()
    good = sign(SECRET, body(ts=now, nonce="good-nonce-1"))
    sends = [
        (json.dumps({"body": json.dumps(body(ts=now, nonce="unsigned-1"))}).encode(), "unsigned"),
        (sign(SECRET, body(ts=now - 120, nonce="stale-nonce")), "stale"),
        (b"{oops", "malformed: not JSON"),
        (good, "ok"),
        (good, "replay"),
    ]
    for payload, _ in sends:
        sub.client.publish("maskgate/it/command", payload, qos=1)
        time.sleep(0.2)
    time.sleep(0.5)
    locked = sign(SECRET, body(command="mode", mode="locked", ts=time.time(), nonce="mode-nonce-1"))
    sub.client.publish("maskgate/it/command", locked, qos=1)
    t.join()
    results = [json.loads(m.payload) for m in sub.topic("maskgate/it/command_result")]
    assert [r["reason"] for r in results] == [r for _, r in sends] + ["ok"]
    assert [r["accepted"] for r in results] == [False, False, False, True, False, True]
    events = [json.loads(m.payload) for m in sub.topic("maskgate/it/events")]
    assert [(e["decision"], e["reason"]) for e in events] == [("open", "remote")]
    relay = factory.pin(cfg.gpio.relay_pin)
    assert [int(bool(s.state)) for s in relay.states] == [0, 1, 0]  # one opening: the accepted command
    states = [json.loads(m.payload) for m in sub.topic("maskgate/it/state")]
    assert states[-1]["mode"] == "locked"


def test_commands_off_by_default(broker, subscriber_factory, factory, tmp_path):
    cfg = demo_cfg(broker.port, tmp_path)
    cfg.camera.source = str(tmp_path / "no-camera.mp4")
    cfg.camera.on_end = "reopen"
    sub = subscriber_factory(broker.port, ["maskgate/it/#"])
    kiosk = Kiosk(cfg, pin_factory=factory)
    t = threading.Thread(target=kiosk.run, kwargs={"max_seconds": 2.5})
    t.start()
    assert kiosk.publisher.connected.wait(5)
    sub.client.publish("maskgate/it/command", sign(SECRET, body(ts=time.time())), qos=1)
    t.join()
    assert not sub.topic("maskgate/it/command_result")
    assert [int(bool(s.state)) for s in factory.pin(cfg.gpio.relay_pin).states] == [0]


def signed_text(text: str) -> bytes:
    """A correctly signed payload around any body text (what only a holder of the secret can make)."""
    return json.dumps({"body": text, "sig": hmac.new(SECRET, text.encode(), hashlib.sha256).hexdigest()}).encode()


BODY_TAIL = '"nonce":"nonce-0001","kiosk_id":"it"}'


@pytest.mark.parametrize("payload, reason", [
    (b"[" * 50_000, "malformed: too large (50000 bytes > 4096)"),  # issue 17: it raised RecursionError
    (b"[" * 4000, "malformed: nested too deep"),
    (b"", "malformed: not JSON"),
    (b'{"body": NaN, "sig": "ab"}', "malformed: NaN is not allowed"),
    (b'{"body": "x", "sig": -Infinity}', "malformed: -Infinity is not allowed"),
    (b'{"body": "x", "sig": 1e999999}', "malformed: number out of range"),
    (b'{"body": "x", "sig": ' + b"9" * 4000 + b"}", "malformed: number out of range"),
    (b'{"body": "x", "body": "y", "sig": "ab"}', "malformed: duplicate key"),
    (b'{"body": "\xc3\x28"}', "malformed: not UTF-8"),
    ('{"body": "x", "sig": "ab"}'.encode("utf-16"), "malformed: not UTF-8"),
    (b'{"body": "\\ud800", "sig": "' + b"0" * 64 + b'"}', "malformed: body is not UTF-8"),
    (b'{"body": "x", "sig": "\\u00e9"}', "bad signature"),  # compare_digest raised TypeError on it
    (b'{"body": "x", "sig": 12}', "malformed: sig is not a string"),
    # signed, so only the secret's holder can send them; refused all the same
    (signed_text('{"command":"open","ts":NaN,' + BODY_TAIL), "malformed: body: NaN is not allowed"),
    (signed_text('{"command":"open","ts":1e999,' + BODY_TAIL), "malformed: body: number out of range"),
    (signed_text('{"command":"open","ts":' + "1" * 40 + "," + BODY_TAIL), "malformed: body: number out of range"),
    (signed_text('{"command":"mode","command":"open","ts":1000,' + BODY_TAIL), "malformed: body: duplicate key"),
    (signed_text("[" * 2000), "malformed: body: nested too deep"),
    (sign(SECRET, body(command=["open"] * 100)), "malformed: unknown command ['open', 'open', 'open', 'open', 'ope..."),
])
def test_hostile_payloads_are_refused_with_one_line(payload, reason):
    verdict = verifier().verify(payload)
    assert (verdict.accepted, verdict.reason) == (False, reason)


def test_nan_timestamp_no_longer_passes_the_window():
    """json.loads reads NaN, and abs(now - NaN) > window is False: a signed NaN ts was accepted for ever."""
    v = verifier()
    assert v._check_body(body(ts=float("nan"))).reason == "stale"  # noqa: SLF001


def test_rate_limit():
    r = RateLimit(rate=5, burst=20)
    assert [r.allow(100.0) for _ in range(21)] == [True] * 20 + [False]
    assert [r.allow(101.0) for _ in range(6)] == [True] * 5 + [False]
    assert r.allow(1000.0)

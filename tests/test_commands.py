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

from kiosk.commands import CommandVerifier, sign
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
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "sign_command.py"), "--secret-file",
                        str(tmp_path / "s"), "--kiosk-id", "it", "mode", "locked"], capture_output=True, text=True)
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

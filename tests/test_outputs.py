"""The kiosk hands decisions, state and stats to a list of outputs (kiosk/outputs.py), and remote
commands come in through whichever output receives them (issue 16)."""

from __future__ import annotations

import threading
import time

from kiosk.messages.commands import sign
from kiosk.pipeline import Kiosk
from tests.conftest import RecordingOutput
from tests.test_commands import SECRET, body
from tests.test_pipeline import demo_cfg


def test_every_output_gets_every_decision_state_and_stats(factory, tmp_path):
    first, second = RecordingOutput("first"), RecordingOutput("second")
    kiosk = Kiosk(demo_cfg(None, tmp_path), pin_factory=factory, outputs=[first, second])
    summary = kiosk.run(max_seconds=60)
    assert summary.exit_reason == "end of stream" and summary.decided >= 2
    for out in (first, second):
        assert [e["id"] for e in out.events] == [e["id"] for e in summary.decisions]
        assert out.started == 1 and out.closed == 1
        assert out.states and out.states[-1][1]["gate"] == "closed"
        assert out.stats and {"first", "second"} <= set(out.stats[-1])  # each output's status, by name
    assert [s for _, s in first.states] == [s for _, s in second.states]
    assert "mqtt" not in kiosk._stats_payload()  # no MQTT output, no MQTT figures


def test_no_outputs_runs_and_decides(factory, tmp_path):
    kiosk = Kiosk(demo_cfg(None, tmp_path), pin_factory=factory)  # mqtt.enabled false: an empty list
    assert kiosk.outputs == [] and kiosk.publisher is None
    summary = kiosk.run(max_seconds=60)
    assert summary.count("open") >= 1 and summary.count("deny") >= 1


def test_an_injected_output_receives_commands(factory, tmp_path):
    """The bug this replaces: only an MqttPublisher was subscribed, any other output silently not."""
    (tmp_path / "secret").write_text(SECRET.decode())
    cfg = demo_cfg(None, tmp_path)
    cfg.commands.enabled = True
    cfg.commands.secret_file = str(tmp_path / "secret")
    cfg.camera.source = str(tmp_path / "no-camera.mp4")  # commands work while the camera is down
    cfg.camera.on_end = "reopen"
    out = RecordingOutput()
    kiosk = Kiosk(cfg, pin_factory=factory, outputs=[out])
    t = threading.Thread(target=kiosk.run, kwargs={"max_seconds": 2.0})
    t.start()
    time.sleep(0.3)
    out.command(sign(SECRET, body(ts=time.time(), nonce="output-nonce-1")))
    out.command(sign(SECRET, body(ts=time.time(), nonce="output-nonce-2")), retained=True)
    t.join()
    assert [(r["accepted"], r["reason"]) for r in out.results] == [(True, "ok"), (False, "retained")]
    assert [(e["decision"], e["reason"]) for e in out.events] == [("open", "remote")]
    assert [int(bool(s.state)) for s in factory.pin(cfg.gpio.relay_pin).states] == [0, 1, 0]


def test_outputs_are_not_subscribed_without_commands(factory, tmp_path):
    out = RecordingOutput()
    Kiosk(demo_cfg(None, tmp_path), pin_factory=factory, outputs=[out]).close()
    assert out.on_command is None and out.closed == 1

"""The gate fails closed: whole relay timelines on MockFactory pins for every way things go wrong."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from kiosk.capture.camera import CameraSupervisor, OpenCVCamera
from kiosk.errors import RuntimeFault
from kiosk.pipeline import Kiosk
from tests.conftest import DEMO_CLIP, RecordingOutput
from tests.test_pipeline import demo_cfg, high_phases

FIRST_OPEN_FRAME = 60  # person A with a mask appears at frame 60 of the demo clip


def levels(pin) -> list[int]:
    return [int(bool(s.state)) for s in pin.states]


class FaultyCamera(OpenCVCamera):
    """The real demo clip with faults injected at given frame numbers (a camera that misbehaves)."""

    def __init__(self, faults: dict[int, str]) -> None:
        super().__init__(str(DEMO_CLIP), 640, 480, 30.0, finite=False)  # behaves like a live camera
        self.faults = faults
        self.n = 0

    def read(self):
        frame = super().read()
        self.n += 1
        kind = self.faults.pop(self.n, None)
        if kind == "none":
            return None
        if kind == "empty":
            return np.zeros((0, 0, 3), np.uint8)
        if kind == "grey":
            return frame[:, :, 0].copy()
        return frame


def run_with_signal(kiosk: Kiosk, sig: int) -> None:
    """Run the kiosk; deliver `sig` to this process 0.2 s after the gate has opened."""
    from kiosk.cli import _stop_on_signals

    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    _stop_on_signals(kiosk)

    def send_when_open() -> None:
        deadline = time.monotonic() + 60
        while not kiosk.gate.is_open and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        os.kill(os.getpid(), sig)

    sender = threading.Thread(target=send_when_open, daemon=True)
    sender.start()
    try:
        kiosk.run(max_seconds=60)
    finally:
        sender.join()
        for s, h in previous.items():
            signal.signal(s, h)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_open_closes_the_relay(factory, tmp_path, sig):
    cfg = demo_cfg(None, tmp_path)
    cfg.decision.open_seconds = 5.0
    cfg.decision.max_open_seconds = 10.0
    kiosk = Kiosk(cfg, pin_factory=factory)
    run_with_signal(kiosk, sig)  # the signal comes while person A (masked) is being let in
    relay = factory.pin(cfg.gpio.relay_pin)
    assert levels(relay) == [0, 1, 0]
    assert high_phases(relay)[0] < 2.0  # closed by the signal, not by the 5 s timer
    assert kiosk.summary.exit_reason == "stopped"


# The classifier runs in the loop's thread; with overlap (the default) the detector runs in its own.
@pytest.mark.parametrize("part, overlap", [("classifier", True), ("detector", True), ("classifier", False)])
def test_unhandled_model_error_closes_the_relay(factory, tmp_path, part, overlap):
    cfg = demo_cfg(None, tmp_path)
    cfg.detector.overlap = overlap
    cfg.decision.open_seconds = 5.0
    cfg.decision.max_open_seconds = 10.0
    kiosk = Kiosk(cfg, pin_factory=factory)
    owner, name = ((kiosk.analyzer.classifier, "predict_batch") if part == "classifier"
                   else (kiosk.analyzer.detector, "detect"))
    real = getattr(owner, name)

    def failing(arg):
        if kiosk.gate.is_open:  # the model breaks while the gate is open
            raise RuntimeError("tensor arena corrupted")
        return real(arg)

    setattr(owner, name, failing)
    with pytest.raises(RuntimeFault, match="model failure: RuntimeError: tensor arena corrupted"):
        kiosk.run(max_seconds=30)
    relay = factory.pin(cfg.gpio.relay_pin)
    assert levels(relay) == [0, 1, 0]
    assert high_phases(relay)[0] < 1.0
    assert "model" in kiosk.faults


@pytest.mark.parametrize("kind, overlap", [("none", True), ("empty", True), ("grey", True), ("none", False)])
def test_camera_fault_while_open_closes_relay_reports_and_recovers(factory, tmp_path, kind, overlap):
    cfg = demo_cfg(None, tmp_path)
    cfg.detector.overlap = overlap
    cfg.decision.open_seconds = 5.0
    cfg.decision.max_open_seconds = 10.0
    cfg.camera.reopen_min_s = 0.3
    recorder = RecordingOutput()
    states = recorder.states  # (time.monotonic(), state) as published
    kiosk = Kiosk(cfg, pin_factory=factory, outputs=[recorder],
                  supervisor=CameraSupervisor(FaultyCamera({FIRST_OPEN_FRAME + 10: kind}), cfg.camera))
    summary = kiosk.run(max_seconds=8)
    relay = factory.pin(cfg.gpio.relay_pin)
    lv = levels(relay)
    assert lv[:3] == [0, 1, 0]
    assert high_phases(relay)[0] < 1.0  # closed at the fault, not after open_seconds
    faulted = [t for t, st in states if st["faults"] == ["camera"]]
    cleared = [t for t, st in states if t > faulted[0] and st["faults"] == []]
    assert faulted and cleared  # reported, then cleared when the reopened camera delivers frames
    assert cleared[0] - faulted[0] < 2.0
    # (a second failure is the clip's end: this camera is "live" and loops by reopening)
    assert kiosk.supervisor.failures >= 1 and summary.frames > FIRST_OPEN_FRAME + 10

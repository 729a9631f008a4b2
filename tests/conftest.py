"""Shared fixtures: a real mosquitto broker, gpiozero MockFactory pins, the shipped models."""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

from kiosk.config import Config
from kiosk.messages.broker import Mosquitto

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
CLASSIFIER = MODELS / "mask_classifier.tflite"
DETECTOR = MODELS / "face_detection_short_range.tflite"
DEMO_CLIP = ROOT / "kiosk" / "demo" / "demo.mp4"


def recorded_config(tmp_path: Path, source: str | Path, fps: float) -> Config:
    """The daemon on a recorded source (clip or image folder) to its end, mock GPIO, no broker."""
    cfg = Config()
    cfg.kiosk.state_dir = str(tmp_path / "state")
    cfg.camera.source = str(source)
    cfg.camera.fps = fps
    cfg.camera.on_end = "exit"
    cfg.gpio.backend = "mock"
    cfg.mqtt.enabled = False
    return cfg


class RecordingOutput:
    """An output (kiosk/outputs.py) that keeps what the kiosk hands it, with the time.monotonic() of
    each call, and passes commands in through `command()` as a network output would."""

    def __init__(self, name: str = "recorder") -> None:
        import time

        self._clock = time.monotonic
        self.name = name
        self.events: list[dict] = []
        self.states: list[tuple[float, dict]] = []
        self.stats: list[dict] = []
        self.results: list[dict] = []
        self.on_command = None
        self.started = self.closed = 0

    def start(self) -> None:
        self.started += 1

    def subscribe(self, on_command) -> None:
        self.on_command = on_command

    def command(self, payload: bytes, retained: bool = False) -> None:
        assert self.on_command is not None, "the kiosk did not subscribe this output"
        self.on_command(payload, retained)

    def publish_event(self, event: dict) -> None:
        self.events.append(event)

    def publish_state(self, state: dict) -> None:
        self.states.append((self._clock(), state))

    def publish_stats(self, stats: dict) -> None:
        self.stats.append(stats)

    def publish_command_result(self, result: dict) -> None:
        self.results.append(result)

    def health(self, now: float | None = None) -> str | None:
        return None

    def status(self) -> dict:
        return {"events": len(self.events)}

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def factory():
    """gpiozero's own MockFactory, passed to devices explicitly (no global pin factory)."""
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()
    Device.pin_factory = None


def new_broker(workdir: Path, **kw) -> Mosquitto:
    """A real mosquitto, not yet started. Under CI=true a missing broker is a failure, else a skip."""
    b = Mosquitto(workdir=workdir, **kw)
    if not b.available:
        if os.environ.get("CI") == "true":
            pytest.fail("mosquitto is not installed (.ci/run installs it with apt)")
        pytest.skip("mosquitto not installed")
    return b


@pytest.fixture
def broker(tmp_path):
    """A real mosquitto on a free 127.0.0.1 port."""
    b = new_broker(tmp_path / "mosquitto")
    b.start()
    yield b
    b.stop()


class Subscriber:
    """A plain paho client collecting messages, as a dashboard would see them."""

    def __init__(self, port: int, topics: list[str], client_id: str = "test-sub") -> None:
        self.messages: "queue.Queue[mqtt.MQTTMessage]" = queue.Queue()
        self.all: list[mqtt.MQTTMessage] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(5), "subscriber did not subscribe"

    def _on_message(self, client, userdata, msg) -> None:
        self.all.append(msg)
        self.messages.put(msg)

    def wait_for(self, predicate, timeout: float = 5.0):
        """The first message (new or already received) satisfying predicate."""
        for m in list(self.all):
            if predicate(m):
                return m
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                m = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if predicate(m):
                return m
        raise AssertionError("no matching MQTT message; got topics: "
                             + ", ".join(sorted({m.topic for m in self.all})))

    def topic(self, name: str) -> list[mqtt.MQTTMessage]:
        return [m for m in self.all if m.topic == name]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscriber_factory():
    subs: list[Subscriber] = []

    def make(port: int, topics: list[str], client_id: str = "test-sub") -> Subscriber:
        s = Subscriber(port, topics, client_id)
        subs.append(s)
        return s

    yield make
    for s in subs:
        s.stop()

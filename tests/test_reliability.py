"""No event lost: broker outages and a SIGKILLed kiosk, with a real mosquitto and a subscriber that
holds a persistent session (clean_session=False, QoS 1), as a dashboard's recorder would."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from kiosk.messages.broker import free_port
from kiosk.messages.outbox import Outbox
from kiosk.pipeline import Kiosk
from tests.conftest import DEMO_CLIP, ROOT, new_broker
from tests.test_pipeline import demo_cfg


class Recorder:
    """Persistent-session subscriber: messages published while it is away are kept by the broker."""

    def __init__(self, port: int, topic: str) -> None:
        self.port = port
        self.topic = topic
        self.events: list[dict] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="recorder", clean_session=False)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_message = lambda c, u, m: self.events.append(json.loads(m.payload))
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect_async("127.0.0.1", port, keepalive=5)
        self.client.loop_start()

    def wait_count(self, ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not ids <= {e["id"] for e in self.events}:
            time.sleep(0.1)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def report(name: str, sent: list[str], received: list[dict]) -> None:
    got = [e["id"] for e in received]
    print(f"\n{name}: sent {len(sent)}, received {len(set(got))} distinct, "
          f"{len(got) - len(set(got))} duplicates, missing {len(set(sent) - set(got))}")


@pytest.fixture
def mosq(tmp_path):
    b = new_broker(tmp_path / "broker")
    yield b
    b.stop()


def test_outbox_bounds_and_order(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", max_rows=3, max_age_s=100)
    ids = [box.put("t", f"m{i}".encode(), 1, now=1000 + i)[0] for i in range(5)]
    assert [r.payload for r in box.pending()] == [b"m2", b"m3", b"m4"]  # the oldest were dropped
    assert box.dropped_total() == 2
    box.ack(ids[3])
    assert [r.payload for r in box.pending()] == [b"m2", b"m4"]
    _, dropped = box.put("t", b"late", 1, now=1200)  # 100 s max age: m2 and m4 are too old now
    assert dropped == 2 and [r.payload for r in box.pending()] == [b"late"]
    box.close()
    reopened = Outbox(tmp_path / "o.sqlite")
    assert [r.payload for r in reopened.pending()] == [b"late"] and reopened.dropped_total() == 4
    mode = sqlite3.connect(tmp_path / "o.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_broker_stops_for_10_s_while_deciding(mosq, factory, tmp_path):
    mosq.start()
    rec = Recorder(mosq.port, "maskgate/it/events")
    time.sleep(0.5)
    cfg = demo_cfg(mosq.port, tmp_path)
    cfg.camera.on_end = "reopen"  # loop the clip: decisions keep coming
    cfg.camera.reopen_min_s = 0.05
    cfg.camera.fps = 40.0
    cfg.mqtt.keepalive = 5
    kiosk = Kiosk(cfg, pin_factory=factory)
    t = threading.Thread(target=kiosk.run, kwargs={"max_seconds": 24})
    t.start()
    time.sleep(4)
    before = len(kiosk.summary.decisions)
    mosq.stop()  # a clean broker stop: it saves its state (the recorder's queue) and goes away
    time.sleep(10)
    during = len(kiosk.summary.decisions) - before
    mosq.start()
    t.join()
    sent = [e["id"] for e in kiosk.summary.decisions]
    rec.wait_count(set(sent), timeout=20)
    rec.stop()
    report("broker down 10 s", sent, rec.events)
    assert during >= 2, "the kiosk must keep deciding while the broker is down"
    got = [e["id"] for e in rec.events]
    assert set(sent) <= set(got)
    # in order: the first arrival of each id follows the order they were decided in
    first_seen = list(dict.fromkeys(got))
    assert [i for i in first_seen if i in set(sent)] == sent
    assert len(Outbox(tmp_path / "state" / "outbox.sqlite")) == 0


def write_config(path, port: int, state: str, extra: str = "") -> None:
    path.write_text(f"""
[kiosk]
id = "it"
state_dir = "{state}"
[camera]
source = "{DEMO_CLIP}"
fps = 40.0
on_end = "reopen"
reopen_min_s = 0.05
[gpio]
backend = "mock"
[decision]
open_seconds = 0.5
max_open_seconds = 1.0
cooldown_seconds = 1.0
[mqtt]
port = {port}
keepalive = 5
{extra}
""")


def decided_ids(log: str) -> list[str]:
    return [line.rsplit("id=", 1)[1].strip() for line in log.splitlines() if "decision: " in line and "id=" in line]


def test_sigkill_with_events_pending_then_restart(tmp_path):
    port = free_port()
    broker = new_broker(tmp_path / "broker", port=port)
    cfg = tmp_path / "k.toml"
    write_config(cfg, port, str(tmp_path / "state"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # 1st run: no broker, so every event stays pending; then SIGKILL (no chance to clean up)
    log1 = open(tmp_path / "run1.log", "w+")
    p = subprocess.Popen([sys.executable, "-m", "kiosk", "run", "--config", str(cfg)], cwd=ROOT, env=env,
                         stdout=log1, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and len(decided_ids(open(tmp_path / "run1.log").read())) < 3:
        time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    sent = decided_ids(open(tmp_path / "run1.log").read())
    assert len(sent) >= 3
    pending = [json.loads(r.payload)["id"] for r in Outbox(tmp_path / "state" / "outbox.sqlite").pending()]
    assert pending == sent  # every decision was on disk before it was published
    # broker up, recorder subscribed, kiosk restarted: the backlog goes out first, in order
    broker.start()
    try:
        rec = Recorder(port, "maskgate/it/events")
        time.sleep(0.5)
        p2 = subprocess.Popen([sys.executable, "-m", "kiosk", "run", "--config", str(cfg)], cwd=ROOT, env=env,
                              stdout=open(tmp_path / "run2.log", "w"), stderr=subprocess.STDOUT)
        rec.wait_count(set(sent), timeout=30)
        p2.send_signal(signal.SIGTERM)
        assert p2.wait(20) == 0
        rec.stop()
        got = [e["id"] for e in rec.events]
        report("SIGKILL + restart", sent, rec.events)
        assert set(sent) <= set(got)
        assert got[: len(sent)] == sent
        assert "events from before the restart are waiting" in open(tmp_path / "run2.log").read()
    finally:
        broker.stop()


def test_broker_unreachable_at_start_events_arrive_later(tmp_path, factory):
    port = free_port()
    broker = new_broker(tmp_path / "broker", port=port)
    # The recorder's persistent session exists before the outage (the broker saves it on stop).
    broker.start()
    rec = Recorder(port, "maskgate/it/events")
    time.sleep(0.5)
    broker.stop()
    try:
        cfg = demo_cfg(port, tmp_path)
        cfg.mqtt.keepalive = 5
        cfg.camera.on_end = "reopen"  # a daemon keeps running; the clip loops
        cfg.camera.reopen_min_s = 0.05
        kiosk = Kiosk(cfg, pin_factory=factory)
        t = threading.Thread(target=kiosk.run, kwargs={"max_seconds": 20})
        t.start()
        time.sleep(5)
        early = [e["id"] for e in kiosk.summary.decisions]
        relay_levels = [int(bool(s.state)) for s in factory.pin(cfg.gpio.relay_pin).states]
        broker.start()
        t.join()
        sent = [e["id"] for e in kiosk.summary.decisions]
        rec.wait_count(set(sent), timeout=30)
        report("broker down at start", sent, rec.events)
        assert len(early) >= 1 and 1 in relay_levels  # the gate worked with no broker
        got = [e["id"] for e in rec.events]
        assert set(sent) <= set(got)
        assert [i for i in dict.fromkeys(got) if i in set(sent)] == sent
    finally:
        rec.stop()
        broker.stop()

"""MQTT against a real mosquitto: availability, retained state, events, broker outages."""

from __future__ import annotations

import json
import logging
import subprocess
import time

import pytest

from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.messages.broker import free_port
from kiosk.messages.mqtt import MqttPublisher, read_secret
from tests.conftest import new_broker

MODEL = {"name": "test-model", "sha256": "ab" * 32}


def make_cfg(port: int, kiosk_id: str = "k1") -> Config:
    cfg = Config()
    cfg.kiosk.id = kiosk_id
    cfg.mqtt.port = port
    cfg.mqtt.keepalive = 5
    return cfg


def wait_connected(pub: MqttPublisher, timeout: float = 10.0) -> None:
    assert pub.connected.wait(timeout), "publisher did not connect"


def test_availability_state_events_and_stop(broker, subscriber_factory):
    cfg = make_cfg(broker.port)
    pub = MqttPublisher(cfg, MODEL)
    pub.start()
    wait_connected(pub)
    pub.publish_state({"gate": "closed", "faults": []})
    pub.publish_event({"id": "e1", "decision": "deny"})
    time.sleep(0.3)
    # A subscriber arriving later gets the retained availability and state, not the event.
    sub = subscriber_factory(broker.port, ["maskgate/k1/#"])
    avail = sub.wait_for(lambda m: m.topic == "maskgate/k1/availability")
    assert avail.payload == b"online" and avail.retain
    state = sub.wait_for(lambda m: m.topic == "maskgate/k1/state")
    assert state.retain and json.loads(state.payload) == {"faults": [], "gate": "closed"}
    pub.publish_event({"id": "e2", "decision": "open"})
    ev = sub.wait_for(lambda m: m.topic == "maskgate/k1/events")
    assert json.loads(ev.payload) == {"id": "e2", "decision": "open"} and ev.qos == 1 and not ev.retain
    assert [json.loads(m.payload)["id"] for m in sub.topic("maskgate/k1/events")] == ["e2"]
    pub.stop()
    off = sub.wait_for(lambda m: m.topic == "maskgate/k1/availability" and m.payload == b"offline")
    assert off.payload == b"offline"


def test_last_will_marks_a_killed_kiosk_offline(broker, subscriber_factory, tmp_path):
    script = tmp_path / "pub.py"
    script.write_text(
        "import sys, time\n"
        "from kiosk.config import Config\n"
        "from kiosk.messages.mqtt import MqttPublisher\n"
        "cfg = Config(); cfg.kiosk.id = 'willy'; cfg.mqtt.port = int(sys.argv[1])\n"
        "p = MqttPublisher(cfg, {'name': 'm', 'sha256': 'x'}); p.start(); p.connected.wait(10)\n"
        "print('up', flush=True); time.sleep(60)\n")
    import os
    import sys

    from tests.conftest import ROOT

    proc = subprocess.Popen([sys.executable, str(script), str(broker.port)], stdout=subprocess.PIPE,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout.readline().strip() == b"up"
        sub = subscriber_factory(broker.port, ["maskgate/willy/availability"])
        sub.wait_for(lambda m: m.payload == b"online")
        proc.kill()
        off = sub.wait_for(lambda m: m.payload == b"offline", timeout=10)
        assert off.retain or off.payload == b"offline"
    finally:
        proc.kill()
        proc.wait()


# Home Assistant discovery (device message, migration, re-sending): tests/test_mqtt_homeassistant.py


def test_broker_down_at_start_events_arrive_when_it_comes_up(tmp_path, subscriber_factory):
    port = free_port()
    broker = new_broker(tmp_path / "m", port=port)
    cfg = make_cfg(port, "late")
    pub = MqttPublisher(cfg, MODEL)
    pub.start()  # nothing listens yet: must not raise or block
    for i in range(5):
        pub.publish_event({"id": f"e{i}"})
    pub.publish_state({"gate": "closed"})
    assert not pub.connected.is_set()
    broker.start()
    try:
        sub = subscriber_factory(port, ["maskgate/late/#"])
        wait_connected(pub, timeout=40)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(sub.topic("maskgate/late/events")) < 5:
            time.sleep(0.05)
        assert [json.loads(m.payload)["id"] for m in sub.topic("maskgate/late/events")] == [f"e{i}" for i in range(5)]
        state = sub.wait_for(lambda m: m.topic == "maskgate/late/state")
        assert json.loads(state.payload) == {"gate": "closed"}
        pub.stop()
    finally:
        broker.stop()


def test_password_file_is_used_and_never_logged(tmp_path, subscriber_factory, caplog):
    import shutil

    if not shutil.which("mosquitto_passwd"):
        pytest.skip("mosquitto_passwd not installed")
    secret = "s3cr3t-Pa55word"
    pwfile = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pwfile), "kiosk", secret], check=True)
    broker = new_broker(tmp_path / "m", extra_conf=f"password_file {pwfile}\n").start()
    # allow_anonymous true stays in the base conf, so check the password is really used: a wrong one fails.
    try:
        (tmp_path / "pw").write_text(secret + "\n")
        cfg = make_cfg(broker.port, "pw")
        cfg.mqtt.username = "kiosk"
        cfg.mqtt.password_file = str(tmp_path / "pw")
        caplog.set_level(logging.DEBUG)
        pub = MqttPublisher(cfg, MODEL)
        pub.start()
        wait_connected(pub)
        pub.stop()
        (tmp_path / "bad").write_text("wrong\n")
        cfg.mqtt.password_file = str(tmp_path / "bad")
        bad = MqttPublisher(cfg, MODEL)
        bad.start()
        time.sleep(1.5)
        assert not bad.connected.is_set()
        bad.stop()
        assert secret not in caplog.text
    finally:
        broker.stop()


def test_password_sources(tmp_path, monkeypatch):
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "mqtt").write_text("from-credential\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    assert read_secret("credential:mqtt", lambda p: tmp_path / p) == "from-credential"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(KioskError, match="needs \\$CREDENTIALS_DIRECTORY"):
        read_secret("credential:mqtt", lambda p: tmp_path / p)
    with pytest.raises(KioskError, match="mqtt.password_file': cannot read .*nope"):
        read_secret("nope", lambda p: tmp_path / p)


def test_tls_missing_ca_file_is_refused(tmp_path):
    cfg = make_cfg(8883)
    cfg.base_dir = tmp_path
    cfg.mqtt.tls = True
    cfg.mqtt.ca_file = "ca.pem"
    with pytest.raises(KioskError, match="mqtt.ca_file': file not found: .*ca.pem"):
        MqttPublisher(cfg, MODEL)


# -- nothing that is not an error is logged as one ----------------------------------------------------
def errors(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


def test_clean_stops_log_no_error(broker, caplog):
    # paho's loop ran once more after our disconnect now and then (1 stop in ~10 here) and logged
    # "Client is not connected" at ERROR: many stops, so that the race shows if it comes back.
    caplog.set_level(logging.DEBUG)
    for i in range(15):
        pub = MqttPublisher(make_cfg(broker.port, f"stop{i}"), MODEL)
        pub.start()
        wait_connected(pub)
        pub.publish_event({"id": f"e{i}"})
        pub.stop()
    assert sum(r.getMessage() == "mqtt: connected" for r in caplog.records) == 15
    assert errors(caplog) == []


def test_a_broker_outage_is_a_warning_not_an_error(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    broker = new_broker(tmp_path / "m").start()
    pub = MqttPublisher(make_cfg(broker.port, "away"), MODEL)
    try:
        pub.start()
        wait_connected(pub)
        broker.stop()
        deadline = time.monotonic() + 10
        while pub.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2.5)  # reconnect attempts against the closed port
        broker.start()
        wait_connected(pub, 40)
    finally:
        pub.stop()
        broker.stop()
    assert any(r.levelno == logging.WARNING and r.getMessage().startswith("mqtt: disconnected")
               for r in caplog.records)
    assert errors(caplog) == []


def test_paho_lines_demoted_only_when_they_say_the_connection_is_down(caplog):
    from kiosk.messages.mqtt_client import PahoLog, new_client

    caplog.set_level(logging.DEBUG, logger="kiosk.paho")
    client = new_client(make_cfg(1), "never-connected")
    client.loop(timeout=0)  # paho's own loop on a client without a socket: its "not connected" line
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "kiosk.paho"]
    assert said and all(lvl == logging.DEBUG for lvl, _ in said), said
    assert any(msg.startswith("Client is not connected") for _, msg in said)
    caplog.clear()
    PahoLog(logging.getLogger("kiosk.paho"), {}).log(logging.ERROR, "Caught exception in on_message: %s", "boom")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, "Caught exception in on_message: boom")]

"""Home Assistant discovery, issue 34: the migration sent once (remembered in the state folder across
reconnects and restarts), the diagnostic sensors and what their templates make of the kiosk's real
payloads, the CPU temperature where there is one and where there is none.

Real mosquitto; the value templates are rendered with Jinja2 (Home Assistant's template engine) in its
sandbox, against the state and stats the kiosk really published."""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack

import paho.mqtt.client as mqtt
import pytest

from kiosk.messages import discovery
from kiosk.messages.discovery import (
    DECISIONS,
    MIGRATE,
    RETIRED,
    device_payload,
    device_topic,
    legacy_topics,
    migration_keys,
)
from kiosk.messages.ha_migration import FILE_NAME, MigrationRecord
from kiosk.messages.mqtt import MqttPublisher
from kiosk.parts import build_outputs
from kiosk.pipeline import Kiosk
from kiosk.stats import Stats, cpu_temperature
from tests.conftest import new_broker
from tests.test_mqtt import MODEL, make_cfg
from tests.test_mqtt_homeassistant import ha_schema_problems
from tests.test_pipeline import demo_cfg
from tests.waiting import wait_until


class Tally:
    """What a Home Assistant subscribed to homeassistant/# receives, counted the way its log would be:
    migration messages, emptied old topics, device messages (with or without the Mode removal)."""

    def __init__(self, sub, cfg) -> None:
        self.sub, self.old, self.device = sub, set(legacy_topics(cfg)), device_topic(cfg)

    def migrations(self) -> int:
        return sum(1 for m in self.sub.all if m.topic in self.old and m.payload and json.loads(m.payload) == MIGRATE)

    def emptied(self) -> int:
        return sum(1 for m in self.sub.all if m.topic in self.old and m.payload == b"")

    def devices(self) -> list[dict]:
        return [json.loads(m.payload) for m in self.sub.all if m.topic == self.device and not m.retain]


def test_migration_is_sent_once_over_a_reconnect_and_two_starts(tmp_path, subscriber_factory, caplog):
    caplog.set_level(logging.INFO)
    broker = new_broker(tmp_path / "m").start()
    cfg = make_cfg(broker.port)
    cfg.kiosk.state_dir = str(tmp_path / "state")
    record = tmp_path / "state" / FILE_NAME
    n = len(legacy_topics(cfg))
    sub = subscriber_factory(broker.port, ["homeassistant/#"], client_id="ha")
    seen = Tally(sub, cfg)
    stack = ExitStack()
    try:
        # first start, through the kiosk's own wiring (outbox and record in the state folder)
        pub = build_outputs(cfg, MODEL, stack)[0]
        pub.start()
        wait_until(lambda: seen.emptied() == n and record.exists(), 10, "the whole migration, acknowledged")
        assert seen.migrations() == n and [d["cmps"]["mode"] for d in seen.devices()] == [{"p": "sensor"}]
        assert sorted(json.loads(record.read_text())["done"]) == sorted(migration_keys(cfg))
        # a reconnect: another client takes the kiosk's client id, so the broker drops the kiosk, which
        # reconnects (Home Assistant's subscriber stays connected and sees every message live)
        intruder = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"maskgate-{cfg.kiosk.id}")
        intruder.connect("127.0.0.1", broker.port)
        intruder.loop_start()
        wait_until(lambda: not pub.connected.is_set(), 10, "the kiosk to be dropped")
        intruder.disconnect()
        intruder.loop_stop()
        wait_until(lambda: len(seen.devices()) == 2, 40, "the device message after the reconnect")
        # second start: a new process would read the same file
        stack.close()
        pub = build_outputs(cfg, MODEL, stack)[0]
        pub.start()
        wait_until(lambda: len(seen.devices()) == 3, 10, "the device message after the restart")
        time.sleep(0.5)
        assert seen.migrations() == n and seen.emptied() == n  # still the first start's, nothing more
        assert all("mode" not in d["cmps"] for d in seen.devices()[1:])
        assert all(ha_schema_problems(d) == [] for d in seen.devices())
        stack.close()
        # the count can fail: a kiosk that forgot (its state folder lost) migrates again
        record.unlink()
        pub = build_outputs(cfg, MODEL, stack)[0]
        pub.start()
        wait_until(lambda: seen.migrations() == 2 * n, 10, "the migration of a kiosk without its record")
    finally:
        stack.close()
        broker.stop()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "ha-discovery" in r.getMessage()]


def test_not_done_until_acknowledged(tmp_path):
    # the broker never answers (nothing listens): nothing may be recorded as done
    cfg = make_cfg(1)
    pub = MqttPublisher(cfg, MODEL, migrations=MigrationRecord(tmp_path / FILE_NAME))
    pub._publish_discovery(legacy=True)
    assert len(pub._unacked) == len(legacy_topics(cfg)) * 2 + 1
    pub.stop()
    assert not (tmp_path / FILE_NAME).exists()
    assert MigrationRecord(tmp_path / FILE_NAME).pending(["a"]) == ["a"]


@pytest.mark.parametrize("content", [b"", b"not json", b'{"done": "all"}', b'{"done": [1, 2]}', b"[1]",
                                     b'{"done": ["' + b"x" * 400 + b'"]}', b"\xff\xfe", b"[" * 100_000,
                                     b'{"done": []}' + b" " * 70_000])
def test_a_damaged_record_means_migrate_again(tmp_path, content, caplog):
    path = tmp_path / FILE_NAME
    path.write_bytes(content)
    keys = migration_keys(make_cfg(1))
    assert MigrationRecord(path).pending(keys) == keys
    assert "damaged" in caplog.text or content == b'{"done": []}'


def test_record_round_trip_and_a_write_that_fails(tmp_path, caplog):
    path = tmp_path / "state" / FILE_NAME
    MigrationRecord(path).mark(["b", "a"])
    assert MigrationRecord(path).pending(["a", "c", "b"]) == ["c"]
    (tmp_path / "file").write_text("x")
    broken = MigrationRecord(tmp_path / "file" / FILE_NAME)  # its folder is a file: cannot be written
    broken.mark(["a"])
    assert broken.pending(["a", "b"]) == ["b"]  # remembered for this run all the same
    assert "cannot write" in caplog.text


# -- the entities ----------------------------------------------------------------------------------
def test_diagnostic_and_enum_entities(monkeypatch):
    cfg = make_cfg(1)
    cfg.mqtt.stats_interval = 30.0
    payload = device_payload(cfg, MODEL)
    c = payload["cmps"]
    assert ha_schema_problems(payload) == []
    diagnostic = {k for k, v in c.items() if v.get("entity_category") == "diagnostic"}
    assert diagnostic == {"fault", "model", "fps", "latency", "outbox"} | (
        {"cpu_temperature"} if cpu_temperature() is not None else set())
    assert c["last_decision"]["device_class"] == "enum" and c["last_decision"]["options"] == list(DECISIONS)
    assert "mode" not in c and "mode" in RETIRED
    for key in ("fps", "latency", "outbox"):
        assert c[key]["state_topic"] == "maskgate/k1/stats" and c[key]["state_class"] == "measurement"
        assert c[key]["expire_after"] == 90  # three stats intervals
    assert (c["latency"]["device_class"], c["latency"]["unit_of_measurement"]) == ("duration", "ms")
    # a Pi: the temperature sensor; elsewhere: removed, never an entity without a value
    monkeypatch.setattr(discovery, "cpu_temperature", lambda: 51.2)
    t = device_payload(cfg, MODEL)["cmps"]["cpu_temperature"]
    assert (t["device_class"], t["unit_of_measurement"], t["state_topic"]) == ("temperature", "°C", "maskgate/k1/stats")
    monkeypatch.setattr(discovery, "cpu_temperature", lambda: None)
    assert device_payload(cfg, MODEL)["cmps"]["cpu_temperature"] == {"p": "sensor"}


def test_cpu_temperature_reading(tmp_path):
    zone = tmp_path / "temp"
    zone.write_text("48312\n")
    assert cpu_temperature(zone) == 48.3
    assert Stats(thermal_zone=zone).summary()["cpu_temp_c"] == 48.3
    for bad in ("", "hot\n", "4.8e4", "99999999\n", "1" * 100):
        zone.write_text(bad)
        assert cpu_temperature(zone) is None, bad
    assert cpu_temperature(tmp_path / "absent") is None
    assert cpu_temperature(tmp_path) is None  # a folder, not a file
    assert Stats(thermal_zone=tmp_path / "absent").summary()["cpu_temp_c"] is None


def render(template: str, payload: bytes) -> str:
    """A value template as Home Assistant renders it: Jinja2's sandbox, the message as value_json."""
    jinja2 = pytest.importorskip("jinja2.sandbox")
    env = jinja2.ImmutableSandboxedEnvironment()
    return env.from_string(template).render(value_json=json.loads(payload), value=payload.decode()).strip()


def test_templates_against_what_the_kiosk_published(broker, subscriber_factory, factory, tmp_path, monkeypatch):
    monkeypatch.setattr(discovery, "cpu_temperature", lambda: 50.0)  # announce it: its value is unknown here
    sub = subscriber_factory(broker.port, ["maskgate/it/#", "homeassistant/device/#"])
    cfg = demo_cfg(broker.port, tmp_path)
    summary = Kiosk(cfg, pin_factory=factory).run(max_seconds=60)
    assert summary.exit_reason == "end of stream"
    time.sleep(0.5)
    device = json.loads(sub.topic(device_topic(cfg))[-1].payload)
    states, stats = sub.topic("maskgate/it/state"), sub.topic("maskgate/it/stats")
    assert states and len(stats) >= 3
    values: dict[str, list[str]] = {}
    for key, c in device["cmps"].items():
        if c["p"] not in ("sensor", "binary_sensor") or set(c) == {"p"}:  # a removal (the Mode sensor)
            continue
        topic = c.get("state_topic", device["state_topic"])
        values[key] = [render(c["value_template"], m.payload) for m in sub.topic(topic)]
        if c.get("device_class") == "enum":
            assert set(values[key]) <= set(c["options"]), key
        if c.get("json_attributes_template"):
            for m in sub.topic(c["json_attributes_topic"]):
                assert isinstance(json.loads(render(c["json_attributes_template"], m.payload)), dict)
    assert {"deny", "open"} <= set(values["last_decision"]) and values["last_decision"][0] == "none"
    assert set(values["model"]) == {json.loads(states[0].payload)["model"]["name"]}
    fps = [float(v) for v in values["fps"]]
    latency = [float(v) for v in values["latency"]]
    assert max(fps) > 5 and all(v >= 0 for v in fps)
    assert all(0 < v < 5000 for v in latency)  # every stats message after the first frame
    assert all(v.isdigit() for v in values["outbox"])
    # no thermal zone in this test's payloads (a CI machine's own may exist): "None" = unknown in HA
    for m, v in zip(stats, values["cpu_temperature"]):
        t = json.loads(m.payload)["cpu_temp_c"]
        assert v == ("None" if t is None else str(t))
    assert set(values["fault"]) <= {"ON", "OFF"} and set(values["gate"]) == {"ON", "OFF"}

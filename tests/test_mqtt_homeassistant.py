"""Home Assistant over a real mosquitto (issue 14): the device discovery message and its schema rules,
the migration from the per-entity topics, re-sending on `homeassistant/status`, the decision event
entity, and the command path that trusts the broker's ACL instead of an HMAC.

Home Assistant core itself is not installed here (it is far too large for this machine and its CI):
the payloads are checked against the rules of Home Assistant's MQTT documentation instead
(`ha_schema_problems`)."""

from __future__ import annotations

import json
import queue
import re
import shutil
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.door.decision import Decision, FaceVerdict, Outcome, Reason
from kiosk.errors import KioskError
from kiosk.events import build_event, manual_event
from kiosk.messages.discovery import (
    EVENT_TYPES,
    MIGRATE,
    command_topic,
    device_payload,
    device_topic,
    discovery_messages,
    event_topic,
    legacy_topics,
    migration_keys,
)
from kiosk.messages.homeassistant import event_type, parse_command
from kiosk.messages.mqtt import DISCOVERY_RESEND_MIN_S, MqttPublisher
from kiosk.pipeline import Kiosk
from kiosk.stats import cpu_temperature
from tests.conftest import new_broker
from tests.test_mqtt_fuzz import NASTY
from tests.test_pipeline import demo_cfg
from tests.waiting import wait_until

MODEL = {"name": "test-model", "sha256": "ab" * 32}
# Platforms and the options each needs, from Home Assistant's MQTT integration pages.
REQUIRED = {"binary_sensor": {"state_topic"}, "sensor": {"state_topic"}, "event": {"state_topic", "event_types"},
            "button": {"command_topic"}, "select": {"command_topic", "options"},
            "image": {"image_topic"}}
UNIQUE_ID = re.compile(r"^[a-z0-9_]+$")


from tests.test_mqtt import make_cfg  # noqa: E402


def ha_schema_problems(payload: dict) -> list[str]:
    """The rules of Home Assistant's device-based discovery that this payload must meet."""
    problems = []
    dev, origin, cmps = payload.get("dev"), payload.get("o"), payload.get("cmps")
    if not isinstance(dev, dict) or not dev.get("identifiers"):
        problems.append("dev needs identifiers")
    if not isinstance(origin, dict) or not origin.get("name"):
        problems.append("o needs a name")
    if not isinstance(cmps, dict) or not cmps:
        return problems + ["cmps needs components"]
    for topic_key in ("availability_topic", "state_topic"):
        if not isinstance(payload.get(topic_key), str) or set("#+") & set(payload[topic_key]):
            problems.append(f"{topic_key} must be a topic without wildcards")
    if payload.get("qos") not in (0, 1, 2):
        problems.append("qos")
    seen = set()
    for key, c in cmps.items():
        p = c.get("p")
        if p not in REQUIRED:
            problems.append(f"{key}: platform {p!r}")
            continue
        if set(c) == {"p"}:
            continue  # a removal
        if "object_id" in c:
            problems.append(f"{key}: object_id no longer works (Home Assistant 2026.4)")
        uid = c.get("unique_id")
        if not isinstance(uid, str) or not UNIQUE_ID.match(uid) or uid in seen:
            problems.append(f"{key}: unique_id {uid!r} (required, unique)")
        seen.add(uid)
        if c.get("default_entity_id", "").split(".")[0] != p:
            problems.append(f"{key}: default_entity_id must start with its platform")
        inherited = {"state_topic"} if "state_topic" in payload else set()
        missing = REQUIRED[p] - set(c) - (inherited if p in ("binary_sensor", "sensor", "select") else set())
        if missing:
            problems.append(f"{key}: missing {sorted(missing)}")
        if p == "event" and (not c["event_types"] or not all(isinstance(t, str) for t in c["event_types"])):
            problems.append(f"{key}: event_types must be a non-empty list of strings")
        if p in ("select",) or c.get("device_class") == "enum":
            if not c.get("options") or not all(isinstance(o, str) for o in c["options"]):
                problems.append(f"{key}: options must be a non-empty list of strings")
        if c.get("device_class") == "enum" and ("state_class" in c or "unit_of_measurement" in c):
            problems.append(f"{key}: an enum sensor has no state_class or unit")
        if c.get("entity_category", "diagnostic") != "diagnostic" and not (c["entity_category"] == "config" and p in ("button", "select")):
            problems.append(f"{key}: entity_category {c['entity_category']!r}")
    return problems


# -- the device message --------------------------------------------------------------------------
def test_device_message_exact_shape():
    cfg = make_cfg(1883, "door-2")
    payload = device_payload(cfg, MODEL)
    assert ha_schema_problems(payload) == []
    assert payload["dev"]["identifiers"] == ["maskgate_door_2"]
    assert payload["o"] == {"name": "maskgate", "sw": payload["dev"]["sw_version"]}  # no url unless configured
    assert payload["availability_topic"] == "maskgate/door-2/availability"
    assert (payload["payload_available"], payload["payload_not_available"]) == ("online", "offline")
    assert payload["state_topic"] == "maskgate/door-2/state"
    live = {k: c for k, c in payload["cmps"].items() if set(c) != {"p"}}
    assert {k: c["p"] for k, c in live.items()} == {
        "gate": "binary_sensor", "last_decision": "sensor", "fault": "binary_sensor", "opened": "sensor",
        "denied": "sensor", "denied_incorrect": "sensor", "denied_covered": "sensor", "manual": "sensor",
        "decision": "event", "model": "sensor", "fps": "sensor", "latency": "sensor", "outbox": "sensor",
        **({"cpu_temperature": "sensor"} if cpu_temperature() is not None else {})}
    for key, c in live.items():
        assert c["unique_id"] == f"maskgate_door_2_{key}"
        assert c["default_entity_id"] == f"{c['p']}.maskgate_door_2_{key}"
        assert "availability_topic" not in c  # shared, from the device level
    # commands and the face image are off by default: sent as removals
    assert {k: c for k, c in payload["cmps"].items() if set(c) == {"p"}} == {
        "open": {"p": "button"}, "set_mode": {"p": "select"}, "face": {"p": "image"},
        **({"cpu_temperature": {"p": "sensor"}} if cpu_temperature() is None else {})}
    assert live["decision"]["event_types"] == list(EVENT_TYPES)
    assert live["decision"]["state_topic"] == "maskgate/door-2/ha_event"
    # the entity ids of the per-entity version are kept (same unique ids, so history stays)
    assert {f"maskgate_door_2_{t.split('/')[3]}" for t in legacy_topics(cfg)} <= {c["unique_id"] for c in live.values()}


def test_device_message_with_commands_snapshots_and_url():
    cfg = make_cfg(1883)
    cfg.mqtt.username = "kiosk"
    cfg.commands.home_assistant = True
    cfg.snapshots.enabled = True
    cfg.mqtt.support_url = "https://example.org/maskgate"
    payload = device_payload(cfg, MODEL)
    assert ha_schema_problems(payload) == []
    assert payload["o"]["url"] == "https://example.org/maskgate"
    c = payload["cmps"]
    assert c["open"]["p"] == "button" and c["open"]["command_topic"] == "maskgate/k1/ha_command"
    assert c["open"]["payload_press"] == "open"
    assert c["set_mode"]["options"] == ["auto", "locked"] and c["set_mode"]["command_topic"] == command_topic(cfg)
    assert c["face"]["p"] == "image" and c["face"]["image_topic"] == "maskgate/k1/ha_image"


def test_schema_check_can_fail():
    bad = device_payload(make_cfg(1883), MODEL)
    bad["cmps"]["gate"]["object_id"] = "gate"
    bad["cmps"]["decision"]["event_types"] = []
    bad["cmps"]["fault"]["unique_id"] = bad["cmps"]["gate"]["unique_id"]
    del bad["o"]
    problems = ha_schema_problems(bad)
    assert len(problems) == 4, problems


def test_home_assistant_commands_need_an_authenticated_broker():
    from kiosk.config import from_dict

    with pytest.raises(KioskError, match="commands.home_assistant': needs mqtt.enabled and an mqtt.username"):
        from_dict({"commands": {"home_assistant": True}})
    cfg = from_dict({"commands": {"home_assistant": True}, "mqtt": {"username": "kiosk"}})
    assert cfg.commands.home_assistant and not cfg.commands.enabled
    with pytest.raises(KioskError, match="mqtt.support_url"):
        from_dict({"mqtt": {"support_url": "not a url"}})


# -- against the broker ----------------------------------------------------------------------------
def legacy_payload(obj: str) -> bytes:
    """What an earlier kiosk left retained on its per-entity topics."""
    return json.dumps({"name": obj, "unique_id": f"maskgate_k1_{obj}", "state_topic": "maskgate/k1/state"}).encode()


def test_migration_sequence_then_only_the_device_message_is_retained(broker, subscriber_factory):
    cfg = make_cfg(broker.port)
    old = subscriber_factory(broker.port, ["maskgate/none"], client_id="old-kiosk")
    for t in legacy_topics(cfg):  # an earlier version's retained per-entity discovery
        old.client.publish(t, legacy_payload(t.split("/")[3]), qos=1, retain=True).wait_for_publish(5)
    sub = subscriber_factory(broker.port, ["homeassistant/#"], client_id="ha")
    wait_until(lambda: len(sub.all) == len(legacy_topics(cfg)), 5, "the old retained configs")
    before = len(sub.all)
    pub = MqttPublisher(cfg, MODEL)
    pub.start()
    try:
        expected = discovery_messages(cfg, MODEL, migration_keys(cfg))
        wait_until(lambda: len(sub.all) - before >= len(expected), 10, "the migration sequence")
        got = [(m.topic, m.payload, m.retain) for m in sub.all[before:]]
        # live messages (retain flag not set to a live subscriber), in exactly the order of the sequence
        assert [(t, p) for t, p, _ in got] == expected
        n = len(legacy_topics(cfg))
        assert [json.loads(p) for _, p, _ in got[:n]] == [MIGRATE] * n
        assert got[n][0] == device_topic(cfg) == "homeassistant/device/maskgate_k1/config"
        assert ha_schema_problems(json.loads(got[n][1])) == []
        assert [p for _, p, _ in got[n + 1:]] == [b""] * n
        # what a Home Assistant starting later finds: the device message only
        late = subscriber_factory(broker.port, ["homeassistant/#"], client_id="late-ha")
        late.wait_for(lambda m: m.topic == device_topic(cfg))
        time.sleep(0.3)
        assert [(m.topic, m.retain) for m in late.all] == [(device_topic(cfg), True)]
        assert json.loads(late.all[0].payload) == device_payload(cfg, MODEL, ["mode"])  # the Mode sensor removed
    finally:
        pub.stop()


def test_resent_once_when_home_assistant_comes_online(broker, subscriber_factory):
    cfg = make_cfg(broker.port)
    sub = subscriber_factory(broker.port, ["homeassistant/device/#"])
    pub = MqttPublisher(cfg, MODEL)
    pub.start()
    try:
        sub.wait_for(lambda m: m.topic == device_topic(cfg))
        time.sleep(0.2)
        assert len(sub.all) == 1
        sub.client.publish("homeassistant/status", "online", qos=1)
        wait_until(lambda: len(sub.all) == 2, 5, "discovery re-sent")
        # the first removed the retired Mode sensor; done (acknowledged), it is not repeated
        assert [json.loads(m.payload) for m in sub.all] == [device_payload(cfg, MODEL, ["mode"]), device_payload(cfg, MODEL)]
        for payload in ("online", "offline", "online"):  # within DISCOVERY_RESEND_MIN_S: no more
            sub.client.publish("homeassistant/status", payload, qos=1).wait_for_publish(5)
        time.sleep(0.5)
        assert len(sub.all) == 2 and DISCOVERY_RESEND_MIN_S >= 5
    finally:
        pub.stop()


FACE = FaceVerdict("no_mask", 0.97, 0.5, (10, 20, 100, 100))
KINDS = [  # (decision, the event type Home Assistant gets)
    (Decision(Outcome.OPEN, Reason.MASK, (FaceVerdict("mask", 0.99, 0.5, (1, 2, 3, 4)),), track=3), "open"),
    (Decision(Outcome.DENY, Reason.NO_MASK, (FACE,), track=4), "no_mask"),
    (Decision(Outcome.DENY, Reason.INCORRECT, (FaceVerdict("incorrect", 0.8, 0.5, (5, 6, 7, 8)),), track=5), "incorrect"),
    (Decision(Outcome.DENY, Reason.COVERED, (FaceVerdict("covered", 0.7, 0.5, (5, 6, 7, 8)),), track=6), "covered"),
    (Decision(Outcome.DENY, Reason.LOCKED, (FaceVerdict("mask", 0.99, 0.5, (1, 2, 3, 4)),), track=7), "locked"),
    (None, "manual"),
    (None, "remote"),
]


def test_each_decision_kind_fires_the_event_entity(broker, subscriber_factory):
    cfg = make_cfg(broker.port)
    sub = subscriber_factory(broker.port, ["maskgate/k1/ha_event", "maskgate/k1/events"])
    pub = MqttPublisher(cfg, MODEL)
    pub.start()
    assert pub.connected.wait(10)
    events = []
    for decision, _ in KINDS:
        if decision is None:
            reason = Reason.MANUAL if len(events) == 5 else Reason.REMOTE
            events.append(manual_event("k1", MODEL, reason))
        else:
            events.append(build_event(decision, "k1", MODEL, 12.5))
        pub.publish_event(events[-1])
    try:
        wait_until(lambda: len(sub.topic(event_topic(cfg))) == len(KINDS), 5, "one event per decision")
        got = sub.topic(event_topic(cfg))
        assert not any(m.retain for m in got) and all(m.qos == 1 for m in got)
        payloads = [json.loads(m.payload) for m in got]
        assert [p["event_type"] for p in payloads] == [t for _, t in KINDS]
        assert set(p["event_type"] for p in payloads) == set(EVENT_TYPES)  # every type is reachable
        for p, e in zip(payloads, events):
            want = {"event_type": event_type(e), "id": e["id"], "ts": e["ts"], "decision": e["decision"],
                    "reason": e["reason"], "faces": e["faces"], "model": "test-model"}
            if "track" in e:
                want["track"] = e["track"]
            assert p == want
        assert payloads[1]["track"] == 4 and payloads[1]["faces"] == [{"label": "no_mask", "score": 0.97,
                                                                      "box": [10, 20, 100, 100]}]
        # the durable record is unchanged beside it
        assert [json.loads(m.payload)["id"] for m in sub.topic("maskgate/k1/events")] == [e["id"] for e in events]
    finally:
        pub.stop()


def test_no_event_entity_messages_without_discovery_or_while_away(broker, subscriber_factory):
    cfg = make_cfg(broker.port)
    cfg.mqtt.discovery = False
    sub = subscriber_factory(broker.port, ["maskgate/k1/#", "homeassistant/#"])
    pub = MqttPublisher(cfg, MODEL)
    pub.start()
    assert pub.connected.wait(10)
    pub.publish_event(build_event(*KINDS[1][:1], "k1", MODEL, 1.0))
    sub.wait_for(lambda m: m.topic == "maskgate/k1/events")
    time.sleep(0.3)
    pub.stop()
    assert not sub.topic(event_topic(cfg)) and not [m for m in sub.all if m.topic.startswith("homeassistant/")]


# -- Home Assistant's commands: the parser ---------------------------------------------------------
def test_parse_command_accepts_exactly_three_payloads():
    assert parse_command(b"open", False).command == {"command": "open"}
    assert parse_command(b"auto", False).command == {"command": "mode", "mode": "auto"}
    assert parse_command(b"locked", False).command == {"command": "mode", "mode": "locked"}
    assert parse_command(b"open", True).reason == "retained"
    for bad in (b"", b"OPEN", b"open ", b"open\x00", b'"open"', b"PRESS", b"unlocked"):
        verdict = parse_command(bad, False)
        assert not verdict.accepted and verdict.reason == "malformed: not one of open, auto, locked", bad
    assert parse_command(b"o" * 10_000, False).reason.startswith("malformed: too large (10000 bytes")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.text(max_size=100).map(str.encode) | st.sampled_from(NASTY))
def test_parse_command_refuses_everything_else_with_one_short_line(payload):
    verdict = parse_command(payload, False)
    assert verdict.accepted == (payload in (b"open", b"auto", b"locked"))
    assert verdict.reason and "\n" not in verdict.reason and len(verdict.reason) <= 80


def test_the_topic_is_not_listened_to_when_the_mode_is_off(broker, subscriber_factory):
    calls: list[tuple] = []
    for on in (False, True):
        cfg = make_cfg(broker.port)
        cfg.commands.home_assistant = on
        cfg.commands.home_assistant_accept_open_broker = on  # an anonymous test broker: open, and accepted
        pub = MqttPublisher(cfg, MODEL)
        pub.subscribe(lambda payload, retained, channel="signed": calls.append((payload, channel)))
        pub.start()
        assert pub.connected.wait(10)
        sub = subscriber_factory(broker.port, ["maskgate/none"], client_id=f"sender-{on}")
        time.sleep(0.3)
        sub.client.publish(command_topic(cfg), b"open", qos=1).wait_for_publish(5)
        time.sleep(0.5)
        pub.stop()
        if not on:
            assert calls == []  # off: never subscribed
    assert calls == [(b"open", "home_assistant")]


# -- the whole path through a broker with passwords and an ACL ----------------------------------------
ACL = """\
# the kiosk: its own topics, its discovery (and its old per-entity topics, for the migration), HA's status
user kiosk
topic readwrite maskgate/it/#
topic write homeassistant/device/maskgate_it/config
topic write homeassistant/+/maskgate_it/+/config
topic read homeassistant/status

# Home Assistant: reads the kiosks, writes only their ha_command topics and its own status
user homeassistant
topic read maskgate/#
topic write maskgate/+/ha_command
topic readwrite homeassistant/#

# anyone else (a dashboard): read only
user dash
topic read maskgate/#

# the test's own observer
user monitor
topic read #
"""


class AuthClient:
    """A paho client with a user name, collecting what it receives."""

    def __init__(self, port: int, user: str, password: str, topics: list[str]) -> None:
        self.got: "queue.Queue[mqtt.MQTTMessage]" = queue.Queue()
        self.all: list[mqtt.MQTTMessage] = []
        ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{user}")
        self.client.username_pw_set(user, password)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics]) if topics else ready.set()
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = lambda c, u, m: self.all.append(m)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert ready.wait(5), f"{user} did not connect"

    def send(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def topic(self, name: str) -> list:
        return [m for m in self.all if m.topic == name]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def acl_broker(tmp_path):
    if not shutil.which("mosquitto_passwd"):
        pytest.skip("mosquitto_passwd not installed")
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "kiosk", "kiosk-pass"], check=True)
    for user in ("homeassistant", "dash", "monitor"):
        subprocess.run(["mosquitto_passwd", "-b", str(pw), user, f"{user}-pass"], check=True)
    (tmp_path / "acl").write_text(ACL)
    b = new_broker(tmp_path / "m", allow_anonymous=False,
                   extra_conf=f"password_file {pw}\nacl_file {tmp_path / 'acl'}\n")
    b.start()
    yield b
    b.stop()


def test_home_assistant_opens_the_gate_and_others_are_refused_by_the_broker(acl_broker, factory, tmp_path):
    port = acl_broker.port
    cfg = demo_cfg(port, tmp_path)
    cfg.camera.on_end = "reopen"  # decisions keep coming, all denials while locked
    cfg.camera.reopen_min_s = 0.05
    cfg.mqtt.username = "kiosk"
    (tmp_path / "pw").write_text("kiosk-pass\n")
    cfg.mqtt.password_file = str(tmp_path / "pw")
    cfg.commands.home_assistant = True  # and no HMAC secret at all: commands.enabled stays false
    topic = command_topic(cfg)
    # what the broker lets through, to anyone
    watch = AuthClient(port, "monitor", "monitor-pass", [topic, "maskgate/it/command_result", "maskgate/it/ha_event",
                                                      "maskgate/it/state", "homeassistant/#"])
    ha = AuthClient(port, "homeassistant", "homeassistant-pass", [])
    dash = AuthClient(port, "dash", "dash-pass", [])
    # A retained command is an old one: the broker hands it over when the kiosk subscribes; refused.
    ha.send(topic, b"open", retain=True)
    kiosk = Kiosk(cfg, pin_factory=factory)
    kiosk.mode = "locked"
    relay = factory.pin(cfg.gpio.relay_pin)
    levels = lambda: [int(bool(s.state)) for s in relay.states]  # noqa: E731
    results = lambda: [json.loads(m.payload) for m in watch.topic("maskgate/it/command_result")]  # noqa: E731
    t = threading.Thread(target=kiosk.run, kwargs={"max_seconds": 90})
    t.start()
    try:
        wait_until(lambda: kiosk.publisher.connected.is_set(), 10, "the kiosk to connect")
        wait_until(lambda: watch.topic(device_topic(cfg)), 5, "the device message")
        device = json.loads(watch.topic(device_topic(cfg))[-1].payload)
        assert device["cmps"]["open"]["command_topic"] == topic and ha_schema_problems(device) == []
        # the documented ACL is enough for the whole migration sequence
        wait_until(lambda: all(len(watch.topic(t)) == 2 for t in legacy_topics(cfg)), 5, "migrate, then empty")
        wait_until(lambda: results(), 5, "the retained command's answer")
        assert [(r["accepted"], r["reason"], r["channel"]) for r in results()] == [(False, "retained", "home_assistant")]
        ha.send(topic, b"", retain=True)  # cleared
        # (an empty payload clears it; subscribed clients get that empty payload too, and refuse it)
        wait_until(lambda: len(results()) == 2, 5, "the empty payload's answer")
        assert results()[1]["reason"] == "malformed: not one of open, auto, locked"
        assert len(watch.topic(topic)) == 2  # the watcher saw Home Assistant's two messages
        # another user: the broker drops its publish (MQTT 3.1.1 acknowledges it all the same)
        for payload in (b"open", b"auto", b"open"):
            dash.send(topic, payload)
        time.sleep(1.0)
        assert len(watch.topic(topic)) == 2 and len(results()) == 2 and levels() == [0]
        # Home Assistant's button: delivered, accepted, answered, the gate opens
        ha.send(topic, b"open")
        wait_until(lambda: 1 in levels(), 5, "the gate to open on Home Assistant's button")
        wait_until(lambda: len(results()) == 3, 5, "the answer")
        assert [(r["command"], r["accepted"], r["reason"], r["channel"]) for r in results()[2:]] == [
            ("open", True, "ok", "home_assistant")]
        fired = wait_until(lambda: [json.loads(m.payload) for m in watch.topic("maskgate/it/ha_event")
                                    if json.loads(m.payload)["event_type"] == "remote"], 5, "a remote event")
        assert fired[0]["reason"] == "remote"
        # Home Assistant's select: the mode changes and the state topic says so
        ha.send(topic, b"auto")
        wait_until(lambda: kiosk.mode == "auto", 5, "mode auto")
        wait_until(lambda: any(json.loads(m.payload).get("mode") == "auto"
                               for m in watch.topic("maskgate/it/state")), 5, "the state in mode auto")
        ha.send(topic, b"locked")
        wait_until(lambda: kiosk.mode == "locked", 5, "mode locked")
        wait_until(lambda: len(results()) == 5, 5, "the select's two answers")
        assert [(r["command"], r["accepted"]) for r in results()[3:]] == [("mode", True), ("mode", True)]
        # fuzzing the guarded topic as Home Assistant's user: every payload refused, nothing opens
        opened_before = levels().count(1)
        n_before = len(results())

        @settings(max_examples=150, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(st.binary(max_size=2000).filter(lambda b: b not in (b"open", b"auto", b"locked"))
               | st.sampled_from(NASTY))
        def fuzz(payload: bytes) -> None:
            ha.send(topic, payload)
            sent.append(payload)

        sent: list[bytes] = []
        fuzz()
        wait_until(lambda: kiosk.stats.counters["commands_refused"] == len(sent) + 2, 30,
                   f"{len(sent) + 2} refusals counted (the retained one, the empty one and the fuzzed)")
        assert levels().count(1) == opened_before and kiosk.mode == "locked"
        refused = results()[n_before:]
        assert refused and not any(r["accepted"] for r in refused)
        assert all("\n" not in r["reason"] and len(r["reason"]) <= 80 for r in refused)
        assert t.is_alive() and kiosk.publisher.replaced == 0 and not kiosk.faults
    finally:
        kiosk.stop_event.set()
        t.join(30)
        for c in (watch, ha, dash):
            c.stop()
    assert kiosk.summary.exit_reason == "stopped"
    assert levels()[-1] == 0


def test_dashboard_card_names_only_entities_the_kiosk_announces():
    from tests.conftest import ROOT

    text = (ROOT / "docs" / "home-assistant-card.yaml").read_text()
    named = re.findall(r"^\s*-?\s*(?:entity|entity_id): ([a-z_]+\.[a-z0-9_]+)\s*$", text, re.M)
    cfg = make_cfg(1883, "kiosk1")
    cfg.mqtt.username = "kiosk"
    cfg.commands.home_assistant = True
    announced = {c["default_entity_id"] for c in device_payload(cfg, MODEL)["cmps"].values() if "p" in c and len(c) > 1}
    assert len(named) >= 10 and "event.maskgate_kiosk1_decision" in named
    assert set(named) <= announced, set(named) - announced
    assert "\t" not in text  # YAML does not allow tabs for indentation


def test_with_snapshots_the_image_entity_gets_each_deciding_face(broker, subscriber_factory, factory, tmp_path):
    import cv2
    import numpy as np

    cfg = demo_cfg(broker.port, tmp_path)
    cfg.snapshots.enabled = True
    sub = subscriber_factory(broker.port, ["maskgate/it/#", "homeassistant/device/#"])
    kiosk = Kiosk(cfg, pin_factory=factory)
    summary = kiosk.run(max_seconds=60)
    time.sleep(0.5)
    device = json.loads(sub.topic(device_topic(cfg))[-1].payload)
    assert device["cmps"]["face"]["image_topic"] == "maskgate/it/ha_image"
    images = sub.topic("maskgate/it/ha_image")
    decided = [e for e in summary.decisions if e["faces"]]
    assert len(decided) >= 4 and len(images) == len(decided)
    assert not any(m.retain for m in images)  # the broker keeps no face
    stored = sorted((tmp_path / "state" / "snapshots").glob("*.jpg"))
    assert len(stored) >= len(decided)
    for m, e in zip(images, decided):
        img = cv2.imdecode(np.frombuffer(m.payload, np.uint8), cv2.IMREAD_COLOR)
        box = e["faces"][0]["box"]
        assert img is not None and min(img.shape[:2]) >= box[2] * 0.9  # the face with its margin, not a thumbnail

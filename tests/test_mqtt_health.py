"""A dead or stuck paho network thread is noticed and healed, against a real mosquitto (issue 17).

The thread is killed the way the hostile payload of issue 17 killed it: a message handler raises and
paho's own safety net (suppress_exceptions) is off, so the exception ends paho's network thread.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from kiosk.errors import RuntimeFault
from kiosk.messages.commands import sign
from kiosk.messages.mqtt import MqttPublisher
from kiosk.messages.outbox import Outbox
from kiosk.pipeline import Kiosk
from tests.test_commands import SECRET, body
from tests.test_mqtt import MODEL, make_cfg, wait_connected
from tests.test_pipeline import demo_cfg
from tests.waiting import publish_until, wait_until


def kill_network_thread(pub: MqttPublisher, publish_command) -> None:
    """Make the current client's next message end its network thread, as RecursionError did."""
    client = pub.client

    def boom(*_args) -> None:
        raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")

    client.suppress_exceptions = False
    client.on_message = boom
    publish_until(lambda: publish_command(b"[" * 64), lambda: not pub._thread.is_alive())  # noqa: SLF001
    assert not pub._thread.is_alive(), "the handler did not end the network thread"  # noqa: SLF001


def event_ids(sub, topic: str) -> list[str]:
    return list(dict.fromkeys(json.loads(m.payload)["id"] for m in sub.topic(topic)))


@pytest.fixture
def publisher(broker, tmp_path):
    pubs: list[MqttPublisher] = []

    def make(**kw) -> MqttPublisher:
        pub = MqttPublisher(make_cfg(broker.port), MODEL, Outbox(tmp_path / f"o{len(pubs)}.sqlite"), **kw)
        pub.on_command = lambda payload, retained: None  # subscribes to the command topic
        pubs.append(pub)
        return pub

    yield make
    for p in pubs:
        if p._running:  # noqa: SLF001
            p.stop()


def test_dead_network_thread_is_replaced_and_nothing_is_lost(broker, subscriber_factory, publisher):
    received: list[bytes] = []
    pub = publisher()
    pub.on_command = lambda payload, retained: received.append(payload)
    sub = subscriber_factory(broker.port, ["maskgate/k1/#"])
    pub.start()
    wait_connected(pub)
    old = pub.client
    kill_network_thread(pub, lambda p: sub.client.publish("maskgate/k1/command", p, qos=1))
    for i in range(5):
        pub.publish_event({"id": f"e{i}"})
    time.sleep(1.0)
    # the failure of issue 17: nothing reads from the broker, so no PUBACK ever empties the outbox
    assert len(pub.outbox) == 5 and pub.connected.is_set()
    assert pub.health() == "network thread ended"
    assert pub.client is not old and pub.replaced == 1 and pub.last_fault == "network thread ended"
    wait_until(lambda: len(pub.outbox) == 0, 10, "the outbox to drain through the new client")
    assert pub.health() is None and pub.fault is None
    assert event_ids(sub, "maskgate/k1/events") == [f"e{i}" for i in range(5)]  # all, in order
    # the new client reads again: a command arrives
    publish_until(lambda: sub.client.publish("maskgate/k1/command", b"after", qos=1), lambda: b"after" in received)
    assert b"after" in received  # the new client reads commands
    avail = [m.payload for m in sub.topic("maskgate/k1/availability")]
    assert avail[-1] == b"online"
    status = pub.status()
    assert status["connected"] and status["replaced"] == 1 and status["outbox"] == 0 and status["fault"] is None


def test_stuck_network_thread_is_replaced(broker, subscriber_factory, publisher):
    entered, release = threading.Event(), threading.Event()
    pub = publisher(ack_timeout_s=1.0)
    pub.on_command = lambda payload, retained: entered.set() or release.wait(30)  # a handler that hangs
    sub = subscriber_factory(broker.port, ["maskgate/k1/events"])
    pub.start()
    wait_connected(pub)
    old, old_thread = pub.client, pub._thread  # noqa: SLF001
    publish_until(lambda: sub.client.publish("maskgate/k1/command", b"block", qos=1), entered.is_set)
    pub.publish_event({"id": "s1"})
    assert pub.health() is None  # not yet: a PUBACK may take a moment
    problem = wait_until(pub.health, 10, "the stuck client to be noticed")
    assert problem.startswith("no PUBACK for ") and "network thread stuck" in problem
    assert pub.client is not old and old_thread.is_alive()  # replaced without waiting on the stuck thread
    wait_until(lambda: len(pub.outbox) == 0, 10, "the outbox to drain through the new client")
    assert "s1" in event_ids(sub, "maskgate/k1/events")
    release.set()
    old_thread.join(10)
    assert not old_thread.is_alive()  # the old client ends once its callback returns; it does not reconnect
    assert pub.health() is None


def test_a_second_failure_soon_after_exits(broker, subscriber_factory, publisher):
    pub = publisher()
    sub = subscriber_factory(broker.port, ["maskgate/k1/#"])
    pub.start()
    wait_connected(pub)
    send = lambda p: sub.client.publish("maskgate/k1/command", p, qos=1)  # noqa: E731
    kill_network_thread(pub, send)
    assert pub.health() == "network thread ended"
    wait_connected(pub)
    time.sleep(0.3)  # subscribed again
    kill_network_thread(pub, send)
    with pytest.raises(RuntimeFault, match=r"mqtt: network thread ended, again \d+ s after the client was replaced"):
        pub.health()
    t0 = time.monotonic()
    pub.stop()
    assert time.monotonic() - t0 < 10


def test_stop_does_not_hang_on_a_stuck_thread(broker, subscriber_factory, publisher):
    release = threading.Event()
    pub = publisher()
    sub = subscriber_factory(broker.port, ["maskgate/k1/#"])
    pub.start()
    wait_connected(pub)
    entered = threading.Event()
    pub.on_command = lambda payload, retained: entered.set() or release.wait(60)
    publish_until(lambda: sub.client.publish("maskgate/k1/command", b"block", qos=1), entered.is_set)
    t0 = time.monotonic()
    pub.stop()
    assert time.monotonic() - t0 < 15
    release.set()


def test_a_stale_qos0_id_never_acknowledges_an_event(tmp_path, broker, publisher):
    """paho reports QoS 0 messages as published too; their ids once stayed behind as 'early acks' and,
    after the 16-bit ids wrapped, acknowledged an event the broker never got (deleted from the outbox)."""
    pub = publisher()
    pub.start()
    wait_connected(pub)
    mid = pub.client._last_mid + 1  # noqa: SLF001 - the id the next message gets
    pub.publish_stats({"fps": 1})
    time.sleep(0.3)
    broker.stop()  # from here on no PUBACK can come
    wait_until(lambda: not pub.connected.is_set(), 10, "the client to notice the broker is gone")
    pub.client._last_mid = mid - 1  # noqa: SLF001 - the ids wrapped: the next event gets the stats' id
    pub.publish_event({"id": "must-stay"})
    assert [json.loads(r.payload)["id"] for r in pub.outbox.pending()] == ["must-stay"]


def test_kiosk_reports_the_mqtt_fault_and_recovers(broker, subscriber_factory, factory, tmp_path):
    (tmp_path / "secret").write_text(SECRET.decode())
    cfg = demo_cfg(broker.port, tmp_path)
    cfg.commands.enabled = True
    cfg.commands.secret_file = str(tmp_path / "secret")
    cfg.camera.source = str(tmp_path / "no-camera.mp4")  # the gate can only open on a command
    cfg.camera.on_end = "reopen"
    sub = subscriber_factory(broker.port, ["maskgate/it/#"])
    kiosk = Kiosk(cfg, pin_factory=factory)
    t = threading.Thread(target=kiosk.run, kwargs={"max_seconds": 60})
    t.start()
    try:
        assert kiosk.publisher.connected.wait(10)
        time.sleep(0.3)
        kill_network_thread(kiosk.publisher, lambda p: sub.client.publish("maskgate/it/command", p, qos=1))
        states = lambda: [json.loads(m.payload) for m in sub.topic("maskgate/it/state")]  # noqa: E731
        faulty = wait_until(lambda: next((s for s in states() if "mqtt" in s["faults"]), None), 10,
                            "a state with the mqtt fault")
        assert faulty["mqtt_fault"] == "network thread ended" and faulty["gate"] == "closed"
        wait_until(lambda: "mqtt" not in states()[-1]["faults"] and states()[-1]["mqtt_fault"] is None
                   and kiosk.publisher.connected.is_set(), 10, "the fault to clear")
        stats = wait_until(lambda: next((json.loads(m.payload) for m in sub.topic("maskgate/it/stats")
                                         if json.loads(m.payload)["counters"]["mqtt_restarts"]), None), 10,
                           "stats counting the restart")
        assert stats["mqtt"]["replaced"] == 1 and stats["mqtt"]["last_fault"] == "network thread ended"
        time.sleep(0.3)  # the new client has subscribed to the command topic
        sub.client.publish("maskgate/it/command", sign(SECRET, body(ts=time.time(), nonce="after-fault")), qos=1)
        result = wait_until(lambda: [json.loads(m.payload) for m in sub.topic("maskgate/it/command_result")], 10,
                            "the command's result")
        assert result[-1]["accepted"] and result[-1]["reason"] == "ok"
        wait_until(lambda: any(json.loads(m.payload)["reason"] == "remote"
                               for m in sub.topic("maskgate/it/events")), 10, "the remote opening's event")
    finally:
        kiosk.stop_event.set()
        t.join(30)
    assert [int(bool(s.state)) for s in factory.pin(cfg.gpio.relay_pin).states] == [0, 1, 0]
    assert len(Outbox(tmp_path / "state" / "outbox.sqlite")) == 0


def test_kiosk_exits_with_the_gate_closed_when_replacing_does_not_help(broker, subscriber_factory, factory,
                                                                        tmp_path):
    (tmp_path / "secret").write_text(SECRET.decode())
    cfg = demo_cfg(broker.port, tmp_path)
    cfg.commands.enabled = True
    cfg.commands.secret_file = str(tmp_path / "secret")
    cfg.camera.on_end = "reopen"
    sub = subscriber_factory(broker.port, ["maskgate/it/#"])
    kiosk = Kiosk(cfg, pin_factory=factory)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            kiosk.run(max_seconds=60)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    send = lambda p: sub.client.publish("maskgate/it/command", p, qos=1)  # noqa: E731
    try:
        assert kiosk.publisher.connected.wait(10)
        time.sleep(0.3)
        kill_network_thread(kiosk.publisher, send)
        wait_until(lambda: kiosk.publisher.replaced == 1 and kiosk.publisher.connected.is_set(), 10,
                   "the first replacement")
        time.sleep(0.3)
        kill_network_thread(kiosk.publisher, send)
        t.join(20)
    finally:
        kiosk.stop_event.set()
        t.join(30)
    assert len(errors) == 1 and isinstance(errors[0], RuntimeFault), errors
    assert errors[0].exit_code == 1 and "again" in str(errors[0])
    assert kiosk.summary.exit_reason == "error"
    assert not factory.pin(cfg.gpio.relay_pin).states[-1].state  # the relay de-energised on the way out


def test_a_handler_that_raises_is_answered_and_the_thread_lives(broker, subscriber_factory, publisher):
    calls: list[bytes] = []

    def handler(payload: bytes, retained: bool) -> None:
        calls.append(payload)
        if payload == b"bug":
            raise ValueError("a bug in a handler")

    pub = publisher()
    pub.on_command = handler
    sub = subscriber_factory(broker.port, ["maskgate/k1/command_result"])
    pub.start()
    wait_connected(pub)
    thread = pub._thread  # noqa: SLF001
    publish_until(lambda: sub.client.publish("maskgate/k1/command", b"bug", qos=1), lambda: b"bug" in calls)
    result = json.loads(sub.wait_for(lambda m: True).payload)
    assert (result["accepted"], result["reason"], result["command"]) == (False, "internal error: ValueError", None)
    sub.client.publish("maskgate/k1/command", b"next", qos=1)
    wait_until(lambda: b"next" in calls, 5, "the next command")
    assert thread.is_alive() and pub.health() is None and pub.replaced == 0

"""Every part releases with `close()`, any number of times, and says so with `closed` (issue 16).

The relay's own release (Gate.shutdown, since Gate.close shuts the gate) is tested in test_gate.py."""

from __future__ import annotations

import json
import threading

import pytest
from gpiozero import OutputDevice

from kiosk.capture.camera import CameraSupervisor, OpenCVCamera
from kiosk.config import Config
from kiosk.door.gate import StaffButton
from kiosk.door.lights import Indicator
from kiosk.messages.mqtt import MqttPublisher
from kiosk.messages.outbox import Outbox
from tests.conftest import DEMO_CLIP
from tests.test_mqtt import MODEL, make_cfg
from tests.test_parts import open_files_under


def test_outbox_closes_twice_and_keeps_its_rows(tmp_path):
    path = tmp_path / "state" / "outbox.sqlite"
    with Outbox(path) as box:
        box.put("t", b"kept", 1)
        assert not box.closed
    assert box.closed and open_files_under(tmp_path) == []
    box.close()  # again, after the context manager's close
    box.close()
    assert box.closed
    with Outbox(path) as again:
        assert [r.payload for r in again.pending()] == [b"kept"]


def test_camera_supervisor_closes_twice_and_reads_nothing_after(tmp_path):
    cfg = Config().camera
    camera = OpenCVCamera(str(DEMO_CLIP), 640, 480, 10.0, finite=True)
    with CameraSupervisor(camera, cfg) as sup:
        assert sup.read() is not None and not sup.closed
    assert sup.closed and camera._cap is None  # noqa: SLF001 - the capture is released
    sup.close()
    assert sup.read() is None and camera._cap is None  # noqa: SLF001 - not reopened after the end
    sup.close()
    assert sup.closed and sup.failures == 0


def test_light_and_button_close_twice_with_closed_and_context_manager(factory):
    for kind in ("pair", "rgb", "none"):
        with Indicator(kind, red=22, green=27, blue=24, buzzer_pin=23, pin_factory=factory) as ind:
            ind.show("open")
            assert not ind.closed
        assert ind.closed
        ind.close()
        ind.show("deny")  # a late pattern after the release: ignored
        for pin in (22, 27, 24, 23):  # every pin given back
            OutputDevice(pin, pin_factory=factory).close()
    with StaffButton(26, lambda: None, pin_factory=factory) as btn:
        assert not btn.closed
    assert btn.closed
    btn.close()
    OutputDevice(26, pin_factory=factory).close()


def test_mqtt_publisher_closes_twice_and_publishes_nothing_after(broker, subscriber_factory, tmp_path):
    sub = subscriber_factory(broker.port, ["maskgate/k1/#"])
    outbox = Outbox(tmp_path / "state" / "outbox.sqlite")
    with MqttPublisher(make_cfg(broker.port), MODEL, outbox) as pub:
        pub.start()
        assert pub.connected.wait(10)
        pub.publish_event({"id": "before-close"})
        assert not pub.closed
    assert pub.closed and outbox.closed
    sub.wait_for(lambda m: m.topic == "maskgate/k1/availability" and m.payload == b"offline")
    pub.close()
    pub.stop()  # the older name, after close
    # a late event, state or command result (the gate's timer, a command's thread) is dropped quietly
    pub.publish_event({"id": "after-close"})
    pub.publish_state({"gate": "closed"})
    pub.publish_command_result({"id": "x"})
    assert pub.health() is None and not pub._thread.is_alive()  # noqa: SLF001
    events = [json.loads(m.payload)["id"] for m in sub.topic("maskgate/k1/events")]
    assert events == ["before-close"]
    assert open_files_under(tmp_path / "state") == []


def test_mqtt_publisher_never_started_closes_twice(tmp_path):
    pub = MqttPublisher(make_cfg(1), MODEL, Outbox(tmp_path / "outbox.sqlite"))
    closer = threading.Thread(target=pub.close)  # from another thread, as a signal handler's path would
    closer.start()
    closer.join(10)
    assert not closer.is_alive() and pub.closed
    pub.close()
    assert open_files_under(tmp_path) == []


@pytest.mark.parametrize("twice", ["close", "shutdown"])
def test_kiosk_closes_twice(factory, tmp_path, twice):
    from kiosk.pipeline import Kiosk
    from tests.test_pipeline import demo_cfg

    kiosk = Kiosk(demo_cfg(None, tmp_path), pin_factory=factory)
    with kiosk:
        assert not kiosk.closed
    assert kiosk.closed and kiosk.supervisor.closed and kiosk.indicator.closed and kiosk.gate.released
    getattr(kiosk, twice)()  # shutdown: the older name (tools/eval/soak.py)
    assert kiosk.closed

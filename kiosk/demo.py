"""The embedded default: the real daemon on the bundled demo clip, mock GPIO, a local broker if any.

Needs no camera, no GPIO and no broker. Prints decisions, pin changes and the MQTT messages a
subscriber receives, then a summary.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import threading
from pathlib import Path

import cv2
import paho.mqtt.client as mqtt

from .capture.camera import DEMO_CLIP
from .config import Config
from .errors import KioskError
from .messages.broker import Mosquitto

log = logging.getLogger("kiosk.demo")


def demo_config(state_dir: Path, port: int | None, loop: bool = False) -> Config:
    """The demo's config: the bundled clip at its own frame rate (played again and again with `loop`),
    mock GPIO, MQTT on `port` (None: off)."""
    cfg = Config()
    cfg.kiosk.id = "demo"
    cfg.kiosk.state_dir = str(state_dir)
    cfg.camera.source = "demo"
    cfg.camera.on_end = "reopen" if loop else "exit"
    cap = cv2.VideoCapture(str(DEMO_CLIP))
    fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0
    cap.release()
    cfg.camera.fps = float(fps) if fps and fps > 0 else 10.0
    cfg.gpio.backend = "mock"
    cfg.gpio.led = "pair"
    cfg.decision.open_seconds = 2.0
    cfg.decision.deny_seconds = 1.5
    cfg.mqtt.enabled = port is not None
    cfg.mqtt.port = port or 1883
    cfg.mqtt.stats_interval = 5.0
    cfg.web.enabled = True  # the visitor screen, on this machine only
    cfg.web.port = DEMO_WEB_PORT if _port_free(DEMO_WEB_PORT) else 0
    return cfg


def _discovery_line(text: str) -> str:
    """A discovery message in a few words: the device message, a migration notice, or a removal."""
    if not text:
        return "(deleted)"
    payload = json.loads(text)
    if "cmps" in payload:
        live = [k for k, c in payload["cmps"].items() if len(c) > 1]
        return f"(device discovery: {payload['dev']['name']}, {len(live)} entities)"
    return "(migrate_discovery)" if payload.get("migrate_discovery") else f"(discovery for {payload.get('name', '?')})"


DEMO_WEB_PORT = 8080


def _stop_on_signals(kiosk) -> None:  # noqa: ANN001
    """Ctrl-C and SIGTERM end a looping demo through the kiosk's own stop, so the summary still comes."""
    import signal

    def handler(signum, frame):  # noqa: ANN001
        kiosk.stop_event.set()

    if threading.current_thread() is threading.main_thread():  # signal handlers can only be set there
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class _Printer:
    """A plain MQTT subscriber that prints what a dashboard would receive."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="maskgate-demo-viewer")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([("maskgate/#", 1), ("homeassistant/#", 1)])
        self.client.on_message = self._on_message
        self.ready = threading.Event()
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.ready.wait(5)

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        self.received.append((msg.topic, msg.payload))
        text = msg.payload.decode(errors="replace")
        if msg.topic.endswith("/config"):
            text = _discovery_line(text)
        elif len(text) > 300:
            text = text[:300] + "..."
        print(f"  mqtt {msg.topic}{' [retained]' if msg.retain else ''}: {text}", flush=True)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run_demo(max_seconds: float | None = 120.0, use_broker: bool = True, loop: bool = False) -> int:
    """Run the demo and print its summary; 0 when it made at least one open and one deny. `loop`: the
    clip plays again and again (a showroom stand) until Ctrl-C, SIGTERM or `max_seconds` (None: no limit)."""
    from .pipeline import Kiosk

    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s.%(msecs)03d %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("kiosk.paho").setLevel(logging.WARNING)
    if not DEMO_CLIP.is_file():
        raise KioskError(f"demo clip missing: {DEMO_CLIP}")
    broker = Mosquitto() if use_broker else None
    port = None
    if broker is not None and broker.available:
        try:
            broker.start()
            port = broker.port
            print(f"demo: local mosquitto on 127.0.0.1:{port}")
        except (OSError, RuntimeError) as exc:
            print(f"demo: could not start mosquitto ({exc}); running without MQTT")
    else:
        print("demo: no mosquitto installed (apt-get install mosquitto); running without MQTT")
    printer = _Printer(port) if port else None
    try:
        with tempfile.TemporaryDirectory(prefix="maskgate-demo-") as state:
            cfg = demo_config(Path(state), port, loop)
            kiosk = Kiosk(cfg)
            if loop:
                _stop_on_signals(kiosk)
                print("demo: the clip plays in a loop; Ctrl-C stops", flush=True)
            web = next((o for o in kiosk.outputs if o.name == "web"), None)
            if web is not None:
                print(f"demo: visitor screen at {web.url} (also /status, /healthz, /metrics, /events; the camera with what the kiosk sees: {web.url}live)", flush=True)
            relay = kiosk.gate._relay.pin  # noqa: SLF001 - the demo shows the real pin timeline
            summary = kiosk.run(max_seconds=max_seconds)
            if printer is not None:
                threading.Event().wait(0.5)  # let the last messages arrive
    finally:
        if printer is not None:
            printer.stop()
        if broker is not None:
            broker.cleanup()
    events = [p for t, p in printer.received if t.endswith("/events")] if printer else []
    print("\n=== demo summary ===")
    print(f"frames processed : {summary.frames} in {summary.seconds:.1f} s ({summary.exit_reason})")
    print(f"faces classified : {summary.faces}")
    print(f"decisions        : {summary.count('open')} open, {summary.count('deny')} deny")
    for e in summary.decisions:
        faces = ", ".join(f"{f['label']} {f['score']:.2f}" for f in e["faces"])
        print(f"   {e['ts']}  {e['decision']:<5} {e['reason']:<9} {faces}")
    timeline = [int(bool(s.state)) for s in getattr(relay, "states", [])]
    print(f"relay pin        : {relay.info.name if hasattr(relay, 'info') else relay} levels {timeline}")
    if printer is not None:
        print(f"mqtt             : {len(printer.received)} messages received, {len(events)} events")
    else:
        print("mqtt             : not used")
    ok = summary.count("open") >= 1 and summary.count("deny") >= 1
    if not ok:
        print("demo: expected at least one open and one deny", file=sys.stderr)
    return 0 if ok else 1

"""MQTT publishing with paho-mqtt 2.x: availability, state, events, stats and Home Assistant discovery.

Topics, under <prefix>/<kiosk id>/:
  availability  retained "online"/"offline"; also the last will
  state         retained JSON: gate, last decision, faults, counters
  events        one JSON per decision, QoS 1
  stats         JSON every stats_interval, QoS 0

paho reconnects by itself (connect_async + loop_start) and keeps QoS 1 messages published while the
broker is away, so the kiosk never waits on the network: the frame loop only hands messages over.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Callable, Protocol

import paho.mqtt.client as mqtt

from . import __version__
from .config import Config
from .errors import KioskError
from .events import utc_now_iso
from .outbox import Outbox, Row

log = logging.getLogger("kiosk.mqtt")


class Publisher(Protocol):
    def start(self) -> None: ...
    def publish_event(self, event: dict[str, Any]) -> None: ...
    def publish_state(self, state: dict[str, Any]) -> None: ...
    def publish_stats(self, stats: dict[str, Any]) -> None: ...
    def publish_command_result(self, result: dict[str, Any]) -> None: ...
    def stop(self) -> None: ...


class NullPublisher:
    """Used when mqtt.enabled is false: decisions are only logged."""

    def start(self) -> None:
        pass

    def publish_event(self, event: dict[str, Any]) -> None:
        pass

    def publish_state(self, state: dict[str, Any]) -> None:
        pass

    def publish_stats(self, stats: dict[str, Any]) -> None:
        pass

    def publish_command_result(self, result: dict[str, Any]) -> None:
        pass

    def stop(self) -> None:
        pass


def read_secret(spec: str, resolve, key: str = "mqtt.password_file") -> str:
    """A secret from a file, or from a systemd credential ('credential:NAME'). Never logged."""
    if spec.startswith("credential:"):
        base = os.environ.get("CREDENTIALS_DIRECTORY")
        if not base:
            raise KioskError(f"config key '{key}': {spec} needs $CREDENTIALS_DIRECTORY "
                             "(LoadCredential= in the unit)")
        path = Path(base) / spec.split(":", 1)[1]
    else:
        path = resolve(spec)
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise KioskError(f"config key '{key}': cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise KioskError(f"config key '{key}': {path} is not UTF-8 text") from None



class MqttPublisher:
    def __init__(self, cfg: Config, model: dict[str, str], outbox: Outbox | None = None) -> None:
        m = cfg.mqtt
        self.cfg = cfg
        self.outbox = outbox
        # PUBACK bookkeeping: paho message id -> outbox row. A PUBACK can arrive (network thread)
        # before publish() has returned the mid to us; such early acks wait in _early_acks.
        self._mid_rows: dict[int, int | None] = {}
        self._early_acks: set[int] = set()
        self._ack_lock = threading.Lock()
        self.acked = 0
        # Set by the pipeline when remote commands are enabled; called from paho's network thread.
        self.on_command: Callable[[bytes], None] | None = None
        self.base = f"{m.prefix}/{cfg.kiosk.id}"
        self.model = model
        self._last_state: str | None = None
        self._lock = threading.Lock()
        self.connected = threading.Event()
        client_id = m.client_id or f"maskgate-{cfg.kiosk.id}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv311, clean_session=True)
        self.client.enable_logger(logging.getLogger("kiosk.paho"))
        self.client.max_queued_messages_set(10000)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.will_set(f"{self.base}/availability", "offline", qos=1, retain=True)
        if m.username:
            password = read_secret(m.password_file, cfg.resolve) if m.password_file else None
            self.client.username_pw_set(m.username, password)
        if m.tls:
            for key in ("ca_file", "cert_file", "key_file"):
                val = getattr(m, key)
                if val and not cfg.resolve(val).is_file():
                    raise KioskError(f"config key 'mqtt.{key}': file not found: {cfg.resolve(val)}")
            try:
                self.client.tls_set(
                    ca_certs=str(cfg.resolve(m.ca_file)) if m.ca_file else None,
                    certfile=str(cfg.resolve(m.cert_file)) if m.cert_file else None,
                    keyfile=str(cfg.resolve(m.key_file)) if m.key_file else None,
                    cert_reqs=ssl.CERT_REQUIRED,
                )
            except (ssl.SSLError, OSError) as exc:
                raise KioskError(f"config key 'mqtt.ca_file': cannot load TLS files: {exc}") from None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        m = self.cfg.mqtt
        try:
            self.client.connect_async(m.host, m.port, keepalive=m.keepalive)
        except (ValueError, OSError) as exc:
            raise KioskError(f"config key 'mqtt.host': {m.host}:{m.port}: {exc}") from None
        self.client.loop_start()
        if self.outbox is not None:
            backlog = self.outbox.pending()
            if backlog:
                log.info("mqtt: %d events from before the restart are waiting for the broker", len(backlog))
            for row in backlog:  # oldest first; paho keeps them in order until the broker acks
                self._send(row)
        log.info("mqtt: connecting to %s:%d as %s (topics under %s/)", m.host, m.port,
                 m.username or "anonymous", self.base)

    def stop(self) -> None:
        if self.connected.is_set():
            self._wait_for_acks(2.0)
            info = self.client.publish(f"{self.base}/availability", "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)  # connected: this one does complete
            except (RuntimeError, ValueError):
                pass
        self.connected.clear()
        self.client.disconnect()
        self.client.loop_stop()
        if self.outbox is not None:
            self.outbox.close()

    # -- callbacks (paho's network thread) -------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.warning("mqtt: connection refused: %s", reason_code)
            return
        log.info("mqtt: connected")
        self.connected.set()
        self._publish(f"{self.base}/availability", "online", 1, True)
        if self.on_command is not None:
            client.subscribe(f"{self.base}/command", qos=1)
        if self.cfg.mqtt.discovery:
            client.subscribe(f"{self.cfg.mqtt.discovery_prefix}/status", qos=1)
            self._publish_discovery()
        with self._lock:
            state = self._last_state
        if state is not None:
            self._publish(f"{self.base}/state", state, 1, True)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if self.connected.is_set():
            log.warning("mqtt: disconnected (%s); reconnecting in the background", reason_code)
        self.connected.clear()

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        if msg.topic == f"{self.base}/command":
            if self.on_command is not None and not msg.retain:  # a retained command is a stale one
                self.on_command(msg.payload)
            return
        if msg.topic == f"{self.cfg.mqtt.discovery_prefix}/status" and msg.payload == b"online":
            log.info("mqtt: Home Assistant is back; re-sending discovery")
            self._publish_discovery()
            with self._lock:
                state = self._last_state
            if state is not None:
                self._publish(f"{self.base}/state", state, 1, True)

    # -- publishing ----------------------------------------------------------------------------
    def publish_event(self, event: dict[str, Any]) -> None:
        topic = f"{self.base}/events"
        payload = json.dumps(event, separators=(",", ":")).encode()
        if self.outbox is None:
            self._publish(topic, payload, 1)
            return
        row_id, dropped = self.outbox.put(topic, payload, 1)
        self._send(Row(row_id, topic, payload, 1, 0.0))
        if dropped:
            log.warning("mqtt: outbox full, dropped the %d oldest unsent events", dropped)
            notice = {"ts": utc_now_iso(), "kiosk_id": self.cfg.kiosk.id, "dropped": dropped,
                      "dropped_total": self.outbox.dropped_total()}
            self._publish(f"{self.base}/dropped", json.dumps(notice), 1)

    def _send(self, row: Row) -> None:
        self._publish(row.topic, row.payload, row.qos, False, row.id)

    def _publish(self, topic: str, payload: str | bytes, qos: int, retain: bool = False,
                 row_id: int | None = None) -> None:
        """Every publish goes through here, so that every message id is known when its PUBACK comes."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0:
            return
        with self._ack_lock:
            if info.mid in self._early_acks:  # acked before we got here
                self._early_acks.discard(info.mid)
                if row_id is not None:
                    self._ack_row(row_id)
            else:
                self._mid_rows[info.mid] = row_id

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # noqa: ANN001
        # Called by paho's network thread with its message lock held: never publish from here.
        with self._ack_lock:
            if mid not in self._mid_rows:
                self._early_acks.add(mid)
                return
            row_id = self._mid_rows.pop(mid)
            if row_id is not None:
                self._ack_row(row_id)

    def _ack_row(self, row_id: int) -> None:
        if self.outbox is not None:
            self.outbox.ack(row_id)
        self.acked += 1

    def _wait_for_acks(self, timeout: float) -> None:
        """On a clean stop, give the broker a moment to acknowledge what is in flight (the rest stays
        in the outbox for the next start)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.connected.is_set():
            with self._ack_lock:
                waiting = any(r is not None for r in self._mid_rows.values())
            if not waiting:
                return
            time.sleep(0.02)

    def pending_count(self) -> int:
        return len(self.outbox) if self.outbox is not None else 0

    def publish_state(self, state: dict[str, Any]) -> None:
        payload = json.dumps(state, separators=(",", ":"), sort_keys=True)
        with self._lock:
            self._last_state = payload
        self._publish(f"{self.base}/state", payload, 1, True)

    def publish_stats(self, stats: dict[str, Any]) -> None:
        if self.connected.is_set():  # stats are a snapshot: stale ones are not worth queueing
            self._publish(f"{self.base}/stats", json.dumps(stats, separators=(",", ":")), 0)

    def publish_command_result(self, result: dict[str, Any]) -> None:
        self._publish(f"{self.base}/command_result", json.dumps(result, separators=(",", ":")), 1)

    def _publish_discovery(self) -> None:
        for topic, payload in discovery_messages(self.cfg, self.model):
            self._publish(topic, json.dumps(payload, separators=(",", ":")), 1, True)


def discovery_messages(cfg: Config, model: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """Home Assistant MQTT discovery: one device with its entities, all reading the retained state."""
    kid = cfg.kiosk.id
    base = f"{cfg.mqtt.prefix}/{kid}"
    node = f"maskgate_{kid}".replace("-", "_")
    device = {
        "identifiers": [node],
        "name": f"maskgate {kid}",
        "manufacturer": "maskgate",
        "model": f"mask kiosk ({model.get('name', '?')})",
        "sw_version": __version__,
    }
    common = {
        "availability_topic": f"{base}/availability",
        "payload_available": "online",
        "payload_not_available": "offline",
        "state_topic": f"{base}/state",
        "device": device,
    }
    entities: list[tuple[str, str, dict[str, Any]]] = [
        ("binary_sensor", "gate", {
            "name": "Gate", "device_class": "opening",
            "value_template": "{{ 'ON' if value_json.gate == 'open' else 'OFF' }}"}),
        ("sensor", "last_decision", {
            "name": "Last decision", "icon": "mdi:face-mask",
            "value_template": "{{ value_json.last_decision.decision if value_json.last_decision else 'none' }}",
            "json_attributes_topic": f"{base}/state",
            "json_attributes_template": "{{ (value_json.last_decision or {}) | tojson }}"}),
        ("binary_sensor", "fault", {
            "name": "Fault", "device_class": "problem",
            "value_template": "{{ 'ON' if value_json.faults else 'OFF' }}"}),
    ]
    for counter in ("opened", "denied", "denied_incorrect", "manual"):
        entities.append(("sensor", counter, {
            "name": counter.replace("_", " ").capitalize(), "state_class": "total_increasing",
            "value_template": f"{{{{ value_json.counters.{counter} }}}}"}))
    out = []
    for component, obj, extra in entities:
        payload = dict(common)
        payload.update(extra)
        payload["unique_id"] = f"{node}_{obj}"
        payload["default_entity_id"] = f"{component}.{node}_{obj}"
        out.append((f"{cfg.mqtt.discovery_prefix}/{component}/{node}/{obj}/config", payload))
    return out

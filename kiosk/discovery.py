"""Home Assistant MQTT discovery: the kiosk as one device whose entities read the retained state."""

from __future__ import annotations

from typing import Any

from . import __version__
from .config import Config


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
    for counter in ("opened", "denied", "denied_incorrect", "denied_covered", "manual"):
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

"""Home Assistant MQTT discovery: the kiosk as one device, announced in one retained message.

Home Assistant's device-based discovery takes one retained JSON on
`<discovery_prefix>/device/maskgate_<id>/config` holding the device (`dev`), the software that made it
(`o`, origin), what all its entities share (availability, the state topic, QoS) and every entity under
`cmps`, each with its platform `p`, `unique_id` and `default_entity_id` (`object_id` stopped working in
Home Assistant 2026.4). A component sent with nothing but `p` is removed: that is how the optional
entities (the command button and select, the face image) leave Home Assistant when they are turned off.

Kiosks before this version announced one retained message per entity on
`<discovery_prefix>/<component>/maskgate_<id>/<object>/config`. Home Assistant moves such entities to a
device message, keeping their entity ids and history, when each old topic first receives
`{"migrate_discovery": true}`; afterwards the old topics are emptied. Components that a later version
dropped (RETIRED) are removed the same way as the optional ones. Both are needed once: the keys of
`migration_keys` name each step, kiosk/messages/ha_migration.py remembers those done, and `discovery_messages`
builds the sequence for the steps still pending, in the order it must be published.

Technical entities (model, frame rate, latency, outbox, CPU temperature, fault) are `diagnostic`: Home
Assistant shows them apart from the gate and the counters. Frame rate, latency, outbox and temperature
come from the stats topic (every mqtt.stats_interval, not retained), so they expire when it stops.
"""

from __future__ import annotations

import json
import math
from typing import Any, Collection

from .. import __version__
from ..config import Config
from ..stats import DECISION_STAGES, cpu_temperature

# The counters of the state payload that become total_increasing sensors.
COUNTERS = ("opened", "denied", "denied_incorrect", "denied_covered", "manual")
# What the `decision` event entity can fire (kiosk/messages/homeassistant.py maps each event to one).
EVENT_TYPES = ("open", "no_mask", "incorrect", "covered", "manual", "remote", "locked")
MIGRATE = {"migrate_discovery": True}
# The per-entity topics of earlier versions: (component, object id), all in one node maskgate_<id>.
LEGACY_ENTITIES = (("binary_sensor", "gate"), ("sensor", "last_decision"), ("binary_sensor", "fault"),
                   *(("sensor", c) for c in COUNTERS))
# Components of earlier device messages that are gone, with their platform: the `Mode` sensor repeated
# the `Set mode` select.
RETIRED = {"mode": "sensor"}
# What `last_decision` can be: an enum sensor must list every state it takes.
DECISIONS = ("open", "deny", "none")
# Home Assistant's latency sensor: the stages' medians added up, 0 for a stage with no sample yet (no
# face: nothing classified); no frame at all yet: unknown ("None").
LATENCY_TEMPLATE = ("{% set l = value_json.latency_ms %}{{ (" + " + ".join(
    f"l.get('{s}', {{}}).get('p50', 0)" for s in DECISION_STAGES) + ") | round(1) if l else None }}")


def node_id(cfg: Config) -> str:
    """The device's node id (and the prefix of every unique id): maskgate_<kiosk id>, '-' made '_'."""
    return f"maskgate_{cfg.kiosk.id}".replace("-", "_")


def base_topic(cfg: Config) -> str:
    """<prefix>/<kiosk id>: where the kiosk's own topics live."""
    return f"{cfg.mqtt.prefix}/{cfg.kiosk.id}"


def device_topic(cfg: Config) -> str:
    """The one retained discovery topic of this kiosk."""
    return f"{cfg.mqtt.discovery_prefix}/device/{node_id(cfg)}/config"


def legacy_topics(cfg: Config) -> list[str]:
    """The per-entity discovery topics that earlier versions published (and this one empties)."""
    node = node_id(cfg)
    return [f"{cfg.mqtt.discovery_prefix}/{component}/{node}/{obj}/config" for component, obj in LEGACY_ENTITIES]


def retired_keys(cfg: Config) -> dict[str, str]:
    """The migration key of each retired component -> the component."""
    return {f"{device_topic(cfg)}#{component}": component for component in RETIRED}


def migration_keys(cfg: Config) -> list[str]:
    """Every one-time step, by key: the old per-entity topics, then the retired components."""
    return [*legacy_topics(cfg), *retired_keys(cfg)]


def event_topic(cfg: Config) -> str:
    """The `decision` event entity's topic: one non-retained message per decision."""
    return f"{base_topic(cfg)}/ha_event"


def command_topic(cfg: Config) -> str:
    """The topic of Home Assistant's button and select (commands.home_assistant; broker ACL, no HMAC)."""
    return f"{base_topic(cfg)}/ha_command"


def image_topic(cfg: Config) -> str:
    """The face crop of the last decision (JPEG bytes), only with snapshots enabled."""
    return f"{base_topic(cfg)}/ha_image"


def device_payload(cfg: Config, model: dict[str, str], retire: Collection[str] = ()) -> dict[str, Any]:
    """The device discovery message: device, origin, shared options and every component; the retired
    components named in `retire` are sent with only `p`, which removes them."""
    node = node_id(cfg)
    base = base_topic(cfg)
    origin = {"name": "maskgate", "sw": __version__}
    if cfg.mqtt.support_url:
        origin["url"] = cfg.mqtt.support_url
    components: dict[str, dict[str, Any]] = {}

    def add(key: str, platform: str, **options: Any) -> None:
        components[key] = {"p": platform, "unique_id": f"{node}_{key}",
                           "default_entity_id": f"{platform}.{node}_{key}", **options}

    add("gate", "binary_sensor", name="Gate", device_class="opening",
        value_template="{{ 'ON' if value_json.gate == 'open' else 'OFF' }}")
    add("last_decision", "sensor", name="Last decision", icon="mdi:face-mask", device_class="enum",
        options=list(DECISIONS),
        value_template="{{ value_json.last_decision.decision if value_json.last_decision else 'none' }}",
        json_attributes_topic=f"{base}/state",
        json_attributes_template="{{ (value_json.last_decision or {}) | tojson }}")
    add("fault", "binary_sensor", name="Fault", device_class="problem", entity_category="diagnostic",
        value_template="{{ 'ON' if value_json.faults else 'OFF' }}")
    for counter in COUNTERS:
        add(counter, "sensor", name=counter.replace("_", " ").capitalize(), state_class="total_increasing",
            value_template=f"{{{{ value_json.counters.{counter} }}}}")
    add("decision", "event", name="Decision", icon="mdi:account-check", state_topic=event_topic(cfg),
        event_types=list(EVENT_TYPES))
    add("model", "sensor", name="Model", icon="mdi:brain", entity_category="diagnostic",
        value_template="{{ value_json.model.name }}", json_attributes_topic=f"{base}/state",
        json_attributes_template="{{ value_json.model | tojson }}")
    # Stats come every stats_interval; three missed in a row: the value is no longer the kiosk's.
    stats = {"state_topic": f"{base}/stats", "state_class": "measurement", "entity_category": "diagnostic",
             "expire_after": max(60, math.ceil(3 * cfg.mqtt.stats_interval))}
    add("fps", "sensor", name="Frame rate", icon="mdi:camera-timer", unit_of_measurement="fps",
        suggested_display_precision=1, value_template="{{ value_json.fps }}", **stats)
    add("latency", "sensor", name="Capture to decision", device_class="duration", unit_of_measurement="ms",
        suggested_display_precision=0, value_template=LATENCY_TEMPLATE, **stats)
    add("outbox", "sensor", name="Outbox", icon="mdi:tray-full", unit_of_measurement="events",
        value_template="{{ value_json.mqtt.outbox }}", **stats)
    if cpu_temperature() is not None:  # "None" in the stats (a failed read) makes the state unknown
        add("cpu_temperature", "sensor", name="CPU temperature", device_class="temperature",
            unit_of_measurement="°C", value_template="{{ value_json.cpu_temp_c }}", **stats)
    else:  # a machine without the sensor: no entity that would never have a value
        components["cpu_temperature"] = {"p": "sensor"}
    for component in retire:
        components[component] = {"p": RETIRED[component]}
    if cfg.commands.home_assistant:
        add("open", "button", name="Open gate", icon="mdi:gate-open", command_topic=command_topic(cfg),
            payload_press="open")
        add("set_mode", "select", name="Set mode", icon="mdi:lock-smart", command_topic=command_topic(cfg),
            options=["auto", "locked"], value_template="{{ value_json.mode }}")
    else:  # only `p`: Home Assistant removes them if an earlier configuration had them
        components["open"] = {"p": "button"}
        components["set_mode"] = {"p": "select"}
    if cfg.snapshots.enabled:
        add("face", "image", name="Last face", image_topic=image_topic(cfg), content_type="image/jpeg")
    else:
        components["face"] = {"p": "image"}
    return {
        "dev": {"identifiers": [node], "name": f"maskgate {cfg.kiosk.id}", "manufacturer": "maskgate",
                "model": f"mask kiosk ({model.get('name', '?')})", "sw_version": __version__},
        "o": origin,
        "availability_topic": f"{base}/availability",
        "payload_available": "online",
        "payload_not_available": "offline",
        "state_topic": f"{base}/state",
        "qos": 1,
        "cmps": components,
    }


def _dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def discovery_messages(cfg: Config, model: dict[str, str], pending: Collection[str] = ()) -> list[tuple[str, bytes]]:
    """The retained messages to publish, in order, for the one-time steps in `pending` (migration_keys)
    still to do. For each old per-entity topic pending: `{"migrate_discovery": true}` on it first, then
    the device message (which also removes the pending retired components), then the old topic emptied.
    Nothing pending: the device message alone."""
    retired = retired_keys(cfg)
    device = (device_topic(cfg), _dumps(device_payload(cfg, model, [retired[k] for k in pending if k in retired])))
    old = [t for t in pending if t not in retired]
    return [*((t, _dumps(MIGRATE)) for t in old), device, *((t, b"") for t in old)]

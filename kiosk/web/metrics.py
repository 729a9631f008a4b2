"""The Prometheus text exposition format (version 0.0.4), written by hand from the kiosk's payloads.

Counters come from the latest state (updated on every decision) and stats payload (every
mqtt.stats_interval seconds); the stage latencies are the stats payload's p50 and p95.
"""

from __future__ import annotations

import math
import time
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: Any) -> str | None:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)) and math.isfinite(value):
        return repr(float(value)) if isinstance(value, float) else str(value)
    return None


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._declared: set[str] = set()

    def metric(self, name: str, kind: str, doc: str, value: Any, labels: dict[str, Any] | None = None) -> None:
        text = _num(value)
        if text is None:
            return  # a missing or malformed figure is left out, never written as garbage
        if name not in self._declared:
            self._declared.add(name)
            self.lines.append(f"# HELP {name} {doc}")
            self.lines.append(f"# TYPE {name} {kind}")
        lab = ""
        if labels:
            lab = "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"
        self.lines.append(f"{name}{lab} {text}")


def render(state: dict[str, Any] | None, stats: dict[str, Any] | None, web: dict[str, Any],
           stats_at: float | None, now: float | None = None) -> str:
    """The /metrics page: `state` and `stats` as the kiosk published them (None: not yet), `web` the
    server's own figures, `stats_at` the monotonic time of the stats payload."""
    now = time.monotonic() if now is None else now
    w = _Writer()
    state = state if isinstance(state, dict) else {}
    stats = stats if isinstance(stats, dict) else {}
    model = state.get("model") if isinstance(state.get("model"), dict) else {}
    w.metric("maskgate_model_info", "gauge", "The classifier in use (name and sha256 as labels).", 1,
             {"name": model.get("name", ""), "sha256": model.get("sha256", "")})
    counters = stats.get("counters") if isinstance(stats.get("counters"), dict) else {}
    state_counters = state.get("counters") if isinstance(state.get("counters"), dict) else {}
    merged = {**counters, **state_counters}  # the state's are the newer
    for key in sorted(merged):
        w.metric(f"maskgate_{key}_total", "counter", f"Count of {key.replace('_', ' ')} since the start.",
                 merged[key])
    w.metric("maskgate_fps", "gauge", "Frames per second over the recent frames.", stats.get("fps"))
    latency = stats.get("latency_ms") if isinstance(stats.get("latency_ms"), dict) else {}
    for stage in sorted(latency):
        q = latency[stage] if isinstance(latency[stage], dict) else {}
        for name, quantile in (("p50", "0.5"), ("p95", "0.95")):
            ms = q.get(name)
            if _num(ms) is not None and not isinstance(ms, bool):
                w.metric("maskgate_stage_latency_seconds", "gauge",
                         "Latency of a frame-loop stage over the recent frames.", ms / 1000,
                         {"stage": stage, "quantile": quantile})
    faults = state.get("faults") if isinstance(state.get("faults"), list) else []
    w.metric("maskgate_faults", "gauge", "Number of current faults.", len(faults))
    for name in sorted(str(f) for f in faults):
        w.metric("maskgate_fault", "gauge", "A current fault (1 while it lasts).", 1, {"name": name})
    w.metric("maskgate_gate_open", "gauge", "1 while the relay is open.", state.get("gate") == "open")
    mqtt = stats.get("mqtt") if isinstance(stats.get("mqtt"), dict) else None
    if mqtt is not None:
        w.metric("maskgate_outbox_backlog", "gauge", "Events waiting in the MQTT outbox.", mqtt.get("outbox"))
        w.metric("maskgate_mqtt_connected", "gauge", "1 while connected to the broker.", mqtt.get("connected"))
    if stats_at is not None:
        w.metric("maskgate_stats_age_seconds", "gauge", "Age of the stats figures above.", round(now - stats_at, 3))
    for key in sorted(web):
        w.metric(f"maskgate_web_{key}", "gauge", f"Web server: {key.replace('_', ' ')}.", web[key])
    return "\n".join(w.lines) + "\n"

"""The Prometheus text exposition format (version 0.0.4), written by hand from the kiosk's payloads.

Counters come from the latest state (updated on every decision) and stats payload (every
mqtt.stats_interval seconds); the stage latencies are the stats payload's p50 and p95; the
capture-to-decision latency is that of the recent decisions (their events' latency_ms). Every name ending
in _total is a counter, everything else a gauge.
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Always exported, 0 or 1, so that an alert on a fault has a series before the first fault: the kiosk's
# own faults and those of the outputs that report one (named after the output).
KNOWN_FAULTS = ("camera", "model", "mqtt", "sound", "web")
DIGITS = 6  # floats: micro-units at most (a latency to the microsecond); more digits are binary noise


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: Any) -> str | None:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)) and math.isfinite(value):
        return repr(round(float(value), DIGITS)) if isinstance(value, float) else str(value)
    return None


def quantiles(values: Iterable[float]) -> dict[str, float] | None:
    """p50 and p95 of `values` (nearest rank), None without any."""
    ordered = sorted(values)
    if not ordered:
        return None
    pick = lambda q: ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]  # noqa: E731
    return {"p50": pick(0.5), "p95": pick(0.95)}


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
           stats_at: float | None, now: float | None = None, uptime_s: float | None = None,
           decision_ms: Iterable[float] = ()) -> str:
    """The /metrics page: `state` and `stats` as the kiosk published them (None: not yet), `web` the
    server's own figures, `stats_at` the monotonic time of the stats payload, `uptime_s` the seconds
    since the kiosk started, `decision_ms` the capture-to-decision latencies of recent decisions."""
    now = time.monotonic() if now is None else now
    w = _Writer()
    w.metric("maskgate_uptime_seconds", "gauge", "Seconds since the kiosk started.",
             None if uptime_s is None else round(uptime_s, 3))
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
    timed = quantiles(decision_ms)
    for name, quantile in (("p50", "0.5"), ("p95", "0.95")):
        if timed is not None:
            w.metric("maskgate_decision_latency_seconds", "gauge",
                     "From a frame's capture to its decision, over the recent decisions.", timed[name] / 1000,
                     {"quantile": quantile})
    faults = state.get("faults") if isinstance(state.get("faults"), list) else []
    current = {str(f) for f in faults}
    w.metric("maskgate_faults", "gauge", "Number of current faults.", len(current))
    for name in sorted(current | set(KNOWN_FAULTS)):
        w.metric("maskgate_fault", "gauge", "1 while the named fault lasts, 0 otherwise.", name in current,
                 {"name": name})
    w.metric("maskgate_gate_open", "gauge", "1 while the relay is open.", state.get("gate") == "open")
    mqtt = stats.get("mqtt") if isinstance(stats.get("mqtt"), dict) else None
    if mqtt is not None:
        w.metric("maskgate_outbox_backlog", "gauge", "Events waiting in the MQTT outbox.", mqtt.get("outbox"))
        w.metric("maskgate_mqtt_connected", "gauge", "1 while connected to the broker.", mqtt.get("connected"))
    if stats_at is not None:
        w.metric("maskgate_stats_age_seconds", "gauge", "Age of the stats figures above.", round(now - stats_at, 3))
    for key in sorted(web):
        w.metric(f"maskgate_web_{key}", "counter" if key.endswith("_total") else "gauge",
                 f"Web server: {key.replace('_', ' ')}.", web[key])
    return "\n".join(w.lines) + "\n"

"""Per-stage latency and frame-rate bookkeeping for the stats topic and the benchmark."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np

STAGES = ("capture", "detect", "preprocess", "classify", "decide", "publish")
# The stages from the camera to the decision: Home Assistant's latency sensor adds up their medians.
DECISION_STAGES = ("capture", "detect", "preprocess", "classify", "decide")
# The SoC's temperature on a Raspberry Pi (millidegrees Celsius); other machines may have none.
THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


def cpu_temperature(path: Path = THERMAL_ZONE) -> float | None:
    """The CPU's temperature in degrees Celsius, or None where the machine does not tell (no such file,
    unreadable, not a plausible reading): a stats field, never a reason to fail."""
    try:
        with open(path, "rb") as f:
            raw = f.read(32)
        celsius = int(raw.strip()) / 1000
    except (OSError, ValueError):
        return None
    return round(celsius, 1) if -60 <= celsius <= 150 else None


class Stats:
    """Recent latencies per stage and frame times (the last `window` of each) and the counters."""

    def __init__(self, window: int = 1000, thermal_zone: Path = THERMAL_ZONE) -> None:
        self.thermal_zone = thermal_zone
        self.latency: dict[str, deque[float]] = {s: deque(maxlen=window) for s in STAGES}
        self.counters: dict[str, int] = {"frames": 0, "faces": 0, "opened": 0, "denied": 0,
                                         "denied_incorrect": 0, "denied_covered": 0, "manual": 0, "camera_failures": 0,
                                         "commands_refused": 0, "mqtt_restarts": 0}
        self._frame_times: deque[float] = deque(maxlen=window)

    def add(self, stage: str, ms: float) -> None:
        """One latency of `stage`, milliseconds."""
        self.latency[stage].append(ms)

    def frame(self, now: float) -> None:
        """Count a processed frame at monotonic time `now`."""
        self.counters["frames"] += 1
        self._frame_times.append(now)

    def fps(self) -> float:
        """Frames per second over the frames kept."""
        t = self._frame_times
        if len(t) < 2 or t[-1] <= t[0]:
            return 0.0
        return (len(t) - 1) / (t[-1] - t[0])

    def summary(self) -> dict:
        """fps, p50/p95 latency per stage, the counters and the CPU temperature (None where unknown), for
        the stats payload."""
        lat = {}
        for stage, values in self.latency.items():
            if values:
                arr = np.fromiter(values, float)
                lat[stage] = {"p50": round(float(np.percentile(arr, 50)), 3),
                              "p95": round(float(np.percentile(arr, 95)), 3)}
        return {"fps": round(self.fps(), 2), "latency_ms": lat, "counters": dict(self.counters),
                "cpu_temp_c": cpu_temperature(self.thermal_zone)}

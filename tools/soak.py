"""Soak test: the real daemon at full speed for a long time, sampling its memory (RSS) as it goes.

    .venv/bin/python tools/soak.py --minutes 10 [--broker] [--out build/soak.json]

Runs kiosk.pipeline.Kiosk on the demo clip in a loop (no pacing), with mock GPIO and, with --broker,
a local mosquitto receiving every event, state and stats message. Reports RSS at start (after the
first minute's warm-up) and at the end, the growth, frames and decisions. Memory that keeps growing
over hours shows here as a slope.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk.bench import proc_status_kb  # noqa: E402
from kiosk.broker import Mosquitto  # noqa: E402
from kiosk.camera import DEMO_CLIP  # noqa: E402
from kiosk.config import Config  # noqa: E402
from kiosk.pipeline import Kiosk  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--broker", action="store_true", help="publish to a local mosquitto")
    p.add_argument("--out", type=Path, default=Path("build/soak.json"))
    a = p.parse_args()
    broker = Mosquitto().start() if a.broker else None
    samples: list[tuple[float, int, int]] = []
    with tempfile.TemporaryDirectory() as state:
        cfg = Config()
        cfg.kiosk.id = "soak"
        cfg.kiosk.state_dir = state
        cfg.kiosk.log_level = "warning"
        cfg.camera.source = str(DEMO_CLIP)
        cfg.camera.realtime = False
        cfg.camera.reopen_min_s = 0.01
        cfg.gpio.backend = "mock"
        cfg.decision.open_seconds = 0.2
        cfg.decision.cooldown_seconds = 0.5
        cfg.mqtt.enabled = broker is not None
        cfg.mqtt.port = broker.port if broker else 1883
        cfg.mqtt.stats_interval = 5
        import logging

        logging.basicConfig(level=logging.WARNING)
        kiosk = Kiosk(cfg)
        t0 = time.monotonic()
        runner = threading.Thread(target=kiosk.run, kwargs={"max_seconds": a.minutes * 60})
        runner.start()
        while runner.is_alive():
            samples.append((time.monotonic() - t0, proc_status_kb("VmRSS"), kiosk.summary.frames))
            runner.join(10)
        samples.append((time.monotonic() - t0, proc_status_kb("VmRSS"), kiosk.summary.frames))
    if broker:
        broker.cleanup()
    warm = next((s for s in samples if s[0] >= 60), samples[0])
    end = samples[-1]
    report = {
        "minutes": a.minutes, "frames": end[2], "fps": round(end[2] / end[0], 1),
        "decisions": len(kiosk.summary.decisions), "broker": broker is not None,
        "rss_kib_after_warmup": warm[1], "rss_kib_end": end[1], "rss_growth_kib": end[1] - warm[1],
        "rss_peak_kib": max(s[1] for s in samples),
        "samples": [{"t": round(t, 1), "rss_kib": r, "frames": f} for t, r, f in samples],
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=1))
    print(f"soak {a.minutes:g} min: {report['frames']} frames ({report['fps']} fps), {report['decisions']} decisions; "
          f"RSS after 1 min {warm[1] / 1024:.1f} MiB, at end {end[1] / 1024:.1f} MiB, "
          f"growth {report['rss_growth_kib'] / 1024:+.2f} MiB; report {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Soak test: the real daemon at full speed for a long time, sampling its memory (RSS) as it goes.

    .venv/bin/python -m tools.eval.soak --minutes 10 [--broker] [--cooldown 0.2] [--out build/soak.json]
    .venv/bin/python -m tools.eval.soak --decisions 40000 [--broker]

Runs kiosk.pipeline.Kiosk on the demo clip in a loop (no pacing), with mock GPIO and, with --broker,
a local mosquitto receiving every event, state and stats message. A short cool-down makes it decide
several times a second, so that anything kept per decision shows up within minutes.

Reports the slope of RSS after the warm-up (a least-squares line through the samples), per hour and
per 1,000 decisions: memory that a year of decisions would notice shows here. gpiozero's mock pins
keep every level change in a list (a test double's history; real pins keep none), so the soak trims
those lists as it samples and says how many entries it trimmed.

RSS moves in steps (the allocator, SQLite's cache), so a short soak cannot resolve a few bytes per
decision. `--decisions N` measures that directly: it drives N decisions straight through the kiosk's
acting path (event, relay, lights, outbox, MQTT; no camera or models in the loop) with tracemalloc on,
and reports the Python allocations still held after a quarter of them and after all of them.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

from kiosk.bench import proc_status_kb
from kiosk.capture.camera import DEMO_CLIP
from kiosk.config import Config
from kiosk.door.decision import Decision, FaceVerdict
from kiosk.door.gate import make_pin_factory
from kiosk.messages.broker import Mosquitto
from kiosk.pipeline import Kiosk

SAMPLE_S = 5.0


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than two distinct xs)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0


def trim_mock_history(factory) -> int:  # noqa: ANN001 - gpiozero's MockFactory
    """Drop the mock pins' recorded level history (keeps the current level); returns entries dropped."""
    dropped = 0
    for pin in list(getattr(factory, "pins", {}).values()):
        states = getattr(pin, "states", None)
        if isinstance(states, list) and len(states) > 1:
            dropped += len(states) - 1
            del states[:-1]
    return dropped


def soak_config(state: str, port: int | None, cooldown: float) -> Config:
    cfg = Config()
    cfg.kiosk.id = "soak"
    cfg.kiosk.state_dir = state
    cfg.kiosk.log_level = "warning"
    cfg.camera.source = str(DEMO_CLIP)
    cfg.camera.realtime = False
    cfg.camera.reopen_min_s = 0.01
    cfg.gpio.backend = "mock"
    cfg.decision.open_seconds = 0.2
    cfg.decision.deny_seconds = 0.2
    cfg.decision.cooldown_seconds = cooldown
    cfg.mqtt.enabled = port is not None
    cfg.mqtt.port = port or 1883
    cfg.mqtt.stats_interval = 5
    return cfg


def report(samples: list[dict], warmup_s: float, minutes: float, broker: bool) -> dict:
    """The figures: RSS after warm-up and at the end, and the slopes over the samples after warm-up."""
    after = [s for s in samples if s["t"] >= warmup_s] or samples[-2:]
    t = [s["t"] / 3600 for s in after]
    rss = [s["rss_kib"] / 1024 for s in after]
    dec = [s["decisions"] / 1000 for s in after]
    per_hour = slope(t, rss)
    per_k = slope(dec, rss)
    end = samples[-1]
    return {
        "minutes": minutes, "broker": broker, "warmup_s": warmup_s,
        "frames": end["frames"], "fps": round(end["frames"] / max(end["t"], 1e-9), 1),
        "decisions": end["decisions"], "decisions_per_s": round(end["decisions"] / max(end["t"], 1e-9), 2),
        "decisions_after_warmup": after[-1]["decisions"] - after[0]["decisions"],
        "rss_mib_after_warmup": round(after[0]["rss_kib"] / 1024, 2), "rss_mib_end": round(end["rss_kib"] / 1024, 2),
        "rss_mib_peak": round(max(s["rss_kib"] for s in samples) / 1024, 2),
        "slope_mib_per_hour": round(per_hour, 3),
        "slope_mib_per_1000_decisions": round(per_k, 4),
        "slope_mib_per_100000_decisions": round(per_k * 100, 2),
        "mock_pin_states_trimmed": end["trimmed"],
        "samples": samples,
    }


def held_after(kiosk: Kiosk, factory, n: int) -> None:  # noqa: ANN001
    """n decisions through the acting path, alternating open and deny, as the frame loop makes them."""
    face = FaceVerdict(label="mask", score=0.99, box=(10, 20, 120, 120), mask_prob=0.99)
    for i in range(n):
        kind = ("open", "mask") if i % 2 else ("deny", "no_mask")
        kiosk._act(Decision(*kind, (face,)), 5.0, 5.0, [])  # noqa: SLF001 - the frame loop's own call
        kiosk._tick(time.monotonic())  # noqa: SLF001 - state and stats, as after every frame
        if i % 500 == 0:
            trim_mock_history(factory)
            time.sleep(0.02)  # lets paho's thread keep up, as the frame rate does in the daemon
    time.sleep(1.0)  # the last acknowledgements
    trim_mock_history(factory)


def direct(n: int, broker: Mosquitto | None) -> dict:
    with tempfile.TemporaryDirectory() as state:
        factory = make_pin_factory("mock")
        kiosk = Kiosk(soak_config(state, broker.port if broker else None, 0.2), pin_factory=factory)
        kiosk.publisher.start()
        try:
            held_after(kiosk, factory, 2000)  # warm-up: caches, the recent-decisions list, paho's buffers
            gc.collect()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            held_after(kiosk, factory, n // 4)
            gc.collect()
            quarter = tracemalloc.get_traced_memory()[0] - base
            held_after(kiosk, factory, n - n // 4)
            gc.collect()
            end = tracemalloc.get_traced_memory()[0] - base
            tracemalloc.stop()
            outbox = kiosk.publisher.pending_count()
        finally:
            kiosk.shutdown()
    return {"decisions": n, "broker": broker is not None, "held_kib_after_quarter": round(quarter / 1024, 1),
            "held_kib_at_end": round(end / 1024, 1),
            "bytes_per_decision_after_quarter": round((end - quarter) / (n - n // 4), 2),
            "outbox_rows_at_end": outbox}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0, help="minutes left out of the slope (default 2)")
    p.add_argument("--cooldown", type=float, default=0.2, help="decision.cooldown_seconds (default 0.2)")
    p.add_argument("--broker", action="store_true", help="publish to a local mosquitto")
    p.add_argument("--decisions", type=int, default=0,
                   help="instead of the soak: N decisions through the acting path under tracemalloc")
    p.add_argument("--out", type=Path, default=Path("build/soak.json"))
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    broker = Mosquitto().start() if a.broker else None
    if a.decisions:
        try:
            r = direct(a.decisions, broker)
        finally:
            if broker:
                broker.cleanup()
        print(f"{r['decisions']} decisions (broker: {r['broker']}): Python allocations held "
              f"{r['held_kib_after_quarter']} KiB after a quarter, {r['held_kib_at_end']} KiB at the end: "
              f"{r['bytes_per_decision_after_quarter']:+.2f} bytes per decision; outbox {r['outbox_rows_at_end']} rows")
        return 0
    samples: list[dict] = []
    trimmed = 0
    try:
        with tempfile.TemporaryDirectory() as state:
            factory = make_pin_factory("mock")
            kiosk = Kiosk(soak_config(state, broker.port if broker else None, a.cooldown), pin_factory=factory)
            t0 = time.monotonic()
            runner = threading.Thread(target=kiosk.run, kwargs={"max_seconds": a.minutes * 60})
            runner.start()
            while True:
                trimmed += trim_mock_history(factory)
                samples.append({"t": round(time.monotonic() - t0, 1), "rss_kib": proc_status_kb("VmRSS"),
                                "frames": kiosk.summary.frames, "decisions": kiosk.summary.decided,
                                "trimmed": trimmed})
                if not runner.is_alive():
                    break
                runner.join(SAMPLE_S)
    finally:
        if broker:
            broker.cleanup()
    r = report(samples, a.warmup * 60, a.minutes, broker is not None)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(r, indent=1))
    print(f"soak {a.minutes:g} min: {r['frames']} frames ({r['fps']} fps), {r['decisions']} decisions "
          f"({r['decisions_per_s']}/s); RSS after {a.warmup:g} min {r['rss_mib_after_warmup']} MiB, at end "
          f"{r['rss_mib_end']} MiB, peak {r['rss_mib_peak']} MiB; slope after warm-up "
          f"{r['slope_mib_per_hour']:+.2f} MiB/h, {r['slope_mib_per_1000_decisions']:+.4f} MiB per 1,000 "
          f"decisions ({r['slope_mib_per_100000_decisions']:+.2f} MiB per 100,000); report {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

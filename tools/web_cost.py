"""What the web output costs the frame loop: the daemon's frames per second on the demo clip (played as
fast as it can be decided, reopened at its end) without the web server, with it and nobody watching, and
with a visitor screen on /events/stream and an installer on /live (issue 13 asks for <= 5 % fps).

The viewers run in a separate process, as a browser would, so that their reading does not count against
the frame loop's share of the interpreter. The conditions alternate round by round, so background load
on a shared machine hits all of them alike; the median of the rounds is reported. Besides frames per
second (which a loaded machine makes noisy), each run reports the daemon process's CPU time per decided
frame (user + system, all its threads): the web server's extra work per frame, whether or not a spare
core would have hidden it from the frame rate.

    python -m tools.web_cost [--seconds 20] [--rounds 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import http.client
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CONDITIONS = ("no web", "web, nobody watching", "web, screen + /live")
WARMUP_S = 3.0  # frames before this are not counted: the first frames pay for lazy initialisation


def _viewers(port: int) -> None:
    """The viewers' process: one /events/stream and one /live client, reading until killed."""
    def read(path: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", path)
        r = conn.getresponse()
        while r.fp.read(65536 if path == "/live" else 1):
            pass

    threads = [threading.Thread(target=read, args=(p,), daemon=True) for p in ("/events/stream", "/live")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def measure(condition: str, seconds: float, state: Path) -> dict:
    """Frames per second of one run of the daemon under `condition`."""
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    from kiosk.config import Config
    from kiosk.pipeline import Kiosk
    from tests.conftest import DEMO_CLIP

    cfg = Config()
    cfg.kiosk.state_dir = str(state)
    cfg.camera.source, cfg.camera.realtime, cfg.camera.on_end = str(DEMO_CLIP), False, "reopen"
    cfg.camera.reopen_min_s = 0.01  # the clip's end is no pause in the measurement
    cfg.gpio.backend = "mock"
    cfg.mqtt.enabled = False
    cfg.web.enabled = condition != "no web"
    cfg.web.port = 0
    kiosk = Kiosk(cfg, pin_factory=MockFactory(pin_class=MockPWMPin))
    web = next((o for o in kiosk.outputs if o.name == "web"), None)
    viewers = None
    run = threading.Thread(target=kiosk.run, kwargs={"max_seconds": WARMUP_S + seconds + 30})
    run.start()
    try:
        if condition == "web, screen + /live":
            viewers = subprocess.Popen([sys.executable, "-m", "tools.web_cost", "--viewers", str(web.port)])
        time.sleep(WARMUP_S)
        f0, t0, c0 = kiosk.summary.frames, time.monotonic(), _cpu()
        watched = web.status()["live_clients"] if web else 0
        e0 = web.live.encoded if web and web.live else 0
        time.sleep(seconds)
        f1, t1, c1 = kiosk.summary.frames, time.monotonic(), _cpu()
        encoded = (web.live.encoded if web and web.live else 0) - e0
    finally:
        kiosk.stop_event.set()
        run.join(60)
        if viewers is not None:
            viewers.kill()
            viewers.wait()
    return {"condition": condition, "fps": round((f1 - f0) / (t1 - t0), 2),
            "cpu_ms_per_frame": round(1000 * (c1 - c0) / max(1, f1 - f0), 2), "live_viewers": watched,
            "live_fps": round(encoded / (t1 - t0), 2)}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run (default 20)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of all three conditions (default 3)")
    ap.add_argument("--json", type=Path, help="also write the runs and the summary here")
    ap.add_argument("--viewers", type=int, help=argparse.SUPPRESS)  # the viewers' own process
    args = ap.parse_args(argv)
    if args.viewers:
        _viewers(args.viewers)
        return 0
    import logging

    logging.basicConfig(level=logging.WARNING)
    runs = []
    with tempfile.TemporaryDirectory(prefix="web-cost-") as tmp:
        for r in range(args.rounds):
            for c in CONDITIONS:
                runs.append({"round": r, **measure(c, args.seconds, Path(tmp) / f"{r}-{len(runs)}")})
                print(json.dumps(runs[-1]), flush=True)
    summary = {}
    for c in CONDITIONS:
        mine = [x for x in runs if x["condition"] == c]
        summary[c] = {"median_fps": statistics.median(x["fps"] for x in mine),
                      "median_cpu_ms_per_frame": statistics.median(x["cpu_ms_per_frame"] for x in mine)}
    base = summary["no web"]
    for c, v in summary.items():
        v["fps_cost_percent"] = round(100 * (base["median_fps"] - v["median_fps"]) / base["median_fps"], 1)
        v["cpu_cost_percent"] = round(100 * (v["median_cpu_ms_per_frame"] - base["median_cpu_ms_per_frame"])
                                      / base["median_cpu_ms_per_frame"], 1)
        print(f"{c:24s} {v['median_fps']:7.2f} fps ({v['fps_cost_percent']:+5.1f} %)  "
              f"{v['median_cpu_ms_per_frame']:7.2f} CPU ms/frame ({v['cpu_cost_percent']:+5.1f} %)")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "summary": summary}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

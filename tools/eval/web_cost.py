"""What the web output costs the frame loop: the daemon on the demo clip (played as fast as it can be
decided, reopened at its end) without the web server, with it and nobody watching, and with a visitor
screen on /events/stream and an installer on /live (issue 13 asks for <= 5 % fps).

On a shared, busy machine the frame rate of one run says more about the neighbours than about us (single
runs of one condition spread 9.7-24.5 fps here), so the measurement is built to survive that:
- many short runs, the three conditions interleaved and their order rotated round by round (A B C,
  B C A, C A B, ...): background load and its drift hit every condition alike, and no condition always
  runs first or last;
- each condition is compared with the `no web` run of its own round (a paired ratio), and the median of
  those ratios is the cost, with its spread;
- besides frames per second, two CPU figures that a neighbour's load barely moves: the frame loop
  thread's own CPU time per decided frame (time.thread_time around each step: what the web output's
  hooks add to the loop itself), and the whole process's CPU time per frame (all threads: the server's
  work too, which a CPU-bound Pi would take from the frame loop; its rise bounds the fps cost there);
- the two CPU figures' difference is the work done off the loop's thread; its rise over `no web`, as a
  share of the whole work per frame without web (`web CPU share`), is what the web output would take
  from a frame loop that has no spare core, at the run's ratio of /live frames to decided frames (the
  CPU figures themselves move by +-20 % between rounds here: time stolen from a virtual CPU, caches
  shared with the neighbours; the off-loop work is a few ms per frame and moves much less);
- by default the models run on one thread each and without overlap (--shipped-threads: as shipped).
  Multi-threaded inference pools spin while they wait for a descheduled worker, and on a loaded machine
  that spinning is CPU time that varies with the neighbours, not with our work; on one thread the CPU
  time per frame is the work itself, and the web server's share of it is what the comparison shows.

The viewers run in a separate process, as a browser would, so their reading is not counted as ours.

    python -m tools.eval.web_cost [--seconds 6] [--rounds 6] [--shipped-threads] [--json OUT]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CONDITIONS = ("no web", "web, nobody watching", "web, screen + /live")
BASE = CONDITIONS[0]
WARMUP_S = 3.0  # frames before this are not counted: the first frames pay for lazy initialisation
# higher fps is better, lower CPU is; off-loop: the process's CPU outside the frame loop thread (the web
# server's threads, the event log's writer, the camera's reader), per decided frame
FIGURES = ("fps", "loop_cpu_ms_per_frame", "cpu_ms_per_frame", "offloop_cpu_ms_per_frame")


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


def measure(condition: str, seconds: float, state: Path, shipped_threads: bool = False) -> dict[str, Any]:
    """One run of the daemon under `condition`: its fps and CPU per frame over `seconds` after warm-up."""
    import cv2
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
    cfg.web.enabled = condition != BASE
    cfg.web.port = 0
    if not shipped_threads:  # see the module's docstring: CPU time that is our work, not spinning
        cfg.detector.threads = cfg.classifier.threads = 1
        cfg.detector.overlap = False
        cv2.setNumThreads(1)  # YuNet runs in OpenCV's own pool (process-wide)
    kiosk = Kiosk(cfg, pin_factory=MockFactory(pin_class=MockPWMPin))
    web = next((o for o in kiosk.outputs if o.name == "web"), None)
    loop_cpu = [0.0]  # the frame loop thread's CPU seconds in step(), written by that thread only
    step = kiosk.step

    def timed_step(*args: Any) -> None:  # run() calls self.step: this instance attribute wins
        c0 = time.thread_time()
        try:
            step(*args)
        finally:
            loop_cpu[0] += time.thread_time() - c0

    kiosk.step = timed_step
    viewers = None
    run = threading.Thread(target=kiosk.run, kwargs={"max_seconds": WARMUP_S + seconds + 30})
    run.start()
    try:
        if condition == "web, screen + /live":
            viewers = subprocess.Popen([sys.executable, "-m", "tools.eval.web_cost", "--viewers", str(web.port)])
        time.sleep(WARMUP_S)
        f0, t0, c0, l0 = kiosk.summary.frames, time.monotonic(), _cpu(), loop_cpu[0]
        watched = web.status()["live_clients"] if web else 0
        e0 = web.live.encoded if web and web.live else 0
        time.sleep(seconds)
        f1, t1, c1, l1 = kiosk.summary.frames, time.monotonic(), _cpu(), loop_cpu[0]
        encoded = (web.live.encoded if web and web.live else 0) - e0
    finally:
        kiosk.stop_event.set()
        run.join(60)
        if viewers is not None:
            viewers.kill()
            viewers.wait()
    frames = max(1, f1 - f0)
    return {"condition": condition, "fps": round((f1 - f0) / (t1 - t0), 2),
            "loop_cpu_ms_per_frame": round(1000 * (l1 - l0) / frames, 3),
            "cpu_ms_per_frame": round(1000 * (c1 - c0) / frames, 3),
            "offloop_cpu_ms_per_frame": round(1000 * ((c1 - c0) - (l1 - l0)) / frames, 3), "live_viewers": watched,
            "live_fps": round(encoded / (t1 - t0), 2), "load1": round(os.getloadavg()[0], 1)}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def order(round_no: int) -> list[str]:
    """The conditions of round `round_no`, rotated: each one runs first, second and last equally often."""
    k = round_no % len(CONDITIONS)
    return list(CONDITIONS[k:] + CONDITIONS[:k])


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per condition: the median of each figure, and its cost against `no web` in percent, as the
    median over rounds of the paired change (positive: worse, i.e. fewer fps or more CPU per frame),
    with the lowest and highest round."""
    runs = [{"offloop_cpu_ms_per_frame": r["cpu_ms_per_frame"] - r["loop_cpu_ms_per_frame"], **r} for r in runs]
    by_round: dict[int, dict[str, dict]] = {}
    for r in runs:
        by_round.setdefault(r["round"], {})[r["condition"]] = r
    summary: dict[str, dict[str, Any]] = {}
    for c in CONDITIONS:
        mine = [x for x in runs if x["condition"] == c]
        if not mine:
            continue
        s: dict[str, Any] = {"runs": len(mine)}
        for fig in FIGURES:
            s[f"median_{fig}"] = round(statistics.median(x[fig] for x in mine), 3)
            changes = []
            # off-loop work is ~1 ms a frame without web: a percentage of it says nothing (web CPU share does)
            for rnd in by_round.values() if fig != "offloop_cpu_ms_per_frame" else ():
                if c in rnd and BASE in rnd and rnd[BASE][fig] > 0:
                    base, v = rnd[BASE][fig], rnd[c][fig]
                    changes.append(100 * ((base - v) if fig == "fps" else (v - base)) / base)
            if changes:
                s[f"{fig}_cost_percent"] = round(statistics.median(changes), 1)
                s[f"{fig}_cost_range"] = [round(min(changes), 1), round(max(changes), 1)]
        shares = [100 * (rnd[c]["offloop_cpu_ms_per_frame"] - rnd[BASE]["offloop_cpu_ms_per_frame"])
                  / rnd[BASE]["cpu_ms_per_frame"] for rnd in by_round.values()
                  if c in rnd and BASE in rnd and rnd[BASE]["cpu_ms_per_frame"] > 0]
        if shares:
            s["web_cpu_share_percent"] = round(statistics.median(shares), 1)
            s["web_cpu_share_range"] = [round(min(shares), 1), round(max(shares), 1)]
        summary[c] = s
    return summary


def report(summary: dict[str, dict[str, Any]]) -> str:
    """The summary as one line per condition: each figure's median, then (not for `no web`) its paired
    cost in percent as median [lowest round, highest round]."""
    names = {"fps": "fps", "loop_cpu_ms_per_frame": "loop CPU ms/frame", "cpu_ms_per_frame": "process CPU ms/frame",
             "offloop_cpu_ms_per_frame": "off-loop CPU ms/frame"}
    lines = []
    for c, s in summary.items():
        cells = []
        for fig in FIGURES:
            cell = f"{names[fig]} {s[f'median_{fig}']:.2f}"
            if c != BASE and f"{fig}_cost_percent" in s:
                lo, hi = s[f"{fig}_cost_range"]
                cell += f" (cost {s[f'{fig}_cost_percent']:+.1f} % [{lo:+.1f}, {hi:+.1f}])"
            cells.append(cell)
        if c != BASE and "web_cpu_share_percent" in s:
            lo, hi = s["web_cpu_share_range"]
            cells.append(f"web CPU share {s['web_cpu_share_percent']:+.1f} % [{lo:+.1f}, {hi:+.1f}]")
        lines.append(f"{c:22s} " + " | ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=6.0, help="measured seconds per run (default 6)")
    ap.add_argument("--rounds", type=int, default=6, help="rounds of all three conditions (default 6)")
    ap.add_argument("--json", type=Path, help="also write the runs and the summary here")
    ap.add_argument("--shipped-threads", action="store_true",
                    help="models on the shipped threads and overlap (default: one thread each, no overlap)")
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
            for c in order(r):
                runs.append({"round": r, **measure(c, args.seconds, Path(tmp) / f"{r}-{len(runs)}", args.shipped_threads)})
                print(json.dumps(runs[-1]), flush=True)
    summary = summarize(runs)
    print(report(summary))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": runs, "summary": summary}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

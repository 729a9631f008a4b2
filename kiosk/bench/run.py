"""`python -m kiosk bench`: throughput, per-stage latency, memory and start-up of the real pipeline.

The frames are built once (kiosk/bench/scenarios.py); our pipeline (kiosk/bench/ours.py) and, with
--peer, face-mask-detector==0.2.3 (tools/eval/peer_worker.py) each run in a worker subprocess, fed the
very same JPEG files and timed by the same loop (kiosk/bench/measure.py); the two alternate scenario
by scenario so that background load (a training job on the build machine) hits both alike. The report
(kiosk/bench/report.py) goes to OUT/bench.json and is printed as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from .measure import STAGES
from .peer import DEFAULT_PEER_PYTHON, PEER_WORKER, Side, Worker, WorkerError
from .report import (
    REPORT_SCHEMA,
    _git_commit,
    _machine,
    _our_models_macs,
    _pi4_estimate,
    _ratios,
    _side_report,
    format_table,
)
from .scenarios import (
    FRAME_H,
    FRAME_W,
    JPEG_QUALITY,
    SCENARIOS,
    build_frames,
    load_frames,
)


def _parse_threads(text: str | None) -> list[int | None]:
    if not text:
        return [None]
    return [int(t) for t in str(text).split(",") if t.strip()]


def what_runs(config: str | None) -> str:
    """The models our side runs, named from the config (the report says what was measured)."""
    from ..config import Config, load

    cfg = load(config) if config else Config()
    d = cfg.detector
    det = ("BlazeFace (LiteRT)" if d.backend == "blazeface"
           else f"YuNet ({'LiteRT' if d.engine == 'litert' else 'OpenCV'})")
    nose = " + nose check" if cfg.classifier.nose_model else ""
    return f"{det} + int8 classifier{nose} (LiteRT)"


def run_bench(args: argparse.Namespace) -> int:
    """Entry of `python -m kiosk bench`; returns the exit code."""
    seconds = float(getattr(args, "seconds", 60.0))
    out = Path(getattr(args, "out", "build/bench"))
    rounds = max(1, int(getattr(args, "rounds", 2) or 1))
    startup_runs = max(1, int(getattr(args, "startup_runs", 3) or 1))
    threads = _parse_threads(getattr(args, "threads", None))
    overlaps: list[str | None] = [o.strip() for o in str(getattr(args, "overlap", None) or "").split(",") if o.strip()]
    if any(o not in ("on", "off") for o in overlaps):
        print(f"error: --overlap takes on, off or off,on, got {args.overlap!r}",
              file=sys.stderr)
        return 2
    overlaps = overlaps or [None]
    config = getattr(args, "config", None)
    model = getattr(args, "model", None)
    want_peer = bool(getattr(args, "peer", False))
    peer_python = Path(getattr(args, "peer_python", None) or DEFAULT_PEER_PYTHON)
    scenarios = [s for s in SCENARIOS if not getattr(args, "scenarios", None) or s[0] in args.scenarios.split(",")]
    if seconds <= 0:
        print("error: --seconds must be > 0", file=sys.stderr)
        return 2
    pi_reference = getattr(args, "pi_reference", None)
    if pi_reference:
        from .pi_estimate import missing_reference

        missing = missing_reference(pi_reference)
        if missing:
            print(f"error: --pi-reference: {missing[0]} not found (write it with "
                  f".venv-host/bin/python -m tools.training.reference_models --out {pi_reference})", file=sys.stderr)
            return 2
    if want_peer and not peer_python.exists():
        print(f"error: peer interpreter {peer_python} not found: create it as docs/bench.md says "
              "(requirements-peer.txt), or pass --peer-python", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()[0]
    frames_dir = out / "frames"
    manifest = build_frames(frames_dir)

    sides: list[Side] = []
    for t in threads:
        for ov in overlaps:
            cmd = [sys.executable, "-m", "kiosk.bench", "worker", "--frames", str(frames_dir.resolve())]
            if config:
                cmd += ["--config", str(Path(config).resolve())]
            if model:
                cmd += ["--model", str(Path(model).resolve())]
            if t:
                cmd += ["--threads", str(t)]
            if ov:
                cmd += ["--overlap", ov]
            key = "ours" + (f"_t{t}" if len(threads) > 1 else "") + (f"_overlap_{ov}" if len(overlaps) > 1 else "")
            sides.append(Side(key, f"maskgate ({what_runs(config)})", cmd))
    if want_peer:
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
        cmd = [str(peer_python), "-m", PEER_WORKER, "--frames", str(frames_dir.resolve())]
        sides.append(Side("peer", "face-mask-detector 0.2.3 (res10 SSD + Keras MobileNetV2 224 float)", cmd, env))

    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    # Start-up: fresh processes, alternating sides, median reported.
    for r in range(startup_runs):
        for side in sides if r % 2 == 0 else list(reversed(sides)):
            w = Worker(side.key, side.cmd + ["--startup-only"], logs / f"{side.key}.log", side.env)
            side.startups.append(w.startup())
            side.startup_rss_kb.append(int(w.ready.get("rss_kb", 0)))
            w.close()
            print(f"start-up {side.key}: {side.startups[-1]['total_s']:.2f} s", file=sys.stderr, flush=True)

    workers: dict[str, Worker] = {}
    try:
        for side in sides:
            workers[side.key] = Worker(side.key, side.cmd, logs / f"{side.key}.log", side.env)
            side.info = workers[side.key].ready.get("info", {})
        per_call = seconds / rounds
        for r in range(rounds):
            for i, (name, _) in enumerate(scenarios):
                # Alternate who goes first, so slow drifts in background load cancel out.
                order = sides if (r + i) % 2 == 0 else list(reversed(sides))
                for side in order:
                    res = workers[side.key].request({"cmd": "run", "scenario": name, "seconds": per_call},
                                                    timeout=per_call * 10 + 300)
                    if res.get("event") != "result":
                        raise WorkerError(f"{side.key}: {res}")
                    side.results.setdefault(name, []).append(res)
                    print(f"round {r + 1}/{rounds} {name} {side.key}: {res['frames'] / res['wall_s']:.1f} fps"
                          + (f", {res['failures']} failed" if res["failures"] else ""), file=sys.stderr, flush=True)
        if getattr(args, "profile", False):
            for side in sides:
                if side.key.startswith("ours"):
                    path = (out / f"{side.key}.prof").resolve()
                    workers[side.key].request({"cmd": "profile", "scenario": "faces3", "seconds": max(2.0, per_call),
                                               "path": str(path)}, timeout=600)
                    print(f"profile: {path}", file=sys.stderr)
    finally:
        for side in sides:
            w = workers.get(side.key)
            if w is not None:
                side.peak_rss_kb = w.close()

    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_commit": _git_commit(), "argv": sys.argv[1:],
        "machine": dict(_machine(), loadavg_start=round(load_start, 2)),
        "settings": {"seconds": seconds, "rounds": rounds, "startup_runs": startup_runs,
                     "threads": [t for t in threads], "overlap": overlaps, "config": config, "model": model,
                     "pi_reference": pi_reference},
        "frames": {"count": len(manifest["frames"]), "origin": manifest["origin"], "sha256": manifest["sha256"],
                   "jpeg_quality": JPEG_QUALITY, "size": [FRAME_W, FRAME_H],
                   "per_scenario": {n: sum(1 for f in manifest["frames"] if f["scenario"] == n) for n, _ in SCENARIOS}},
        "stages": list(STAGES),
        "notes": ["latency per stage in ms over every measured frame; publish only over frames with a decision",
                  "start-up: process spawn to the first frame's verdict (import + model load + first frame)",
                  "peak RSS: VmHWM of the worker process at the end of the run",
                  "cpu_ms_per_frame: process CPU time (all threads) / frames"],
        "sides": {s.key: _side_report(s, manifest) for s in sides},
    }
    macs = _our_models_macs(config, model)
    report["models"] = macs
    report["pi4_estimate"] = _pi4_estimate(pi_reference, config, model, load_frames(frames_dir)[1]["faces3"], macs)
    if want_peer:
        report["ratios"] = {k: _ratios(v, report["sides"]["peer"]) for k, v in report["sides"].items()
                            if k.startswith("ours")}
    path = out / "bench.json"
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(format_table(report))
    print(f"\nreport: {path}")
    return 0

"""Ours beside the peer on real scenes: milliseconds per scene and peak memory, in one run.

    .venv/bin/python -m tools.eval.scene_speed ../shared/datasets/scenes-cc0/scenes \
        --series tools/eval/scenes_cc0_series.tsv --split test --count 100 --seconds 30 --out build/scene-speed

The bench (`kiosk bench --peer`) times fixed 640x480 frames made from the demo clip; this times real photos
(the first `--count` scenes, by name, of a folder or of one part of a series split), each decided once as a
new scene, through the same two worker processes (ours: `python -m kiosk.bench worker`, the daemon's pieces
with the default config; the peer: `-m tools.eval.peer_worker` in `.venv-peer`, docs/bench.md) and the same
timing loop, the two sides taking turns in `--rounds` rounds. Reported: the median and 95th percentile of
the whole per-scene time (decode to decision), the faces found, each side's peak RSS, and ours/peer, pooled and
round by round (on a shared machine the load moves both sides' times between rounds; more rounds, steadier).
Writes OUT/scene_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

from tools.cli import CliError, run

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = "scenes"


def write_frames(folder: Path, names: list[str], out: Path) -> None:
    """The scenes as the workers read frames: OUT/frames.json naming each under one scenario, plus the
    start-up frame the workers open with (faces1-0.jpg: here the first scene)."""
    out.mkdir(parents=True, exist_ok=True)
    frames = []
    for i, name in enumerate(names):
        dest = f"scene-{i:03d}.jpg"
        shutil.copyfile(folder / name, out / dest)
        frames.append({"file": dest, "scenario": SCENARIO, "source": name})
    shutil.copyfile(folder / names[0], out / "faces1-0.jpg")
    (out / "frames.json").write_text(json.dumps({"frames": frames, "origin": str(folder)}) + "\n", encoding="utf-8")


def summarise(results: list[dict]) -> dict:
    totals = [t for r in results for t in r["stages_ms"]["total"]]
    if not totals:
        return {"frames": 0}
    totals.sort()
    return {"frames": len(totals), "median_ms": round(statistics.median(totals), 2),
            "p95_ms": round(totals[min(len(totals) - 1, int(0.95 * len(totals)))], 2),
            "failures": sum(r["failures"] for r in results),
            "faces_found": sum(v or 0 for v in results[0]["faces_found"].values())}


def round_ratios(ours: list[dict], peer: list[dict]) -> list[float]:
    """Per round, the peer's median time per scene over ours. The two sides of one round run back to back, so each
    ratio reads one stretch of the machine's load; on a shared machine whose load drifts between rounds, their
    spread shows how much of the pooled ratio is the minute rather than the code."""
    out = []
    for o, q in zip(ours, peer):
        ot, qt = o["stages_ms"]["total"], q["stages_ms"]["total"]
        if ot and qt:
            out.append(round(statistics.median(qt) / statistics.median(ot), 2))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="scene folder (JPEG photos)")
    p.add_argument("--series", type=Path, default=None, help="series file (tools/data/scene_series.py)")
    p.add_argument("--split", choices=("train", "test"), default="test")
    p.add_argument("--count", type=int, default=100, help="scenes (default 100)")
    p.add_argument("--seconds", type=float, default=30.0, help="measuring time per side and round (default 30)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--peer-python", type=Path, default=ROOT / ".venv-peer" / "bin" / "python")
    p.add_argument("--out", type=Path, default=Path("build/scene-speed"))
    args = p.parse_args(argv)
    if not args.folder.is_dir():
        raise CliError(f"scene folder not found: {args.folder}")
    if not args.peer_python.exists():
        raise CliError(f"peer interpreter {args.peer_python} not found: create .venv-peer as docs/bench.md says")
    if not 1 <= args.count <= 10000 or not 1 <= args.rounds <= 20 or not 1.0 <= args.seconds <= 3600:
        raise CliError("--count 1..10000, --rounds 1..20, --seconds 1..3600")
    from tools.data.scene_series import in_split

    names = sorted(q.name for q in args.folder.iterdir() if q.suffix.lower() in (".jpg", ".jpeg"))
    names = in_split(names, args.series, args.split)[: args.count]
    if not names:
        raise CliError(f"{args.folder}: no JPEG scenes to time")

    from kiosk.bench.peer import Worker

    frames_dir = (args.out / "frames").resolve()
    write_frames(args.folder, names, frames_dir)
    logs = args.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    peer_env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    sides = {"ours": Worker("ours", [sys.executable, "-m", "kiosk.bench", "worker", "--frames", str(frames_dir)],
                            logs / "ours.log"),
             "peer": Worker("peer", [str(args.peer_python), "-m", "tools.eval.peer_worker",
                                     "--frames", str(frames_dir)], logs / "peer.log", env=peer_env)}
    results: dict[str, list[dict]] = {k: [] for k in sides}
    rss: dict[str, int] = {}
    try:
        for r in range(args.rounds):
            for key in (list(sides) if r % 2 == 0 else list(reversed(sides))):
                got = sides[key].request({"cmd": "run", "scenario": SCENARIO, "seconds": args.seconds, "hold": 1},
                                         timeout=args.seconds * 4 + 600)
                results[key].append(got)
                print(f"round {r + 1}/{args.rounds} {key}: {got['frames']} scenes timed", file=sys.stderr)
    finally:
        for key, worker in sides.items():
            rss[key] = worker.close()
    report = {"scenes": len(names), "origin": str(args.folder), "split": args.split if args.series else None,
              "sides": {k: {**summarise(v), "peak_rss_mib": round(rss[k] / 1024, 1)} for k, v in results.items()}}
    o, q = report["sides"]["ours"], report["sides"]["peer"]
    if o.get("median_ms") and q.get("median_ms") and rss["peer"]:
        report["ours_faster_per_scene"] = round(q["median_ms"] / o["median_ms"], 1)
        report["peak_rss_ours_over_peer"] = round(rss["ours"] / rss["peer"], 3)
        report["ours_faster_by_round"] = round_ratios(results["ours"], results["peer"])
    (args.out / "scene_speed.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for key, s in report["sides"].items():
        print(f"{key}: {s.get('median_ms')} ms median, {s.get('p95_ms')} ms p95 per scene over {s['frames']} "
              f"timed; faces found {s.get('faces_found')}; failures {s.get('failures')}; peak RSS {s['peak_rss_mib']} MiB")
    if "ours_faster_per_scene" in report:
        print(f"ours is {report['ours_faster_per_scene']}x faster per scene (median); peak RSS ours/peer "
              f"{report['peak_rss_ours_over_peer']}; round by round {report['ours_faster_by_round']}x")
    return 0


if __name__ == "__main__":
    run(main)

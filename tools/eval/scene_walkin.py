"""What a visitor feels, on real scenes: each scene made into a walk-in clip and replayed through the daemon.

    .venv/bin/python -m tools.eval.scene_walkin ../shared/datasets/scenes-cc0/scenes \\
        --series tools/eval/scenes_cc0_series.tsv --split test --out build/walkin

The person walking in is the scene's widest labelled face. The clip is what a 640x480 camera would see as the
photo comes closer: over `--frames` frames at `--fps`, the photo is scaled so that this face grows from 24 to
160 px wide (geometrically: a steady walk), its centre moving from where it is in the photo to just above the
frame's centre; the rest of the scene (the other people) comes along, and outside the photo the frame is black.
Each clip is written as an image folder in a scratch directory, replayed by the daemon
(`tools.eval.time_to_decision.replay`: mock GPIO, no broker) and deleted: nothing of the faces is kept.

Reported: how many clips were decided, the frames from the walker's first frame at the gate to the first
decision (median, 90th percentile, worst; seconds at the clip's rate and at `--at-fps`), and the decisions
against the walker's label (`mask` should open; a bad face nearer than `zone.near` may also hold it).
Writes OUT/walkin.json and OUT/walkin.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
from collections import Counter
from pathlib import Path

from tools.cli import CliError, run
from tools.eval.kiosk_options import add_kiosk_options, kiosk_config

FRAME_W, FRAME_H = 640, 480
START_PX, END_PX = 24.0, 160.0  # the walker's face width in the first and last frame


def walkin_frames(image, box: tuple[int, int, int, int], frames: int):
    """The clip's frames (BGR 640x480), the photo coming closer around `box` (x, y, w, h in the photo)."""
    import cv2
    import numpy as np

    h, w = image.shape[:2]
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    start = np.array([cx / w * FRAME_W, cy / h * FRAME_H])
    end = np.array([FRAME_W / 2, FRAME_H * 0.45])
    out = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        scale = START_PX * (END_PX / START_PX) ** t / box[2]
        px, py = start + (end - start) * t
        m = np.array([[scale, 0, px - scale * cx], [0, scale, py - scale * cy]], np.float32)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        out.append(cv2.warpAffine(image, m, (FRAME_W, FRAME_H), flags=interp, borderMode=cv2.BORDER_CONSTANT))
    return out


def summarise(rows: list[dict], fps: float, at_fps: list[float]) -> dict:
    decided = [r for r in rows if r["decision"]]
    waits = sorted(r["frames_at_gate"] for r in decided)
    out: dict = {"clips": len(rows), "decided": len(decided),
                 "by_walker": {label: dict(Counter(r["decision"] or "none" for r in rows if r["walker"] == label))
                               for label in sorted({r["walker"] for r in rows})}}
    if waits:
        p90 = waits[min(len(waits) - 1, int(0.9 * len(waits)))]
        out["frames_at_gate"] = {"median": statistics.median(waits), "p90": p90, "max": waits[-1]}
        out["seconds"] = {f"{f:g} fps": {"median": round(statistics.median(waits) / f, 2), "p90": round(p90 / f, 2)}
                          for f in [fps, *at_fps]}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="folder with the scene photos and boxes.tsv")
    p.add_argument("--series", type=Path, default=None, metavar="TSV", help="a series file: only the scenes of --split")
    p.add_argument("--split", choices=("train", "test"), default="test")
    p.add_argument("--count", type=int, default=0, help="at most this many scenes, by name (0: all)")
    p.add_argument("--min-face", type=int, default=40, help="the walker's face is at least this wide in the photo")
    p.add_argument("--frames", type=int, default=36, help="frames per clip (default 36)")
    p.add_argument("--fps", type=float, default=15.0, help="the clips' frame rate (camera.fps; default 15)")
    p.add_argument("--at-fps", type=float, nargs="*", default=[25.0], help="also give the waits at these rates")
    add_kiosk_options(p)
    p.add_argument("--out", type=Path, default=Path("build/walkin"))
    args = p.parse_args(argv)
    if not (args.folder / "boxes.tsv").is_file():
        raise CliError(f"{args.folder}: no boxes.tsv (scene label x y w h)")
    if not 8 <= args.frames <= 600 or not 0.5 <= args.fps <= 120 or args.count < 0:
        raise CliError("--frames 8..600, --fps 0.5..120, --count >= 0")

    import cv2

    from kiosk.capture.images import read_image
    from tools.data.scene_series import in_split
    from tools.eval.eval_scenes import read_boxes
    from tools.eval.time_to_decision import replay

    boxes = read_boxes(args.folder / "boxes.tsv")
    scenes = [s for s in in_split(sorted(boxes), args.series, args.split)
              if any(b[2] >= args.min_face for _, b in boxes[s])]
    if args.count:
        scenes = scenes[: args.count]
    if not scenes:
        raise CliError(f"{args.folder}: no scene with a labelled face at least {args.min_face} px wide")
    rows = []
    for scene in scenes:
        label, box = max(boxes[scene], key=lambda lb: lb[1][2])
        image = read_image(args.folder / scene)
        with tempfile.TemporaryDirectory() as tmp:
            clip = Path(tmp)
            for i, frame in enumerate(walkin_frames(image, box, args.frames)):
                cv2.imwrite(str(clip / f"frame-{i:03d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
            waits, work = replay(clip, kiosk_config(args), args.fps)
        # the walker's decision: the first one the kiosk made (the walker is the largest face at the gate)
        first = waits[0] if waits else None
        rows.append({"scene": scene, "walker": label, "decision": first["decision"] if first else "",
                     "reason": first["reason"] if first else "", "frame": first["frame"] if first else "",
                     "frames_at_gate": first["frames_at_gate"] if first else "", "decisions": len(waits),
                     "faces_classified_per_frame": work["faces_classified_per_frame"]})
    result = summarise(rows, args.fps, args.at_fps)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "walkin.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    with (args.out / "walkin.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"{result['clips']} walk-in clips of {args.frames} frames at {args.fps:g} fps: {result['decided']} decided")
    if "frames_at_gate" in result:
        fr, sec = result["frames_at_gate"], result["seconds"]
        print(f"  frames at the gate until the decision: median {fr['median']:g}, p90 {fr['p90']}, max {fr['max']}; "
              + "; ".join(f"at {k}: median {v['median']} s, p90 {v['p90']} s" for k, v in sec.items()))
    for label, c in result["by_walker"].items():
        print(f"  walker {label}: {c}")
    return 0


if __name__ == "__main__":
    run(main)

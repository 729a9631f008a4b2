"""Face crops through the kiosk's whole per-frame path: detector, crop rule, classifier and nose check.

    .venv/bin/python -m tools.eval.eval_crops ../shared/datasets/validation-real [--model M] [--nose N|off] [--split test]

Unlike tools/eval/evaluate.py, which feeds each image to the classifier as it is, every image here is padded
with grey (a camera frame is not a tight crop) and goes through `FaceAnalyzer.analyse` exactly as a
frame of the daemon does; the verdict is the one of the best detection. Reported per true class: how
often the kiosk's verdict is each label, `missed` when no face was found, and the share the gate would
open for (verdict `mask` with p >= the decision's mask threshold). Writes OUT/crops.json and
OUT/crops.csv (one row per image: path, true label, verdict, score, mask probability).
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter, defaultdict
from pathlib import Path

import cv2

from tools.cli import run
from tools.eval.kiosk_options import add_kiosk_options, kiosk_config
from tools.training import dataset as D


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("roots", nargs="+", help="dataset root(s) with class folders")
    add_kiosk_options(p)
    p.add_argument("--split", choices=("all", "train", "val", "test"), default="all")
    p.add_argument("--face-px", type=int, default=0, help="shrink each image so the face is about N px first")
    p.add_argument("--out", type=Path, default=Path("build/eval/crops"))
    args = p.parse_args(argv)

    from kiosk.vision.analysis import build_analyzer

    cfg = kiosk_config(args)
    # a padded crop is a small frame: let every face through, however small
    cfg.detector.min_face_px = 1
    analyzer = build_analyzer(cfg)
    ds = D.scan(args.roots)
    got: dict[str, Counter] = defaultdict(Counter)
    opened: Counter = Counter()
    roots = [Path(r).resolve() for r in args.roots]

    def key(s) -> str:  # true label, and the root it came from when there are several
        if len(roots) == 1:
            return s.label
        root = next(r for r in roots if s.path.resolve().is_relative_to(r))
        return f"{s.label}@{root.name}"

    rows: list[tuple] = []
    for s in ds.of(args.split):
        rgb = D.load_image(s.path)
        if rgb is None:
            continue
        img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if args.face_px:
            f = args.face_px / max(img.shape[:2])
            img = cv2.resize(img, (max(1, round(img.shape[1] * f)), max(1, round(img.shape[0] * f))),
                             interpolation=cv2.INTER_AREA)
        frame = D.as_frame(img)
        faces, _ = analyzer.analyse(frame)
        if not faces:
            got[key(s)]["missed"] += 1
            rows.append((s.path, s.label, "missed", "", ""))
            continue
        best = max(faces, key=lambda v: v.det_score * v.box[2])
        rows.append((s.path, s.label, best.label, f"{best.score:.4f}", f"{best.mask_prob:.4f}"))
        got[key(s)][best.label] += 1
        opened[key(s)] += best.label == "mask" and best.mask_prob >= cfg.decision.mask_threshold
    result = {"model": cfg.classifier.model, "nose": cfg.classifier.nose_model or "off", "split": args.split,
              "face_px": args.face_px, "verdicts": {l: dict(c) for l, c in got.items()},
              "opens": {l: [opened[l], sum(c.values())] for l, c in got.items()}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "crops.json").write_text(json.dumps(result, indent=2) + "\n")
    with (args.out / "crops.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "true", "verdict", "score", "mask_prob"])
        w.writerows(rows)
    print(f"model {result['model']}, nose {result['nose']}, split {args.split}")
    for l, c in got.items():
        n = sum(c.values())
        found = n - c.get("missed", 0)
        print(f"  {l:22s} n={n:4d}  gate opens {opened[l]:4d} ({100 * opened[l] / max(n, 1):5.1f} % of all, "
              f"{100 * opened[l] / max(found, 1):5.1f} % of found)  verdicts {dict(c)}")
    return 0


if __name__ == "__main__":
    run(main)

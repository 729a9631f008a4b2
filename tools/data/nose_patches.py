#!/usr/bin/env python3
"""Training data for the nose check (kiosk/nose.py): the kiosk's own nose patch of every face in a dataset.

    .venv/bin/python tools/data/nose_patches.py ../shared/datasets/masks-real build/pairs -o build/nose

Each image (through tools/training/dataset.scan, so tools/training/relabel.tsv applies) is padded, run through the kiosk's
default face detector, and the patch kiosk.nose.nose_patch cuts around the best detection's nose is
written as PNG to OUT/with_mask (nose covered: the face was `mask`) or OUT/without_mask (nose bare: the
face was `no_mask` or `incorrect`). `covered` and `not_face` images are left out. OUT/manifest.tsv names
each patch's source photo hash, so tools/training/dataset.py keeps a patch in the split of the photo it came from,
and the nose model is tested on people it never saw.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools.cli import CliError, run  # noqa: E402
from tools.training import dataset as D  # noqa: E402
from kiosk.nose import DOWN, SIDE  # noqa: E402

NOSE_PATCH_FILE = "nose_patch.json"
FOLDER = {"mask": "with_mask", "no_mask": "without_mask", "incorrect": "without_mask"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("roots", nargs="+", help="dataset root(s) with class folders")
    p.add_argument("-o", "--out", type=Path, required=True)
    p.add_argument("--size", type=int, default=64, help="patch side in px (the nose model's input)")
    p.add_argument("--score", type=float, default=None, help="detector score threshold (default: the config's)")
    p.add_argument("--detector", type=Path, default=None, help="face detector model (default: the config's)")
    p.add_argument("--side", type=float, default=SIDE, help=f"patch side, eye distances (default {SIDE})")
    p.add_argument("--down", type=float, default=DOWN,
                   help=f"patch centre from the eye midpoint toward the nose tip, in that distance (default {DOWN})")
    args = p.parse_args(argv)
    if not 16 <= args.size <= 256:
        raise CliError(f"--size {args.size}: must be 16..256")

    from kiosk.config import Config
    from kiosk.nose import nose_patch
    from kiosk.pipeline import build_detector

    cfg = Config()
    if args.detector is not None:
        cfg.detector.model = str(args.detector)
    if args.score is not None:
        cfg.detector.score_threshold = args.score
    detector = build_detector(cfg)
    ds = D.scan(args.roots)
    for folder in set(FOLDER.values()):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    written, no_face = {f: 0 for f in set(FOLDER.values())}, 0
    # the geometry travels with the data into the model's sidecar (tools/convert_tflite.py, kiosk/nose.py)
    geometry = {"side": args.side, "down": args.down, "detector": Path(cfg.detector.model).name}
    (args.out / NOSE_PATCH_FILE).write_text(json.dumps(geometry) + "\n", encoding="utf-8")
    with (args.out / "manifest.tsv").open("w", encoding="utf-8") as tsv:
        tsv.write("output\tsource\tsource_sha256\tlabel\n")
        for s in ds.samples:
            if s.label not in FOLDER:
                continue
            rgb = D.load_image(s.path)
            if rgb is None:
                continue
            frame, best = D.best_face(detector, rgb)  # dataset photos are tight crops; a camera frame is not
            if best is None:
                no_face += 1
                continue
            patch = nose_patch(frame, best.keypoints, args.size, args.side, args.down)
            if patch is None:
                no_face += 1
                continue
            rel = Path(FOLDER[s.label]) / f"{s.path.stem[:60]}_{s.digest[:8]}.png"
            cv2.imwrite(str(args.out / rel), patch)
            tsv.write(f"{rel.as_posix()}\t{s.path}\t{s.group}\t{s.label}\n")
            written[FOLDER[s.label]] += 1
    print(f"patches: {written} (with_mask = nose covered, without_mask = nose bare); no face found: {no_face}")
    return 0


if __name__ == "__main__":
    run(main)

"""Training data for the nose check (kiosk/vision/nose.py): the kiosk's own nose patch of every face in a dataset.

    .venv/bin/python -m tools.data.nose_patches ../shared/datasets/masks-real build/pairs -o build/nose

Each image (through tools/training/dataset.scan, so tools/training/relabel.tsv applies) is padded, run through the kiosk's
default face detector, and the patch kiosk.vision.nose.nose_patch cuts around the best detection's nose is
written as PNG to OUT/with_mask (nose covered: the face was `mask`) or OUT/without_mask (nose bare: the
face was `no_mask` or `incorrect`). `covered` and `not_face` images are left out. OUT/manifest.tsv names
each patch's source photo hash, so tools/training/dataset.py keeps a patch in the split of the photo it came from,
and the nose model is tested on people it never saw.

--face-px LO,HI shrinks every face, before its patch is cut, to a width drawn log-uniformly from LO..HI
px (never enlarged). Why: masks-real's masked photos are smaller and blurrier than its unmasked ones
(../shared/README.md), so "blurry patch" alone says "nose covered"; drawn alike for every class, the
resolution no longer tells the classes apart, and a small face at the gate looks like the patches trained on.

--relabelled-copies K cuts each photo of tools/training/relabel.tsv (real masks worn below the nose: a few
dozen among thousands) K more times, each with the keypoints moved at random (6 % of the eye distance) and
the patch's side and centre varied (+-10 %), as a detector's keypoints vary from frame to frame, so that
the rarest real class weighs more without repeating one image.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from kiosk.vision.nose import DOWN, SIDE
from tools.cli import CliError, run
from tools.training import dataset as D

NOSE_PATCH_FILE = "nose_patch.json"
FOLDER = {"mask": "with_mask", "no_mask": "without_mask", "incorrect": "without_mask"}


def parse_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise CliError(f"--face-px {text!r}: expected LO,HI in px, e.g. 32,160") from None
    if not 8 <= lo <= hi <= 1000:
        raise CliError(f"--face-px {text!r}: expected 8 <= LO <= HI <= 1000")
    return lo, hi


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
    p.add_argument("--face-px", default=None, metavar="LO,HI",
                   help="shrink each face to a random width in LO..HI px first (default: as found)")
    p.add_argument("--relabelled-copies", type=int, default=0, metavar="K",
                   help="K more jittered patches of each photo relabelled by tools/training/relabel.tsv (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random draws (--face-px, --relabelled-copies)")
    args = p.parse_args(argv)
    if not 16 <= args.size <= 256:
        raise CliError(f"--size {args.size}: must be 16..256")
    face_px = parse_range(args.face_px) if args.face_px else None
    if not 0 <= args.relabelled_copies <= 100:
        raise CliError(f"--relabelled-copies {args.relabelled_copies}: must be 0..100")

    from kiosk.config import Config
    from kiosk.vision.detectors import backend_for, build_detector, model_path
    from kiosk.vision.nose import nose_patch

    cfg = Config()
    if args.detector is not None:
        cfg.detector.model = str(args.detector)
        cfg.detector.backend = backend_for(args.detector)  # the backend that runs a model of this kind
    if args.score is not None:
        cfg.detector.score_threshold = args.score
    detector = build_detector(cfg)
    ds = D.scan(args.roots)
    # the geometry travels with the data into the model's sidecar (tools/convert_tflite.py, kiosk/vision/nose.py)
    geometry = {"side": args.side, "down": args.down, "detector": model_path(cfg).name}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / NOSE_PATCH_FILE).write_text(json.dumps(geometry) + "\n", encoding="utf-8")
    rng = np.random.default_rng(args.seed)
    relabelled = set(D.read_relabels())

    def cut(frame, det, copy):
        keypoints, side, down = det.keypoints, args.side, args.down
        if copy and len(keypoints) >= 2:
            kp = np.asarray(keypoints, np.float64)
            eye = float(np.hypot(*(kp[1] - kp[0])))
            keypoints = [tuple(k) for k in kp + rng.normal(0.0, 0.06 * eye, kp.shape)]
            side, down = side * rng.uniform(0.9, 1.1), down + rng.uniform(-0.1, 0.1)
        if face_px is not None:
            f = min(1.0, float(np.exp(rng.uniform(*np.log(face_px)))) / max(det.box[2], 1))
            if f < 1.0:
                frame = cv2.resize(frame, (max(1, round(frame.shape[1] * f)), max(1, round(frame.shape[0] * f))),
                                   interpolation=cv2.INTER_AREA)
                keypoints = [(x * f, y * f) for x, y in keypoints]
        return nose_patch(frame, keypoints, args.size, side, down)

    # dataset photos are tight crops; a camera frame is not (write_face_cuts pads them as frames)
    written, no_face = D.write_face_cuts(
        ds, args.out, detector, FOLDER, cut,
        copies=lambda s: 1 + (args.relabelled_copies if s.digest in relabelled else 0))
    print(f"patches: {written} (with_mask = nose covered, without_mask = nose bare); no face found: {no_face}")
    return 0


if __name__ == "__main__":
    run(main)

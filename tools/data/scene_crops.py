"""Training crops from labelled scenes, cut the way the kiosk cuts them at the gate.

    .venv/bin/python -m tools.data.scene_crops ../shared/datasets/scenes-cc0/scenes \
        --series tools/eval/scenes_cc0_series.tsv --split train -o build/sc

A scene is what the camera sees: faces of 20-150 px, turned, lit from one side, half hidden, many per photo.
Each photo of the chosen part of a series split (tools/data/scene_series.py; never the held-out part) goes
through the kiosk's default detector as a camera frame; every labelled face (`boxes.tsv`: mask, no_mask,
incorrect) that a detection overlaps (IoU >= 0.3, the evaluation's rule) gives one crop: the square
`kiosk.vision.preprocess.square_crop_box` cuts around the DETECTION's box with the config's margin, so the
classifier learns from exactly the framing it will be shown. Labelled faces the detector misses, and
detections that match no labelled face, give nothing (an unlabelled detection may still be a real face).

Writes OUT/<label>/*.png and OUT/manifest.tsv in the format tools/training/dataset.py reads; a crop's
split group is its SERIES, so the classifier's own validation split never holds a sister shot of a
training photo. `--nose` writes the nose check's data instead: the patch kiosk/vision/nose.py cuts around the
detection's keypoints (as tools/data/nose_patches.py does for photo folders), in OUT/with_mask (nose
covered: `mask`) and OUT/without_mask (nose bare: `no_mask`, `incorrect`), with nose_patch.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from tools.cli import CliError, run


def parse_copies(text: str) -> dict[str, int]:
    """`--copies`: one count for every label, or LABEL=K items (labels not named get 1)."""
    labels = ("mask", "no_mask", "incorrect")
    try:
        if "=" not in text:
            out = dict.fromkeys(labels, int(text))
        else:
            out = dict.fromkeys(labels, 1)
            for item in text.split(","):
                label, _, k = item.partition("=")
                if label.strip() not in labels:
                    raise ValueError
                out[label.strip()] = int(k)
    except ValueError:
        raise CliError(f"--copies {text!r}: expected a number or LABEL=K,... with labels {labels}") from None
    if not all(1 <= k <= 20 for k in out.values()):
        raise CliError(f"--copies {text!r}: each count must be 1..20")
    return out


def wobble(box, rng) -> tuple[int, int, int, int]:
    """The box moved by up to 5 % and scaled by up to 10 % of its size."""
    x, y, w, h = box
    s = 1.0 + rng.uniform(-0.1, 0.1)
    dx, dy = rng.uniform(-0.05, 0.05, 2) * (w, h)
    nw, nh = w * s, h * s
    return (round(x + (w - nw) / 2 + dx), round(y + (h - nh) / 2 + dy), max(1, round(nw)), max(1, round(nh)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="scene folder: photos + boxes.tsv")
    p.add_argument("--series", type=Path, required=True, help="series file (tools/data/scene_series.py)")
    p.add_argument("--split", choices=("train", "test"), default="train", help="which part to cut (train)")
    p.add_argument("-o", "--out", type=Path, required=True)
    p.add_argument("--min-face", type=int, default=24, help="smallest detection cut, px (default 24)")
    p.add_argument("--copies", default="1",
                   help="cuts per face: the first exact, the others with the box moved by up to 5 %% and "
                        "scaled by up to 10 %% of its size, as a detector's box wobbles from frame to frame; "
                        "one number for every label, or per label: mask=1,no_mask=4,incorrect=12 (1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nose", action="store_true", help="write nose patches (the nose check's data) instead of crops")
    p.add_argument("--size", type=int, default=64, help="--nose: patch side in px (64)")
    args = p.parse_args(argv)
    if args.min_face < 1:
        raise CliError(f"--min-face {args.min_face}: must be at least 1")
    copies = parse_copies(args.copies)

    import cv2
    import numpy as np

    from kiosk.capture.images import read_image
    from kiosk.config import Config
    from kiosk.vision.detectors import build_detector, model_path
    from kiosk.vision.nose import DOWN, SIDE, nose_patch
    from kiosk.vision.preprocess import crop, square_crop_box
    from tools.data.nose_patches import FOLDER, NOSE_PATCH_FILE
    from tools.data.scene_series import read_series
    from tools.eval.eval_scenes import overlapping, read_boxes

    folder_of = FOLDER if args.nose else {label: label for label in ("mask", "no_mask", "incorrect")}

    def cut(frame, box, det):
        if args.nose:  # the keypoints move with the box: a wobbled box is a wobbled detection
            dx, dy = box[0] - det.box[0], box[1] - det.box[1]
            return nose_patch(frame, [(x + dx, y + dy) for x, y in det.keypoints], args.size, SIDE, DOWN)
        return crop(frame, square_crop_box(box, cfg.detector.margin, frame.shape[1], frame.shape[0]))

    series = read_series(args.series)
    boxes = read_boxes(args.folder / "boxes.tsv")
    cfg = Config()
    detector = build_detector(cfg)
    rng = np.random.default_rng(args.seed)
    counts = dict.fromkeys(folder_of.values(), 0)
    missed = 0
    for folder in counts:
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    if args.nose:
        (args.out / NOSE_PATCH_FILE).write_text(json.dumps({"side": SIDE, "down": DOWN, "detector": model_path(
            cfg).name}) + "\n", encoding="utf-8")
    with (args.out / "manifest.tsv").open("w", encoding="utf-8") as tsv:
        tsv.write("output\tsource\tsource_sha256\tlabel\n")
        for scene in sorted(boxes):
            if series.get(scene, ("", ""))[1] != args.split:
                continue
            group = hashlib.sha256(series[scene][0].encode()).hexdigest()
            frame = read_image(args.folder / scene)
            dets = [d for d in detector.detect(frame) if d.box[2] >= args.min_face]
            for i, (label, box) in enumerate(boxes[scene]):
                det = overlapping(dets, box, lambda d: tuple(d.box))
                if det is None:
                    missed += 1
                    continue
                for k in range(copies[label]):
                    face = cut(frame, wobble(det.box, rng) if k else det.box, det)
                    if face is None or face.size == 0:
                        continue
                    rel = Path(folder_of[label]) / f"{Path(scene).stem}_{i:02d}{f'_c{k}' if k else ''}.png"
                    cv2.imwrite(str(args.out / rel), face)
                    tsv.write(f"{rel.as_posix()}\t{args.folder / scene}\t{group}\t{label}\n")
                    counts[folder_of[label]] += 1
    print(f"crops: {counts}; labelled faces without a detection (or under --min-face): {missed}")
    return 0


if __name__ == "__main__":
    run(main)

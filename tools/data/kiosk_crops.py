"""Training crops framed the way the kiosk frames them: the default detector's box and crop rule.

    .venv/bin/python -m tools.data.kiosk_crops ../shared/datasets/masks-real -o build/kcrops

A dataset photo is framed by whoever cut it (tight, loose, off-centre, sometimes a whole scene), while at
the gate the classifier only ever sees the square `FaceAnalyzer` cuts around the detector's box. For a
turned head that square sits differently on the face than a hand-cut crop does. Each image (through
tools/training/dataset.scan, so tools/training/relabel.tsv applies) is padded like a camera frame, run
through the kiosk's default detector, and the crop of its best detection, cut by
`kiosk.vision.preprocess.square_crop_box` with the config's margin, is written as PNG to OUT/<label>/. Images
where no face is found are left out (counted). OUT/manifest.tsv names each crop's source photo hash, so
tools/training/dataset.py keeps a crop in the split of the photo it came from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.cli import CliError, run
from tools.training import dataset as D

# not_face images hold no face by definition: a detection on them is a detector mistake, not a crop
LABELS = ("mask", "no_mask", "incorrect", "covered")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("roots", nargs="+", help="dataset root(s) with class folders")
    p.add_argument("-o", "--out", type=Path, required=True)
    p.add_argument("--min-face", type=int, default=24, help="smallest detection kept, px (default 24)")
    args = p.parse_args(argv)
    if args.min_face < 1:
        raise CliError(f"--min-face {args.min_face}: must be at least 1")

    from kiosk.config import Config
    from kiosk.vision.detectors import build_detector
    from kiosk.vision.preprocess import crop, square_crop_box

    cfg = Config()
    detector = build_detector(cfg)
    ds = D.scan(args.roots)
    margin = cfg.detector.margin

    def cut(frame, det, copy):
        h, w = frame.shape[:2]
        return crop(frame, square_crop_box(det.box, margin, w, h))

    written, no_face = D.write_face_cuts(ds, args.out, detector, {label: label for label in LABELS}, cut, args.min_face)
    print(f"crops: {written}; no face found: {no_face}")
    return 0


if __name__ == "__main__":
    run(main)

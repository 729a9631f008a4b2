"""Evaluate a .keras or .tflite mask classifier on any folder dataset.

    .venv-host/bin/python -m tools.eval.evaluate models/mask_classifier.tflite ../shared/datasets/masks-real \
        --split test --out build/eval

Every image is decoded to RGB the same way as in training. A .tflite model runs through
kiosk.vision.classifier.Classifier (its sidecar, its resize_face), i.e. exactly as the kiosk runs it; a .keras
model gets the same resize_face input. --face-px N first shrinks each image to N px (a face that small
in the camera frame). Writes OUT/metrics.json, OUT/confusion.png and OUT/predictions.csv.
--split all (default) uses every image; train/val/test use the content-hash split of tools/train.py.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from tools.cli import CliError, run
from tools.training import dataset as D
from tools.training import metrics as M


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help=".keras or .tflite (with its .json sidecar)")
    p.add_argument("roots", nargs="+", help="dataset root(s) with with_mask/without_mask[/mask_weared_incorrect]")
    p.add_argument("--out", default="build/eval", help="output folder (default build/eval)")
    p.add_argument("--split", choices=("all", "train", "val", "test"), default="all")
    p.add_argument("--val", type=float, default=0.15, help="split fractions (as in training)")
    p.add_argument("--test", type=float, default=0.15)
    p.add_argument("--face-px", type=int, default=0, help="shrink each image to this many px first (0: off)")
    p.add_argument("--threads", type=int, default=1, help="TFLite threads")
    p.add_argument("--max-per-class", type=int, default=0)
    p.add_argument("--latency", action="store_true", help="also time LiteRT invoke (1 and 2 threads)")
    p.add_argument("--by-root", action="store_true",
                   help="also report each dataset root apart (real photos apart from synthetic ones)")
    return p.parse_args(argv)


class Model:
    """Uniform predict(list of RGB images of any size) -> probabilities in the model's label order."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        if not path.is_file():
            raise CliError(f"model file not found: {path}")
        self.path = path
        if path.suffix == ".tflite":
            from kiosk.vision.classifier import Classifier

            self.clf = Classifier(path, num_threads=threads)
            self.labels = list(self.clf.labels)
            self.size = (self.clf.meta.width, self.clf.meta.height)
            self.kind = "int8 TFLite" if self.clf.meta.input.dtype != "float32" else "TFLite"
        elif path.suffix == ".keras":
            from tools.convert_tflite import load_keras_model, load_train_info

            self.clf = None
            self.model = load_keras_model(path)
            info = load_train_info(path)
            shape = self.model.input_shape
            self.size = (int(shape[2]), int(shape[1]))
            n = int(self.model.output_shape[-1])
            self.labels = list(info.get("labels") or [])
            if len(self.labels) != n:
                from kiosk import LABELS

                self.labels = list(LABELS[:n])
                print(f"note: no {path.stem}.train.json with labels; assuming {self.labels}")
            self.kind = "float Keras"
        else:
            raise CliError(f"{path}: expected a .keras or .tflite file")

    def predict(self, images: list[np.ndarray]) -> np.ndarray:
        from kiosk.vision.preprocess import resize_face

        if self.clf is not None:
            out = np.zeros((len(images), len(self.labels)), np.float32)
            for i, im in enumerate(images):
                out[i] = self.clf.predict(self.clf.prepare(np.ascontiguousarray(im[:, :, ::-1])))
            return out
        if not images:
            return np.zeros((0, len(self.labels)), np.float32)
        x = np.stack([resize_face(im, self.size) for im in images]).astype(np.float32)
        return self.model.predict(x, batch_size=64, verbose=0)


def main(argv=None) -> int:
    args = parse_args(argv)
    model = Model(Path(args.model), args.threads)
    ds = D.scan(args.roots, args.val, args.test, only=None)
    missing = [l for l in ds.labels if l not in model.labels]
    if missing:
        print(f"note: dataset class(es) {missing} are not model outputs; those images count as errors")
    samples = ds.of(args.split)
    if args.max_per_class:
        samples = [s for l in ds.labels for s in [t for t in samples if t.label == l][: args.max_per_class]]
    from kiosk.vision.preprocess import resize_face

    images, kept = [], []
    for s in samples:
        im = D.load_image(s.path)
        if im is None:
            ds.unreadable.append(s.path)
            continue
        if args.face_px:
            im = resize_face(im, (args.face_px, args.face_px))
        images.append(im)
        kept.append(s)
    if not kept:
        raise CliError(f"no readable images in split '{args.split}' of {', '.join(args.roots)}")
    t0 = time.time()
    probs = model.predict(images)
    elapsed = time.time() - t0
    # the metric labels: the model's outputs, plus dataset classes it cannot output (rows only)
    labels = model.labels + [l for l in ds.labels if l not in model.labels]
    y_true = np.array([labels.index(s.label) for s in kept])
    y_pred = probs.argmax(1)
    m = M.compute(y_true, y_pred, labels)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "model": str(args.model),
        "kind": model.kind,
        "input_size": list(model.size),
        "data": [str(r) for r in args.roots],
        "split": args.split,
        "face_px": args.face_px or None,
        "unreadable_skipped": len(ds.unreadable),
        "seconds": round(elapsed, 2),
        **m,
    }
    if args.by_root:
        result["by_root"] = {}
        for root in args.roots:
            r = Path(root).resolve()
            idx = [i for i, s in enumerate(kept) if s.path.resolve().is_relative_to(r)]
            if idx:
                result["by_root"][str(root)] = M.compute(y_true[idx], y_pred[idx], labels)
    if args.latency and Path(args.model).suffix == ".tflite":
        from tools.convert_tflite import latency_ms

        result["latency_ms_litert"] = {f"{t}_thread": round(latency_ms(Path(args.model), t), 3) for t in (1, 2)}
    M.write_json(result, out / "metrics.json")
    title = f"{Path(args.model).name} ({model.kind}), {args.split}" + (f", {args.face_px}px" if args.face_px else "")
    M.plot_confusion(m["confusion_matrix"], labels, out / "confusion.png", title)
    with open(out / "predictions.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "sha256", "split", "true", "pred", "correct"] + [f"p_{l}" for l in model.labels])
        for s, yt, yp, p in zip(kept, y_true, y_pred, probs):
            w.writerow([str(s.path), s.digest[:16], s.split, labels[yt], labels[yp], int(yt == yp)]
                       + [f"{v:.4f}" for v in p])
    print(f"{model.kind} {Path(args.model).name} on {args.split} ({', '.join(args.roots)}"
          + (f", faces shrunk to {args.face_px} px" if args.face_px else "") + ")")
    print(M.summary_line(m))
    for root, mr in result.get("by_root", {}).items():
        print(f"  {root}: {M.summary_line(mr)}")
    if ds.unreadable:
        print(f"skipped {len(ds.unreadable)} unreadable file(s)")
    if "latency_ms_litert" in result:
        lat = result["latency_ms_litert"]
        print(f"LiteRT latency here: {lat['1_thread']:.2f} ms (1 thread), {lat['2_thread']:.2f} ms (2 threads)")
    print(f"wrote {out}/metrics.json, confusion.png, predictions.csv")
    return 0


if __name__ == "__main__":
    run(main)

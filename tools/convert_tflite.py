"""Convert a trained Keras classifier to a fully int8 TFLite model + its "maskgate.model/1" sidecar.

    .venv-host/bin/python -m tools.convert_tflite build/train/mask_classifier.keras \
        --out models/mask_classifier.tflite

Calibrates on a stratified set of real training images (>= 200), then checks float Keras against the
int8 model on the held-out test split (content-hash split, same rule as tools/train.py) and refuses
(exit 1, nothing written) when int8 accuracy falls more than --max-drop points below float or when
either model answers one class for everything. The written pair is loaded with
kiosk.vision.classifier.Classifier to prove the daemon accepts it.
Data roots, labels and input size come from NAME.train.json next to the .keras file (or --data).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tools.cli import CliError, keras, quiet_stderr, run
from tools.training import dataset as D
from tools.training import metrics as M


class Refused(Exception):
    """The conversion worked but the result fails a quality gate: exit 1."""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="trained .keras file (from tools/train.py)")
    p.add_argument("--out", default="models/mask_classifier.tflite", help="output .tflite; the sidecar gets .json")
    p.add_argument("--name", default=None, help="model name in the sidecar (default: output file stem)")
    p.add_argument("--data", nargs="+", default=None, help="dataset root(s) (default: from NAME.train.json)")
    p.add_argument("--calibration", type=int, default=300, help="representative training images (default 300)")
    p.add_argument("--min-calibration", type=int, default=200, help="refuse with fewer real calibration images")
    p.add_argument("--io-type", choices=("uint8", "int8"), default="uint8", help="input/output tensor type")
    p.add_argument("--max-drop", type=float, default=0.5, help="max int8 accuracy drop below float, in points")
    p.add_argument("--max-per-class", type=int, default=None, help="cap per class (default: as in training)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def load_train_info(model_path: Path) -> dict:
    info_path = model_path.with_name(model_path.name[: -len(model_path.suffix)] + ".train.json")
    if not info_path.is_file():
        return {}
    try:
        return json.loads(info_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CliError(f"{info_path}: not valid JSON ({exc})") from None


def load_keras_model(path: Path):
    k = keras()
    if not path.is_file():
        raise CliError(f"model file not found: {path}")
    if path.suffix != ".keras":
        raise CliError(f"{path}: expected a .keras file")
    try:
        return k.models.load_model(path, compile=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"{path}: cannot load Keras model ({first})") from None


def _converter(model, size: int, tmp: str):
    import tensorflow as tf

    saved = Path(tmp) / "saved"
    model.export(
        str(saved), format="tf_saved_model",
        input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)], verbose=False,
    )
    return tf.lite.TFLiteConverter.from_saved_model(str(saved))


def to_tflite(model, size: int, rep: np.ndarray, io_type: str) -> bytes:
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        conv = _converter(model, size, tmp)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]

        def gen():
            for im in rep:
                yield [im[np.newaxis].astype(np.float32)]

        conv.representative_dataset = gen
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        dt = tf.uint8 if io_type == "uint8" else tf.int8
        conv.inference_input_type = dt
        conv.inference_output_type = dt
        with quiet_stderr():  # the converter's C++ progress lines
            return conv.convert()


def to_tflite_float(model, size: int) -> bytes:
    """Plain float32 .tflite (no quantisation): tools/training/reference_models.py's float reference."""
    with tempfile.TemporaryDirectory() as tmp:
        conv = _converter(model, size, tmp)
        with quiet_stderr():
            return conv.convert()


def tensor_details(tfl_path: Path):
    from kiosk.vision.runtime import load_interpreter

    it = load_interpreter(tfl_path)
    i, o = it.get_input_details()[0], it.get_output_details()[0]

    def spec(d):
        scale, zp = d["quantization"]
        return {"dtype": np.dtype(d["dtype"]).name, "scale": float(scale), "zero_point": int(zp)}

    return spec(i), spec(o), [int(s) for s in i["shape"]], [int(s) for s in o["shape"]]


def classify_all(clf, x_rgb: np.ndarray) -> np.ndarray:
    """Probabilities from a kiosk Classifier for model-sized RGB images (fed as the BGR crops it expects)."""
    out = np.zeros((len(x_rgb), len(clf.labels)), np.float32)
    for n, im in enumerate(x_rgb):
        out[n] = clf.predict(clf.prepare(np.ascontiguousarray(im[:, :, ::-1])))
    return out


def degenerate(pred: np.ndarray, y: np.ndarray) -> bool:
    return len(np.unique(y)) > 1 and len(np.unique(pred)) == 1


def latency_ms(tfl_path: Path, threads: int, runs: int = 200) -> float:
    from kiosk.vision.runtime import load_interpreter

    it = load_interpreter(tfl_path, num_threads=threads)
    d = it.get_input_details()[0]
    x = np.random.default_rng(0).integers(0, 255, size=d["shape"]).astype(d["dtype"])
    for _ in range(10):
        it.set_tensor(d["index"], x)
        it.invoke()
    t = time.perf_counter()
    for _ in range(runs):
        it.set_tensor(d["index"], x)
        it.invoke()
    return (time.perf_counter() - t) / runs * 1000.0


def nose_patch_of(roots) -> dict:
    """{"nose_patch": geometry} when the data are nose patches (tools/data/nose_patches.py wrote the geometry)."""
    found = [json.loads((Path(r) / "nose_patch.json").read_text(encoding="utf-8"))
             for r in roots if (Path(r) / "nose_patch.json").is_file()]
    if not found:
        return {}
    # the kiosk cuts by side and down only; patches from two detectors' keypoints may be mixed
    if any((g.get("side"), g.get("down")) != (found[0].get("side"), found[0].get("down")) for g in found):
        raise CliError(f"the data roots were cut with different nose patch geometries: {found}")
    return {"nose_patch": {"side": float(found[0]["side"]), "down": float(found[0]["down"])}}


def main(argv=None) -> int:
    args = parse_args(argv)
    model_path = Path(args.model)
    out = Path(args.out)
    if out.suffix != ".tflite":
        raise CliError(f"--out {out}: must end in .tflite")
    info = load_train_info(model_path)
    model = load_keras_model(model_path)
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1] is None or shape[1] != shape[2] or shape[3] != 3:
        raise CliError(f"{model_path}: input shape {shape} is not [N, S, S, 3]")
    size = int(shape[1])
    roots = args.data or info.get("roots")
    if not roots:
        raise CliError(f"{model_path}: no {model_path.stem}.train.json next to it; pass --data ROOT")
    only = info.get("classes")
    ds = D.scan(roots, info.get("val_fraction", 0.15), info.get("test_fraction", 0.15), only)
    labels = list(info.get("labels") or ds.labels)
    if list(ds.labels) != labels:
        raise CliError(f"dataset classes {list(ds.labels)} differ from the model's labels {labels}")
    n_out = int(model.output_shape[-1])
    if n_out != len(labels):
        raise CliError(f"{model_path}: {n_out} outputs but labels {labels}")
    cap = args.max_per_class if args.max_per_class is not None else int(info.get("max_per_class") or 0)

    def pick(split):
        ss = ds.of(split)
        if cap:
            ss = [s for l in labels for s in [t for t in ss if t.label == l][:cap]]
        return ss

    xtr, ytr, _ = D.load_arrays(ds, pick("train"), size, verbose=False)
    xte, yte, _ = D.load_arrays(ds, pick("test"), size, verbose=False)
    if len(xte) == 0:
        raise CliError("test split is empty: nothing to verify the int8 model on")
    idx = D.representative(xtr, ytr, args.calibration, args.seed)
    if len(idx) < args.min_calibration:
        raise CliError(f"only {len(idx)} training images for calibration, need >= {args.min_calibration}")
    rep = xtr[idx]
    print(f"calibrating on {len(rep)} training images "
          f"({ {labels[c]: int(np.sum(ytr[idx] == c)) for c in np.unique(ytr[idx])} }); "
          f"verifying on {len(xte)} test images")
    t0 = time.time()
    tfl = to_tflite(model, size, rep, args.io_type)
    print(f"converted in {time.time() - t0:.0f}s: {len(tfl):,} bytes")

    from kiosk.vision.classifier import SCHEMA, Classifier, sha256_file

    name = args.name or out.stem
    with tempfile.TemporaryDirectory() as tmp:
        tpath = Path(tmp) / out.name
        tpath.write_bytes(tfl)
        ispec, ospec, ishape, oshape = tensor_details(tpath)
        if ishape != [1, size, size, 3] or oshape != [1, len(labels)]:
            raise CliError(f"converted model has input {ishape}, output {oshape}; expected [1,{size},{size},3], [1,{len(labels)}]")
        float_probs = model.predict(xte.astype(np.float32), batch_size=64, verbose=0)
        float_pred = float_probs.argmax(1)
        mf = M.compute(yte, float_pred, labels)
        meta = {
            "schema": SCHEMA,
            "name": name,
            "file": out.name,
            "sha256": sha256_file(tpath),
            "labels": labels,
            "input": {"width": size, "height": size, "channels": 3, "color_order": "RGB", **ispec},
            "preprocessing": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
            "output": {**ospec, "activation": "softmax"},
            "source": {
                "keras_model": model_path.name,
                "keras_sha256": sha256_file(model_path),
                "alpha": info.get("alpha"),
                "weights": info.get("weights"),
                "train_split_counts": info.get("split_counts"),
                "split_rule": info.get("split_rule"),
                "calibration_images": int(len(rep)),
            },
            **nose_patch_of(roots),
            "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "tool": "tools/convert_tflite.py",
        }
        side = tpath.with_suffix(".json")
        M.write_json(meta, side)
        clf = Classifier(tpath)  # the daemon's own loader and checks
        q_pred = classify_all(clf, xte).argmax(1)
        mq = M.compute(yte, q_pred, labels)
        agree = float(np.mean(q_pred == float_pred))
        drop = (mf["accuracy"] - mq["accuracy"]) * 100
        print(f"float Keras : {M.summary_line(mf)}")
        print(f"int8 TFLite : {M.summary_line(mq)}")
        print(f"argmax agreement {agree * 100:.2f}%, int8 accuracy drop {drop:+.2f} points (max {args.max_drop})")
        if degenerate(float_pred, yte):
            raise Refused(f"float model is degenerate: answers '{labels[int(float_pred[0])]}' for every test image")
        if degenerate(q_pred, yte):
            raise Refused(f"int8 model is degenerate: answers '{labels[int(q_pred[0])]}' for every test image")
        if drop > args.max_drop:
            raise Refused(f"int8 accuracy {mq['accuracy'] * 100:.2f}% is {drop:.2f} points below float "
                          f"{mf['accuracy'] * 100:.2f}% (--max-drop {args.max_drop})")
        lat = {f"{t}_thread": round(latency_ms(tpath, t), 3) for t in (1, 2)}
        meta["metrics"] = {
            "split": "test",
            "float": mf,
            "int8": mq,
            "argmax_agreement": agree,
            "latency_ms_litert_x86": lat,
        }
        meta["source"]["train_metrics_test"] = (info.get("metrics") or {}).get("test", {}).get("accuracy")
        M.write_json(meta, side)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tpath, out)
        shutil.copyfile(side, out.with_suffix(".json"))
    clf = Classifier(out)
    label, p, _ = clf.classify(np.ascontiguousarray(xte[0][:, :, ::-1]))
    print(f"latency (LiteRT, this machine): {lat['1_thread']:.2f} ms 1 thread, {lat['2_thread']:.2f} ms 2 threads")
    print(f"wrote {out} ({out.stat().st_size:,} bytes) and {out.with_suffix('.json')}; "
          f"kiosk.vision.classifier.Classifier loads it (first test image -> {label} {p:.2f})")
    return 0


def _main() -> int:
    try:
        return main()
    except Refused as exc:
        print(f"error: refused: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    run(_main)

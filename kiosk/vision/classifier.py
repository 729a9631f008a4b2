"""The int8 mask classifier and the sidecar metadata that describes it.

A model is a pair: `NAME.tflite` and `NAME.json`, written by tools/convert_tflite.py.
The sidecar (schema "maskgate.model/1") holds:

    name            str   model name, published with every event
    file            str   basename of the .tflite file
    sha256          str   hex digest of the .tflite file
    labels          [str] output order; each of "mask", "no_mask", "incorrect", "not_face"
                          ("mask" required; "not_face" crops are dropped as detector mistakes)
    input           {width, height, channels: 3, color_order: "RGB"|"BGR",
                     dtype: "uint8"|"int8"|"float32", scale, zero_point}
    preprocessing   {mean: [3 floats], std: [3 floats]}: the model is fed
                     ((pixel 0..255) - mean) / std, then quantised with input scale/zero_point.
                     [0,0,0]/[1,1,1] means raw pixels (normalisation folded into the model).
    output          {dtype, scale, zero_point, activation: "softmax"|"logits"}
    (optional)      source, metrics, created, tool: informational

The daemon refuses a model whose file, tensor shapes, types or quantisation disagree with it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .. import LABELS
from ..errors import KioskError
from .preprocess import dequantize, quantize, resize_face
from .runtime import load_interpreter

SCHEMA = "maskgate.model/1"
_DTYPES = {"uint8": np.uint8, "int8": np.int8, "float32": np.float32}


@dataclass(frozen=True)
class TensorSpec:
    """A model tensor's type and its int8/uint8 quantisation (real = scale * (q - zero_point))."""

    dtype: str
    scale: float
    zero_point: int


@dataclass(frozen=True)
class ModelMeta:
    """The model's sidecar JSON: labels, input size and colour order, normalisation, tensors."""

    name: str
    file: str
    sha256: str
    labels: tuple[str, ...]
    width: int
    height: int
    color_order: str
    input: TensorSpec
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output: TensorSpec
    activation: str


def sidecar_path(model_path: Path) -> Path:
    """The .json next to a .tflite model."""
    return model_path.with_suffix(".json")


def sha256_file(path: Path) -> str:
    """The file's SHA-256 as hex (read in blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _get(d: dict, key: str, typ: type | tuple, where: str):
    if key not in d:
        raise KioskError(f"{where}: missing key '{key}'")
    val = d[key]
    if isinstance(val, bool) or not isinstance(val, typ):
        raise KioskError(f"{where}: key '{key}' has wrong type {type(val).__name__}")
    return val


def _tensor_spec(d: dict, where: str) -> TensorSpec:
    dtype = _get(d, "dtype", str, where)
    if dtype not in _DTYPES:
        raise KioskError(f"{where}: unsupported dtype '{dtype}'")
    scale = float(_get(d, "scale", (int, float), where))
    zp = _get(d, "zero_point", int, where)
    if dtype != "float32" and not scale > 0:
        raise KioskError(f"{where}: scale must be > 0 for {dtype}, got {scale}")
    return TensorSpec(dtype, scale, zp)


def read_meta(model_path: Path) -> ModelMeta:
    """Parse and validate the sidecar of `model_path` (not yet against the model itself)."""
    side = sidecar_path(model_path)
    if not side.is_file():
        raise KioskError(f"model metadata not found: {side} (written by tools/convert_tflite.py)")
    try:
        raw = json.loads(side.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KioskError(f"{side}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise KioskError(f"{side}: expected a JSON object")
    where = str(side)
    schema = raw.get("schema")
    if schema != SCHEMA:
        raise KioskError(f"{where}: schema is {schema!r}, expected {SCHEMA!r}")
    labels = _get(raw, "labels", list, where)
    if not labels or len(set(labels)) != len(labels) or any(l not in LABELS for l in labels):
        raise KioskError(f"{where}: labels {labels} must be distinct values of {list(LABELS)}")
    if "mask" not in labels or "no_mask" not in labels:
        raise KioskError(f"{where}: labels {labels} must include 'mask' and 'no_mask'")
    inp = _get(raw, "input", dict, where)
    w = _get(inp, "width", int, where + " input")
    h = _get(inp, "height", int, where + " input")
    if not (8 <= w <= 1024 and 8 <= h <= 1024):
        raise KioskError(f"{where}: input size {w}x{h} out of range 8..1024")
    if _get(inp, "channels", int, where + " input") != 3:
        raise KioskError(f"{where}: input channels must be 3")
    color = _get(inp, "color_order", str, where + " input")
    if color not in ("RGB", "BGR"):
        raise KioskError(f"{where}: input color_order must be RGB or BGR, got {color!r}")
    pre = _get(raw, "preprocessing", dict, where)
    mean = _get(pre, "mean", list, where + " preprocessing")
    std = _get(pre, "std", list, where + " preprocessing")
    if len(mean) != 3 or len(std) != 3 or any(float(s) <= 0 for s in std):
        raise KioskError(f"{where}: preprocessing mean/std must be 3 numbers each, std > 0")
    out = _get(raw, "output", dict, where)
    activation = _get(out, "activation", str, where + " output")
    if activation not in ("softmax", "logits"):
        raise KioskError(f"{where}: output activation must be softmax or logits")
    sha = _get(raw, "sha256", str, where)
    return ModelMeta(
        name=_get(raw, "name", str, where),
        file=_get(raw, "file", str, where),
        sha256=sha.lower(),
        labels=tuple(labels),
        width=w,
        height=h,
        color_order=color,
        input=_tensor_spec(inp, where + " input"),
        mean=tuple(float(m) for m in mean),  # type: ignore[arg-type]
        std=tuple(float(s) for s in std),  # type: ignore[arg-type]
        output=_tensor_spec(out, where + " output"),
        activation=activation,
    )


def _check_tensor(detail: dict, spec: TensorSpec, shape: tuple[int, ...], what: str, path: Path) -> None:
    got_shape = tuple(int(s) for s in detail["shape"])
    if got_shape != shape:
        raise KioskError(f"{path}: {what} shape is {list(got_shape)}, metadata says {list(shape)}")
    got_dtype = np.dtype(detail["dtype"]).name
    if got_dtype != spec.dtype:
        raise KioskError(f"{path}: {what} dtype is {got_dtype}, metadata says {spec.dtype}")
    if spec.dtype != "float32":
        scale, zp = detail["quantization"]
        if not np.isclose(scale, spec.scale, rtol=1e-5, atol=0) or int(zp) != spec.zero_point:
            raise KioskError(
                f"{path}: {what} quantisation is scale={scale:g} zero_point={zp}, "
                f"metadata says scale={spec.scale:g} zero_point={spec.zero_point}"
            )


class Classifier:
    """One interpreter (its input re-sized when the number of faces per invoke changes); classifies BGR
    face crops into label probabilities."""

    def __init__(self, model_path: str | Path, num_threads: int = 1) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise KioskError(f"model file not found: {path}")
        meta = read_meta(path)
        if meta.file != path.name:
            raise KioskError(f"{sidecar_path(path)}: describes '{meta.file}', not '{path.name}'")
        digest = sha256_file(path)
        if digest != meta.sha256:
            raise KioskError(
                f"{path}: sha256 {digest[:12]}... does not match metadata {meta.sha256[:12]}... "
                "(model and sidecar are from different conversions)"
            )
        self.threads = int(num_threads)
        self.interpreter = load_interpreter(path, num_threads=num_threads)
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise KioskError(f"{path}: expected 1 input and 1 output tensor")
        _check_tensor(inputs[0], meta.input, (1, meta.height, meta.width, 3), "input", path)
        _check_tensor(outputs[0], meta.output, (1, len(meta.labels)), "output", path)
        self.meta = meta
        self.path = path
        self.sha256 = digest
        self._in_index = inputs[0]["index"]
        self._out_index = outputs[0]["index"]
        self._mean = np.asarray(meta.mean, np.float32)
        self._std = np.asarray(meta.std, np.float32)
        self._identity = bool(np.all(self._mean == 0) and np.all(self._std == 1))
        self._in_dtype = _DTYPES[meta.input.dtype]

    @property
    def labels(self) -> tuple[str, ...]:
        """The output classes in the model's order."""
        return self.meta.labels

    def prepare(self, face_bgr: np.ndarray) -> np.ndarray:
        """BGR uint8 face crop of any size -> the model's input tensor [1, H, W, 3]."""
        # Resize first, then swap channels: the swap is a pure per-pixel permutation and resizing
        # works per channel, so the result is the same, but the swap then touches W x H pixels
        # instead of a whole (often larger) face crop.
        img = resize_face(face_bgr, (self.meta.width, self.meta.height))
        if self.meta.color_order != "BGR":
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        spec = self.meta.input
        if self._identity and spec.dtype == "uint8" and spec.scale == 1.0 and spec.zero_point == 0:
            return img[np.newaxis]  # raw pixels are already the quantised values
        x = img.astype(np.float32)
        if not self._identity:
            x = (x - self._mean) / self._std
        if spec.dtype == "float32":
            return x[np.newaxis]
        return quantize(x, spec.scale, spec.zero_point, self._in_dtype)[np.newaxis]

    def predict(self, tensor: np.ndarray) -> np.ndarray:
        """Run the model on a prepared tensor; returns probabilities in label order."""
        return self.predict_batch([tensor])[0]

    def predict_batch(self, tensors: list[np.ndarray]) -> np.ndarray:
        """All faces of a frame: [N, labels] probabilities, row i for tensors[i].

        One invoke per face on the input allocated for one, never re-sized. An invoke of N faces was ~20 %
        cheaper per face with 2 threads while N stayed the same (2.5 % at 1 thread), but the face count
        changes as people come, go and are decided, and each change re-prepared the model (XNNPACK): the
        next invoke cost 0.5-1.9 ms more here, and the arena stayed sized for the most faces ever seen
        (+6.6 MiB for 5). int8 arithmetic does not depend on the batch: the numbers are the same.
        """
        if not tensors:
            return np.zeros((0, len(self.labels)), np.float32)
        spec = self.meta.output
        rows = []
        for tensor in tensors:
            self.interpreter.set_tensor(self._in_index, tensor)
            self.interpreter.invoke()
            raw = self.interpreter.get_tensor(self._out_index)
            rows.append(raw.astype(np.float32) if spec.dtype == "float32"
                        else dequantize(raw, spec.scale, spec.zero_point))
        return self._normalise(rows[0] if len(rows) == 1 else np.concatenate(rows))

    def _normalise(self, out: np.ndarray) -> np.ndarray:
        """[N, labels] model outputs -> probabilities, row by row (vectorised)."""
        if self.meta.activation == "logits":
            e = np.exp(out - out.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        total = out.sum(axis=1, keepdims=True)
        # an all-zero output (possible after quantisation) says nothing: uniform
        return np.where(total > 0, out / np.where(total > 0, total, 1), np.float32(1.0 / out.shape[1]))

    def classify(self, face_bgr: np.ndarray) -> tuple[str, float, dict[str, float]]:
        """Return (label, probability of label, {label: probability})."""
        probs = self.predict(self.prepare(face_bgr))
        i = int(np.argmax(probs))
        return self.labels[i], float(probs[i]), {l: float(p) for l, p in zip(self.labels, probs)}

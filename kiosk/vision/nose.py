"""The nose check: a second, small look at every face the classifier calls `mask`. Is the nose covered?

Why: the face classifier learnt "a mask below the nose" mostly from drawn masks, and on real photos it
lets many through. Whether a nose is visible can be learnt from real photos on both sides, which are
plentiful: unmasked faces (nose visible) and properly masked faces (nose covered). BlazeFace already
finds the nose tip and the eyes, so the check looks only at the nose: a square patch, upright along the
eye line, from just under the eyes to just under the nose tip.

The model is an ordinary classifier pair (`.tflite` + sidecar, kiosk/vision/classifier.py) whose labels are
`mask` (nose covered by the mask) and `no_mask` (nose bare). A face the classifier calls `mask` whose
nose the check finds bare with p >= threshold becomes `incorrect`. Faces called anything else are not
looked at: the check can only turn an opening into a deny, never the other way.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..errors import KioskError
from .classifier import Classifier
from .detector import Detection

# Patch geometry, in units of the distance between the eye centres (keypoints 0 and 1). A nose model
# names the geometry it was trained on in its sidecar (`nose_patch`); these are for one that does not
# (the first nose model, cut around BlazeFace keypoints).
SIDE = 1.25  # patch side
DOWN = 0.80  # patch centre: this far from the eye midpoint toward the nose tip (keypoint 2)
_SIDE_RANGE = (0.3, 3.0)
_DOWN_RANGE = (-0.5, 2.0)


def patch_axes(keypoints, side: float = SIDE, down: float = DOWN):
    """(centre, ux, uy, side_px, eye midpoint, nose tip) of the nose patch in frame pixels, ux along the
    eye line and uy down the face; None without keypoints or with the eyes on one point."""
    if len(keypoints) < 3:
        return None
    re, le, nt = (np.asarray(k, np.float64) for k in keypoints[:3])
    eye = le - re
    d = float(np.hypot(*eye))
    if d < 2.0:
        return None
    mid = (re + le) / 2
    ux = eye / d
    uy = np.array([-ux[1], ux[0]])
    if uy[1] < 0:  # "down" in the face points down the image for an upright or tilted head
        uy = -uy
    return mid + down * (nt - mid), ux, uy, side * d, mid, nt


def nose_patch(frame: np.ndarray, keypoints, size: int, side: float = SIDE, down: float = DOWN) -> np.ndarray | None:
    """BGR square of `size` px around the nose, upright along the eye line; None without keypoints.

    `side` and `down` are in eye distances: the patch's side, and how far its centre lies from the eye
    midpoint toward the nose tip (1.0: centred on the tip)."""
    axes = patch_axes(keypoints, side, down)
    if axes is None:
        return None
    centre, ux, uy, side, _, _ = axes
    h = side / 2
    src = np.float32([centre - ux * h - uy * h, centre + ux * h - uy * h, centre - ux * h + uy * h])
    dst = np.float32([[0, 0], [size, 0], [0, size]])
    scale = side / size
    if scale > 1.5:
        # shrink the neighbourhood with area averaging first: a plain warp of a big face aliases
        x0, y0 = np.floor(src.min(axis=0) - side * 0.75).astype(int)
        x1, y1 = np.ceil(src.max(axis=0) + side * 0.75).astype(int)
        H, W = frame.shape[:2]
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        f = 1.0 / scale
        region = cv2.resize(frame[y0:y1, x0:x1], (max(1, round((x1 - x0) * f)), max(1, round((y1 - y0) * f))),
                            interpolation=cv2.INTER_AREA)
        src = ((src - np.float32([x0, y0])) * np.float32([region.shape[1] / (x1 - x0), region.shape[0] / (y1 - y0)]))
        frame = region
    m = cv2.getAffineTransform(src.astype(np.float32), dst)
    return cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def patch_geometry(model_path: Path) -> tuple[float, float]:
    """(side, down) from the nose model's sidecar key `nose_patch`; the first model's when it has none."""
    side_path = model_path.with_suffix(".json")
    try:
        raw = json.loads(side_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return SIDE, DOWN  # Classifier has already refused a missing or broken sidecar
    geo = raw.get("nose_patch") if isinstance(raw, dict) else None
    if geo is None:
        return SIDE, DOWN
    try:
        side, down = float(geo["side"]), float(geo["down"])
    except (TypeError, KeyError, ValueError):
        raise KioskError(f"{side_path}: nose_patch must be {{\"side\": number, \"down\": number}}, got {geo!r}") from None
    if not (_SIDE_RANGE[0] <= side <= _SIDE_RANGE[1] and _DOWN_RANGE[0] <= down <= _DOWN_RANGE[1]):
        raise KioskError(f"{side_path}: nose_patch side {side} / down {down} out of range "
                         f"{_SIDE_RANGE} / {_DOWN_RANGE}")
    return side, down


class NoseCheck:
    """Loads the nose model once; `bare(frame, detections)` gives P(nose bare) per detection."""

    def __init__(self, model_path: str | Path, threshold: float = 0.5, num_threads: int = 1) -> None:
        self.model = Classifier(model_path, num_threads=num_threads)
        labels = self.model.labels
        if set(labels) != {"mask", "no_mask"}:
            raise KioskError(f"{model_path}: a nose model has the labels mask (covered) and no_mask (bare), found {list(labels)}")
        if self.model.meta.width != self.model.meta.height:
            raise KioskError(f"{model_path}: a nose model takes a square input, found "
                             f"{self.model.meta.width}x{self.model.meta.height}")
        self._bare = labels.index("no_mask")
        self.size = self.model.meta.width
        self.side, self.down = patch_geometry(Path(model_path))
        self.threshold = threshold

    def bare(self, frame: np.ndarray, detections: list[Detection]) -> list[float | None]:
        """P(nose bare) for each detection; None where there are no keypoints."""
        patches = [nose_patch(frame, d.keypoints, self.size, self.side, self.down) for d in detections]
        tensors = [self.model.prepare(p) for p in patches if p is not None]
        probs = iter(self.model.predict_batch(tensors)[:, self._bare].tolist())
        return [None if p is None else next(probs) for p in patches]

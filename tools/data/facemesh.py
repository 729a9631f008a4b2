"""MediaPipe FaceMesh (models/face_landmark.tflite) on a rotated square region of a frame.

tools/data/synth_masks.py uses its 468 landmarks to draw masks. (Its face-presence output was tried as a
check on the kiosk's detections and dropped: it refused 11-25 % of masked faces at threshold 0.1 and
costs ~15 ms per face; the classifier's `not_face` class does that job instead.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.vision.detector import Detection
from kiosk.vision.runtime import load_interpreter

DEFAULT_MESH_MODEL = Path(__file__).resolve().parents[2] / "models" / "face_landmark.tflite"


@dataclass(frozen=True)
class Roi:
    """A rotated square region of the image: centre, side (pixels), rotation (radians)."""

    cx: float
    cy: float
    size: float
    angle: float


def roi_for_detection(det: Detection, scale: float = 1.5) -> Roi:
    """MediaPipe's detection-to-landmark rule: the box's square, x1.5, turned by the eye line."""
    x, y, w, h = det.box
    angle = 0.0
    if len(det.keypoints) >= 2:
        (rx, ry), (lx, ly) = det.keypoints[0], det.keypoints[1]
        # keypoint 0 is the subject's right eye (image left on a frontal face)
        angle = float(np.arctan2(ly - ry, lx - rx))
    return Roi(x + w / 2, y + h / 2, max(w, h) * scale, angle)


class FaceMesh:
    """face_landmark.tflite: 192x192 RGB in [0, 1] -> 468 landmarks and a face-presence logit."""

    INPUT = 192

    def __init__(self, model_path: str | Path = DEFAULT_MESH_MODEL, num_threads: int = 1) -> None:
        self.interp = load_interpreter(model_path, num_threads=num_threads)
        inp = self.interp.get_input_details()[0]
        if tuple(inp["shape"][1:]) != (self.INPUT, self.INPUT, 3):
            raise ValueError(f"{model_path}: input shape {tuple(inp['shape'])} is not FaceMesh's [1, 192, 192, 3]")
        self._in_index = inp["index"]
        outs = self.interp.get_output_details()
        # One output holds 468*3 coordinates, the other the face-presence logit; tell them apart
        # by size rather than by tensor names, which differ between exports.
        try:
            self._lm_index = next(o["index"] for o in outs if int(np.prod(o["shape"])) == 468 * 3)
            self._score_index = next(o["index"] for o in outs if int(np.prod(o["shape"])) == 1)
        except StopIteration:
            raise ValueError(f"{model_path}: outputs are not FaceMesh's (468x3 landmarks + 1 score)") from None

    def _warp(self, image_bgr: np.ndarray, roi: Roi) -> tuple[np.ndarray, np.ndarray]:
        s = self.INPUT
        cos, sin = np.cos(roi.angle), np.sin(roi.angle)
        scale = roi.size / s
        # crop->image affine: rotate the crop's axes by the roi angle around the roi centre.
        a = np.array(
            [
                [scale * cos, -scale * sin, roi.cx - scale * (cos * s / 2 - sin * s / 2)],
                [scale * sin, scale * cos, roi.cy - scale * (sin * s / 2 + cos * s / 2)],
            ],
            dtype=np.float64,
        )
        crop = cv2.warpAffine(
            image_bgr, a, (s, s), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
        )
        x = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0
        self.interp.set_tensor(self._in_index, x)
        self.interp.invoke()
        return a, x

    def run(self, image_bgr: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """Landmarks [468, 2] as image (x, y) pixels, and the face-presence probability."""
        a, _ = self._warp(image_bgr, roi)
        lm = self.interp.get_tensor(self._lm_index).reshape(468, 3)[:, :2].astype(np.float64)
        pts = lm @ a[:, :2].T + a[:, 2]
        return pts, self._score()

    def _score(self) -> float:
        logit = float(self.interp.get_tensor(self._score_index).reshape(-1)[0])
        return float(1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50))))

"""A face's 468 MediaPipe FaceMesh landmarks (models/face_landmark.tflite) in a photo.

`FaceMesh` runs the model on a rotated square region of a frame; `find_face_landmarks(image, mesh)` finds
the largest face (the kiosk's BlazeFace, else OpenCV's Haar cascade, else the whole image as a face crop)
and refines its landmarks as MediaPipe's tracker does; `face_yaw` says how far it is turned. The names below
(FACE_OVAL, NOSE_TIP, ...) are indices into the canonical mesh.

The drawn masks (tools/data/mask_shape.py, mask_drawing.py) and coverings (synth_coverings.py) are placed by
these landmarks. (The face-presence output was tried as a check on the kiosk's detections and dropped: it
refused 11-25 % of masked faces at threshold 0.1 and costs ~15 ms per face; the classifier's `not_face` class
does that job instead.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.vision.detector import BlazeFaceDetector, Detection
from kiosk.vision.runtime import load_interpreter

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MESH_MODEL = ROOT / "models" / "face_landmark.tflite"
DEFAULT_DETECTOR_MODEL = ROOT / "models" / "face_detection_short_range.tflite"

# FaceMesh topology indices (canonical 468-point mesh). Face oval, clockwise from the forehead top.
FACE_OVAL = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
]
NOSE_BRIDGE_TOP = 168  # between the eyes
NOSE_BRIDGE_MID = 197
NOSE_MID = 5
NOSE_TIP = 1
SUBNASALE = 2  # where the nose meets the upper lip
UPPER_LIP_TOP = 0
UPPER_LIP_INNER = 13
LOWER_LIP_INNER = 14
LOWER_LIP_BOTTOM = 17
CHIN_MID = 200  # between the lower lip and the chin tip
CHIN_TIP = 152
MOUTH_CORNERS = (61, 291)
RIGHT_EYE = (33, 133)  # subject's right eye: outer, inner corner (image left on a frontal face)
LEFT_EYE = (362, 263)
LOWER_EYELIDS = (145, 374)


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


# --------------------------------------------------------------------------------------------
# The face in a photo
# --------------------------------------------------------------------------------------------


def roi_from_landmarks(pts: np.ndarray) -> Roi:
    """MediaPipe's tracking rule: square around the landmarks, x1.5, rotated by the eye line."""
    p0, p1 = pts[RIGHT_EYE[0]], pts[LEFT_EYE[1]]
    angle = float(np.arctan2(p1[1] - p0[1], p1[0] - p0[0]))
    c, s = np.cos(-angle), np.sin(-angle)
    centre = pts.mean(axis=0)
    local = (pts - centre) @ np.array([[c, s], [-s, c]])
    lo, hi = local.min(axis=0), local.max(axis=0)
    mid = (lo + hi) / 2
    cx = centre[0] + mid[0] * np.cos(angle) - mid[1] * np.sin(angle)
    cy = centre[1] + mid[0] * np.sin(angle) + mid[1] * np.cos(angle)
    return Roi(float(cx), float(cy), float(max(hi - lo) * 1.5), angle)


def _detector_rois(image_bgr: np.ndarray, detector_model: Path | None) -> list[Roi]:
    """Candidate face regions: BlazeFace when its model exists, else Haar."""
    rois: list[Roi] = []
    model = detector_model or DEFAULT_DETECTOR_MODEL
    if model.is_file():
        try:
            for d in BlazeFaceDetector(model, score_threshold=0.5).detect(image_bgr):
                rois.append(roi_for_detection(d))
        except Exception:  # a detector failure must not stop mask synthesis
            rois = []
    if not rois:
        gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        faces = cascade.detectMultiScale(gray, 1.1, 5, minSize=(24, 24))
        for x, y, w, h in sorted(faces, key=lambda f: -f[2] * f[3]):
            # Haar boxes run brow to chin; FaceMesh wants some margin around the whole head.
            rois.append(Roi(x + w / 2, y + h * 0.55, max(w, h) * 1.3, 0.0))
    return rois


def find_face_landmarks(
    image_bgr: np.ndarray,
    mesh: FaceMesh,
    detector_model: Path | None = None,
    min_score: float = 0.5,
) -> np.ndarray | None:
    """468 landmarks of the largest face, or None. Face crops fall back to the whole image."""
    h, w = image_bgr.shape[:2]
    candidates = _detector_rois(image_bgr, detector_model)
    # Dataset photos are usually tight face crops that detectors miss; try the whole image too.
    candidates += [Roi(w / 2, h / 2, max(w, h) * k, 0.0) for k in (1.35, 1.1, 1.7)]
    for roi in candidates:
        pts, score = mesh.run(image_bgr, roi)
        if score < min_score:
            continue
        # Two refinement passes, as MediaPipe's tracker does: a crop centred on the first
        # landmarks gives a noticeably tighter, better-aligned second estimate.
        for _ in range(2):
            pts2, score2 = mesh.run(image_bgr, roi_from_landmarks(pts))
            if score2 < min_score:
                break
            pts, score = pts2, score2
        return pts
    return None


def face_yaw(pts: np.ndarray) -> float:
    """Signed horizontal offset of the nose tip from the middle of the face outline, as a fraction
    of the face width: ~0 frontal, ~0.3 and more for half-profile views, where the 2D outline no
    longer describes where a mask would sit."""
    eye_r = pts[list(RIGHT_EYE)].mean(axis=0)
    eye_l = pts[list(LEFT_EYE)].mean(axis=0)
    ex = (eye_l - eye_r) / (np.linalg.norm(eye_l - eye_r) + 1e-9)
    u = pts[FACE_OVAL] @ ex
    mid = (u.min() + u.max()) / 2
    return float((pts[NOSE_TIP] @ ex - mid) / max(u.max() - u.min(), 1e-6))


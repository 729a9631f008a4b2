"""Face detection with YuNet (OpenCV Zoo's 2023mar model), run by LiteRT (its .tflite conversion,
kiosk/vision/yunet_litert.py, `detector.engine = "litert"`) or by OpenCV's own `cv2.FaceDetectorYN` on the .onnx.

Why YuNet: the BlazeFace models were trained on bare faces and miss many masked ones. On real scenes
from another collection (validation-real, faces >= 40 px) BlazeFace full-range at 0.3 finds 79 % of
the masked faces; YuNet at 0.5 finds 90-92 % (docs/detector-kiosk-eval.md has the kiosk-like figures).

Two things keep everything downstream unchanged:
- **Boxes in BlazeFace's geometry.** YuNet's boxes are narrower and taller than BlazeFace's and sit a
  little higher. The classifier, its threshold and the `not_face` veto were measured on crops cut
  around BlazeFace boxes, so each YuNet box is mapped onto the BlazeFace box the same face gets (the
  median ratios over 550 faces both found, `BOX_*` below), and the crop rule stays as it is.
- **Keypoints in BlazeFace's order.** YuNet gives right eye, left eye, nose tip and the two mouth
  corners; the kiosk reads right eye, left eye, nose tip, mouth (kiosk/vision/nose.py uses the first three).

The frame is shrunk so its width is at most `input_width` before detection: a Raspberry Pi 4 runs
YuNet at 320x240 in about 21 ms but at 640x480 in about 81 ms (OpenCV Zoo's published times), and the
kiosk only classifies faces >= `detector.min_face_px` (40 px of a 640 px frame, 20 px at 320).
Part of what the shrink costs (faces 40-79 px come out unsure) is won back by a second look at the
unsure boxes on an enlarged crop of the full-size frame (`refine_low` > 0; kiosk/vision/refine.py). Another
detector may propose faces too (`detector.propose_model`, a BlazeFace model, off by default): those this
one did not keep get the same second look, and only what YuNet confirms on the crop is kept. BlazeFace
finds some masked faces YuNet misses; its time on every frame is what a Pi 4 cannot spare.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import KioskError
from .boxes import iou
from .detector import Detection, FaceDetector, check_settings, share_inside
from .preprocess import shrink  # the frame to the detector's input: area halvings, then bilinear
from .refine import MATCH_IOU, SecondLook, crop_transform, to_frame
from .yunet_litert import LiteRTYuNet

# YuNet box -> BlazeFace box of the same face, as fractions of the BlazeFace box (median over 550
# faces both found on validation-real's scenes, YuNet on the full frame; the ratios hold within a few
# per cent for faces of 16 px and more at 320 px input): YuNet's box is
# 0.912 as wide, 1.177 as tall, its centre 0.016 widths right and 0.041 heights above BlazeFace's.
BOX_W = 0.912
BOX_H = 1.177
BOX_DX = 0.016
BOX_DY = -0.041

_ROW = 15  # x, y, w, h, 5 landmarks (x, y), score


class YuNetDetector:
    """YuNet on a BGR frame of any size; boxes and keypoints as BlazeFaceDetector gives them."""

    def __init__(
        self,
        model_path: str | Path,
        score_threshold: float = 0.5,
        iou_threshold: float = 0.3,
        input_width: int = 320,
        max_faces: int = 16,
        refine_low: float = 0.0,
        refine_confirm: float = 0.3,
        refine_crop: int = 128,
        refine_max: int = 1,
        proposer: FaceDetector | None = None,
        propose_max: int = 2,
        litert_model: str | Path | None = None,
        threads: int = 1,
        min_face_px: int = 0,
    ) -> None:
        check_settings(score_threshold, iou_threshold, max_faces)
        if input_width < 32:
            raise KioskError(f"detector input width must be >= 32 px, got {input_width}")
        if not 0.0 <= refine_low < 1.0:
            raise KioskError(f"detector refine_low must be in 0..1 (0: no second look), got {refine_low:g}")
        if refine_low >= score_threshold:
            refine_low = 0.0  # nothing lies between the two: no second look
        if proposer is not None and propose_max < 1:
            raise KioskError(f"detector propose_max must be >= 1, got {propose_max}")
        if (refine_low or proposer is not None) and (refine_crop < 32 or refine_crop % 32 or not 0.0 < refine_confirm <= 1.0 or refine_max < 1):
            raise KioskError(f"detector second look: crop {refine_crop} must be a multiple of 32, confirm "
                             f"{refine_confirm:g} in (0, 1], max {refine_max} >= 1")
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise KioskError(f"face detector model not found: {self.model_path}")
        # The network run by LiteRT (kiosk/vision/yunet_litert.py) when given its conversion, else by OpenCV
        self.litert_model = Path(litert_model) if litert_model is not None else None
        if self.litert_model is not None and not self.litert_model.is_file():
            raise KioskError(f"YuNet for LiteRT not found: {self.litert_model} (convert {self.model_path.name} with "
                             "python -m tools.convert_yunet, or set detector.engine = \"opencv\")")
        if self.litert_model is None and not hasattr(cv2, "FaceDetectorYN"):
            raise KioskError(f"{self.model_path}: this OpenCV has no FaceDetectorYN (needs OpenCV >= 4.8)")
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.input_width = int(input_width)
        self.max_faces = int(max_faces)
        # LiteRT's threads; OpenCV's own pool (cv2.setNumThreads) is process-wide, left to the caller
        self.threads = int(threads) if self.litert_model is not None else 1
        # With a second look the first pass reports down to refine_low; what scores below the
        # threshold is kept only if the crop pass confirms it.
        first = float(refine_low) if refine_low else self.score_threshold
        self.second_look: SecondLook | None = None
        # follow()'s windows share the second look's net (same square size): one model instance less in memory
        self._window_net = None
        self.proposer = proposer  # another detector whose faces this one missed get the second look
        self.propose_max = int(propose_max)
        try:
            # With LiteRT the canvas starts tiny and grows to the frames (kiosk/vision/yunet_litert.py): a
            # camera's one size is OpenCV's own canvas, a run of photos stops re-sizing once it holds them
            self._start = (32, 32) if self.litert_model is not None else (320, 240)  # (width, height)
            self._net = self._create(first, self._start, grow_to=(self.input_width, self.input_width))
            if refine_low or proposer is not None:
                # its own net, so neither pass re-sizes the other's (OpenCV rebuilds its priors then)
                crop_net = self._window_net = self._create(min(float(refine_confirm), self.score_threshold),
                                                           (refine_crop, refine_crop))
                self.second_look = SecondLook(lambda img: self._run(img, crop_net), refine_low, refine_confirm,
                                              refine_crop, refine_max, min_face_px)
        except cv2.error as e:
            raise KioskError(f"{self.model_path}: not a YuNet face detector ({_first_line(e)})") from None
        self._sizes: dict[int, tuple[int, int]] = {}
        self._window_side = int(refine_crop) if refine_crop >= 32 and refine_crop % 32 == 0 else 128
        self.pixels = 0
        self._check(self.model_path)
        self.pixels = 0  # pixels run through YuNet since start, the start-up check not counted (kiosk/bench/pi_estimate.py)

    def _create(self, score: float, size: tuple[int, int], grow_to: tuple[int, int] | None = None):
        if self.litert_model is not None:
            return LiteRTYuNet(self.litert_model, size, score, self.iou_threshold, 5000, num_threads=self.threads,
                               grow_to=grow_to)
        return cv2.FaceDetectorYN.create(str(self.model_path), "", size, score, self.iou_threshold, 5000)

    def _check(self, path: Path) -> None:
        """Run once on a blank frame so a wrong .onnx fails at start-up with one line, not per frame."""
        try:
            self._run(np.zeros((self._start[1], self._start[0], 3), np.uint8))  # at the size the net starts at
        except (cv2.error, ValueError) as e:
            raise KioskError(f"{path}: not a YuNet face detector ({_first_line(e)})") from None

    def _run(self, image: np.ndarray, net=None) -> np.ndarray:
        """YuNet's rows on `image` (the first pass's net, or `net`): every model call goes through here,
        which is what kiosk/bench/pi_estimate.py times."""
        net = self._net if net is None else net
        h, w = image.shape[:2]
        self.pixels += w * h
        if self._sizes.get(id(net)) != (w, h):
            net.setInputSize((w, h))
            self._sizes[id(net)] = (w, h)
        _, faces = net.detect(image)
        if faces is None:
            return np.zeros((0, _ROW), np.float32)
        if faces.ndim != 2 or faces.shape[1] != _ROW:
            raise ValueError(f"unexpected output shape {faces.shape}")
        return faces

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) the model runs at for a frame of that size: shrunk to `input_width`, aspect kept."""
        if width <= self.input_width:
            return width, height
        return self.input_width, max(1, round(height * self.input_width / width))

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Faces in a BGR uint8 HxWx3 frame, best first."""
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 HxWx3 frame, got {frame_bgr.dtype} {frame_bgr.shape}")
        h, w = frame_bgr.shape[:2]
        if h == 0 or w == 0:
            return []
        iw, ih = self.input_size(w, h)
        image = frame_bgr
        if (iw, ih) != (w, h):
            image = shrink(frame_bgr, iw, ih)
        faces = self._run(image)
        if len(faces) == 0 and self.proposer is None:
            return []
        sx, sy = w / image.shape[1], h / image.shape[0]
        if self.second_look is not None:
            faces = faces.astype(np.float32, copy=True)
            faces[:, [0, 2, 4, 6, 8, 10, 12]] *= sx  # into frame pixels, where the crops are cut
            faces[:, [1, 3, 5, 7, 9, 11, 13]] *= sy
            sure = faces[:, 14] >= self.score_threshold
            kept = list(faces[sure])
            if self.second_look.low:
                kept = self.second_look.confirm_rows(frame_bgr, kept, list(faces[~sure]))
            if self.proposer is not None:
                # only the faces this detector has not kept, so faces already found spend no look
                proposed = [r for r in map(_to_row, self.proposer.detect(frame_bgr))
                            if all(iou(r, k) < MATCH_IOU for k in kept)]
                kept = self.second_look.confirm_rows(frame_bgr, kept, proposed, self.propose_max, by_centre=True)
            if not kept:
                return []
            faces, sx, sy = np.stack(kept), 1.0, 1.0
        faces = faces[np.argsort(-faces[:, 14], kind="stable")][: self.max_faces]
        out = []
        for row in faces:
            d = _to_detection(row, sx, sy, w, h)
            if d is not None:
                out.append(d)
        return out

    def follow(self, frame_bgr: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> list[Detection] | None:
        """The faces of tracked people, each looked for only in a window around the box it had a frame or
        two ago (kiosk/vision/refine.py's crop: `CONTEXT` x the box, scaled to a `refine_crop` square), instead of
        the whole frame; None when the windows together would cost as much as a whole-frame pass (then
        detect() instead). A window gives the face whose centre is nearest the old box's, within one face
        width of it (a walker moves less than that in a frame or two); a person it misses is missed for this
        frame, as the whole-frame pass can miss them too."""
        h, w = frame_bgr.shape[:2]
        iw, ih = self.input_size(w, h)
        side = self._window_side
        if not boxes or len(boxes) * side * side >= iw * ih:
            return None
        if self._window_net is None:
            self._window_net = self._create(self.score_threshold, (side, side))
        found: list[np.ndarray] = []
        for box in boxes:
            old = _to_row(Detection(tuple(box), 1.0))
            m, s, x0, y0 = crop_transform(old, side)
            window = cv2.warpAffine(frame_bgr, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            reach = max(old[2], old[3])
            near = [(_centre_gap(r, old), r) for r in to_frame(self._run(window, self._window_net), s, x0, y0)
                    if r[14] >= self.score_threshold]
            best = min(((g, r) for g, r in near if g < reach), key=lambda gr: gr[0], default=(0.0, None))[1]
            if best is not None and all(iou(best, f) < MATCH_IOU for f in found):
                found.append(best)
        out = []
        for row in sorted(found, key=lambda r: -float(r[14]))[: self.max_faces]:
            d = _to_detection(row, 1.0, 1.0, w, h)
            if d is not None:
                out.append(d)
        return out


def _centre_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between two YuNet rows' box centres, pixels."""
    return float(np.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2))


def _to_detection(row: np.ndarray, sx: float, sy: float, w: int, h: int) -> Detection | None:
    yx, yy, yw, yh = (float(v) for v in row[:4])
    bw, bh = yw * sx / BOX_W, yh * sy / BOX_H
    cx = (yx + yw / 2) * sx - BOX_DX * bw
    cy = (yy + yh / 2) * sy - BOX_DY * bh
    x0 = int(round(min(max(cx - bw / 2, 0.0), w)))
    y0 = int(round(min(max(cy - bh / 2, 0.0), h)))
    x1 = int(round(min(max(cx + bw / 2, 0.0), w)))
    y1 = int(round(min(max(cy + bh / 2, 0.0), h)))
    if x1 <= x0 or y1 <= y0:
        return None
    pts = row[4:14].reshape(5, 2) * np.array([sx, sy])
    mouth = (pts[3] + pts[4]) / 2
    keypoints = tuple((float(px), float(py)) for px, py in (pts[0], pts[1], pts[2], mouth))
    return Detection(box=(x0, y0, x1 - x0, y1 - y0), score=float(min(max(row[14], 0.0), 1.0)), keypoints=keypoints,
                     inside=share_inside(cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, w, h))


def _to_row(d: Detection) -> np.ndarray:
    """Another detector's face (BlazeFace geometry, frame pixels) as a YuNet row: the box YuNet would
    give the same face (the inverse of `_to_detection`), no keypoints, its own score."""
    x, y, bw, bh = (float(v) for v in d.box)
    yw, yh = bw * BOX_W, bh * BOX_H
    cx, cy = x + bw / 2 + BOX_DX * bw, y + bh / 2 + BOX_DY * bh
    row = np.zeros(_ROW, np.float32)
    row[:4] = (cx - yw / 2, cy - yh / 2, yw, yh)
    row[14] = d.score
    return row


def _first_line(e: Exception) -> str:
    text = " ".join(str(e).split())
    return text[:160]

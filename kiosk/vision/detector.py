"""Face detection: BlazeFace (MediaPipe's TFLite face detector) with letterboxing and weighted NMS.

The decoding follows MediaPipe's published graph for these models (SSD anchors, score clipping,
sigmoid, weighted non-max suppression), re-implemented in vectorised numpy so that a Pi runs it per
frame without MediaPipe. `HaarDetector` exists only as a baseline for tools/eval/eval_detector.py.

Recommended setting, from docs/detector-eval.md: the full-range model at score_threshold 0.3
(masked faces at 25% of a 640x480 frame: 78% found vs 31% for short-range at 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..errors import KioskError
from .boxes import iou_corners_many
from .runtime import load_interpreter


@dataclass(frozen=True)
class Detection:
    box: tuple[int, int, int, int]  # x, y, w, h in pixels of the ORIGINAL frame, clipped to the frame
    score: float  # detector confidence 0..1
    # (x, y) frame pixels; BlazeFace: right eye, left eye, nose tip, mouth, right ear, left ear
    keypoints: tuple[tuple[float, float], ...] = ()
    # share of the face's own (unclipped) box inside the frame along its more cut axis: 1.0 is a whole face,
    # 0.6 one cut by the frame's edge through 40 % of its width or height (kiosk/vision/analysis.py)
    inside: float = 1.0


class FaceDetector(Protocol):
    def detect(self, frame_bgr: np.ndarray) -> list[Detection]: ...


@dataclass(frozen=True)
class _AnchorSpec:
    # (stride, anchors per cell) per feature map; MediaPipe's SsdAnchorsCalculator merges layers
    # of equal stride, which is why short-range has 2 then 6 anchors per cell.
    layers: tuple[tuple[int, int], ...]


# The two BlazeFace variants MediaPipe ships, keyed by input side. Both use fixed-size anchors
# (w = h = 1), so an anchor is just a centre.
_VARIANTS: dict[int, _AnchorSpec] = {
    128: _AnchorSpec(layers=((8, 2), (16, 6))),  # short range: 16x16x2 + 8x8x6 = 896
    192: _AnchorSpec(layers=((4, 1),)),  # full range: 48x48x1 = 2304
}
_NUM_COORDS = 16  # 4 box values + 6 keypoints x 2
_NUM_KEYPOINTS = 6
# MediaPipe clips logits to +-100 before the sigmoid so exp() cannot overflow.
_SCORE_CLIP = 100.0


def _input_lut() -> np.ndarray:
    """pixel value -> model input in [-1, 1], float32, by the same arithmetic as
    `x * (1 / 127.5) - 1` on a uint8 image (float64 product rounded to float32, then float32 minus 1)."""
    lut = np.empty(256, np.float32)
    np.multiply(np.arange(256, dtype=np.uint8), 1.0 / 127.5, out=lut, casting="unsafe")
    lut -= 1.0
    return lut


_INPUT_LUT = _input_lut()


def _anchor_centres(side: int, spec: _AnchorSpec) -> np.ndarray:
    """Anchor centres in normalised [0, 1] input coordinates, shape [N, 2] as (x, y)."""
    parts = []
    for stride, per_cell in spec.layers:
        grid = side // stride
        c = (np.arange(grid, dtype=np.float32) + 0.5) / grid
        xs, ys = np.meshgrid(c, c)  # row-major: y outer, x inner, as the model emits them
        xy = np.stack([xs.ravel(), ys.ravel()], axis=1)
        parts.append(np.repeat(xy, per_cell, axis=0))
    return np.concatenate(parts, axis=0)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float, max_out: int
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's WEIGHTED suppression: each kept face is the score-weighted mean of its cluster.

    BlazeFace fires on several neighbouring anchors per face; blending them gives steadier boxes
    than picking the single best one, which matters for the classifier crop. The kept score is the
    cluster's best score. Inputs must be sorted by descending score.
    """
    out: list[tuple[np.ndarray, np.ndarray, float]] = []
    remaining = np.arange(len(scores))
    while remaining.size and len(out) < max_out:
        top = remaining[0]
        iou = iou_corners_many(boxes[top], boxes[remaining])
        in_cluster = iou > iou_threshold
        if not in_cluster.any():  # degenerate (zero-area) top box: keep it alone
            in_cluster[0] = True
        cluster = remaining[in_cluster]
        w = scores[cluster]
        wsum = float(w.sum())
        box = (boxes[cluster] * w[:, None]).sum(axis=0) / wsum
        kps = (keypoints[cluster] * w[:, None]).sum(axis=0) / wsum
        out.append((box, kps, float(scores[top])))
        # The cluster is a subset of `remaining` picked by this mask: dropping it by the mask
        # is what np.isin(remaining, cluster) computed, without its sort (the bench's profile
        # showed it as a visible per-face cost).
        remaining = remaining[~in_cluster]
    return out


def check_settings(score_threshold: float, iou_threshold: float, max_faces: int) -> None:
    """The settings every detector shares, refused with one line each."""
    if not 0.0 < score_threshold < 1.0:
        raise KioskError(f"detector score threshold must be in (0, 1), got {score_threshold}")
    if not 0.0 < iou_threshold < 1.0:
        raise KioskError(f"detector IoU threshold must be in (0, 1), got {iou_threshold}")
    if max_faces < 1:
        raise KioskError(f"max_faces must be >= 1, got {max_faces}")


class BlazeFaceDetector:
    """MediaPipe BlazeFace (short range 128x128, or full range 192x192) on a BGR frame of any size."""

    def __init__(
        self,
        model_path: str | Path,
        score_threshold: float = 0.5,
        iou_threshold: float = 0.3,
        num_threads: int = 1,
        max_faces: int = 16,
    ) -> None:
        check_settings(score_threshold, iou_threshold, max_faces)
        self.model_path = Path(model_path)
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_faces = int(max_faces)
        # Comparing logits avoids a sigmoid over every anchor on every frame.
        self._logit_threshold = float(np.log(score_threshold / (1.0 - score_threshold)))

        self.threads = int(num_threads)
        self._interp = load_interpreter(self.model_path, num_threads=num_threads)
        self.side, self._reg_index, self._cls_index = self._validate(self._interp, self.model_path)
        self._input_index = self._interp.get_input_details()[0]["index"]
        self._anchors = _anchor_centres(self.side, _VARIANTS[self.side])
        # Reused per frame: the letterboxed uint8 image, its RGB copy and the float input tensor.
        self._square = np.zeros((self.side, self.side, 3), np.uint8)
        self._rgb = np.zeros((self.side, self.side, 3), np.uint8)
        self._input = np.zeros((1, self.side, self.side, 3), np.float32)

    @staticmethod
    def _validate(interp: object, path: Path) -> tuple[int, int, int]:
        """Check tensor shapes so a wrong model fails at start-up with one clear line."""
        ins = interp.get_input_details()  # type: ignore[attr-defined]
        outs = interp.get_output_details()  # type: ignore[attr-defined]
        what = f"{path}: not a BlazeFace face detector"
        if len(ins) != 1:
            raise KioskError(f"{what} (expected 1 input, found {len(ins)})")
        shape = tuple(int(v) for v in ins[0]["shape"])
        if (
            len(shape) != 4
            or shape[0] != 1
            or shape[3] != 3
            or shape[1] != shape[2]
            or shape[1] not in _VARIANTS
        ):
            raise KioskError(
                f"{what} (input shape {list(shape)}, expected [1,128,128,3] or [1,192,192,3])"
            )
        if ins[0]["dtype"] != np.float32:
            raise KioskError(f"{what} (input type {np.dtype(ins[0]['dtype']).name}, expected float32)")
        side = shape[1]
        n = len(_anchor_centres(side, _VARIANTS[side]))
        reg = cls = None
        for d in outs:
            s = tuple(int(v) for v in d["shape"])
            if d["dtype"] != np.float32:
                continue
            # Identify outputs by shape: the full-range model names them Identity/Identity_1.
            if s == (1, n, _NUM_COORDS):
                reg = d["index"]
            elif s == (1, n, 1):
                cls = d["index"]
        if len(outs) != 2 or reg is None or cls is None:
            got = ", ".join(str([int(v) for v in d["shape"]]) for d in outs)
            raise KioskError(
                f"{what} (outputs {got}, expected float32 [1,{n},{_NUM_COORDS}] and [1,{n},1])"
            )
        return side, reg, cls

    def _letterbox(self, frame_bgr: np.ndarray) -> tuple[float, float, float, float]:
        """Fill self._input; return (offset_x, offset_y, scale_x, scale_y) from input px to frame px.

        Padding instead of stretching keeps faces at the aspect ratio BlazeFace was trained on.
        """
        h, w = frame_bgr.shape[:2]
        side = self.side
        s = side / max(h, w)
        rw, rh = max(1, min(side, round(w * s))), max(1, min(side, round(h * s)))
        src = frame_bgr
        if s <= 0.5 and w % 2 == 0 and h % 2 == 0:
            # Halving first takes OpenCV's fast integer area path, and the general (non-integer) one
            # then runs on a quarter of the pixels: 0.6 instead of 1.6 ms for 640x480 -> 192x144, the
            # same recall and false positives (docs/detector-eval.md, "Letterbox").
            src = cv2.resize(src, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        interp = cv2.INTER_AREA if s < 1.0 else cv2.INTER_LINEAR
        resized = cv2.resize(src, (rw, rh), interpolation=interp)
        ox, oy = (side - rw) // 2, (side - rh) // 2
        sq = self._square
        sq.fill(0)  # black border, as MediaPipe's ImageToTensor (BORDER_ZERO)
        sq[oy : oy + rh, ox : ox + rw] = resized
        # BGR -> RGB, then [0, 255] -> [-1, 1] through a 256-entry table straight into the reused
        # input tensor: one cv2 pass instead of numpy's strided multiply and subtract (the bench's
        # profile put the letterbox at a quarter of detect). The table holds exactly the values
        # the arithmetic gave, so the model input is bit-identical.
        cv2.cvtColor(sq, cv2.COLOR_BGR2RGB, dst=self._rgb)
        cv2.LUT(self._rgb, _INPUT_LUT, dst=self._input[0])
        return float(ox), float(oy), w / rw, h / rh

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Faces in a BGR uint8 HxWx3 frame, best first."""
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise ValueError(
                f"expected a BGR uint8 HxWx3 frame, got {frame_bgr.dtype} {frame_bgr.shape}"
            )
        h, w = frame_bgr.shape[:2]
        if h == 0 or w == 0:
            return []
        ox, oy, sx, sy = self._letterbox(frame_bgr)
        interp = self._interp
        interp.set_tensor(self._input_index, self._input)
        interp.invoke()
        logits = interp.get_tensor(self._cls_index)[0, :, 0]
        keep = np.flatnonzero(logits > self._logit_threshold)
        if keep.size == 0:
            return []
        reg = interp.get_tensor(self._reg_index)[0, keep]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[keep], -_SCORE_CLIP, _SCORE_CLIP)))
        order = np.argsort(-scores, kind="stable")
        reg, scores = reg[order], scores[order]

        # Regressors are offsets in input pixels from the anchor centre (anchor size 1 x side).
        anchors_px = self._anchors[keep[order]] * self.side
        cx = reg[:, 0] + anchors_px[:, 0]
        cy = reg[:, 1] + anchors_px[:, 1]
        half_w, half_h = reg[:, 2] * 0.5, reg[:, 3] * 0.5
        boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
        kps = reg[:, 4:_NUM_COORDS].reshape(-1, _NUM_KEYPOINTS, 2) + anchors_px[:, None, :]
        kps = kps.reshape(-1, _NUM_KEYPOINTS * 2)

        faces = weighted_nms(boxes, kps, scores, self.iou_threshold, self.max_faces)
        return [d for d in (self._to_frame(b, k, sc, ox, oy, sx, sy, w, h) for b, k, sc in faces) if d]

    @staticmethod
    def _to_frame(
        box: np.ndarray,
        kps: np.ndarray,
        score: float,
        ox: float,
        oy: float,
        sx: float,
        sy: float,
        w: int,
        h: int,
    ) -> Detection | None:
        fx0, fy0, fx1, fy1 = (box[0] - ox) * sx, (box[1] - oy) * sy, (box[2] - ox) * sx, (box[3] - oy) * sy
        x0 = int(round(min(max(fx0, 0.0), w)))
        y0 = int(round(min(max(fy0, 0.0), h)))
        x1 = int(round(min(max(fx1, 0.0), w)))
        y1 = int(round(min(max(fy1, 0.0), h)))
        if x1 <= x0 or y1 <= y0:  # wholly in the padding: nothing of it is in the frame
            return None
        pts = kps.reshape(-1, 2)
        keypoints = tuple(
            (float((px - ox) * sx), float((py - oy) * sy)) for px, py in pts
        )
        return Detection(box=(x0, y0, x1 - x0, y1 - y0), score=score, keypoints=keypoints,
                         inside=share_inside(fx0, fy0, fx1, fy1, w, h))


def share_inside(x0: float, y0: float, x1: float, y1: float, w: int, h: int) -> float:
    """How much of the box (corners, frame pixels, not clipped) lies inside a w x h frame, along its more cut
    axis: 1.0 when none of it is outside."""
    bw, bh = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
    in_w = max(0.0, min(x1, w) - max(x0, 0.0)) / bw
    in_h = max(0.0, min(y1, h) - max(y0, 0.0)) / bh
    return float(min(1.0, in_w, in_h))


class TiledDetector:
    """A BlazeFace pass over the whole frame plus passes over overlapping tiles, merged.

    BlazeFace sees the frame shrunk to 128 (or 192) px, so a face 25% of a 640x480 frame's height
    is ~24 px there, at the bottom of what the model was trained on; masked faces then often score
    below threshold. A tile is shrunk less, so the same face is larger in the model's input. The
    whole-frame pass still finds faces too big for a tile. Costs 1 + rows * cols model runs.
    """

    def __init__(
        self,
        base: BlazeFaceDetector,
        grid: tuple[int, int] = (2, 2),
        tile_fraction: float = 2.0 / 3.0,
        max_faces: int | None = None,
    ) -> None:
        rows, cols = grid
        if rows < 1 or cols < 1 or not 0.0 < tile_fraction <= 1.0:
            raise KioskError(f"bad tiling: grid {grid}, tile fraction {tile_fraction}")
        self.base = base
        self.grid = (rows, cols)
        self.tile_fraction = float(tile_fraction)
        self.max_faces = base.max_faces if max_faces is None else int(max_faces)

    def _tiles(self, h: int, w: int) -> list[tuple[int, int, int, int]]:
        rows, cols = self.grid
        th, tw = max(1, round(h * self.tile_fraction)), max(1, round(w * self.tile_fraction))
        ys = np.linspace(0, h - th, rows).round().astype(int) if rows > 1 else [0]
        xs = np.linspace(0, w - tw, cols).round().astype(int) if cols > 1 else [0]
        return [(int(x), int(y), tw, th) for y in ys for x in xs]

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Faces in a BGR uint8 HxWx3 frame, best first."""
        h, w = frame_bgr.shape[:2]
        found = list(self.base.detect(frame_bgr))
        for tx, ty, tw, th in self._tiles(h, w):
            for d in self.base.detect(frame_bgr[ty : ty + th, tx : tx + tw]):
                x, y, bw, bh = d.box
                # A box touching a tile edge inside the frame is a face cut by the tile: its
                # box is wrong and the whole-frame pass or a neighbouring tile sees it whole.
                if (x <= 0 < tx) or (y <= 0 < ty) or (x + bw >= tw and tx + tw < w) or (
                    y + bh >= th and ty + th < h
                ):
                    continue
                kps = tuple((px + tx, py + ty) for px, py in d.keypoints)
                found.append(Detection((x + tx, y + ty, bw, bh), d.score, kps))
        if len(found) <= 1:
            return found
        found.sort(key=lambda d: d.score, reverse=True)
        boxes = np.array([(x, y, x + bw, y + bh) for x, y, bw, bh in (d.box for d in found)], np.float64)
        kps = np.array([np.ravel(d.keypoints) for d in found], np.float64)
        scores = np.array([d.score for d in found], np.float64)
        merged = weighted_nms(boxes, kps, scores, self.base.iou_threshold, self.max_faces)
        out = []
        for b, k, sc in merged:
            x0, y0 = int(round(b[0])), int(round(b[1]))
            x1, y1 = int(round(b[2])), int(round(b[3]))
            pts = tuple((float(px), float(py)) for px, py in k.reshape(-1, 2))
            out.append(Detection((x0, y0, x1 - x0, y1 - y0), sc, pts))
        return out


class HaarDetector:
    """OpenCV's Haar frontal-face cascade, for comparison only (no confidence: score is 1.0)."""

    def __init__(
        self,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 24,
        cascade: str = "haarcascade_frontalface_default.xml",
    ) -> None:
        data = getattr(cv2, "data", None)
        if data is None or not hasattr(cv2, "CascadeClassifier"):
            raise KioskError("this OpenCV has no Haar cascades: install opencv-python-headless<5")
        path = Path(data.haarcascades) / cascade
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise KioskError(f"cannot load Haar cascade {path}")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = (min_size, min_size)

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        found = self._cascade.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=self.min_size
        )
        dets = [Detection(box=(int(x), int(y), int(bw), int(bh)), score=1.0) for x, y, bw, bh in found]
        dets.sort(key=lambda d: d.box[2] * d.box[3], reverse=True)  # no score: largest first
        return dets

"""Face crop and model-input preparation: the single path shared by the kiosk and training.

tools/train.py resizes every training image through `resize_face` so that the classifier sees
faces the way the kiosk will feed them (same interpolation, same colour handling).
"""

from __future__ import annotations

import cv2
import numpy as np


def square_crop_box(
    box: tuple[int, int, int, int], margin: float, frame_w: int, frame_h: int
) -> tuple[int, int, int, int]:
    """Expand a detector box (x, y, w, h) by `margin` on each side into a square, clipped to the frame.

    Masks hide the lower face; a square crop centred on the box with a margin keeps chin and
    forehead, like the training crops.
    """
    x, y, w, h = box
    cx, cy = x + w / 2.0, y + h / 2.0
    side = max(w, h) * (1.0 + 2.0 * margin)
    x0 = int(round(cx - side / 2.0))
    y0 = int(round(cy - side / 2.0))
    x1 = int(round(cx + side / 2.0))
    y1 = int(round(cy + side / 2.0))
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(frame_w, x1), min(frame_h, y1)
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def crop(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    return frame[y : y + h, x : x + w]


def resize_face(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a face image to (width, height). INTER_AREA when shrinking, INTER_LINEAR when growing."""
    w, h = size
    ih, iw = image.shape[:2]
    interp = cv2.INTER_AREA if (iw > w or ih > h) else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=interp)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Real values -> integer tensor values: q = round(x / scale) + zero_point, saturated."""
    info = np.iinfo(dtype)
    q = np.round(x / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer tensor values -> real values: x = (q - zero_point) * scale."""
    return (q.astype(np.float32) - zero_point) * scale

"""Face crop and model-input preparation: the single path shared by the kiosk and training.

tools/train.py resizes every training image through `resize_face` (exact=True: the area average) so that
the classifier sees faces the way the kiosk will feed them (same colour handling; the kiosk's faster shrink
differs by about a grey level).
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


def shrink(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`image` resized down to width x height: halved by area averaging while it is still at least twice
    as large (OpenCV's fast integer path; no aliasing), then the last step, less than 2x, bilinear.
    Why not INTER_AREA all the way: at a non-integer factor OpenCV's area resize takes a slow generic path
    (a 210 px face crop to 128: 0.25 ms on the build machine against 0.035 ms this way; a 640 -> 400 frame
    1.5 ms against 0.2 ms), a Pi 4 core ~12x that, and the pictures differ by a grey level on average. The
    detector found the same faces both ways (validation-real and scenes-cc0: masked faces >= 40 px found
    201/241 and 330/346; models/MODEL_CARD.md)."""
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if (image.shape[1], image.shape[0]) == (width, height):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def resize_face(image: np.ndarray, size: tuple[int, int], exact: bool = False) -> np.ndarray:
    """Resize a face image to (width, height): `shrink` when it is larger both ways, else bilinear.
    `exact`: OpenCV's area average whenever it shrinks (slow at non-integer factors), as training resizes:
    the shipped models learnt from it, and the fast path differs by about a grey level (docs/bench.md,
    session 19: no scene decision changed)."""
    w, h = size
    ih, iw = image.shape[:2]
    if exact:
        interp = cv2.INTER_AREA if (iw > w or ih > h) else cv2.INTER_LINEAR
        return cv2.resize(image, (w, h), interpolation=interp)
    if (iw, ih) == (w, h):
        return image.copy()  # as cv2.resize would: a contiguous array the caller owns, not a view of the frame
    if iw >= w and ih >= h:
        return shrink(image, w, h)
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """Real values -> integer tensor values: q = round(x / scale) + zero_point, saturated."""
    info = np.iinfo(dtype)
    q = np.round(x / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer tensor values -> real values: x = (q - zero_point) * scale."""
    return (q.astype(np.float32) - zero_point) * scale

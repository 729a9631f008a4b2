"""YuNet run by LiteRT (XNNPACK) instead of OpenCV's DNN module: the same network, 2.5x less time.

The model is YuNet 2023mar itself, converted once on the workstation (`python -m tools.convert_yunet`) into
a float32 TFLite file with a free input height and width. On the build machine, 416x320, 2 threads: 1.8
ms against OpenCV DNN's 4.9 ms; a 128x128 window 0.24 ms against 1.0 ms. XNNPACK is the runtime the
classifier already uses, so a Pi loads nothing new.

`LiteRTYuNet` answers as `cv2.FaceDetectorYN` does (`setInputSize`, `detect` -> rows of x, y, w, h, five
landmarks, score), so kiosk/vision/yunet.py runs either the same way. What OpenCV does around the network is
done here the same way (opencv/modules/objdetect/src/face_detect.cpp): the BGR image, unscaled, padded with
zeros on the right and bottom; per stride 8, 16 and 32 a grid of priors; score = sqrt(cls x obj), each
clipped to 0..1; box centre (col + dx, row + dy) x stride, size exp(dw, dh) x stride; landmarks
(col + kx, row + ky) x stride; non-maximum suppression at the same IoU, keeping `top_k`.

The canvas is OpenCV's exactly (the frame rounded up to a multiple of 32), so both engines find the same
faces with the same scores (tools/convert_yunet.py's check; `tests/test_yunet_litert.py`). With `grow_to`,
the canvas only grows, up to that size: a smaller frame is padded into the canvas it has, and the
interpreter is re-sized only for a frame that does not fit. A camera's frames all have one size, so the
kiosk's canvas is OpenCV's; photos of many sizes would otherwise re-size it at nearly every photo, and each
re-size costs ~2.3 ms here (XNNPACK rebuilds its indirection buffers for the new shape: 1.6 ms, and the
next invoke is ~0.7 ms slower) and fragments the heap (~10 MiB of peak RSS over 100 scenes). The extra zero
padding changes YuNet's answers near the bottom and right edges a little (docs/bench.md, session 20).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import KioskError
from .runtime import load_interpreter

STRIDES = (8, 16, 32)
_OUTPUTS = [f"{kind}_{s}" for s in STRIDES for kind in ("cls", "obj", "bbox", "kps")]


def _ceil32(v: int) -> int:
    return (int(v) + 31) // 32 * 32


class LiteRTYuNet:
    """A YuNet .tflite (converted by tools/convert_yunet.py) with cv2.FaceDetectorYN's interface."""

    def __init__(self, path: str | Path, input_size: tuple[int, int], score_threshold: float,
                 nms_threshold: float, top_k: int = 5000, num_threads: int = 1,
                 grow_to: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        # (width, height) up to which the canvas grows and never shrinks; None: OpenCV's canvas per frame
        self.grow_to = (_ceil32(grow_to[0]), _ceil32(grow_to[1])) if grow_to is not None else None
        w, h = _ceil32(input_size[0]), _ceil32(input_size[1])
        self.interp = load_interpreter(self.path, num_threads=num_threads, input_shape=[1, h, w, 3])
        try:
            runner = self.interp.get_signature_runner()
            outputs = {k: int(v["index"]) for k, v in runner.get_output_details().items()}
            inputs = [int(v["index"]) for v in runner.get_input_details().values()]
            del runner  # it holds the interpreter's tensors, which would block re-sizing
        except (ValueError, RuntimeError) as e:
            raise KioskError(f"{self.path}: not a YuNet model converted by tools/convert_yunet.py ({e})") from None
        missing = [n for n in _OUTPUTS if n not in outputs]
        if missing or len(inputs) != 1:
            raise KioskError(f"{self.path}: not a YuNet model converted by tools/convert_yunet.py "
                             f"(outputs {sorted(outputs)})")
        self._out = {n: outputs[n] for n in _OUTPUTS}
        self._in = inputs[0]
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.top_k = int(top_k)
        self._canvas = (w, h)  # padded (width, height) the interpreter is sized for

    def setInputSize(self, size: tuple[int, int]) -> None:  # noqa: N802 - cv2.FaceDetectorYN's name
        """Size the interpreter for frames of `size` (width, height), padded as OpenCV pads them (with
        `grow_to`: into the canvas it has when they fit, grown to hold them when that stays within `grow_to`)."""
        w, h = _ceil32(size[0]), _ceil32(size[1])
        cw, ch = self._canvas
        if self.grow_to is not None and w <= self.grow_to[0] and h <= self.grow_to[1] \
                and cw <= self.grow_to[0] and ch <= self.grow_to[1]:
            w, h = max(w, cw), max(h, ch)
        if (w, h) == self._canvas:
            return
        self.interp.resize_tensor_input(self._in, [1, h, w, 3])
        self.interp.allocate_tensors()
        self._canvas = (w, h)

    def detect(self, image: np.ndarray) -> tuple[int, np.ndarray | None]:
        """(number of faces, rows as cv2.FaceDetectorYN gives them, or None without faces)."""
        h, w = image.shape[:2]
        self.setInputSize((w, h))
        # written straight into the interpreter's input (no copy through set_tensor: ~0.1 ms at 416x416), the
        # padding too, every time: the runtime may use the input's memory during the invoke
        buf = self.interp.tensor(self._in)()
        buf[0, :h, :w] = image
        buf[0, h:, :] = 0.0
        buf[0, :h, w:] = 0.0
        del buf  # a view into the interpreter: held, it would block the invoke
        self.interp.invoke()
        rows = self._decode(w, h)
        return len(rows), (rows if len(rows) else None)

    def _decode(self, w: int, h: int) -> np.ndarray:
        cw, ch = self._canvas
        boxes, scores, kps = [], [], []
        get = self.interp.get_tensor
        for s in STRIDES:
            cols, nrows = cw // s, ch // s
            cls = get(self._out[f"cls_{s}"]).reshape(-1)
            if cls.size != cols * nrows:
                raise ValueError(f"unexpected output size at stride {s}: {cls.size}, not {cols}x{nrows}")
            # obj <= 1, so a score >= the threshold needs cls >= its square (a hair under, for float32 rounding):
            # only those anchors are scored
            near = np.flatnonzero(cls >= 0.999 * self.score_threshold * self.score_threshold)
            if near.size == 0:
                continue
            obj = get(self._out[f"obj_{s}"]).reshape(-1)[near]
            score_near = np.sqrt(np.clip(cls[near], 0.0, 1.0) * np.clip(obj, 0.0, 1.0))
            hit = score_near >= self.score_threshold
            keep, score = near[hit], score_near[hit]
            if keep.size == 0:
                continue
            c = (keep % cols).astype(np.float32)
            r = (keep // cols).astype(np.float32)
            bb = get(self._out[f"bbox_{s}"]).reshape(-1, 4)[keep]
            kp = get(self._out[f"kps_{s}"]).reshape(-1, 10)[keep]
            cx, cy = (c + bb[:, 0]) * s, (r + bb[:, 1]) * s
            bw, bh = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, bw, bh], axis=1))
            k = kp.copy()
            k[:, 0::2] = (k[:, 0::2] + c[:, None]) * s
            k[:, 1::2] = (k[:, 1::2] + r[:, None]) * s
            kps.append(k)
            scores.append(score)
        if not boxes:
            return np.zeros((0, 15), np.float32)
        boxes_a, scores_a, kps_a = np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps)
        # OpenCV suppresses on the boxes rounded toward zero to whole pixels (cv::Rect2i), and so does this
        idx = cv2.dnn.NMSBoxes(boxes_a.astype(np.int32).tolist(), scores_a.tolist(), self.score_threshold,
                               self.nms_threshold, top_k=self.top_k)
        idx = np.asarray(idx, np.int64).reshape(-1)
        return np.concatenate([boxes_a[idx], kps_a[idx], scores_a[idx, None]], axis=1).astype(np.float32)

"""A second look for YuNet: faces the first pass is unsure of, run again on an enlarged crop.

Why: a face 40-79 px wide in a 640 px frame is only 25-49 px at the 400 px input the Pi can afford,
and YuNet is surer of the same face when it is larger. Some of the masked faces it misses at
`detector.score_threshold` come out with a lower score, mixed with false boxes. So each first-pass box
scoring from `detector.refine_low` up to the threshold is cut out of the full-size frame with `CONTEXT`
x its size around it, scaled to a `detector.refine_crop` px square, and run through YuNet again; it is
kept only when that pass finds a face on it scoring at least `detector.refine_confirm`.

Measured (docs/detector-kiosk-eval.md, "a second look"): 0.1-0.3 confirmed at 0.3, one crop per
frame, finds masked faces >= 40 px 91.0 % instead of 89.7 %, below the nose 95.6 % instead of 93.9 %,
with fewer false boxes than a plain threshold of 0.2 that finds about as many (0.057 against 0.077 per
face-free frame, 0.033 against 0.040 of them >= 40 px; 0.033 and 0.027 without either). Most of what is still missed is not in YuNet's output at all.

Cost: one YuNet call per candidate on `refine_crop`^2 pixels (128x128 is 0.21 of 320x240), at most
`detector.refine_max` per frame; kiosk/bench/pi_estimate.py counts them.

A candidate narrower than `detector.min_face_px` gets no look: even confirmed, its face would be dropped as too
small to classify, and with one look a frame it took the look from a larger unsure face. On scenes-cc0 photos,
229 of the 301 looks went to boxes under 32 px (median 18 px); with every candidate looked at, 6 of the 321
confirmed under 32 px came out at 32 px or more (the crop pass's box is 0.6-1.5x the candidate's, p5-p95).
Measured (session 21): no scene decision changed on scenes-cc0 (both series) or validation-real, the same masked
faces found; 34 looks instead of 66 on the 100 held-out scenes.
"""

from __future__ import annotations

import cv2
import numpy as np

from .boxes import iou

CONTEXT = 2.5  # crop side / the candidate box's longer side: the face plus enough around it to be one
MAX_UPSCALE = 3.0  # a tiny box is not blown up beyond this (its crop grows instead)
MATCH_IOU = 0.3  # a second-pass face must overlap the candidate this much to confirm it


def crop_transform(box: np.ndarray, side_px: int) -> tuple[np.ndarray, float, float, float]:
    """The affine map from the frame onto the `side_px` square crop around `box` (x, y, w, h), with its
    scale and the crop's top-left corner in frame pixels."""
    x, y, w, h = (float(v) for v in box[:4])
    side = max(CONTEXT * max(w, h), side_px / MAX_UPSCALE)
    s = side_px / side
    x0, y0 = x + w / 2 - side / 2, y + h / 2 - side / 2
    return np.float32([[s, 0, -x0 * s], [0, s, -y0 * s]]), s, x0, y0


_XS = [0, 4, 6, 8, 10, 12]  # a YuNet row: x, y, w, h, 5 keypoints (x, y), score
_YS = [1, 5, 7, 9, 11, 13]


def to_frame(rows: np.ndarray, s: float, x0: float, y0: float) -> np.ndarray:
    """YuNet rows in a crop's pixels -> frame pixels (the crop: scale `s`, top-left corner x0, y0)."""
    out = rows.astype(np.float32, copy=True)
    out[:, :14] /= s
    out[:, _XS] += x0
    out[:, _YS] += y0
    return out


def _centre_inside(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether row a's box centre lies inside row b's box."""
    cx, cy = a[0] + a[2] / 2, a[1] + a[3] / 2
    return bool(b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3])


class SecondLook:
    """Confirms unsure YuNet rows (frame pixels) by running `run` on an enlarged crop around each."""

    def __init__(self, run, low: float, confirm: float, side_px: int, max_crops: int, min_face_px: int = 0) -> None:
        self._run = run  # image -> YuNet rows in that image's pixels, scoring >= `confirm` at least
        self.low = float(low)
        self.confirm = float(confirm)
        self.side_px = int(side_px)
        self.max_crops = int(max_crops)
        self.min_width = float(min_face_px)  # frame pixels: narrower candidates get no look
        self.crops = 0  # second-pass calls since start (the bench and tests read it)

    def confirm_rows(self, frame: np.ndarray, kept: list[np.ndarray], unsure: list[np.ndarray],
                     limit: int | None = None, by_centre: bool = False) -> list[np.ndarray]:
        """`kept` plus the `unsure` rows (best first, at most `limit`, default `max_crops`, none narrower than
        `min_width`) the crop pass
        confirms, each replaced by the crop pass's own box and keypoints (the better ones: more pixels)
        with the candidate's own score (the first pass's, or the proposing detector's). A crop-pass face
        confirms a candidate it overlaps by MATCH_IOU, or, `by_centre`, whose box holds its centre
        (another detector's box is drawn to other rules than YuNet's)."""
        out = list(kept)
        limit = self.max_crops if limit is None else limit
        # the `limit` least unsure, then those on a face already kept are skipped (YuNet's NMS left
        # a weaker box beside it): the order the evaluation measured
        looked_at = [r for r in unsure if float(r[2]) >= self.min_width]
        for row in sorted(looked_at, key=lambda r: -float(r[14]))[:limit]:
            if any(iou(row, o) >= MATCH_IOU for o in out):
                continue
            m, s, x0, y0 = crop_transform(row, self.side_px)
            crop = cv2.warpAffine(frame, m, (self.side_px, self.side_px), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT)
            self.crops += 1
            rows = to_frame(self._run(crop), s, x0, y0)
            best = None
            for r in rows:
                match = _centre_inside(r, row) if by_centre else iou(r, row) >= MATCH_IOU
                if r[14] >= self.confirm and match and (best is None or r[14] > best[14]):
                    best = r
            if best is not None and all(iou(best, o) < MATCH_IOU for o in out):
                # the candidate's score stays (a first-pass unsure row's, a proposed face's own): the face
                # is still an unsure one, which is what detector.confirm_score acts on (such a box counts
                # only as a sure mask: the second look is there to find masked faces, not to let a hair
                # clip called `no_mask` shut the gate)
                best = best.copy()
                best[14] = row[14]
                out.append(best)
        return out

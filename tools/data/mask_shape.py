"""Where a drawn mask sits on a face: its outline from FaceMesh landmarks, per style and mask type.

  correct  nose bridge to under the chin
  nose     below the nose, mouth covered
  chin     on the chin only, nose and mouth uncovered

`place_mask(landmarks, style, mask_type, rng)` gives the outline and the face-local frame the drawing
(tools/data/mask_drawing.py) textures it in; `mask_visible_fraction` how much of it a photo would show.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tools.data.facemesh import (
    CHIN_MID,
    CHIN_TIP,
    FACE_OVAL,
    LEFT_EYE,
    LOWER_LIP_BOTTOM,
    NOSE_BRIDGE_MID,
    NOSE_BRIDGE_TOP,
    NOSE_MID,
    NOSE_TIP,
    RIGHT_EYE,
    SUBNASALE,
    UPPER_LIP_TOP,
)

STYLES = ("correct", "nose", "chin")
MASK_TYPES = ("surgical", "cloth", "n95")


@dataclass
class MaskShape:
    polygon: np.ndarray  # [N, 2] image coords, closed outline
    top_u: np.ndarray  # top edge in face-local coords, sorted by u: (u, v) columns
    bottom_u: np.ndarray  # bottom edge (u, v) sorted by u
    origin: np.ndarray  # face-local frame: origin, x axis (eye line), y axis (down the face)
    ex: np.ndarray
    ey: np.ndarray
    face_width: float
    ear_anchors: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]  # (upper, lower) per side
    corners: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # top-left/right, low-left/right


def _resample_closed(poly: np.ndarray, n: int) -> np.ndarray:
    seg = np.linalg.norm(np.diff(np.vstack([poly, poly[:1]]), axis=0), axis=1)
    t = np.concatenate([[0], np.cumsum(seg)])
    q = np.linspace(0, t[-1], n, endpoint=False)
    closed = np.vstack([poly, poly[:1]])
    return np.stack([np.interp(q, t, closed[:, 0]), np.interp(q, t, closed[:, 1])], axis=1)


def place_mask(pts: np.ndarray, style: str, mask_type: str, rng: np.random.Generator) -> MaskShape:
    eye_r = pts[list(RIGHT_EYE)].mean(axis=0)
    eye_l = pts[list(LEFT_EYE)].mean(axis=0)
    ex = eye_l - eye_r
    ex = ex / (np.linalg.norm(ex) + 1e-9)
    ey = np.array([-ex[1], ex[0]])  # perpendicular, pointing down the face
    origin = pts[NOSE_BRIDGE_TOP]

    def to_local(p: np.ndarray) -> np.ndarray:
        d = np.atleast_2d(p) - origin
        return np.stack([d @ ex, d @ ey], axis=1)

    def to_img(l: np.ndarray) -> np.ndarray:
        return origin + l[:, :1] * ex + l[:, 1:2] * ey

    oval = to_local(_resample_closed(pts[FACE_OVAL], 360))
    face_w = float(oval[:, 0].max() - oval[:, 0].min())
    face_h = float(to_local(pts[CHIN_TIP])[0, 1] - oval[:, 1].min())
    lm = lambda i: to_local(pts[i])[0]  # noqa: E731

    # Where the top edge crosses the face midline (peak) and where it meets the face outline
    # (side level), chosen per style from anatomical landmarks so they follow this face.
    tip, sub, lip_top, lip_bot, chin_mid = lm(NOSE_TIP), lm(SUBNASALE), lm(UPPER_LIP_TOP), lm(LOWER_LIP_BOTTOM), lm(CHIN_MID)
    jitter = lambda s: float(rng.normal(0, s)) * face_h  # noqa: E731
    if style == "correct":
        peak = lm(NOSE_BRIDGE_TOP) * 0.25 + lm(NOSE_BRIDGE_MID) * 0.75
        peak_v = peak[1] + jitter(0.01)
        side_v = (lm(NOSE_MID)[1] * 0.6 + tip[1] * 0.4) + jitter(0.015)
        drop = 0.10  # how far below the chin the mask hangs, fraction of face height
    elif style == "nose":
        # Below the nose: the top edge sits between the subnasale and the upper lip, so the
        # whole nose including the nostrils stays visible.
        peak = sub * 0.45 + lip_top * 0.55
        peak_v = peak[1] + jitter(0.004)
        side_v = lip_top[1] * 0.5 + peak_v * 0.5 + jitter(0.01)
        drop = 0.13
    elif style == "chin":
        peak = lip_bot * 0.35 + chin_mid * 0.65
        peak_v = max(peak[1], lip_bot[1] + 0.025 * face_h) + jitter(0.004)
        side_v = peak_v + 0.02 * face_h + jitter(0.01)
        drop = 0.22
    else:
        raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")
    # On strongly turned faces the nose can project onto (or past) the outline; keep the peak inside
    # so that both halves of the mask exist.
    umin, umax = float(oval[:, 0].min()), float(oval[:, 0].max())
    peak_u = float(np.clip(peak[0], umin + 0.12 * face_w, umax - 0.12 * face_w))
    if mask_type == "n95":
        drop += 0.03  # cupped respirators sit lower under the chin

    # Side anchors: the outline points at side_v level on each side of the face.
    left = oval[oval[:, 0] < peak_u]
    right = oval[oval[:, 0] >= peak_u]
    def side_point(half: np.ndarray, sign: float) -> np.ndarray:
        band = half[np.abs(half[:, 1] - side_v) < 0.04 * face_h]
        if len(band) == 0:
            band = half[np.argsort(np.abs(half[:, 1] - side_v))[:3]]
        i = np.argmax(band[:, 0] * sign)  # the outermost point at that height
        return band[i]
    a_l, a_r = side_point(left, -1.0), side_point(right, 1.0)

    # Bottom: outline below side_v, pushed away from the face centre so that the mask stands
    # off the cheeks and hangs under the chin (masks are wider than the skin they cover).
    centre = np.array([peak_u, side_v])
    below = oval[oval[:, 1] > side_v - 1e-6]
    rel = below - centre
    t = np.clip((below[:, 1] - side_v) / max(face_h * 0.6, 1e-6), 0, 1)
    push_side = 0.035 + 0.02 * rng.random()
    below = below + np.stack(
        [np.sign(rel[:, 0]) * push_side * face_w * (1 - t) ** 0.5,
         drop * face_h * t ** 2.0], axis=1,
    )
    below = below[np.argsort(below[:, 0])]
    a_l = np.array([below[0, 0], side_v])
    a_r = np.array([below[-1, 0], side_v])

    # Top edge: a tent over the nose (surgical wire, N95 rim) or a softer curve (cloth).
    n = 60
    us = np.linspace(a_l[0], a_r[0], n)
    half_l, half_r = peak_u - a_l[0], a_r[0] - peak_u
    tt = np.where(us < peak_u, (peak_u - us) / max(half_l, 1e-6), (us - peak_u) / max(half_r, 1e-6))
    exponent = {"surgical": 1.25, "cloth": 1.7, "n95": 1.5}[mask_type]
    if style != "correct":
        exponent = 2.2  # pulled down, the top edge flattens instead of tenting over the nose
    top_v = peak_v + (side_v - peak_v) * np.clip(tt, 0, 1) ** exponent
    top = np.stack([us, top_v], axis=1)

    # Bottom edge as a function of u (the lowest outline point at each u), for texture mapping.
    bins = np.linspace(a_l[0], a_r[0], n)
    bottom_v = np.interp(bins, below[:, 0], below[:, 1])
    # Angles grow from the right side (0) through the chin (pi/2) to the left side (pi) in image
    # coordinates, which continues the top edge (drawn left to right) without self-crossing.
    order = np.argsort(np.arctan2(below[:, 1] - centre[1], below[:, 0] - centre[0]))
    outline_bottom = below[order]  # from the right anchor around the chin to the left anchor
    poly_local = np.vstack([top, outline_bottom])
    poly = to_img(poly_local)

    # Where the loops disappear behind the ears: just outside the face outline, the upper point at
    # eye level, the lower one a little above the nose tip.
    eye_v = (lm(RIGHT_EYE[0])[1] + lm(LEFT_EYE[1])[1]) / 2
    def ear_at(v: float, sign: float) -> np.ndarray:
        half = oval[(oval[:, 0] - peak_u) * sign > 0]
        near = half[np.argsort(np.abs(half[:, 1] - v))[:4]]
        x = (near[:, 0] * sign).max() * sign + sign * 0.025 * face_w
        return to_img(np.array([[x, v]]))[0]
    ear_l = (ear_at(eye_v + 0.02 * face_h, -1.0), ear_at(tip[1] - 0.04 * face_h, -1.0))
    ear_r = (ear_at(eye_v + 0.02 * face_h, 1.0), ear_at(tip[1] - 0.04 * face_h, 1.0))
    low_v = side_v + 0.55 * (bottom_v.max() - side_v)
    def low_point(sel: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        half = below[sel]
        if len(half) < 2:
            return to_img(fallback[None])[0]
        return to_img(np.array([[np.interp(low_v, *_monotone(half[:, ::-1])), low_v]]))[0]
    low_l = low_point(below[:, 0] < peak_u, a_l)
    low_r = low_point(below[:, 0] >= peak_u, a_r)
    return MaskShape(
        polygon=poly,
        top_u=top,
        bottom_u=np.stack([bins, bottom_v], axis=1),
        origin=origin, ex=ex, ey=ey, face_width=face_w,
        ear_anchors=(ear_l, ear_r),
        corners=(to_img(a_l[None])[0], to_img(a_r[None])[0], low_l, low_r),
    )


def _monotone(vu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(v, u) pairs -> arrays sorted by v, for np.interp of u at a height."""
    o = np.argsort(vu[:, 0])
    return vu[o, 0], vu[o, 1]


def coverage(poly: np.ndarray, h: int, w: int, ss: int = 4) -> np.ndarray:
    """Fraction of each pixel inside the polygon: filled at ss x ss supersampling, then averaged.
    (fillPoly's LINE_AA does not anti-alias on float images, which left stair-stepped edges.)"""
    big = np.zeros((h * ss, w * ss), np.uint8)
    SH = 3
    pts = np.round((poly * ss + (ss - 1) / 2.0) * (1 << SH)).astype(np.int32)
    cv2.fillPoly(big, [pts], 255, lineType=cv2.LINE_8, shift=SH)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def mask_visible_fraction(
    image_shape: tuple[int, ...], landmarks_xy: np.ndarray, style: str, mask_type: str
) -> float:
    """Share of the mask's area that would fall inside the image. Tight face crops often cut at
    the chin: a `chin` mask drawn there is invisible, and its label would be noise."""
    shape = place_mask(np.asarray(landmarks_xy, np.float64)[:, :2], style, mask_type, np.random.default_rng(0))
    poly = shape.polygon
    x, y = poly[:, 0], poly[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
    if area < 1.0:
        return 0.0
    h, w = image_shape[:2]
    # Clip by rasterising on a canvas that has the image in its middle.
    ox, oy = max(0, -int(np.floor(x.min()))), max(0, -int(np.floor(y.min())))
    cw, ch = max(w, int(np.ceil(x.max())) + 1) + ox, max(h, int(np.ceil(y.max())) + 1) + oy
    cov = coverage(poly + [ox, oy], ch, cw, ss=2)
    inside = float(cov[oy : oy + h, ox : ox + w].sum())
    return float(np.clip(inside / max(float(cov.sum()), 1e-6), 0.0, 1.0))


"""Draw synthetic face masks onto photos of unmasked faces, guided by FaceMesh landmarks.

Why: the only "worn incorrectly" training images we have are pasted-on masks with a non-commercial
licence that look unlike real masks. This tool renders our own masks (surgical, cloth, N95-like),
procedurally coloured and textured, following the face's tilt, width and lighting, in three styles:

  correct  nose bridge to under the chin                        -> with_mask/
  nose     below the nose, mouth covered                        -> mask_weared_incorrect/
  chin     on the chin only, nose and mouth uncovered           -> mask_weared_incorrect/

Library: `FaceMesh` (468 landmarks via LiteRT), `find_face_landmarks(image)`, and
`draw_mask(image_bgr, landmarks_xy, style, mask_type, color, rng)`.
CLI:     python tools/data/synth_masks.py IN_DIR [IN_DIR ...] -o OUT_DIR [--variants 2] [--seed 0] [--pairs]
writes OUT_DIR/with_mask/, OUT_DIR/mask_weared_incorrect/ and OUT_DIR/manifest.tsv.

--pairs draws each variant twice on the same photo, the same mask (type, colour, fabric, seed), once
`correct` and once below the nose or on the chin (--styles/--weights choose among the wrong ones), so
that the only thing that tells the two classes apart is where the mask sits.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.data.facemesh import DEFAULT_MESH_MODEL, FaceMesh, Roi, roi_for_detection  # noqa: E402,F401

DEFAULT_DETECTOR_MODEL = ROOT / "models" / "face_detection_short_range.tflite"

STYLES = ("correct", "nose", "chin")
MASK_TYPES = ("surgical", "cloth", "n95")
STYLE_CLASS = {"correct": "with_mask", "nose": "mask_weared_incorrect", "chin": "mask_weared_incorrect"}

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


# --------------------------------------------------------------------------------------------
# Landmarks
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
    """Candidate face regions: BlazeFace when kiosk.vision.detector and its model exist, else Haar."""
    rois: list[Roi] = []
    model = detector_model or DEFAULT_DETECTOR_MODEL
    if model.is_file():
        try:
            from kiosk.vision.detector import BlazeFaceDetector  # written in parallel; optional here

            for d in BlazeFaceDetector(model, score_threshold=0.5).detect(image_bgr):
                rois.append(roi_for_detection(d))
        except Exception:  # a half-written detector must not stop mask synthesis
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


def mask_visible_fraction(
    image_shape: tuple[int, ...], landmarks_xy: np.ndarray, style: str, mask_type: str
) -> float:
    """Share of the mask's area that would fall inside the image. Tight face crops often cut at
    the chin: a `chin` mask drawn there is invisible, and its label would be noise."""
    shape = _mask_shape(np.asarray(landmarks_xy, np.float64)[:, :2], style, mask_type, np.random.default_rng(0))
    poly = shape.polygon
    x, y = poly[:, 0], poly[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
    if area < 1.0:
        return 0.0
    h, w = image_shape[:2]
    # Clip by rasterising on a canvas that has the image in its middle.
    ox, oy = max(0, -int(np.floor(x.min()))), max(0, -int(np.floor(y.min())))
    cw, ch = max(w, int(np.ceil(x.max())) + 1) + ox, max(h, int(np.ceil(y.max())) + 1) + oy
    cov = _coverage(poly + [ox, oy], ch, cw, ss=2)
    inside = float(cov[oy : oy + h, ox : ox + w].sum())
    return float(np.clip(inside / max(float(cov.sum()), 1e-6), 0.0, 1.0))


# --------------------------------------------------------------------------------------------
# Mask geometry
# --------------------------------------------------------------------------------------------


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


def _mask_shape(pts: np.ndarray, style: str, mask_type: str, rng: np.random.Generator) -> MaskShape:
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


# --------------------------------------------------------------------------------------------
# Appearance
# --------------------------------------------------------------------------------------------

# Base colours (BGR) per mask type; one is picked at random when no colour is given.
PALETTES: dict[str, list[tuple[int, int, int]]] = {
    "surgical": [(222, 196, 150), (214, 180, 120), (240, 238, 236), (45, 45, 48), (205, 190, 235),
                 (200, 215, 170), (230, 205, 170)],
    "cloth": [(60, 40, 30), (40, 40, 40), (120, 80, 40), (70, 70, 150), (140, 140, 140),
              (90, 120, 60), (180, 160, 200), (50, 60, 110), (200, 200, 205)],
    "n95": [(236, 238, 240), (225, 228, 230), (205, 210, 215), (200, 190, 170), (60, 60, 62)],
}


def _value_noise(shape: tuple[int, int], cell: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth random field in [-1, 1]: random grid values, bicubically upsampled."""
    gh, gw = max(2, int(shape[0] / cell) + 2), max(2, int(shape[1] / cell) + 2)
    g = rng.uniform(-1, 1, (gh, gw)).astype(np.float32)
    big = cv2.resize(g, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
    return big[: shape[0], : shape[1]]


def _fabric(
    mask_type: str, u: np.ndarray, f: np.ndarray, su: np.ndarray, sv: np.ndarray,
    base: np.ndarray, rng: np.random.Generator, face_w: float,
) -> np.ndarray:
    """Per-pixel BGR colour (float, 0..255) before lighting.

    u: -1..1 across the mask, f: 0 (top edge) .. 1 (bottom edge), su/sv: face-local pixels.
    """
    h, w = u.shape
    col = np.broadcast_to(base.astype(np.float32), (h, w, 3)).copy()
    shade = np.ones((h, w), np.float32)
    px = face_w / 160.0  # texture scale relative to the face, so small faces get fine detail
    if mask_type == "surgical":
        # Three pleats: each band is lit at its top and shadowed where the fold above overlaps it.
        folds = np.sort(rng.uniform(-0.04, 0.04, 3) + np.array([0.3, 0.5, 0.7]))
        for fk in folds:
            d = f - fk
            shade -= 0.22 * np.exp(-((d / 0.011) ** 2))  # the crease line itself
            shade += 0.06 * np.exp(-((d - 0.03) / 0.022) ** 2)  # the lit lip just below the fold
            shade -= 0.04 * np.exp(-((d + 0.035) / 0.03) ** 2)  # shadow above the fold
        # Nose wire channel and the stitched edge bindings at both sides.
        shade += 0.06 * np.exp(-((f - 0.04) / 0.03) ** 2)
        shade -= 0.07 * np.exp(-((f - 0.085) / 0.01) ** 2)
        shade -= 0.08 * (np.abs(u) > 0.88) * np.exp(-((np.abs(u) - 0.88) / 0.02) ** 2)
        shade -= 0.05 * np.exp(-((f - 0.95) / 0.02) ** 2)
        shade += 0.03 * _value_noise((h, w), max(2.0, 1.5 * px), rng)  # non-woven mottling
    elif mask_type == "cloth":
        pattern = rng.choice(["plain", "plain", "stripes", "dots", "check", "heather", "print", "print"])
        if pattern == "print":
            # the same printed and knitted fabrics tools/data/synth_coverings.py gives scarves: a pattern alone
            # must not tell a worn mask from a covering
            from tools.data.synth_coverings import fabric_texture

            tex = fabric_texture(rng)
            mu = ((u + 1) / 2 * (tex.shape[1] - 1) * rng.uniform(0.5, 1.0)).astype(np.float32)
            mv = (f * (tex.shape[0] - 1) * rng.uniform(0.6, 1.0)).astype(np.float32)
            col = cv2.remap(tex, mu, mv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        elif pattern != "plain" and pattern != "heather":
            alt = base.astype(np.float32) * rng.uniform(0.45, 0.7) + rng.uniform(0, 80, 3).astype(np.float32)
            alt = np.clip(alt, 0, 255)
            period = rng.uniform(9, 16) * px
            if pattern == "stripes":
                sel = (np.sin(2 * np.pi * sv / period) > 0.3).astype(np.float32)
            elif pattern == "dots":
                gu = (su / period) % 1 - 0.5
                gv = (sv / period) % 1 - 0.5
                sel = (np.hypot(gu, gv) < 0.22).astype(np.float32)
            else:
                sel = ((np.sin(2 * np.pi * su / period) > 0) ^ (np.sin(2 * np.pi * sv / period) > 0)).astype(np.float32) * 0.5
            sel = cv2.GaussianBlur(sel, (0, 0), max(0.6, 0.4 * px))[..., None]
            col = col * (1 - sel) + alt * sel
        if pattern == "heather":
            shade += 0.07 * _value_noise((h, w), max(1.5, 0.8 * px), rng)
        # Woven grain and a centre seam running from nose to chin.
        weave = np.sin(2 * np.pi * su / max(2.2, 1.2 * px)) * np.sin(2 * np.pi * sv / max(2.2, 1.2 * px))
        shade += 0.035 * weave + 0.03 * _value_noise((h, w), max(3.0, 4 * px), rng)
        shade -= 0.16 * np.exp(-((u / 0.025) ** 2))
        shade += 0.05 * np.exp(-(((u - 0.05) / 0.04) ** 2))
        # Gathered fabric: soft wrinkles radiating toward the ear loops.
        shade += 0.05 * np.sin(2 * np.pi * (f * 2.5 + 0.8 * np.abs(u) ** 2)) * np.abs(u) ** 2
        shade -= 0.06 * np.exp(-((1 - np.abs(u)) / 0.06) ** 2)  # hem
    elif mask_type == "n95":
        # A cup: brighter at the front, a moulded horizontal seam, a rim around the edge.
        seam_f = 0.42 + rng.uniform(-0.04, 0.04)
        shade -= 0.12 * np.exp(-(((f - seam_f) / 0.012) ** 2))
        shade += 0.05 * np.exp(-(((f - seam_f - 0.03) / 0.02) ** 2))
        edge = np.minimum(np.minimum(f, 1 - f) * 2.2, 1 - np.abs(u))
        shade -= 0.10 * np.exp(-((edge / 0.05) ** 2))
        shade += 0.025 * _value_noise((h, w), max(2.0, 1.0 * px), rng)
        shade += 0.015 * rng.standard_normal((h, w)).astype(np.float32)
        if rng.random() < 0.35:
            # Exhalation valve on one side.
            side = rng.choice([-1.0, 1.0])
            r = np.hypot((u - side * 0.42) * 1.0, (f - 0.62) * 1.1)
            valve = np.clip((0.17 - r) / 0.015, 0, 1).astype(np.float32)
            vcol = np.array(PALETTES["n95"][rng.integers(0, 5)], np.float32) * rng.uniform(0.55, 0.9)
            col = col * (1 - valve[..., None]) + vcol * valve[..., None]
            shade -= 0.2 * np.exp(-(((r - 0.17) / 0.01) ** 2))
            shade -= 0.10 * np.exp(-(((r - 0.08) / 0.02) ** 2)) * (r < 0.17)
    else:
        raise ValueError(f"unknown mask type {mask_type!r}; expected one of {MASK_TYPES}")
    return col * shade[..., None]


def _estimate_blur(image_bgr: np.ndarray, pts: np.ndarray) -> float:
    """Rough Gaussian sigma (pixels) of the photo's own softness, from how much a further 1 px blur
    weakens the face's Laplacian: a crisp mask on a soft, upscaled face is an obvious paste cue.
    Calibrated on scikit-image's astronaut blurred by known amounts."""
    x0, y0 = np.maximum(pts.min(axis=0).astype(int), 0)
    x1, y1 = pts.max(axis=0).astype(int)
    g = cv2.cvtColor(image_bgr[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32)
    if g.shape[0] < 8 or g.shape[1] < 8:
        return 0.5
    l1 = float(np.abs(cv2.Laplacian(g, cv2.CV_32F)).mean())
    l2 = float(np.abs(cv2.Laplacian(cv2.GaussianBlur(g, (0, 0), 1.0), cv2.CV_32F)).mean())
    r = l1 / max(l2, 1e-6)
    return float(np.interp(r, [1.3, 1.34, 1.54, 1.75, 2.6, 3.5], [2.0, 1.5, 1.0, 0.8, 0.5, 0.3]))


def _coverage(poly: np.ndarray, h: int, w: int, ss: int = 4) -> np.ndarray:
    """Fraction of each pixel inside the polygon: filled at ss x ss supersampling, then averaged.
    (fillPoly's LINE_AA does not anti-alias on float images, which left stair-stepped edges.)"""
    big = np.zeros((h * ss, w * ss), np.uint8)
    SH = 3
    pts = np.round((poly * ss + (ss - 1) / 2.0) * (1 << SH)).astype(np.int32)
    cv2.fillPoly(big, [pts], 255, lineType=cv2.LINE_8, shift=SH)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def draw_mask(
    image_bgr: np.ndarray,
    landmarks_xy: np.ndarray,
    style: str = "correct",
    mask_type: str = "surgical",
    color: tuple[int, int, int] | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Return a copy of `image_bgr` with a mask drawn on the face given by 468 (x, y) landmarks.

    style: correct | nose | chin; mask_type: surgical | cloth | n95; color: BGR or None (random).
    """
    if rng is None:
        rng = np.random.default_rng(0)
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError("draw_mask expects an HxWx3 BGR image")
    pts = np.asarray(landmarks_xy, dtype=np.float64)[:, :2]
    if pts.shape[0] < 468:
        raise ValueError("draw_mask expects 468 FaceMesh landmarks")
    if mask_type not in MASK_TYPES:
        raise ValueError(f"unknown mask type {mask_type!r}; expected one of {MASK_TYPES}")
    base = np.array(color if color is not None else PALETTES[mask_type][rng.integers(len(PALETTES[mask_type]))], np.float32)
    shape = _mask_shape(pts, style, mask_type, rng)

    img = image_bgr.astype(np.float32)
    H, W = img.shape[:2]
    fw = shape.face_width
    pad = int(0.25 * fw) + 4
    x0, y0 = np.floor(shape.polygon.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(shape.polygon.max(axis=0)).astype(int) + pad
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return image_bgr.copy()
    h, w = y1 - y0, x1 - x0

    # Coverage with sub-pixel edges (fillPoly with fractional shift), then softened by a blur
    # proportional to face size: a sharp cut-out edge is the most visible "pasted" cue.
    alpha = _coverage(shape.polygon - [x0, y0], h, w)
    photo_blur = _estimate_blur(image_bgr, pts)
    edge_sigma = max(0.5, fw / 260.0, 0.8 * photo_blur)
    alpha = cv2.GaussianBlur(alpha, (0, 0), edge_sigma)

    # Face-local coordinates of every pixel: su along the eye line, sv down the face.
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xx - shape.origin[0], yy - shape.origin[1]
    su = (dx * shape.ex[0] + dy * shape.ex[1]).astype(np.float32)
    sv = (dx * shape.ey[0] + dy * shape.ey[1]).astype(np.float32)
    ulo, uhi = shape.top_u[0, 0], shape.top_u[-1, 0]
    ucen = shape.top_u[np.argmin(shape.top_u[:, 1]), 0]
    u = np.where(su < ucen, (su - ucen) / max(ucen - ulo, 1e-6), (su - ucen) / max(uhi - ucen, 1e-6))
    u = np.clip(u, -1, 1).astype(np.float32)
    top_v = np.interp(su, shape.top_u[:, 0], shape.top_u[:, 1]).astype(np.float32)
    bot_v = np.interp(su, shape.bottom_u[:, 0], shape.bottom_u[:, 1]).astype(np.float32)
    f = np.clip((sv - top_v) / np.maximum(bot_v - top_v, 1.0), 0, 1).astype(np.float32)

    colour = _fabric(mask_type, u, f, su, sv, base, rng, fw)

    # Shape lighting: the mask wraps around the face, so it darkens toward the sides and the
    # chin; a random light direction adds a left/right gradient.
    light = rng.uniform(0.05, 0.16) * rng.choice([-1.0, 1.0])
    # The two halves face different ways around the nose: with the light from one side, one half is
    # brighter. Cloth masks have a sharp centre seam; the others turn smoothly.
    turn = np.tanh(u / (0.06 if mask_type == "cloth" else 0.35))
    curv = 1.0 - 0.38 * np.abs(u) ** 2.2 - 0.30 * f ** 4 + light * turn + 0.5 * light * u
    if mask_type == "n95":
        curv -= 0.12 * (np.abs(u) ** 2 + (2 * f - 1) ** 2) * 0.5
    # Broad sheen where the fabric faces the camera (upper middle): additive, so that dark masks
    # show their form too instead of reading as a flat silhouette.
    sheen_u = 0.25 * (-np.sign(light))
    sheen = np.exp(-(((u - sheen_u) / 0.45) ** 2) - ((f - 0.35) / 0.35) ** 2)
    sheen_amp = {"surgical": 10.0, "cloth": 16.0, "n95": 22.0}[mask_type]
    # Scene lighting: take the low-frequency brightness of the face under the mask relative to
    # the face's mean, so masks in shadowed or warm-lit photos are shadowed the same way.
    gray = cv2.cvtColor(image_bgr[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32)
    illum = cv2.GaussianBlur(gray, (0, 0), max(2.0, fw / 7.0))
    ref = float(np.average(illum, weights=alpha + 1e-6))
    rel = np.clip(illum / max(ref, 1.0), 0.5, 1.6) ** 0.6
    # Colour cast of the scene light, from the face's mean colour relative to neutral grey.
    face_mean = np.array([np.average(img[y0:y1, x0:x1, c], weights=alpha + 1e-6) for c in range(3)], np.float32)
    cast = face_mean / max(float(face_mean.mean()), 1.0)
    cast = np.clip(1.0 + 0.35 * (cast - 1.0), 0.85, 1.15)
    exposure = np.clip(ref / 140.0, 0.45, 1.15) ** 0.5  # dark photos get darker masks
    colour = (colour * curv[..., None] + sheen_amp * sheen[..., None]) * (rel * exposure)[..., None] * cast

    # Match the photo's softness and grain: blur a little, then add noise of the photo's level.
    colour = cv2.GaussianBlur(colour, (0, 0), max(0.4, fw / 400.0, photo_blur))
    grain = float(np.std(gray - cv2.GaussianBlur(gray, (0, 0), 1.0)))
    colour += rng.normal(0, min(grain, 6.0) * 0.6, colour.shape).astype(np.float32)

    out = img.copy()
    region = out[y0:y1, x0:x1]

    # Contact shadow: the skin right around the mask is darker where the fabric stands off it.
    shadow = cv2.GaussianBlur(alpha, (0, 0), max(1.0, fw / 70.0))
    shadow = np.clip(shadow - alpha, 0, 1)
    # Light from above: the mask also casts a softer shadow down onto the neck, offset along the
    # face's down direction.
    drop = fw * 0.04
    m = np.float32([[1, 0, shape.ey[0] * drop], [0, 1, shape.ey[1] * drop]])
    cast_sh = cv2.warpAffine(alpha, m, (w, h), borderMode=cv2.BORDER_CONSTANT)
    cast_sh = np.clip(cv2.GaussianBlur(cast_sh, (0, 0), max(1.0, fw / 30.0)) - alpha, 0, 1)
    region *= (1.0 - 0.30 * shadow - 0.25 * cast_sh)[..., None]

    _draw_loops(region, shape, (x0, y0), base, mask_type, rng, alpha, float(exposure) * cast)

    region[:] = region * (1 - alpha[..., None]) + colour * alpha[..., None]
    out[y0:y1, x0:x1] = region
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _draw_loops(
    region: np.ndarray, shape: MaskShape, offset: tuple[int, int], base: np.ndarray,
    mask_type: str, rng: np.random.Generator, alpha: np.ndarray, light: np.ndarray,
) -> None:
    """Ear loops (surgical, cloth) or head straps (N95) from the mask's sides toward the ears."""
    x0, y0 = offset
    fw = shape.face_width
    thick = fw / (110.0 if mask_type != "n95" else 70.0)
    if mask_type == "surgical":
        loop_col = np.array([232, 232, 230], np.float32) if rng.random() < 0.7 else base
    elif mask_type == "cloth":
        loop_col = base * 0.85
    else:
        loop_col = np.array(rng.choice([[225, 225, 225], [190, 120, 50], [50, 190, 220]]), np.float32)
    # Loops sit in the same light as the mask, and at the face's sides, which face away from it.
    loop_col = loop_col * light * 0.85
    h, w = region.shape[:2]
    ss = 4  # drawn supersampled: loops are 1-3 px wide and must not look jagged
    big = np.zeros((h * ss, w * ss), np.uint8)
    tl, tr, ll, lr = shape.corners
    for corners, ears in (((tl, ll), shape.ear_anchors[0]), ((tr, lr), shape.ear_anchors[1])):
        for start, ear in zip(corners, ears):
            # A gentle outward bow, as an elastic pulled over the cheek takes.
            mid = (start + ear) / 2 + (start - shape.origin) * 0.05
            t = np.linspace(0, 1, 32)[:, None]
            curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * mid + t ** 2 * ear
            pts = np.round(((curve - [x0, y0]) * ss + (ss - 1) / 2) * 8).astype(np.int32)
            cv2.polylines(big, [pts], False, 255, thickness=max(1, int(round(thick * ss))),
                          lineType=cv2.LINE_8, shift=3)
    layer = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    layer *= 1 - alpha
    # Thin elastic is partly see-through and picks up the scene's light.
    layer *= 0.85
    region[:] = region * (1 - layer[..., None]) + loop_col * layer[..., None]


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def _read_bgr(path: Path) -> np.ndarray | None:
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        return None
    # Decode every format to 3-channel BGR the same way (RGBA/grey inputs otherwise leak format cues).
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        a = img[:, :, 3:4].astype(np.float32) / 255.0
        img = (img[:, :, :3].astype(np.float32) * a + 255.0 * (1 - a)).astype(np.uint8)
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(float(img.max()), 1.0))
    return img


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="+", type=Path, help="folders of unmasked face photos")
    ap.add_argument("-o", "--out", type=Path, required=True, help="output dataset folder")
    ap.add_argument("--variants", type=int, default=1, help="masked versions per input photo")
    ap.add_argument("--styles", default="correct,nose,chin", help="comma list to sample from")
    ap.add_argument("--weights", default="2,1,1", help="sampling weights of --styles")
    ap.add_argument("--types", default="surgical,cloth,n95", help="mask types to sample from")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs", action="store_true",
                    help="each variant as a pair: correct + one wrong style, same mask and seed")
    ap.add_argument("--limit", type=int, default=0, help="stop after this many inputs (0: all)")
    ap.add_argument("--max-yaw", type=float, default=0.3,
                    help="skip faces turned further than this (nose offset / face width)")
    ap.add_argument("--min-visible", type=float, default=0.6,
                    help="skip a variant when less of its mask than this falls inside the photo")
    ap.add_argument("--mesh-model", type=Path, default=DEFAULT_MESH_MODEL)
    ap.add_argument("--detector-model", type=Path, default=None)
    args = ap.parse_args(argv)

    styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    weights = np.array([float(x) for x in args.weights.split(",")][: len(styles)], np.float64)
    if len(weights) != len(styles) or any(s not in STYLES for s in styles):
        ap.error(f"--styles must be from {STYLES} with one weight each")
    if args.pairs:  # the pair's wrong half is sampled among the wrong styles only
        keep = [i for i, st in enumerate(styles) if st != "correct"]
        if not keep:
            ap.error("--pairs needs a wrong style (nose, chin) in --styles")
        styles, weights = [styles[i] for i in keep], weights[keep]
    weights /= weights.sum()
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    if any(t not in MASK_TYPES for t in types):
        ap.error(f"--types must be from {MASK_TYPES}")

    files: list[Path] = []
    for d in args.inputs:
        if d.is_file():
            files.append(d)
        else:
            files.extend(sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTS))
    if args.limit:
        files = files[: args.limit]
    mesh = FaceMesh(args.mesh_model)
    for cls in set(STYLE_CLASS.values()):
        (args.out / cls).mkdir(parents=True, exist_ok=True)
    manifest = args.out / "manifest.tsv"
    written = unreadable = no_face = bad_geometry = turned = out_of_frame = 0
    with manifest.open("w", encoding="utf-8") as tsv:
        tsv.write("output\tsource\tsource_sha256\tstyle\tmask_type\tcolor_bgr\n")
        for path in files:
            raw = path.read_bytes() if path.is_file() else b""
            sha = hashlib.sha256(raw).hexdigest()
            img = _read_bgr(path)
            if img is None:
                unreadable += 1
                continue
            pts = find_face_landmarks(img, mesh, args.detector_model)
            if pts is None:
                no_face += 1
                continue
            # Seeded by content, not by order: the same photo gets the same masks on every run.
            rng = np.random.default_rng([args.seed, int(sha[:12], 16)])
            if abs(face_yaw(pts)) > args.max_yaw:
                turned += 1
                continue
            for k in range(args.variants):
                style = str(rng.choice(styles, p=weights))
                mtype = str(rng.choice(types))
                pal = PALETTES[mtype]
                color = pal[int(rng.integers(len(pal)))]
                todo = ["correct", style] if args.pairs else [style]
                # A chin mask is small: partly cut off it is hard to see at all, so ask for more of it.
                need = {st: max(args.min_visible, 0.8) if st == "chin" else args.min_visible for st in todo}
                if any(mask_visible_fraction(img.shape, pts, st, mtype) < need[st] for st in todo):
                    out_of_frame += 1
                    continue
                # one seed per variant: both halves of a pair get the same fabric, light and blur
                draw_seed = int(rng.integers(1 << 62))
                try:
                    outs = [(st, draw_mask(img, pts, st, mtype, color, np.random.default_rng(draw_seed))) for st in todo]
                except ValueError:  # degenerate landmarks (e.g. a near-profile face)
                    bad_geometry += 1
                    break
                for st, out in outs:
                    rel = Path(STYLE_CLASS[st]) / f"{path.stem}_{sha[:8]}_{k}_{st}_{mtype}.jpg"
                    cv2.imwrite(str(args.out / rel), out, [cv2.IMWRITE_JPEG_QUALITY, 95])
                    tsv.write(f"{rel.as_posix()}\t{path}\t{sha}\t{st}\t{mtype}\t{','.join(map(str, color))}\n")
                    written += 1
    print(
        f"inputs {len(files)}  written {written}  skipped: unreadable {unreadable}, "
        f"no face {no_face}, turned away {turned}, bad landmarks {bad_geometry}; "
        f"variants not drawn because the mask would be out of frame: {out_of_frame}"
    )
    print(f"manifest: {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Draw synthetic face masks onto photos of unmasked faces, guided by FaceMesh landmarks.

Why: the only "worn incorrectly" training images we have are pasted-on masks with a non-commercial
licence that look unlike real masks. `draw_mask(image_bgr, landmarks_xy, style, mask_type, color, rng)`
renders our own masks (surgical, cloth, N95-like), procedurally coloured and textured, following the face's
tilt, width and lighting, in the styles of tools/data/mask_shape.py (correct, nose, chin). The landmarks
come from tools/data/facemesh.py; tools/data/synth_masks.py makes training sets of them.
"""

from __future__ import annotations

import cv2
import numpy as np

from tools.data.mask_shape import MASK_TYPES, MaskShape, coverage, place_mask
from tools.data.textures import estimate_blur, fabric_texture, value_noise

# Base colours (BGR) per mask type; one is picked at random when no colour is given.
PALETTES: dict[str, list[tuple[int, int, int]]] = {
    "surgical": [(222, 196, 150), (214, 180, 120), (240, 238, 236), (45, 45, 48), (205, 190, 235),
                 (200, 215, 170), (230, 205, 170)],
    "cloth": [(60, 40, 30), (40, 40, 40), (120, 80, 40), (70, 70, 150), (140, 140, 140),
              (90, 120, 60), (180, 160, 200), (50, 60, 110), (200, 200, 205)],
    "n95": [(236, 238, 240), (225, 228, 230), (205, 210, 215), (200, 190, 170), (60, 60, 62)],
}


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
        shade += 0.03 * value_noise((h, w), max(2.0, 1.5 * px), rng)  # non-woven mottling
    elif mask_type == "cloth":
        pattern = rng.choice(["plain", "plain", "stripes", "dots", "check", "heather", "print", "print"])
        if pattern == "print":
            # the same printed and knitted fabrics tools/data/synth_coverings.py gives scarves: a pattern alone
            # must not tell a worn mask from a covering
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
            shade += 0.07 * value_noise((h, w), max(1.5, 0.8 * px), rng)
        # Woven grain and a centre seam running from nose to chin.
        weave = np.sin(2 * np.pi * su / max(2.2, 1.2 * px)) * np.sin(2 * np.pi * sv / max(2.2, 1.2 * px))
        shade += 0.035 * weave + 0.03 * value_noise((h, w), max(3.0, 4 * px), rng)
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
        shade += 0.025 * value_noise((h, w), max(2.0, 1.0 * px), rng)
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
    shape = place_mask(pts, style, mask_type, rng)

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
    alpha = coverage(shape.polygon - [x0, y0], h, w)
    photo_blur = estimate_blur(image_bgr, pts)
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


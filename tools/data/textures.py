"""Pieces the drawn masks (tools/data/mask_drawing.py) and the look-alike coverings (synth_coverings.py) share:
smooth noise, random colours, a light gradient, printed or knitted fabric, and the photo's own softness (a
crisp drawing on a soft photo is a paste cue)."""

from __future__ import annotations

import cv2
import numpy as np


def value_noise(shape: tuple[int, int], cell: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth random field in [-1, 1]: random grid values, bicubically upsampled."""
    gh, gw = max(2, int(shape[0] / cell) + 2), max(2, int(shape[1] / cell) + 2)
    g = rng.uniform(-1, 1, (gh, gw)).astype(np.float32)
    big = cv2.resize(g, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
    return big[: shape[0], : shape[1]]


def random_colour(rng: np.random.Generator, sat: tuple[float, float] = (0.2, 0.9)) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), int(255 * rng.uniform(*sat)), int(255 * rng.uniform(0.35, 0.95))]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def shade(tex: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A light gradient across the object, so that it is lit like something held in a room."""
    th, tw = tex.shape[:2]
    g = np.linspace(-1, 1, tw, dtype=np.float32)[None, :] * rng.uniform(-0.15, 0.15)
    g = g + np.linspace(-1, 1, th, dtype=np.float32)[:, None] * rng.uniform(-0.15, 0.15)
    return tex * (1.0 + g)[..., None]


def fabric_texture(rng: np.random.Generator) -> np.ndarray:
    """A random printed or knitted fabric (BGR float): the scarves of synth_coverings.py and the printed cloth
    masks of mask_drawing.py, so that a pattern alone does not tell a worn mask from a covering."""
    th, tw = 200, 400
    yy, xx = np.mgrid[0:th, 0:tw].astype(np.float32)
    c1, c2, c3 = random_colour(rng), random_colour(rng), random_colour(rng)
    style = rng.integers(4)
    if style == 0:  # stripes
        k = (np.floor(yy / rng.uniform(10, 35)) % 3).astype(int)
        tex = np.stack([c1, c2, c3])[k]
    elif style == 1:  # plaid
        a = (np.floor(yy / rng.uniform(12, 30)) % 2) + (np.floor(xx / rng.uniform(12, 30)) % 2)
        tex = np.stack([c1, (c1 + c2) / 2, c2])[a.astype(int)]
    elif style == 2:  # plain knit
        tex = np.ones((th, tw, 3), np.float32) * c1
    else:  # a printed pattern
        tex = np.ones((th, tw, 3), np.float32) * c1
        for _ in range(60):
            cv2.circle(tex, (int(rng.integers(0, tw)), int(rng.integers(0, th))), int(rng.integers(3, 12)), c2.tolist(), -1)
    knit = 0.85 + 0.15 * np.abs(np.sin(xx / rng.uniform(2.0, 4.0))) * (0.8 + 0.2 * np.sin(yy / 2.5))
    tex = tex * knit[..., None] + value_noise((th, tw), 30, rng)[..., None] * 12
    return shade(tex, rng)


def estimate_blur(image_bgr: np.ndarray, pts: np.ndarray) -> float:
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


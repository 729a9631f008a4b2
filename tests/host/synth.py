"""Generated stand-in faces for host tests (no dependency on ../shared): deterministic BMP files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def face(rng: np.random.Generator, size: int, masked: bool) -> np.ndarray:
    """A skin-coloured ellipse with eyes on a random background; masked ones get a pale-blue lower half."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    img = np.empty((size, size, 3), np.float32)
    img[:] = rng.uniform(20, 235, 3)
    img += rng.normal(0, 12, (size, size, 3))
    cx, cy = size / 2 + rng.uniform(-2, 2), size / 2 + rng.uniform(-2, 2)
    rx, ry = size * rng.uniform(0.28, 0.34), size * rng.uniform(0.36, 0.42)
    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    img[inside] = np.array([224, 172, 140]) * rng.uniform(0.6, 1.1)
    for ex in (cx - rx * 0.4, cx + rx * 0.4):
        eye = (xx - ex) ** 2 + (yy - (cy - ry * 0.25)) ** 2 <= (size * 0.04) ** 2
        img[eye] = 30
    lower = inside & (yy > cy + ry * 0.05)
    if masked:
        img[lower] = np.array([170, 205, 235]) + rng.normal(0, 6, 3)
    else:
        mouth = inside & (np.abs(yy - (cy + ry * 0.5)) < size * 0.03) & (np.abs(xx - cx) < rx * 0.45)
        img[mouth] = [120, 40, 40]
    return np.clip(img, 0, 255).astype(np.uint8)


def make_dataset(root: Path, n_per_class: int = 40, size: int = 48, seed: int = 0,
                 classes=("with_mask", "without_mask")) -> Path:
    rng = np.random.default_rng(seed)
    for cls in classes:
        d = root / cls
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            Image.fromarray(face(rng, size, masked=cls != "without_mask")).save(d / f"{i:03d}.bmp")
    return root

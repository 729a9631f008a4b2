"""The faces of the kiosk-like evaluation: crops from class folders, or cuts with context from labelled scenes.

A *crop* folder has the usual class folders (`with_mask`, `without_mask`, `mask_weared_incorrect`);
each image is a face box plus a known margin on each side. A *scene* folder holds photos and
`boxes.tsv` (`scene label x y w h`, as tools/eval/eval_scenes.py reads); each labelled face is cut with
`context` x its size of the photo around it, and the other labelled faces inside the cut are kept
as `others` (tools/eval/kiosk_scenes.py shows them and ignores them). See tools/eval/kiosk_scenes.py for why
the context matters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CLASS_DIRS = {"with_mask": "mask", "without_mask": "no_mask", "mask_weared_incorrect": "incorrect"}
CLASSES = ("mask", "no_mask", "incorrect")
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
MIN_FACE = 24  # narrowest face box shown, pixels
DEFAULT_CONTEXT = 0.75  # scene cuts: this x the face's size of the photo around it on each side

Box = tuple[float, float, float, float]  # x, y, w, h


@dataclass
class FaceImage:
    image: np.ndarray  # BGR: the face and what is around it
    cls: str  # mask | no_mask | incorrect
    source: str  # where it came from (folder name)
    box: Box  # the face box, in image pixels
    others: tuple[Box, ...] = ()  # other labelled faces in the image (ignored where they show)
    id: int = -1  # its index in the pool (load_faces): the unit of the confidence intervals

    @property
    def face_px(self) -> float:
        return self.box[2]


def _sample(n: int, k: int, rng: np.random.Generator) -> list[int]:
    return sorted(int(i) for i in rng.choice(n, size=min(k, n), replace=False)) if n else []


def load_crops(root: Path, margin: float, per_class: int, seed: int) -> tuple[list[FaceImage], int]:
    """Up to `per_class` images per class folder (fixed-seed sample); and how many were unreadable."""
    faces: list[FaceImage] = []
    bad = 0
    for ci, (folder, cls) in enumerate(CLASS_DIRS.items()):
        d = root / folder
        if not d.is_dir():
            continue
        files = sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
        for i in _sample(len(files), per_class, np.random.default_rng([seed, ci])):
            img = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
            if img is None or min(img.shape[:2]) < 8:
                bad += 1
                continue
            h, w = img.shape[:2]
            bw, bh = w / (1 + 2 * margin), h / (1 + 2 * margin)
            faces.append(FaceImage(img, cls, root.name, ((w - bw) / 2, (h - bh) / 2, bw, bh)))
    return faces, bad


def load_scene_faces(folder: Path, context: float, per_class: int, seed: int,
                     min_px: int = MIN_FACE // 2) -> tuple[list[FaceImage], int]:
    """Labelled faces at least `min_px` wide cut from the photos of `folder` (boxes.tsv) with
    `context` x their size around them; and how many photos were unreadable."""
    from tools.eval.eval_scenes import read_boxes

    boxes = read_boxes(folder / "boxes.tsv")
    entries = [(scene, i, label, box) for scene in sorted(boxes) for i, (label, box) in enumerate(boxes[scene])
               if box[2] >= min_px and box[3] >= min_px]
    picked = []
    for ci, cls in enumerate(CLASSES):
        of = [e for e in entries if e[2] == cls]
        picked += [of[i] for i in _sample(len(of), per_class, np.random.default_rng([seed, 10 + ci]))]
    faces: list[FaceImage] = []
    bad_scenes: set[str] = set()
    cache: dict[str, np.ndarray | None] = {}
    source = f"{folder.parent.name}/{folder.name}"
    for scene, i, label, (x, y, w, h) in sorted(picked, key=lambda e: (e[0], e[1])):
        if scene not in cache:
            cache = {scene: cv2.imread(str(folder / scene), cv2.IMREAD_COLOR)}  # one photo at a time
        img = cache[scene]
        if img is None:
            bad_scenes.add(scene)
            continue
        H, W = img.shape[:2]
        x0, y0 = max(0, int(x - context * w)), max(0, int(y - context * h))
        x1, y1 = min(W, int(math.ceil(x + w + context * w))), min(H, int(math.ceil(y + h + context * h)))
        if x1 - x0 < 8 or y1 - y0 < 8 or x >= W or y >= H:
            continue
        others = tuple((float(ox - x0), float(oy - y0), float(ow), float(oh))
                       for j, (_, (ox, oy, ow, oh)) in enumerate(boxes[scene])
                       if j != i and ox < x1 and ox + ow > x0 and oy < y1 and oy + oh > y0)
        faces.append(FaceImage(img[y0:y1, x0:x1].copy(), label, source, (float(x - x0), float(y - y0), float(w), float(h)),
                               others))
    return faces, len(bad_scenes)


def describe_source(path: Path, amount: float | None) -> str:
    if (path / "boxes.tsv").is_file():
        return f"{path.parent.name}/{path.name} (scene cuts, context {DEFAULT_CONTEXT if amount is None else amount:g})"
    return f"{path.name} (crops, margin {amount or 0:g})"


def load_faces(sources: list[tuple[Path, float | None]], per_class: int, seed: int) -> tuple[list[FaceImage], int]:
    """Every source: a scene folder (has boxes.tsv; the number is the context, default 0.75) or a
    folder with class folders (the number is the crops' margin, default 0)."""
    faces: list[FaceImage] = []
    bad = 0
    for si, (path, amount) in enumerate(sources):
        if (path / "boxes.tsv").is_file():
            ctx = DEFAULT_CONTEXT if amount is None else amount
            got, b = load_scene_faces(path, ctx, per_class, seed + 1000 * si)
        else:
            got, b = load_crops(path, 0.0 if amount is None else amount, per_class, seed + 1000 * si)
        faces += got
        bad += b
    for i, f in enumerate(faces):
        f.id = i
    return faces, bad

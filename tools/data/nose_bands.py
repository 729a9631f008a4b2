"""Nose-check training pairs in which only the height of the mask's edge differs.

    .venv/bin/python -m tools.data.nose_bands ../shared/datasets/masks-real -o build/nosebands [--variants 2]

Why: the nose check learnt "covered" from real masked photos and "bare" from real unmasked ones, so a
patch that holds any real mask fabric looks covered to it, even with the nose out above the fabric (the
masks worn below the nose that it lets through). Here every unmasked face of ROOT is cut into the
kiosk's own nose patch (kiosk.vision.nose.nose_patch, the default detector's keypoints) and gets, twice, the
same band of real mask fabric (cut from the patch of a properly masked face of ROOT's training split,
below its covered nose tip): once with its top edge over the nose bridge (with_mask: nose covered) and
once with its top edge below the nose tip (without_mask: nose bare). Same face, same fabric, same edge
shape, feather and shading; the only difference between the classes is where the edge lies relative to
the nose. OUT/manifest.tsv names each patch's source photo, so a pair stays in its photo's split.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.vision.nose import DOWN, SIDE, patch_axes
from tools.cli import CliError, run
from tools.data.nose_patches import NOSE_PATCH_FILE
from tools.training import dataset as D

ROOT = Path(__file__).resolve().parents[2]

FABRIC_TOP = 0.70  # fabric strips are cut from this height of a masked patch down (below its covered tip)


def patch_points(keypoints, size: int, side: float = SIDE, down: float = DOWN) -> tuple[float, float] | None:
    """(eye line y, nose tip y) in the pixels of the patch nose_patch cuts from these keypoints."""
    axes = patch_axes(keypoints, side, down)
    if axes is None:
        return None
    centre, _, uy, s, mid, nt = axes

    def y(p: np.ndarray) -> float:
        return (float((p - centre) @ uy) / s + 0.5) * size

    return y(mid), y(nt)


@dataclass(frozen=True)
class Band:
    """One band's look, shared by both patches of a pair."""

    fabric: np.ndarray  # BGR strip, any height, the patch's width
    curve: float  # edge sag toward the sides, in patch heights (the edge rises over the nose)
    tilt: float  # edge slope, patch heights across the patch
    feather: float  # edge blur, px
    shade: float  # brightness factor of the fabric
    shadow: float  # darkening just above the edge (the mask's rim casts one)


def random_band(fabrics: list[np.ndarray], rng: np.random.Generator) -> Band:
    return Band(fabric=fabrics[int(rng.integers(len(fabrics)))], curve=float(rng.uniform(-0.04, 0.14)),
                tilt=float(rng.uniform(-0.08, 0.08)), feather=float(rng.uniform(0.4, 1.6)),
                shade=float(rng.uniform(0.75, 1.2)), shadow=float(rng.uniform(0.0, 0.25)))


def fill(strip: np.ndarray, size: int) -> np.ndarray:
    """A size x size fabric from a strip, mirrored downward: stretching it would streak the weave."""
    strip = cv2.resize(strip, (size, max(2, strip.shape[0] * size // strip.shape[1])), interpolation=cv2.INTER_LINEAR)
    reps = -(-size // strip.shape[0])
    tiles = [strip if i % 2 == 0 else strip[::-1] for i in range(reps)]
    return np.vstack(tiles)[:size]


def apply_band(patch: np.ndarray, band: Band, top: float) -> np.ndarray:
    """The patch with the band's fabric below an edge whose middle lies at y = `top` px."""
    size = patch.shape[0]
    x = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5
    edge = top + (band.curve * (2 * x) ** 2 + band.tilt * x) * size  # per column, px
    yy = np.arange(size, dtype=np.float32)[:, None] + 0.5
    alpha = np.clip(yy - edge[None, :] + 0.5, 0.0, 1.0)
    if band.feather > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), band.feather)
    fabric = fill(band.fabric, size).astype(np.float32)
    fabric *= band.shade
    out = patch.astype(np.float32)
    # the rim's shadow: a few px above the edge, on the face
    rim = np.clip(1.0 - np.abs(yy - (edge[None, :] - 2.0)) / 3.0, 0.0, 1.0) * (1 - alpha)
    out *= (1.0 - band.shadow * rim)[..., None]
    out = out * (1 - alpha[..., None]) + fabric * alpha[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def pair_tops(eye_y: float, tip_y: float, size: int, rng: np.random.Generator) -> tuple[float, float] | None:
    """(covered top, bare top): one edge over the nose bridge, one below the tip; None if no room."""
    nose = tip_y - eye_y
    if nose < 0.12 * size or tip_y > 0.85 * size:
        return None
    covered = eye_y + nose * float(rng.uniform(0.2, 0.7))
    bare = tip_y + size * float(rng.uniform(0.04, 0.25))
    if bare > size - 4:
        return None
    return covered, bare


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", help="dataset root with with_mask (fabric) and without_mask (faces) folders")
    p.add_argument("-o", "--out", type=Path, required=True)
    p.add_argument("--size", type=int, default=64, help="patch side in px (the nose model's input)")
    p.add_argument("--variants", type=int, default=2, help="pairs per unmasked face")
    p.add_argument("--fabrics", type=int, default=600, help="fabric strips to cut (training-split masks)")
    p.add_argument("--seed", type=int, default=21)
    args = p.parse_args(argv)
    if not 16 <= args.size <= 256:
        raise CliError(f"--size {args.size}: must be 16..256")
    if not 1 <= args.variants <= 10:
        raise CliError(f"--variants {args.variants}: must be 1..10")

    from kiosk.config import Config
    from kiosk.vision.detectors import build_detector, model_path
    from kiosk.vision.nose import nose_patch

    rng = np.random.default_rng(args.seed)
    detector = build_detector(Config())
    ds = D.scan([args.root])
    fabrics: list[np.ndarray] = []
    # fabric only from training-split photos, so no test photo's mask reaches a training patch
    for s in [s for s in ds.samples if s.label == "mask" and s.split == "train"]:
        if len(fabrics) >= args.fabrics:
            break
        rgb = D.load_image(s.path)
        if rgb is None:
            continue
        frame, det = D.best_face(detector, rgb)
        if det is None:
            continue
        patch = nose_patch(frame, det.keypoints, args.size)
        pts = patch_points(det.keypoints, args.size)
        if patch is None or pts is None or pts[1] > FABRIC_TOP * args.size:
            continue  # a tip that low leaves too little fabric under it
        fabrics.append(patch[int(FABRIC_TOP * args.size):].copy())
    if not fabrics:
        raise CliError(f"{args.root}: no properly masked face found to cut fabric from")
    for folder in ("with_mask", "without_mask"):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    # the geometry travels with the data into the model's sidecar, as tools/data/nose_patches.py's does
    geometry = {"side": SIDE, "down": DOWN, "detector": model_path(Config()).name}
    (args.out / NOSE_PATCH_FILE).write_text(json.dumps(geometry) + "\n", encoding="utf-8")
    pairs = skipped = 0
    with (args.out / "manifest.tsv").open("w", encoding="utf-8") as tsv:
        tsv.write("output\tsource\tsource_sha256\tlabel\n")
        for s in [s for s in ds.samples if s.label == "no_mask"]:
            rgb = D.load_image(s.path)
            if rgb is None:
                continue
            frame, det = D.best_face(detector, rgb)
            patch = None if det is None else nose_patch(frame, det.keypoints, args.size)
            pts = None if det is None else patch_points(det.keypoints, args.size)
            if patch is None or pts is None:
                skipped += 1
                continue
            for v in range(args.variants):
                tops = pair_tops(pts[0], pts[1], args.size, rng)
                if tops is None:
                    skipped += 1
                    break
                band = random_band(fabrics, rng)
                for folder, top, tag in (("with_mask", tops[0], "c"), ("without_mask", tops[1], "b")):
                    rel = Path(folder) / f"{s.path.stem[:60]}_{s.digest[:8]}_{tag}{v}.png"
                    cv2.imwrite(str(args.out / rel), apply_band(patch, band, top))
                    tsv.write(f"{rel.as_posix()}\t{s.path}\t{s.group}\t{'mask' if tag == 'c' else 'no_mask'}\n")
                pairs += 1
    print(f"pairs: {pairs} (with_mask = edge over the nose, without_mask = edge below the tip); "
          f"fabric strips: {len(fabrics)}; faces skipped: {skipped}")
    return 0


if __name__ == "__main__":
    run(main)

"""Contact sheet of tools/data/synth_masks.py's output: every style x mask type on a few faces, upright and tilted.

The committed sheet (models/synth_contact_sheet.png) is drawn on the two public-domain portraits the
demo clip also uses (scikit-image's astronaut, Eileen Collins, NASA; matplotlib's Grace Hopper, US
Navy), because face photos from ../shared must not be committed. For a sheet of the training
data's faces, point --from at a folder of unmasked photos and write it under build/.

    .venv/bin/python -m tools.demo.synth_sheet -o models/synth_contact_sheet.png --classify

--classify runs the kiosk's own detector + classifier (default config) on every picture and writes its
verdict under the tile: green when it is the expected label (unmasked -> no_mask, correct -> mask,
nose/chin -> incorrect), red when not — so the sheet doubles as a page of failure cases.
    .venv/bin/python -m tools.demo.synth_sheet --from ../shared/datasets/masks-real/without_mask --limit 6 -o build/sheet.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from tools.data.facemesh import FaceMesh, find_face_landmarks
from tools.data.mask_drawing import draw_mask
from tools.data.mask_shape import MASK_TYPES, STYLES
from tools.demo.make_demo_clip import load_sources

TILE = 128
COMBOS = [(style, mtype) for style in STYLES for mtype in MASK_TYPES]


def tilted(img: np.ndarray, degrees: float) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT_101)


def face_tile(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """A square around the landmarks, scaled to TILE px."""
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    cx, cy, s = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * 1.35
    m = np.float32([[TILE / s, 0, TILE / 2 - cx * TILE / s], [0, TILE / s, TILE / 2 - cy * TILE / s]])
    return cv2.warpAffine(img, m, (TILE, TILE), borderMode=cv2.BORDER_CONSTANT)


def caption(text: str, width: int) -> np.ndarray:
    bar = np.full((18, width, 3), 255, np.uint8)
    cv2.putText(bar, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return bar


EXPECTED = {"correct": "mask", "nose": "incorrect", "chin": "incorrect"}


def portrait_views() -> list[tuple[str, np.ndarray]]:
    """The demo clip's two public-domain people (A astronaut, B Grace Hopper), upright and tilted:
    tilted copies show a mask or occluder following the head."""
    src = load_sources()
    views = []
    for name, img in (("astronaut", src["A"]), ("grace_hopper", src["B"])):
        views += [(name, img), (f"{name}, tilted 15 deg", tilted(img, 15)), (f"{name}, tilted -12 deg", tilted(img, -12))]
    return views


def kiosk_verdict(analyzer, img: np.ndarray) -> tuple[str, str]:
    """(label of the largest face or "none", its caption) from the kiosk's own detector + classifier."""
    faces, _ = analyzer.analyse(img)
    if not faces:
        return "none", "no face found"
    f = max(faces, key=lambda v: v.box[2] * v.box[3])
    return f.label, f"{f.label} {f.score:.2f}"


def label_bar(text: str, colour: tuple[int, int, int]) -> np.ndarray:
    bar = np.full((18, TILE, 3), colour, np.uint8)
    cv2.putText(bar, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return bar


def verdict_bar(analyzer, img: np.ndarray, expected: str) -> tuple[np.ndarray, bool]:
    """The kiosk's verdict on the largest face of `img`, as a coloured caption; and whether it is right."""
    label, text = kiosk_verdict(analyzer, img)
    # a 2-class model cannot say incorrect: then any deny counts as right
    want = expected if expected in analyzer.classifier.labels else "no_mask"
    ok = label == want
    return label_bar(text, (60, 170, 60) if ok else (40, 40, 220)), ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--from", dest="src", type=Path, default=None, help="folder of unmasked photos (default: public domain)")
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--classify", action="store_true", help="caption each tile with the kiosk's verdict")
    args = ap.parse_args(argv)
    analyzer = None
    if args.classify:
        from kiosk.config import Config
        from kiosk.vision.analysis import build_analyzer

        analyzer = build_analyzer(Config())
    if args.src is not None:
        if not args.src.is_dir():
            ap.error(f"folder not found: {args.src}")
        paths = sorted(p for p in args.src.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp", ".bmp"})
        faces = [(p.name, cv2.imread(str(p))) for p in paths[: args.limit * 3]]
        faces = [(n, im) for n, im in faces if im is not None]
        views = faces
    else:
        views = portrait_views()
    mesh = FaceMesh(num_threads=1)
    rng = np.random.default_rng(args.seed)
    header = [caption("landmarks", TILE)] + [caption(f"{s} / {t}", TILE) for s, t in COMBOS]
    rows = [np.hstack(header)]
    wrong = total = drawn = 0
    for name, img in views:
        if args.src is not None and drawn >= args.limit:
            break
        pts = find_face_landmarks(img, mesh)
        if pts is None:
            print(f"{name}: no face found, skipped")
            continue
        dbg = img.copy()
        for x, y in pts:
            cv2.circle(dbg, (int(x), int(y)), 1, (0, 255, 0), -1)
        tiles = [face_tile(dbg, pts)]
        bars = [verdict_bar(analyzer, img, "no_mask")] if analyzer else []
        for style, mtype in COMBOS:
            masked = draw_mask(img, pts, style, mtype, None, rng)
            tiles.append(face_tile(masked, pts))
            if analyzer:
                bars.append(verdict_bar(analyzer, masked, EXPECTED[style]))
        rows.append(caption(name, TILE * len(tiles)))
        rows.append(np.hstack(tiles))
        drawn += 1
        if analyzer:
            rows.append(np.hstack([b for b, _ in bars]))
            wrong += sum(1 for _, ok in bars if not ok)
            total += len(bars)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet = np.vstack(rows)
    params = {".png": [cv2.IMWRITE_PNG_COMPRESSION, 9], ".jpg": [cv2.IMWRITE_JPEG_QUALITY, 80],
              ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, 80]}.get(args.out.suffix.lower(), [])
    if not cv2.imwrite(str(args.out), sheet, params):
        print(f"error: cannot write {args.out} (use .jpg or .png)", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({drawn} faces x {len(COMBOS)} masks)")
    if analyzer:
        print(f"kiosk verdicts: {total - wrong} of {total} as expected, {wrong} not (red on the sheet)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

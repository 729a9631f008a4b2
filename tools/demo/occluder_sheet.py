"""Look-alikes: things in front of the mouth that are not a worn mask, and what the kiosk says to them.

    .venv/bin/python -m tools.demo.occluder_sheet -o models/occluder_sheet.png

On the two public-domain portraits the demo and the contact sheet use (upright and tilted), FaceMesh
landmarks place five occluders over the lower face:
  hand    the person's own skin colour, four fingers across mouth and nose (a hand over the mouth)
  cup     the coffee cup from scikit-image's `coffee` photo (CC0), held in front of mouth and chin
  paper   a plain white sheet held over nose and mouth (a mask-like surface, not worn)
  book    a red hard-cover book with a title held over nose and mouth
  scarf   a striped knit scarf pulled up over the nose (a face covering, not a mask)
Each picture goes through the kiosk's own detector and classifier (default config); the caption is the
verdict of the largest face. The gate must open for none of them (policy: only a worn mask opens; a
scarf is a covering, not a mask): each is printed as a check. These fixed drawings are not the
training coverings (tools/data/synth_coverings.py draws random ones), but they are of the same kinds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from tools.data.facemesh import FaceMesh, find_face_landmarks
from tools.demo.synth_sheet import TILE, caption, face_tile, kiosk_verdict, label_bar, portrait_views

# FaceMesh indices
NOSE_TIP, NOSE_BRIDGE, UPPER_LIP, CHIN = 1, 6, 13, 152
LEFT_CHEEK, RIGHT_CHEEK = 234, 454
CHEEK_SKIN = (50, 280, 205, 425)  # mid-cheek points, for the skin colour
OCCLUDERS = ("hand", "cup", "paper", "book", "scarf")
MUST_NOT_OPEN = OCCLUDERS


def _frame(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Face centre line: (x axis unit, y axis unit, origin at the upper lip, face width)."""
    left, right = pts[LEFT_CHEEK], pts[RIGHT_CHEEK]
    ex = (right - left) / np.linalg.norm(right - left)
    ey = np.array([-ex[1], ex[0]])
    return ex, ey, pts[UPPER_LIP], float(np.linalg.norm(right - left))


def _blend(img: np.ndarray, layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = cv2.GaussianBlur(alpha.astype(np.float32), (0, 0), 1.0)[..., None]
    return (img * (1 - a) + layer * a).astype(np.uint8)


def hand(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    ex, ey, o, fw = _frame(pts)
    colour = np.median([img[int(y), int(x)] for x, y in (pts[i] for i in CHEEK_SKIN)], axis=0)
    h, w = img.shape[:2]
    layer = np.zeros_like(img, np.float32)
    alpha = np.zeros((h, w), np.float32)
    top = float(np.dot(pts[NOSE_TIP] - o, ey)) + 0.02 * fw  # just under the nose tip
    width = 0.16 * fw
    for k in range(4):  # fingers from the left edge of the face across to the right cheek
        yc = top + (k + 0.5) * width
        a = o + ey * yc - ex * (0.75 - 0.05 * k) * fw
        b = o + ey * yc + ex * (0.42 - 0.06 * abs(k - 1.5)) * fw
        shade = 0.88 + 0.06 * k
        cv2.line(layer, tuple(map(int, a)), tuple(map(int, b)), colour * shade, int(width * 0.92), cv2.LINE_AA)
        cv2.line(alpha, tuple(map(int, a)), tuple(map(int, b)), 1.0, int(width * 0.92), cv2.LINE_AA)
    palm = np.array([o + ey * top - ex * 0.75 * fw, o + ey * (top + 4 * width) - ex * 0.75 * fw,
                     o + ey * (top + 5 * width) - ex * 1.3 * fw, o + ey * (top - width) - ex * 1.3 * fw])
    cv2.fillPoly(layer, [palm.astype(np.int32)], colour * 0.9, cv2.LINE_AA)
    cv2.fillPoly(alpha, [palm.astype(np.int32)], 1.0, cv2.LINE_AA)
    return _blend(img, layer, alpha)


def cup(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    from tools.data.synth_coverings import cup_photo

    ex, ey, o, fw = _frame(pts)
    photo, outline, m = cup_photo(o + ey * 0.25 * fw, np.degrees(np.arctan2(ex[1], ex[0])), 0.95 * fw)
    h, w = img.shape[:2]
    layer = cv2.warpAffine(photo, m, (w, h)).astype(np.float32)
    alpha = cv2.warpAffine(outline, m, (w, h))
    return _blend(img, layer, alpha)


def _mid_nose(pts: np.ndarray, o: np.ndarray, ey: np.ndarray) -> float:
    """Halfway between the nose bridge and the nose tip, along the face's vertical axis."""
    return float(np.dot((pts[NOSE_BRIDGE] + pts[NOSE_TIP]) / 2 - o, ey))


def paper(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    ex, ey, o, fw = _frame(pts)
    top = _mid_nose(pts, o, ey)
    corners = np.array([o + ey * top - ex * 0.55 * fw, o + ey * top + ex * 0.55 * fw,
                        o + ey * (top + 0.9 * fw) + ex * 0.55 * fw, o + ey * (top + 0.9 * fw) - ex * 0.55 * fw])
    h, w = img.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    cv2.fillPoly(alpha, [corners.astype(np.int32)], 1.0, cv2.LINE_AA)
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    layer = np.broadcast_to(np.array([238, 240, 242], np.float32) * (1.0 - 0.12 * yy), img.shape).copy()
    return _blend(img, layer, alpha)


def book(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    ex, ey, o, fw = _frame(pts)
    top = _mid_nose(pts, o, ey)
    tw, th = 200, 260
    cover = np.zeros((th, tw, 3), np.float32) + np.array([40, 40, 150], np.float32)  # red (BGR)
    cover[:, :14] = (215, 225, 232)  # page edges on the spine side
    cover[:, 2:14:3] = (170, 180, 190)
    cv2.putText(cover, "ATLAS", (34, 90), cv2.FONT_HERSHEY_TRIPLEX, 1.2, (210, 225, 235), 2, cv2.LINE_AA)
    cv2.rectangle(cover, (34, 130), (180, 220), (60, 140, 200), -1)
    corners = np.array([o + ey * top - ex * 0.5 * fw, o + ey * top + ex * 0.5 * fw,
                        o + ey * (top + 1.25 * fw) + ex * 0.5 * fw, o + ey * (top + 1.25 * fw) - ex * 0.5 * fw])
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [tw, 0], [tw, th], [0, th]]), corners.astype(np.float32))
    h, w = img.shape[:2]
    layer = cv2.warpPerspective(cover, m, (w, h))
    alpha = np.zeros((h, w), np.float32)
    cv2.fillPoly(alpha, [corners.astype(np.int32)], 1.0, cv2.LINE_AA)
    return _blend(img, layer, alpha)


def scarf(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    ex, ey, o, fw = _frame(pts)
    top = _mid_nose(pts, o, ey)
    chin = float(np.dot(pts[CHIN] - o, ey))
    h, w = img.shape[:2]
    band = np.array([o + ey * top - ex * 0.9 * fw, o + ey * top + ex * 0.9 * fw,
                     o + ey * (chin + 0.35 * fw) + ex * 0.9 * fw, o + ey * (chin + 0.35 * fw) - ex * 0.9 * fw])
    alpha = np.zeros((h, w), np.float32)
    cv2.fillPoly(alpha, [band.astype(np.int32)], 1.0, cv2.LINE_AA)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    v = (xx - o[0]) * ey[0] + (yy - o[1]) * ey[1]
    u = (xx - o[0]) * ex[0] + (yy - o[1]) * ex[1]
    stripes = (np.floor(v / (0.09 * fw)) % 3).astype(int)
    palette = np.array([[40, 40, 150], [200, 200, 210], [60, 110, 40]], np.float32)  # red, cream, green (BGR)
    knit = 0.85 + 0.15 * np.abs(np.sin(u / (0.012 * fw)))
    layer = palette[stripes] * knit[..., None]
    return _blend(img, layer, alpha)


DRAW = {"hand": hand, "cup": cup, "paper": paper, "book": book, "scarf": scarf}


def training_kinds(seed: int = 7) -> dict:
    """tools/data/synth_coverings.py's random kinds, one seeded drawing each: the look of the training data."""
    from tools.data import synth_coverings as sc

    def one(kind: str):
        return lambda img, pts: sc.draw_covering(img, pts, kind, np.random.default_rng([seed, sc.KINDS.index(kind)]))

    return {(f"{k} (held out)" if k in sc.HELD_OUT else k): one(k) for k in sc.KINDS}


def make_sheet(out: Path, draw: dict | None = None) -> dict[str, list[str]]:
    """Draw every occluder on every view, classify, write the sheet; return the labels per occluder."""
    from kiosk.config import Config
    from kiosk.vision.analysis import build_analyzer

    draw = DRAW if draw is None else draw
    analyzer = build_analyzer(Config())
    views = portrait_views()
    mesh = FaceMesh(num_threads=1)
    rows = [np.hstack([caption("as is", TILE)] + [caption(o, TILE) for o in draw])]
    verdicts: dict[str, list[str]] = {o: [] for o in ("as is",) + tuple(draw)}
    for name, img in views:
        pts = find_face_landmarks(img, mesh)
        if pts is None:
            print(f"{name}: no face found, skipped")
            continue
        pics = [("as is", img)] + [(o, fn(img, pts)) for o, fn in draw.items()]
        tiles, bars = [], []
        for occ, pic in pics:
            label, text = kiosk_verdict(analyzer, pic)
            verdicts[occ].append(label)
            bad = occ != "as is" and label == "mask"
            tiles.append(face_tile(pic, pts))
            bars.append(label_bar(text, (40, 40, 220) if bad else (90, 90, 90)))
        rows += [caption(name, TILE * len(tiles)), np.hstack(tiles), np.hstack(bars)]
    out.parent.mkdir(parents=True, exist_ok=True)
    params = {".png": [cv2.IMWRITE_PNG_COMPRESSION, 9], ".jpg": [cv2.IMWRITE_JPEG_QUALITY, 80]}.get(out.suffix.lower(), [])
    if not cv2.imwrite(str(out), np.vstack(rows), params):
        raise OSError(f"cannot write {out} (use .jpg or .png)")
    return verdicts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", type=Path, required=True, help="sheet image (.png or .jpg)")
    ap.add_argument("--training-kinds", action="store_true",
                    help="draw tools/data/synth_coverings.py's kinds (one seeded drawing each) instead of the fixed five")
    args = ap.parse_args(argv)
    try:
        verdicts = make_sheet(args.out, training_kinds() if args.training_kinds else None)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    for occ, labels in verdicts.items():
        counts = {l: labels.count(l) for l in sorted(set(labels))}
        check = ""
        if occ != "as is":
            check = "  OK: never mask" if "mask" not in labels else "  FAIL: called mask"
        print(f"{occ:6s} {counts}{check}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

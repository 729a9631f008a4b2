"""Look-alikes for training: things held over nose and mouth that are not a worn mask (label `covered`).

Why: a classifier that only ever saw masks over the lower face learns "lower face covered" and opens the
gate for a sheet of paper. These negatives are drawn on real unmasked photos (FaceMesh landmarks place
them), in many shapes, colours and textures, so that a mask is told apart by what makes it a mask (it is
worn: it follows the face, has loops, sits from the nose bridge to under the chin), not by coverage.

  paper      a plain sheet (white, off-white, coloured), sometimes folded, held by fingers
  printed    a sheet with lines of text, a table or coloured blocks on it
  book       a hard cover with a title and a band of page edges on one side
  phone      a dark slab with a bezel and a lit or dark screen
  hand       the person's own skin colour: fingers across mouth and nose
  cup        the coffee cup of scikit-image's `coffee` photo (CC0)
  tissue     a crumpled white tissue with a ragged edge
  cardboard  brown corrugated card with a printed mark
  scarf      a wide knitted or woven band from the nose to below the chin, past both cheeks

CLI:  python -m tools.data.synth_coverings IN_DIR [IN_DIR ...] -o OUT_DIR [--kinds paper,book,...] [--variants 1]
writes OUT_DIR/covered/*.jpg and OUT_DIR/manifest.tsv (output, source, source_sha256, kind), so that
tools/training/dataset.py puts each image in the split of the photo it was drawn on. A kind left out of --kinds is
one the model never saw: draw it alone on the test split to measure how coverings nobody thought of fare.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np

from tools.data.facemesh import DEFAULT_MESH_MODEL, FaceMesh, face_yaw, find_face_landmarks
from tools.data.photos import IMAGE_EXTS, read_bgr
from tools.data.textures import estimate_blur, fabric_texture, random_colour, shade, value_noise

KINDS = ("paper", "printed", "book", "phone", "hand", "cup", "tissue", "cardboard", "scarf")
# Left out of the shipped model's training (--kinds without it) and drawn alone on the test split: how
# well the model refuses a covering nobody showed it.
HELD_OUT = ("phone",)
NOSE_TIP, NOSE_BRIDGE, UPPER_LIP, CHIN = 1, 6, 13, 152
LEFT_CHEEK, RIGHT_CHEEK = 234, 454
CHEEK_SKIN = (50, 280, 205, 425)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class Face:
    """The face's own axes: x across (cheek to cheek), y down; origin at the upper lip; fw = face width."""

    def __init__(self, img: np.ndarray, pts: np.ndarray) -> None:
        left, right = pts[LEFT_CHEEK], pts[RIGHT_CHEEK]
        self.fw = float(np.linalg.norm(right - left))
        self.ex = (right - left) / max(self.fw, 1e-6)
        self.ey = np.array([-self.ex[1], self.ex[0]])
        self.o = pts[UPPER_LIP].astype(np.float64)
        self.pts = pts
        h, w = img.shape[:2]
        xs = [int(np.clip(pts[i][0], 0, w - 1)) for i in CHEEK_SKIN]
        ys = [int(np.clip(pts[i][1], 0, h - 1)) for i in CHEEK_SKIN]
        self.skin = np.median(img[ys, xs].astype(np.float32), axis=0)
        self.light = float(np.clip(self.skin.mean() / 150.0, 0.45, 1.25))  # the photo's exposure

    def at(self, u: float, v: float) -> np.ndarray:
        """Image point at (u, v) face widths from the upper lip."""
        return self.o + (self.ex * u + self.ey * v) * self.fw

    def v_of(self, idx: int) -> float:
        return float(np.dot(self.pts[idx] - self.o, self.ey)) / self.fw


def _quad(face: Face, rng: np.random.Generator, top: float, w: tuple[float, float], h: tuple[float, float],
          tilt_deg: float = 12.0) -> np.ndarray:
    """A held rectangle: its top edge at `top`, width/height ranges in face widths, tilted and skewed."""
    W, H = rng.uniform(*w), rng.uniform(*h)
    cu = rng.uniform(-0.12, 0.12)
    corners = np.array([[-W / 2, 0], [W / 2, 0], [W / 2, H], [-W / 2, H]]) + [cu, top]
    a = np.deg2rad(rng.normal(0, tilt_deg / 2))
    c, s = np.cos(a), np.sin(a)
    centre = corners.mean(axis=0)
    corners = (corners - centre) @ np.array([[c, s], [-s, c]]) + centre
    corners += rng.normal(0, 0.025, corners.shape)  # perspective: held at a slight angle
    return np.array([face.at(u, v) for u, v in corners])


def _fill(shape: tuple[int, int], poly: np.ndarray) -> np.ndarray:
    alpha = np.zeros(shape, np.float32)
    cv2.fillPoly(alpha, [np.round(poly * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    return alpha


def _warp_texture(tex: np.ndarray, quad: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    th, tw = tex.shape[:2]
    src = np.float32([[0, 0], [tw, 0], [tw, th], [0, th]])
    m = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    return cv2.warpPerspective(tex, m, (size[1], size[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _text_lines(tex: np.ndarray, rng: np.random.Generator, ink: np.ndarray, x0: int, y0: int, x1: int, y1: int,
                scale: float) -> None:
    y = y0
    while y < y1:
        line = "".join(rng.choice(list(LETTERS + "    "), int(rng.integers(8, 30))))
        cv2.putText(tex, line, (x0, int(y)), cv2.FONT_HERSHEY_SIMPLEX, scale, ink.tolist(), max(1, int(scale * 2)),
                    cv2.LINE_AA)
        y += scale * 34 * rng.uniform(1.0, 1.6)  # lines may run past x1: print runs off a cut sheet too


def _paper_texture(rng: np.random.Generator, printed: bool) -> np.ndarray:
    th, tw = 280, 220
    base = np.array([245, 246, 248], np.float32) * rng.uniform(0.85, 1.0) if rng.random() < 0.7 else \
        random_colour(rng, (0.1, 0.5)) * 0.3 + 180
    tex = np.ones((th, tw, 3), np.float32) * base
    tex += value_noise((th, tw), 40, rng)[..., None] * 4
    if rng.random() < 0.35:  # a fold
        x = int(rng.uniform(0.3, 0.7) * tw)
        tex[:, x - 2:x] *= 0.9
        tex[:, x:x + 2] *= 1.03
    if printed:
        ink = np.array([30, 30, 30], np.float32) if rng.random() < 0.7 else random_colour(rng) * 0.5
        style = rng.integers(3)
        if style == 0:  # text
            _text_lines(tex, rng, ink, 12, 30, tw - 10, th - 10, rng.uniform(0.35, 0.8))
        elif style == 1:  # a table
            for y in range(20, th, int(rng.integers(18, 34))):
                cv2.line(tex, (10, y), (tw - 10, y), ink.tolist(), 1)
            for x in range(10, tw, int(rng.integers(40, 80))):
                cv2.line(tex, (x, 20), (x, th - 10), ink.tolist(), 1)
        else:  # coloured blocks (a flyer, a photo)
            for _ in range(int(rng.integers(2, 7))):
                x, y = int(rng.integers(0, tw - 30)), int(rng.integers(0, th - 30))
                cv2.rectangle(tex, (x, y), (x + int(rng.integers(30, 140)), y + int(rng.integers(20, 120))),
                              random_colour(rng).tolist(), -1)
            _text_lines(tex, rng, ink, 10, int(th * 0.75), tw, th, 0.5)
    return shade(tex, rng)


def _book_texture(rng: np.random.Generator) -> np.ndarray:
    th, tw = 300, 220
    tex = np.ones((th, tw, 3), np.float32) * random_colour(rng)
    tex += value_noise((th, tw), 25, rng)[..., None] * 8
    ink = np.array([235, 235, 235], np.float32) if tex.mean() < 128 else np.array([25, 25, 25], np.float32)
    title = "".join(rng.choice(list(LETTERS[:26]), int(rng.integers(4, 10))))
    cv2.putText(tex, title, (20, int(th * rng.uniform(0.2, 0.45))), cv2.FONT_HERSHEY_TRIPLEX,
                rng.uniform(0.8, 1.3), ink.tolist(), 2, cv2.LINE_AA)
    if rng.random() < 0.5:
        cv2.rectangle(tex, (25, int(th * 0.5)), (tw - 25, int(th * 0.85)), random_colour(rng).tolist(), -1)
    # page edges along one side: the book is seen a little from the side
    band = int(tw * rng.uniform(0.06, 0.12))
    pages = np.ones((th, band, 3), np.float32) * [225, 235, 240]
    pages[:, ::3] *= 0.85
    tex = np.concatenate([tex, pages], axis=1) if rng.random() < 0.5 else np.concatenate([pages, tex], axis=1)
    return shade(tex, rng)


def _phone_texture(rng: np.random.Generator) -> np.ndarray:
    th, tw = 300, 150
    body = np.array([25, 25, 28], np.float32) * rng.uniform(0.6, 2.5)
    tex = np.ones((th, tw, 3), np.float32) * body
    b = int(tw * 0.06)
    if rng.random() < 0.6:  # screen on
        scr = np.ones((th - 4 * b, tw - 2 * b, 3), np.float32) * random_colour(rng, (0.1, 0.8))
        for _ in range(int(rng.integers(2, 8))):
            y = int(rng.integers(0, scr.shape[0] - 20))
            cv2.rectangle(scr, (8, y), (scr.shape[1] - 8, y + int(rng.integers(8, 40))), random_colour(rng).tolist(), -1)
    else:
        scr = np.ones((th - 4 * b, tw - 2 * b, 3), np.float32) * 12 + value_noise((th - 4 * b, tw - 2 * b), 60, rng)[..., None] * 10
    tex[2 * b:th - 2 * b, b:tw - b] = scr
    return shade(tex, rng)


def _cardboard_texture(rng: np.random.Generator) -> np.ndarray:
    th, tw = 260, 240
    base = np.array([95, 140, 180], np.float32) * rng.uniform(0.75, 1.1)
    tex = np.ones((th, tw, 3), np.float32) * base
    tex += value_noise((th, tw), 12, rng)[..., None] * 10
    period = rng.uniform(6, 12)
    tex *= (0.96 + 0.04 * np.sin(np.arange(tw, dtype=np.float32) * 2 * np.pi / period))[None, :, None]
    if rng.random() < 0.5:
        cv2.putText(tex, "".join(rng.choice(list(LETTERS[:26]), 5)), (20, 140), cv2.FONT_HERSHEY_SIMPLEX, 1.2,
                    (40, 40, 60), 3, cv2.LINE_AA)
    return shade(tex, rng)


def _tissue_texture(rng: np.random.Generator) -> np.ndarray:
    th, tw = 240, 240
    tex = np.ones((th, tw, 3), np.float32) * 240
    crumple = value_noise((th, tw), 18, rng) * 0.6 + value_noise((th, tw), 6, rng) * 0.4
    return tex * (0.88 + 0.12 * crumple)[..., None]


def cup_photo(centre: np.ndarray, angle_deg: float, width_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-image's coffee cup (CC0): the BGR photo, its elliptic outline (float 0..1), and the affine
    transform that puts it `width_px` wide at `centre`, turned by `angle_deg`."""
    from skimage import data

    photo = cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR)[40:330, 110:470]  # cup and saucer
    ph, pw = photo.shape[:2]
    outline = np.zeros((ph, pw), np.float32)
    cv2.ellipse(outline, (pw // 2, ph // 2), (int(pw * 0.48), int(ph * 0.47)), 0, 0, 360, 1.0, -1)
    m = cv2.getRotationMatrix2D((pw / 2, ph / 2), -angle_deg, width_px / pw)
    m[:, 2] += centre - np.array([pw / 2, ph / 2])
    return photo, outline, m


def _fingers(face: Face, quad: np.ndarray, rng: np.random.Generator, layer: np.ndarray, alpha: np.ndarray) -> None:
    """Two to four fingers over one side edge of a held object."""
    side = int(rng.integers(2))
    a, b = (quad[0], quad[3]) if side == 0 else (quad[1], quad[2])
    n = int(rng.integers(2, 5))
    width = face.fw * rng.uniform(0.09, 0.13)
    inward = (quad.mean(axis=0) - (a + b) / 2)
    inward /= max(np.linalg.norm(inward), 1e-6)
    for k in range(n):
        t = 0.3 + 0.15 * k + rng.uniform(-0.05, 0.05)
        p = a + (b - a) * t
        q = p + inward * face.fw * rng.uniform(0.12, 0.25)
        col = face.skin * rng.uniform(0.85, 1.05)
        cv2.line(layer, tuple(map(int, p - inward * width)), tuple(map(int, q)), col.tolist(), int(width), cv2.LINE_AA)
        cv2.line(alpha, tuple(map(int, p - inward * width)), tuple(map(int, q)), 1.0, int(width), cv2.LINE_AA)


def draw_covering(img: np.ndarray, pts: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """A copy of BGR `img` with a `kind` covering over nose and mouth of the face given by 468 landmarks."""
    if kind not in KINDS:
        raise ValueError(f"unknown covering {kind!r}; expected one of {KINDS}")
    face = Face(img, np.asarray(pts, np.float64)[:, :2])
    h, w = img.shape[:2]
    nose_mid = (face.v_of(NOSE_BRIDGE) + face.v_of(NOSE_TIP)) / 2
    top = rng.uniform(nose_mid - 0.1, face.v_of(NOSE_TIP) - 0.02)  # the nose tip is always covered
    layer = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    quad = None
    if kind in ("paper", "printed"):
        quad = _quad(face, rng, top, (0.8, 1.6), (0.7, 1.4))
        layer = _warp_texture(_paper_texture(rng, kind == "printed"), quad, (h, w))
    elif kind == "book":
        quad = _quad(face, rng, top, (0.75, 1.3), (0.9, 1.5))
        layer = _warp_texture(_book_texture(rng), quad, (h, w))
    elif kind == "phone":
        quad = _quad(face, rng, top, (0.45, 0.7), (0.8, 1.2)) if rng.random() < 0.5 else \
            _quad(face, rng, top, (0.9, 1.25), (0.45, 0.65))
        layer = _warp_texture(_phone_texture(rng), quad, (h, w))
    elif kind == "cardboard":
        quad = _quad(face, rng, top, (0.9, 1.7), (0.8, 1.5), tilt_deg=20)
        layer = _warp_texture(_cardboard_texture(rng), quad, (h, w))
    elif kind == "scarf":
        quad = _quad(face, rng, top, (1.7, 2.2), (face.v_of(CHIN) - top + 0.25, face.v_of(CHIN) - top + 0.5), tilt_deg=6)
        layer = _warp_texture(fabric_texture(rng), quad, (h, w))
    if quad is not None:
        alpha = _fill((h, w), quad)
    if kind == "tissue":
        # a ragged blob from the nose to the chin
        n = 24
        ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
        r = 1 + rng.uniform(-0.12, 0.12, n)
        cu, cv_ = rng.uniform(-0.05, 0.05), top + 0.35
        poly = np.array([face.at(cu + 0.45 * r[i] * np.cos(a), cv_ + 0.38 * r[i] * np.sin(a)) for i, a in enumerate(ang)])
        alpha = _fill((h, w), poly) * rng.uniform(0.85, 1.0)
        lo, hi = poly.min(axis=0), poly.max(axis=0)
        tq = np.array([lo, [hi[0], lo[1]], hi, [lo[0], hi[1]]])
        layer = _warp_texture(_tissue_texture(rng), tq, (h, w))
    elif kind == "hand":
        width = rng.uniform(0.14, 0.18)
        start = top + rng.uniform(-0.02, 0.06)
        side = 1 if rng.random() < 0.5 else -1
        for k in range(4):
            v = start + (k + 0.5) * width
            a = face.at(side * -(0.75 - 0.05 * k), v)
            b = face.at(side * (0.42 - 0.06 * abs(k - 1.5)) + rng.uniform(-0.05, 0.05), v + rng.uniform(-0.03, 0.03))
            col = face.skin * (0.86 + 0.05 * k) * rng.uniform(0.95, 1.05)
            cv2.line(layer, tuple(map(int, a)), tuple(map(int, b)), col.tolist(), int(width * face.fw * 0.92), cv2.LINE_AA)
            cv2.line(alpha, tuple(map(int, a)), tuple(map(int, b)), 1.0, int(width * face.fw * 0.92), cv2.LINE_AA)
        palm = np.array([face.at(side * -0.75, start), face.at(side * -0.75, start + 4 * width),
                         face.at(side * -1.3, start + 5 * width), face.at(side * -1.3, start - width)])
        cv2.fillPoly(layer, [palm.astype(np.int32)], (face.skin * 0.9).tolist(), cv2.LINE_AA)
        cv2.fillPoly(alpha, [palm.astype(np.int32)], 1.0, cv2.LINE_AA)
    elif kind == "cup":
        width = rng.uniform(0.8, 1.2) * face.fw
        centre = face.at(rng.uniform(-0.1, 0.1), rng.uniform(0.1, 0.3))
        angle = np.degrees(np.arctan2(face.ex[1], face.ex[0])) + rng.normal(0, 8)
        photo, outline, m = cup_photo(centre, angle, width)
        layer = cv2.warpAffine(photo.astype(np.float32), m, (w, h))
        alpha = cv2.warpAffine(outline, m, (w, h))
    if quad is not None and kind != "scarf" and rng.random() < 0.5:
        _fingers(face, quad, rng, layer, alpha)
    if kind not in ("hand", "cup"):  # lit like the face; hands and the cup photo carry their own light
        layer = layer * face.light
    # as soft as the photo: a crisp object on a soft face is a paste cue
    sigma = max(0.4, estimate_blur(img, face.pts))
    layer = cv2.GaussianBlur(layer, (0, 0), sigma)
    a = cv2.GaussianBlur(alpha, (0, 0), max(0.6, sigma))[..., None]
    noise = rng.normal(0, rng.uniform(1, 4), layer.shape).astype(np.float32)
    out = img.astype(np.float32) * (1 - a) + np.clip(layer + noise, 0, 255) * a
    return np.clip(out, 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="+", type=Path, help="folders of unmasked face photos")
    ap.add_argument("-o", "--out", type=Path, required=True, help="output dataset folder")
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma list from {','.join(KINDS)}")
    ap.add_argument("--variants", type=int, default=1, help="coverings per input photo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="stop after this many inputs (0: all)")
    ap.add_argument("--max-yaw", type=float, default=0.3, help="skip faces turned further than this")
    args = ap.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or any(k not in KINDS for k in kinds):
        print(f"error: --kinds '{args.kinds}': each must be one of {','.join(KINDS)}", file=sys.stderr)
        return 2
    files: list[Path] = []
    for d in args.inputs:
        if not d.exists():
            print(f"error: input not found: {d}", file=sys.stderr)
            return 2
        files.extend([d] if d.is_file() else sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTS))
    if args.limit:
        files = files[: args.limit]
    mesh = FaceMesh(DEFAULT_MESH_MODEL)
    (args.out / "covered").mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    with (args.out / "manifest.tsv").open("w", encoding="utf-8") as tsv:
        tsv.write("output\tsource\tsource_sha256\tkind\n")
        for path in files:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            img = read_bgr(path)
            pts = None if img is None else find_face_landmarks(img, mesh)
            if pts is None or abs(face_yaw(pts)) > args.max_yaw:
                skipped += 1
                continue
            rng = np.random.default_rng([args.seed, int(sha[:12], 16)])  # by content: same output every run
            for k in range(args.variants):
                kind = str(rng.choice(kinds))
                out = draw_covering(img, pts, kind, rng)
                rel = Path("covered") / f"{path.stem}_{sha[:8]}_{k}_{kind}.jpg"
                cv2.imwrite(str(args.out / rel), out, [cv2.IMWRITE_JPEG_QUALITY, 95])
                tsv.write(f"{rel.as_posix()}\t{path}\t{sha}\t{kind}\n")
                written += 1
    print(f"inputs {len(files)}  written {written}  skipped (unreadable, no face or turned away) {skipped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

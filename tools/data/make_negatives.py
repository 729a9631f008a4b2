"""Make `not_face` training images: what the kiosk's face detector mistakes for a face, cropped the way
the kiosk crops faces, from scenes with no people in them.

Why: the face detector runs at a low threshold (masked faces score low), so it also fires on printed
text, textures and signs now and then, and a 2- or 3-class classifier has to call such a crop
something — a sign was called `mask` with p=0.86. A `not_face` class lets the classifier veto the
detector at no extra cost per frame.

Sources (all without people, none downloaded):
  * scikit-image's bundled photos (brick, cat, coffee, coins, rocket, ...). `text` is held out on
    purpose: it is the known failure, kept to check that the fix generalises rather than memorises.
  * procedural scenes drawn here: signs and notices with text in OpenCV's fonts, shapes, stripes,
    gradients and noise, on plain or photographic backgrounds.
  * folders of your own face-free photos (positional arguments), e.g. frames of the empty entrance.

From every source, 640x480 frames are made (letterboxed, filled, mirrored, zoomed windows); the
kiosk's default detector runs on them at a LOW threshold, and each box is cropped with the kiosk's
crop rule (kiosk.vision.preprocess.square_crop_box). Random face-sized windows are added so the class is not
only "what this detector likes". Output: OUT/not_face/*.jpg and OUT/manifest.tsv, whose
`source_sha256` makes tools/training/dataset.py keep every crop of one source in the same split.

    python -m tools.data.make_negatives -o build/negatives [--scenes 400] [--seed 0] [PHOTO_DIR ...]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import cv2
import numpy as np

from kiosk.vision.detector import BlazeFaceDetector
from kiosk.vision.preprocess import crop, square_crop_box

ROOT = Path(__file__).resolve().parents[2]

FRAME_W, FRAME_H = 640, 480
# scikit-image's bundled photos that show no person ("astronaut" and "camera" do; "text" is held out)
SKIMAGE_PHOTOS = (
    "brick cell chelsea clock coffee coins colorwheel grass gravel hubble_deep_field "
    "immunohistochemistry logo microaneurysms moon page retina rocket horse checkerboard"
).split()
HELD_OUT = ("text",)
FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_COMPLEX_SMALL,
)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789  "
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def skimage_photos() -> list[tuple[str, np.ndarray]]:
    """(name, BGR uint8) for every bundled face-free photo this scikit-image has."""
    from skimage import data

    out = []
    for name in SKIMAGE_PHOTOS:
        fn = getattr(data, name, None)
        if fn is None:
            continue
        try:
            img = np.asarray(fn())
        except Exception:  # photos that scikit-image would have to download are skipped
            continue
        out.append((f"skimage:{name}", to_bgr(img)))
    return out


def to_bgr(img: np.ndarray) -> np.ndarray:
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(1.0, float(img.max())))
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[:, :, 2::-1])  # RGB(A) -> BGR


def procedural_scene(rng: np.random.Generator, photos: list[np.ndarray]) -> np.ndarray:
    """A made-up face-free 640x480 view: a background, then signs, text, shapes and lines."""
    kind = rng.integers(0, 4)
    if kind == 0:
        img = np.full((FRAME_H, FRAME_W, 3), rng.integers(0, 256, 3), np.uint8)
    elif kind == 1:  # gradient
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        t = np.linspace(0, 1, FRAME_W if rng.random() < 0.5 else FRAME_H)
        g = (a[None] * (1 - t[:, None]) + b[None] * t[:, None]).astype(np.uint8)
        img = np.broadcast_to(g[None], (FRAME_H, FRAME_W, 3)) if len(t) == FRAME_W else \
            np.broadcast_to(g[:, None], (FRAME_H, FRAME_W, 3))
        img = np.ascontiguousarray(img)
    elif kind == 2:  # smooth noise
        small = rng.integers(0, 256, (int(rng.integers(3, 40)), int(rng.integers(3, 40)), 3)).astype(np.uint8)
        img = cv2.resize(small, (FRAME_W, FRAME_H), interpolation=cv2.INTER_CUBIC)
    else:  # a window of a photo
        src = photos[int(rng.integers(len(photos)))]
        s = max(FRAME_W / src.shape[1], FRAME_H / src.shape[0]) * rng.uniform(1.0, 2.5)
        big = cv2.resize(src, (int(src.shape[1] * s) + 1, int(src.shape[0] * s) + 1))
        y = int(rng.integers(0, big.shape[0] - FRAME_H + 1))
        x = int(rng.integers(0, big.shape[1] - FRAME_W + 1))
        img = np.ascontiguousarray(big[y : y + FRAME_H, x : x + FRAME_W])
    for _ in range(int(rng.integers(1, 7))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        what = rng.integers(0, 5)
        if what <= 1:  # a sign: a panel with lines of text
            w, h = int(rng.integers(80, 400)), int(rng.integers(60, 300))
            x, y = int(rng.integers(-40, FRAME_W - 40)), int(rng.integers(-40, FRAME_H - 40))
            cv2.rectangle(img, (x, y), (x + w, y + h), colour, -1)
            ink = tuple(int(255 - c) if rng.random() < 0.7 else int(rng.integers(0, 256)) for c in colour)
            font = FONTS[int(rng.integers(len(FONTS)))]
            scale = rng.uniform(0.6, 3.5)
            thick = int(rng.integers(1, 6))
            yy = y + int(30 * scale)
            while yy < y + h:
                word = "".join(LETTERS[int(i)] for i in rng.integers(0, len(LETTERS), int(rng.integers(2, 14))))
                cv2.putText(img, word, (x + int(rng.integers(0, 20)), yy), font, scale, ink, thick, cv2.LINE_AA)
                yy += int(rng.uniform(25, 45) * scale)
        elif what == 2:
            c = (int(rng.integers(0, FRAME_W)), int(rng.integers(0, FRAME_H)))
            axes = (int(rng.integers(5, 150)), int(rng.integers(5, 150)))
            cv2.ellipse(img, c, axes, float(rng.uniform(0, 180)), 0, 360, colour,
                        -1 if rng.random() < 0.5 else int(rng.integers(1, 8)), cv2.LINE_AA)
        elif what == 3:  # stripes / bars
            step = int(rng.integers(4, 60))
            for k in range(0, FRAME_W + FRAME_H, step * 2):
                cv2.line(img, (k, 0), (k - int(rng.integers(-300, 300)), FRAME_H), colour,
                         int(rng.integers(1, step + 1)))
        else:
            pts = rng.integers(0, (FRAME_W, FRAME_H), (int(rng.integers(3, 7)), 2)).astype(np.int32)
            cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2.0))
    return img


def frames_of(img: np.ndarray, rng: np.random.Generator, zooms: int) -> list[np.ndarray]:
    """The views the detector is run on: letterboxed on grey, filling the frame, mirrored, zoomed."""
    h, w = img.shape[:2]
    out = []
    s = min(FRAME_W / w, FRAME_H / h)
    frame = np.full((FRAME_H, FRAME_W, 3), 128, np.uint8)
    sw, sh = max(1, round(w * s)), max(1, round(h * s))
    x0, y0 = (FRAME_W - sw) // 2, (FRAME_H - sh) // 2
    frame[y0 : y0 + sh, x0 : x0 + sw] = cv2.resize(img, (sw, sh))
    out.append(frame)
    s = max(FRAME_W / w, FRAME_H / h)
    big = cv2.resize(img, (round(w * s) + 1, round(h * s) + 1))
    out.append(np.ascontiguousarray(big[:FRAME_H, :FRAME_W]))
    out.append(np.ascontiguousarray(big[-FRAME_H:, -FRAME_W:][:, ::-1]))
    for _ in range(zooms):
        z = s * rng.uniform(1.5, 3.5)
        zoom = cv2.resize(img, (round(w * z) + 1, round(h * z) + 1))
        y = int(rng.integers(0, zoom.shape[0] - FRAME_H + 1))
        x = int(rng.integers(0, zoom.shape[1] - FRAME_W + 1))
        out.append(np.ascontiguousarray(zoom[y : y + FRAME_H, x : x + FRAME_W]))
    return out


def boxes_of(frame: np.ndarray, detector, rng: np.random.Generator, min_px: int) -> tuple[list, list]:
    """(detector boxes: the mistakes that matter, one random face-sized window)."""
    found = [d.box for d in detector.detect(frame) if d.box[2] >= min_px]
    side = int(rng.integers(min_px, 260))
    rand = [(int(rng.integers(0, FRAME_W - side)), int(rng.integers(0, FRAME_H - side)), side,
             int(side * rng.uniform(1.0, 1.3)))]
    return found, rand


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photos", nargs="*", help="folders of your own face-free photos (optional)")
    ap.add_argument("-o", "--out", type=Path, required=True, help="output dataset folder")
    ap.add_argument("--scenes", type=int, default=400, help="procedural scenes to draw")
    ap.add_argument("--per-photo", type=int, default=16, help="at most this many crops per photo")
    ap.add_argument("--per-scene", type=int, default=3, help="at most this many crops per procedural scene")
    ap.add_argument("--threshold", type=float, default=0.1, help="detector score threshold (low on purpose)")
    ap.add_argument("--margin", type=float, default=0.2, help="crop margin, as the kiosk's [faces] margin")
    ap.add_argument("--min-px", type=int, default=40, help="smallest box, as the kiosk's min_face_px")
    ap.add_argument("--detector-model", type=Path, default=ROOT / "models" / "face_detection_full_range_sparse.tflite")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for folder in args.photos:
        if not Path(folder).is_dir():
            ap.error(f"photo folder not found: {folder}")
    rng = np.random.default_rng(args.seed)
    detector = BlazeFaceDetector(args.detector_model, score_threshold=args.threshold)

    sources: list[tuple[str, np.ndarray, str]] = []  # name, image, sha256 of its bytes
    photos = skimage_photos()
    for name, img in photos:
        sources.append((name, img, hashlib.sha256(img.tobytes()).hexdigest()))
    for folder in args.photos:
        for p in sorted(Path(folder).rglob("*")):
            if p.suffix.lower() in IMAGE_EXTS:
                raw = p.read_bytes()
                img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
                if img is not None:
                    sources.append((str(p), img, hashlib.sha256(raw).hexdigest()))
    for k in range(args.scenes):
        img = procedural_scene(rng, [im for _, im in photos] or [np.full((FRAME_H, FRAME_W, 3), 128, np.uint8)])
        _, png = cv2.imencode(".png", img)
        sources.append((f"procedural:{args.seed}:{k}", img, hashlib.sha256(png.tobytes()).hexdigest()))

    out_dir = args.out / "not_face"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = n_found = 0
    with (args.out / "manifest.tsv").open("w", encoding="utf-8") as tsv:
        tsv.write("output\tsource\tsource_sha256\n")
        for name, img, sha in sources:
            # photos give more views (they are few); procedural scenes are many and cheap
            scene = name.startswith("procedural:")
            cap = args.per_scene if scene else args.per_photo
            found: list = []
            rand: list = []
            for frame in frames_of(img, rng, 1 if scene else 6):
                f, r = boxes_of(frame, detector, rng, args.min_px)
                found += [(frame, b) for b in f]
                rand += [(frame, b) for b in r]
            # detector mistakes first, random windows fill up to the cap
            picked = [found[i] for i in rng.permutation(len(found))[:cap]]
            picked += [rand[i] for i in rng.permutation(len(rand))[: cap - len(picked)]]
            crops = [crop(fr, square_crop_box(b, args.margin, FRAME_W, FRAME_H)) for fr, b in picked]
            crops = [c for c in crops if c.size and min(c.shape[:2]) >= args.min_px // 2]
            n_found += min(len(found), cap)
            for j, face in enumerate(crops):
                rel = f"not_face/{sha[:12]}_{j:02d}.jpg"
                cv2.imwrite(str(args.out / rel), face, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 96))])
                tsv.write(f"{rel}\t{name}\t{sha}\n")
                written += 1
    print(f"{len(sources)} sources, {written} crops ({n_found} where the detector fired) -> {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

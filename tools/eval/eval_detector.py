"""Face detector recall on masked / unmasked faces, false positives, and speed; writes docs/detector-eval.md.

Protocol (as in ../shared/ENVIRONMENT.md): a fixed-seed random sample of images per class; each
image is scaled (aspect kept) so its height is a given fraction of a 640x480 frame's height and
pasted at a random position on a plain grey (128) frame. Most dataset images are face crops, so the
placed image stands in for the face.

A *hit* is at least one detection whose box centre lies inside the placed image's rectangle and
at least half of whose area lies inside it. (So a box that is mostly background, such as the
short-range model's oversized boxes on faces too small for it, does not count.)

"Any of 5" approximates what a second in front of the kiosk buys: the same image in the base
frame plus 4 frames with the position shifted by up to 4% of the frame and the size changed by up
to +-10%, a hit if any of the 5 frames is a hit. Real consecutive camera frames are more alike than
that, so read it as an upper bound on what frame-to-frame variation recovers.

False positives: detections per frame on face-free frames built from scikit-image's bundled
photos (no people; the cat is kept on purpose).

    .venv/bin/python -m tools.eval.eval_detector ../shared/datasets/masks-real
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from kiosk.vision.detector import (
    BlazeFaceDetector,
    Detection,
    FaceDetector,
    HaarDetector,
    TiledDetector,
)
from tools.data.make_negatives import to_bgr

ROOT = Path(__file__).resolve().parents[2]

FRAME_H, FRAME_W = 480, 640
GREY = 128
CLASSES = ("with_mask", "without_mask")
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
JITTER_FRAMES = 4


@dataclass
class Config:
    name: str
    make: Callable[[], FaceDetector]
    jitter: bool = True  # the slow Haar baseline skips the any-of-5 frames


@dataclass
class Result:
    hits: dict[tuple[str, str, float], list[bool]] = field(default_factory=dict)
    hits_any: dict[tuple[str, str, float], list[bool]] = field(default_factory=dict)
    stray: list[int] = field(default_factory=list)  # detections off the placed image, per face frame
    fp: list[int] = field(default_factory=list)  # detections per face-free frame
    fp_big: list[int] = field(default_factory=list)  # same, only boxes >= --min-face-px wide
    ms: float = float("nan")


def read_bgr(path: Path) -> np.ndarray | None:
    """Any dataset image as BGR uint8; transparent pixels composited onto the grey canvas colour."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        return None
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(1, int(img.max())))
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        rgb = img[:, :, :3].astype(np.float32)
        return (rgb * alpha + GREY * (1.0 - alpha)).round().astype(np.uint8)
    return img[:, :, :3].copy()


def sample(root: Path, cls: str, n: int, seed: int) -> list[Path]:
    folder = root / cls
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(files), size=min(n, len(files)), replace=False)
    return [files[i] for i in sorted(idx)]


def place(
    img: np.ndarray, height: float, cx: float, cy: float
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Paste `img` scaled to `height` px (aspect kept, clamped to the frame) centred near (cx, cy)."""
    ih, iw = img.shape[:2]
    s = min(height / ih, FRAME_W / iw, FRAME_H / ih)
    w, h = max(1, round(iw * s)), max(1, round(ih * s))
    x = int(round(min(max(cx - w / 2, 0), FRAME_W - w)))
    y = int(round(min(max(cy - h / 2, 0), FRAME_H - h)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    frame = np.full((FRAME_H, FRAME_W, 3), GREY, np.uint8)
    frame[y : y + h, x : x + w] = cv2.resize(img, (w, h), interpolation=interp)
    return frame, (x, y, w, h)


def scenes(img: np.ndarray, frac: float, rng: np.random.Generator, jitter: int) -> list[tuple]:
    """The base frame (uniformly random position) and `jitter` perturbed copies of it."""
    ih, iw = img.shape[:2]
    h = frac * FRAME_H
    w = min(iw * h / ih, FRAME_W)
    cx = rng.uniform(w / 2, FRAME_W - w / 2)
    cy = rng.uniform(h / 2, FRAME_H - h / 2)
    out = [place(img, h, cx, cy)]
    for _ in range(jitter):
        dx, dy = rng.uniform(-0.04, 0.04, size=2) * (FRAME_W, FRAME_H)
        out.append(place(img, h * rng.uniform(0.9, 1.1), cx + dx, cy + dy))
    return out


def is_on(det: Detection, rect: tuple[int, int, int, int]) -> bool:
    x, y, w, h = det.box
    rx, ry, rw, rh = rect
    cx, cy = x + w / 2, y + h / 2
    if not (rx <= cx <= rx + rw and ry <= cy <= ry + rh):
        return False
    iw = max(0, min(x + w, rx + rw) - max(x, rx))
    ih = max(0, min(y + h, ry + rh) - max(y, ry))
    return iw * ih >= 0.5 * w * h


def face_free_frames(seed: int) -> list[np.ndarray]:
    """640x480 frames from scikit-image's bundled photos that show no people."""
    from skimage import data

    names = (
        "brick cell chelsea clock coffee coins colorwheel grass gravel hubble_deep_field "
        "immunohistochemistry logo moon page retina rocket text checkerboard horse"
    ).split()
    rng = np.random.default_rng(seed)
    frames = [np.full((FRAME_H, FRAME_W, 3), GREY, np.uint8)]
    for name in names:
        img = to_bgr(np.asarray(getattr(data, name)()))
        frames.append(place(img, FRAME_H, FRAME_W / 2, FRAME_H / 2)[0])  # letterboxed on grey
        # Filling the frame (scaled to cover, then cropped), plain and mirrored.
        s = max(FRAME_W / img.shape[1], FRAME_H / img.shape[0])
        big = cv2.resize(img, (round(img.shape[1] * s) + 1, round(img.shape[0] * s) + 1))
        frames.append(np.ascontiguousarray(big[:FRAME_H, :FRAME_W]))
        frames.append(np.ascontiguousarray(big[-FRAME_H:, -FRAME_W:][:, ::-1]))
        # Zoomed-in random windows: textures at the scale of faces.
        for _ in range(3):
            z = s * rng.uniform(1.5, 3.0)
            zoom = cv2.resize(img, (round(img.shape[1] * z) + 1, round(img.shape[0] * z) + 1))
            y = int(rng.integers(0, zoom.shape[0] - FRAME_H + 1))
            x = int(rng.integers(0, zoom.shape[1] - FRAME_W + 1))
            frames.append(np.ascontiguousarray(zoom[y : y + FRAME_H, x : x + FRAME_W]))
    return frames


def median_ms(dets: list[FaceDetector], frame: np.ndarray, runs: int) -> list[float]:
    """Median ms per detect() for each detector, interleaved so that load from other processes on
    this shared machine spreads evenly over all of them."""
    for det in dets:
        for _ in range(5):
            det.detect(frame)
    times: list[list[float]] = [[] for _ in dets]
    for _ in range(runs):
        for det, t in zip(dets, times):
            t0 = time.perf_counter()
            det.detect(frame)
            t.append(time.perf_counter() - t0)
    return [1000.0 * statistics.median(t) for t in times]


def configs(models: Path) -> list[Config]:
    short = models / "face_detection_short_range.tflite"
    full = models / "face_detection_full_range_sparse.tflite"
    out: list[Config] = []
    for thr in (0.5, 0.4, 0.3):
        out.append(Config(f"BlazeFace short-range, score > {thr}", lambda t=thr: BlazeFaceDetector(short, t)))
    if full.is_file():
        for thr in (0.6, 0.5, 0.4, 0.3):
            out.append(Config(f"BlazeFace full-range, score > {thr}", lambda t=thr: BlazeFaceDetector(full, t)))
    # Second look at a larger scale: whole frame + 2x2 tiles of 2/3 the frame (5 model runs).
    for thr in (0.5, 0.4, 0.3):
        out.append(
            Config(
                f"BlazeFace short-range + 2x2 tiles, score > {thr}",
                lambda t=thr: TiledDetector(BlazeFaceDetector(short, t)),
            )
        )
    if full.is_file():
        out.append(
            Config(
                "BlazeFace full-range + 2x2 tiles, score > 0.5",
                lambda: TiledDetector(BlazeFaceDetector(full, 0.5)),
            )
        )
    out.append(Config("Haar frontal (scale 1.1, neighbours 5)", HaarDetector, jitter=False))
    return out


def pct(v: list[bool]) -> str:
    return f"{100.0 * sum(v) / len(v):.0f}%" if v else "-"


def table(
    results: dict[str, Result], roots: list[str], fracs: list[float], n_fp: int, min_px: int
) -> str:
    cols = [(r, c, f) for r in roots for c in CLASSES for f in fracs]
    cols = [k for k in cols if any(k in res.hits for res in results.values())]

    def head(k: tuple[str, str, float]) -> str:
        r, c, f = k
        short = "masked" if c == "with_mask" else "unmasked"
        src = f"{Path(r).name} " if len(roots) > 1 else ""
        return f"{src}{short} {f:.0%}"

    lines = [
        "| detector | " + " | ".join(head(k) for k in cols) + f" | FP/frame ({n_fp} face-free) "
        f"| FP/frame, boxes >= {min_px} px | stray dets/face frame | ms/frame (1 thread) |",
        "|---|" + "---|" * (len(cols) + 4),
    ]
    for name, res in results.items():
        cells = []
        for k in cols:
            one = pct(res.hits.get(k, []))
            anyf = res.hits_any.get(k)
            cells.append(f"{one} ({pct(anyf)})" if anyf else one)
        fp = sum(res.fp) / max(1, len(res.fp))
        fp_frames = sum(1 for v in res.fp if v)
        stray = sum(res.stray) / max(1, len(res.stray))
        fp_big = sum(res.fp_big) / max(1, len(res.fp_big))
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {fp:.3f} ({fp_frames} frames) | {fp_big:.3f} | {stray:.3f} | {res.ms:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("roots", nargs="+", type=Path, help="dataset roots holding with_mask/ and without_mask/")
    ap.add_argument("--per-class", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", type=float, nargs="+", default=[0.25, 0.40], help="crop height / frame height")
    ap.add_argument("--timing-runs", type=int, default=200)
    ap.add_argument("--models", type=Path, default=ROOT / "models")
    ap.add_argument("--min-face-px", type=int, default=40, help="as the kiosk's detector.min_face_px")
    ap.add_argument("--only", default="", help="run only configurations whose name contains this")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "detector-eval.md")
    args = ap.parse_args(argv)

    cv2.setNumThreads(1)  # the timings are per-core; the Pi kiosk runs single-threaded
    cfgs = [c for c in configs(args.models) if args.only in c.name]

    # Build every frame once, so all detectors see exactly the same scenes.
    cases: list[tuple[tuple[str, str, float], list[tuple]]] = []
    unreadable: list[str] = []
    for root in args.roots:
        for ci, cls in enumerate(CLASSES):
            files = sample(root, cls, args.per_class, args.seed + ci)
            for fi, path in enumerate(files):
                img = read_bgr(path)
                if img is None:
                    unreadable.append(str(path))
                    continue
                for si, frac in enumerate(args.sizes):
                    rng = np.random.default_rng([args.seed, ci, fi, si])
                    cases.append(((str(root), cls, frac), scenes(img, frac, rng, JITTER_FRAMES)))
    fp_frames = face_free_frames(args.seed)
    timing_frame = cases[0][1][0][0] if cases else fp_frames[0]
    print(f"{len(cases)} face scenes, {len(fp_frames)} face-free frames, {len(unreadable)} unreadable",
          file=sys.stderr)

    results: dict[str, Result] = {}
    built: list[FaceDetector] = []
    for cfg in cfgs:
        t0 = time.perf_counter()
        det = cfg.make()
        res = Result()
        for key, frames in cases:
            per = []
            for frame, rect in frames if cfg.jitter else frames[:1]:
                dets = det.detect(frame)
                per.append(any(is_on(d, rect) for d in dets))
                res.stray.append(sum(1 for d in dets if not is_on(d, rect)))
            res.hits.setdefault(key, []).append(per[0])
            if cfg.jitter:
                res.hits_any.setdefault(key, []).append(any(per))
        fp_dets = [det.detect(f) for f in fp_frames]
        res.fp = [len(d) for d in fp_dets]
        res.fp_big = [sum(1 for x in d if x.box[2] >= args.min_face_px) for d in fp_dets]
        results[cfg.name] = res
        built.append(det)
        print(f"{cfg.name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    for res, ms in zip(results.values(), median_ms(built, timing_frame, args.timing_runs)):
        res.ms = ms

    roots = [str(r) for r in args.roots]
    md = table(results, roots, args.sizes, len(fp_frames), args.min_face_px)
    counts = {cls: sum(1 for k, _ in cases if k[1] == cls) // max(1, len(args.sizes)) for cls in CLASSES}
    header = (
        f"Sample: {counts['with_mask']} with_mask and {counts['without_mask']} without_mask images "
        f"(seed {args.seed}) from {', '.join(Path(r).name for r in roots)}; each scaled to "
        + " and ".join(f"{f:.0%}" for f in args.sizes)
        + f" of a {FRAME_W}x{FRAME_H} frame's height on grey. Cells: recall in the base frame "
        f"(in brackets: any of 5 jittered frames). Timing: median of {args.timing_runs} runs on one "
        f"{FRAME_W}x{FRAME_H} frame, 1 thread, all detectors interleaved."
    )
    print(header + "\n\n" + md)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        marker = "<!-- table -->"
        doc = args.out.read_text() if args.out.is_file() else ""
        block = f"{marker}\n{header}\n\n{md}\n{marker}"
        if doc.count(marker) == 2:
            pre, _, rest = doc.partition(marker)
            _, _, post = rest.partition(marker)
            doc = pre + block + post
        else:
            doc = doc + ("\n" if doc else "") + block + "\n"
        args.out.write_text(doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

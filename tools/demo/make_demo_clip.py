"""Build the kiosk's demo clip from public-domain photos that PyPI packages ship.

Why: the demo must run on a fresh machine with no camera and without ../shared, and any clip we ship
must be ours to ship. Sources: scikit-image `data.astronaut()` (Eileen Collins, NASA, public domain)
and matplotlib's `grace_hopper.jpg` (US Navy, public domain). Masks are drawn by tools/data/synth_masks.py.

    python -m tools.demo.make_demo_clip                 # -> kiosk/demo/demo.mp4 + storyboard.tsv
    python -m tools.demo.make_demo_clip --format avi    # MJPG .avi instead

Deterministic: fixed seeds, no clocks; the same packages give the same frames.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tools.data.facemesh import FACE_OVAL, FaceMesh, find_face_landmarks
from tools.data.mask_drawing import draw_mask
from tools.data.textures import value_noise

ROOT = Path(__file__).resolve().parents[2]

W, H, FPS = 640, 480, 10


@dataclass(frozen=True)
class Segment:
    name: str  # "empty" or a person id
    frames: int
    person: str = ""  # "" for an empty scene
    state: str = "empty"  # empty | no_mask | mask | mask_below_nose
    expected: str = "none"  # class the kiosk should report: none | without_mask | with_mask | mask_weared_incorrect


STORYBOARD: list[Segment] = [
    Segment("empty", 15),
    Segment("A", 30, "A", "no_mask", "without_mask"),
    Segment("empty", 15),
    Segment("A", 30, "A", "mask", "with_mask"),
    Segment("empty", 15),
    Segment("B", 30, "B", "mask", "with_mask"),
    Segment("empty", 15),
    Segment("B", 30, "B", "mask_below_nose", "mask_weared_incorrect"),
    Segment("empty", 15),
]


def load_sources() -> dict[str, np.ndarray]:
    """Person A: astronaut (scikit-image); person B: Grace Hopper (matplotlib sample data)."""
    import matplotlib
    from skimage import data

    src = {"A": cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)}
    hopper = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    img = cv2.imread(str(hopper))
    if img is None:
        raise SystemExit(f"cannot read {hopper}: pip install matplotlib")
    src["B"] = img
    return src


# Per person: mask type, colour (BGR) and the rng seed of the texture; the same seed for both of
# B's segments makes it the same mask, first worn properly, then pulled below the nose.
MASKS = {"A": ("surgical", (222, 196, 150), 11), "B": ("cloth", (90, 60, 40), 4)}
# Face width (FaceMesh oval) in the frame, pixels: both within the kiosk's 120-250 px range.
FACE_PX = {"A": 165, "B": 190}


def empty_scene(rng: np.random.Generator) -> np.ndarray:
    """A plain entrance: painted wall with a vertical light falloff, a door frame, a floor."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    wall = np.array([176, 196, 206], np.float32)  # warm off-white (BGR)
    light = 1.05 - 0.25 * ((xx - 420) / W) ** 2 - 0.18 * (yy / H)
    img = wall * light[..., None]
    img += 4.0 * value_noise((H, W), 40.0, rng)[..., None]  # uneven paint
    floor_y = 390
    img[floor_y:] = np.array([95, 105, 115], np.float32) * (0.9 + 0.1 * (yy[floor_y:] - floor_y) / (H - floor_y))[..., None]
    cv2.line(img, (0, floor_y), (W, floor_y), (70, 80, 90), 3, cv2.LINE_AA)
    # Door: frame, panel, handle.
    cv2.rectangle(img, (60, 60), (250, floor_y), (120, 140, 150), -1, cv2.LINE_AA)
    cv2.rectangle(img, (72, 72), (238, floor_y), (150, 170, 185), -1, cv2.LINE_AA)
    cv2.rectangle(img, (95, 100), (215, 220), (140, 160, 176), 2, cv2.LINE_AA)
    cv2.rectangle(img, (95, 250), (215, 370), (140, 160, 176), 2, cv2.LINE_AA)
    cv2.circle(img, (222, 240), 6, (60, 90, 110), -1, cv2.LINE_AA)
    # A sign next to the door, as entrances have.
    cv2.rectangle(img, (330, 150), (470, 230), (235, 235, 235), -1, cv2.LINE_AA)
    cv2.rectangle(img, (330, 150), (470, 230), (80, 80, 80), 2, cv2.LINE_AA)
    cv2.putText(img, "MASKS", (352, 185), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (40, 40, 160), 2, cv2.LINE_AA)
    cv2.putText(img, "PLEASE", (356, 218), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (40, 40, 40), 2, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), 0.8)


def _smooth_wobble(rng: np.random.Generator, n: int, amp: float, period_frames: tuple[float, float]) -> np.ndarray:
    """Two sines of random phase and period: small, smooth, non-repeating sway."""
    t = np.arange(n, dtype=np.float64)
    out = np.zeros(n)
    for _ in range(2):
        p = rng.uniform(*period_frames)
        out += np.sin(2 * np.pi * t / p + rng.uniform(0, 2 * np.pi)) / 2
    return amp * out


def _keep_inside(m: np.ndarray, src_w: int, src_h: int) -> np.ndarray:
    """Shift the framing so the frame never shows beyond the photo's edges (mirrored borders
    look fake); if the photo is too small in one direction, centre it in that direction."""
    m = m.copy()
    corners = np.array([[0, 0], [W, 0], [0, H], [W, H]], np.float64)
    for _ in range(3):
        inv = cv2.invertAffineTransform(m)
        c = corners @ inv[:, :2].T + inv[:, 2]
        shift = np.zeros(2)
        for k, size in ((0, src_w - 1), (1, src_h - 1)):
            lo, hi = c[:, k].min(), c[:, k].max()
            if hi - lo > size:
                shift[k] = (size - (lo + hi)) / 2
            elif lo < 0:
                shift[k] = -lo
            elif hi > size:
                shift[k] = size - hi
        # A source-pixel shift is a frame shift of the opposite sign, times the scale.
        m[:, 2] -= m[:, :2] @ shift
    return m


def _widen(src: np.ndarray, pad: int) -> np.ndarray:
    """Extend a portrait sideways by `pad` px: mirrored edges, increasingly defocused away from the
    photo, so a narrow photo fills a 4:3 frame like an out-of-focus background would."""
    if pad <= 0:
        return src
    wide = cv2.copyMakeBorder(src, 0, 0, pad, pad, cv2.BORDER_REFLECT101).astype(np.float32)
    soft = cv2.GaussianBlur(wide, (0, 0), 6.0)
    softer = cv2.GaussianBlur(wide, (0, 0), 14.0)
    x = np.arange(wide.shape[1], dtype=np.float32)
    # 0 inside the photo, growing to 1 at the padded edge; a short ramp hides the seam.
    d = np.maximum(pad - x, x - (wide.shape[1] - 1 - pad)) / pad
    ramp = np.clip(d + 0.15, 0, 1)[None, :, None]
    blurred = soft * (1 - ramp) + softer * ramp
    out = wide * (1 - np.clip(ramp * 3, 0, 1)) + blurred * np.clip(ramp * 3, 0, 1)
    # Out-of-focus background is also a little darker at the far edges (lens vignetting).
    return out * (1 - 0.15 * ramp)


def person_frames(src: np.ndarray, pts: np.ndarray, face_px: float, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`n` frames of a photo framed like the kiosk camera, with slight natural motion."""
    oval = pts[FACE_OVAL]
    face_w = float(oval[:, 0].max() - oval[:, 0].min())
    cx, cy = oval.mean(axis=0)
    base_scale = face_px / face_w
    # Widen photos too narrow for the frame at this scale (with room for the sway).
    need = W / (base_scale * 0.97) + 24
    pad = int(np.ceil(max(0.0, (need - src.shape[1]) / 2)))
    src = _widen(src, pad)
    cx = cx + pad
    zoom = _smooth_wobble(rng, n, 0.025, (14, 30))
    tx = _smooth_wobble(rng, n, 7.0, (12, 26))
    ty = _smooth_wobble(rng, n, 4.0, (10, 22))
    rot = _smooth_wobble(rng, n, 1.5, (16, 34))
    gain = 1.0 + _smooth_wobble(rng, n, 0.05, (8, 20))
    frames = []
    for i in range(n):
        s = base_scale * (1 + zoom[i])
        # Face centre a bit above the frame centre, where a camera at head height sees it.
        m = cv2.getRotationMatrix2D((float(cx), float(cy)), float(rot[i]), s)
        m[0, 2] += W / 2 + tx[i] - cx
        m[1, 2] += H * 0.45 + ty[i] - cy
        m = _keep_inside(m, src.shape[1], src.shape[0])
        f = cv2.warpAffine(src, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        frames.append(np.clip(f.astype(np.float32) * gain[i], 0, 255))
    return frames


def camera_finish(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise on every frame, so even an empty scene never repeats exactly."""
    noisy = frame + rng.normal(0, 2.0, frame.shape).astype(np.float32)
    return np.clip(noisy + 0.5, 0, 255).astype(np.uint8)


def build_frames(mesh: FaceMesh) -> tuple[list[np.ndarray], list[tuple[int, int, Segment]]]:
    sources = load_sources()
    landmarks = {}
    for pid, img in sources.items():
        pts = find_face_landmarks(img, mesh)
        if pts is None:
            raise SystemExit(f"FaceMesh found no face in source {pid}")
        landmarks[pid] = pts
    rng = np.random.default_rng(2026)
    scene = empty_scene(np.random.default_rng(7))
    frames: list[np.ndarray] = []
    ranges = []
    for seg in STORYBOARD:
        start = len(frames)
        if seg.person == "":
            # An empty entrance still flickers a little (mains lighting, auto exposure).
            g = 1.0 + _smooth_wobble(rng, seg.frames, 0.015, (6, 14))
            frames += [camera_finish(scene * g[i], rng) for i in range(seg.frames)]
        else:
            img, pts = sources[seg.person], landmarks[seg.person]
            if seg.state != "no_mask":
                mtype, colour, seed = MASKS[seg.person]
                style = "correct" if seg.state == "mask" else "nose"
                img = draw_mask(img, pts, style, mtype, colour, np.random.default_rng(seed))
            frames += [camera_finish(f, rng) for f in person_frames(img, pts, FACE_PX[seg.person], seg.frames, rng)]
        ranges.append((start, len(frames) - 1, seg))
    return frames, ranges


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", type=Path, default=ROOT / "kiosk" / "demo")
    ap.add_argument("--format", choices=("mp4", "avi"), default="mp4")
    args = ap.parse_args(argv)
    # One thread keeps float results (FaceMesh, resampling) identical run to run.
    cv2.setNumThreads(1)
    mesh = FaceMesh(num_threads=1)
    frames, ranges = build_frames(mesh)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"demo.{args.format}"
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if args.format == "mp4" else "MJPG"))
    writer = cv2.VideoWriter(str(out), fourcc, FPS, (W, H))
    if not writer.isOpened():
        raise SystemExit(f"cannot open a video writer for {out}")
    if args.format == "avi":
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 80)
    for f in frames:
        writer.write(f)
    writer.release()

    tsv = args.out_dir / "storyboard.tsv"
    with tsv.open("w", encoding="utf-8") as fh:
        fh.write("first_frame\tlast_frame\tstart_s\tend_s\tperson\tstate\texpected\n")
        for a, b, seg in ranges:
            fh.write(f"{a}\t{b}\t{a / FPS:.1f}\t{(b + 1) / FPS:.1f}\t{seg.person or '-'}\t{seg.state}\t{seg.expected}\n")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"{out}: {len(frames)} frames, {len(frames) / FPS:.1f} s, {os.path.getsize(out)} bytes, sha256 {digest}")
    print(f"{tsv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A clip for per-person decisions: a masked person at the gate, a bystander without a mask walking past.

Why: with one decision for the whole frame, a bystander behind the person at the gate resets or steals
that person's evidence. This clip (made, like the demo clip, from public-domain photos that PyPI
packages ship: scikit-image's astronaut and matplotlib's Grace Hopper) lets a test replay exactly that.

    python -m tools.demo.make_bystander_clip -o build/bystander     # -> bystander.avi + storyboard.tsv

Person A (astronaut, a surgical mask drawn over the nose by tools/data/synth_masks.py) stands at the gate for
the whole clip, face ~165 px wide. Person B (Grace Hopper, no mask, face ~60 px: further away) walks
from left to right across the top of the picture during the first BYSTANDER_FRAMES frames. Deterministic.
`--bystander-px 130` makes B walk close behind A instead (a face near A's size, lower in the picture): someone
who could slip through the gate with A.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from tools.data.facemesh import FACE_OVAL, FaceMesh, find_face_landmarks
from tools.data.mask_drawing import draw_mask
from tools.demo import make_demo_clip as demo

ROOT = Path(__file__).resolve().parents[2]

FPS = 10
FRAMES = 60
BYSTANDER_FRAMES = 30  # B is in view in frames 0 .. BYSTANDER_FRAMES - 1
BYSTANDER_FACE_PX = 60
BYSTANDER_Y = 70  # centre of B's face, frame pixels


def face_sprite(img: np.ndarray, pts: np.ndarray, face_px: int) -> tuple[np.ndarray, np.ndarray]:
    """The head around the FaceMesh oval, scaled so the face is `face_px` wide, with a soft oval alpha."""
    oval = pts[FACE_OVAL]
    x0, y0 = oval.min(axis=0)
    x1, y1 = oval.max(axis=0)
    w, h = x1 - x0, y1 - y0
    pad = 0.35
    X0, Y0 = int(max(0, x0 - pad * w)), int(max(0, y0 - pad * h))
    X1, Y1 = int(min(img.shape[1], x1 + pad * w)), int(min(img.shape[0], y1 + pad * h))
    s = face_px / w
    head = cv2.resize(img[Y0:Y1, X0:X1], None, fx=s, fy=s, interpolation=cv2.INTER_AREA).astype(np.float32)
    hh, ww = head.shape[:2]
    alpha = np.zeros((hh, ww), np.float32)
    cv2.ellipse(alpha, (ww // 2, hh // 2), (int(ww * 0.42), int(hh * 0.46)), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, face_px * 0.06))
    return head, alpha[..., None]


def paste(frame: np.ndarray, sprite: tuple[np.ndarray, np.ndarray], cx: float, cy: float) -> np.ndarray:
    head, alpha = sprite
    hh, ww = head.shape[:2]
    x0, y0 = int(round(cx - ww / 2)), int(round(cy - hh / 2))
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(frame.shape[1], x0 + ww), min(frame.shape[0], y0 + hh)
    if fx1 <= fx0 or fy1 <= fy0:
        return frame
    sx0, sy0 = fx0 - x0, fy0 - y0
    h, a = head[sy0:sy0 + fy1 - fy0, sx0:sx0 + fx1 - fx0], alpha[sy0:sy0 + fy1 - fy0, sx0:sx0 + fx1 - fx0]
    out = frame.copy()
    out[fy0:fy1, fx0:fx1] = out[fy0:fy1, fx0:fx1] * (1 - a) + h * a
    return out


def build_frames(mesh: FaceMesh, bystander_px: int = BYSTANDER_FACE_PX) -> list[np.ndarray]:
    sources = demo.load_sources()
    pts = {pid: find_face_landmarks(img, mesh) for pid, img in sources.items()}
    if any(p is None for p in pts.values()):
        raise SystemExit("FaceMesh found no face in a source photo")
    rng = np.random.default_rng(2027)
    mtype, colour, seed = demo.MASKS["A"]
    masked = draw_mask(sources["A"], pts["A"], "correct", mtype, colour, np.random.default_rng(seed))
    frames = demo.person_frames(masked, pts["A"], demo.FACE_PX["A"], FRAMES, rng)
    sprite = face_sprite(sources["B"], pts["B"], bystander_px)
    y = max(BYSTANDER_Y, 0.8 * bystander_px)  # a bigger face is nearer the camera: lower in the picture
    xs = np.linspace(40, demo.W - 40, BYSTANDER_FRAMES)
    out = []
    for i, f in enumerate(frames):
        if i < BYSTANDER_FRAMES:
            f = paste(f, sprite, xs[i], y + 3 * np.sin(i / 2.0))  # a walker's bob
        out.append(demo.camera_finish(f, rng))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out-dir", type=Path, default=ROOT / "build" / "bystander")
    ap.add_argument("--bystander-px", type=int, default=BYSTANDER_FACE_PX,
                    help=f"B's face width, px ({BYSTANDER_FACE_PX}: far behind A)")
    args = ap.parse_args(argv)
    if not 30 <= args.bystander_px <= 200:
        ap.error(f"--bystander-px {args.bystander_px}: must be 30..200")
    cv2.setNumThreads(1)  # identical float results run to run
    frames = build_frames(FaceMesh(num_threads=1), args.bystander_px)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / "bystander.avi"
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (demo.W, demo.H))
    if not writer.isOpened():
        raise SystemExit(f"cannot open a video writer for {out}")
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 90)
    for f in frames:
        writer.write(f)
    writer.release()
    (args.out_dir / "storyboard.tsv").write_text(
        "first_frame\tlast_frame\tperson\tstate\n"
        f"0\t{FRAMES - 1}\tA (at the gate, ~{demo.FACE_PX['A']} px)\tmask\n"
        f"0\t{BYSTANDER_FRAMES - 1}\tB (walking past, ~{args.bystander_px} px)\tno_mask\n", encoding="utf-8")
    print(f"{out}: {len(frames)} frames at {FPS} fps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The fixed image set that `./dev test-arm64` gives `classify` and `scan` on x86 and on emulated arm64.

Written once on the host, so both sides read the same bytes (PNG, lossless):
- faces/: every 128 px face tile of the three committed contact sheets (models/*_sheet.png: masks
  worn properly, below the nose, on the chin, look-alike coverings, bare faces) for `classify`;
- scenes/: every 10th frame of the demo clip (640x480: empty entrance, person A without and with a
  mask, person B with a mask and with it below the nose), the sheets whole, and scikit-image's /
  matplotlib's bundled public-domain photos (astronaut, Grace Hopper, a cat, a coffee cup) for `scan`.

usage: python -m tools.arm64.make_images OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHEETS = ("synth_contact_sheet", "occluder_sheet", "covering_sheet")
# tools/demo/synth_sheet.py's layout: an 18 px header, then per row an 18 px caption, the 128 px tiles and an
# 18 px verdict bar.
TILE, BAR = 128, 18
DEMO_CLIP = ROOT / "kiosk" / "demo" / "demo.mp4"


def sheet_tiles(sheet: np.ndarray) -> list[np.ndarray]:
    h, w = sheet.shape[:2]
    rows = (h - BAR) // (BAR + TILE + BAR)
    if rows < 1 or w % TILE or BAR + rows * (2 * BAR + TILE) != h:
        raise ValueError(f"sheet of {w}x{h} px does not have the contact sheet layout")
    tiles = []
    for r in range(rows):
        y = BAR + r * (2 * BAR + TILE) + BAR
        tiles += [sheet[y:y + TILE, x:x + TILE] for x in range(0, w, TILE)]
    return tiles


def demo_frames(step: int = 10) -> list[tuple[int, np.ndarray]]:
    cap = cv2.VideoCapture(str(DEMO_CLIP))
    frames, i = [], 0
    ok, frame = cap.read()
    while ok:
        if i % step == 0:
            frames.append((i, frame))
        i += 1
        ok, frame = cap.read()
    cap.release()
    if not frames:
        raise ValueError(f"cannot read {DEMO_CLIP}")
    return frames


def photos() -> dict[str, np.ndarray]:
    from matplotlib import cbook
    from skimage import data

    hopper = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    rgb = {"astronaut": data.astronaut(), "chelsea_cat": data.chelsea(), "coffee": data.coffee()}
    out = {k: cv2.cvtColor(v, cv2.COLOR_RGB2BGR) for k, v in rgb.items()}
    out["grace_hopper"] = hopper
    return out


def write(path: Path, img: np.ndarray) -> None:
    if not cv2.imwrite(str(path), img):
        raise OSError(f"cannot write {path}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    out = Path(argv[0])
    (out / "faces").mkdir(parents=True, exist_ok=True)
    (out / "scenes").mkdir(parents=True, exist_ok=True)
    try:
        for name in SHEETS:
            sheet = cv2.imread(str(ROOT / "models" / f"{name}.png"))
            if sheet is None:
                raise OSError(f"cannot read models/{name}.png")
            for i, tile in enumerate(sheet_tiles(sheet)):
                write(out / "faces" / f"{name}_{i:02d}.png", tile)
            write(out / "scenes" / f"{name}.png", sheet)
        for i, frame in demo_frames():
            write(out / "scenes" / f"demo_{i:03d}.png", frame)
        for name, img in photos().items():
            write(out / "scenes" / f"{name}.png", img)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    n_faces, n_scenes = len(list((out / "faces").glob("*.png"))), len(list((out / "scenes").glob("*.png")))
    print(f"make_images: {n_faces} face tiles, {n_scenes} scenes in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training sets of masks drawn on photos of unmasked faces (tools/data/mask_drawing.py), in three styles:

  correct  nose bridge to under the chin                        -> with_mask/
  nose     below the nose, mouth covered                        -> mask_weared_incorrect/
  chin     on the chin only, nose and mouth uncovered           -> mask_weared_incorrect/

    python -m tools.data.synth_masks IN_DIR [IN_DIR ...] -o OUT_DIR [--variants 2] [--seed 0] [--pairs]

writes OUT_DIR/with_mask/, OUT_DIR/mask_weared_incorrect/ and OUT_DIR/manifest.tsv.

--pairs draws each variant twice on the same photo, the same mask (type, colour, fabric, seed), once
`correct` and once below the nose or on the chin (--styles/--weights choose among the wrong ones), so
that the only thing that tells the two classes apart is where the mask sits.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import cv2
import numpy as np

from tools.data.facemesh import DEFAULT_MESH_MODEL, FaceMesh, face_yaw, find_face_landmarks
from tools.data.mask_drawing import PALETTES, draw_mask
from tools.data.mask_shape import MASK_TYPES, STYLES, mask_visible_fraction
from tools.data.photos import IMAGE_EXTS, read_bgr

STYLE_CLASS = {"correct": "with_mask", "nose": "mask_weared_incorrect", "chin": "mask_weared_incorrect"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="+", type=Path, help="folders of unmasked face photos")
    ap.add_argument("-o", "--out", type=Path, required=True, help="output dataset folder")
    ap.add_argument("--variants", type=int, default=1, help="masked versions per input photo")
    ap.add_argument("--styles", default="correct,nose,chin", help="comma list to sample from")
    ap.add_argument("--weights", default="2,1,1", help="sampling weights of --styles")
    ap.add_argument("--types", default="surgical,cloth,n95", help="mask types to sample from")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs", action="store_true",
                    help="each variant as a pair: correct + one wrong style, same mask and seed")
    ap.add_argument("--limit", type=int, default=0, help="stop after this many inputs (0: all)")
    ap.add_argument("--max-yaw", type=float, default=0.3,
                    help="skip faces turned further than this (nose offset / face width)")
    ap.add_argument("--min-visible", type=float, default=0.6,
                    help="skip a variant when less of its mask than this falls inside the photo")
    ap.add_argument("--mesh-model", type=Path, default=DEFAULT_MESH_MODEL)
    ap.add_argument("--detector-model", type=Path, default=None)
    args = ap.parse_args(argv)

    styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    weights = np.array([float(x) for x in args.weights.split(",")][: len(styles)], np.float64)
    if len(weights) != len(styles) or any(s not in STYLES for s in styles):
        ap.error(f"--styles must be from {STYLES} with one weight each")
    if args.pairs:  # the pair's wrong half is sampled among the wrong styles only
        keep = [i for i, st in enumerate(styles) if st != "correct"]
        if not keep:
            ap.error("--pairs needs a wrong style (nose, chin) in --styles")
        styles, weights = [styles[i] for i in keep], weights[keep]
    weights /= weights.sum()
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    if any(t not in MASK_TYPES for t in types):
        ap.error(f"--types must be from {MASK_TYPES}")

    files: list[Path] = []
    for d in args.inputs:
        if d.is_file():
            files.append(d)
        else:
            files.extend(sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTS))
    if args.limit:
        files = files[: args.limit]
    mesh = FaceMesh(args.mesh_model)
    for cls in set(STYLE_CLASS.values()):
        (args.out / cls).mkdir(parents=True, exist_ok=True)
    manifest = args.out / "manifest.tsv"
    written = unreadable = no_face = bad_geometry = turned = out_of_frame = 0
    with manifest.open("w", encoding="utf-8") as tsv:
        tsv.write("output\tsource\tsource_sha256\tstyle\tmask_type\tcolor_bgr\n")
        for path in files:
            raw = path.read_bytes() if path.is_file() else b""
            sha = hashlib.sha256(raw).hexdigest()
            img = read_bgr(path)
            if img is None:
                unreadable += 1
                continue
            pts = find_face_landmarks(img, mesh, args.detector_model)
            if pts is None:
                no_face += 1
                continue
            # Seeded by content, not by order: the same photo gets the same masks on every run.
            rng = np.random.default_rng([args.seed, int(sha[:12], 16)])
            if abs(face_yaw(pts)) > args.max_yaw:
                turned += 1
                continue
            for k in range(args.variants):
                style = str(rng.choice(styles, p=weights))
                mtype = str(rng.choice(types))
                pal = PALETTES[mtype]
                color = pal[int(rng.integers(len(pal)))]
                todo = ["correct", style] if args.pairs else [style]
                # A chin mask is small: partly cut off it is hard to see at all, so ask for more of it.
                need = {st: max(args.min_visible, 0.8) if st == "chin" else args.min_visible for st in todo}
                if any(mask_visible_fraction(img.shape, pts, st, mtype) < need[st] for st in todo):
                    out_of_frame += 1
                    continue
                # one seed per variant: both halves of a pair get the same fabric, light and blur
                draw_seed = int(rng.integers(1 << 62))
                try:
                    outs = [(st, draw_mask(img, pts, st, mtype, color, np.random.default_rng(draw_seed))) for st in todo]
                except ValueError:  # degenerate landmarks (e.g. a near-profile face)
                    bad_geometry += 1
                    break
                for st, out in outs:
                    rel = Path(STYLE_CLASS[st]) / f"{path.stem}_{sha[:8]}_{k}_{st}_{mtype}.jpg"
                    cv2.imwrite(str(args.out / rel), out, [cv2.IMWRITE_JPEG_QUALITY, 95])
                    tsv.write(f"{rel.as_posix()}\t{path}\t{sha}\t{st}\t{mtype}\t{','.join(map(str, color))}\n")
                    written += 1
    print(
        f"inputs {len(files)}  written {written}  skipped: unreadable {unreadable}, "
        f"no face {no_face}, turned away {turned}, bad landmarks {bad_geometry}; "
        f"variants not drawn because the mask would be out of frame: {out_of_frame}"
    )
    print(f"manifest: {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

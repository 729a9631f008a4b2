#!/usr/bin/env python3
"""Real masks, cut out of real masked photos, worn by real unmasked faces: over the nose and below it.

Why: every real mask in our data covers the nose, so a model learns "a real-looking mask = covered nose"
and lets real masks worn below the nose through; our drawn masks (tools/data/synth_masks.py --pairs) teach the
position, but with a texture that says "drawn". Here the fabric is real. For each unmasked photo a real
masked photo is drawn at random; FaceMesh finds both faces; the mask region of the masked face (the face
outline below the nose bridge) is warped onto the unmasked face by the similarity that maps one face's
landmarks onto the other's, and pasted twice:

  correct   where it was worn, over the nose                       -> with_mask/
  nose      the same cut-out slid down below the nose tip          -> mask_weared_incorrect/
  chin      slid further, off the mouth onto the chin              -> mask_weared_incorrect/

so the two halves of a pair share the face, the fabric, the light and the cut, and only the mask's
position separates them. Brightness follows the target face; edges are feathered.

    .venv/bin/python tools/data/transplant_masks.py ../shared/datasets/masks-real/without_mask \\
        --masks ../shared/datasets/masks-real/with_mask -o build/transplant --seed 21

OUT/manifest.tsv names each image's unmasked source photo (tools/training/dataset.py keeps a pair in that photo's
split). The masked photos lend only their fabric: the same mask may be seen in two splits, a person never.
Photos tools/training/relabel.tsv moves out of `mask` are not used as donors.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools.training import dataset as D  # noqa: E402
from tools.cli import CliError, run  # noqa: E402
from tools.data import synth_masks as sm  # noqa: E402

# Landmarks that stay put whether or not a mask is worn (eyes, brow, nose bridge, outline): the
# similarity between two faces is fitted on these.
ANCHORS = [*sm.RIGHT_EYE, *sm.LEFT_EYE, sm.NOSE_BRIDGE_TOP, 10, 234, 454, 152, 93, 323]
STYLE_CLASS = {"correct": "with_mask", "nose": "mask_weared_incorrect", "chin": "mask_weared_incorrect"}


def mask_region(pts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Float alpha (0..1) of a worn mask's area: the face outline below the nose bridge, feathered."""
    h, w = shape
    oval = pts[sm.FACE_OVAL]
    top = pts[sm.NOSE_BRIDGE_MID]
    eye_mid = (pts[sm.RIGHT_EYE[1]] + pts[sm.LEFT_EYE[0]]) / 2
    down = top - eye_mid
    n = np.linalg.norm(down)
    if n < 1:
        return np.zeros((h, w), np.float32)
    down /= n
    # the outline's points below the line through the nose bridge, in order around their centre
    below = oval[(oval - top) @ down > 0]
    if len(below) < 6:
        return np.zeros((h, w), np.float32)
    centre = below.mean(axis=0)
    poly = below[np.argsort(np.arctan2(below[:, 1] - centre[1], below[:, 0] - centre[0]))]
    alpha = np.zeros((h, w), np.float32)
    cv2.fillPoly(alpha, [np.round(poly).astype(np.int32)], 1.0, cv2.LINE_AA)
    face_w = float(np.ptp(oval[:, 0])) or 1.0
    return cv2.GaussianBlur(alpha, (0, 0), max(0.8, face_w * 0.012))


def _luma(img: np.ndarray, pts: np.ndarray) -> float:
    """Mean brightness of the face above the mask line (forehead and eyes): the photo's light."""
    x0, y0 = pts[[sm.RIGHT_EYE[0], 10]].min(axis=0)
    x1, y1 = pts[[sm.LEFT_EYE[1], sm.NOSE_BRIDGE_MID]].max(axis=0)
    x0, y0, x1, y1 = (int(v) for v in (max(x0, 0), max(y0, 0), min(x1, img.shape[1]), min(y1, img.shape[0])))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return float(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).mean())
    return float(cv2.cvtColor(img[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).mean())


def transplant(target: np.ndarray, t_pts: np.ndarray, donor: np.ndarray, d_pts: np.ndarray,
               style: str, rng: np.random.Generator, min_fit: float = 0.5) -> np.ndarray | None:
    """The donor's mask on the target face, worn `style`; None when the geometry does not fit."""
    m, _ = cv2.estimateAffinePartial2D(d_pts[ANCHORS].astype(np.float32), t_pts[ANCHORS].astype(np.float32))
    if m is None:
        return None
    scale, turn = np.hypot(m[0, 0], m[1, 0]), np.degrees(np.arctan2(m[1, 0], m[0, 0]))
    if not 0.4 <= scale <= 3.0 or abs(turn) > 20:
        return None  # faces too unlike in pose or size for a believable fit
    h, w = target.shape[:2]
    alpha = mask_region(d_pts, donor.shape[:2])
    if alpha.max() < 0.5:
        return None
    # worn where it was, the cut-out must cover the target's own mask area: a fit thrown off by landmarks
    # that went wrong under the donor's mask puts it across an eye instead
    fitted = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0) > 0.5
    own = mask_region(t_pts, (h, w)) > 0.5
    union = np.logical_or(fitted, own).sum()
    if union == 0 or np.logical_and(fitted, own).sum() / union < min_fit:
        return None
    if style != "correct":
        # slide the cut-out down the target face: the top edge from the nose bridge to under the nose
        # tip (nose) or to under the lower lip (chin), with a little play
        down = t_pts[sm.CHIN_TIP] - t_pts[sm.NOSE_BRIDGE_TOP]
        stop = sm.SUBNASALE if style == "nose" else sm.LOWER_LIP_BOTTOM
        frac = np.linalg.norm(t_pts[stop] - t_pts[sm.NOSE_BRIDGE_MID]) / max(np.linalg.norm(down), 1.0)
        shift = down * frac * rng.uniform(1.0, 1.25)
        m = m.copy()
        m[:, 2] += shift
    fabric = cv2.warpAffine(donor, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    a = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    if a.sum() < 0.5 * alpha.sum() * abs(np.linalg.det(m[:, :2])):
        return None  # most of the mask would fall outside the photo
    gain = np.clip(_luma(target, t_pts) / max(_luma(donor, d_pts), 1.0), 0.7, 1.4) * rng.uniform(0.93, 1.07)
    fabric = np.clip(fabric.astype(np.float32) * gain, 0, 255)
    out = target.astype(np.float32) * (1 - a[..., None]) + fabric * a[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _surely_masked(clf, img: np.ndarray, p_min: float) -> bool:
    label, p, _ = clf.classify(img)
    return label == "mask" and p >= p_min


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", type=Path, help="folders of unmasked face photos")
    p.add_argument("--masks", type=Path, required=True, help="folder of real masked photos (the donors)")
    p.add_argument("-o", "--out", type=Path, required=True)
    p.add_argument("--styles", default="nose,nose,nose,chin", help="wrong styles to sample the pair's other half from")
    p.add_argument("--seed", type=int, default=21)
    p.add_argument("--donor-p", type=float, default=0.95, help="a donor must be called mask with at least this p")
    p.add_argument("--limit", type=int, default=0, help="stop after this many unmasked photos (0: all)")
    p.add_argument("--max-yaw", type=float, default=0.25, help="skip faces turned further (nose offset / face width)")
    args = p.parse_args(argv)
    styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    if not styles or any(s not in ("nose", "chin") for s in styles):
        raise CliError(f"--styles {args.styles!r}: each must be nose or chin")
    if not args.masks.is_dir():
        raise CliError(f"--masks {args.masks}: not a folder")
    moved = set(D.read_relabels())  # real masks worn below the nose: not a donor of a worn-over-the-nose mask
    mesh = sm.FaceMesh()

    def faces(folder: Path, skip: set[str]):
        for path in sorted(q for q in folder.rglob("*") if q.suffix.lower() in sm.IMAGE_EXTS):
            raw = path.read_bytes()
            sha = hashlib.sha256(raw).hexdigest()
            if sha in skip:
                continue
            img = sm._read_bgr(path)
            if img is None or min(img.shape[:2]) < 64:
                continue
            pts = sm.find_face_landmarks(img, mesh)
            if pts is None or abs(sm.face_yaw(pts)) > args.max_yaw:
                continue
            yield path, sha, img, pts

    from kiosk.vision.classifier import Classifier

    # only clear, frontal, properly worn masks lend their fabric: the shipped classifier must be sure
    clf = Classifier(ROOT / "models" / "mask_classifier.tflite")
    donors = [d for d in faces(args.masks, moved) if _surely_masked(clf, d[2], args.donor_p)]
    if not donors:
        raise CliError(f"{args.masks}: no usable masked face")
    print(f"donors: {len(donors)} masked faces from {args.masks}")
    for cls in set(STYLE_CLASS.values()):
        (args.out / cls).mkdir(parents=True, exist_ok=True)
    written = skipped = 0
    with (args.out / "manifest.tsv").open("w", encoding="utf-8") as tsv:
        tsv.write("output\tsource\tsource_sha256\tstyle\tdonor_sha256\n")
        for root in args.inputs:
            for n, (path, sha, img, pts) in enumerate(faces(root, set())):
                if args.limit and n >= args.limit:
                    break
                rng = np.random.default_rng([args.seed, int(sha[:12], 16)])
                dpath, dsha, dimg, dpts = donors[int(rng.integers(len(donors)))]
                wrong = styles[int(rng.integers(len(styles)))]
                seed = int(rng.integers(1 << 62))
                made = {st: transplant(img, pts, dimg, dpts, st, np.random.default_rng(seed)) for st in ("correct", wrong)}
                if any(v is None for v in made.values()):
                    skipped += 1
                    continue
                for st, out in made.items():
                    rel = Path(STYLE_CLASS[st]) / f"{path.stem[:48]}_{sha[:8]}_{st}.jpg"
                    cv2.imwrite(str(args.out / rel), out, [cv2.IMWRITE_JPEG_QUALITY, 92])
                    tsv.write(f"{rel.as_posix()}\t{path}\t{sha}\t{st}\t{dsha}\n")
                    written += 1
    print(f"wrote {written} images ({written // 2} pairs) to {args.out}; skipped {skipped} whose geometry did not fit")
    return 0


if __name__ == "__main__":
    run(main)

"""The nose check alone: how well P(nose bare) tells masks below the nose from masks worn properly.

    .venv/bin/python -m tools.eval.eval_nose ../shared/datasets/validation-real --nose models/nose_check.tflite [M2 ...]

Every `mask` and `incorrect` image of the roots (tools/training/dataset.scan, so tools/training/relabel.tsv applies) is padded
as a camera frame holds a face, the kiosk's default detector finds it, and each nose model gives P(bare) for
the best detection (the same patch the daemon cuts: kiosk.vision.nose). Reported per model: the AUC of P(bare)
between `incorrect` and `mask` (1.0: every below-the-nose mask scores above every proper one), and at each
threshold the share of below-the-nose masks caught and of proper masks flagged. Images without a face found
are counted, not scored. Writes OUT/nose.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from tools.cli import CliError, run
from tools.training import dataset as D

ROOT = Path(__file__).resolve().parents[2]


def auc(pos: list[float], neg: list[float]) -> float:
    """P(a random positive scores above a random negative), ties counted half."""
    if not pos or not neg:
        return float("nan")
    p, n = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("roots", nargs="+", help="dataset root(s) with class folders")
    p.add_argument("--nose", nargs="+", type=Path, default=[ROOT / "models/nose_check.tflite"],
                   help="nose model(s) to compare")
    p.add_argument("--split", choices=("all", "train", "val", "test"), default="all")
    p.add_argument("--thresholds", default="0.3,0.5")
    p.add_argument("--out", type=Path, default=Path("build/eval/nose"))
    args = p.parse_args(argv)
    for m in args.nose:
        if not m.is_file():
            raise CliError(f"nose model file not found: {m}")
    try:
        thresholds = [float(t) for t in args.thresholds.split(",")]
    except ValueError:
        raise CliError(f"--thresholds {args.thresholds!r}: expected numbers separated by commas") from None

    from kiosk.config import Config
    from kiosk.vision.detectors import build_detector
    from kiosk.vision.nose import NoseCheck

    detector = build_detector(Config())
    checks = [NoseCheck(m) for m in args.nose]
    scores: list[dict[str, list[float]]] = [{"mask": [], "incorrect": []} for _ in checks]
    missed = {"mask": 0, "incorrect": 0}
    for s in D.scan(args.roots).of(args.split):
        if s.label not in missed:
            continue
        rgb = D.load_image(s.path)
        if rgb is None:
            continue
        frame, best = D.best_face(detector, rgb)
        if best is None:
            missed[s.label] += 1
            continue
        for check, sc in zip(checks, scores):
            bare = check.bare(frame, [best])[0]
            if bare is None:
                continue
            sc[s.label].append(bare)
    result = {"missed": missed, "models": []}
    for m, sc in zip(args.nose, scores):
        row = {"model": str(m), "n": {k: len(v) for k, v in sc.items()}, "auc": auc(sc["incorrect"], sc["mask"]),
               "at": {str(t): {"incorrect_caught": float(np.mean(np.asarray(sc["incorrect"]) >= t)) if sc["incorrect"] else None,
                               "mask_flagged": float(np.mean(np.asarray(sc["mask"]) >= t)) if sc["mask"] else None}
                      for t in thresholds}}
        result["models"].append(row)
        at = "; ".join(f"{t}: below-nose caught {100 * v['incorrect_caught']:.1f} %, proper flagged {100 * v['mask_flagged']:.1f} %"
                       for t, v in row["at"].items() if v["incorrect_caught"] is not None and v["mask_flagged"] is not None)
        print(f"{m}: AUC {row['auc']:.3f} (incorrect {row['n']['incorrect']}, mask {row['n']['mask']}); {at}")
    print(f"no face found: {missed}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "nose.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    run(main)

"""The whole pipeline on labelled scenes: would the gate open where it should, and stay shut where not?

    .venv/bin/python -m tools.eval.eval_scenes ../shared/datasets/validation-real/scenes [--model M] [--out DIR]

FOLDER holds photos and boxes.tsv (`scene label x y w h`, labels mask / no_mask / incorrect). A scene
*should open* when every labelled face is `mask`, and *must be denied* when any is `no_mask` or
`incorrect`. Each photo goes through the kiosk's own detector, crop rule and classifier (default config,
optionally another model) and gets the single-frame decision of `python -m kiosk scan`: open, deny or
none (no face found). Reported: the share of must-deny scenes opened (by the worst label in them), the
share of should-open scenes opened, and per labelled face the label the kiosk gave the detection that
overlaps it best (IoU >= 0.3). Each scene that went wrong gets a cause, counted in `causes`: a should-open
scene that stayed shut because no face was found (`no_face`), every face found is narrower than the gate
zone's min_face_px (`too_small`), the masks at the gate are unsure (`unsure`), or a face was called
something else (`refused:LABEL` at the gate, `held:LABEL` outside it); a must-deny scene that opened
because a bad face was not found or was dropped as a detector mistake (`bad_face_missed`) or was called
`mask` (`bad_face_called_mask`). Both shares come with Wilson's 95 % interval: 115 scenes cannot tell a few
scenes apart. `--compare OLD/scenes.csv` lists, on each side, the scenes opened now and not in that run and
the reverse, with the exact McNemar p of the split (could the change be chance?). `ceiling` is what a perfect
classifier would reach behind the same detector and zone: each detection over a labelled face gets that
label, and one over no labelled face (an unlabelled person, a hand, a statue) keeps the kiosk's verdict
(`ceiling.with_unlabelled`) or is dropped as a detector mistake (`ceiling.labelled_only`).
`--series FILE --split test` keeps only one part of a series split (tools/data/scene_series.py; for
scenes-cc0 the committed tools/eval/scenes_cc0_series.tsv). `--min-face 40` counts as the held-back checks
do: only labelled faces at least 40 px wide decide what a scene should get (scenes without one are left out),
while the kiosk still sees and judges every face. Writes OUT/scenes.json and OUT/scenes.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter, defaultdict
from pathlib import Path

from kiosk.vision.boxes import iou
from tools.cli import CliError, run
from tools.eval.kiosk_options import add_kiosk_options, kiosk_config
from tools.eval.shares import flips_p, wilson

SEVERITY = ("mask", "no_mask", "incorrect")  # a scene's worst label: any incorrect, else any no_mask


def read_boxes(path: Path) -> dict[str, list[tuple[str, tuple[int, int, int, int]]]]:
    if not path.is_file():
        raise CliError(f"boxes file not found: {path}")
    out: dict[str, list] = defaultdict(list)
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t")[:6] != ["scene", "label", "x", "y", "w", "h"]:
        raise CliError(f"{path}: expected the header scene, label, x, y, w, h")
    for n, line in enumerate(lines[1:], start=2):
        cols = line.split("\t")
        if len(cols) < 6 or cols[1] not in SEVERITY:
            raise CliError(f"{path}:{n}: expected `scene label x y w h` with a label of {SEVERITY}")
        out[cols[0]].append((cols[1], tuple(int(float(v)) for v in cols[2:6])))
    return out


def overlapping(items, box, box_of):
    """The item whose box (`box_of(item)`) overlaps BOX best, if by IoU >= 0.3; else None."""
    best = max(items, key=lambda it: iou(box_of(it), box), default=None)
    return best if best is not None and iou(box_of(best), box) >= 0.3 else None


def cause(decision: str, worst: str, faces, faces_gt, zone, frame_size) -> str:
    """Why a scene went wrong (see the module docstring); "" when it went right."""
    if worst == "mask":
        if decision == "open":
            return ""
        at_gate = [f for f in faces if zone.holds(f.box, frame_size)]
        bad = [f for f in at_gate if f.label != "mask"]
        if bad:
            return f"refused:{bad[0].label}"
        if not faces:
            return "no_face"
        if not at_gate:
            return "too_small"  # nobody at the gate: the decision is "none"
        return "unsure" if decision == "none" else f"held:{next(f.label for f in faces if f.label != 'mask')}"
    if decision != "open":
        return ""
    for label, box in faces_gt:
        if label == "mask":
            continue
        best = overlapping(faces, box, lambda f: f.box)
        if best is not None and best.label == "mask":
            return "bad_face_called_mask"
    return "bad_face_missed"


def perfect_faces(detections, faces, faces_gt, unlabelled: bool, in_picture=lambda d: True) -> list:
    """This frame's faces as a perfect classifier would call them (see `ceiling` in the module docstring)."""
    from kiosk.door.decision import FaceVerdict

    out = []
    for d in detections:
        gt = overlapping(faces_gt, d.box, lambda lb: lb[1])
        if gt is not None:
            out.append(FaceVerdict(label=gt[0], score=1.0, mask_prob=float(gt[0] == "mask"), box=tuple(d.box),
                                   det_score=float(d.score), whole=in_picture(d)))
        elif unlabelled:
            out.extend(f for f in faces if f.box == tuple(d.box))
    return out


def read_decisions(path: Path) -> dict[str, str]:
    """scene -> decision from an earlier run's scenes.csv."""
    if not path.is_file():
        raise CliError(f"scenes file to compare with not found: {path}")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or any(r.get("scene") is None or r.get("decision") is None for r in rows):
        raise CliError(f"{path}: expected an eval_scenes scenes.csv (columns scene, decision, ...)")
    return {r["scene"]: r["decision"] for r in rows}


def compare(rows: list[dict], old: dict[str, str]) -> dict:
    """Per side, the scenes opened now and not in the old run (`opened_now`) and the reverse (`shut_now`)."""
    out = {}
    for side, want in (("should_open", True), ("must_deny", False)):
        now = [r for r in rows if (r["worst"] == "mask") == want and r["scene"] in old]
        opened_now = [r["scene"] for r in now if r["decision"] == "open" and old[r["scene"]] != "open"]
        shut_now = [r["scene"] for r in now if r["decision"] != "open" and old[r["scene"]] == "open"]
        out[side] = {"opened_now": opened_now, "shut_now": shut_now, "p": flips_p(len(opened_now), len(shut_now))}
    out["not_in_old"] = sorted(r["scene"] for r in rows if r["scene"] not in old)
    return out


def share(k: int, n: int) -> str:
    lo, hi = wilson(k, n) or (0.0, 0.0)
    return f"{k}/{n} ({100 * k / max(n, 1):.1f} %, 95 % {100 * lo:.1f}-{100 * hi:.1f})"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="folder with the scene photos and boxes.tsv")
    add_kiosk_options(p)
    p.add_argument("--min-face", type=int, default=0, help="only faces at least this wide count (0: all)")
    p.add_argument("--series", type=Path, default=None, metavar="TSV",
                   help="a series file from tools/data/scene_series.py: evaluate only the scenes of --split")
    p.add_argument("--split", choices=("train", "test"), default="test", help="with --series: which part (test)")
    p.add_argument("--out", type=Path, default=Path("build/eval/scenes"))
    p.add_argument("--compare", type=Path, default=None, metavar="OLD_CSV",
                   help="an earlier run's scenes.csv: list the scenes whose decision changed")
    args = p.parse_args(argv)
    old = read_decisions(args.compare) if args.compare is not None else None

    from kiosk.capture.images import read_image
    from kiosk.vision.analysis import build_analyzer
    from kiosk.vision.tracking import Zone, zoned_frame_decision

    from tools.data.scene_series import in_split

    boxes = read_boxes(args.folder / "boxes.tsv")
    boxes = {s: boxes[s] for s in in_split(boxes, args.series, args.split)}
    cfg = kiosk_config(args)
    analyzer = build_analyzer(cfg)
    zone = Zone.of(cfg)
    rows, per_face = [], defaultdict(Counter)

    whole = analyzer.in_picture  # the kiosk's own rule for a face cut by the frame's edge

    def decide(faces, size) -> str:
        return zoned_frame_decision(faces, cfg.decision.mask_threshold, zone, cfg.zone.outside, size)

    for scene in sorted(boxes):
        faces_gt = [(l, b) for l, b in boxes[scene] if b[2] >= args.min_face]
        if not faces_gt:
            continue
        worst = max((l for l, _ in faces_gt), key=SEVERITY.index)
        image = read_image(args.folder / scene)
        detections = analyzer.detect(image)
        faces, _ = analyzer.classify(image, detections)
        size = (image.shape[1], image.shape[0])
        decision = decide(faces, size)
        for label, box in faces_gt:
            best = overlapping(faces, box, lambda f: f.box)
            got = best.label if best is not None else "missed"
            per_face[label][got] += 1
        rows.append({"scene": scene, "worst": worst, "decision": decision,
                     "ceiling_with_unlabelled": decide(perfect_faces(detections, faces, faces_gt, True, whole), size),
                     "ceiling_labelled_only": decide(perfect_faces(detections, faces, faces_gt, False, whole), size),
                     "cause": cause(decision, worst, faces, faces_gt, zone, size),
                     "labels": " ".join(f"{f.label}:{f.score:.2f}" for f in faces)})
    should_open = [r for r in rows if r["worst"] == "mask"]
    must_deny = [r for r in rows if r["worst"] != "mask"]
    opened = lambda rs, key="decision": sum(r[key] == "open" for r in rs)  # noqa: E731
    result = {
        "scenes": len(rows),
        "should_open": len(should_open), "true_openings": opened(should_open),
        "must_deny": len(must_deny), "wrongly_opened": opened(must_deny),
        "true_openings_ci95": wilson(opened(should_open), len(should_open)),
        "wrongly_opened_ci95": wilson(opened(must_deny), len(must_deny)),
        "wrongly_opened_by_worst": {w: [opened([r for r in must_deny if r["worst"] == w]),
                                        sum(r["worst"] == w for r in must_deny)] for w in ("no_mask", "incorrect")},
        "ceiling": {k: {"true_openings": opened(should_open, f"ceiling_{k}"),
                        "wrongly_opened": opened(must_deny, f"ceiling_{k}")}
                    for k in ("with_unlabelled", "labelled_only")},
        "faces": {l: dict(c) for l, c in per_face.items()},
        "causes": {side: dict(Counter(r["cause"] for r in rs if r["cause"]).most_common())
                   for side, rs in (("not_opened", should_open), ("wrongly_opened", must_deny))},
        "model": str(cfg.classifier.model),
    }
    if old is not None:
        result["compare"] = compare(rows, old)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scenes.json").write_text(json.dumps(result, indent=2) + "\n")
    with (args.out / "scenes.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["scene"])
        w.writeheader()
        w.writerows(rows)
    so, md = result["should_open"], result["must_deny"]
    print(f"{result['scenes']} scenes: true openings {share(result['true_openings'], so)}, wrongly opened "
          f"{share(result['wrongly_opened'], md)}; by worst label {result['wrongly_opened_by_worst']}")
    ce = result["ceiling"]
    print(f"  a perfect classifier behind this detector: true openings "
          f"{share(ce['with_unlabelled']['true_openings'], so)} ({ce['labelled_only']['true_openings']} if the "
          f"unlabelled boxes were dropped), wrongly opened {share(ce['with_unlabelled']['wrongly_opened'], md)} "
          f"({ce['labelled_only']['wrongly_opened']})")
    for l, c in result["faces"].items():
        print(f"  {l} faces -> {dict(c)}")
    for side, c in result["causes"].items():
        print(f"  {side.replace('_', ' ')} because: {c}")
    for side, c in result.get("compare", {}).items():
        if side != "not_in_old":
            print(f"  against {args.compare}, {side.replace('_', ' ')}: opened now {len(c['opened_now'])} "
                  f"{c['opened_now']}, shut now {len(c['shut_now'])} {c['shut_now']} (McNemar p {c['p']:.2f})")
    return 0


if __name__ == "__main__":
    run(main)

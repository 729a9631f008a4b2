"""Face detectors on kiosk-like frames: recall by class and size, false boxes, ms, time to first detection.

    .venv/bin/python -m tools.eval.eval_kiosk_detect ../shared/datasets/validation-real/scenes \\
        [--detector NAME=MODEL[:SCORE][,KEY=VALUE...] ...] [--config FILE.toml] [--table NAME]

FACES: folders with class folders (with_mask, without_mask, mask_weared_incorrect; FOLDER:MARGIN says
each image is the face box plus MARGIN x its size on each side, default 0) or scene folders with
boxes.tsv (FOLDER:CONTEXT: how much of the photo around each face is cut with it, default 0.75); see
tools/eval/kiosk_faces.py. The frames (stills, face-free frames, clips at --fps) are drawn by
tools/eval/kiosk_scenes.py from fixed seeds; every detector runs on the identical frames, interleaved (the
order turns every frame), one interpreter thread, cv2.setNumThreads(1). Scoring: tools/eval/kiosk_detect_score.py.

Detectors are built the kiosk's way, by kiosk.pipeline.build_detector from the config section
`detector`: the embedded default, or --config FILE, with --detector-model / --score-threshold
applied; each --detector NAME=MODEL[:SCORE] is that config with `detector.model` (and
`detector.score_threshold`) replaced and any further `,KEY=VALUE` detector keys set (e.g.
`,input_width=640`), each checked as a config file's value would be.

Writes the tables between the `<!-- table -->` (or `<!-- table:NAME -->`) markers of --out
(docs/detector-kiosk-eval.md) and everything, per person too, to --json (build/eval/kiosk-detect.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Iterable

import cv2

from tools.cli import CliError, run
from tools.eval.kiosk_detect_score import BUCKETS, CLASSES, STAND_GOAL_S, bucket, evaluate
from tools.eval.kiosk_faces import describe_source, load_faces
from tools.eval.kiosk_scenes import FRAME_SIZES, SceneMaker

ROOT = Path(__file__).resolve().parents[2]

MARKER = "<!-- table -->"


# --- detectors, built as the kiosk builds its own ---------------------------------------------------

def build_detector(cfg):
    """The detector the kiosk would run with this config, by the kiosk's own builder."""
    from kiosk.vision.detectors import build_detector as kiosk_build_detector

    return kiosk_build_detector(cfg)


def _model_path(text: str) -> str:
    """A model path as given: relative to the current folder when it exists there, else left to cfg.resolve."""
    p = Path(text).expanduser()
    return str(p.resolve()) if not p.is_absolute() and p.exists() else str(p)


def set_detector_model(cfg, text: str) -> None:
    """`detector.model` from a bare path on the command line, and the backend that runs a model of its kind."""
    from kiosk.vision.detectors import backend_for

    path = _model_path(text)
    set_detector_key(cfg, "model", path)
    set_detector_key(cfg, "backend", backend_for(path))


def set_detector_key(cfg, key: str, text: str | Any) -> None:
    """Set `detector.<key>`, typed and range-checked exactly as a config file's value would be."""
    from kiosk.config import DetectorSection, from_dict

    fields = {f.name: f for f in dataclasses.fields(DetectorSection)}
    value = text
    if isinstance(text, str) and key in fields:
        want = type(fields[key].default)
        try:
            if want is bool:
                if text.lower() not in ("true", "false"):
                    raise ValueError
                value = text.lower() == "true"
            elif want in (int, float):
                value = want(text)
        except ValueError:
            raise CliError(f"config key 'detector.{key}': expected {want.__name__}, got {text!r}") from None
    from_dict({"detector": {key: value}})  # raises KioskError naming the key
    setattr(cfg.detector, key, value)


def base_config(args: argparse.Namespace):
    from kiosk.config import Config, load

    cfg = load(args.config) if args.config else Config()
    set_detector_key(cfg, "threads", args.threads)
    if args.detector_model:
        set_detector_model(cfg, args.detector_model)
    if args.score_threshold is not None:
        set_detector_key(cfg, "score_threshold", args.score_threshold)
    return cfg


def parse_spec(spec: str, base) -> tuple[str, Any]:
    """NAME=MODEL[:SCORE][,KEY=VALUE...] -> (NAME, a copy of `base` with those detector keys set)."""
    name, sep, rest = spec.partition("=")
    if not sep or not name.strip() or not rest:
        raise CliError(f"--detector {spec!r}: expected NAME=MODEL[:SCORE][,KEY=VALUE...]")
    cfg = dataclasses.replace(base, detector=dataclasses.replace(base.detector))
    first, *extra = rest.split(",")
    model, _, score = first.rpartition(":")
    try:
        float(score)
    except ValueError:
        model, score = first, ""
    set_detector_model(cfg, model)
    if score:
        set_detector_key(cfg, "score_threshold", score)
    for kv in extra:
        key, sep, value = kv.partition("=")
        if not sep:
            raise CliError(f"--detector {spec!r}: {kv!r} is not KEY=VALUE")
        set_detector_key(cfg, key.strip(), value.strip())
    return name.strip(), cfg


def describe(cfg) -> str:
    """Model and threshold, YuNet's input width, and the other detector keys that differ from the default."""
    from kiosk.config import DetectorSection
    from kiosk.vision.detectors import model_path

    d, default = cfg.detector, DetectorSection()
    parts = [model_path(cfg).name, f"score {d.score_threshold:g}"]
    # YuNet's frame size and whether it takes a second look, always; neither means anything to BlazeFace
    yunet_only = {"input_width", "refine_low", "refine_confirm", "refine_crop", "refine_max"}
    shown = {"input_width", "refine_low"} if d.backend == "yunet" else set()
    for f in dataclasses.fields(d):
        if f.name in ("model", "backend", "score_threshold", "threads") or f.name in yunet_only and not shown:
            continue
        if f.name in shown or getattr(d, f.name) != getattr(default, f.name):
            parts.append(f"{f.name}={getattr(d, f.name)}")
    return ", ".join(parts)


# --- report ------------------------------------------------------------------------------------------

def _pct(hn: Iterable[int]) -> str:
    h, n = hn
    return f"{100 * h / n:.1f}%" if n else "-"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _ci(ci: list[float] | None, sep: str = " (", end: str = ")") -> str:
    return f"{sep}{100 * ci[0]:.0f}-{100 * ci[1]:.0f}{end}" if ci else ""


def tables(results: dict[str, dict], labels: dict[str, str], min_face_px: int) -> str:
    names = list(results)
    first = results[names[0]]
    cols = [(c, b) for c in CLASSES for b in [*(bucket(lo) for lo, _ in BUCKETS), ">=40"]
            if first["recall"][c][">=40"][1] or first["recall"][c]["24-39"][1]]
    short = {"mask": "mask", "no_mask": "no mask", "incorrect": "below nose"}
    out = ["**Per-frame recall** by class and face width (px), stills and clips together:", "",
           "| detector | " + " | ".join(f"{short[c]} {'**>= 40**' if b == '>=40' else b}" for c, b in cols) + " |",
           "|---|" + "---|" * len(cols),
           "| faces | " + " | ".join(str(first["recall"][c][b][1]) for c, b in cols) + " |"]
    for n in names:
        out.append(f"| {n} | " + " | ".join(
            (f"**{_pct(results[n]['recall'][c][b])}**{_ci(results[n]['recall_ci95'][c])}" if b == ">=40"
             else _pct(results[n]["recall"][c][b])) for c, b in cols) + " |")
    out += ["", "(>= 40: in brackets the 95 % interval from resampling the source faces: "
            + ", ".join(f"{first['distinct_faces_ge40'][c]} {short[c]}" for c in CLASSES if first['distinct_faces_ge40'][c])
            + " distinct faces.)"]
    out += ["", f"**Time to first detection** (people at the gate standing >= {STAND_GOAL_S} s; share found "
            f"within {STAND_GOAL_S} s of standing, goal 99 % for masked; in brackets the count and Wilson's 95 % "
            "interval), **false boxes** and **speed** (median ms per frame):", "",
            "| detector | masked found < 0.5 s | all found < 0.5 s | masked never found | median / p95 s "
            f"(masked) | false boxes per face-free frame | of them >= {min_face_px} px | false boxes per face "
            "frame | " + " | ".join(f"ms {w}x{h}" for w, h in FRAME_SIZES) + " |",
            "|---|" + "---|" * (7 + len(FRAME_SIZES))]
    for n in names:
        r = results[n]
        tm, ta = r["ttfd"]["mask"], r["ttfd"]["all"]
        fb = r["false_boxes"]
        ms = [r["ms_median"].get(f"{w}x{h}") for w, h in FRAME_SIZES]
        med = "-" if tm["median_s"] is None else f"{tm['median_s']:.2f} / {tm['p95_s']:.2f}"
        out.append(f"| {n} | **{_pct((tm['within_0.5s'], tm['people']))}** ({tm['within_0.5s']}/{tm['people']}"
                   f"{_ci(tm['ci95'], '; ', '')}) | "
                   f"{_pct((ta['within_0.5s'], ta['people']))} | {tm['never']} | {med} | {_num(fb['per_frame'])} | "
                   f"{_num(fb[f'per_frame_ge{min_face_px}px'])} | {_num(fb['stray_per_face_frame'])} | "
                   + " | ".join("-" if v is None else f"{v:.1f}" for v in ms) + " |")
    keys = list(first["recall_masked_ge40"])
    out += ["", "**Masked faces >= 40 px, per frame**: stills by condition (a face may have several), clips "
            "by what the person does, all by background and by source:", "",
            "| detector | " + " | ".join(keys) + " |",
            "|---|" + "---|" * len(keys),
            "| faces | " + " | ".join(str(first["recall_masked_ge40"][k][1]) for k in keys) + " |"]
    for n in names:
        out.append(f"| {n} | " + " | ".join(_pct(results[n]["recall_masked_ge40"][k]) for k in keys) + " |")
    out += ["", "Detectors: " + "; ".join(f"**{n}** = {labels[n]}" for n in names) + "."]
    return "\n".join(out)


def write_doc(path: Path, block: str, name: str = "") -> None:
    """Replace what is between the two `<!-- table -->` (or `<!-- table:NAME -->`) markers, or append
    the block with its markers."""
    marker = f"<!-- table:{name} -->" if name else MARKER
    doc = path.read_text(encoding="utf-8") if path.is_file() else ""
    new = f"{marker}\n{block}\n{marker}"
    if doc.count(marker) == 2:
        pre, _, rest = doc.partition(marker)
        doc = pre + new + rest.partition(marker)[2]
    else:
        doc = doc + ("\n" if doc else "") + new + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")


def parse_root(text: str) -> tuple[Path, float | None]:
    """FOLDER or FOLDER:AMOUNT (a crop folder's margin, a scene folder's context)."""
    path, amount = text, None
    head, sep, tail = text.rpartition(":")
    if sep:
        try:
            amount = float(tail)
            path = head
        except ValueError:
            pass
    if amount is not None and not 0.0 <= amount <= 2.0:
        raise CliError(f"{text}: margin or context {amount:g} is outside 0..2")
    p = Path(path)
    if not p.is_dir():
        raise CliError(f"face folder not found: {p}")
    return p, amount


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("faces", nargs="+", metavar="FACES[:AMOUNT]",
                    help="a folder with class folders (AMOUNT: the crops' margin, default 0) or a scene folder "
                         "with boxes.tsv (AMOUNT: the context cut around each face, default 0.75)")
    ap.add_argument("--detector", action="append", default=[], metavar="NAME=MODEL[:SCORE][,KEY=VALUE...]",
                    help="a detector to evaluate (repeatable; default: the config's own)")
    ap.add_argument("--config", type=Path, help="kiosk config file (default: the embedded default)")
    ap.add_argument("--detector-model", help="detector.model for the config's detector")
    ap.add_argument("--score-threshold", help="detector.score_threshold for the config's detector")
    ap.add_argument("--threads", default="1", help="detector.threads (default 1: the timings are per core)")
    ap.add_argument("--per-class", type=int, default=300, help="faces sampled per class and source")
    ap.add_argument("--stills", type=int, default=1000, help="still frames with faces")
    ap.add_argument("--empty", type=int, default=300, help="face-free frames")
    ap.add_argument("--clips", type=int, default=160, help="clips of a person walking in, standing, walking out")
    ap.add_argument("--fps", type=float, default=15.0, help="the camera's frame rate in the clips")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "detector-kiosk-eval.md")
    ap.add_argument("--table", default="", help="write between <!-- table:NAME --> markers (default <!-- table -->)")
    ap.add_argument("--json", type=Path, default=ROOT / "build" / "eval" / "kiosk-detect.json")
    args = ap.parse_args(argv)
    if min(args.per_class, args.stills, args.empty, args.clips) < 0 or args.per_class < 1:
        raise CliError("--per-class must be >= 1; --stills, --empty, --clips >= 0")
    if not 1.0 <= args.fps <= 120.0:
        raise CliError(f"--fps {args.fps}: expected 1..120")

    roots = [parse_root(r) for r in args.faces]
    base = base_config(args)
    specs = [parse_spec(s, base) for s in args.detector] or [("config", base)]
    if len({n for n, _ in specs}) != len(specs):
        raise CliError("--detector names must differ")
    cv2.setNumThreads(1)
    detectors = {n: build_detector(cfg) for n, cfg in specs}
    labels = {n: describe(cfg) for n, cfg in specs}

    faces, unreadable = load_faces(roots, args.per_class, args.seed)
    if not faces:
        raise CliError(f"no face images in {', '.join(args.faces)} (class folders: with_mask, without_mask, "
                       "mask_weared_incorrect)")
    counts = {c: sum(f.cls == c for f in faces) for c in CLASSES}
    maker = SceneMaker(faces, args.seed, args.fps)
    t0 = time.perf_counter()
    # false boxes are counted from the size at the gate (40 px by default), as before the detector kept
    # smaller faces (32 px) to let bad ones hold the gate: the figures stay comparable
    gate_px = max(base.detector.min_face_px, base.zone.min_face_px)
    tallies = evaluate(detectors, maker, args.stills, args.empty, args.clips, gate_px, progress=True)
    seconds = time.perf_counter() - t0
    results = {n: t.summary() for n, t in tallies.items()}

    some = next(iter(tallies.values()))
    n_frames = some.face_frames + some.empty_frames
    sources = [describe_source(p, m) for p, m in roots]
    header = (f"Frames: {args.stills} stills, {args.empty} face-free, {args.clips} clips at {args.fps:g} fps "
              f"({n_frames} frames in all), seed {args.seed}. Faces: {counts['mask']} mask, {counts['no_mask']} "
              f"no-mask, {counts['incorrect']} below-nose images from {', '.join(sources)}, at most "
              f"{args.per_class} per class and source. {seconds / 60:.1f} min for {len(detectors)} detector(s) "
              "on this machine, detectors on 1 thread.")
    block = header + "\n\n" + tables(results, labels, gate_px)
    print(block)
    report = {"protocol": {"sources": sources, "per_class": args.per_class,
                           "face_crops": counts, "unreadable": unreadable, "stills": args.stills,
                           "face_free": args.empty, "clips": args.clips, "fps": args.fps, "seed": args.seed,
                           "frames": n_frames, "seconds": round(seconds, 1)},
              "detectors": {n: {"label": labels[n], "detector": dataclasses.asdict(cfg.detector), **results[n]}
                            for n, cfg in specs}}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    if args.out:
        write_doc(args.out, block, args.table)
    return 0


if __name__ == "__main__":
    run(main)

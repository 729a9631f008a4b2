#!/usr/bin/env python3
"""Face detectors on kiosk-like frames: recall by class and size, false boxes, ms, time to first detection.

    .venv/bin/python tools/eval_kiosk_detect.py ../shared/datasets/masks-real ../shared/datasets/validation-real:0.15 \\
        [--detector NAME=MODEL[:SCORE][,KEY=VALUE...] ...] [--config FILE.toml] [--out docs/detector-kiosk-eval.md]

FACES are dataset roots with class folders (with_mask, without_mask, mask_weared_incorrect); ROOT:MARGIN
says the crops there are the face box plus MARGIN x its size on each side (default 0). The frames are
drawn by tools/kiosk_scenes.py (stills, face-free frames, clips at --fps); every detector runs on the
identical frames, interleaved (the order turns each frame), one interpreter thread, cv2.setNumThreads(1).

Detectors are built the kiosk's way, from its config section `detector`: the embedded default, or
--config FILE, with --detector-model / --score-threshold applied; each --detector NAME=MODEL[:SCORE]
is that config with `detector.model` (and `detector.score_threshold`) replaced and any further
`,KEY=VALUE` detector keys set (e.g. `,input_width=640`), each checked as the config file's would be.

A *hit*: a detection whose centre lies inside the face's pasted crop and at least half of whose area
does (as tools/eval_detector.py). A detection that hits no counted face and lies on no ignored one is a
*false box*. *Time to first detection*: for each person at the gate, the time from the first standing
frame to the first standing frame with a hit; the goal is that 99 % of masked people are found within
0.5 s. Writes the table between the `<!-- table -->` markers of --out and everything in --json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.cli import CliError, run  # noqa: E402
from tools.kiosk_scenes import (  # noqa: E402
    CLASSES, FRAME_SIZES, Face, Frame, Person, SceneMaker, describe_source, load_faces,
)

BUCKETS = ((24, 40), (40, 80), (80, 201))  # face box width, px: [lo, hi)
STAND_GOAL_S = 0.5
CONDITIONS = (("blurred", "blurred"), ("low_light", "low light"), ("jpeg_q<50", "JPEG q < 50"), ("occluded", "occluded"))
ROLES = (("walk_in", "walking in"), ("stand", "standing"), ("walk_out", "walking out"), ("passer", "passing by"))
MARKER = "<!-- table -->"


# --- detectors, built as the kiosk builds its own ---------------------------------------------------

def build_detector(cfg):
    """The detector the kiosk would run with this config, by the kiosk's own builder."""
    from kiosk.pipeline import build_detector as kiosk_build_detector

    return kiosk_build_detector(cfg)


def _model_path(text: str) -> str:
    """A model path as given: relative to the current folder when it exists there, else left to cfg.resolve."""
    p = Path(text).expanduser()
    return str(p.resolve()) if not p.is_absolute() and p.exists() else str(p)


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
        set_detector_key(cfg, "model", _model_path(args.detector_model))
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
    set_detector_key(cfg, "model", _model_path(model))
    if score:
        set_detector_key(cfg, "score_threshold", score)
    for kv in extra:
        key, sep, value = kv.partition("=")
        if not sep:
            raise CliError(f"--detector {spec!r}: {kv!r} is not KEY=VALUE")
        set_detector_key(cfg, key.strip(), value.strip())
    return name.strip(), cfg


def describe(cfg) -> str:
    """The detector keys that differ from the embedded default, plus model and threshold."""
    from kiosk.config import DetectorSection

    d, default = cfg.detector, DetectorSection()
    parts = [Path(d.model).name, f"score {d.score_threshold:g}"]
    for f in dataclasses.fields(d):
        if f.name not in ("model", "score_threshold", "threads") and getattr(d, f.name) != getattr(default, f.name):
            parts.append(f"{f.name}={getattr(d, f.name)}")
    return ", ".join(parts)


# --- scoring -----------------------------------------------------------------------------------------

def on_face(box: tuple, rect: tuple) -> bool:
    """The detection's centre inside the face's region, and at least half its area inside it."""
    x, y, w, h = box
    rx, ry, rw, rh = rect
    if w <= 0 or h <= 0 or not (rx <= x + w / 2 <= rx + rw and ry <= y + h / 2 <= ry + rh):
        return False
    iw = max(0, min(x + w, rx + rw) - max(x, rx))
    ih = max(0, min(y + h, ry + rh) - max(y, ry))
    return iw * ih >= 0.5 * w * h


def _iou(a: tuple, b: tuple) -> float:
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter) if inter else 0.0


def match(boxes: list[tuple], faces: list[Face]) -> tuple[list[bool], list[tuple]]:
    """(hit per face, false boxes). Each detection goes to the face it lies on best (by IoU with the face box)."""
    hit = [False] * len(faces)
    false = []
    for b in boxes:
        cands = [i for i, f in enumerate(faces) if on_face(b, f.region)]
        if not cands:
            false.append(b)
            continue
        best = max(cands, key=lambda i: _iou(b, faces[i].box))
        if faces[best].counted:
            hit[best] = True
    return hit, false


def bucket(width: float) -> str:
    for lo, hi in BUCKETS:
        if lo <= width < hi:
            return f"{lo}-{hi - 1}"
    return "other"


class Tally:
    """Everything one detector did on the frames."""

    def __init__(self, min_face_px: int) -> None:
        self.min_face_px = min_face_px
        self.faces: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])  # (group...) -> [hits, n]
        self.empty_frames = 0
        self.empty_boxes = 0
        self.empty_big = 0
        self.empty_by_bg: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # frames, boxes, big
        self.face_frames = 0
        self.stray = 0
        self.ms: dict[str, list[float]] = defaultdict(list)
        self.people: list[dict] = []
        self.by_face: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))  # >= 40 px
        self._clip_hits: dict[int, list[int]] = defaultdict(list)  # clip -> standing frame offsets with a hit

    def add(self, frame: Frame, boxes: list[tuple], ms: float, person: Person | None) -> None:
        self.ms[f"{frame.image.shape[1]}x{frame.image.shape[0]}"].append(ms)
        if not frame.faces:
            big = sum(1 for b in boxes if b[2] >= self.min_face_px)
            self.empty_frames += 1
            self.empty_boxes += len(boxes)
            self.empty_big += big
            e = self.empty_by_bg[frame.background]
            e[0], e[1], e[2] = e[0] + 1, e[1] + len(boxes), e[2] + big
            return
        hit, false = match(boxes, frame.faces)
        self.face_frames += 1
        self.stray += len(false)
        conds = [c for c, on in (("low_light", frame.low_light), ("jpeg_q<50", frame.jpeg < 50)) if on]
        for f, h in zip(frame.faces, hit):
            if not f.counted:
                continue
            fconds = conds + [c for c, on in (("blurred", f.blurred), ("occluded", f.occluded)) if on]
            big = f.width >= 40
            if big:
                rec = self.by_face[f.cls][f.fid]
                rec[0] += int(h)
                rec[1] += 1
            keys = [("class", f.cls, bucket(f.width)), ("role", f.role, f.cls, big),
                    ("source", f.source, f.cls, big), ("bg", frame.background, f.cls, big)]
            if frame.kind == "still":  # conditions are drawn independently only in the stills
                keys += [("clean", f.cls, big, not fconds)] + [("cond", c, f.cls, big) for c in fconds]
            for k in keys:
                self.faces[k][0] += int(h)
                self.faces[k][1] += 1
            if person is not None and f.role == "stand" and h:
                self._clip_hits[frame.clip].append(frame.index - person.stand_start)

    def end_clip(self, person: Person, fps: float) -> None:
        offsets = self._clip_hits.pop(person.clip, [])
        first = min(offsets) / fps if offsets else None
        self.people.append({"clip": person.clip, "cls": person.cls, "source": person.source,
                            "width": round(person.width, 1), "stand_s": round(person.stand_frames / fps, 3),
                            "first_s": None if first is None else round(first, 4), "hit_frames": len(offsets)})

    def rate(self, *key) -> tuple[int, int]:
        h, n = self.faces.get(key, (0, 0))
        return h, n

    def pooled(self, prefix: tuple, test) -> tuple[int, int]:
        h = n = 0
        for k, (kh, kn) in self.faces.items():
            if k[: len(prefix)] == prefix and test(k):
                h, n = h + kh, n + kn
        return h, n

    def interval(self, cls: str, resamples: int = 1000) -> list[float] | None:
        """95 % interval of the per-frame recall of `cls` faces >= 40 px, resampling the source faces
        (each is reused in many frames, so frames are not independent; faces are)."""
        per = np.array(list(self.by_face[cls].values()), np.float64).reshape(-1, 2)
        if len(per) < 2:
            return None
        rng = np.random.default_rng(0)
        idx = rng.integers(0, len(per), (resamples, len(per)))
        rates = per[idx, 0].sum(1) / np.maximum(per[idx, 1].sum(1), 1)
        return [float(v) for v in np.percentile(rates, [2.5, 97.5])]

    def ttfd(self, cls: str | None) -> dict[str, Any]:
        ppl = [p for p in self.people if cls is None or p["cls"] == cls]
        firsts = sorted(p["first_s"] for p in ppl if p["first_s"] is not None)
        within = sum(1 for t in firsts if t < STAND_GOAL_S - 1e-9)
        return {"people": len(ppl), "within_0.5s": within, "ci95": wilson(within, len(ppl)),
                "never": len(ppl) - len(firsts),
                "median_s": statistics.median(firsts) if firsts else None,
                "p95_s": firsts[min(len(firsts) - 1, math.ceil(0.95 * len(firsts)) - 1)] if firsts else None}

    def summary(self) -> dict[str, Any]:
        return {
            "recall": {c: {b: self.rate("class", c, b) for b in [bucket(lo) for lo, _ in BUCKETS]}
                       | {">=40": self.pooled(("class", c), lambda k: k[2] != "24-39")} for c in CLASSES},
            "recall_ci95": {c: self.interval(c) for c in CLASSES},
            "distinct_faces_ge40": {c: len(self.by_face[c]) for c in CLASSES},
            "recall_masked_ge40": {
                "stills": self.rate("role", "still", "mask", True),
                "stills, clean": self.rate("clean", "mask", True, True),
                **{f"stills, {label}": self.rate("cond", c, "mask", True) for c, label in CONDITIONS},
                **{f"clips, {label}": self.rate("role", r, "mask", True) for r, label in ROLES},
                **{f"on {b}": self.rate("bg", b, "mask", True) for b in ("entrance", "photo", "procedural")},
                **{f"from {k[1]}": (v[0], v[1]) for k, v in sorted(self.faces.items())
                   if k[0] == "source" and k[2] == "mask" and k[3]},
            },
            "false_boxes": {"face_free_frames": self.empty_frames, "per_frame": _div(self.empty_boxes, self.empty_frames),
                            f"per_frame_ge{self.min_face_px}px": _div(self.empty_big, self.empty_frames),
                            "by_background": {k: {"frames": v[0], "per_frame": _div(v[1], v[0]),
                                                  f"per_frame_ge{self.min_face_px}px": _div(v[2], v[0])}
                                              for k, v in sorted(self.empty_by_bg.items())},
                            "face_frames": self.face_frames, "stray_per_face_frame": _div(self.stray, self.face_frames)},
            "ms_median": {k: statistics.median(v) for k, v in sorted(self.ms.items())},
            "ttfd": {"all": self.ttfd(None), **{c: self.ttfd(c) for c in CLASSES}},
            "people": self.people,
        }


def wilson(k: int, n: int, z: float = 1.96) -> list[float] | None:
    """Wilson's 95 % interval of a share k / n (people are independent; good at shares near 1)."""
    if n == 0:
        return None
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [max(0.0, c - h), min(1.0, c + h)]


def _div(a: float, b: float) -> float | None:
    return a / b if b else None


def evaluate(detectors: dict[str, Any], maker: SceneMaker, stills: int, empty: int, clips: int,
             min_face_px: int = 40, progress: bool = False) -> dict[str, Tally]:
    """Run every detector on the same frames; the order of the detectors turns with each frame."""
    names = list(detectors)
    tallies = {n: Tally(min_face_px) for n in names}
    counter = [0]

    def one(frame: Frame, person: Person | None) -> None:
        k = counter[0]
        counter[0] += 1
        for j in range(len(names)):
            name = names[(k + j) % len(names)]
            t0 = time.perf_counter()
            dets = detectors[name].detect(frame.image)
            ms = 1000 * (time.perf_counter() - t0)
            tallies[name].add(frame, [tuple(int(v) for v in d.box) for d in dets], ms, person)
        if progress and k % 500 == 0:
            print(f"  {k} frames", file=sys.stderr, flush=True)

    # Warm-up (first calls allocate), not counted.
    warm = maker.still(10**6)
    for det in detectors.values():
        for _ in range(3):
            det.detect(warm.image)
    for i in range(stills):
        one(maker.still(i), None)
    for i in range(empty):
        one(maker.empty(i), None)
    for c in range(clips):
        person, frames = maker.clip(c)
        for frame in frames:
            one(frame, person)
        for t in tallies.values():
            t.end_clip(person, maker.fps)
    return tallies


# --- report ------------------------------------------------------------------------------------------

def _pct(hn: Iterable[int]) -> str:
    h, n = hn
    return f"{100 * h / n:.1f}%" if n else "-"


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
                   f"{_pct((ta['within_0.5s'], ta['people']))} | {tm['never']} | {med} | {fb['per_frame']:.3f} | "
                   f"{fb[f'per_frame_ge{min_face_px}px']:.3f} | {fb['stray_per_face_frame']:.3f} | "
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
    tallies = evaluate(detectors, maker, args.stills, args.empty, args.clips, base.detector.min_face_px,
                       progress=True)
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
    block = header + "\n\n" + tables(results, labels, base.detector.min_face_px)
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

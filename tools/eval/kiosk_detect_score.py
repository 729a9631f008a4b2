"""Scoring a face detector on kiosk-like frames (tools/eval/kiosk_scenes.py): hits, false boxes, time to first detection.

A *hit*: a detection whose centre lies inside a face's region (its face box grown by
kiosk_scenes.HIT_PAD on each side) and at least half of whose area does; each detection goes to the
face whose box it overlaps best. A detection on no face (counted or ignored) is a *false box*.
*Time to first detection*: per person at the gate, from the first standing frame to the first
standing frame with a hit.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections import defaultdict
from typing import Any

import numpy as np

from kiosk.vision.boxes import iou
from tools.eval.kiosk_faces import CLASSES
from tools.eval.kiosk_scenes import Face, Frame, Person, SceneMaker
from tools.eval.shares import wilson

# Face box width, px: [lo, hi). The last is open: a person standing at 200 px sways to 206.
BUCKETS = ((24, 40), (40, 80), (80, math.inf))
STAND_GOAL_S = 0.5
CONDITIONS = (("blurred", "blurred"), ("low_light", "low light"), ("jpeg_q<50", "JPEG q < 50"), ("occluded", "occluded"))
ROLES = (("walk_in", "walking in"), ("stand", "standing"), ("walk_out", "walking out"), ("passer", "passing by"))


def on_face(box: tuple, rect: tuple) -> bool:
    """The detection's centre inside the face's region, and at least half its area inside it."""
    x, y, w, h = box
    rx, ry, rw, rh = rect
    if w <= 0 or h <= 0 or not (rx <= x + w / 2 <= rx + rw and ry <= y + h / 2 <= ry + rh):
        return False
    iw = max(0, min(x + w, rx + rw) - max(x, rx))
    ih = max(0, min(y + h, ry + rh) - max(y, ry))
    return iw * ih >= 0.5 * w * h


def match(boxes: list[tuple], faces: list[Face]) -> tuple[list[bool], list[tuple]]:
    """(hit per face, false boxes). Each detection goes to the face it lies on best (by IoU with the face box)."""
    hit = [False] * len(faces)
    false = []
    for b in boxes:
        cands = [i for i, f in enumerate(faces) if on_face(b, f.region)]
        if not cands:
            false.append(b)
            continue
        best = max(cands, key=lambda i: iou(b, faces[i].box))
        if faces[best].counted:
            hit[best] = True
    return hit, false


def bucket(width: float) -> str:
    """"24-39", "40-79", "80-200" (and wider), or "<24" (an approaching face; in no table)."""
    for lo, hi in BUCKETS:
        if lo <= width < hi:
            return f"{lo}-{hi - 1 if hi < math.inf else 200}"
    return f"<{BUCKETS[0][0]}"


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
            keys = [("class", f.cls, bucket(f.width)), ("class", f.cls, ">=40" if big else "<40"),
                    ("role", f.role, f.cls, big), ("source", f.source, f.cls, big),
                    ("bg", frame.background, f.cls, big)]
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
            "recall": {c: {b: self.rate("class", c, b) for b in [*(bucket(lo) for lo, _ in BUCKETS), ">=40"]}
                       for c in CLASSES},
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

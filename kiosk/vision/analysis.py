"""One frame in, classified faces out: detect -> filter -> crop -> classify.

A face whose box reaches more than `detector.max_cut` of its height or width past the frame's edge (YuNet boxes
a face cut by the bottom edge whole) is half in view: its verdict says so (`FaceVerdict.whole`), and the zone
takes it for a bystander (kiosk/vision/tracking.py), which neither opens nor shuts the gate; the visitor is judged
once in the picture. It is still reported, as found.

Shared by the daemon, `scan` and the benchmark, so all three make the same per-face calls.
A crop the classifier calls `not_face` (a model trained with that class) is a detector mistake: it is
dropped here, before the decision ever sees it, and counted in `rejected`. A face called `mask` gets a
second look from the nose check when one is configured (kiosk/vision/nose.py): a bare nose makes it `incorrect`.
With `confirm_score` set, a weak detection (score below it) is kept only when it is a sure mask: on real
scenes the detector's weak boxes are mostly ears, arms and heads seen from behind, whose unsure verdicts
would otherwise keep a group's gate shut, while real unmasked and wrongly masked faces score high.
With an `attention` (kiosk/vision/attention.py), faces whose verdict cannot matter are not classified: people
in their cooldown keep their last verdict, bystanders under the ignore policy get none.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np

from ..config import Config, auto_threads
from ..door.decision import FaceVerdict
from .attention import Attention
from .classifier import Classifier
from .detector import Detection
from .detectors import build_detector
from .motion import MotionGate
from .nose import NoseCheck
from .preprocess import crop, square_crop_box


class FaceAnalyzer:
    def __init__(self, detector, classifier: Classifier, min_face_px: int, margin: float,
                 max_faces: int, nose: NoseCheck | None = None, confirm_score: float = 0.0,
                 mask_threshold: float = 1.0, full_every: int = 1, motion: MotionGate | None = None,
                 still_every: int = 1, max_cut: float = 1.0) -> None:
        self.detector = detector
        self.classifier = classifier
        self.nose = nose
        self.min_face_px = min_face_px
        self.min_inside = 1.0 - float(max_cut)  # a face less in view than this is half outside the frame
        self.margin = margin
        self.max_faces = max_faces
        self.confirm_score = confirm_score
        self.mask_threshold = mask_threshold
        self._mask_index = classifier.labels.index("mask")
        self.rejected = 0  # detections dropped as detector mistakes (not_face, unconfirmed), since start
        self.attention: Attention | None = None  # set by the daemon: faces it may skip, people to follow
        self.full_every = max(1, int(full_every))  # with followed people: a whole-frame pass every n frames
        self._since_full = 0
        # with nothing moving away from the followed faces, the periodic whole-frame pass waits, up to
        # `still_every` frames (kiosk/vision/motion.py)
        self.motion = motion
        self.still_every = max(self.full_every, int(still_every))
        self.full_passes = 0  # whole-frame detections since start (the others followed tracked people)
        self.classified = 0  # faces run through the classifier, since start
        self.reused = 0  # faces given a settled person's verdict instead, since start
        self.skipped = 0  # bystanders left unclassified, since start

    def analyse(self, frame: np.ndarray,
                timing: Callable[[str, float], None] | None = None) -> tuple[list[FaceVerdict], list[np.ndarray]]:
        """Returns the verdicts and the face crops (crops only leave this function for snapshots)."""
        return self.classify(frame, self.detect(frame, timing), timing)

    def detect(self, frame: np.ndarray, timing: Callable[[str, float], None] | None = None) -> list[Detection]:
        """The faces to classify: large enough, the largest `max_faces` of them, largest first."""
        t0 = time.perf_counter()
        detections = self._follow(frame)
        whole = detections is None
        if whole:
            detections = self.detector.detect(frame)
            self._since_full = 0
            self.full_passes += 1
        if timing is not None:
            timing("detect", (time.perf_counter() - t0) * 1000)
        detections = [d for d in detections if d.box[2] >= self.min_face_px]
        # The largest faces are the people at the gate; far-away ones are cut first.
        detections.sort(key=lambda d: d.box[2] * d.box[3], reverse=True)
        detections = detections[: self.max_faces]
        att = self.attention
        if att is not None:
            # the next frame looks for these faces first: set here, not after the decision, so that with
            # overlap (the next frame detected before this one is decided) a newcomer is followed from the
            # very next frame, not two later
            boxes = [d.box for d in detections]
            att.follow = [b for b, n in zip(boxes, att.needed(boxes, [self.in_picture(d) for d in detections])) if n]
            if whole and att.follow and self.motion is not None:
                self.motion.remember(frame)  # only worth its cost when someone will be followed
        return detections

    def in_picture(self, det: Detection) -> bool:
        """The face is in the picture, not cut by its edge beyond `detector.max_cut`."""
        return det.inside >= self.min_inside

    def _follow(self, frame: np.ndarray) -> list[Detection] | None:
        """The followed people's faces (kiosk/vision/attention.py), found in windows around them; None when this
        frame needs a whole-frame pass: nobody to follow, every `full_every`-th frame (someone new may
        have come) unless nothing has moved away from the followed faces since the last one (then every
        `still_every`-th), or the windows found nobody (they left)."""
        follow = getattr(self.detector, "follow", None)
        att = self.attention
        if follow is None or att is None or self.full_every <= 1:
            return None
        self._since_full += 1
        boxes = att.follow  # one read: the frame loop may replace the list meanwhile (kiosk/vision/overlap.py)
        if not boxes or self._since_full >= self.still_every:
            return None
        if self._since_full >= self.full_every and (self.motion is None or self.motion.moved(frame, boxes)):
            return None
        return follow(frame, boxes) or None

    def classify(self, frame: np.ndarray, detections: list[Detection],
                 timing: Callable[[str, float], None] | None = None) -> tuple[list[FaceVerdict], list[np.ndarray]]:
        """Crop and classify `detections` (from `detect` on this very frame); with an attention, only the
        faces whose verdict can matter, until no skipped face has become one (kiosk/vision/attention.py)."""
        att = self.attention
        results: dict[int, tuple[FaceVerdict, np.ndarray] | None] = {}  # index -> (verdict, crop); None: dropped
        stand_in = {}
        if att is not None:
            for i, det in enumerate(detections):
                v = att.reuse(det.box)
                if v is not None:
                    stand_in[i] = v
        times = [0.0, 0.0]
        while True:
            alive = [i for i in range(len(detections)) if results.get(i, 0) is not None]
            need = (att.needed([detections[i].box for i in alive], [self.in_picture(detections[i]) for i in alive])
                    if att is not None else [True] * len(alive))
            todo = [i for i, n in zip(alive, need) if n and i not in results]
            if not todo:
                break
            for i in [i for i in todo if i in stand_in]:
                face = crop(frame, square_crop_box(detections[i].box, self.margin, *frame.shape[1::-1]))
                results[i] = (dataclasses.replace(stand_in[i], whole=self.in_picture(detections[i])), face)
                self.reused += 1
            fresh = [i for i in todo if i not in stand_in]
            for i, got in zip(fresh, self._run_models(frame, [detections[i] for i in fresh], times)):
                results[i] = got
        self.skipped += sum(1 for i in range(len(detections)) if i not in results)
        if timing is not None:
            timing("preprocess", times[0] * 1000)
            timing("classify", times[1] * 1000)
        kept = [results[i] for i in range(len(detections)) if results.get(i) is not None]
        return [v for v, _ in kept], [c for _, c in kept]

    def _run_models(self, frame: np.ndarray, detections: list[Detection],
                    times: list[float]) -> list[tuple[FaceVerdict, np.ndarray] | None]:
        """Classifier and nose check: per detection (verdict, crop), or None
        when it is dropped as a detector mistake. Adds preprocessing and model seconds to `times`."""
        h, w = frame.shape[:2]
        out: list[tuple[FaceVerdict, np.ndarray] | None] = [None] * len(detections)
        kept: list = []
        tensors: list[np.ndarray] = []
        ta = time.perf_counter()
        for j, det in enumerate(detections):
            face = crop(frame, square_crop_box(det.box, self.margin, w, h))
            if face.size == 0:
                continue
            kept.append((j, det, face))
            tensors.append(self.classifier.prepare(face))
        tb = time.perf_counter()
        probs_all = self.classifier.predict_batch(tensors)
        tc = time.perf_counter()
        # no faces, no preprocessing or classifier time (the stage statistics count real work only)
        if tensors:
            times[0] += tb - ta
            times[1] += tc - tb
        self.classified += len(tensors)
        best = probs_all.argmax(axis=1)
        labels = [self.classifier.labels[i] for i in best]
        bare: list[float | None] = [None] * len(kept)
        masked = [j for j, lbl in enumerate(labels) if lbl == "mask"]
        if self.nose is not None and masked:
            td = time.perf_counter()
            for j, p in zip(masked, self.nose.bare(frame, [kept[j][1] for j in masked])):
                bare[j] = p
            times[1] += time.perf_counter() - td
        for (j, det, face), probs, i, label, p_bare in zip(kept, probs_all, best, labels, bare):
            if label == "not_face":
                self.rejected += 1
                continue
            score, mask_prob = float(probs[i]), float(probs[self._mask_index])
            if p_bare is not None and p_bare >= self.nose.threshold:
                # the nose is out: whatever the face classifier thought of the mask, it is worn wrongly
                label, score, mask_prob = "incorrect", p_bare, min(mask_prob, 1.0 - p_bare)
            if det.score < self.confirm_score and not (label == "mask" and mask_prob >= self.mask_threshold):
                self.rejected += 1  # a weak box that is not a sure mask: most likely not a face at all
                continue
            out[j] = (FaceVerdict(label=label, score=score, mask_prob=mask_prob, box=tuple(det.box),
                                  det_score=float(det.score), whole=self.in_picture(det)), face)
        return out


def build_analyzer(cfg: Config) -> FaceAnalyzer:
    """Load both models (once); refuses missing or inconsistent models with a KioskError."""
    classifier = Classifier(cfg.resolve(cfg.classifier.model), num_threads=auto_threads(cfg.classifier.threads))
    detector = build_detector(cfg)  # by name: kiosk/vision/detectors.py
    nose = None
    if cfg.classifier.nose_model:
        nose = NoseCheck(cfg.resolve(cfg.classifier.nose_model), cfg.classifier.nose_threshold,
                         num_threads=auto_threads(cfg.classifier.threads))
    return FaceAnalyzer(detector, classifier, cfg.detector.min_face_px, cfg.detector.margin,
                        cfg.detector.max_faces, nose, confirm_score=cfg.detector.confirm_score,
                        mask_threshold=cfg.decision.mask_threshold, full_every=cfg.detector.full_every,
                        motion=MotionGate(cfg.detector.motion_threshold) if cfg.detector.motion_threshold else None,
                        still_every=cfg.detector.still_every, max_cut=cfg.detector.max_cut)

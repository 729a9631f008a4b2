"""The shipped classifier's `not_face` output vetoes detector mistakes, so a sign cannot open the gate.

Face-free scenes that were never training data (tools/data/make_negatives.py's procedural scenes with a
seed it does not use, and scikit-image's `text` photo, which it holds out) are fed to the real daemon
through its image-folder camera, with the real models and MockFactory pins. The 2-class model this
replaced called about one such frame in seven a confident `mask` (build/notface_baseline.md): these
tests fail with it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from kiosk.config import Config
from kiosk.pipeline import Kiosk
from kiosk.vision.analysis import build_analyzer
from tests.conftest import ROOT, recorded_config
from tools.data import make_negatives as mn

HELD_OUT_SEED = 4242  # tools/data/make_negatives.py's default seed is 0


def face_free_frames(n_scenes: int) -> list[np.ndarray]:
    from skimage import data

    rng = np.random.default_rng(HELD_OUT_SEED)
    photos = [img for _, img in mn.skimage_photos()]
    frames = mn.frames_of(mn.to_bgr(np.asarray(data.text())), rng, 6)
    for _ in range(n_scenes):
        frames += mn.frames_of(mn.procedural_scene(rng, photos), rng, 0)
    return frames


@pytest.fixture(scope="module")
def analyzer():
    # BlazeFace full range at 0.3: the detector that fires on these frames often enough to put the veto
    # to work (the default YuNet makes a tenth as many false boxes: docs/detector-kiosk-eval.md)
    cfg = Config()
    cfg.detector.backend = "blazeface"  # its bundled model: full range
    cfg.detector.score_threshold = 0.3
    a = build_analyzer(cfg)
    if "not_face" not in a.classifier.labels:
        pytest.fail(f"the shipped model has no not_face output: {a.classifier.labels}")
    return a


def test_detector_mistakes_are_vetoed(analyzer):
    frames = face_free_frames(40)
    masked = []
    for f in frames:
        faces, _ = analyzer.analyse(f)
        masked += [v for v in faces if v.label == "mask" and v.mask_prob >= Config().decision.mask_threshold]
    # the detector does fire on these frames (else this would prove nothing), the veto catches it
    assert analyzer.rejected >= len(frames) // 10, analyzer.rejected
    assert len(masked) <= len(frames) // 100, [(v.box, v.mask_prob) for v in masked]


def test_daemon_never_opens_for_face_free_scenes(factory, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(face_free_frames(30)):
        cv2.imwrite(str(folder / f"{i:04d}.png"), f)
    cfg = recorded_config(tmp_path, folder, fps=200.0)
    cfg.decision.k, cfg.decision.n = 1, 1  # the most trusting policy: one frame decides
    kiosk = Kiosk(cfg, pin_factory=factory)
    summary = kiosk.run(max_seconds=60)
    assert summary.exit_reason == "end of stream"
    assert summary.count("open") == 0, summary.decisions
    assert kiosk._stats_payload()["counters"]["not_faces"] > 0  # what the stats topic publishes
    relay = factory.pin(cfg.gpio.relay_pin)  # active high: never energised
    assert not [s for s in relay.states if s.state], relay.states


def test_scan_reports_vetoed_detections(tmp_path):
    frames = face_free_frames(10)
    paths = []
    for i, f in enumerate(frames):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), f)
    r = subprocess.run([sys.executable, "-m", "kiosk", "scan", "--json", *map(str, paths)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(records) == len(frames)
    assert sum(rec["not_faces"] for rec in records) > 0
    assert all(rec["decision"] != "open" for rec in records)

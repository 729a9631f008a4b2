"""detector.confirm_score: a weak detection counts only as a sure mask; anything else from it is dropped.

Real models on the demo's public-domain astronaut, with and without a drawn mask; only the detection's
score is set by the test (the rule is about that score)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kiosk.config import Config
from kiosk.vision.analysis import FaceAnalyzer, build_analyzer
from tests.test_nose import FixedNose


@pytest.fixture(scope="module")
def frames():
    from tools.data import facemesh as fm
    from tools.data import mask_drawing as md
    from tools.demo.make_demo_clip import load_sources

    bare = load_sources()["A"]
    pts = fm.find_face_landmarks(bare, fm.FaceMesh(num_threads=1))
    masked = md.draw_mask(bare, pts, "correct", "surgical", rng=np.random.default_rng(0))
    return {"bare": bare, "masked": masked}


def analyse(frame, score: float, confirm: float, nose=None):
    cfg = Config()
    cfg.detector.confirm_score = confirm
    base = build_analyzer(cfg)
    analyzer = FaceAnalyzer(base.detector, base.classifier, 1, cfg.detector.margin, 4,
                            base.nose if nose is None else nose, confirm_score=confirm,
                            mask_threshold=cfg.decision.mask_threshold)
    dets = analyzer.detect(frame)
    assert len(dets) == 1
    faces, _ = analyzer.classify(frame, [dataclasses.replace(dets[0], score=score)])
    return [f.label for f in faces], analyzer.rejected


def test_a_weak_sure_mask_counts(frames):
    assert analyse(frames["masked"], 0.4, 0.6) == (["mask"], 0)


def test_a_weak_unmasked_face_is_dropped_and_a_strong_one_is_not(frames):
    assert analyse(frames["bare"], 0.4, 0.6) == ([], 1)
    assert analyse(frames["bare"], 0.7, 0.6) == (["no_mask"], 0)
    assert analyse(frames["bare"], 0.4, 0.0) == (["no_mask"], 0)  # off: every face counts


def test_a_weak_mask_with_the_nose_out_is_dropped_not_opened(frames):
    labels, rejected = analyse(frames["masked"], 0.4, 0.6, nose=FixedNose(0.9, threshold=0.3))
    assert labels == [] and rejected == 1
    assert analyse(frames["masked"], 0.9, 0.6, nose=FixedNose(0.9, threshold=0.3))[0] == ["incorrect"]


def test_the_key_is_in_the_config_and_checked():
    from kiosk.config import from_dict
    from kiosk.errors import KioskError

    with pytest.raises(KioskError, match="detector.confirm_score"):
        from_dict({"detector": {"confirm_score": 1.5}})

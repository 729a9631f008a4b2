"""The nose check (kiosk/vision/nose.py): patch geometry, model refusals, and how it changes a `mask` verdict."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.vision.analysis import FaceAnalyzer, build_analyzer
from kiosk.vision.detector import Detection
from kiosk.vision.nose import NoseCheck, nose_patch

ROOT = Path(__file__).resolve().parents[1]
NOSE_MODEL = ROOT / "models" / "nose_check.tflite"


def face_frame(angle: float = 0.0) -> tuple[np.ndarray, tuple]:
    """A drawn face: grey skin, dark eyes, a red nose tip; keypoints where BlazeFace would put them."""
    img = np.full((240, 240, 3), 120, np.uint8)
    cv2.circle(img, (120, 120), 80, (150, 170, 200), -1)
    eyes, nose = [(95, 100), (145, 100)], (120, 135)
    for e in eyes:
        cv2.circle(img, e, 7, (20, 20, 20), -1)
    cv2.circle(img, nose, 8, (0, 0, 255), -1)
    kps = [*eyes, nose, (120, 160), (50, 110), (190, 110)]
    if angle:
        m = cv2.getRotationMatrix2D((120, 120), angle, 1.0)
        img = cv2.warpAffine(img, m, (240, 240), borderValue=(120, 120, 120))
        kps = [tuple(m @ np.array([x, y, 1.0])) for x, y in kps]
    return img, tuple(kps)


def test_patch_is_centred_below_the_eyes_on_the_nose_and_upright_when_the_head_tilts():
    img, kps = face_frame()
    patch = nose_patch(img, kps, 64)
    assert patch.shape == (64, 64, 3)
    red = np.argwhere((patch[:, :, 2] > 200) & (patch[:, :, 1] < 80))
    cy, cx = red.mean(axis=0)
    assert abs(cx - 32) < 3 and 32 < cy < 48  # the nose tip: centred across, in the lower half
    tilted = nose_patch(*face_frame(25.0), 64)
    # the same patch, whatever the head's roll (up to interpolation)
    assert np.abs(tilted.astype(int) - patch.astype(int)).mean() < 12
    # a big face is shrunk by area averaging first, and still lands in the same place
    big = cv2.resize(img, None, fx=4, fy=4, interpolation=cv2.INTER_LINEAR)
    big_patch = nose_patch(big, tuple((x * 4, y * 4) for x, y in kps), 64)
    assert np.abs(big_patch.astype(int) - patch.astype(int)).mean() < 12


def test_no_patch_without_keypoints_or_with_collapsed_eyes():
    img, kps = face_frame()
    assert nose_patch(img, (), 64) is None
    assert nose_patch(img, kps[:2], 64) is None
    assert nose_patch(img, ((100, 100), (100.5, 100), (100, 120)), 64) is None


def test_a_face_classifier_is_not_a_nose_model():
    with pytest.raises(KioskError, match="labels mask .covered. and no_mask .bare."):
        NoseCheck(ROOT / "models" / "mask_classifier.tflite")


class FixedNose:
    """The nose check's interface with given answers: tests the rule that combines the two models."""

    def __init__(self, p_bare: float, threshold: float = 0.5) -> None:
        self.p_bare, self.threshold, self.calls = p_bare, threshold, 0

    def bare(self, frame, detections):
        self.calls += 1
        return [self.p_bare] * len(detections)


def masked_face_frame() -> tuple[np.ndarray, Detection]:
    """A public-domain portrait (the demo's astronaut) with a drawn mask, and its detection."""
    from tools.data import facemesh as fm
    from tools.data import mask_drawing as md
    from tools.demo.make_demo_clip import load_sources

    img = load_sources()["A"]
    pts = fm.find_face_landmarks(img, fm.FaceMesh(num_threads=1))
    frame = md.draw_mask(img, pts, "correct", "surgical", rng=np.random.default_rng(0))
    cfg = Config()
    cfg.classifier.nose_model = ""
    analyzer = build_analyzer(cfg)
    dets = analyzer.detect(frame)
    faces, _ = analyzer.classify(frame, dets)
    assert [f.label for f in faces] == ["mask"]  # without the nose check
    return frame, dets[0]


@pytest.mark.parametrize("p_bare, label", [(0.9, "incorrect"), (0.2, "mask")])
def test_a_bare_nose_turns_mask_into_incorrect_and_only_then(p_bare: float, label: str):
    frame, det = masked_face_frame()
    cfg = Config()
    base = build_analyzer(cfg)
    nose = FixedNose(p_bare)
    analyzer = FaceAnalyzer(base.detector, base.classifier, 1, cfg.detector.margin, 4, nose)
    faces, _ = analyzer.classify(frame, [det])
    assert nose.calls == 1 and [f.label for f in faces] == [label]
    if label == "incorrect":
        assert faces[0].score == pytest.approx(0.9) and faces[0].mask_prob <= 0.1 + 1e-6


def test_faces_not_called_mask_are_not_looked_at():
    cfg = Config()
    base = build_analyzer(cfg)
    nose = FixedNose(0.9)
    analyzer = FaceAnalyzer(base.detector, base.classifier, 1, cfg.detector.margin, 4, nose)
    img, kps = face_frame()
    det = Detection((40, 40, 160, 160), 0.9, kps)
    faces, _ = analyzer.classify(img, [det])
    if faces and faces[0].label == "mask":
        pytest.skip("the drawn face was called mask")
    assert nose.calls == 0


@pytest.mark.skipif(not NOSE_MODEL.is_file(), reason="models/nose_check.tflite not built")
def test_shipped_nose_model_loads_and_answers_per_detection():
    nose = NoseCheck(NOSE_MODEL)
    img, kps = face_frame()
    out = nose.bare(img, [Detection((40, 40, 160, 160), 0.9, kps), Detection((0, 0, 10, 10), 0.5, ())])
    assert out[1] is None and 0.0 <= out[0] <= 1.0
    assert build_analyzer(Config()).nose is not None  # on by default

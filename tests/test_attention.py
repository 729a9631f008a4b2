"""Pay for each person once (kiosk/vision/attention.py): the same decisions with fewer classifier runs.
Real models, the demo and bystander clips, MockFactory pins."""

from __future__ import annotations

import cv2
import pytest

from kiosk.config import Config
from kiosk.door.decision import FaceVerdict
from kiosk.pipeline import Kiosk
from kiosk.vision.analysis import build_analyzer
from kiosk.vision.attention import Attention
from kiosk.vision.detector import Detection
from kiosk.vision.tracking import Zone
from tests.conftest import DEMO_CLIP, recorded_config
from tools.demo import make_bystander_clip as clip

FRAME = (640, 480)


def verdict(label: str, box, p: float = 0.95) -> FaceVerdict:
    return FaceVerdict(label, p, p if label == "mask" else 0.02, box)


def test_a_settled_verdict_stands_in_only_where_its_person_still_stands():
    att = Attention(Zone(min_face_px=40, near=0.6), "ignore", FRAME, [verdict("mask", (100, 100, 120, 120))])
    moved_a_little = att.reuse((108, 104, 118, 122))
    assert moved_a_little is not None and moved_a_little.label == "mask" and moved_a_little.box == (108, 104, 118, 122)
    assert att.reuse((300, 100, 120, 120)) is None  # someone else, elsewhere
    assert Attention(Zone(), "ignore", FRAME).reuse((100, 100, 120, 120)) is None  # nobody settled


def test_bystanders_need_no_verdict_only_under_the_ignore_policy():
    boxes = [(260, 170, 120, 120), (20, 60, 60, 60), (450, 150, 90, 90)]  # front, far behind, close
    assert Attention(Zone(min_face_px=40, near=0.6), "ignore", FRAME).needed(boxes) == [True, False, True]
    assert Attention(Zone(min_face_px=40, near=0.6), "hold", FRAME).needed(boxes) == [True] * 3
    assert Attention(Zone(min_face_px=40), "ignore", FRAME).needed([(0, 0, 36, 36)]) == [True]  # nobody at the gate
    assert Attention(Zone(min_face_px=40), "ignore", FRAME).needed([(0, 0, 36, 36), (300, 100, 90, 90)]) == [False, True]


def replay(factory, tmp_path, source, fps, attention: bool, **zone):
    cfg = recorded_config(tmp_path, source, fps)
    cfg.classifier.attention = attention
    cfg.detector.full_every = 1  # the whole frame every frame, as without attention (tests/test_follow.py: windows)
    for key, value in zone.items():
        setattr(cfg.zone, key, value)
    with Kiosk(cfg, pin_factory=factory) as kiosk:
        summary = kiosk.run(max_seconds=90)
        analyzer = kiosk.analyzer
    seen = [(e["decision"], e["reason"], e["track"], e["faces"][0]["box"] if e["faces"] else None)
            for e in summary.decisions]
    return seen, analyzer


def test_the_demo_clip_decides_the_same_with_fewer_classifier_runs(factory, tmp_path):
    fps = 10.0
    plain, a0 = replay(factory, tmp_path / "plain", DEMO_CLIP, fps, attention=False)
    factory.reset()
    lean, a1 = replay(factory, tmp_path / "lean", DEMO_CLIP, fps, attention=True)
    assert ("open", "mask") in [s[:2] for s in plain] and ("deny", "no_mask") in [s[:2] for s in plain]
    assert lean == plain
    assert a0.reused == a0.skipped == 0
    assert a1.reused > 0  # people standing through their cooldown kept their verdict
    assert a1.classified + a1.reused + a1.skipped == a0.classified
    assert a1.classified < 0.8 * a0.classified


@pytest.fixture(scope="module")
def bystander_clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("bystander")
    assert clip.main(["-o", str(out)]) == 0
    return out / "bystander.avi"


def test_a_bystander_far_behind_is_not_classified_and_nothing_changes(factory, tmp_path, bystander_clip):
    plain, a0 = replay(factory, tmp_path / "plain", bystander_clip, clip.FPS, attention=False)
    factory.reset()
    lean, a1 = replay(factory, tmp_path / "lean", bystander_clip, clip.FPS, attention=True)
    assert lean == plain and plain and all(s[:2] == ("open", "mask") for s in plain)
    assert a1.skipped >= clip.BYSTANDER_FRAMES // 2  # he was seen, and left alone


def test_when_the_front_box_is_a_detector_mistake_the_next_face_is_classified_after_all():
    # the widest box is a patch of the empty entrance (called not_face); the real face beside it, narrower
    # than zone.near x that box, looked like a bystander at first but is the person in front
    cap = cv2.VideoCapture(str(DEMO_CLIP))
    frames = [cap.read()[1] for _ in range(21)]  # storyboard: frame 0 the empty entrance, 20 person A unmasked
    cap.release()
    frame = frames[0].copy()
    head = cv2.resize(frames[20][97:330, 199:440], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    frame[200:200 + head.shape[0], 450:450 + head.shape[1]] = head  # the face, ~90 px wide now
    analyzer = build_analyzer(Config())
    [face] = analyzer.detect(frame)
    wall = Detection((10, 10, 2 * face.box[2], 2 * face.box[2]), 0.9)
    everything, _ = analyzer.classify(frame, [wall, face])
    assert [v.label for v in everything] == ["no_mask"]  # the wall box was dropped as not_face
    analyzer.attention = Attention(Zone(min_face_px=40, near=0.6), "ignore", (frame.shape[1], frame.shape[0]))
    lean, _ = analyzer.classify(frame, [wall, face])
    assert lean == everything and analyzer.skipped == 0


def test_with_nobody_at_the_gate_the_faces_in_view_are_still_seen(factory, tmp_path, bystander_clip):
    # nobody is wide enough to be at the gate: no face decides, but the screen must still learn that
    # someone is there ("Please step closer", kiosk/web/presence.py), so their verdicts are not skipped
    _, lean = replay(factory, tmp_path, bystander_clip, clip.FPS, attention=True, min_face_px=400)
    assert lean.classified > clip.FRAMES and lean.skipped == 0

"""Following tracked people in windows instead of searching the whole frame every frame
(detector.full_every, kiosk/vision/yunet.py's follow, kiosk/vision/analysis.py). Real YuNet, the demo clip."""

from __future__ import annotations

import cv2
import pytest

from kiosk.config import Config
from kiosk.pipeline import Kiosk
from kiosk.vision.analysis import build_analyzer
from tests.conftest import DEMO_CLIP, recorded_config


def demo_frame(index: int):
    cap = cv2.VideoCapture(str(DEMO_CLIP))
    for _ in range(index + 1):
        ok, frame = cap.read()
    cap.release()
    assert ok
    return frame


def test_a_window_finds_the_followed_face_where_it_was_and_nothing_where_nobody_is():
    frame = demo_frame(70)  # storyboard: person A with a mask
    detector = build_analyzer(Config()).detector
    [face] = detector.detect(frame)
    x, y, w, h = face.box
    moved = (x + w // 8, y - h // 10, w, h)  # where she was a frame or two ago
    before = detector.pixels
    [again] = detector.follow(frame, [moved])
    assert detector.pixels - before == detector._window_side ** 2  # one window, not the frame
    ax, ay, aw, ah = again.box
    assert abs(ax - x) < 0.15 * w and abs(ay - y) < 0.15 * h and 0.8 < aw / w < 1.25
    assert len(again.keypoints) == 4
    assert detector.follow(frame, [(20, 20, w, h)]) == []  # an empty corner of the entrance
    assert detector.follow(frame, []) is None  # nobody to follow: the whole frame it is
    many = [(i, 0, 40, 40) for i in range(0, 640, 20)]
    assert detector.follow(frame, many) is None  # windows dearer than one whole-frame pass


def run(factory, tmp_path, full_every: int):
    cfg = recorded_config(tmp_path, DEMO_CLIP, 10.0)
    cfg.detector.full_every = full_every
    with Kiosk(cfg, pin_factory=factory) as kiosk:
        summary = kiosk.run(max_seconds=90)
        analyzer = kiosk.analyzer
    return summary, analyzer


def test_following_decides_the_demo_clip_as_whole_frames_do_for_a_third_less_work(factory, tmp_path):
    every, a1 = run(factory, tmp_path / "every", 1)
    factory.reset()
    follow, a3 = run(factory, tmp_path / "follow", 3)
    assert every.frames == follow.frames == 195
    assert a1.full_passes == every.frames
    assert a3.full_passes < 0.7 * follow.frames
    assert a3.detector.pixels < 0.75 * a1.detector.pixels
    got = [(e["decision"], e["reason"]) for e in follow.decisions]
    assert got == [(e["decision"], e["reason"]) for e in every.decisions]
    assert ("open", "mask") in got and ("deny", "no_mask") in got and ("deny", "incorrect") in got


@pytest.mark.parametrize("bad", [0, 31])
def test_full_every_out_of_range_is_refused(bad):
    from kiosk.config import from_dict
    from kiosk.errors import KioskError

    with pytest.raises(KioskError, match="detector.full_every"):
        from_dict({"detector": {"full_every": bad}})

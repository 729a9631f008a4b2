"""A face cut by the frame's edge (detector.max_cut): half in view, it neither opens nor shuts the gate.

Real YuNet and classifier on the astronaut photo (public domain) moved down a 640x480 frame until the bottom
edge cuts the face: YuNet still boxes the whole face, reaching past the edge. The face is classified and
reported, but as a bystander: alone it decides nothing, beside a masked visitor it does not hold the gate.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from kiosk.config import Config
from kiosk.door.decision import FaceVerdict
from kiosk.vision.analysis import build_analyzer
from kiosk.vision.detector import share_inside
from kiosk.vision.tracking import PersonDecider, Zone, zoned_frame_decision


def _frame(drop_px: int) -> np.ndarray:
    """The astronaut at 480x480 in a grey 640x480 frame, moved down by `drop_px` (its lower part cut off)."""
    img = cv2.resize(data.astronaut()[:, :, ::-1], (480, 480), interpolation=cv2.INTER_AREA)
    f = np.full((480, 640, 3), 128, np.uint8)
    f[drop_px:, 64:544] = img[: 480 - drop_px]
    return f


def test_share_inside_is_the_more_cut_axis():
    assert share_inside(10, 10, 50, 50, 100, 100) == 1.0
    assert share_inside(-20, 10, 20, 50, 100, 100) == pytest.approx(0.5)  # half its width left of the frame
    assert share_inside(10, 80, 50, 120, 100, 100) == pytest.approx(0.5)  # half its height below it
    assert share_inside(-10, 70, 30, 110, 100, 100) == pytest.approx(0.75)  # both: the worse axis counts
    assert share_inside(200, 10, 240, 50, 100, 100) == 0.0


@pytest.fixture(scope="module")
def analyzers():
    cut = Config()
    whole = Config()
    whole.detector.max_cut = 1.0
    return build_analyzer(cut), build_analyzer(whole)


def test_a_face_cut_by_the_frame_edge_is_a_bystander_and_a_whole_one_is_judged(analyzers):
    cut, off = analyzers
    assert Config().detector.max_cut == 0.3
    zone = Zone.of(Config())
    half = _frame(360)  # the bottom edge runs through the mouth
    found = cut.detect(half)
    assert len(found) == 1 and found[0].inside < 0.7 and found[0].box[2] >= 80  # a large face, boxed past the edge
    faces, _ = cut.analyse(half)
    assert len(faces) == 1 and not faces[0].whole and faces[0].box == found[0].box  # reported, not dropped
    assert faces[0].label != "mask"  # the astronaut wears none: a whole face like it would deny
    assert zoned_frame_decision(faces, 0.7, zone, "ignore", (640, 480)) == "none"
    # a masked visitor in the picture is not held by it; under `hold` a bad bystander still holds the gate
    visitor = FaceVerdict("mask", 0.99, 0.99, (300, 60, 100, 110))
    assert zoned_frame_decision([visitor, faces[0]], 0.7, zone, "ignore", (640, 480)) == "open"
    assert zoned_frame_decision([visitor, faces[0]], 0.7, zone, "hold", (640, 480)) == "deny"
    # with the rule off it is a face at the gate like any other, and denies
    whole_faces, _ = off.analyse(half)
    assert len(whole_faces) == 1 and whole_faces[0].whole
    assert zoned_frame_decision(whole_faces, 0.7, zone, "ignore", (640, 480)) == "deny"
    # the same face whole, or cut a little, is judged
    for drop in (300, 330):
        faces, _ = cut.analyse(_frame(drop))
        assert len(faces) == 1 and faces[0].whole
        assert zoned_frame_decision(faces, 0.7, zone, "ignore", (640, 480)) == "deny"


def test_the_daemon_neither_opens_nor_denies_for_a_face_cut_by_the_frame_edge(analyzers):
    cut, _ = analyzers
    cfg = Config()
    decider = PersonDecider.of(cfg)
    half = _frame(360)
    for i in range(cfg.decision.n + 2):
        faces, _ = cut.analyse(half)
        assert decider.update(i / cfg.camera.fps, faces, (640, 480)) == []
    assert not decider.present
    # the visitor steps into the picture: now judged (no mask: denied within n frames)
    whole = _frame(300)
    got = []
    for i in range(cfg.decision.n):
        faces, _ = cut.analyse(whole)
        got += decider.update((cfg.decision.n + 2 + i) / cfg.camera.fps, faces, (640, 480))
    assert [d.decision for d in got] == ["deny"]

"""A face cut by the frame's edge (detector.max_cut): half in view, it neither opens nor shuts the gate.

Real YuNet and classifier on the astronaut photo (public domain) moved down a 640x480 frame until the bottom
edge cuts the face: YuNet still boxes the whole face, reaching past the edge, and the analyser drops it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from kiosk.config import Config
from kiosk.vision.analysis import build_analyzer
from kiosk.vision.detector import share_inside
from kiosk.vision.tracking import Zone, zoned_frame_decision


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


def test_a_face_cut_by_the_frame_edge_is_not_judged_and_a_whole_one_is(analyzers):
    cut, off = analyzers
    assert Config().detector.max_cut == 0.3
    half = _frame(360)  # the bottom edge runs through the mouth
    found = off.detector.detect(half)
    assert len(found) == 1 and found[0].inside < 0.7 and found[0].box[2] >= 80  # a large face, boxed past the edge
    assert cut.detect(half) == []
    faces, _ = cut.analyse(half)
    assert faces == [] and zoned_frame_decision(faces, 0.7, Zone.of(Config()), "ignore", (640, 480)) == "none"
    # with the rule off it is classified like any face
    assert len(off.analyse(half)[0]) == 1
    # the same face whole, or cut a little, is judged
    for drop in (300, 330):
        dets = cut.detect(_frame(drop))
        assert len(dets) == 1 and dets[0].inside >= 0.7
        assert len(cut.analyse(_frame(drop))[0]) == 1

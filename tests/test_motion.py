"""The motion gate (kiosk/vision/motion.py): the periodic whole-frame pass waits while nothing moves away
from the followed faces, and comes at once when something does. Real YuNet, frames of the demo clip."""

from __future__ import annotations

import numpy as np

from kiosk.config import Config
from kiosk.vision.analysis import build_analyzer
from kiosk.vision.attention import attention_for
from kiosk.vision.motion import MotionGate
from tests.test_follow import demo_frame


def noisy(frame: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """The frame as a camera gives it again a moment later: sensor noise on every pixel."""
    rng = np.random.default_rng(seed)
    return np.clip(frame + rng.normal(0.0, sigma, frame.shape), 0, 255).astype(np.uint8)


def test_noise_is_not_motion_but_a_newcomer_is_and_the_followed_face_is_left_out():
    frame = demo_frame(70)  # person A with a mask
    face = (217, 133, 189, 150)  # where YuNet finds her (tests/test_follow.py)
    gate = MotionGate(12)
    assert gate.moved(frame, [face])  # nothing remembered yet: search
    gate.remember(frame)
    assert not gate.moved(noisy(frame, 4.0, 1), [face])
    assert not gate.moved(frame, [])
    someone = frame.copy()
    someone[300:420, 20:110] = (someone[300:420, 20:110] * 0.4).astype(np.uint8)  # a dark coat at the edge
    assert gate.moved(someone, [face])
    nodding = frame.copy()
    nodding[150:260, 240:380] = 255 - nodding[150:260, 240:380]  # the followed face itself changes
    assert not gate.moved(nodding, [face])
    assert gate.moved(nodding, [])  # ... which is motion when nobody is followed there
    assert gate.moved(frame[:240], [face])  # another frame size: search


def full_passes(threshold: int, frames: list[np.ndarray]) -> int:
    cfg = Config()
    cfg.detector.motion_threshold = threshold
    analyzer = build_analyzer(cfg)
    analyzer.attention = attention_for(cfg)
    analyzer.attention.frame_size = (frames[0].shape[1], frames[0].shape[0])
    for frame in frames:
        assert len(analyzer.detect(frame)) == 1  # the followed face is found on every frame, passes or not
    return analyzer.full_passes


def test_a_still_visitor_gets_a_whole_frame_pass_only_every_still_every_frames():
    still = [noisy(demo_frame(70), 3.0, i) for i in range(30)]
    cfg = Config()
    assert (cfg.detector.full_every, cfg.detector.still_every) == (3, 15)
    assert full_passes(12, still) == 2  # frames 0 and 15
    assert full_passes(0, still) == 10  # without the gate: every third frame


def test_motion_away_from_the_visitor_brings_the_whole_frame_pass_back():
    base = demo_frame(70)
    frames = []
    for i in range(30):
        f = noisy(base, 3.0, i)
        if i >= 10:  # from frame 10 someone walks about at the left edge
            x = 20 + 8 * (i - 10)
            f[300:420, x:x + 90] = (f[300:420, x:x + 90] * 0.4).astype(np.uint8)
        frames.append(f)
    # frame 0, then as soon as the motion begins (10) and every third frame while it lasts (13, 16 ... 28)
    assert full_passes(12, frames) == 8

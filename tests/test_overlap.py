"""Overlapped analysis (detect frame t+1 while classifying frame t): the same verdicts and decisions
as one frame at a time, one frame later. Real models, the demo clip. (Faults with and without overlap:
tests/test_failclosed.py.)"""

from __future__ import annotations

import pytest

from kiosk import config as C
from kiosk.bench.scenarios import _read_clip_frames
from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.pipeline import Kiosk
from kiosk.vision.analysis import build_analyzer
from kiosk.vision.overlap import OverlappedAnalyzer
from tests.test_failclosed import levels
from tests.test_pipeline import demo_cfg

CLIP_FRAMES = 195  # the demo clip's length (tests/test_pipeline.py checks it)


def clip_frames(step: int = 5) -> list:
    frames = _read_clip_frames(set(range(0, CLIP_FRAMES, step)))
    return [frames[i] for i in sorted(frames)]


def summary(verdicts) -> list[tuple]:
    return [(v.label, round(v.score, 6), round(v.mask_prob, 6), v.box, round(v.det_score, 6)) for v in verdicts]


@pytest.fixture(scope="module")
def analyzer():
    return build_analyzer(Config())


def test_same_verdicts_one_frame_later(analyzer):
    frames = clip_frames()
    expected = [summary(analyzer.analyse(f)[0]) for f in frames]
    assert sum(1 for e in expected if e) >= len(frames) // 2  # the clip has faces in most of these frames
    ov = OverlappedAnalyzer(analyzer)
    got, stamps, stages = [], [], set()
    try:
        for i, f in enumerate(frames):
            done = ov.push(f, i, timing=lambda k, ms: stages.add(k))
            if i == 0:
                assert done is None  # nothing before the first frame
            else:
                got.append(summary(done.verdicts))
                stamps.append(done.stamp)
        last = ov.flush()
        got.append(summary(last.verdicts))
        stamps.append(last.stamp)
        assert ov.flush() is None
    finally:
        ov.close()
    assert got == expected
    assert stamps == list(range(len(frames)))
    assert stages == {"detect", "preprocess", "classify"}


def test_detector_error_is_raised_by_the_next_push(analyzer):
    frames = clip_frames(40)
    ov = OverlappedAnalyzer(analyzer)
    real = analyzer.detector.detect

    def broken(frame):
        raise RuntimeError("detector broke")

    try:
        ov.push(frames[0])
        analyzer.detector.detect = broken
        ov.push(frames[1])  # frame 0 was detected before the break: its result comes back
        with pytest.raises(RuntimeError, match="detector broke"):
            ov.push(frames[2])  # frame 1's detection failed
    finally:
        analyzer.detector.detect = real
        ov.close()


def run_demo(factory, tmp_path, overlap: bool):
    cfg = demo_cfg(None, tmp_path)
    cfg.detector.overlap = overlap
    kiosk = Kiosk(cfg, pin_factory=factory)
    assert (kiosk.overlap is not None) == overlap
    summary = kiosk.run(max_seconds=60)
    relay = levels(factory.pin(cfg.gpio.relay_pin))
    return summary, relay


def test_demo_clip_gives_the_same_decisions_with_overlap(factory, tmp_path):
    seq, seq_relay = run_demo(factory, tmp_path / "seq", False)
    factory.reset()
    ovl, ovl_relay = run_demo(factory, tmp_path / "ovl", True)
    assert seq.exit_reason == ovl.exit_reason == "end of stream"
    assert seq.frames == ovl.frames == 195  # the clip's last frame is flushed, not lost
    kinds = [(d["decision"], d["reason"], [f["label"] for f in d["faces"]]) for d in seq.decisions]
    assert kinds == [(d["decision"], d["reason"], [f["label"] for f in d["faces"]]) for d in ovl.decisions]
    assert ("open", "mask", ["mask"]) in kinds and kinds[-1][:2] == ("deny", "incorrect")
    assert seq_relay == ovl_relay == [0] + [1, 0] * seq.count("open")


def test_overlap_setting_is_checked():
    assert Config().detector.overlap is True
    with pytest.raises(KioskError, match="detector.overlap"):
        C.from_dict({"detector": {"overlap": "yes"}})

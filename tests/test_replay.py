"""A recorded source is decided on its own timeline (frame index / camera.fps), so a replay gives the
same decisions and relay timeline however fast the loop runs; live sources keep the wall clock.
Real models, the demo clip, MockFactory pins."""

from __future__ import annotations

import time

from kiosk.capture.camera import CameraSupervisor, OpenCVCamera
from kiosk.pipeline import Kiosk
from tests.conftest import DEMO_CLIP
from tests.test_failclosed import levels
from tests.test_pipeline import FPS, demo_cfg, high_phases

SLOW_READ_S = 0.1  # per frame: at most 10 fps, 3x slower than the FPS replay


class SlowClip(OpenCVCamera):
    """The demo clip, read as a file, with every frame taking SLOW_READ_S longer (a slow machine)."""

    def __init__(self) -> None:
        super().__init__(str(DEMO_CLIP), 640, 480, FPS, finite=True)

    def read(self):
        time.sleep(SLOW_READ_S)
        return super().read()


def replay(factory, tmp_path, slow: bool):
    cfg = demo_cfg(None, tmp_path)
    supervisor = CameraSupervisor(SlowClip(), cfg.camera) if slow else None
    kiosk = Kiosk(cfg, pin_factory=factory, supervisor=supervisor)
    seen: list[tuple[str, str, float]] = []
    update = kiosk.decider.update

    def record(now, faces, frame_size=None):
        ds = update(now, faces, frame_size)
        seen.extend((d.decision, d.reason, round(now, 3)) for d in ds)
        return ds

    kiosk.decider.update = record
    t0 = time.monotonic()
    summary = kiosk.run(max_seconds=60)
    wall = time.monotonic() - t0
    relay = factory.pin(cfg.gpio.relay_pin)
    return summary, seen, levels(relay), high_phases(relay), wall, cfg


def test_slow_replay_gives_the_same_decisions_and_relay_timeline(factory, tmp_path):
    normal, n_seen, n_relay, _, n_wall, cfg = replay(factory, tmp_path / "normal", slow=False)
    factory.reset()
    slow, s_seen, s_relay, s_high, s_wall, _ = replay(factory, tmp_path / "slow", slow=True)
    print(f"normal {n_wall:.1f} s: {n_seen} relay {n_relay}\nslow {s_wall:.1f} s: {s_seen} relay {s_relay}")
    assert normal.frames == slow.frames == 195
    assert s_wall > 2.5 * 195 / FPS  # the slow run really was slower than the clip's real time
    assert [d[:2] for d in n_seen] == [d[:2] for d in s_seen]
    assert ("open", "mask") in [d[:2] for d in n_seen] and n_seen[0][:2] == ("deny", "no_mask")
    assert n_seen == s_seen  # decided at the same media times
    assert n_relay == s_relay == [0] + [1, 0] * normal.count("open")
    # 0.5 s of clip is 1.5 s of the slow run: the wall-clock safety timer closes the relay first
    assert all(cfg.decision.max_open_seconds - 0.05 <= p <= cfg.decision.max_open_seconds + 0.2 for p in s_high)


def test_live_sources_give_no_media_time(tmp_path):
    """USB index, stream URL and picamera2 are live: no media time, decided on the wall clock."""
    from kiosk.capture.camera import FolderCamera, Picamera2Camera, make_camera
    from kiosk.config import Config

    cfg = Config().camera
    for source in ("0", "rtsp://192.0.2.1/stream", "http://192.0.2.1/mjpg", "picamera2", "auto"):
        cfg.source = source
        assert not CameraSupervisor(make_camera(cfg, lambda s: tmp_path / s), cfg).recorded, source
    assert not Picamera2Camera(640, 480, 15.0).finite
    cfg.source, cfg.fps, cfg.realtime = "demo", 20.0, False
    assert CameraSupervisor(make_camera(cfg, lambda s: tmp_path / s), cfg).recorded
    folder = make_camera(Config().camera.__class__(source="frames"), lambda s: tmp_path)
    assert isinstance(folder, FolderCamera) and CameraSupervisor(folder, cfg).recorded
    # the same clip read as if it were a live camera (tests/test_failclosed.py's FaultyCamera)
    live = CameraSupervisor(OpenCVCamera(str(DEMO_CLIP), 640, 480, 20.0, finite=False), cfg)
    recorded = CameraSupervisor(make_camera(cfg, lambda s: tmp_path / s), cfg)
    try:
        for _ in range(3):
            assert live.read() is not None and recorded.read() is not None
            assert live.frame_time is None
        assert recorded.frame_time == 2 / 20.0  # frame index / camera.fps
    finally:
        live.close()
        recorded.close()


def test_folder_media_time_keeps_counting_across_reopens(tmp_path):
    import cv2
    import numpy as np

    from kiosk.capture.camera import FolderCamera

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((32, 32, 3), 40 * i, np.uint8))
    cfg = demo_cfg(None, tmp_path).camera
    cfg.fps, cfg.realtime, cfg.reopen_min_s, cfg.on_end = 4.0, False, 0.01, "reopen"
    sup = CameraSupervisor(FolderCamera(tmp_path), cfg)
    times = []
    deadline = time.monotonic() + 5
    while len(times) < 6 and time.monotonic() < deadline:
        if sup.read() is not None:
            times.append(sup.frame_time)
    sup.close()
    assert times == [i / 4.0 for i in range(6)]  # on_end "reopen": the loop goes on, never back

"""A recording played in a loop (camera.on_end = "reopen": a showroom stand, `demo --loop`) is no camera
fault at its end; a recording that is really gone still is one. Real clip, real daemon, real HTTP."""

from __future__ import annotations

import logging
import shutil
import threading

import cv2
from gpiozero.pins.mock import MockFactory, MockPWMPin

from kiosk.capture.camera import CameraSupervisor, FolderCamera
from kiosk.config import Config
from kiosk.demo import demo_config
from kiosk.pipeline import Kiosk
from tests.conftest import recorded_config
from tests.test_pipeline import short_clip
from tests.webclient import get, wait_until

CLIP_FPS = 10.0
CLIP_FRAMES = 30  # 3 s of recording at CLIP_FPS


def loop_cfg(tmp_path, source) -> Config:
    cfg = recorded_config(tmp_path, source, CLIP_FPS)
    cfg.camera.on_end = "reopen"
    cfg.camera.realtime = False  # media time keeps the 3 s per pass; the test need not wait for them
    cfg.camera.reopen_min_s = 0.05
    cfg.web.enabled = True
    cfg.web.port = 0
    return cfg


def test_a_looped_clip_keeps_healthz_200_and_logs_no_camera_fault(tmp_path, caplog):
    clip = short_clip(tmp_path / "three-seconds.mp4", CLIP_FRAMES)
    kiosk = Kiosk(loop_cfg(tmp_path, clip), pin_factory=MockFactory(pin_class=MockPWMPin))
    web = next(o for o in kiosk.outputs if o.name == "web")
    codes: list[int] = []
    caplog.set_level(logging.INFO)
    run = threading.Thread(target=kiosk.run, kwargs={"max_seconds": 120})
    run.start()
    try:
        wait_until(lambda: kiosk.supervisor.frames > 0, timeout=60)
        while kiosk.supervisor.loops < 5 and run.is_alive():  # /healthz asked all along, across every end
            codes.append(get(web.port, "/healthz")[0])
        codes.append(get(web.port, "/healthz")[0])
    finally:
        kiosk.stop_event.set()
        run.join(30)
    assert kiosk.supervisor.loops >= 5 and kiosk.supervisor.frames >= 5 * CLIP_FRAMES
    assert codes and set(codes) == {200}
    assert kiosk.supervisor.failures == 0 and kiosk.summary.camera_failures == 0
    assert kiosk.stats.counters["camera_failures"] == 0
    camera_faults = [r.getMessage() for r in caplog.records
                     if r.name.startswith("kiosk") and r.levelno >= logging.WARNING and "camera" in r.getMessage()]
    assert camera_faults == []
    # media time goes on across the passes: a loop never goes back in time
    assert kiosk.supervisor.frame_time == (kiosk.supervisor.frames - 1) / CLIP_FPS


def test_a_looped_clip_that_is_gone_is_a_camera_fault(tmp_path):
    clip = tmp_path / "clip.mp4"
    short_clip(clip, CLIP_FRAMES)
    kiosk = Kiosk(loop_cfg(tmp_path, clip), pin_factory=MockFactory(pin_class=MockPWMPin))
    web = next(o for o in kiosk.outputs if o.name == "web")
    run = threading.Thread(target=kiosk.run, kwargs={"max_seconds": 120})
    run.start()
    try:
        wait_until(lambda: kiosk.supervisor.loops >= 1, timeout=60)
        clip.unlink()  # the file is lost: the next end cannot open it again
        code, _, body = wait_until(lambda: (lambda r: r[0] == 503 and r)(get(web.port, "/healthz")), timeout=60)
        assert b"camera" in body
        assert "cannot open" in kiosk.state_payload()["camera_fault"]
        assert kiosk.summary.camera_failures == 1 and kiosk.supervisor.failures >= 1
    finally:
        kiosk.stop_event.set()
        run.join(30)


def _folder(tmp_path, n: int):
    folder = tmp_path / "frames"
    folder.mkdir()
    cap = cv2.VideoCapture(short_clip(tmp_path / "src.mp4", n))
    for i in range(n):
        ok, img = cap.read()
        assert ok
        cv2.imwrite(str(folder / f"{i:03d}.jpg"), img)
    cap.release()
    return folder


def test_a_folder_loops_without_a_fault_and_an_emptied_one_is_a_fault(tmp_path):
    folder = _folder(tmp_path, 3)
    cfg = loop_cfg(tmp_path, folder).camera
    sup = CameraSupervisor(FolderCamera(folder), cfg)
    frames = [sup.read() for _ in range(10)]
    assert all(f is not None for f in frames) and sup.loops == 3 and sup.fault is None and sup.failures == 0
    for _ in range(2):
        assert sup.read() is not None
    shutil.rmtree(folder)
    assert sup.read() is None  # the pass ends; the folder is gone
    assert sup.fault and "folder not found" in sup.fault and sup.failures == 1


def test_a_recording_that_opens_but_has_no_frame_is_a_fault_not_a_busy_loop(tmp_path):
    folder = tmp_path / "unreadable"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"not a jpeg")  # listed, so it opens; unreadable, so no frame
    sup = CameraSupervisor(FolderCamera(folder), loop_cfg(tmp_path, folder).camera)
    assert sup.read() is None
    assert sup.fault and "ended without a frame" in sup.fault and sup.failures == 1 and sup.loops == 0


def test_demo_loop_plays_the_clip_again(tmp_path):
    assert demo_config(tmp_path, None, loop=True).camera.on_end == "reopen"
    assert demo_config(tmp_path, None).camera.on_end == "exit"

"""/live, the installer's view (kiosk/web/live.py, issue 13), with a real HTTP client against the real
server: MJPEG parts that decode as JPEG and show the zone and the faces drawn, the frame-rate cap, the
viewer cap, loopback only unless configured (a request from this machine's LAN address stands for
another machine), and nothing done in the frame loop (no encoding, not even a reference) while nobody
watches. Last, the daemon on the demo clip feeds it through the pipeline's frame hook."""

from __future__ import annotations

import socket
import threading
import time

import cv2
import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

import kiosk.web.live as live_mod
from kiosk.config import from_dict
from kiosk.door.decision import FaceVerdict
from kiosk.errors import KioskError
from kiosk.pipeline import Kiosk
from kiosk.web import WebOutput
from kiosk.web.live import LABEL_BGR, ZONE_BGR, is_loopback_peer
from tests.test_web import MODEL, TOKEN, web_cfg
from tests.webclient import Live, get, wait_until

W, H = 640, 480
GREY = 90
FACE = FaceVerdict(label="no_mask", score=0.93, mask_prob=0.05, box=(300, 200, 80, 80))


def live_cfg(tmp_path, **web):
    cfg = web_cfg(tmp_path, **web)
    cfg.zone.x0, cfg.zone.y0, cfg.zone.x1, cfg.zone.y1 = 0.25, 0.25, 0.75, 0.75
    return cfg


class Feeder:
    """The frame loop's part: a plain grey frame and one face, handed to on_frame at `fps`."""

    def __init__(self, out: WebOutput, fps: float = 30.0) -> None:
        self.out, self.period = out, 1.0 / fps
        self.frame = np.full((H, W, 3), GREY, np.uint8)
        self.calls = 0
        self.slowest = 0.0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="feeder", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            t0 = time.perf_counter()
            self.out.on_frame(self.frame, [FACE])
            self.slowest = max(self.slowest, time.perf_counter() - t0)
            self.calls += 1

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)


@pytest.fixture
def fed(tmp_path):
    out = WebOutput(live_cfg(tmp_path, live_fps=20.0), MODEL)
    out.start()
    feeder = Feeder(out)
    yield out, feeder
    feeder.stop()
    out.close()


def decode(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a JPEG"
    return img


def near(pixel: np.ndarray, bgr: tuple[int, int, int], tol: int = 60) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(bgr)) <= tol))


def lan_address() -> str | None:
    """This machine's address on its default route (not loopback), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # UDP: nothing is sent, only the route is looked up
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if is_loopback_peer(addr) else addr


def test_live_sends_jpeg_frames_with_the_zone_and_the_faces_drawn(fed):
    out, feeder = fed
    stream = Live(out.port)
    assert stream.response.status == 200
    assert stream.response.getheader("Content-Type").startswith("multipart/x-mixed-replace; boundary=")
    assert stream.response.getheader("Cache-Control") == "no-store"
    assert stream.response.getheader("Cross-Origin-Resource-Policy") == "same-origin"
    for _ in range(3):
        img = decode(stream.next())
    stream.close()
    assert img.shape == (H, W, 3)
    # the zone (x0 0.25 .. x1 0.75 of 640, y0 .. y1 of 480): its border is cyan, the rest of the frame grey
    assert near(img[H // 2, W // 4 + 1], ZONE_BGR), img[H // 2, W // 4 + 1]
    assert near(img[H // 4 + 1, W // 2 - 80], ZONE_BGR)
    assert near(img[H * 3 // 4 - 2, W // 2 - 80], ZONE_BGR)
    assert near(img[H // 2, W // 8], (GREY, GREY, GREY), 12)  # outside the zone, nothing drawn
    # the face's box in its label's colour (no_mask: red), its inside untouched
    x, y, w, h = FACE.box
    assert near(img[y + h // 2, x + 1], LABEL_BGR["no_mask"]) and near(img[y + h, x + w // 2], LABEL_BGR["no_mask"])
    assert near(img[y + h // 2, x + w // 2], (GREY, GREY, GREY), 12)
    # the camera's own array is never drawn on
    assert (feeder.frame == GREY).all()


def test_live_is_capped_at_live_fps(tmp_path):
    with WebOutput(live_cfg(tmp_path, live_fps=4.0), MODEL) as out:
        out.start()
        feeder = Feeder(out, fps=50.0)
        stream = Live(out.port)
        stream.next()
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < 2.0:
            stream.next()
            n += 1
        stream.close()
        feeder.stop()
    assert 4 <= n <= 9, n  # 2 s at 4 fps: 8 (+1 at the edge), however fast the frames come


def test_nobody_watching_costs_the_frame_loop_nothing(tmp_path, monkeypatch):
    encodes: list[str] = []
    real = cv2.imencode

    def counting(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        encodes.append(threading.current_thread().name)
        return real(*a, **kw)

    monkeypatch.setattr(live_mod.cv2, "imencode", counting)
    with WebOutput(live_cfg(tmp_path, live_fps=20.0), MODEL) as out:
        out.start()
        feeder = Feeder(out, fps=100.0)
        wait_until(lambda: feeder.calls >= 50)
        # no viewer: no encoding, and not even a reference to a frame with faces in it
        assert encodes == [] and out.live.encoded == 0 and out.live._frame is None  # noqa: SLF001
        stream = Live(out.port)
        stream.next()
        stream.next()
        assert encodes and "feeder" not in encodes  # encoded on the server's thread, never the loop's
        stream.close()
        wait_until(lambda: out.status()["live_clients"] == 0)
        assert out.live._frame is None and out.live._jpeg is None  # noqa: SLF001 - dropped with the last viewer
        n = out.live.encoded
        calls = feeder.calls
        wait_until(lambda: feeder.calls >= calls + 50)
        assert out.live.encoded == n
        feeder.stop()
    assert feeder.slowest < 0.05, feeder.slowest  # on_frame never waits for an encoding
    # nothing of it on disk: the state directory holds the event log only
    assert {p.name for p in (tmp_path / "state").rglob("*") if p.is_file()} <= {"web-events.jsonl"}


def test_live_viewers_are_bounded(tmp_path):
    with WebOutput(live_cfg(tmp_path, live_max_clients=1), MODEL) as out:
        out.start()
        feeder = Feeder(out)
        first = Live(out.port)
        first.next()
        code, _, body = get(out.port, "/live")
        assert code == 503 and b"too many live viewers" in body
        first.close()
        wait_until(lambda: out.status()["live_clients"] == 0)
        again = Live(out.port)
        assert again.response.status == 200 and decode(again.next()).shape == (H, W, 3)
        again.close()
        feeder.stop()
    with WebOutput(live_cfg(tmp_path, live_max_clients=0), MODEL) as out:
        out.start()
        assert get(out.port, "/live")[0] == 404 and out.live is None


def test_live_is_for_this_machine_only_unless_live_remote(tmp_path):
    addr = lan_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback address to stand for another machine")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with WebOutput(live_cfg(tmp_path, host="0.0.0.0"), MODEL, token=TOKEN) as out:
        out.start()
        feeder = Feeder(out)
        refused = Live(out.port, headers=auth, host=addr)
        assert refused.response.status == 403 and b"this machine only" in refused.response.read()
        refused.close()
        assert out.status()["refused_live"] == 1
        status = Live(out.port, "/status", headers=auth, host=addr)  # the rest is served to the LAN
        assert status.response.status == 200
        status.close()
        local = Live(out.port, headers=auth)  # this machine's own browser, with the token
        assert local.response.status == 200 and decode(local.next()) is not None
        local.close()
        feeder.stop()
    with WebOutput(live_cfg(tmp_path, host="0.0.0.0", live_remote=True), MODEL, token=TOKEN) as out:
        out.start()
        feeder = Feeder(out)
        assert Live(out.port, host=addr).response.status == 401  # still the token
        remote = Live(out.port, headers=auth, host=addr)
        assert remote.response.status == 200 and decode(remote.next()).shape == (H, W, 3)
        remote.close()
        feeder.stop()


def test_live_remote_needs_a_token():
    with pytest.raises(KioskError, match=r"^config key 'web.live_remote': needs web.token_file"):
        from_dict({"web": {"enabled": True, "live_remote": True}})
    assert from_dict({"web": {"live_remote": True, "host": "0.0.0.0", "token_file": "/t"}}).web.live_remote


def test_is_loopback_peer():
    for a in ("127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"):
        assert is_loopback_peer(a), a
    for a in ("192.168.1.5", "10.0.0.1", "::ffff:10.0.0.1", "fe80::1%eth0", "", "localhost", "0.0.0.0"):
        assert not is_loopback_peer(a), a


@pytest.mark.parametrize("overlap", [True, False])
def test_the_daemon_feeds_live_from_its_frame_loop(tmp_path, overlap):
    cfg = web_cfg(tmp_path, live_fps=10.0)
    cfg.detector.overlap = overlap
    kiosk = Kiosk(cfg, pin_factory=MockFactory(pin_class=MockPWMPin))
    web = next(o for o in kiosk.outputs if o.name == "web")
    seen: list[tuple[int, int]] = []
    hook = web.on_frame

    def recording(frame, faces):  # noqa: ANN001, ANN202
        seen.append((frame.shape[1], len(faces)))
        hook(frame, faces)

    kiosk._frame_hooks = [recording]  # noqa: SLF001
    run = threading.Thread(target=kiosk.run, kwargs={"max_seconds": 60})
    run.start()
    try:
        stream = wait_until(lambda: _try(lambda: Live(web.port)))
        frames = [decode(stream.next()) for _ in range(3)]
        while not any(n for _, n in seen) and len(frames) < 200:  # the clip's first frames have no face
            frames.append(decode(stream.next()))
        stream.close()
    finally:
        kiosk.stop_event.set()
        run.join(30)
    assert all(f.shape[:2] == frames[0].shape[:2] for f in frames)
    assert len(seen) == kiosk.summary.frames and any(n for _, n in seen)  # every analysed frame, faces with it


def _try(make):
    try:
        return make()
    except OSError:
        return None

"""The screen between decisions (issue 34, item 2), read off the real /events/stream with a real HTTP
client while the test plays the frame loop: WebOutput.on_frame gets a frame and its FaceVerdicts, as
kiosk/pipeline.py hands them, and the stream says idle, closer (faces, none at the gate) or checking
(someone at the gate), settled, a fault over all of them, and nothing about a face but that word."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from kiosk.door.decision import FaceVerdict
from kiosk.vision.tracking import Zone
from kiosk.web import WebOutput
from kiosk.web.presence import SETTLE_S, Presence, presence_view
from tests.test_web import MODEL, event, web_cfg
from tests.webclient import Stream

W, H = 640, 480
FRAME = np.zeros((H, W, 3), np.uint8)
MIN_FACE = 80
# The zone: the middle half of the frame, faces at least MIN_FACE wide.
AT_GATE = FaceVerdict("no_mask", 0.9, 0.1, (270, 170, 100, 120))
SMALL = FaceVerdict("mask", 0.9, 0.9, (300, 200, 40, 48))  # in the region, too narrow
OFF_SIDE = FaceVerdict("mask", 0.9, 0.9, (10, 170, 100, 120))  # wide enough, centred left of the region


def zoned_cfg(tmp_path):
    cfg = web_cfg(tmp_path)
    cfg.zone.x0, cfg.zone.x1, cfg.zone.y0, cfg.zone.y1 = 0.25, 0.75, 0.0, 1.0
    cfg.zone.min_face_px = MIN_FACE
    cfg.decision.deny_seconds = 1.5
    return cfg


@pytest.fixture
def out(tmp_path):
    web = WebOutput(zoned_cfg(tmp_path), MODEL)
    web.start()
    web.publish_state({"gate": "closed", "mode": "auto", "faults": [], "model": MODEL})
    web.health()
    yield web
    web.close()


def play(web: WebOutput, faces: list[FaceVerdict], seconds: float, fps: float = 20.0) -> None:
    """Hand the output frames with these faces for `seconds`, as the frame loop would."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        web.on_frame(FRAME, faces)
        time.sleep(1 / fps)


class Reader:
    """Every message of one stream, collected on a thread (beats included), with its arrival time."""

    def __init__(self, port: int) -> None:
        self.stream = Stream(port)
        self.messages: list[tuple[float, dict]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                msg = self.stream.next(timeout=60)
                self.messages.append((time.monotonic(), msg))
        except (AssertionError, AttributeError, OSError, ValueError):  # closed under it
            return

    def views(self) -> list[str]:
        return [m["view"] for _, m in self.messages if m["kind"] == "state"]

    def wait_for(self, pred, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(self):
                return
            time.sleep(0.02)
        raise AssertionError(f"not seen in {timeout} s: {self.views()}")

    def close(self) -> None:
        self.stream.close()
        self._thread.join(5)


def test_the_views_follow_who_is_in_front_of_the_camera():
    zone = Zone(0.25, 0.0, 0.75, 1.0, MIN_FACE)
    assert presence_view([], zone, (W, H)) == "idle"
    assert presence_view([SMALL], zone, (W, H)) == "closer"
    assert presence_view([OFF_SIDE], zone, (W, H)) == "closer"
    assert presence_view([SMALL, OFF_SIDE, AT_GATE], zone, (W, H)) == "checking"
    # a face cut by the frame's edge (detector.max_cut) is decided on by nobody: not "checking"
    cut = dataclasses.replace(AT_GATE, whole=False)
    assert presence_view([cut], zone, (W, H)) == "idle"
    assert presence_view([cut, SMALL], zone, (W, H)) == "closer"


def test_a_view_is_pushed_once_it_has_settled_and_never_on_a_flicker():
    p = Presence(Zone(0.25, 0.0, 0.75, 1.0, MIN_FACE), settle_s=0.3)
    assert p.see([AT_GATE], (W, H), 10.0) is None  # one frame is not yet someone at the gate
    assert p.see([AT_GATE], (W, H), 10.2) is None
    assert p.see([AT_GATE], (W, H), 10.31) == "checking"
    assert p.see([AT_GATE], (W, H), 10.4) is None  # changes only
    pushed = [p.see([] if i % 2 else [AT_GATE], (W, H), 11.0 + i * 0.05) for i in range(60)]
    assert pushed == [None] * 60 and p.view == "checking"  # a face the detector drops every other frame
    assert p.see([], (W, H), 14.0) is None
    assert p.see([], (W, H), 14.3) == "idle"


def test_the_stream_says_step_closer_then_checking_then_idle(out):
    r = Reader(out.port)
    try:
        r.wait_for(lambda r: r.views() == ["idle"])  # what a screen that connects is told first
        play(out, [SMALL], 0.8)
        r.wait_for(lambda r: r.views()[-1:] == ["closer"])
        play(out, [OFF_SIDE], 0.8)  # wide enough but off to the side: still not at the gate
        play(out, [SMALL, AT_GATE], 0.8)
        r.wait_for(lambda r: r.views()[-1:] == ["checking"])
        play(out, [], 0.8)
        r.wait_for(lambda r: r.views()[-1:] == ["idle"])
        assert r.views() == ["idle", "closer", "checking", "idle"]
        # Privacy: a state or beat message is the view's word and nothing else (no box, score, image).
        for _, msg in r.messages:
            assert set(msg) <= {"kind", "view"} and msg["kind"] in ("state", "beat"), msg
    finally:
        r.close()


def test_changes_are_rate_limited_however_the_faces_come_and_go(out):
    r = Reader(out.port)
    try:
        r.wait_for(lambda r: r.views() == ["idle"])
        # A face lost every other frame, then every 4th, for 2 s: nothing that held for SETTLE_S.
        for n in (2, 4):
            end = time.monotonic() + 1.0
            i = 0
            while time.monotonic() < end:
                out.on_frame(FRAME, [] if i % n == 0 else [AT_GATE])
                i += 1
                time.sleep(0.02)
        play(out, [AT_GATE], 0.1)  # still too short to settle
        assert r.views() == ["idle"]
        # Changing as fast as anything can settle, for 3 s: at most 1/SETTLE_S state messages a second.
        start = time.monotonic()
        k = 0
        while time.monotonic() - start < 3.0:
            play(out, [[SMALL], [AT_GATE], []][k % 3], SETTLE_S + 0.05)
            k += 1
        states = [t for t, m in r.messages if m["kind"] == "state" and t >= start]
        assert 3 <= len(states) <= 3.0 / SETTLE_S + 1, len(states)
    finally:
        r.close()


def test_a_fault_is_shown_over_presence_and_presence_returns_with_the_camera(out):
    r = Reader(out.port)
    try:
        play(out, [AT_GATE], 0.6)
        r.wait_for(lambda r: r.views()[-1:] == ["checking"])
        out.publish_state({"gate": "closed", "mode": "auto", "faults": ["camera"], "model": MODEL})
        play(out, [SMALL], 0.8)  # presence changes underneath: the screen still asks for staff
        r.wait_for(lambda r: r.views()[-1:] == ["fault"])
        after = r.views()[r.views().index("fault"):]
        assert set(after) == {"fault"}, after
        out.publish_state({"gate": "closed", "mode": "auto", "faults": [], "model": MODEL})
        r.wait_for(lambda r: r.views()[-1:] == ["closer"])  # what the camera sees now, not the stale checking
    finally:
        r.close()


def test_a_decision_keeps_its_own_message_and_the_state_goes_on_beneath_it(out):
    r = Reader(out.port)
    try:
        play(out, [AT_GATE], 0.6)
        out.publish_event(event("deny", "incorrect"))
        play(out, [], 0.6)
        r.wait_for(lambda r: r.views()[-1:] == ["idle"])
        kinds = [(m["kind"], m.get("view")) for _, m in r.messages if m["kind"] != "beat"]
        assert kinds[-3:] == [("state", "checking"), ("decision", "incorrect"), ("state", "idle")], kinds
    finally:
        r.close()


def test_a_quiet_stream_beats_at_least_every_second_and_the_page_counts_on_it(out):
    from kiosk.web import screen

    r = Reader(out.port)
    try:
        r.wait_for(lambda r: sum(m["kind"] == "beat" for _, m in r.messages) >= 4, timeout=10)
        times = [t for t, _ in r.messages]
        gaps = [b - a for a, b in zip(times, times[1:])]
        # A gap as long as the page's watchdog waits would show a living kiosk as out of order.
        assert max(gaps) < screen.OFFLINE_AFTER_MS / 1000, gaps
    finally:
        r.close()

"""Snapshots are an output (kiosk/messages/snapshots.py): built only when enabled, the only output the frame
loop hands face crops to, and the one that passes the deciding face on to the outputs that show one."""

from __future__ import annotations

import os
from contextlib import ExitStack

import cv2
import numpy as np

from kiosk.door.decision import Decision, FaceVerdict, Outcome, Reason
from kiosk.messages.snapshots import SnapshotOutput
from kiosk.parts import build_outputs
from kiosk.pipeline import Kiosk
from tests.conftest import RecordingOutput
from tests.test_mqtt import MODEL
from tests.test_pipeline import demo_cfg


def crop(value: int, size: int = 48) -> np.ndarray:
    return np.full((size, size, 3), value, np.uint8)


class FaceViewer(RecordingOutput):
    """An output that shows the deciding face (as MQTT does for Home Assistant's image entity)."""

    def __init__(self) -> None:
        super().__init__("viewer")
        self.faces: list[tuple[str, bytes]] = []

    def publish_face(self, event_id: str, jpeg: bytes) -> None:
        self.faces.append((event_id, jpeg))


def test_crops_are_written_by_event_and_index_and_the_deciding_one_handed_on(tmp_path):
    cfg = demo_cfg(None, tmp_path)
    cfg.snapshots.enabled = True
    viewer = FaceViewer()
    out = SnapshotOutput(cfg, [viewer.publish_face])
    out.on_crops("ev-1", [crop(10), crop(200)], crop(200))
    folder = tmp_path / "state" / "snapshots"
    assert sorted(p.name for p in folder.glob("*.jpg")) == ["ev-1-0.jpg", "ev-1-1.jpg"]
    [(event_id, jpeg)] = viewer.faces
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert event_id == "ev-1" and img.shape == (48, 48, 3) and abs(int(img.mean()) - 200) <= 2
    out.on_crops("ev-2", [crop(30)], None)  # no deciding face: kept, not shown
    assert len(viewer.faces) == 1 and (folder / "ev-2-0.jpg").is_file()
    assert out.status() == {"written": 3} and out.health() is None


def test_only_the_newest_keep_files_stay(tmp_path):
    cfg = demo_cfg(None, tmp_path)
    cfg.snapshots.enabled = True
    cfg.snapshots.keep = 3
    out = SnapshotOutput(cfg)
    folder = tmp_path / "state" / "snapshots"
    for i in range(5):
        out.on_crops(f"ev-{i}", [crop(i)], None)
        os.utime(folder / f"ev-{i}-0.jpg", (1000 + i, 1000 + i))  # mtimes a second apart, whatever the fs
    assert sorted(p.name for p in folder.glob("*.jpg")) == ["ev-2-0.jpg", "ev-3-0.jpg", "ev-4-0.jpg"]


def test_closed_it_writes_nothing(tmp_path):
    cfg = demo_cfg(None, tmp_path)
    with SnapshotOutput(cfg) as out:
        pass
    assert out.closed
    out.on_crops("late", [crop(1)], crop(1))
    assert not (tmp_path / "state" / "snapshots").exists()


def test_build_outputs_adds_it_last_only_when_enabled_with_the_face_viewers(tmp_path):
    cfg = demo_cfg(1883, tmp_path)  # MQTT on: it shows faces (nothing connects before start)
    with ExitStack() as stack:
        assert [o.name for o in build_outputs(cfg, MODEL, stack)] == ["mqtt"]
    cfg.snapshots.enabled = True
    with ExitStack() as stack:
        mqtt, snaps = build_outputs(cfg, MODEL, stack)
        assert snaps.name == "snapshots" and snaps.viewers == [mqtt.publish_face]
    assert snaps.closed  # the stack closes it with the others


def face_decision(face: FaceVerdict) -> Decision:
    return Decision(Outcome.OPEN, Reason.MASK, (face,))


def test_the_loop_hands_crops_only_to_the_snapshots_output(factory, tmp_path):
    cfg = demo_cfg(None, tmp_path)
    face = FaceVerdict(label="mask", score=0.99, mask_prob=0.99, box=(10, 20, 48, 48))
    other = FaceVerdict(label="mask", score=0.95, mask_prob=0.95, box=(300, 20, 48, 48))
    # without it (snapshots off): an output able to show faces gets none, and nothing is stored
    viewer = FaceViewer()
    with Kiosk(cfg, pin_factory=factory, outputs=[viewer]) as kiosk:
        kiosk._act(face_decision(face), 1.0, 5.0, [crop(1), crop(2)], [other, face])  # noqa: SLF001
    assert viewer.events and viewer.faces == []
    assert not list(tmp_path.rglob("*.jpg"))
    # with it: every crop stored, the deciding person's crop (the second face) shown
    factory.reset()
    cfg.snapshots.enabled = True
    viewer = FaceViewer()
    with Kiosk(cfg, pin_factory=factory, outputs=[viewer, SnapshotOutput(cfg, [viewer.publish_face])]) as kiosk:
        kiosk._act(face_decision(face), 1.0, 5.0, [crop(1), crop(250)], [other, face])  # noqa: SLF001
    [event] = viewer.events
    stored = sorted(p.name for p in (tmp_path / "state" / "snapshots").glob("*.jpg"))
    assert stored == [f"{event['id']}-0.jpg", f"{event['id']}-1.jpg"]
    [(event_id, jpeg)] = viewer.faces
    assert event_id == event["id"]
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).mean() > 240

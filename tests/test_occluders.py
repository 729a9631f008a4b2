"""Things over the face that are not a worn mask (tools/demo/occluder_sheet.py): a hand, a cup, a sheet of paper,
a book or a scarf over nose and mouth of a public-domain portrait must not open the gate."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("skimage")
pytest.importorskip("matplotlib")

from tools.demo import occluder_sheet  # noqa: E402


def test_no_covering_over_the_face_opens_the_gate(tmp_path):
    verdicts = occluder_sheet.make_sheet(tmp_path / "sheet.png")
    assert (tmp_path / "sheet.png").stat().st_size > 10_000
    # every view was found and classified, and the bare faces are seen as unmasked
    assert all(len(v) == 6 for v in verdicts.values()), verdicts
    assert verdicts["as is"] == ["no_mask"] * 6
    for occ in occluder_sheet.MUST_NOT_OPEN:
        assert "mask" not in verdicts[occ] and "none" not in verdicts[occ], (occ, verdicts[occ])


def write_covered_frames(folder: Path, occluders: tuple[str, ...] = ("paper", "book")) -> Path:
    """An image-folder camera's frames: per occluder, a person holding it over nose and mouth for 6
    frames, then 6 empty ones (they walk away before the next one comes). Also the visitor screen's
    `covered` view in tests/test_web_browser.py."""
    import cv2

    from tools.data import facemesh as fm
    from tools.demo.synth_sheet import portrait_views

    folder.mkdir(parents=True)
    mesh = fm.FaceMesh(num_threads=1)
    name, img = portrait_views()[0]
    pts = fm.find_face_landmarks(img, mesh)
    n = 0
    for occ in occluders:
        covered = occluder_sheet.DRAW[occ](img, pts)
        for frame in [covered] * 6 + [img[:40, :40]] * 6:
            cv2.imwrite(str(folder / f"{n:04d}.png"), frame)
            n += 1
    return folder


def test_daemon_denies_paper_and_a_book_with_the_covered_reason(factory, tmp_path):
    """The real daemon, image-folder camera, real models, MockFactory pins: a person holding a sheet of
    paper, then a book, over nose and mouth is denied as `covered`, and the relay never closes its contact."""
    from kiosk.pipeline import Kiosk
    from tests.conftest import recorded_config

    folder = write_covered_frames(tmp_path / "frames")
    cfg = recorded_config(tmp_path, folder, fps=100.0)
    kiosk = Kiosk(cfg, pin_factory=factory)
    summary = kiosk.run(max_seconds=60)
    assert summary.exit_reason == "end of stream"
    assert [(d["decision"], d["reason"]) for d in summary.decisions] == [("deny", "covered")] * 2
    assert kiosk._stats_payload()["counters"]["denied_covered"] == 2
    relay = factory.pin(cfg.gpio.relay_pin)
    assert not [s for s in relay.states if s.state], relay.states

"""Things over the face that are not a worn mask (tools/occluder_sheet.py): a hand, a cup, a sheet of paper,
a book or a scarf over nose and mouth of a public-domain portrait must not open the gate."""

from __future__ import annotations

import pytest

pytest.importorskip("skimage")
pytest.importorskip("matplotlib")

from tools import occluder_sheet  # noqa: E402


def test_no_covering_over_the_face_opens_the_gate(tmp_path):
    verdicts = occluder_sheet.make_sheet(tmp_path / "sheet.png")
    assert (tmp_path / "sheet.png").stat().st_size > 10_000
    # every view was found and classified, and the bare faces are seen as unmasked
    assert all(len(v) == 6 for v in verdicts.values()), verdicts
    assert verdicts["as is"] == ["no_mask"] * 6
    for occ in occluder_sheet.MUST_NOT_OPEN:
        assert "mask" not in verdicts[occ] and "none" not in verdicts[occ], (occ, verdicts[occ])


def test_daemon_denies_paper_and_a_book_with_the_covered_reason(factory, tmp_path):
    """The real daemon, image-folder camera, real models, MockFactory pins: a person holding a sheet of
    paper, then a book, over nose and mouth is denied as `covered`, and the relay never closes its contact."""
    import cv2

    from kiosk.pipeline import Kiosk
    from tests.conftest import recorded_config
    from tools import synth_masks as sm
    from tools.synth_sheet import portrait_views

    folder = tmp_path / "frames"
    folder.mkdir()
    mesh = sm.FaceMesh(num_threads=1)
    name, img = portrait_views()[0]
    pts = sm.find_face_landmarks(img, mesh)
    n = 0
    for occ in ("paper", "book"):
        covered = occluder_sheet.DRAW[occ](img, pts)
        for _ in range(6):  # a person stands at the gate for a while ...
            cv2.imwrite(str(folder / f"{n:04d}.png"), covered)
            n += 1
        for _ in range(6):  # ... and walks away before the next one comes
            cv2.imwrite(str(folder / f"{n:04d}.png"), img[:40, :40])
            n += 1
    cfg = recorded_config(tmp_path, folder, fps=100.0)
    kiosk = Kiosk(cfg, pin_factory=factory)
    summary = kiosk.run(max_seconds=60)
    assert summary.exit_reason == "end of stream"
    assert [(d["decision"], d["reason"]) for d in summary.decisions] == [("deny", "covered")] * 2
    assert kiosk._stats_payload()["counters"]["denied_covered"] == 2
    relay = factory.pin(cfg.gpio.relay_pin)
    assert not [s for s in relay.states if s.state], relay.states

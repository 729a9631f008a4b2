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

"""tools/data/make_negatives.py: not_face crops from face-free scenes, with a manifest that groups splits."""

from __future__ import annotations

import cv2
import numpy as np

from tools.data import make_negatives as mn


def test_writes_crops_and_a_manifest_without_the_held_out_photo(tmp_path, capsys):
    photos = tmp_path / "entrance"
    photos.mkdir()
    rng = np.random.default_rng(1)
    cv2.imwrite(str(photos / "empty_door.png"), mn.procedural_scene(rng, [np.full((480, 640, 3), 90, np.uint8)]))
    assert mn.main([str(photos), "-o", str(tmp_path / "out"), "--scenes", "6", "--seed", "3"]) == 0
    files = sorted((tmp_path / "out" / "not_face").glob("*.jpg"))
    rows = (tmp_path / "out" / "manifest.tsv").read_text().splitlines()
    assert rows[0].split("\t") == ["output", "source", "source_sha256"]
    listed = {r.split("\t")[0] for r in rows[1:]}
    assert listed == {f"not_face/{f.name}" for f in files} and len(files) >= 6
    sources = {r.split("\t")[1] for r in rows[1:]}
    assert str(photos / "empty_door.png") in sources  # the user's own photos are used
    assert any(s.startswith("procedural:") for s in sources)
    assert "skimage:text" not in sources  # held out: it is the check, not training data
    for f in files[:20]:
        img = cv2.imread(str(f))
        assert img is not None and min(img.shape[:2]) >= 20
    assert "where the detector fired" in capsys.readouterr().out


def test_missing_photo_folder_is_refused(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit) as e:
        mn.main([str(tmp_path / "nope"), "-o", str(tmp_path / "out")])
    assert e.value.code == 2
    assert "photo folder not found" in capsys.readouterr().err

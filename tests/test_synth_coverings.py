"""Look-alike coverings (tools/data/synth_coverings.py) land over nose and mouth: checked on scikit-image's astronaut."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tools.data import facemesh as fm
from tools.data import synth_coverings as sc

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astronaut() -> tuple[np.ndarray, np.ndarray]:
    img = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)
    pts = fm.find_face_landmarks(img, fm.FaceMesh())
    assert pts is not None
    return img, pts


def _changed(a: np.ndarray, b: np.ndarray, xy, r: int = 3) -> float:
    x, y = int(round(xy[0])), int(round(xy[1]))
    return float(np.abs(a[y - r:y + r + 1, x - r:x + r + 1].astype(float) - b[y - r:y + r + 1, x - r:x + r + 1]).mean())


@pytest.mark.parametrize("kind", sc.KINDS)
def test_every_kind_covers_nose_tip_or_mouth_and_leaves_the_eyes(astronaut, kind: str) -> None:
    img, pts = astronaut
    out = sc.draw_covering(img, pts, kind, np.random.default_rng(1))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert _changed(img, out, pts[fm.UPPER_LIP_INNER]) > 15  # the mouth is hidden
    if kind not in ("cup",):  # a cup is held in front of mouth and chin only
        assert _changed(img, out, pts[fm.NOSE_TIP]) > 10
    for eye in (fm.RIGHT_EYE[1], fm.LEFT_EYE[0]):
        assert _changed(img, out, pts[eye]) < 8
    # seeded: the same drawing again, and the input untouched
    again = sc.draw_covering(img, pts, kind, np.random.default_rng(1))
    assert np.array_equal(out, again)


def test_unknown_kind_is_refused(astronaut) -> None:
    with pytest.raises(ValueError, match="unknown covering 'mug'"):
        sc.draw_covering(*astronaut, "mug", np.random.default_rng(0))


def test_cli_writes_covered_class_with_source_hashes(tmp_path: Path, astronaut, capsys) -> None:
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "astro.png"), astronaut[0])
    cv2.imwrite(str(src / "flat.png"), np.full((100, 100, 3), 128, np.uint8))
    out = tmp_path / "out"
    assert sc.main([str(src), "-o", str(out), "--variants", "3", "--kinds", "paper,book"]) == 0
    assert "written 3" in capsys.readouterr().out
    rows = [r.split("\t") for r in (out / "manifest.tsv").read_text().strip().splitlines()]
    assert rows[0] == ["output", "source", "source_sha256", "kind"]
    for rel, source, sha, kind in rows[1:]:
        assert rel.startswith("covered/") and (out / rel).is_file() and kind in ("paper", "book") and len(sha) == 64
    # tools/training/dataset.py reads the folder as the `covered` class, split by the source photo
    from tools.training import dataset as D

    assert set(D.read_manifest(out).values()) == {rows[1][2]}
    assert sc.main([str(src), "-o", str(out), "--kinds", "paper,mug"]) == 2
    assert "--kinds 'paper,mug'" in capsys.readouterr().err

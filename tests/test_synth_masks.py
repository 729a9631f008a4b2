"""Synthetic masks land where each style says: checked on scikit-image's astronaut (public domain)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tools.data import facemesh as fm
from tools.data import mask_drawing as md
from tools.data import mask_shape as ms
from tools.data import synth_masks as sm

skimage_data = pytest.importorskip("skimage.data")

# A colour far from any skin tone, so "changed" cannot be confused with "drawn skin-coloured".
BLUE = (210, 150, 60)


@pytest.fixture(scope="module")
def astronaut() -> tuple[np.ndarray, np.ndarray]:
    img = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)
    mesh = fm.FaceMesh()
    pts = fm.find_face_landmarks(img, mesh)
    assert pts is not None, "FaceMesh found no face on the astronaut photo"
    return img, pts


def _patch_diff(a: np.ndarray, b: np.ndarray, xy: np.ndarray, r: int = 2) -> float:
    x, y = int(round(xy[0])), int(round(xy[1]))
    pa = a[y - r : y + r + 1, x - r : x + r + 1].astype(np.float32)
    pb = b[y - r : y + r + 1, x - r : x + r + 1].astype(np.float32)
    return float(np.abs(pa - pb).mean())


def test_landmarks_inside_face(astronaut: tuple[np.ndarray, np.ndarray]) -> None:
    img, pts = astronaut
    assert pts.shape == (468, 2)
    # Eileen Collins' face in the 512x512 astronaut photo lies roughly in x 150-300, y 40-230.
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    assert 140 < lo[0] and hi[0] < 310 and 30 < lo[1] and hi[1] < 240, (lo, hi)
    # Anatomy in order: eyes above the nose tip above the mouth above the chin.
    eyes_y = pts[[33, 263]][:, 1].mean()
    assert eyes_y < pts[fm.NOSE_TIP][1] < pts[fm.UPPER_LIP_INNER][1] < pts[fm.CHIN_TIP][1]
    assert hi[0] - lo[0] > 80  # a face, not a collapsed point cloud


def _mouth(pts: np.ndarray) -> np.ndarray:
    return (pts[fm.UPPER_LIP_INNER] + pts[fm.LOWER_LIP_INNER]) / 2


@pytest.mark.parametrize("mask_type", ms.MASK_TYPES)
def test_correct_covers_nose_and_mouth_not_eyes(astronaut, mask_type: str) -> None:
    img, pts = astronaut
    out = md.draw_mask(img, pts, "correct", mask_type, BLUE, np.random.default_rng(1))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert _patch_diff(img, out, pts[fm.NOSE_TIP]) > 20
    assert _patch_diff(img, out, _mouth(pts)) > 20
    assert _patch_diff(img, out, pts[fm.CHIN_TIP] * 0.6 + pts[fm.CHIN_MID] * 0.4) > 20
    for eye in (pts[list(fm.RIGHT_EYE)].mean(axis=0), pts[list(fm.LEFT_EYE)].mean(axis=0)):
        assert _patch_diff(img, out, eye, r=3) < 1.0


@pytest.mark.parametrize("mask_type", ms.MASK_TYPES)
def test_nose_style_leaves_nose_tip_covers_mouth(astronaut, mask_type: str) -> None:
    img, pts = astronaut
    out = md.draw_mask(img, pts, "nose", mask_type, BLUE, np.random.default_rng(2))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert _patch_diff(img, out, pts[fm.NOSE_TIP], r=1) < 2.0
    assert _patch_diff(img, out, _mouth(pts)) > 20
    for eye in (pts[list(fm.RIGHT_EYE)].mean(axis=0), pts[list(fm.LEFT_EYE)].mean(axis=0)):
        assert _patch_diff(img, out, eye, r=3) < 1.0


@pytest.mark.parametrize("mask_type", ms.MASK_TYPES)
def test_chin_style_leaves_mouth_and_nose(astronaut, mask_type: str) -> None:
    img, pts = astronaut
    out = md.draw_mask(img, pts, "chin", mask_type, BLUE, np.random.default_rng(3))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert _patch_diff(img, out, _mouth(pts), r=1) < 2.0
    assert _patch_diff(img, out, pts[fm.NOSE_TIP], r=1) < 1.0
    assert _patch_diff(img, out, pts[fm.CHIN_TIP] * 0.7 + pts[fm.CHIN_MID] * 0.3) > 20


def test_deterministic_and_input_untouched(astronaut) -> None:
    img, pts = astronaut
    before = img.copy()
    a = md.draw_mask(img, pts, "correct", "cloth", None, np.random.default_rng(7))
    b = md.draw_mask(img, pts, "correct", "cloth", None, np.random.default_rng(7))
    assert np.array_equal(a, b)
    assert np.array_equal(img, before)


def test_bad_arguments(astronaut) -> None:
    img, pts = astronaut
    with pytest.raises(ValueError):
        md.draw_mask(img, pts, "forehead", "surgical")
    with pytest.raises(ValueError):
        md.draw_mask(img, pts, "correct", "scarf")


def test_pose_and_visibility_checks(astronaut) -> None:
    img, pts = astronaut
    assert abs(fm.face_yaw(pts)) < 0.2  # a frontal portrait
    for style in ms.STYLES:
        assert ms.mask_visible_fraction(img.shape, pts, style, "surgical") > 0.99
    # A crop that ends just below the mouth hides a chin mask but shows most of a correct one.
    bottom = int(pts[fm.LOWER_LIP_BOTTOM][1]) + 3
    cropped = img[:bottom]
    assert ms.mask_visible_fraction(cropped.shape, pts, "chin", "surgical") < 0.3
    assert ms.mask_visible_fraction(cropped.shape, pts, "correct", "surgical") > 0.4


def test_cli_writes_dataset_and_counts_skips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "astro.jpg"), cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR))
    (src / "broken.jpg").write_bytes(b"not an image")
    cv2.imwrite(str(src / "flat.png"), np.full((120, 120, 3), 128, np.uint8))  # no face in it
    out = tmp_path / "out"
    assert sm.main([str(src), "-o", str(out), "--variants", "3", "--seed", "5"]) == 0
    report = capsys.readouterr().out
    assert "inputs 3" in report and "written 3" in report
    assert "unreadable 1" in report and "no face 1" in report
    rows = (out / "manifest.tsv").read_text().strip().splitlines()
    assert rows[0].split("\t")[:5] == ["output", "source", "source_sha256", "style", "mask_type"]
    assert len(rows) == 1 + 3
    for row in rows[1:]:
        rel, source, sha, style, mtype = row.split("\t")[:5]
        assert (out / rel).is_file() and source.endswith("astro.jpg") and len(sha) == 64
        assert rel.split("/")[0] == sm.STYLE_CLASS[style] and mtype in ms.MASK_TYPES


def test_pairs_are_the_same_mask_over_and_below_the_nose(tmp_path: Path, astronaut) -> None:
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "astro.png"), astronaut[0])
    out = tmp_path / "out"
    assert sm.main([str(src), "-o", str(out), "--pairs", "--variants", "2", "--seed", "3"]) == 0
    rows = [r.split("\t") for r in (out / "manifest.tsv").read_text().strip().splitlines()[1:]]
    assert len(rows) == 4
    for good, bad in (rows[0:2], rows[2:4]):
        assert good[3] == "correct" and bad[3] in ("nose", "chin")
        assert good[2] == bad[2] and good[4:] == bad[4:]  # same photo, mask type and colour
        a, b = (cv2.imread(str(out / r[0])) for r in (good, bad))
        # identical away from the face: only where the mask sits differs
        assert np.abs(a[:40].astype(int) - b[:40].astype(int)).max() <= 2
        assert _patch_diff(a, b, astronaut[1][fm.NOSE_TIP]) > 10  # the nose: covered in one, bare in the other
    # --pairs needs a wrong style to pair with
    with pytest.raises(SystemExit):
        sm.main([str(src), "-o", str(out), "--pairs", "--styles", "correct", "--weights", "1"])


def test_contact_sheet_of_public_domain_faces(tmp_path):
    from tools.demo import synth_sheet

    out = tmp_path / "sheet.jpg"
    assert synth_sheet.main(["-o", str(out)]) == 0
    sheet = cv2.imread(str(out))
    # header + (caption + tiles) for 2 portraits x 3 tilts; one landmark tile + 9 masks per row
    assert sheet.shape[1] == synth_sheet.TILE * 10
    assert sheet.shape[0] == 18 + 6 * (18 + synth_sheet.TILE)


def test_shipped_model_on_masks_drawn_on_unseen_faces(tmp_path, capsys):
    """Two public-domain portraits (never training data) x 3 tilts, each bare and with 9 drawn masks:
    the kiosk's detector + shipped classifier must give the expected label (no_mask / mask /
    incorrect) on nearly all 60 (57 when this was written; the misses were chin masks called no_mask)."""
    import re

    from tools.demo import synth_sheet

    assert synth_sheet.main(["-o", str(tmp_path / "sheet.png"), "--classify"]) == 0
    m = re.search(r"kiosk verdicts: (\d+) of (\d+) as expected", capsys.readouterr().out)
    assert m and int(m.group(2)) == 60
    assert int(m.group(1)) >= 54, m.group(0)

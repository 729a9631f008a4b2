"""Real-mask transplants (tools/data/transplant_masks.py) land where each style says, on public-domain portraits:
a mask drawn on the astronaut (scikit-image) is the donor, Grace Hopper (matplotlib) the unmasked face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tools.data import synth_masks as sm
from tools.data import transplant_masks as tm

skimage_data = pytest.importorskip("skimage.data")
import matplotlib  # noqa: E402

BLUE = (210, 150, 60)  # far from any skin tone


@pytest.fixture(scope="module")
def faces():
    mesh = sm.FaceMesh()
    astro = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)
    a_pts = sm.find_face_landmarks(astro, mesh)
    donor = sm.draw_mask(astro, a_pts, "correct", "surgical", BLUE, np.random.default_rng(3))
    d_pts = sm.find_face_landmarks(donor, mesh)
    hopper = cv2.imread(str(Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"))
    t_pts = sm.find_face_landmarks(hopper, mesh)
    assert d_pts is not None and t_pts is not None
    return donor, d_pts, hopper, t_pts


def blue_near(img: np.ndarray, xy, r: int = 3) -> float:
    """Share of pixels around `xy` that are the donor's blue fabric."""
    x, y = int(round(xy[0])), int(round(xy[1]))
    p = img[y - r:y + r + 1, x - r:x + r + 1].astype(int)
    return float(((p[..., 0] > 150) & (p[..., 2] < 120)).mean())


def test_the_mask_region_is_the_lower_face(faces):
    donor, d_pts, _, _ = faces
    alpha = tm.mask_region(d_pts, donor.shape[:2])
    at = lambda i: alpha[int(d_pts[i][1]), int(d_pts[i][0])]  # noqa: E731
    assert at(sm.NOSE_TIP) > 0.9 and at(sm.UPPER_LIP_INNER) > 0.9
    assert at(sm.RIGHT_EYE[0]) < 0.1 and at(10) < 0.1  # not the eyes, not the forehead


def test_a_pair_differs_only_in_where_the_mask_sits(faces):
    donor, d_pts, target, t_pts = faces
    worn = tm.transplant(target, t_pts, donor, d_pts, "correct", np.random.default_rng(5))
    low = tm.transplant(target, t_pts, donor, d_pts, "nose", np.random.default_rng(5))
    chin = tm.transplant(target, t_pts, donor, d_pts, "chin", np.random.default_rng(5))
    assert worn is not None and low is not None and chin is not None
    # worn: the donor's fabric over the nose tip and the mouth; the eyes untouched
    assert blue_near(worn, t_pts[sm.NOSE_TIP]) > 0.8 and blue_near(worn, t_pts[sm.UPPER_LIP_INNER]) > 0.8
    eye = t_pts[sm.RIGHT_EYE[0]].astype(int)
    assert np.abs(worn[eye[1], eye[0]].astype(int) - target[eye[1], eye[0]].astype(int)).max() < 8
    # below the nose: the nose tip is the photo's own, the mouth is covered by the same fabric
    assert blue_near(low, t_pts[sm.NOSE_TIP]) == 0.0
    assert np.abs(low.astype(int) - target.astype(int))[
        int(t_pts[sm.NOSE_TIP][1]) - 2:int(t_pts[sm.NOSE_TIP][1]) + 3,
        int(t_pts[sm.NOSE_TIP][0]) - 2:int(t_pts[sm.NOSE_TIP][0]) + 3].max() < 8
    assert blue_near(low, t_pts[sm.LOWER_LIP_INNER]) > 0.8
    # on the chin: nose and mouth both bare
    assert blue_near(chin, t_pts[sm.NOSE_TIP]) == 0.0 and blue_near(chin, t_pts[sm.UPPER_LIP_INNER]) == 0.0


def test_a_fit_that_does_not_cover_the_face_is_refused(faces):
    donor, d_pts, target, t_pts = faces
    shifted = d_pts.copy()
    shifted[tm.ANCHORS] += np.array([0.0, -80.0])  # landmarks gone wrong: the fit lands on the eyes
    assert tm.transplant(target, t_pts, donor, shifted, "correct", np.random.default_rng(0)) is None


def test_the_cli_writes_pairs_and_a_manifest_naming_the_unmasked_source(faces, tmp_path):
    donor, _, target, _ = faces
    (tmp_path / "masked").mkdir()
    (tmp_path / "bare").mkdir()
    cv2.imwrite(str(tmp_path / "masked" / "astro.png"), donor)
    cv2.imwrite(str(tmp_path / "bare" / "hopper.png"), target)
    out = tmp_path / "out"
    assert tm.main([str(tmp_path / "bare"), "--masks", str(tmp_path / "masked"), "-o", str(out),
                    "--donor-p", "0.5"]) == 0
    rows = (out / "manifest.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:3] == ["output", "source", "source_sha256"]
    assert len(rows) == 3
    assert {r.split("\t")[3] for r in rows[1:]} >= {"correct"}
    for r in rows[1:]:
        assert (out / r.split("\t")[0]).is_file()
    assert len({r.split("\t")[2] for r in rows[1:]}) == 1  # both halves from the same photo

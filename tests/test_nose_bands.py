"""Nose-check pairs (tools/data/nose_bands.py): the fabric's edge lies over the nose in one, below the tip in the
other, and nothing else differs; checked on Grace Hopper's portrait (public domain, shipped by matplotlib)
through the kiosk's own detector and nose patch, and end to end on a tiny dataset folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tools.data import nose_bands as nb

matplotlib = pytest.importorskip("matplotlib")
HOPPER = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
SIZE = 64


@pytest.fixture(scope="module")
def face():
    from kiosk.config import Config
    from kiosk.vision.detectors import build_detector
    from kiosk.vision.nose import nose_patch
    from tools.training import dataset as D

    rgb = D.load_image(HOPPER)
    frame, det = D.best_face(build_detector(Config()), rgb)
    assert det is not None
    return frame, det, nose_patch(frame, det.keypoints, SIZE), nb.patch_points(det.keypoints, SIZE)


def test_patch_points_are_where_nose_patch_puts_the_eyes_and_the_tip(face):
    frame, det, _, (eye_y, tip_y) = face
    from kiosk.vision.nose import nose_patch

    # paint a dot on the nose tip in the frame: it must show up at tip_y in the patch
    marked = frame.copy()
    tip = tuple(int(round(v)) for v in det.keypoints[2])
    cv2.circle(marked, tip, 3, (0, 255, 0), -1)
    diff = np.abs(nose_patch(marked, det.keypoints, SIZE).astype(int) - nose_patch(frame, det.keypoints, SIZE).astype(int))
    ys = np.nonzero(diff.sum(axis=2).max(axis=1) > 60)[0]
    assert ys.size and abs(ys.mean() - tip_y) < 2.5
    assert 0 <= eye_y < tip_y < SIZE


def test_a_pair_differs_only_below_the_higher_edge(face):
    _, _, patch, (eye_y, tip_y) = face
    rng = np.random.default_rng(4)
    fabric = np.full((20, SIZE, 3), (200, 120, 40), np.uint8)  # a blue no face has
    band = nb.Band(fabric=fabric, curve=0.0, tilt=0.0, feather=0.8, shade=1.0, shadow=0.1)
    covered_top, bare_top = nb.pair_tops(eye_y, tip_y, SIZE, rng)
    assert eye_y < covered_top < tip_y < bare_top < SIZE
    covered, bare = nb.apply_band(patch, band, covered_top), nb.apply_band(patch, band, bare_top)
    tip = int(round(tip_y))
    is_fabric = lambda img, y: float((np.abs(img[y].astype(int) - (200, 120, 40)).sum(axis=1) < 30).mean())  # noqa: E731
    assert is_fabric(covered, tip) > 0.9 and is_fabric(bare, tip) < 0.1  # the nose tip: covered vs bare
    assert is_fabric(covered, SIZE - 1) > 0.9 and is_fabric(bare, SIZE - 1) > 0.9  # both: fabric at the bottom
    above = int(covered_top) - 5  # above both edges (their feather and rim shadow) the patches are the face itself
    off = lambda img: int(np.abs(img[:above].astype(int) - patch[:above].astype(int)).max())  # noqa: E731
    assert above > 5 and off(covered) <= 1 and off(bare) <= 1


def test_no_room_means_no_pair():
    rng = np.random.default_rng(0)
    assert nb.pair_tops(10.0, 14.0, SIZE, rng) is None  # a nose of 4 px: turned away or tiny
    assert nb.pair_tops(20.0, 60.0, SIZE, rng) is None  # the tip at the bottom: no room below it


def test_the_tool_writes_pairs_in_the_split_of_their_photo(tmp_path):
    src = tmp_path / "data"
    (src / "without_mask").mkdir(parents=True)
    (src / "with_mask").mkdir()
    img = cv2.imread(str(HOPPER))
    cv2.imwrite(str(src / "without_mask" / "hopper.jpg"), img)
    # a "masked" photo for the fabric: the portrait with its lower face painted over
    masked = img.copy()
    masked[int(img.shape[0] * 0.55):] = (200, 120, 40)
    for i in range(6):  # different bytes, so some land in the training split
        cv2.imwrite(str(src / "with_mask" / f"m{i}.png"), np.roll(masked, i, axis=1))
    out = tmp_path / "out"
    rc = nb.main([str(src), "-o", str(out), "--variants", "2", "--seed", "3"])
    assert rc == 0
    covered = sorted((out / "with_mask").glob("*.png"))
    bare = sorted((out / "without_mask").glob("*.png"))
    assert len(covered) == len(bare) == 2
    rows = (out / "manifest.tsv").read_text().splitlines()[1:]
    from tools.training import dataset as D

    digest = D.scan([src]).samples
    hopper_group = next(s.group for s in digest if s.path.name == "hopper.jpg")
    assert len(rows) == 4 and all(r.split("\t")[2] == hopper_group for r in rows)
    splits = {s.split for s in D.scan([out]).samples}
    assert splits == {D.split_of(hopper_group)}


def test_without_masked_faces_it_says_so(tmp_path, capsys):
    src = tmp_path / "data"
    (src / "without_mask").mkdir(parents=True)
    (src / "with_mask").mkdir()
    cv2.imwrite(str(src / "without_mask" / "hopper.jpg"), cv2.imread(str(HOPPER)))
    cv2.imwrite(str(src / "with_mask" / "grey.png"), np.full((80, 80, 3), 128, np.uint8))
    from tools.cli import CliError

    with pytest.raises(CliError, match="no properly masked face"):
        nb.main([str(src), "-o", str(tmp_path / "out")])

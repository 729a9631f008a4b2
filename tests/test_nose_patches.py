"""Nose-check training patches (tools/data/nose_patches.py): the patch is the one the kiosk's nose check
cuts, it keeps its photo's split, and --face-px shrinks the face first. Grace Hopper's portrait (public
domain, shipped by matplotlib) is the face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tools.cli import CliError
from tools.data import nose_patches as npatch
from tools.training import dataset as D

matplotlib = pytest.importorskip("matplotlib")
HOPPER = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"


@pytest.fixture()
def photos(tmp_path) -> Path:
    src = tmp_path / "data"
    (src / "without_mask").mkdir(parents=True)
    (src / "with_mask").mkdir()
    cv2.imwrite(str(src / "without_mask" / "hopper.png"), cv2.imread(str(HOPPER)))
    cv2.imwrite(str(src / "with_mask" / "grey.png"), np.full((120, 120, 3), 128, np.uint8))  # no face in it
    return src


def sharpness(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def test_the_patch_is_the_kiosks_nose_patch_in_the_photos_split(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert npatch.main([str(photos), "-o", str(out)]) == 0
    assert "no face found: 1" in capsys.readouterr().out
    written = sorted((out / "without_mask").glob("*.png"))
    assert len(written) == 1 and not any((out / "with_mask").iterdir())

    from kiosk.config import Config
    from kiosk.vision.detectors import build_detector
    from kiosk.vision.nose import nose_patch

    frame, best = D.best_face(build_detector(Config()), D.load_image(photos / "without_mask" / "hopper.png"))
    assert np.array_equal(cv2.imread(str(written[0])), nose_patch(frame, best.keypoints, 64))
    source = next(s for s in D.scan([photos]).samples if s.path.name == "hopper.png")
    assert D.read_manifest(out) == {written[0].resolve(): source.group}


def test_face_px_shrinks_the_face_before_the_cut(photos, tmp_path):
    sharp, small = tmp_path / "sharp", tmp_path / "small"
    assert npatch.main([str(photos), "-o", str(sharp)]) == 0
    # Grace Hopper's face is a few hundred px wide: cut at 32-36 px, her nose patch is a blurred upscale
    assert npatch.main([str(photos), "-o", str(small), "--face-px", "32,36"]) == 0
    a, b = (cv2.imread(str(next((d / "without_mask").glob("*.png")))) for d in (sharp, small))
    assert a.shape == b.shape == (64, 64, 3)
    assert sharpness(b) < 0.5 * sharpness(a)
    # the same place on the face, only less detail: the mean colour hardly moves
    assert np.abs(a.mean(axis=(0, 1)) - b.mean(axis=(0, 1))).max() < 12


@pytest.mark.parametrize("value", ["32", "40,30", "a,b", "4,40"])
def test_a_bad_face_px_is_refused(tmp_path, value):
    with pytest.raises(CliError, match="--face-px"):
        npatch.main([str(tmp_path), "-o", str(tmp_path / "out"), "--face-px", value])


def test_relabelled_photos_get_jittered_copies_in_their_split(photos, tmp_path, monkeypatch):
    # a second unmasked face, so that no_mask is still there once the portrait is relabelled
    cv2.imwrite(str(photos / "without_mask" / "mirrored.png"), cv2.imread(str(HOPPER))[:, ::-1])
    hopper = next(s for s in D.scan([photos]).samples if s.path.name == "hopper.png")
    # as if relabel.tsv listed the portrait (it lists real masks below the nose): read by scan and the tool
    monkeypatch.setattr(D, "read_relabels", lambda *a: {hopper.digest: ("no_mask", "incorrect")})
    out = tmp_path / "out"
    assert npatch.main([str(photos), "-o", str(out), "--relabelled-copies", "3"]) == 0
    written = sorted((out / "without_mask").glob("hopper*.png"))
    assert [p.stem[-3:] for p in written] == [hopper.digest[:8][-3:], "_c1", "_c2", "_c3"]
    assert len(list((out / "without_mask").glob("mirrored*.png"))) == 1  # not relabelled: one patch
    patches = [cv2.imread(str(p)).astype(int) for p in written]
    assert all(np.abs(a - b).mean() > 1 for i, a in enumerate(patches) for b in patches[i + 1:])
    assert {g for p, g in D.read_manifest(out).items() if p.name.startswith("hopper")} == {hopper.group}
    with pytest.raises(CliError, match="--relabelled-copies"):
        npatch.main([str(photos), "-o", str(out), "--relabelled-copies", "-1"])

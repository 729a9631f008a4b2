"""tools/data/scene_series.py (the split by series) and tools/data/scene_crops.py (crops and nose patches cut
as at the gate), on scenes made from the demo clip's public-domain frames."""

from __future__ import annotations

import hashlib

import cv2
import pytest

from kiosk.config import Config
from kiosk.vision.detectors import build_detector
from tests.conftest import DEMO_CLIP
from tools.cli import CliError
from tools.data import scene_crops, scene_series


def test_series_are_held_out_whole_and_every_kind_of_scene_stays_within_the_share():
    series = {f"s{i}": [f"s{i}-{j}.jpg" for j in range(n)] for i, n in enumerate([5, 1, 3, 2, 4, 1, 2, 6, 1, 3])}
    kinds = ["mask", "no_mask", "incorrect"]
    stratum = {scene: kinds[i % 3] for i, members in enumerate(series.values()) for scene in members}
    split = scene_series.assign(series, stratum, 0.3)
    assert set(split.values()) == {"train", "test"}
    for kind in kinds:
        total = sum(1 for s in stratum.values() if s == kind)
        held = sum(len(m) for sid, m in series.items() if split[sid] == "test" and stratum[m[0]] == kind)
        assert held <= 0.3 * total * 1.1
    assert scene_series.assign(series, stratum, 0.3) == split  # the same every time


def test_a_series_file_is_read_and_a_bad_one_refused_with_its_line(tmp_path):
    good = tmp_path / "s.tsv"
    good.write_text(f"{scene_series.HEADER}\na.jpg\ts1\ttrain\nb.jpg\ts2\ttest\n")
    assert scene_series.read_series(good) == {"a.jpg": ("s1", "train"), "b.jpg": ("s2", "test")}
    assert scene_series.read_split(good) == {"a.jpg": "train", "b.jpg": "test"}
    bad = tmp_path / "bad.tsv"
    bad.write_text(f"{scene_series.HEADER}\na.jpg\ts1\tmaybe\n")
    with pytest.raises(CliError, match="bad.tsv:2"):
        scene_series.read_series(bad)
    with pytest.raises(CliError, match="not found"):
        scene_series.read_series(tmp_path / "none.tsv")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Two scenes: demo frame 20 (person A, no mask) in the training series, frame 70 (A masked) held out."""
    folder = tmp_path_factory.mktemp("scenes")
    cap = cv2.VideoCapture(str(DEMO_CLIP))
    frames = [cap.read()[1] for _ in range(71)]
    cap.release()
    detector = build_detector(Config())
    rows = []
    for index, label in ((20, "no_mask"), (70, "mask")):
        cv2.imwrite(str(folder / f"f{index}.jpg"), frames[index])
        [face] = detector.detect(frames[index])
        x, y, w, h = face.box
        rows.append(f"f{index}.jpg\t{label}\t{x + 3}\t{y - 2}\t{w - 4}\t{h + 2}")  # a hand-drawn box, near
    (folder / "boxes.tsv").write_text("scene\tlabel\tx\ty\tw\th\n" + "\n".join(rows) + "\n")
    series = folder / "series.tsv"
    series.write_text(f"{scene_series.HEADER}\nf20.jpg\ts1\ttrain\nf70.jpg\ts2\ttest\n")
    return folder, series


def test_crops_are_cut_from_the_training_series_only_with_the_series_as_split_group(scenes, tmp_path):
    folder, series = scenes
    out = tmp_path / "sc"
    assert scene_crops.main([str(folder), "--series", str(series), "-o", str(out), "--copies", "no_mask=3"]) == 0
    assert sorted(p.name for p in (out / "no_mask").iterdir()) == ["f20_00.png", "f20_00_c1.png", "f20_00_c2.png"]
    assert not list((out / "mask").iterdir())  # f70 is held out
    rows = (out / "manifest.tsv").read_text().splitlines()
    assert rows[0] == "output\tsource\tsource_sha256\tlabel" and len(rows) == 4
    assert {r.split("\t")[2] for r in rows[1:]} == {hashlib.sha256(b"s1").hexdigest()}
    crop = cv2.imread(str(out / "no_mask" / "f20_00.png"))
    assert abs(crop.shape[0] - crop.shape[1]) <= 2 and crop.shape[0] > 100  # the square around the detection


def test_nose_patches_go_to_the_nose_checks_folders(scenes, tmp_path):
    folder, series = scenes
    out = tmp_path / "scn"
    assert scene_crops.main([str(folder), "--series", str(series), "-o", str(out), "--nose", "--split", "test"]) == 0
    [patch] = list((out / "with_mask").iterdir())
    assert cv2.imread(str(patch)).shape == (64, 64, 3)
    assert (out / "nose_patch.json").is_file() and not list((out / "without_mask").iterdir())


@pytest.mark.parametrize("text", ["0", "mask=2,beard=1", "incorrect=21", "many"])
def test_bad_copies_are_refused(text):
    with pytest.raises(CliError, match="--copies"):
        scene_crops.parse_copies(text)

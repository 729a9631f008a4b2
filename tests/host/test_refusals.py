"""The tools refuse bad input with one clear line on stderr, a non-zero exit and no traceback.

These fail before TensorFlow is imported, so they are quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.host.synth import make_dataset

ROOT = Path(__file__).resolve().parents[2]


def run_tool(module: str, *args) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS` from the repository root, as every tool is run."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=300)


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_missing_folder(tmp_path):
    missing = tmp_path / "nope"
    one_line_error(run_tool("tools.train", missing, "--out", tmp_path / "o"), "not found", str(missing))


def test_folder_without_class_folders(tmp_path):
    (tmp_path / "cats").mkdir()
    one_line_error(run_tool("tools.train", tmp_path, "--out", tmp_path / "o"), "no class folders", "with_mask")


def test_single_class(tmp_path):
    make_dataset(tmp_path, n_per_class=3, classes=("with_mask",))
    one_line_error(run_tool("tools.train", tmp_path, "--out", tmp_path / "o"), "at least 2 classes", "mask")


def test_no_readable_images(tmp_path):
    for cls in ("with_mask", "without_mask"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            (tmp_path / cls / f"broken{i}.jpg").write_bytes(b"not an image " + bytes([i]) + cls.encode())
    one_line_error(run_tool("tools.train", tmp_path, "--out", tmp_path / "o"), "no readable images")


def test_bad_weights_option(tmp_path):
    make_dataset(tmp_path, n_per_class=30)
    pytest.importorskip("keras")
    one_line_error(run_tool("tools.train", tmp_path, "--out", tmp_path / "o", "--weights", "resnet",
                            "--size", 32), "--weights")


def test_bad_weight_average_option(tmp_path):
    make_dataset(tmp_path, n_per_class=5)
    one_line_error(run_tool("tools.train", tmp_path, "--out", tmp_path / "o", "--ema", "1.5"), "--ema 1.5")


def test_missing_torchvision_weights_file(tmp_path):
    make_dataset(tmp_path, n_per_class=30)
    pytest.importorskip("keras")
    one_line_error(run_tool("tools.train", tmp_path, "--out", tmp_path / "o", "--weights",
                            f"torchvision:{tmp_path / 'no.pth'}", "--size", 32), "weights file not found")


def test_convert_missing_model(tmp_path):
    one_line_error(run_tool("tools.convert_tflite", tmp_path / "m.keras", "--out", tmp_path / "m.tflite"),
                   "not found")


def test_evaluate_missing_model(tmp_path):
    make_dataset(tmp_path / "d", n_per_class=2)
    one_line_error(run_tool("tools.eval.evaluate", tmp_path / "m.tflite", tmp_path / "d"), "model file not found")


def test_packed_file_of_another_size(tmp_path):
    data = make_dataset(tmp_path / "data", n_per_class=4)
    proc = run_tool("tools.training.pack_dataset", data, "-o", tmp_path / "p.npz", "--size", 32)
    assert proc.returncode == 0, proc.stderr
    one_line_error(run_tool("tools.train", tmp_path / "p.npz", "--size", 64, "--out", tmp_path / "o"),
                   "p.npz", "32 px", "--size 64")
    # a 32 px student of the 64 px nose check is taught on 64 px views: the pack must hold those
    nose = Path(__file__).resolve().parents[2] / "models" / "nose_check.tflite"
    one_line_error(run_tool("tools.train", tmp_path / "p.npz", "--size", 32, "--teacher", nose, "--out", tmp_path / "o"),
                   "p.npz", "32 px", "64 px views", "--size 64")


def test_pack_refuses_bad_options(tmp_path):
    data = make_dataset(tmp_path / "data", n_per_class=4)
    one_line_error(run_tool("tools.training.pack_dataset", data, "-o", tmp_path / "p.zip"), "--out", "p.zip", ".npz")
    one_line_error(run_tool("tools.training.pack_dataset", data, "-o", tmp_path / "p.npz", "--splits", "train,dev"),
                   "--splits", "train,dev")

"""tools/training/reference_models.py writes the Pi 4 estimate's reference models, and the benchmark's estimate
runs on them: real TensorFlow conversion, real LiteRT timing, the shipped kiosk models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def test_reference_models_and_the_pi4_estimate(tmp_path):
    ref = tmp_path / "ref"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-m", "tools.training.reference_models", "--out", str(ref)], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]

    from kiosk.bench.pi_estimate import REFERENCE_FILES
    from kiosk.vision.runtime import load_interpreter

    for precision, name in REFERENCE_FILES.items():
        interp = load_interpreter(ref / name)
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        assert list(inp["shape"]) == [1, 224, 224, 3] and list(out["shape"]) == [1, 1000]
        assert np.dtype(inp["dtype"]) == (np.int8 if precision == "int8" else np.float32)
        ops = {op["op_name"] for op in interp._get_ops_details()}
        assert {"CONV_2D", "DEPTHWISE_CONV_2D"} & ops or "DELEGATE" in ops

    # the benchmark's estimate on them: one scenario, 1 s; the estimate itself is timed apart
    out = tmp_path / "bench"
    proc = subprocess.run([sys.executable, "-m", "kiosk", "bench", "--seconds", "1", "--rounds", "1",
                           "--startup-runs", "1", "--scenarios", "faces3", "--pi-reference", str(ref),
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    est = json.loads((out / "bench.json").read_text())["pi4_estimate"]
    here = est["here_1_thread"]
    assert all(v > 0 for v in here["reference_ms"].values())
    assert here["detector_ms"] > 0 and here["classifier_ms"] > 0
    assert 0 < here["non_model_ms"]["detector_side"] < 50 and 0 < here["non_model_ms"]["classifier_side"] < 50
    for name in ("threads_1", "threads_4", "threads_4_overlap"):
        fast, slow = est[name]["ms_per_frame"]
        assert 0 < fast < slow
    # more threads never make the estimate slower
    assert est["threads_4"]["ms_per_frame"][0] < est["threads_1"]["ms_per_frame"][0]
    assert "Raspberry Pi 4 estimate, 3 faces" in proc.stdout

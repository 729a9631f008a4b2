"""A 4-class model (mask, no_mask, incorrect, not_face) goes through train -> convert and the daemon's
code paths (classify, the decision policy, events) handle the extra labels. Generated faces, tiny model:
this checks the plumbing, not the quality (tests/test_not_face.py checks the shipped model's veto)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

from tests.host.synth import make_dataset

ROOT = Path(__file__).resolve().parents[2]


def run(module: str, *args) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS` from the repository root, as every tool is run."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=600)


def test_four_class_model_through_the_kiosk(tmp_path):
    data = make_dataset(tmp_path / "data", n_per_class=30, size=40, seed=3,
                        classes=("with_mask", "without_mask", "mask_weared_incorrect", "not_face"))
    out = tmp_path / "train"
    r = run("tools.train", data, "--out", out, "--size", 32, "--weights", "torchvision:default",
            "--epochs-head", 2, "--epochs-fine", 1, "--batch", 16, "--verbose", 0)
    assert r.returncode == 0, r.stderr[-2000:]
    tfl = tmp_path / "m4.tflite"
    r = run("tools.convert_tflite", out / "mask_classifier.keras", "--out", tfl, "--min-calibration", 20,
            "--max-drop", 100)
    assert r.returncode == 0, r.stderr[-2000:]
    meta = json.loads(tfl.with_suffix(".json").read_text())
    assert set(meta["labels"]) == {"mask", "no_mask", "incorrect", "not_face"}

    from kiosk.vision.classifier import Classifier

    clf = Classifier(tfl)
    assert set(clf.labels) == {"mask", "no_mask", "incorrect", "not_face"}
    faces = sorted((data / "mask_weared_incorrect").iterdir())[:2]
    r = run("kiosk", "classify", "--model", tfl, "--json", *faces)
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():
        o = json.loads(line)
        assert set(o["scores"]) == {"mask", "no_mask", "incorrect", "not_face"}
        assert o["label"] in o["scores"]

    from kiosk.door.decision import Decider, FaceVerdict, Policy
    from kiosk.events import build_event, check_event

    d = Decider(Policy(k=2, n=3))
    v = FaceVerdict("incorrect", 0.9, 0.05, (0, 0, 50, 50))
    decision = [d.update(t, [v]) for t in (0.0, 0.1)][-1]
    assert decision is not None and (decision.decision, decision.reason) == ("deny", "incorrect")
    event = build_event(decision, "k", {"name": meta["name"], "sha256": meta["sha256"]}, 1.0)
    assert check_event(event) == []

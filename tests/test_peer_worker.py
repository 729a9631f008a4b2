"""The peer's benchmark worker (tools/eval/peer_worker.py) starts as a module from the repository root, as every
tool does, and speaks the bench protocol: here with stand-ins for face-mask-detector and TensorFlow, which the
test venv does not hold (the real ones live in .venv-peer, docs/bench.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np

from tests.conftest import ROOT

FAKE_LIB = '''
import numpy as np

def detect_faces_in_image(image):
    return [(0, 0, 8, 8)]

class _Model:
    def predict(self, batch, batch_size=32):
        return np.array([[0.9, 0.1] for _ in batch])

def load_face_mask_detector_model():
    return _Model()

def _get_frame_from_video_stream(source):
    return source.read()

def get_face_mask_detections(model, frame, confidence):
    boxes = detect_faces_in_image(frame)
    return boxes, model.predict(np.zeros((len(boxes), 4)))

def _get_box_label_from_prediction(p):
    return ("Mask" if p[0] > p[1] else "No Mask", float(max(p)), (0, 255, 0))
'''

FAKE_TF = '''
__version__ = "stand-in"

class config:
    class threading:
        @staticmethod
        def get_intra_op_parallelism_threads():
            return 0
'''


def test_the_peer_worker_runs_as_a_module_and_reports_ready(tmp_path):
    fake = tmp_path / "site"
    (fake / "face_mask_detector").mkdir(parents=True)
    (fake / "face_mask_detector" / "__init__.py").write_text("")
    (fake / "face_mask_detector" / "lib.py").write_text(FAKE_LIB)
    (fake / "tensorflow").mkdir()
    (fake / "tensorflow" / "__init__.py").write_text(FAKE_TF)
    for dist, version in (("face_mask_detector", "0.2.3"), ("tf_keras", "2.21.0")):
        info = fake / f"{dist}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: {version}\n")
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "faces1-0.jpg"), np.full((48, 64, 3), 128, np.uint8))
    env = dict(os.environ, PYTHONPATH=str(fake))
    r = subprocess.run([sys.executable, "-m", "tools.eval.peer_worker", "--frames", str(frames), "--startup-only"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ready = json.loads(r.stdout.splitlines()[0])
    assert ready["event"] == "ready" and ready["first_faces"] == 1
    assert ready["t_main"] <= ready["t_imported"] <= ready["t_loaded"] <= ready["t_first"]
    assert ready["info"]["name"] == "face-mask-detector" and ready["info"]["version"] == "0.2.3"
    assert ready["info"]["legacy_keras"] == "1"  # its Keras-2 model needs tf-keras

"""YuNet run by LiteRT (kiosk/vision/yunet_litert.py, models/face_detection_yunet_2023mar.tflite) is the same
detector as OpenCV's on the .onnx: the shipped conversion checked against cv2.FaceDetectorYN on real frames,
and the refusals of a wrong file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kiosk.assets import MODELS_DIR
from kiosk.config import Config, from_dict
from kiosk.errors import KioskError
from kiosk.vision.detectors import build_detector
from kiosk.vision.yunet_litert import LiteRTYuNet
from tests.test_follow import demo_frame
from tools.convert_yunet import BOX_PX, SCORE, compare

ONNX = MODELS_DIR / "face_detection_yunet_2023mar.onnx"
TFLITE = MODELS_DIR / "face_detection_yunet_2023mar.tflite"


def test_the_shipped_conversion_finds_what_opencv_finds_on_the_demo_clip():
    worst = compare(ONNX, TFLITE)
    assert worst["frames"] >= 30  # whole frames and windows around the faces
    assert worst["count"] == 0
    assert worst["box_px"] <= BOX_PX and worst["score"] <= SCORE


def test_the_kiosk_runs_litert_by_default_and_opencv_on_request():
    frame = demo_frame(70)
    litert = build_detector(Config())
    assert isinstance(litert._net, LiteRTYuNet)
    cfg = Config()
    cfg.detector.engine = "opencv"
    opencv = build_detector(cfg)
    assert isinstance(opencv._net, cv2.FaceDetectorYN)
    a, b = litert.detect(frame), opencv.detect(frame)
    assert [d.box for d in a] == [d.box for d in b] and len(a) == 1
    assert np.allclose(a[0].keypoints, b[0].keypoints, atol=0.5)


def test_each_frame_size_gets_opencvs_own_padding():
    frame = demo_frame(70)
    net = LiteRTYuNet(TFLITE, (128, 128), 0.3, 0.3)
    small = cv2.resize(frame, (200, 150))
    n_small, rows_small = net.detect(small)
    assert net._canvas == (224, 160) and n_small == 1
    n_big, _ = net.detect(cv2.resize(frame, (400, 300)))
    assert net._canvas == (416, 320) and n_big == 1
    again, rows_again = net.detect(small)  # back to the small canvas: the very same answer as before
    assert net._canvas == (224, 160) and np.array_equal(rows_again, rows_small)


def _input_shape(net: LiteRTYuNet) -> tuple[int, int]:
    """(width, height) the interpreter itself is allocated for: what a re-size would change."""
    shape = net.interp.get_input_details()[0]["shape"]
    return int(shape[2]), int(shape[1])


def test_a_growing_canvas_holds_smaller_frames_without_resizing():
    frame = demo_frame(70)
    small = cv2.resize(frame, (200, 150))
    exact = LiteRTYuNet(TFLITE, (128, 128), 0.3, 0.3).detect(small)[1]
    net = LiteRTYuNet(TFLITE, (32, 32), 0.3, 0.3, grow_to=(400, 400))  # up to 416x416
    net.detect(small)
    assert net._canvas == _input_shape(net) == (224, 160)  # the first frame: OpenCV's own canvas
    net.detect(cv2.resize(frame, (400, 300)))
    assert net._canvas == _input_shape(net) == (416, 320)
    net.detect(cv2.resize(frame, (300, 400)))  # a portrait photo: grown to hold both
    assert net._canvas == _input_shape(net) == (416, 416)
    n, rows = net.detect(small)  # padded into the grown canvas, no re-size
    assert net._canvas == _input_shape(net) == (416, 416)
    # the same face, moved a fraction of a pixel by the extra zero padding
    assert n == 1 == len(exact)
    assert np.abs(rows[0, :4] - exact[0, :4]).max() < 1.5 and abs(rows[0, 14] - exact[0, 14]) < 0.02
    net.detect(cv2.resize(frame, (480, 360)))  # beyond grow_to: its own canvas, as OpenCV's
    assert net._canvas == _input_shape(net) == (480, 384)
    net.detect(small)  # and from a canvas beyond grow_to, back to the frame's own
    assert net._canvas == (224, 160)


def test_the_kiosks_detector_keeps_opencvs_canvas_for_a_camera_and_grows_for_photos():
    frame = demo_frame(70)  # 640x480, as the default camera gives: shrunk to 400x300
    det = build_detector(Config())
    first = det.detect(frame)
    assert det._net._canvas == (416, 320)  # OpenCV's canvas for 400x300, not the 416x416 it may grow to
    det.detect(cv2.resize(frame, (300, 400)))  # a portrait photo (kiosk scan, an image folder)
    assert det._net._canvas == (416, 416)
    again = det.detect(frame)
    assert det._net._canvas == (416, 416) and len(again) == len(first) == 1
    assert np.abs(np.subtract(again[0].box, first[0].box)).max() <= 2


def test_a_file_that_is_not_yunet_is_refused_in_one_line(tmp_path):
    with pytest.raises(KioskError, match="not a YuNet model converted by tools/convert_yunet.py"):
        LiteRTYuNet(MODELS_DIR / "mask_classifier.tflite", (320, 240), 0.3, 0.3)
    cfg = Config()
    onnx = tmp_path / "face_detection_yunet_2023mar.onnx"
    onnx.write_bytes(ONNX.read_bytes())
    cfg.detector.model = str(onnx)  # no .tflite beside it
    with pytest.raises(KioskError, match=r"YuNet for LiteRT not found: .*tools.convert_yunet.*engine"):
        build_detector(cfg)


def test_the_engine_key_takes_only_the_two_engines():
    assert from_dict({"detector": {"engine": "opencv"}}).detector.engine == "opencv"
    with pytest.raises(KioskError, match="detector.engine"):
        from_dict({"detector": {"engine": "onnxruntime"}})

"""YuNet detector (kiosk/vision/yunet.py) on real photos: boxes in BlazeFace's geometry, keypoints, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.vision.boxes import iou
from kiosk.vision.detector import BlazeFaceDetector
from kiosk.vision.detectors import build_detector
from kiosk.vision.nose import DOWN, SIDE, NoseCheck, patch_geometry
from kiosk.vision.yunet import YuNetDetector

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
YUNET = MODELS / "face_detection_yunet_2023mar.onnx"
BLAZE = MODELS / "face_detection_full_range_sparse.tflite"
GREY = 128


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """The astronaut photo (a real face, public domain) at the camera's 640x480, grey beside it."""
    img = data.astronaut()[:, :, ::-1]  # 512x512 RGB -> BGR
    f = np.full((480, 640, 3), GREY, np.uint8)
    f[:, 64:544] = cv2.resize(img, (480, 480), interpolation=cv2.INTER_AREA)
    return f


@pytest.fixture(scope="module")
def yunet() -> YuNetDetector:
    return YuNetDetector(YUNET, score_threshold=0.5)


def test_finds_the_face_where_blazeface_does_with_keypoints_in_the_same_order(frame, yunet):
    faces = yunet.detect(frame)
    assert len(faces) == 1
    blaze = BlazeFaceDetector(BLAZE, score_threshold=0.3).detect(frame)
    assert len(blaze) == 1
    y, b = faces[0], blaze[0]
    # mapped onto BlazeFace's box geometry, so the classifier's crop is what it was measured on
    assert iou(y.box, b.box) > 0.7
    assert 0.85 < y.box[2] / b.box[2] < 1.15 and 0.85 < y.box[3] / b.box[3] < 1.15
    assert 0.5 <= y.score <= 1.0
    # right eye, left eye, nose tip, mouth: each within a tenth of the eye distance of BlazeFace's
    eye = np.hypot(*np.subtract(b.keypoints[1], b.keypoints[0]))
    for k in range(4):
        assert np.hypot(*np.subtract(y.keypoints[k], b.keypoints[k])) < 0.15 * eye, k
    assert y.keypoints[0][0] < y.keypoints[1][0]  # the person's right eye is on the image's left


def test_the_frame_is_shrunk_to_the_input_width_and_boxes_come_back_in_frame_pixels(frame):
    small = YuNetDetector(YUNET, score_threshold=0.5, input_width=320).detect(frame)
    full = YuNetDetector(YUNET, score_threshold=0.5, input_width=640).detect(frame)
    assert len(small) == len(full) == 1
    assert iou(small[0].box, full[0].box) > 0.75  # YuNet places a face a few px apart at each scale
    # a frame narrower than the input width is run as it is
    half = cv2.resize(frame, (320, 240), interpolation=cv2.INTER_AREA)
    got = YuNetDetector(YUNET, score_threshold=0.5, input_width=640).detect(half)
    assert len(got) == 1 and iou(tuple(v * 2 for v in got[0].box), full[0].box) > 0.8


def test_a_face_free_frame_and_an_empty_frame_give_nothing(yunet):
    coffee = np.ascontiguousarray(cv2.resize(data.coffee(), (640, 480))[:, :, ::-1])
    assert yunet.detect(coffee) == []
    assert yunet.detect(np.zeros((0, 0, 3), np.uint8)) == []
    with pytest.raises(ValueError, match="BGR uint8"):
        yunet.detect(np.zeros((48, 64), np.uint8))


def test_a_face_at_the_edge_is_clipped_to_the_frame(frame, yunet):
    cut = np.ascontiguousarray(frame[:, 200:])  # the face's left part is out of view
    for d in yunet.detect(cut):
        x, y, w, h = d.box
        assert x >= 0 and y >= 0 and x + w <= cut.shape[1] and y + h <= cut.shape[0] and w > 0 and h > 0


def test_config_picks_the_detector_by_name():
    cfg = Config()
    assert cfg.detector.backend == "yunet" and cfg.detector.model == ""  # the backend's bundled model
    cfg.detector.input_width = 400
    det = build_detector(cfg)
    assert isinstance(det, YuNetDetector) and det.input_width == 400
    cfg.detector.backend = "blazeface"
    assert isinstance(build_detector(cfg), BlazeFaceDetector)
    cfg.detector.model = str(YUNET)  # a model the backend does not run: refused by name, not guessed
    with pytest.raises(KioskError, match="detector.model.*blazeface.*yunet") as e:
        build_detector(cfg)
    assert "\n" not in str(e.value)


def test_the_config_offers_exactly_the_registered_backends():
    import dataclasses

    from kiosk.config import DetectorSection
    from kiosk.vision.detectors import BACKENDS, backend_for

    field = next(f for f in dataclasses.fields(DetectorSection) if f.name == "backend")
    assert set(field.metadata["choices"]) == set(BACKENDS)
    assert backend_for(BLAZE) == "blazeface" and backend_for(YUNET) == "yunet"
    for b in BACKENDS.values():
        assert (Config().resolve(b.model)).is_file(), b.model


@pytest.mark.parametrize("bad", ["missing", "not_onnx", "threshold", "width"])
def test_bad_models_and_settings_are_one_line_errors(tmp_path, bad):
    path, kw = YUNET, {}
    if bad == "missing":
        path = tmp_path / "nope.onnx"
    elif bad == "not_onnx":
        path = tmp_path / "junk.onnx"
        path.write_bytes(b"this is not an onnx model" * 10)
    elif bad == "threshold":
        kw = {"score_threshold": 1.5}
    else:
        kw = {"input_width": 8}
    with pytest.raises(KioskError) as e:
        YuNetDetector(path, **kw)
    assert "\n" not in str(e.value)
    if bad in ("missing", "not_onnx"):
        assert str(path) in str(e.value)


def test_nose_model_geometry_comes_from_its_sidecar(tmp_path):
    shipped = MODELS / "nose_check.tflite"
    model = tmp_path / "nose_check.tflite"
    shutil.copy(shipped, model)
    meta = json.loads(shipped.with_suffix(".json").read_text())
    meta.pop("nose_patch", None)
    model.with_suffix(".json").write_text(json.dumps(meta))
    assert patch_geometry(model) == (SIDE, DOWN)  # a model that names none: the first model's
    meta["nose_patch"] = {"side": 0.9, "down": 0.65}
    model.with_suffix(".json").write_text(json.dumps(meta))
    check = NoseCheck(model)
    assert (check.side, check.down) == (0.9, 0.65)
    for geo in ({"side": 9.0, "down": 0.6}, {"side": "wide", "down": 0.6}, [0.9, 0.6]):
        meta["nose_patch"] = geo
        model.with_suffix(".json").write_text(json.dumps(meta))
        with pytest.raises(KioskError, match="nose_patch") as e:
            NoseCheck(model)
        assert "\n" not in str(e.value)


# --- the second look (kiosk/vision/refine.py) ----------------------------------------------------------------

def _small(frame: np.ndarray, k: float) -> np.ndarray:
    """The astronaut frame shrunk by k onto a grey 640x480 frame (her face then ~94 k px wide)."""
    s = cv2.resize(frame, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    f = np.full((480, 640, 3), GREY, np.uint8)
    f[100:100 + s.shape[0], 100:100 + s.shape[1]] = s
    return f


def test_a_sure_face_needs_no_second_look(frame):
    plain = YuNetDetector(YUNET, score_threshold=0.3, input_width=400).detect(frame)
    looked = YuNetDetector(YUNET, score_threshold=0.3, input_width=400, refine_low=0.1)
    got = looked.detect(frame)
    assert [d.box for d in got] == [d.box for d in plain] and len(got) == 1


def test_an_unsure_face_is_kept_when_the_crop_confirms_it_and_background_is_not(frame):
    small = _small(frame, 0.3)  # the face ~28 px; the first pass also gives two weak boxes on the suit
    first = YuNetDetector(YUNET, score_threshold=0.05, input_width=400).detect(small)
    face = max(first, key=lambda d: d.score)
    assert len(first) >= 3 and face.score < 0.95
    # a threshold above the face's score makes it unsure: only the second look can keep it
    assert YuNetDetector(YUNET, score_threshold=0.95, input_width=400).detect(small) == []
    det = YuNetDetector(YUNET, score_threshold=0.95, input_width=400, refine_low=0.05, refine_confirm=0.5,
                        refine_max=3)
    got = det.detect(small)
    assert len(got) == 1 and iou(got[0].box, face.box) > 0.6  # the face, not the suit's weak boxes
    # the crop's box and keypoints, the first pass's score: still an unsure face (detector.confirm_score)
    assert got[0].score == pytest.approx(face.score, abs=1e-4) and len(got[0].keypoints) == 4
    assert 1 <= det.second_look.crops <= 3  # refine_max (3): the least unsure first
    # a confirmation no crop reaches keeps nothing
    strict = YuNetDetector(YUNET, score_threshold=0.95, input_width=400, refine_low=0.05, refine_confirm=0.999)
    assert strict.detect(small) == []


def test_a_box_too_small_to_classify_spends_no_look_and_leaves_it_to_a_face(frame):
    small = _small(frame, 0.3)  # the face ~28 px wide in frame pixels
    det = YuNetDetector(YUNET, score_threshold=0.95, input_width=640, refine_low=0.05, refine_confirm=0.5,
                        refine_max=1, min_face_px=20)
    assert det.second_look.min_width == 20
    face = max(YuNetDetector(YUNET, score_threshold=0.05, input_width=640)._run(small), key=lambda r: r[14])
    assert 20 <= face[2] < 32 and face[14] < 0.95
    speck = face.copy()  # a surer but tiny box elsewhere: before, it took the frame's one look
    speck[:4] = (500, 400, 12, 14)
    speck[14] = min(0.94, face[14] + 0.1)
    got = det.second_look.confirm_rows(small, [], [speck, face])
    assert det.second_look.crops == 1 and len(got) == 1 and iou(got[0], face) > 0.5
    # a detector for faces of 32 px and more looks at neither
    wide = YuNetDetector(YUNET, score_threshold=0.95, input_width=640, refine_low=0.05, refine_confirm=0.5,
                         min_face_px=32)
    assert wide.second_look.confirm_rows(small, [], [speck, face]) == [] and wide.second_look.crops == 0
    # the kiosk's detector takes detector.min_face_px from the config
    assert build_detector(Config()).second_look.min_width == Config().detector.min_face_px


def test_second_look_settings_come_from_the_config_and_bad_ones_are_one_line_errors():
    cfg = Config()
    assert cfg.detector.refine_low > 0  # on by default
    det = build_detector(cfg)
    assert det.second_look is not None and det.second_look.side_px == cfg.detector.refine_crop
    cfg.detector.refine_low = 0.0
    assert build_detector(cfg).second_look is None
    cfg.detector.refine_low = cfg.detector.score_threshold  # nothing between the two: off
    assert build_detector(cfg).second_look is None
    for kw in ({"refine_low": 0.1, "refine_crop": 100}, {"refine_low": 1.5}):
        with pytest.raises(KioskError) as e:
            YuNetDetector(YUNET, score_threshold=0.3, **kw)
        assert "\n" not in str(e.value)


# --- proposals: another detector's faces get the second look (detector.propose_model) ----------------

def test_a_face_yunet_misses_is_kept_when_blazeface_proposes_it_and_the_crop_confirms_it(frame):
    face = max(YuNetDetector(YUNET, score_threshold=0.05).detect(frame), key=lambda d: d.score)
    blaze = BlazeFaceDetector(BLAZE, score_threshold=0.2)
    proposed = blaze.detect(frame)
    assert face.score < 0.99 and len(proposed) == 1
    # a threshold above the face's score, no second look of its own: YuNet alone keeps nothing
    assert YuNetDetector(YUNET, score_threshold=0.99, refine_low=0.0).detect(frame) == []
    det = YuNetDetector(YUNET, score_threshold=0.99, refine_low=0.0, proposer=blaze)
    got = det.detect(frame)
    assert len(got) == 1 and iou(got[0].box, face.box) > 0.6 and det.second_look.crops == 1
    # YuNet's box and keypoints from the crop, the proposer's score (detector.confirm_score acts on it)
    assert len(got[0].keypoints) == 4 and got[0].score == pytest.approx(proposed[0].score, abs=1e-4)
    # what the crop pass does not confirm is not kept: the proposer alone never adds a face
    strict = YuNetDetector(YUNET, score_threshold=0.99, refine_low=0.0, refine_confirm=0.999, proposer=blaze)
    assert strict.detect(frame) == []
    blank = np.full_like(frame, GREY)
    assert det.detect(blank) == []


def test_a_face_yunet_already_found_spends_no_look_on_its_proposal(frame):
    plain = YuNetDetector(YUNET, score_threshold=0.3).detect(frame)
    det = YuNetDetector(YUNET, score_threshold=0.3, proposer=BlazeFaceDetector(BLAZE, score_threshold=0.2),
                        propose_max=1)
    assert [d.box for d in det.detect(frame)] == [d.box for d in plain] and len(plain) == 1
    assert det.second_look.crops == 0


def test_proposal_settings_come_from_the_config_and_bad_ones_are_one_line_errors():
    cfg = Config()
    assert cfg.detector.propose_model == ""  # off by default: a Pi 4 cannot afford it at 15 fps
    assert build_detector(cfg).proposer is None
    cfg.detector.propose_model = str(BLAZE)
    cfg.detector.propose_score, cfg.detector.propose_max = 0.4, 3
    det = build_detector(cfg)
    assert isinstance(det.proposer, BlazeFaceDetector) and det.proposer.score_threshold == 0.4
    assert det.propose_max == 3
    cfg.detector.propose_model = str(YUNET)  # not a BlazeFace model
    with pytest.raises(KioskError, match="detector.propose_model") as e:
        build_detector(cfg)
    assert "\n" not in str(e.value)
    cfg.detector.propose_model, cfg.detector.backend = str(BLAZE), "blazeface"  # BlazeFace takes no proposals
    with pytest.raises(KioskError, match="detector.propose_model") as e:
        build_detector(cfg)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("size,target", [((480, 640), (400, 300)), ((1080, 1920), (400, 225)), ((480, 640), (320, 240))])
def test_the_detector_input_is_shrunk_smoothly_to_its_size(size, target):
    # a fine stripe pattern: plain bilinear sampling straight from a big frame would alias it into
    # coarse bands; halving by area first averages it to flat grey, as the whole shrink must
    from kiosk.vision.yunet import shrink

    h, w = size
    stripes = np.zeros((h, w, 3), np.uint8)
    stripes[:, ::2] = 255
    out = shrink(stripes, *target)
    assert out.shape == (target[1], target[0], 3)
    assert abs(float(out.mean()) - 127.5) < 3
    if w >= 2 * target[0]:
        assert float(out.std()) < 20  # averaged, not sampled

"""The int8 classifier: quantisation arithmetic, preprocessing, and refusal of inconsistent models."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from kiosk import LABELS
from kiosk.errors import KioskError
from kiosk.vision.classifier import Classifier, read_meta, sha256_file
from kiosk.vision.preprocess import dequantize, quantize, resize_face, square_crop_box
from tests.conftest import CLASSIFIER


def test_quantize_roundtrip_and_saturation():
    x = np.array([-1.0, 0.0, 0.5, 1.0, 300.0], np.float32)
    q = quantize(x, scale=1 / 128, zero_point=0, dtype=np.int8)
    assert q.tolist() == [-128, 0, 64, 127, 127]
    q = quantize(np.array([0.0, 0.999, 255.0, -3.0]), scale=1.0, zero_point=0, dtype=np.uint8)
    assert q.tolist() == [0, 1, 255, 0]
    q = quantize(np.array([0.0, 1.0]), scale=0.00390625, zero_point=-128, dtype=np.int8)
    assert q.tolist() == [-128, 127]
    assert dequantize(np.array([-128, 0, 127], np.int8), 0.00390625, -128).tolist() == pytest.approx(
        [0.0, 0.5, 255 / 256])
    assert dequantize(np.array([0, 255], np.uint8), 0.00390625, 0).tolist() == pytest.approx([0.0, 255 / 256])


def test_square_crop_box():
    # a 40x60 box gets a square of side 60 * 1.4 centred on it
    assert square_crop_box((100, 100, 40, 60), 0.2, 640, 480) == (78, 88, 84, 84)
    # clipped at the frame edges
    assert square_crop_box((0, 0, 50, 50), 0.5, 640, 480) == (0, 0, 75, 75)  # -25..75, cut at 0
    assert square_crop_box((600, 440, 40, 40), 0.0, 640, 480) == (600, 440, 40, 40)


def test_resize_face_interpolation():
    img = np.zeros((200, 100, 3), np.uint8)
    img[:, 50:] = 255
    small = resize_face(img, (50, 100))
    assert small.shape == (100, 50, 3)
    assert small[:, :24].max() == 0 and small[:, 26:].min() == 255
    big = resize_face(img[:20, :20], (64, 64))
    assert big.shape == (64, 64, 3)
    same = resize_face(img[:100, :50], (50, 100))
    assert same.shape == (100, 50, 3) and same.flags.c_contiguous and not np.shares_memory(same, img)


@pytest.mark.parametrize("side", [129, 150, 210, 256, 300])
def test_resize_face_stays_close_to_area_averaging(side):
    # a real face crop shrunk to the classifier's 128 px: the fast path (area halvings, then bilinear) may
    # differ from OpenCV's exact area average only by grey levels the model does not notice
    from skimage import data

    photo = data.astronaut()[:, :, ::-1]  # a real photo (public domain), 512 x 512, her face top centre
    face = cv2.resize(photo[0:300, 100:400], (side, side), interpolation=cv2.INTER_AREA)
    fast = resize_face(face, (128, 128)).astype(np.int16)
    exact = cv2.resize(face, (128, 128), interpolation=cv2.INTER_AREA).astype(np.int16)
    assert fast.shape == exact.shape == (128, 128, 3)
    assert float(np.abs(fast - exact).mean()) < 2.0
    # training's resize (exact=True) is the area average itself, as the shipped models learnt from
    assert np.array_equal(resize_face(face, (128, 128), exact=True), exact.astype(np.uint8))


def test_resize_face_averages_fine_detail():
    # pixel noise shrunk 4x: averaging 4x4 blocks divides its spread by 4, bilinear sampling only by 2
    # (and aliases it); the classifier was trained on averaged pictures
    noise = np.random.default_rng(1).integers(0, 256, (512, 512, 3)).astype(np.uint8)
    out = resize_face(noise, (128, 128))
    assert out.shape == (128, 128, 3) and abs(float(out.mean()) - float(noise.mean())) < 2
    assert float(out.std()) < 0.3 * float(noise.std())


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier(CLASSIFIER)


def test_shipped_model_matches_its_metadata(clf):
    meta = clf.meta
    assert set(meta.labels) <= set(LABELS) and {"mask", "no_mask"} <= set(meta.labels)
    assert clf.sha256 == sha256_file(CLASSIFIER) == meta.sha256
    assert meta.input.dtype in ("uint8", "int8") and meta.output.dtype in ("uint8", "int8")


def test_prepare_follows_metadata(clf):
    face = np.random.default_rng(0).integers(0, 256, (97, 83, 3), dtype=np.uint8)
    t = clf.prepare(face)
    m = clf.meta
    assert t.shape == (1, m.height, m.width, 3) and t.dtype == np.dtype(m.input.dtype)
    rgb = cv2.cvtColor(face, cv2.COLOR_BGR2RGB) if m.color_order == "RGB" else face
    want = (resize_face(rgb, (m.width, m.height)).astype(np.float32) - np.array(m.mean)) / np.array(m.std)
    want_q = quantize(want, m.input.scale, m.input.zero_point, np.dtype(m.input.dtype))
    assert np.array_equal(t[0], want_q)


def test_probabilities_sum_to_one(clf):
    face = np.full((120, 120, 3), 128, np.uint8)
    label, p, scores = clf.classify(face)
    assert set(scores) == set(clf.labels)
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert scores[label] == p == max(scores.values())


def test_batch_gives_the_numbers_of_single_invokes(clf):
    """All faces of a frame: the same probabilities, bit for bit, whatever the count did before; the input
    stays allocated for one face (a re-size re-prepares the model and grows its arena)."""
    from skimage import data

    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    rng = np.random.default_rng(3)
    crops = [img[y:y + s, x:x + s] for x, y, s in rng.integers([0, 0, 120], [300, 300, 212], (8, 3))]
    crops[1] = np.full((90, 90, 3), 200, np.uint8)  # not every crop a face
    tensors = [clf.prepare(c) for c in crops]
    single = np.stack([clf.predict(t) for t in tensors])
    assert len({tuple(np.round(r, 3)) for r in single}) > 3  # the crops really differ
    for n in (3, 1, 8, 2, 2, 5, 1):
        got = clf.predict_batch(tensors[:n])
        assert got.shape == (n, len(clf.labels)) and np.array_equal(got, single[:n]), n
        assert list(clf.interpreter.get_input_details()[0]["shape"]) == [1, clf.meta.height, clf.meta.width, 3]
    assert clf.predict_batch([]).shape == (0, len(clf.labels))
    assert np.array_equal(clf.predict(tensors[7]), single[7])  # back to one face after a batch


# --- refusals: every inconsistency between file, tensors and sidecar is a one-line KioskError ---

@pytest.fixture
def model_copy(tmp_path):
    dst = tmp_path / "m.tflite"
    shutil.copy(CLASSIFIER, dst)
    meta = json.loads(CLASSIFIER.with_suffix(".json").read_text())
    meta["file"] = "m.tflite"
    (tmp_path / "m.json").write_text(json.dumps(meta))
    return dst


def edit_meta(path, fn):
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    fn(meta)
    side.write_text(json.dumps(meta))


def expect_error(path, pattern):
    with pytest.raises(KioskError, match=pattern) as exc:
        Classifier(path)
    assert "\n" not in str(exc.value)


def test_copy_loads(model_copy):
    Classifier(model_copy)


def test_missing_model(tmp_path):
    expect_error(tmp_path / "nope.tflite", "model file not found: .*nope.tflite")


def test_missing_sidecar(model_copy):
    model_copy.with_suffix(".json").unlink()
    expect_error(model_copy, "model metadata not found: .*m.json")


def test_sidecar_not_json(model_copy):
    model_copy.with_suffix(".json").write_text("{labels: ")
    expect_error(model_copy, "m.json: not valid JSON")


def test_corrupt_model(model_copy):
    data = bytearray(model_copy.read_bytes())
    data[4:8] = b"XXXX"
    model_copy.write_bytes(bytes(data))
    edit_meta(model_copy, lambda m: m.update(sha256=sha256_file(model_copy)))
    expect_error(model_copy, "not a TFLite model")


def test_truncated_model(model_copy):
    model_copy.write_bytes(model_copy.read_bytes()[:5000])
    edit_meta(model_copy, lambda m: m.update(sha256=sha256_file(model_copy)))
    expect_error(model_copy, "cannot load TFLite model")


def test_sha_mismatch(model_copy):
    edit_meta(model_copy, lambda m: m.update(sha256="0" * 64))
    expect_error(model_copy, "sha256 .* does not match metadata 000000000000")


def test_input_size_mismatch(model_copy):
    edit_meta(model_copy, lambda m: m["input"].update(width=m["input"]["width"] + 32))
    expect_error(model_copy, "input shape is .* metadata says")


def test_label_count_mismatch(model_copy):
    meta = json.loads(model_copy.with_suffix(".json").read_text())
    labels = meta["labels"]
    other = ["mask", "no_mask", "incorrect"][: 3 if len(labels) == 2 else 2]
    edit_meta(model_copy, lambda m: m.update(labels=other))
    expect_error(model_copy, "output shape is .* metadata says")


def test_quantisation_mismatch(model_copy):
    edit_meta(model_copy, lambda m: m["output"].update(scale=m["output"]["scale"] * 2))
    expect_error(model_copy, "output quantisation is scale=.* metadata says")


def test_dtype_mismatch(model_copy):
    edit_meta(model_copy, lambda m: m["input"].update(dtype="float32"))
    expect_error(model_copy, "input dtype is .* metadata says float32")


@pytest.mark.parametrize("edit, pattern", [
    (lambda m: m.update(labels=["mask", "cat"]), "labels .* must be distinct values"),
    (lambda m: m.update(labels=["mask", "mask"]), "must be distinct"),
    (lambda m: m.update(labels=["mask", "incorrect"]), "must include 'mask' and 'no_mask'"),
    (lambda m: m.update(schema="other/2"), "schema is 'other/2'"),
    (lambda m: m["input"].update(color_order="HSV"), "color_order must be RGB or BGR"),
    (lambda m: m["preprocessing"].update(std=[1, 0, 1]), "std > 0"),
    (lambda m: m.pop("labels"), "missing key 'labels'"),
    (lambda m: m.update(file="other.tflite"), "describes 'other.tflite', not 'm.tflite'"),
    (lambda m: m["input"].update(width="128"), "key 'width' has wrong type str"),
])
def test_bad_metadata(model_copy, edit, pattern):
    edit_meta(model_copy, edit)
    expect_error(model_copy, pattern)


def test_read_meta_of_shipped_model():
    meta = read_meta(CLASSIFIER)
    assert meta.file == CLASSIFIER.name

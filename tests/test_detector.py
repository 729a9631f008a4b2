"""BlazeFace detector on real photos (scikit-image's bundled images), letterbox mapping, bad models."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from kiosk.errors import KioskError
from kiosk.vision.boxes import iou
from kiosk.vision.detector import (
    BlazeFaceDetector,
    Detection,
    FaceDetector,
    HaarDetector,
    TiledDetector,
)

ROOT = Path(__file__).resolve().parents[1]

MODELS = ROOT / "models"
MODEL = MODELS / "face_detection_short_range.tflite"
FULL_MODEL = MODELS / "face_detection_full_range_sparse.tflite"

# Eileen Collins' head in skimage's 512x512 astronaut photo, and her face inside that crop, read
# off the image by eye on a 10 px grid (cheek to cheek, eyebrows to chin).
HEAD = (slice(40, 240), slice(130, 330))
FACE_IN_HEAD = (50, 45, 100, 95)
GREY = 128


@pytest.fixture(scope="module", params=["short_range", "full_range_sparse"])
def detector(request: pytest.FixtureRequest) -> BlazeFaceDetector:
    return BlazeFaceDetector(MODELS / f"face_detection_{request.param}.tflite")


@pytest.fixture(scope="module")
def short_detector() -> BlazeFaceDetector:
    return BlazeFaceDetector(MODEL)


@pytest.fixture(scope="module")
def head_bgr() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[HEAD][:, :, ::-1])


def place(
    image: np.ndarray, side: int, x: int, y: int, frame_hw: tuple[int, int]
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Paste the head crop scaled to side x side at (x, y) on a grey frame (cut off at the frame's
    edges); return the frame and where the face lands in it."""
    fh, fw = frame_hw
    frame = np.full((fh, fw, 3), GREY, np.uint8)
    scaled = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + side, fw), min(y + side, fh)
    frame[y0:y1, x0:x1] = scaled[y0 - y : y1 - y, x0 - x : x1 - x]
    s = side / image.shape[0]
    fx, fy, fwid, fhei = FACE_IN_HEAD
    return frame, (x + fx * s, y + fy * s, fwid * s, fhei * s)


def assert_one_face(dets: list[Detection], truth: tuple[float, ...], frame: np.ndarray) -> None:
    assert len(dets) == 1, dets
    d = dets[0]
    h, w = frame.shape[:2]
    x, y, bw, bh = d.box
    assert all(isinstance(v, int) for v in d.box)
    assert 0 <= x and 0 <= y and bw > 0 and bh > 0 and x + bw <= w and y + bh <= h
    assert 0.0 < d.score <= 1.0
    assert iou(d.box, truth) > 0.5, (d.box, truth)
    assert len(d.keypoints) == 6
    # Eyes, nose and mouth lie inside the face box; the ear points sit on its sides, so allow them
    # a 15% margin.
    for i, (px, py) in enumerate(d.keypoints):
        m = 0.0 if i < 4 else 0.15
        assert x - m * bw <= px <= x + bw * (1 + m) and y - m * bh <= py <= y + bh * (1 + m), (i, px, py)
    (rex, rey), (lex, ley), _, (mx, my) = d.keypoints[:4]
    # The subject's right eye is on the image's left; the mouth is below the eyes.
    assert rex < lex and my > max(rey, ley)


def test_protocol(detector: BlazeFaceDetector) -> None:
    f: FaceDetector = detector  # type-checks against the Protocol
    assert f.detect(np.zeros((10, 10, 3), np.uint8)) == []


@pytest.mark.parametrize(
    "side,x,y",
    [
        (240, 20, 100),  # face 120 px high (25% of the frame), left
        (384, 250, 90),  # face 192 px high (40% of the frame), right
    ],
)
def test_astronaut_on_landscape_frame(
    detector: BlazeFaceDetector, head_bgr: np.ndarray, side: int, x: int, y: int
) -> None:
    frame, truth = place(head_bgr, side, x, y, (480, 640))
    assert_one_face(detector.detect(frame), truth, frame)


@pytest.mark.parametrize(
    "frame_hw,side,x,y",
    [
        ((640, 480), 260, 200, 360),  # portrait: letterbox pads left and right
        ((300, 600), 280, 300, 10),  # wide: letterbox pads above and below
        ((480, 640), 480, 0, 0),  # face fills half the frame
    ],
)
def test_non_square_frames_map_back(
    detector: BlazeFaceDetector,
    head_bgr: np.ndarray,
    frame_hw: tuple[int, int],
    side: int,
    x: int,
    y: int,
) -> None:
    frame, truth = place(head_bgr, side, x, y, frame_hw)
    assert_one_face(detector.detect(frame), truth, frame)


def test_face_cut_by_frame_edge_is_clipped(detector: BlazeFaceDetector, head_bgr: np.ndarray) -> None:
    # Forehead above the frame's top edge: the box must stay inside the frame.
    frame, _ = place(head_bgr, 400, 100, -80, (480, 640))
    dets = detector.detect(frame)
    assert len(dets) == 1
    x, y, w, h = dets[0].box
    assert y == 0 and h > 0 and x >= 0 and x + w <= 640


@pytest.mark.parametrize(
    "frame",
    [
        np.full((480, 640, 3), GREY, np.uint8),
        np.zeros((480, 640, 3), np.uint8),
        np.ascontiguousarray(data.coffee()[:, :, ::-1]),
        np.ascontiguousarray(data.chelsea()[:, :, ::-1]),
    ],
    ids=["grey", "black", "coffee", "chelsea-cat"],
)
def test_no_faces(detector: BlazeFaceDetector, frame: np.ndarray) -> None:
    assert detector.detect(frame) == []


def test_two_faces_sorted_by_score(detector: BlazeFaceDetector, head_bgr: np.ndarray) -> None:
    frame, truth_a = place(head_bgr, 300, 0, 90, (480, 640))
    frame_b, truth_b = place(head_bgr, 260, 360, 200, (480, 640))
    frame[200:460, 360:620] = frame_b[200:460, 360:620]
    dets = detector.detect(frame)
    assert len(dets) == 2
    assert dets[0].score >= dets[1].score
    for truth in (truth_a, truth_b):
        assert max(iou(d.box, truth) for d in dets) > 0.5
    assert detector.detect(frame) == dets  # the reused buffers leave no state behind


def test_max_faces(head_bgr: np.ndarray) -> None:
    frame, _ = place(head_bgr, 300, 0, 90, (480, 640))
    frame_b, _ = place(head_bgr, 260, 360, 200, (480, 640))
    frame[200:460, 360:620] = frame_b[200:460, 360:620]
    assert len(BlazeFaceDetector(MODEL, max_faces=1).detect(frame)) == 1


def test_threshold_filters(short_detector: BlazeFaceDetector, head_bgr: np.ndarray) -> None:
    frame, _ = place(head_bgr, 240, 20, 100, (480, 640))
    score = short_detector.detect(frame)[0].score
    assert BlazeFaceDetector(MODEL, score_threshold=min(0.999, score + 0.005)).detect(frame) == []
    assert BlazeFaceDetector(MODEL, score_threshold=max(0.001, score - 0.005)).detect(frame)


def test_full_range_finds_small_faces(head_bgr: np.ndarray) -> None:
    # A 40 px face (someone ~2.5 m from a 640x480 camera) is below the short-range model's
    # smallest anchor; the full-range model exists for this.
    frame, truth = place(head_bgr, 80, 300, 200, (480, 640))
    dets = BlazeFaceDetector(FULL_MODEL).detect(frame)
    assert len(dets) == 1 and iou(dets[0].box, truth) > 0.4, (dets, truth)


def test_rejects_bad_frames(detector: BlazeFaceDetector) -> None:
    with pytest.raises(ValueError):
        detector.detect(np.zeros((48, 64), np.uint8))
    with pytest.raises(ValueError):
        detector.detect(np.zeros((48, 64, 3), np.float32))


def test_wrong_model_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"this is not a model" * 10)
    with pytest.raises(KioskError, match="not a TFLite model"):
        BlazeFaceDetector(junk)
    with pytest.raises(KioskError, match="not found"):
        BlazeFaceDetector(tmp_path / "missing.tflite")
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(MODEL.read_bytes()[:5000])
    with pytest.raises(KioskError) as exc:
        BlazeFaceDetector(truncated)
    assert "\n" not in str(exc.value)


@pytest.fixture(scope="module")
def tiled(short_detector: BlazeFaceDetector) -> TiledDetector:
    return TiledDetector(short_detector)


@pytest.mark.parametrize(
    "frame_hw,side,x,y",
    [
        ((480, 640), 120, 20, 40),  # 60 px face in a corner tile: too small for one whole-frame pass
        ((480, 640), 120, 260, 180),  # centred, where all four tiles overlap
        ((640, 480), 120, 180, 260),  # portrait frame
        ((480, 640), 240, 200, 120),  # found by the whole-frame pass and by tiles: merged
        ((480, 640), 480, 80, 0),  # larger than a tile
    ],
)
def test_tiled_finds_each_face_once(
    tiled: TiledDetector,
    head_bgr: np.ndarray,
    frame_hw: tuple[int, int],
    side: int,
    x: int,
    y: int,
) -> None:
    frame, truth = place(head_bgr, side, x, y, frame_hw)
    assert_one_face(tiled.detect(frame), truth, frame)


def test_tiled_small_face_missed_by_one_pass(
    short_detector: BlazeFaceDetector, tiled: TiledDetector, head_bgr: np.ndarray
) -> None:
    # Why tiling exists: the same 60 px face that the whole-frame pass misses.
    frame, _ = place(head_bgr, 120, 260, 180, (480, 640))
    assert short_detector.detect(frame) == []
    assert len(tiled.detect(frame)) == 1


@pytest.mark.parametrize("name", ["grey", "coffee"])
def test_tiled_no_faces(tiled: TiledDetector, name: str) -> None:
    frame = (
        np.full((480, 640, 3), GREY, np.uint8)
        if name == "grey"
        else np.ascontiguousarray(data.coffee()[:, :, ::-1])
    )
    assert tiled.detect(frame) == []


def test_tiled_bad_grid(short_detector: BlazeFaceDetector) -> None:
    with pytest.raises(KioskError):
        TiledDetector(short_detector, grid=(0, 2))


class _FakeInterpreter:
    """Just enough of the Interpreter API for BlazeFaceDetector._validate."""

    def __init__(self, inputs: list[tuple[list[int], type]], outputs: list[tuple[list[int], type]]):
        self._in = [{"shape": np.array(s), "dtype": t, "index": i} for i, (s, t) in enumerate(inputs)]
        self._out = [
            {"shape": np.array(s), "dtype": t, "index": 10 + i} for i, (s, t) in enumerate(outputs)
        ]

    def get_input_details(self) -> list[dict]:
        return self._in

    def get_output_details(self) -> list[dict]:
        return self._out


@pytest.mark.parametrize(
    "inputs,outputs,needle",
    [
        # A 224x224 classifier, uint8 in, 3 classes out (like the mask classifier).
        ([([1, 224, 224, 3], np.uint8)], [([1, 3], np.uint8)], "input shape"),
        ([([1, 128, 128, 3], np.uint8)], [([1, 896, 16], np.float32)], "input type"),
        ([([1, 128, 128, 3], np.float32)], [([1, 896, 16], np.float32)], "outputs"),
        (
            [([1, 128, 128, 3], np.float32)],
            [([1, 2304, 16], np.float32), ([1, 2304, 1], np.float32)],
            "expected float32 [1,896,16]",
        ),
        ([([1, 128, 128, 3], np.float32)] * 2, [], "expected 1 input"),
    ],
)
def test_validate_rejects_other_models(
    inputs: list[tuple[list[int], type]], outputs: list[tuple[list[int], type]], needle: str
) -> None:
    with pytest.raises(KioskError, match="not a BlazeFace face detector") as exc:
        BlazeFaceDetector._validate(_FakeInterpreter(inputs, outputs), Path("m.tflite"))
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_validate_accepts_both_blazeface_variants() -> None:
    for side, n in ((128, 896), (192, 2304)):
        fake = _FakeInterpreter(
            [([1, side, side, 3], np.float32)],
            [([1, n, 1], np.float32), ([1, n, 16], np.float32)],
        )
        assert BlazeFaceDetector._validate(fake, Path("m.tflite")) == (side, 11, 10)


def test_other_tflite_model_in_repo_is_rejected() -> None:
    # Any real TFLite model that is not BlazeFace will do; the FaceMesh model lives beside ours.
    other = ROOT / "models" / "face_landmark.tflite"
    if not other.is_file():
        pytest.skip("models/face_landmark.tflite not present")
    with pytest.raises(KioskError, match="not a BlazeFace face detector"):
        BlazeFaceDetector(other)


def test_bad_parameters() -> None:
    with pytest.raises(KioskError):
        BlazeFaceDetector(MODEL, score_threshold=1.5)
    with pytest.raises(KioskError):
        BlazeFaceDetector(MODEL, iou_threshold=0.0)


def test_haar_baseline_finds_the_astronaut(head_bgr: np.ndarray) -> None:
    frame, truth = place(head_bgr, 240, 20, 100, (480, 640))
    dets = HaarDetector().detect(frame)
    assert dets and max(iou(d.box, truth) for d in dets) > 0.5

"""The Raspberry Pi 4 estimate's arithmetic (kiosk/bench/pi_estimate.py) on hand-made measurements.
Its measurement part, with real reference models, is tests/host/test_reference_models.py."""

from __future__ import annotations

import pytest

from kiosk.bench import pi_estimate as P
from kiosk.cli import main

HERE = {"reference_ms": {"int8": 10.0, "float32": 8.0}, "detector_ms": 4.0, "classifier_ms": 10.0,
        "non_model_ms": {"detector_side": 2.0, "classifier_side": 1.5}}


def test_models_scale_by_the_reference_of_their_precision():
    e = P.estimate(HERE, "float32", "int8", faces=3)
    det_fast, det_slow = e["pi4_model_ms_4_threads"]["detector"]
    clf_fast, clf_slow = e["pi4_model_ms_4_threads"]["classifier_x3"]
    assert det_fast == pytest.approx(4.0 * 46.0 / 8.0, abs=0.05)  # float32: the 46 ms reference
    assert clf_fast == pytest.approx(10.0 * 17.0 / 10.0, abs=0.05)  # int8: the 17 ms reference
    assert det_slow == pytest.approx(det_fast * P.PI4_SLOW_FACTOR, abs=0.1)
    # a Pi core against a core here, one thread: int8 3.7x, float 12.6x with these times
    assert e["pi4_slowdown_per_core"] == {"int8": pytest.approx(3.74, abs=0.01),
                                          "float32": pytest.approx(12.63, abs=0.01)}


def test_frame_times_and_verdicts():
    e = P.estimate(HERE, "float32", "int8", faces=3)
    lo, hi = e["assumptions"]["non_model_slowdown"]
    det4, clf4 = 23.0, 17.0
    t2 = 186 / 142
    seq_fast = det4 + clf4 + 3.5 * lo
    ovl_fast = max(det4 * t2 + 2.0 * lo, clf4 * t2 + 1.5 * lo)
    assert e["threads_4"]["ms_per_frame"][0] == pytest.approx(seq_fast, abs=0.1)
    assert e["threads_4_overlap"]["ms_per_frame"][0] == pytest.approx(ovl_fast, abs=0.1)
    assert e["threads_1"]["ms_per_frame"][0] > e["threads_4"]["ms_per_frame"][0]
    for name in ("threads_1", "threads_4", "threads_4_overlap"):
        fast, slow = e[name]["fps"]
        assert slow < e[name]["central_fps"] < fast
    assert e["threads_4_overlap"]["keeps_up"] == "at the fast bound, not at the slow one"  # 26.6 .. 12.4 fps
    cheap = dict(HERE, detector_ms=1.5, non_model_ms={"detector_side": 1.0, "classifier_side": 1.0})
    assert P.estimate(cheap, "float32", "int8", 3)["threads_4_overlap"]["keeps_up"] == "yes"
    assert P.estimate(dict(HERE, detector_ms=40.0), "float32", "int8", 3)["threads_4"]["keeps_up"] == "no"


def test_bench_refuses_a_missing_reference_folder(tmp_path, capsys):
    code = main(["bench", "--seconds", "1", "--pi-reference", str(tmp_path / "ref"), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mobilenet_v2_224_int8.tflite not found" in err[0] and "-m tools.training.reference_models" in err[0]


def test_yunet_takes_its_published_pi_times_scaled_by_the_input_pixels():
    here = dict(HERE, detector_input=[320, 240])
    e = P.estimate(here, P.YUNET_COMPUTE, "int8", faces=3)
    assert e["pi4_model_ms_4_threads"]["detector"] == [21.0, 25.0]  # not scaled from a reference
    big = P.estimate(dict(HERE, detector_input=[640, 480]), P.YUNET_COMPUTE, "int8", faces=3)
    assert big["pi4_model_ms_4_threads"]["detector"] == [84.0, 100.0]  # 4x the pixels
    # overlapped: the detector's stage on 2 of the 4 cores, its slow bound from the slower source
    t2 = 186 / 142
    lo, hi = e["assumptions"]["non_model_slowdown"]
    assert e["threads_4_overlap"]["ms_per_frame"][0] == pytest.approx(
        max(21.0 * t2 + 2.0 * lo, 17.0 * t2 + 1.5 * lo), abs=0.1)
    assert e["threads_4_overlap"]["ms_per_frame"][1] == pytest.approx(
        max(25.0 * t2 + 2.0 * hi, 17.0 * P.PI4_SLOW_FACTOR * t2 + 1.5 * hi), abs=0.1)
    assert big["threads_4_overlap"]["keeps_up"] == "no"  # 640x480 cannot keep 15 fps on a Pi 4
    # the second look: its crops' pixels on top (3 crops of 128 px: 0.64 of a 320x240 frame)
    looked = P.estimate(dict(HERE, detector_input=[320, 240], detector_crop_px=3 * 128 * 128), P.YUNET_COMPUTE,
                        "int8", faces=3)
    assert looked["pi4_model_ms_4_threads"]["detector"] == [34.4, 41.0]
    # a proposing BlazeFace (detector.propose_model): its time here scaled as a float model, on top
    proposed = P.estimate(dict(HERE, detector_input=[320, 240], proposer_ms=4.0), P.YUNET_COMPUTE, "int8", faces=3)
    assert proposed["pi4_model_ms_4_threads"]["detector"] == [
        pytest.approx(21.0 + 4.0 * 46.0 / 8.0, abs=0.05), pytest.approx(25.0 + 23.0 * P.PI4_SLOW_FACTOR, abs=0.1)]

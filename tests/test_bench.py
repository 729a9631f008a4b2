"""`python -m kiosk bench`: a short smoke run of the real pipeline, checked for structure and sanity.

No timing targets here: CI machines are shared and slow. The figures that matter are in docs/bench.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.bench.measure import STAGES, measure, percentile
from kiosk.bench.report import format_table
from kiosk.bench.scenarios import SCENARIOS
from kiosk.cli import main


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[dict, Path, str]:
    out = tmp_path_factory.mktemp("bench")
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["bench", "--seconds", "1", "--rounds", "1", "--startup-runs", "1", "--out", str(out)])
    assert code == 0
    return json.loads((out / "bench.json").read_text()), out, buf.getvalue()


@pytest.mark.slow
def test_report_structure_and_sanity(smoke):
    report, out, printed = smoke
    assert report["schema"] == "maskgate.bench-report/1"
    assert list(report["sides"]) == ["ours"] and "ratios" not in report
    ours = report["sides"]["ours"]
    assert ours["info"]["overlap"] is True  # the default
    assert ours["info"]["classifier"]["sha256"]
    assert set(ours["scenarios"]) == {name for name, _ in SCENARIOS}
    for name, n in SCENARIOS:
        s = ours["scenarios"][name]
        # every frame of the scenario yields exactly the faces it was composed with
        assert s["expected_faces"] == n
        assert len(s["faces_found"]) == 4 and set(s["faces_found"].values()) == {n}, s["faces_found"]
        assert s["faces_match"] and s["failures"] == 0
        assert s["fps"] > 0 and s["frames"] >= 20
        assert s["cpu_ms_per_frame"] > 0
        lat = s["latency_ms"]
        for stage in (*STAGES, "total"):
            if stage == "publish" and lat[stage]["n"] == 0:
                continue  # no decision in this short run: nothing was published
            assert 0 <= lat[stage]["p50"] <= lat[stage]["p95"], (name, stage, lat[stage])
        for stage in ("decode", "detect", "preprocess", "classify", "decide", "total"):
            assert lat[stage]["n"] == s["frames"]
        assert lat["detect"]["p50"] > 0 and lat["decode"]["p50"] > 0
        # one after the other, a frame's call holds its detection; with overlap (the default), the
        # detection runs beside the call, which still holds the frame's classification
        assert lat["total"]["p50"] >= lat["classify" if ours["info"]["overlap"] else "detect"]["p50"]
        if n == 0:
            assert lat["classify"]["p95"] == 0 and s["decisions"] == 0
        else:
            assert lat["classify"]["p50"] > 0
    # more faces cost more: classification runs once per face
    assert ours["scenarios"]["faces8"]["latency_ms"]["classify"]["p50"] > \
        ours["scenarios"]["faces1"]["latency_ms"]["classify"]["p50"]
    assert ours["growth"]["ms_per_face"] > 0
    su = ours["startup"]["median"]
    assert su["total_s"] > 0 and su["imports_s"] > 0 and su["model_load_s"] > 0 and su["first_frame_s"] > 0
    parts = su["interpreter_s"] + su["imports_s"] + su["model_load_s"] + su["first_frame_s"]
    assert parts == pytest.approx(su["total_s"], abs=0.01)
    assert 10 * 1024 < ours["peak_rss_kb"] < 4 * 1024 * 1024  # 10 MiB .. 4 GiB
    for name in ("faces0", "faces8"):
        assert name in printed
    assert "start-up to first frame verdict" in printed


@pytest.mark.slow
def test_frames_are_fixed_640x480_jpegs(smoke):
    _, out, _ = smoke
    manifest = json.loads((out / "frames" / "frames.json").read_text())
    assert len(manifest["frames"]) == 20
    for rec in manifest["frames"]:
        data = (out / "frames" / rec["file"]).read_bytes()
        assert data[:2] == b"\xff\xd8"
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (480, 640, 3)


def test_peer_without_its_venv_is_a_usage_error(tmp_path, capsys):
    code = main(["bench", "--peer", "--peer-python", str(tmp_path / "nope" / "python"), "--out", str(tmp_path)])
    assert code == 2
    assert "peer interpreter" in capsys.readouterr().err


def test_measure_counts_a_crashing_frame_and_goes_on():
    # The peer raises cv2.error on boxes outside the frame: the bench counts it and continues.
    frames = [("ok.jpg", b"a"), ("bad.jpg", b"b")]

    def process(data: bytes, times: dict) -> tuple[int, str | None]:
        if data == b"b":
            raise cv2.error("empty crop")
        for s in (*STAGES, "total"):
            times[s] = 1.0
        return 1, None

    r = measure(process, lambda: None, frames, seconds=0.0, hold=2)
    assert r["frames"] == 4 and r["failures"] == 2
    assert r["faces_found"] == {"ok.jpg": 1, "bad.jpg": None}
    assert list(r["errors"].values()) == [2] and "empty crop" in next(iter(r["errors"]))


def test_percentile_matches_numpy():
    rng = np.random.default_rng(0)
    vals = list(rng.exponential(3.0, 101))
    for q in (0, 50, 95, 100):
        assert percentile(vals, q) == pytest.approx(float(np.percentile(vals, q)))


def test_table_with_ratios_formats():
    side = {"label": "x", "info": {}, "startup": {}, "peak_rss_kb": 1024, "growth": {}, "scenarios": {}}
    report = {"machine": {"cpu": "c", "cores": 2, "loadavg_start": 0.1, "loadavg": [0.2, 0, 0]},
              "created": "t", "frames": {"count": 16, "origin": "o"}, "settings": {"seconds": 1, "rounds": 1},
              "sides": {"ours": side, "peer": side},
              "ratios": {"ours": {"scenarios": {"faces1": {"throughput": 12.0, "latency_p50": 0.1,
                                                           "latency_p95": 0.1, "cpu_per_frame": 0.1}},
                                  "peak_rss": 0.1, "startup": 0.1,
                                  "targets": {"throughput >= 10x peer (every scenario)": True}}}}
    text = format_table(report)
    assert "12.0x" in text and "MET" in text


@pytest.mark.slow
def test_overlap_side_by_side_finds_the_same_faces(tmp_path):
    import io
    from contextlib import redirect_stdout

    with redirect_stdout(io.StringIO()):
        code = main(["bench", "--seconds", "1", "--rounds", "1", "--startup-runs", "1", "--overlap", "off,on",
                     "--scenarios", "faces0,faces3", "--out", str(tmp_path)])
    assert code == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    assert list(report["sides"]) == ["ours_overlap_off", "ours_overlap_on"]
    for key, overlap in (("ours_overlap_off", False), ("ours_overlap_on", True)):
        side = report["sides"][key]
        assert side["info"]["overlap"] is overlap
        for name, n in (("faces0", 0), ("faces3", 3)):
            s = side["scenarios"][name]
            assert set(s["faces_found"].values()) == {n} and s["failures"] == 0, (key, name, s["faces_found"])
        assert side["scenarios"]["faces3"]["decisions"] >= 1
        assert side["startup"]["median"]["first_frame_s"] > 0


def test_bad_overlap_option_is_refused(tmp_path, capsys):
    assert main(["bench", "--seconds", "1", "--overlap", "maybe", "--out", str(tmp_path)]) == 2
    assert "--overlap" in capsys.readouterr().err

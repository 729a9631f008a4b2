"""`classify` and `scan` on real images (frames of the demo clip, scikit-image photos) and broken files."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib

import cv2
import pytest
from skimage import data

from tests.conftest import CLASSIFIER, DEMO_CLIP, ROOT


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def lines(stdout: str) -> list[dict]:
    return [json.loads(l) for l in stdout.splitlines() if l.strip()]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Frames from the demo clip (640x480 scenes) and face crops from them, as files."""
    d = tmp_path_factory.mktemp("img")
    cap = cv2.VideoCapture(str(DEMO_CLIP))
    frames = []
    ok, f = cap.read()
    while ok:
        frames.append(f)
        ok, f = cap.read()
    cap.release()
    out = {}
    for name, idx in {"empty": 5, "a_nomask": 30, "a_mask": 75, "b_mask": 120}.items():
        out[name] = d / f"{name}.png"
        cv2.imwrite(str(out[name]), frames[idx])
    out["astronaut_face"] = d / "astronaut_face.jpg"
    cv2.imwrite(str(out["astronaut_face"]), cv2.cvtColor(data.astronaut()[30:250, 120:340], cv2.COLOR_RGB2BGR))
    out["coffee"] = d / "coffee.jpg"
    cv2.imwrite(str(out["coffee"]), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
    # broken inputs
    out["text"] = d / "notes.jpg"
    out["text"].write_text("this is not an image\n")
    out["empty_file"] = d / "zero-bytes.png"
    out["empty_file"].write_bytes(b"")
    jpg = out["astronaut_face"].read_bytes()
    out["truncated_jpg"] = d / "cut.jpg"
    out["truncated_jpg"].write_bytes(jpg[: len(jpg) // 2])
    png = out["a_mask"].read_bytes()
    out["truncated_png"] = d / "cut.png"
    out["truncated_png"].write_bytes(png[: len(png) // 2])
    # a PNG header claiming 100000 x 100000 pixels (a decompression bomb): refused before decoding
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    chunk = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
    out["bomb"] = d / "bomb.png"
    out["bomb"].write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
                            + chunk(b"IEND", b""))
    out["zero"] = d / "zero.png"
    out["zero"].write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0))
                            + chunk(b"IEND", b""))
    out["missing"] = d / "missing.jpg"
    return out


def test_classify_json(images):
    r = run("classify", "--json", str(images["astronaut_face"]), str(images["a_nomask"]))
    assert r.returncode == 0, r.stderr
    out = lines(r.stdout)
    assert [o["path"] for o in out] == [str(images["astronaut_face"]), str(images["a_nomask"])]
    for o in out:
        assert set(o) == {"path", "label", "scores"}
        assert o["label"] == max(o["scores"], key=o["scores"].get)
        assert sum(o["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert out[0]["label"] == "no_mask"  # an unmasked face, cropped as it is


def test_classify_with_explicit_model_and_errors_continue(images):
    paths = [images["text"], images["astronaut_face"], images["empty_file"], images["truncated_jpg"],
             images["missing"], images["bomb"]]
    r = run("classify", "--model", str(CLASSIFIER), "--json", *map(str, paths))
    assert r.returncode == 1  # some inputs failed; the others were still classified
    out = lines(r.stdout)
    assert [o["path"] for o in out] == list(map(str, paths))
    errors = {o["path"]: o.get("error") for o in out}
    assert errors[str(images["text"])] == f"{images['text']}: not a decodable image"
    assert errors[str(images["empty_file"])] == f"{images['empty_file']}: empty file"
    assert errors[str(images["truncated_jpg"])] == f"{images['truncated_jpg']}: truncated JPEG (no end-of-image marker)"
    assert errors[str(images["missing"])] == f"{images['missing']}: file not found"
    assert "image too large (100000x100000 pixels" in errors[str(images["bomb"])]
    assert errors[str(images["astronaut_face"])] is None
    assert "Traceback" not in r.stderr


def test_classify_bad_model_is_a_usage_error(tmp_path, images):
    r = run("classify", "--model", str(tmp_path / "x.tflite"), "--json", str(images["coffee"]))
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: model file not found: {tmp_path / 'x.tflite'}"


def test_scan_json(images):
    paths = [images["empty"], images["a_nomask"], images["a_mask"], images["coffee"], images["truncated_png"],
             images["zero"]]
    r = run("scan", "--json", *map(str, paths))
    assert r.returncode == 1, r.stderr  # two broken files
    out = {o["path"]: o for o in lines(r.stdout)}
    assert list(out) == list(map(str, paths))
    assert out[str(images["empty"])] == {"path": str(images["empty"]), "faces": [], "not_faces": 0,
                                        "decision": "none"}
    assert out[str(images["coffee"])]["faces"] == [] and out[str(images["coffee"])]["decision"] == "none"
    nomask = out[str(images["a_nomask"])]
    assert len(nomask["faces"]) == 1 and nomask["faces"][0]["label"] == "no_mask"
    assert nomask["decision"] == "deny"
    masked = out[str(images["a_mask"])]
    assert len(masked["faces"]) == 1 and masked["faces"][0]["label"] == "mask"
    assert masked["decision"] == "open"
    for o in (nomask, masked):
        f = o["faces"][0]
        x, y, w, h = f["box"]
        assert 0 <= x and 0 <= y and x + w <= 640 and y + h <= 480 and w >= 60
        assert 0 < f["det_score"] <= 1 and 0 < f["score"] <= 1
        assert set(f) == {"box", "det_score", "label", "score"}
    assert "truncated PNG" in out[str(images["truncated_png"])]["error"]
    assert "zero size" in out[str(images["zero"])]["error"]


def test_scan_bad_config_exit_2(tmp_path, images):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[detector]\nscore_threshold = 2.0\n")
    r = run("scan", "--config", str(cfg), "--json", str(images["coffee"]))
    assert r.returncode == 2
    assert "config key 'detector.score_threshold': 2.0 is above the maximum 0.99" in r.stderr
    assert r.stdout == ""

"""tools/eval/kiosk_scenes.py and tools/eval/eval_kiosk_detect.py on faces made from two public-domain portraits.

No ../shared: the faces are scikit-image's astronaut and matplotlib's Grace Hopper (as the demo clip),
bare, masked and masked below the nose by tools/data/synth_masks.py, as crops and as a scene folder. The
scoring arithmetic is checked with measuring sticks that read the ground truth (every face found,
none, or only from a given standing frame on), and one run goes through the shipped BlazeFace.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("skimage.data")
pytest.importorskip("matplotlib")

from kiosk.errors import KioskError  # noqa: E402
from kiosk.vision.detector import BlazeFaceDetector, Detection  # noqa: E402
from tools.cli import CliError, run  # noqa: E402
from tools.data import facemesh as fm  # noqa: E402
from tools.data import mask_drawing as md  # noqa: E402
from tools.demo.make_demo_clip import load_sources  # noqa: E402
from tools.eval import eval_kiosk_detect as ev  # noqa: E402
from tools.eval import kiosk_detect_score as sc  # noqa: E402
from tools.eval import kiosk_faces as kf  # noqa: E402
from tools.eval import kiosk_scenes as ks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FULL_RANGE = ROOT / "models" / "face_detection_full_range_sparse.tflite"
SHORT_RANGE = ROOT / "models" / "face_detection_short_range.tflite"
YUNET = ROOT / "models" / "face_detection_yunet_2023mar.onnx"
FOLDERS = {"no_mask": "without_mask", "mask": "with_mask", "incorrect": "mask_weared_incorrect"}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """crops/<class folder>/*.png (face box + 15 % each side) and scenes/*.png + boxes.tsv."""
    out = tmp_path_factory.mktemp("faces")
    mesh = fm.FaceMesh()
    rows = ["scene\tlabel\tx\ty\tw\th"]
    for name, img in load_sources().items():
        pts = fm.find_face_landmarks(img, mesh)
        assert pts is not None
        (x0, y0), (x1, y1) = pts[:, :2].min(0), pts[:, :2].max(0)
        box = [int(x0), int(y0), int(x1 - x0), int(y1 - y0)]
        m = 0.15
        cx0, cy0 = max(0, int(x0 - m * box[2])), max(0, int(y0 - m * box[3]))
        cx1, cy1 = int(x1 + m * box[2]), int(y1 + m * box[3])
        for label, folder in FOLDERS.items():
            style = {"mask": "correct", "incorrect": "nose"}.get(label)
            view = img if style is None else md.draw_mask(img, pts, style, "surgical", rng=np.random.default_rng(0))
            (out / "crops" / folder).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / "crops" / folder / f"{name}.png"), view[cy0:cy1, cx0:cx1])
            (out / "scenes").mkdir(exist_ok=True)
            cv2.imwrite(str(out / "scenes" / f"{name}-{label}.png"), view)
            rows.append(f"{name}-{label}.png\t{label}\t" + "\t".join(str(v) for v in box))
    (out / "scenes" / "boxes.tsv").write_text("\n".join(rows) + "\n")
    return out


@pytest.fixture(scope="module")
def backgrounds() -> ks.Backgrounds:
    return ks.Backgrounds(pool=6)


@pytest.fixture(scope="module")
def faces(data) -> list[kf.FaceImage]:
    got, bad = kf.load_faces([(data / "crops", 0.15), (data / "scenes", None)], 10, 0)
    assert bad == 0
    return got


def test_faces_load_from_crops_and_scene_cuts(data, faces):
    kinds = Counter((f.source, f.cls) for f in faces)
    assert kinds == {(src, c): 2 for src in ("crops", f"{data.name}/scenes") for c in ks.CLASSES}
    for f in faces:
        x, y, w, h = f.box
        ih, iw = f.image.shape[:2]
        assert 0 <= x and 0 <= y and x + w <= iw + 1 and y + h <= ih + 1
        if f.source == "crops":  # the box is the crop less its margin
            assert w == pytest.approx(iw / 1.3) and h == pytest.approx(ih / 1.3)
        else:  # a cut with context around the face
            assert iw > 1.8 * w and ih > 1.5 * h


def test_scenes_are_deterministic_and_in_range(faces, backgrounds):
    a = ks.SceneMaker(faces, seed=3, backgrounds=backgrounds)
    b = ks.SceneMaker(faces, seed=3, backgrounds=backgrounds)
    c = ks.SceneMaker(faces, seed=4, backgrounds=backgrounds)
    sizes = set()
    for i in range(10):
        fa, fb = a.still(i), b.still(i)
        assert np.array_equal(fa.image, fb.image) and [f.box for f in fa.faces] == [f.box for f in fb.faces]
        h, w = fa.image.shape[:2]
        sizes.add((w, h))
        assert (w, h) in ks.FRAME_SIZES
        scored = [f for f in fa.faces if f.scored]
        assert scored
        for f in scored:
            x, y, bw, bh = f.box
            assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h
            assert ks.MIN_FACE <= f.width <= ks.MAX_FACE + 1e-6
            assert f.inside == pytest.approx(1.0, abs=0.02)
        for p, q in ((f, g) for f in scored for g in scored if f is not g):  # faces keep clear of each other
            assert not (p.box[0] < q.box[0] + q.box[2] and q.box[0] < p.box[0] + p.box[2]
                        and p.box[1] < q.box[1] + q.box[3] and q.box[1] < p.box[1] + p.box[3])
    assert len(sizes) > 1
    assert any(not np.array_equal(a.still(i).image, c.still(i).image) for i in range(3))

    person, frames = a.clip(0)
    frames = list(frames)
    _, again = b.clip(0)
    assert all(np.array_equal(f.image, g.image) for f, g in zip(frames, again))
    stand = [f for fr in frames for f in fr.faces if f.role == "stand"]
    assert len(stand) == person.stand_frames >= 8  # >= 0.5 s at 15 fps
    assert all(40 <= f.width <= ks.MAX_FACE * 1.05 and f.counted for f in stand)
    assert [fr.index for fr in frames] == list(range(len(frames)))
    roles = [next(f.role for f in fr.faces if f.person == 0) for fr in frames]
    assert roles[0] == "walk_in" and roles[-1] == "walk_out"
    assert roles.index("stand") == person.stand_start


def key(img: np.ndarray) -> str:
    return hashlib.sha1(img.tobytes()).hexdigest()


def ground_truth(maker: ks.SceneMaker, stills: int, empty: int, clips: int) -> list[tuple]:
    """(frame hash, frame, clip person or None) of every frame evaluate() will show, made again."""
    frames = [(maker.still(i), None) for i in range(stills)] + [(maker.empty(i), None) for i in range(empty)]
    for c in range(clips):
        person, it = maker.clip(c)
        frames += [(fr, person) for fr in it]
    return [(key(fr.image), fr, person) for fr, person in frames]


class Oracle:
    """A measuring stick, not a detector: it returns the ground truth of the frames it knows: every
    counted face of a still, and in clips the standing person from standing frame `from_offset` on
    (from_offset None: every counted face of every frame)."""

    def __init__(self, truth: list[tuple], from_offset: int | None = 0, extra: tuple = ()) -> None:
        self.truth: dict[str, list[tuple]] = {}
        for k, fr, person in truth:
            if from_offset is None or person is None:
                self.truth[k] = [f.box for f in fr.faces if f.counted]
            elif fr.index - person.stand_start >= from_offset:
                self.truth[k] = [f.box for f in fr.faces if f.counted and f.role == "stand"]
        self.extra = extra

    def detect(self, img: np.ndarray) -> list[Detection]:
        return [Detection(tuple(b), 1.0) for b in self.truth.get(key(img), [])] + \
            [Detection(b, 0.5) for b in self.extra]


class Blind:
    def detect(self, img: np.ndarray) -> list[Detection]:
        return []


def test_recall_and_time_to_first_detection_arithmetic(faces, backgrounds):
    maker = ks.SceneMaker(faces, seed=1, backgrounds=backgrounds)
    n = dict(stills=6, empty=3, clips=3)
    truth = ground_truth(maker, **n)
    sticks = {"every": Oracle(truth, None), "all": Oracle(truth), "none": Blind(), "at7": Oracle(truth, from_offset=7),
              "at8": Oracle(truth, from_offset=8), "false": Oracle(truth, extra=((0, 0, 30, 30), (0, 0, 60, 60)))}
    tallies = sc.evaluate(sticks, maker, **n)
    res = {k: t.summary() for k, t in tallies.items()}

    people = res["all"]["ttfd"]["all"]["people"]
    assert people == 3
    # The stick returns every counted face of the stills and the standing person of the clips.
    seen = Counter()
    for key, (hits, total) in tallies["all"].faces.items():
        if key[0] == "role":
            seen[key[1]] += total
            assert hits == (total if key[1] in ("still", "stand") else 0), key
    assert seen["still"] > 0 and seen["stand"] >= 3 * 8 and seen["walk_in"] > 0
    assert res["all"]["ttfd"]["all"]["within_0.5s"] == people and res["all"]["ttfd"]["all"]["median_s"] == 0.0
    assert res["all"]["false_boxes"]["per_frame"] == 0.0 and res["all"]["false_boxes"]["stray_per_face_frame"] == 0.0

    for cls in ks.CLASSES:  # every face found in every frame: 100 %, and so is the interval
        assert all(h == n for h, n in res["every"]["recall"][cls].values())
        if res["every"]["distinct_faces_ge40"][cls] > 1:
            assert res["every"]["recall_ci95"][cls] == [1.0, 1.0] and res["none"]["recall_ci95"][cls] == [0.0, 0.0]
            assert 0.0 < res["all"]["recall_ci95"][cls][0] <= res["all"]["recall_ci95"][cls][1] <= 1.0

    none = res["none"]
    assert all(h == 0 for c in ks.CLASSES for h, _ in none["recall"][c].values())
    assert none["ttfd"]["all"]["within_0.5s"] == 0 and none["ttfd"]["all"]["never"] == people

    # 7 frames after the first standing one is 0.467 s at 15 fps: within; 8 is 0.533 s: not.
    assert res["at7"]["ttfd"]["all"]["within_0.5s"] == people
    assert res["at8"]["ttfd"]["all"]["within_0.5s"] == 0
    for p in res["at8"]["people"]:  # found at 8/15 s if they stood longer than 8 frames, else never
        assert p["first_s"] == (round(8 / 15, 4) if p["stand_s"] * 15 > 8.5 else None), p
    assert res["at8"]["ttfd"]["all"]["never"] == sum(p["stand_s"] * 15 < 8.5 for p in res["at8"]["people"])

    fb = res["false"]["false_boxes"]
    assert fb["face_free_frames"] == 3 and fb["per_frame"] == 2.0 and fb["per_frame_ge40px"] == 1.0
    for key, (hits, total) in tallies["all"].faces.items():  # a box in the corner takes nothing from the faces
        assert tallies["false"].faces[key][0] >= hits and tallies["false"].faces[key][1] == total


def test_size_buckets():
    assert [sc.bucket(w) for w in (12, 23.9, 24, 39.99, 40, 79.9, 80, 200, 206)] == \
        ["<24", "<24", "24-39", "24-39", "40-79", "40-79", "80-200", "80-200", "80-200"]


def test_wilson_interval():
    assert sc.wilson(0, 0) is None
    lo, hi = sc.wilson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(0.7225, abs=1e-3)
    lo, hi = sc.wilson(99, 100)
    assert lo == pytest.approx(0.9455, abs=1e-3) and hi == pytest.approx(0.9982, abs=1e-3)


def test_a_detection_beside_the_face_is_not_a_hit():
    face = ks.Face("mask", "x", 100, (100, 100, 100, 120), (75, 70, 150, 180), "still")
    assert sc.match([(100, 100, 100, 120)], [face]) == ([True], [])
    assert sc.match([(110, 120, 60, 60)], [face]) == ([True], [])  # smaller, inside
    assert sc.match([(180, 100, 100, 120)], [face]) == ([False], [(180, 100, 100, 120)])  # centre outside
    assert sc.match([(0, 0, 400, 400)], [face]) == ([False], [(0, 0, 400, 400)])  # mostly background
    ignored = ks.Face("mask", "x", 100, (300, 100, 100, 120), (275, 70, 150, 180), "context", scored=False)
    assert sc.match([(300, 100, 100, 120)], [face, ignored]) == ([False, False], [])


def test_detectors_are_built_from_the_kiosk_config(tmp_path):
    cfg_file = tmp_path / "kiosk.toml"
    cfg_file.write_text(f'[detector]\nbackend = "blazeface"\nmodel = "{FULL_RANGE}"\nscore_threshold = 0.45\n'
                        'min_face_px = 30\n')
    args = ev.argparse.Namespace(config=cfg_file, threads="1", detector_model=None, score_threshold=None)
    base = ev.base_config(args)
    det = ev.build_detector(base)
    assert isinstance(det, BlazeFaceDetector) and det.side == 192 and det.score_threshold == pytest.approx(0.45)
    name, cfg = ev.parse_spec(f"short={SHORT_RANGE}:0.6,max_faces=4", base)
    assert name == "short" and cfg.detector.score_threshold == 0.6 and cfg.detector.max_faces == 4
    assert cfg.detector.min_face_px == 30 and base.detector.model != cfg.detector.model  # the base is untouched
    det = ev.build_detector(cfg)
    assert det.side == 128 and det.score_threshold == pytest.approx(0.6)
    assert "max_faces=4" in ev.describe(cfg) and "min_face_px=30" in ev.describe(cfg)
    yunet = ev.build_detector(ev.parse_spec(f"y={YUNET}:0.4,input_width=320", base)[1])
    assert type(yunet).__name__ == "YuNetDetector" and yunet.input_width == 320 and yunet.score_threshold == 0.4
    assert "input_width=" in ev.describe(ev.parse_spec(f"y={YUNET}", ev.base_config(ev.argparse.Namespace(
        config=None, threads="1", detector_model=None, score_threshold=None)))[1])  # shown even at its default
    with pytest.raises(KioskError, match="detector.nope"):
        ev.parse_spec(f"x={SHORT_RANGE},nope=1", base)
    with pytest.raises(KioskError, match="detector.score_threshold"):
        ev.parse_spec(f"x={SHORT_RANGE}:1.5", base)
    with pytest.raises(CliError, match="detector.max_faces"):
        ev.parse_spec(f"x={SHORT_RANGE},max_faces=many", base)
    with pytest.raises(CliError, match="NAME=MODEL"):
        ev.parse_spec(str(SHORT_RANGE), base)


def test_report_rewrites_only_its_table(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("# Title\n\nintro\n\n<!-- table:a -->\nold\n<!-- table:a -->\n\nafter\n")
    ev.write_doc(doc, "new 1", "a")
    ev.write_doc(doc, "new 2", "a")
    ev.write_doc(doc, "other", "b")
    text = doc.read_text()
    assert text.startswith("# Title\n\nintro\n\n<!-- table:a -->\nnew 2\n<!-- table:a -->\n\nafter\n")
    assert "old" not in text and "new 1" not in text and text.count("<!-- table:b -->\nother\n<!-- table:b -->") == 1


def test_a_real_run_with_the_shipped_blazeface(data, tmp_path):
    doc, js = tmp_path / "eval.md", tmp_path / "eval.json"
    doc.write_text("kept\n<!-- table -->\nold\n<!-- table -->\n")
    argv = [f"{data / 'crops'}:0.15", str(data / "scenes"), "--stills", "16", "--empty", "4", "--clips", "2",
            "--per-class", "5", "--out", str(doc), "--json", str(js),
            "--detector", f"full={FULL_RANGE}:0.3", "--detector", f"short={SHORT_RANGE}:0.5",
            "--detector", f"yunet={YUNET}:0.5,input_width=640"]
    with pytest.raises(SystemExit) as done:
        run(lambda: ev.main(argv))
    assert done.value.code == 0
    r = json.loads(js.read_text())
    assert list(r["detectors"]) == ["full", "short", "yunet"]
    assert r["detectors"]["yunet"]["detector"]["input_width"] == 640 and "input_width=640" in r["detectors"]["yunet"]["label"]
    full, short = r["detectors"]["full"], r["detectors"]["short"]
    # identical frames: the same faces counted for both
    assert [v[1] for d in full["recall"].values() for v in d.values()] == \
        [v[1] for d in short["recall"].values() for v in d.values()]
    for cls, got in full["recall"].items():  # >= 40 px is the two wider buckets together
        assert got[">=40"] == [got["40-79"][0] + got["80-200"][0], got["40-79"][1] + got["80-200"][1]]
    hits, total = full["recall"]["no_mask"][">=40"]
    assert total >= 5 and hits / total >= 0.5  # bare public-domain faces >= 40 px: BlazeFace finds most
    assert full["ttfd"]["all"]["people"] == 2 and full["false_boxes"]["face_free_frames"] == 4
    assert set(full["ms_median"]) <= {f"{w}x{h}" for w, h in ks.FRAME_SIZES} and full["ms_median"]
    text = doc.read_text()
    assert text.startswith("kept\n<!-- table -->\nFrames: 16 stills") and "old" not in text

    # No face-free frames and no clips: those columns say "-", the rest is still reported.
    argv = [str(data / "scenes"), "--stills", "4", "--empty", "0", "--clips", "0", "--out", str(doc),
            "--json", str(js), "--table", "small"]
    with pytest.raises(SystemExit) as done:
        run(lambda: ev.main(argv))
    assert done.value.code == 0
    small = json.loads(js.read_text())["detectors"]["config"]
    assert small["false_boxes"]["per_frame"] is None and small["ttfd"]["all"]["people"] == 0
    assert "<!-- table:small -->" in doc.read_text() and "| config | **-** (0/0) |" in doc.read_text()
    assert "| full |" in text and "| short |" in text and "| yunet |" in text


@pytest.mark.parametrize("argv, message", [
    (["/nonexistent/faces"], "face folder not found: /nonexistent/faces"),
    (["{tmp}", "--detector", "blaze"], "expected NAME=MODEL[:SCORE][,KEY=VALUE...]"),
    (["{tmp}", "--detector", "b=/nonexistent/m.tflite"], "model file not found: /nonexistent/m.tflite"),
    (["{tmp}"], "no face images in"),
    (["{tmp}:5"], "outside 0..2"),
])
def test_bad_input_is_one_line(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--out", str(tmp_path / "d.md"),
                                                               "--json", str(tmp_path / "r.json")]
    with pytest.raises(SystemExit) as done:
        run(lambda: ev.main(argv))
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "d.md").exists()

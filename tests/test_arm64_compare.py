"""tools/arm64/compare.py, the x86-vs-arm64 check of `./dev test-arm64`, on the kiosk's real output:
identical runs agree, and a real difference (a label, a decision, a relay level, a probability beyond
the tolerance, a moved box, a missing image) fails and is named."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import cv2
import pytest

from tests.conftest import DEMO_CLIP, ROOT
from tools.arm64 import compare as cmp


def kiosk(*args: str, cwd) -> list[dict]:
    r = subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, cwd=cwd,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """classify and scan on demo frames: A without a mask (30), A with one (75), the empty entrance (5)."""
    d = tmp_path_factory.mktemp("arm64cmp")
    cap = cv2.VideoCapture(str(DEMO_CLIP))
    frames = [cap.read()[1] for _ in range(80)]
    cap.release()
    for i in (5, 30, 75):
        cv2.imwrite(str(d / f"f{i}.png"), frames[i])
    cv2.imwrite(str(d / "face.png"), frames[75][100:380, 200:440])
    scan = kiosk("scan", "--json", "f5.png", "f30.png", "f75.png", cwd=d)
    classify = kiosk("classify", "--json", "face.png", "f30.png", cwd=d)
    return {o["path"]: o for o in classify}, {o["path"]: o for o in scan}


def test_identical_classify_agrees(outputs):
    a, _ = outputs
    rep = cmp.compare_classify(a, copy.deepcopy(a))
    assert rep.problems == [] and rep.items == 2 and rep.max_diff == 0


def test_classify_probability_beyond_the_tolerance_fails(outputs):
    a, _ = outputs
    b = copy.deepcopy(a)
    label = b["face.png"]["label"]
    b["face.png"]["scores"][label] -= 0.05
    rep = cmp.compare_classify(a, b, tol=0.02, close=0)
    assert len(rep.problems) == 1 and f"face.png {label}" in rep.problems[0]
    assert rep.max_diff == pytest.approx(0.05)
    b["face.png"]["scores"][label] += 0.04  # now 0.01 off: within the tolerance, and reported
    rep = cmp.compare_classify(a, b, tol=0.02, close=0)
    assert rep.problems == [] and rep.max_diff == pytest.approx(0.01) and "face.png" in rep.max_where


def test_classify_small_drift_on_most_images_fails(outputs):
    """Each image within the tolerance, but too few bit-close: a systematic shift (say, preprocessing)."""
    a, _ = outputs
    b = copy.deepcopy(a)
    for o in b.values():
        for k in o["scores"]:
            o["scores"][k] += 0.01  # 2.5 int8 steps: far inside --tol
    rep = cmp.compare_classify(a, b)
    assert rep.max_diff == pytest.approx(0.01) and rep.within_step == 0
    assert rep.problems == ["only 0 of 2 images (0.0%) agree to within one int8 step (1/256); at least 85% must"]
    b["face.png"] = copy.deepcopy(a["face.png"])  # one of two bit-identical: 50 %
    assert cmp.compare_classify(a, b, close=0.5).problems == []
    assert len(cmp.compare_classify(a, b, close=0.85).problems) == 1
    label = a["f30.png"]["label"]
    b["f30.png"] = copy.deepcopy(a["f30.png"])
    b["f30.png"]["scores"][label] -= 1 / 256  # exactly one step is still "close"
    rep = cmp.compare_classify(a, b)
    assert rep.problems == [] and rep.within_step == 2


def test_classify_label_flip_and_missing_image_fail(outputs):
    a, _ = outputs
    b = copy.deepcopy(a)
    b["f30.png"]["label"] = "mask" if a["f30.png"]["label"] != "mask" else "no_mask"
    assert any("f30.png label" in p for p in cmp.compare_classify(a, b).problems)
    del b["f30.png"]
    assert cmp.compare_classify(a, b).problems == ["f30.png: only in the x86 output"]


def test_a_label_may_change_only_where_both_sides_are_unsure(outputs):
    _, a = outputs
    face = a["f30.png"]["faces"][0]
    assert face["label"] == "no_mask"
    unsure_a, unsure_b = copy.deepcopy(a), copy.deepcopy(a)
    unsure_a["f30.png"]["faces"][0].update(label="no_mask", score=0.6055)
    unsure_b["f30.png"]["faces"][0].update(label="incorrect", score=0.6523)
    rep = cmp.compare_scan(unsure_a, unsure_b, close=0)
    assert rep.problems == [] and any("unsure on both sides" in n for n in rep.notes)
    sure_b = copy.deepcopy(unsure_b)
    sure_b["f30.png"]["faces"][0]["score"] = 0.75  # one side sure: a real difference
    assert any("f30.png face 0 label" in p for p in cmp.compare_scan(unsure_a, sure_b, close=0).problems)
    flip = copy.deepcopy(a)
    flip["f30.png"]["faces"][0]["label"] = "mask"  # the kiosk's own sure verdict, flipped
    assert any("f30.png face 0 label" in p for p in cmp.compare_scan(a, flip).problems)


def test_scan_agrees_with_itself_and_pairs_faces_by_position(outputs):
    _, a = outputs
    assert a["f30.png"]["decision"] == "deny" and a["f75.png"]["decision"] == "open"
    b = copy.deepcopy(a)
    extra = copy.deepcopy(b["f75.png"]["faces"][0])
    extra["box"] = [0, 0, 50, 50]
    for side in (a, b):  # two faces, listed in the other order on one side
        side["f75.png"]["faces"].append(copy.deepcopy(extra))
    b["f75.png"]["faces"].reverse()
    rep = cmp.compare_scan(a, b)
    assert rep.problems == [] and rep.items == 3 and rep.max_box == 0


def test_scan_differences_fail(outputs):
    _, a = outputs
    b = copy.deepcopy(a)
    b["f75.png"]["decision"] = "deny"
    b["f30.png"]["faces"][0]["box"][0] += 3
    b["f30.png"]["faces"][0]["det_score"] += 0.03
    rep = cmp.compare_scan(a, b, tol=0.02, box_px=2, close=0)
    assert len(rep.problems) == 3, rep.problems
    assert any("f75.png decision" in p for p in rep.problems)
    assert any("f30.png face 0 box" in p and "3 px" in p for p in rep.problems)
    assert any("f30.png face 0 det_score" in p for p in rep.problems)
    b = copy.deepcopy(a)
    for o in b.values():
        for f in o["faces"]:
            f["det_score"] -= 0.005  # every face a little off: within --tol, none within one step
    rep = cmp.compare_scan(a, b)
    assert len(rep.problems) == 1 and rep.problems[0].startswith("only 0 of ") and "faces" in rep.problems[0]
    b = copy.deepcopy(a)
    b["f5.png"]["faces"].append(copy.deepcopy(a["f30.png"]["faces"][0]))  # a face found on one side only
    assert any("f5.png faces: 0 vs 1" in p for p in cmp.compare_scan(a, b).problems)


@pytest.fixture(scope="module")
def demo_text(tmp_path_factory):
    """The real `python -m kiosk demo` summary, with the clip read as fast as possible (not at 10 fps)."""
    import contextlib
    import io
    import logging

    from kiosk import demo

    original = demo.demo_config

    def fast(state_dir, port, *args, **kw):
        cfg = original(state_dir, port, *args, **kw)
        cfg.camera.realtime = False
        return cfg

    buf = io.StringIO()
    root_log = logging.getLogger()
    before = list(root_log.handlers)
    demo.demo_config = fast
    try:
        with contextlib.redirect_stdout(buf):
            assert demo.run_demo(max_seconds=120, use_broker=False) == 0
    finally:
        demo.demo_config = original
        for h in set(root_log.handlers) - set(before):  # a handler run_demo's basicConfig may have added
            root_log.removeHandler(h)
    return buf.getvalue()


def test_demo_summary_parses_and_agrees_with_itself(demo_text):
    run = cmp.parse_demo(demo_text)
    assert run.frames == 195 and run.exit_reason
    assert ("open", "mask") in [d[:2] for d in run.decisions] and ("deny", "no_mask") in [d[:2] for d in run.decisions]
    assert run.relay == [0] + [1, 0] * [d[0] for d in run.decisions].count("open")
    assert all(0 < score <= 1 for d in run.decisions for _, score in d[2])
    rep = cmp.compare_demo(run, cmp.parse_demo(demo_text))
    assert rep.problems == [] and rep.items == len(run.decisions)


def test_demo_differences_fail(demo_text):
    a = cmp.parse_demo(demo_text)
    b = cmp.parse_demo(demo_text)
    b.relay = b.relay + [1, 0]
    b.decisions[0] = (b.decisions[0][0], b.decisions[0][1], [(b.decisions[0][2][0][0], b.decisions[0][2][0][1] - 0.3)])
    rep = cmp.compare_demo(a, b)
    assert any(p.startswith("relay levels") for p in rep.problems)
    assert any(p.startswith("decision 0") for p in rep.problems)
    c = cmp.parse_demo(demo_text)
    c.decisions = c.decisions[1:]
    assert any(p.startswith("decisions:") for p in cmp.compare_demo(a, c).problems)


def test_demo_faces_count_may_move_by_a_veto_not_more(demo_text):
    a = cmp.parse_demo(demo_text)
    b = cmp.parse_demo(demo_text)
    b.faces = a.faces - 1  # one ambiguous crop vetoed on one side only
    rep = cmp.compare_demo(a, b)
    assert rep.problems == [] and rep.notes == [f"faces classified: {a.faces} vs {b.faces} (within 2%)"]
    b.faces = int(a.faces * 0.9)
    assert [p for p in cmp.compare_demo(a, b).problems if p.startswith("faces classified")]


def test_unfinished_demo_is_an_input_error(demo_text):
    with pytest.raises(cmp.InputError, match="did not finish"):
        cmp.parse_demo(demo_text.split("=== demo summary ===")[0])
    cut = demo_text[: demo_text.index("relay pin")]
    with pytest.raises(cmp.InputError, match="'relay pin'"):
        cmp.parse_demo(cut)


def test_cli_exit_codes(outputs, tmp_path):
    a, _ = outputs
    x, y = tmp_path / "x.jsonl", tmp_path / "y.jsonl"
    x.write_text("".join(json.dumps(o) + "\n" for o in a.values()))
    y.write_text(x.read_text())
    run = lambda *args: subprocess.run([sys.executable, "-m", "tools.arm64.compare", *args], cwd=ROOT,
                                       capture_output=True, text=True, timeout=60)
    r = run("classify", str(x), str(y))
    assert r.returncode == 0 and "agree; largest probability difference 0.0000" in r.stdout
    changed = copy.deepcopy(a)
    changed["face.png"]["label"] = "covered"
    y.write_text("".join(json.dumps(o) + "\n" for o in changed.values()))
    r = run("classify", str(x), str(y))
    assert r.returncode == 1 and "face.png label" in r.stdout and "DIFFER" in r.stdout
    y.write_text("not json\n")
    r = run("classify", str(x), str(y))
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "not a JSON line" in r.stderr
    r = run("demo", str(x), str(tmp_path / "missing.txt"))
    assert r.returncode == 2 and "no '=== demo summary ==='" in r.stderr

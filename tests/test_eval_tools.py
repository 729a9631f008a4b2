"""tools/eval/eval_scenes.py and tools/eval/eval_crops.py on a small labelled set made from a public-domain portrait."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tools.data import facemesh as fm
from tools.data import mask_drawing as md
from tools.eval import eval_crops, eval_scenes
from tools.eval.shares import flips_p

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def portraits() -> dict[str, np.ndarray]:
    img = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)
    pts = fm.find_face_landmarks(img, fm.FaceMesh())
    draw = lambda style: md.draw_mask(img, pts, style, "surgical", rng=np.random.default_rng(0))  # noqa: E731
    return {"no_mask": img, "mask": draw("correct"), "incorrect": draw("nose")}


def scenes_result(folder, rows: list[str], *extra: str) -> dict:
    """eval_scenes on FOLDER with these boxes.tsv rows (after the header); its scenes.json."""
    (folder / "boxes.tsv").write_text("\n".join(["scene\tlabel\tx\ty\tw\th"] + rows) + "\n")
    out = folder / "out"
    with pytest.raises(SystemExit) as done:
        eval_scenes.run(lambda: eval_scenes.main([str(folder), "--out", str(out), *extra]))
    assert done.value.code == 0
    return json.loads((out / "scenes.json").read_text())


def test_scenes_open_only_where_every_face_is_masked(tmp_path, portraits):
    rows = []
    for label, img in portraits.items():
        cv2.imwrite(str(tmp_path / f"{label}.jpg"), img)
        rows.append(f"{label}.jpg\t{label}\t150\t40\t150\t190")  # the astronaut's face
    r = scenes_result(tmp_path, rows)
    assert (r["should_open"], r["true_openings"], r["must_deny"], r["wrongly_opened"]) == (1, 1, 2, 0)
    assert r["faces"]["incorrect"] == {"incorrect": 1} and r["faces"]["mask"] == {"mask": 1}


def test_each_wrong_scene_gets_its_cause(tmp_path, portraits):
    face = "150\t40\t150\t190"
    cv2.imwrite(str(tmp_path / "mask.jpg"), portraits["mask"])
    cv2.imwrite(str(tmp_path / "blank.jpg"), np.full((400, 400, 3), 128, np.uint8))
    rows = [f"blank.jpg\tmask\t{face}",             # nobody there: stays shut, no face found
            f"mask.jpg\tincorrect\t{face}",         # a (drawn) proper mask labelled below the nose: opens
            "mask.jpg\tno_mask\t400\t400\t60\t60"]  # a bad face where there is none: opens, missed
    r = scenes_result(tmp_path, rows)
    assert (r["should_open"], r["true_openings"], r["must_deny"], r["wrongly_opened"]) == (1, 0, 1, 1)
    assert r["causes"] == {"not_opened": {"no_face": 1}, "wrongly_opened": {"bad_face_called_mask": 1}}, r
    # a perfect classifier calls the face what it is labelled (below the nose) and denies; no face stays no face
    perfect = {"true_openings": 0, "wrongly_opened": 0}
    assert r["ceiling"] == {"with_unlabelled": perfect, "labelled_only": perfect}, r
    r = scenes_result(tmp_path, rows[2:])
    assert r["causes"]["wrongly_opened"] == {"bad_face_missed": 1}
    # the face found is unlabelled: as the kiosk calls it (a mask) it opens; dropped, nothing is at the gate
    assert r["ceiling"]["with_unlabelled"]["wrongly_opened"] == 1, r
    assert r["ceiling"]["labelled_only"]["wrongly_opened"] == 0, r


def test_shares_come_with_an_interval_and_runs_compare_scene_by_scene(tmp_path, portraits):
    face = "150\t40\t150\t190"
    rows = [f"a.jpg\tmask\t{face}", f"b.jpg\tno_mask\t{face}"]
    cv2.imwrite(str(tmp_path / "a.jpg"), portraits["mask"])
    cv2.imwrite(str(tmp_path / "b.jpg"), portraits["no_mask"])
    first = scenes_result(tmp_path, rows)
    assert (first["true_openings"], first["wrongly_opened"]) == (1, 0)
    lo, hi = first["true_openings_ci95"]
    assert 0.0 < lo < 0.5 and hi == 1.0  # one scene of one proves little
    old = tmp_path / "old.csv"
    (tmp_path / "out" / "scenes.csv").rename(old)
    # the photos swapped under the same names: the masked scene now stays shut and the unmasked one opens
    cv2.imwrite(str(tmp_path / "a.jpg"), portraits["no_mask"])
    cv2.imwrite(str(tmp_path / "b.jpg"), portraits["mask"])
    cv2.imwrite(str(tmp_path / "c.jpg"), portraits["mask"])
    c = scenes_result(tmp_path, rows + [f"c.jpg\tmask\t{face}"], "--compare", str(old))["compare"]
    assert c["should_open"] == {"opened_now": [], "shut_now": ["a.jpg"], "p": 1.0}
    assert c["must_deny"] == {"opened_now": ["b.jpg"], "shut_now": [], "p": 1.0}
    assert c["not_in_old"] == ["c.jpg"]


def test_a_split_of_flips_is_chance_or_not():
    assert flips_p(0, 0) == 1.0 and flips_p(3, 3) == 1.0
    assert flips_p(5, 4) == flips_p(4, 5) > 0.9
    assert flips_p(10, 0) < 0.01 < flips_p(6, 1) < 0.2


def test_crops_through_the_kiosk_with_and_without_the_nose_check(tmp_path, portraits):
    for label, img in portraits.items():
        d = tmp_path / {"mask": "with_mask", "no_mask": "without_mask", "incorrect": "mask_weared_incorrect"}[label]
        d.mkdir()
        cv2.imwrite(str(d / "a.png"), img[20:260, 130:330])  # a face crop, as the datasets hold
    for nose in ("off", None):
        out = tmp_path / f"out-{nose}"
        argv = [str(tmp_path), "--out", str(out)] + (["--nose", nose] if nose else [])
        with pytest.raises(SystemExit) as done:
            eval_crops.run(lambda: eval_crops.main(argv))
        assert done.value.code == 0
        r = json.loads((out / "crops.json").read_text())
        assert r["opens"] == {"mask": [1, 1], "no_mask": [0, 1], "incorrect": [0, 1]}, r
        assert (r["nose"] == "off") == (nose == "off")


def test_refusals_are_one_line(tmp_path, capsys):
    (tmp_path / "boxes.tsv").write_text("scene\tlabel\n")
    with pytest.raises(SystemExit) as done:
        eval_scenes.run(lambda: eval_scenes.main([str(tmp_path)]))
    assert done.value.code == 2
    assert capsys.readouterr().err.strip().endswith("expected the header scene, label, x, y, w, h")
    (tmp_path / "old.csv").write_text("path,true\nx.jpg,mask\n")
    with pytest.raises(SystemExit) as done:
        eval_scenes.run(lambda: eval_scenes.main([str(tmp_path), "--compare", str(tmp_path / "old.csv")]))
    assert done.value.code == 2 and "expected an eval_scenes scenes.csv" in capsys.readouterr().err
    (tmp_path / "boxes.tsv").write_text("scene\tlabel\tx\ty\tw\th\ngone.jpg\tmask\t1\t1\t9\t9\n")
    with pytest.raises(SystemExit) as done:
        eval_scenes.run(lambda: eval_scenes.main([str(tmp_path)]))
    assert done.value.code == 2 and capsys.readouterr().err.strip().endswith("gone.jpg: file not found")
    with pytest.raises(SystemExit) as done:
        eval_crops.run(lambda: eval_crops.main([str(tmp_path), "--model", str(tmp_path / "no.tflite")]))
    assert done.value.code == 2 and "model file not found" in capsys.readouterr().err


def test_time_to_decision_counts_the_frames_a_visitor_waits_at_the_gate(tmp_path, capsys):
    from tools.demo import make_bystander_clip as clip
    from tools.eval import time_to_decision

    assert clip.main(["-o", str(tmp_path)]) == 0
    capsys.readouterr()
    assert time_to_decision.main([str(tmp_path / "bystander.avi"), "--fps", str(clip.FPS), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    [first, *_] = out["decisions"]
    assert (first["decision"], first["reason"]) == ("open", "mask")
    assert first["frames_at_gate"] == 3  # k of n: three frames at the gate, not one more
    assert out["work"]["frames"] == clip.FRAMES and 0 < out["work"]["whole_frame_searches"] < clip.FRAMES


def test_scene_speed_lays_out_real_scenes_as_the_bench_workers_read_frames(tmp_path):
    from kiosk.bench import load_frames
    from tools.cli import CliError
    from tools.eval import scene_speed

    folder = tmp_path / "scenes"
    folder.mkdir()
    for name in ("b.jpg", "a.jpg"):
        cv2.imwrite(str(folder / name), np.full((60, 80, 3), 128, np.uint8))
    scene_speed.write_frames(folder, ["a.jpg", "b.jpg"], tmp_path / "frames")
    manifest, by_scenario = load_frames(tmp_path / "frames")
    assert [f["source"] for f in manifest["frames"]] == ["a.jpg", "b.jpg"]
    assert [name for name, _ in by_scenario[scene_speed.SCENARIO]] == ["scene-000.jpg", "scene-001.jpg"]
    assert (tmp_path / "frames" / "faces1-0.jpg").read_bytes() == (folder / "a.jpg").read_bytes()
    with pytest.raises(CliError, match="peer interpreter"):
        scene_speed.main([str(folder), "--peer-python", str(tmp_path / "none"), "--out", str(tmp_path / "o")])


def test_scene_speed_reads_the_ratio_round_by_round():
    from tools.eval.scene_speed import round_ratios

    def side(*totals):
        return {"stages_ms": {"total": list(totals)}}

    # a loaded second round slows both sides: each round's ratio is its own, whatever the other round's load
    ours = [side(5.0, 6.0, 7.0), side(10.0, 12.0, 14.0)]
    peer = [side(100.0, 120.0, 140.0), side(150.0, 160.0, 170.0)]
    assert round_ratios(ours, peer) == [20.0, 13.33]
    assert round_ratios([side()], [side(1.0)]) == []  # a side that timed nothing gives no ratio


def test_a_walk_in_clip_brings_the_walker_from_far_to_the_gate():
    from tools.eval.scene_walkin import END_PX, FRAME_H, FRAME_W, START_PX, walkin_frames

    photo = np.zeros((300, 400, 3), np.uint8)
    photo[80:140, 100:150] = 255  # the walker's face box: x 100, y 80, 50 x 60
    frames = walkin_frames(photo, (100, 80, 50, 60), 8)
    assert len(frames) == 8 and all(f.shape == (FRAME_H, FRAME_W, 3) for f in frames)
    widths = []
    for f in frames:
        ys, xs = np.nonzero(f[:, :, 0] > 127)
        widths.append(xs.max() - xs.min() + 1)
    assert abs(widths[0] - START_PX) <= 2 and abs(widths[-1] - END_PX) <= 2
    assert all(a < b for a, b in zip(widths, widths[1:]))  # always coming closer
    ys, xs = np.nonzero(frames[-1][:, :, 0] > 127)
    assert abs((xs.min() + xs.max()) / 2 - FRAME_W / 2) <= 2 and abs((ys.min() + ys.max()) / 2 - FRAME_H * 0.45) <= 2


def test_walk_in_clips_of_real_photos_are_decided_and_timed(tmp_path, portraits):
    from tools.eval import scene_walkin

    face = "150\t40\t150\t190"  # the astronaut's face
    for label in ("mask", "no_mask"):
        cv2.imwrite(str(tmp_path / f"{label}.jpg"), portraits[label])
    (tmp_path / "boxes.tsv").write_text(f"scene\tlabel\tx\ty\tw\th\nmask.jpg\tmask\t{face}\nno_mask.jpg\tno_mask\t{face}\n")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as done:
        scene_walkin.run(lambda: scene_walkin.main([str(tmp_path), "--frames", "16", "--fps", "30", "--out", str(out)]))
    assert done.value.code == 0
    r = json.loads((out / "walkin.json").read_text())
    assert r["clips"] == 2 and r["decided"] == 2, r
    assert r["by_walker"] == {"mask": {"open": 1}, "no_mask": {"deny": 1}}, r
    # k = 3 agreeing frames at the gate at the least, and the walker reached the gate well before the clip ended
    assert 3 <= r["frames_at_gate"]["median"] <= r["frames_at_gate"]["max"] < 16, r
    assert sorted(p.name for p in out.iterdir()) == ["walkin.csv", "walkin.json"]  # no frame of a face kept

"""tools/eval/eval_scenes.py and tools/eval/eval_crops.py on a small labelled set made from a public-domain portrait."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tools.eval import eval_crops, eval_scenes
from tools.data import synth_masks as sm

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def portraits() -> dict[str, np.ndarray]:
    img = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)
    pts = sm.find_face_landmarks(img, sm.FaceMesh())
    draw = lambda style: sm.draw_mask(img, pts, style, "surgical", rng=np.random.default_rng(0))  # noqa: E731
    return {"no_mask": img, "mask": draw("correct"), "incorrect": draw("nose")}


def scenes_result(folder, rows: list[str]) -> dict:
    """eval_scenes on FOLDER with these boxes.tsv rows (after the header); its scenes.json."""
    (folder / "boxes.tsv").write_text("\n".join(["scene\tlabel\tx\ty\tw\th"] + rows) + "\n")
    out = folder / "out"
    with pytest.raises(SystemExit) as done:
        eval_scenes.run(lambda: eval_scenes.main([str(folder), "--out", str(out)]))
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
            f"mask.jpg\tno_mask\t400\t400\t60\t60"]  # a bad face where there is none: opens, missed
    r = scenes_result(tmp_path, rows)
    assert (r["should_open"], r["true_openings"], r["must_deny"], r["wrongly_opened"]) == (1, 0, 1, 1)
    assert r["causes"] == {"not_opened": {"no_face": 1}, "wrongly_opened": {"bad_face_called_mask": 1}}, r
    assert scenes_result(tmp_path, rows[2:])["causes"]["wrongly_opened"] == {"bad_face_missed": 1}


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
    with pytest.raises(SystemExit) as done:
        eval_crops.run(lambda: eval_crops.main([str(tmp_path), "--model", str(tmp_path / "no.tflite")]))
    assert done.value.code == 2 and "model file not found" in capsys.readouterr().err

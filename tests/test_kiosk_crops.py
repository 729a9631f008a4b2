"""Kiosk-framed training crops (tools/data/kiosk_crops.py): the crop is the very square the kiosk's analyser
classifies, it keeps its photo's label and split, and a photo without a face is left out. Grace Hopper's
portrait (public domain, shipped by matplotlib) is the face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tools.data import kiosk_crops as kc
from tools.training import dataset as D

matplotlib = pytest.importorskip("matplotlib")
HOPPER = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"


def test_the_crop_is_what_the_kiosk_classifies_in_the_photos_split(tmp_path, capsys):
    src = tmp_path / "data"
    (src / "without_mask").mkdir(parents=True)
    (src / "with_mask").mkdir()
    cv2.imwrite(str(src / "without_mask" / "hopper.png"), cv2.imread(str(HOPPER)))
    cv2.imwrite(str(src / "with_mask" / "grey.png"), np.full((120, 120, 3), 128, np.uint8))  # no face in it
    out = tmp_path / "out"
    assert kc.main([str(src), "-o", str(out)]) == 0
    assert "no face found: 1" in capsys.readouterr().out

    written = sorted((out / "no_mask").glob("*.png"))
    assert len(written) == 1 and not any((out / "mask").iterdir())
    from kiosk.config import Config
    from kiosk.vision.analysis import build_analyzer

    cfg = Config()
    cfg.detector.min_face_px = 1
    frame = D.as_frame(cv2.cvtColor(D.load_image(src / "without_mask" / "hopper.png"), cv2.COLOR_RGB2BGR))
    verdicts, crops = build_analyzer(cfg).analyse(frame)
    assert verdicts and verdicts[0].label == "no_mask"
    kiosk_crop = crops[max(range(len(verdicts)), key=lambda i: verdicts[i].det_score * verdicts[i].box[2])]
    assert np.array_equal(cv2.imread(str(written[0])), kiosk_crop)

    source = next(s for s in D.scan([src]).samples if s.path.name == "hopper.png")
    rows = (out / "manifest.tsv").read_text().splitlines()[1:]
    assert len(rows) == 1 and rows[0].split("\t")[2] == source.group
    # D.read_manifest is what the training scan uses to put a derived file in its source's split
    assert D.read_manifest(out) == {written[0].resolve(): source.group}


def test_a_bad_minimum_is_refused(tmp_path):
    from tools.cli import CliError

    with pytest.raises(CliError, match="--min-face 0"):
        kc.main([str(tmp_path), "-o", str(tmp_path / "out"), "--min-face", "0"])


def test_faces_under_the_minimum_are_left_out(tmp_path, capsys):
    src = tmp_path / "data"
    for folder in ("without_mask", "with_mask"):
        (src / folder).mkdir(parents=True)
    cv2.imwrite(str(src / "without_mask" / "hopper.png"), cv2.imread(str(HOPPER)))
    cv2.imwrite(str(src / "with_mask" / "grey.png"), np.full((120, 120, 3), 128, np.uint8))
    # Grace Hopper's face is a few hundred px wide: a minimum above the photo's size leaves nothing
    assert kc.main([str(src), "-o", str(tmp_path / "out"), "--min-face", "2000"]) == 0
    assert "no face found: 2" in capsys.readouterr().out
    assert not any((tmp_path / "out" / "no_mask").iterdir())

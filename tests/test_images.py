"""The image path of `classify`/`scan`: hostile files only ever give a one-line ImageError."""

from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import data

from kiosk.capture.images import ImageError, read_image

_, PNG = cv2.imencode(".png", cv2.cvtColor(data.astronaut()[::4, ::4], cv2.COLOR_RGB2BGR))
_, JPG = cv2.imencode(".jpg", cv2.cvtColor(data.astronaut()[::4, ::4], cv2.COLOR_RGB2BGR))
PNG, JPG = PNG.tobytes(), JPG.tobytes()


def check(tmp_path_factory, blob: bytes, suffix: str) -> None:
    p = tmp_path_factory.mktemp("img") / f"x{suffix}"
    p.write_bytes(blob)
    try:
        img = read_image(p)
    except ImageError as exc:
        msg = str(exc)
        assert msg.startswith(str(p)) and "\n" not in msg
    else:
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def test_valid_images_decode(tmp_path):
    for blob, suffix in ((PNG, ".png"), (JPG, ".jpg")):
        p = tmp_path / f"ok{suffix}"
        p.write_bytes(blob)
        assert read_image(p).shape == (128, 128, 3)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(tmp_path_factory, blob):
    check(tmp_path_factory, blob, ".jpg")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([PNG, JPG]), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
       st.integers(0, 10**6))
def test_fuzz_mutated_images(tmp_path_factory, base, flips, cut):
    blob = bytearray(base)
    for pos, val in flips:
        blob[pos % len(blob)] = val
    check(tmp_path_factory, bytes(blob[: max(1, cut % (len(blob) + 1))]), ".img")

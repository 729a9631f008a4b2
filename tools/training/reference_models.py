"""Write the two reference models behind the benchmark's Raspberry Pi 4 estimate.

    .venv-host/bin/python -m tools.training.reference_models --out build/ref
    .venv/bin/python -m kiosk bench --pi-reference build/ref ...

XNNPACK publishes how long a Raspberry Pi 4 (ARM64, 4 threads) takes for MobileNet v2 1.0 at 224 px
with random weights: 17 ms int8 (per-channel), 46 ms float32 (google/XNNPACK README, "Raspberry Pi",
benchmarked Feb 2022). This tool writes those two models as .tflite (Keras MobileNetV2, random
weights from a fixed seed, float32 and full int8), so the benchmark can time them on the machine it
runs on and scale our own models' measured times by (Pi time / time here) of the same precision,
instead of guessing the Pi's speed per multiply-accumulate.

The files are build outputs (~17 MB), not product models: nothing in the kiosk loads them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tools.cli import keras, run
from tools.convert_tflite import to_tflite, to_tflite_float

SIZE = 224


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="build/ref", help="output folder (default build/ref)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    k = keras()
    k.utils.set_random_seed(a.seed)
    model = k.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), alpha=1.0, weights=None, classes=1000)
    rng = np.random.default_rng(a.seed)
    # Random inputs, as XNNPACK's end2end benchmark uses; they only set the quantisation ranges.
    rep = rng.uniform(-1.0, 1.0, (32, SIZE, SIZE, 3)).astype(np.float32)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "mobilenet_v2_224_float32.tflite").write_bytes(to_tflite_float(model, SIZE))
    (out / "mobilenet_v2_224_int8.tflite").write_bytes(to_tflite(model, SIZE, rep, "int8"))
    print(f"wrote {out}/mobilenet_v2_224_float32.tflite and {out}/mobilenet_v2_224_int8.tflite")
    return 0


if __name__ == "__main__":
    run(main)

#!/usr/bin/env python3
"""LiteRT int8 latency of classifier candidates (input size x alpha), or of given .tflite files.

    .venv-host/bin/python tools/eval/latency.py --candidates 224:1.0 160:1.0 128:1.0 96:0.35
    .venv-host/bin/python tools/eval/latency.py models/mask_classifier.tflite

Candidates are built untrained with the same architecture as tools/train.py and converted to full int8
(calibrated on random pixels: latency does not depend on the weights). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.cli import CliError, run  # noqa: E402

import numpy as np  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="*", help=".tflite files to time")
    p.add_argument("--candidates", nargs="*", default=[], help="SIZE:ALPHA pairs to build, convert and time")
    p.add_argument("--runs", type=int, default=200)
    args = p.parse_args(argv)
    from tools.convert_tflite import latency_ms, to_tflite

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.candidates:
            try:
                size_s, alpha_s = spec.split(":")
                size, alpha = int(size_s), float(alpha_s)
            except ValueError:
                raise CliError(f"--candidates {spec!r}: expected SIZE:ALPHA, e.g. 128:1.0") from None
            from tools.train import build_model

            model, _, _ = build_model(size, alpha, "none", 2)
            rep = np.random.default_rng(0).integers(0, 256, (16, size, size, 3)).astype(np.float32)
            path = Path(tmp) / f"cand_{size}_{alpha:g}.tflite"
            path.write_bytes(to_tflite(model, size, rep, "uint8"))
            rows.append((f"{size} / {alpha:g}", path))
        for m in args.models:
            if not Path(m).is_file():
                raise CliError(f"model file not found: {m}")
            rows.append((Path(m).name, Path(m)))
        if not rows:
            raise CliError("nothing to time: give .tflite files or --candidates SIZE:ALPHA")
        print("| model | bytes | ms, 1 thread | ms, 2 threads |")
        print("|---|---|---|---|")
        for name, path in rows:
            t1 = latency_ms(path, 1, args.runs)
            t2 = latency_ms(path, 2, args.runs)
            print(f"| {name} | {path.stat().st_size:,} | {t1:.2f} | {t2:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    run(main)

"""The options the evaluation tools share to run the kiosk's own pipeline with other models or thresholds."""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.cli import CliError


def add_kiosk_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, default=None, help="classifier .tflite (default: the config's)")
    p.add_argument("--nose", default=None, help="nose model .tflite, or `off` (default: the config's)")
    p.add_argument("--nose-threshold", type=float, default=None, help="P(nose bare) that denies (default: the config's)")
    p.add_argument("--detector", type=Path, default=None,
                   help="face detector model: BlazeFace .tflite or YuNet .onnx (default: the config's)")
    p.add_argument("--score-threshold", type=float, default=None, help="detector.score_threshold (default: the config's)")
    p.add_argument("--input-width", type=int, default=None, help="detector.input_width, YuNet only (default: the config's)")
    p.add_argument("--mask-threshold", type=float, default=None, help="decision.mask_threshold (default: the config's)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="any other config key, as in config.toml (TOML value: 0.25, true, \"text\"); repeatable")


def _with_overrides(cfg, items: list[str]):
    """The config with `section.key=value` items applied, validated as a config file would be."""
    import dataclasses
    import tomllib

    from kiosk.config import from_dict
    from kiosk.errors import KioskError

    data = {name: dataclasses.asdict(getattr(cfg, name)) for name in
            (f.name for f in dataclasses.fields(cfg) if not f.metadata.get("internal"))}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise CliError(f"--set {item!r}: expected SECTION.KEY=VALUE")
        try:
            parsed = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value.strip()  # a bare word: a string
        data.setdefault(section, {})[name] = parsed
    try:
        return from_dict(data)
    except KioskError as e:
        raise CliError(str(e)) from None


def kiosk_config(args: argparse.Namespace):
    """The embedded default config with the options applied; CliError names a missing model file."""
    from kiosk.config import Config
    from kiosk.vision.detectors import backend_for

    cfg = Config()
    if args.model:
        if not args.model.is_file():
            raise CliError(f"model file not found: {args.model}")
        cfg.classifier.model = str(args.model)
    if args.nose is not None:
        if args.nose != "off" and not Path(args.nose).is_file():
            raise CliError(f"nose model file not found: {args.nose}")
        cfg.classifier.nose_model = "" if args.nose == "off" else args.nose
    if args.detector is not None:
        if not args.detector.is_file():
            raise CliError(f"detector model file not found: {args.detector}")
        cfg.detector.model = str(args.detector)
        cfg.detector.backend = backend_for(args.detector)  # the backend that runs a model of this kind
    if args.score_threshold is not None:
        cfg.detector.score_threshold = args.score_threshold
    if args.input_width is not None:
        cfg.detector.input_width = args.input_width
    if args.set:
        cfg = _with_overrides(cfg, args.set)
    if args.mask_threshold is not None:
        cfg.decision.mask_threshold = args.mask_threshold
    if args.nose_threshold is not None:
        cfg.classifier.nose_threshold = args.nose_threshold
    return cfg

"""Command line: run, check-config, classify, scan, demo (and bench).

Exit codes: 0 success, 2 usage or config errors, 1 runtime failure. Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Sequence

from . import __version__
from .assets import MODELS_DIR
from .config import Config, load, to_toml
from .errors import KioskError

DEFAULT_MODEL = MODELS_DIR / "mask_classifier.tflite"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for config errors
        self.exit(2, f"{self.prog}: error: {message}\n")


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _config(path: str | None) -> Config:
    return load(path) if path else Config()


def cmd_run(args: argparse.Namespace) -> int:
    from .pipeline import Kiosk

    cfg = _config(args.config)
    _setup_logging(cfg.kiosk.log_level)
    kiosk = Kiosk(cfg)
    _stop_on_signals(kiosk)
    summary = kiosk.run(max_seconds=args.max_seconds)
    logging.getLogger("kiosk").info("stopped (%s): %d frames, %d open, %d deny", summary.exit_reason,
                                    summary.frames, summary.count("open"), summary.count("deny"))
    return 0


def _stop_on_signals(kiosk) -> None:  # noqa: ANN001
    def handler(signum, frame):  # noqa: ANN001
        logging.getLogger("kiosk").info("signal %s: stopping", signal.Signals(signum).name)
        kiosk.stop_event.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def cmd_check_config(args: argparse.Namespace) -> int:
    from .vision.detectors import checked_model

    cfg = load(args.file)
    try:
        checked_model(cfg)  # a key that is valid alone but names a model its backend cannot run
    except KioskError as exc:
        raise KioskError(f"{args.file}: {exc}") from None
    print(f"# {args.file}: valid. Effective configuration:")
    print(to_toml(cfg))
    return 0


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _images(paths: list[str], failed: list[str]):
    """Yield (path, image) for each readable path; report the others as JSON error lines."""
    from .capture.images import ImageError, read_image

    for path in paths:
        try:
            image = read_image(path)
        except ImageError as exc:
            failed.append(path)
            _emit({"path": path, "error": str(exc)})
            continue
        yield path, image


def cmd_classify(args: argparse.Namespace) -> int:
    from .vision.classifier import Classifier

    clf = Classifier(args.model or DEFAULT_MODEL, num_threads=1)
    failed: list[str] = []
    for path, image in _images(args.paths, failed):
        label, _, scores = clf.classify(image)
        if args.json:
            _emit({"path": path, "label": label, "scores": {k: round(v, 6) for k, v in scores.items()}})
        else:
            print(f"{path}: {label} ({scores[label]:.3f})", flush=True)
    return 1 if failed else 0


def cmd_scan(args: argparse.Namespace) -> int:
    from .vision.analysis import build_analyzer
    from .vision.tracking import Zone, zoned_frame_decision

    cfg = _config(args.config)
    analyzer = build_analyzer(cfg)
    zone = Zone.of(cfg)
    failed: list[str] = []
    for path, image in _images(args.paths, failed):
        before = analyzer.rejected
        faces, _ = analyzer.analyse(image)
        decision = zoned_frame_decision(faces, cfg.decision.mask_threshold, zone, cfg.zone.outside,
                                        (image.shape[1], image.shape[0]))
        record = {"path": path,
                  "faces": [{"box": [int(v) for v in f.box], "det_score": round(f.det_score, 4),
                             "label": f.label, "score": round(f.score, 4)} for f in faces],
                  "not_faces": analyzer.rejected - before,
                  "decision": decision}
        if args.json:
            _emit(record)
        else:
            labels = ", ".join(f"{f['label']} {f['score']:.2f}" for f in record["faces"]) or "no face"
            if record["not_faces"]:
                labels += f"; {record['not_faces']} detection(s) dropped as not faces"
            print(f"{path}: {decision} ({labels})", flush=True)
    return 1 if failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    max_seconds = args.max_seconds if args.max_seconds is not None else (None if args.loop else 120.0)
    return run_demo(max_seconds=max_seconds, use_broker=not args.no_broker, loop=args.loop)


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench.run import run_bench

    return run_bench(args)


def build_parser() -> argparse.ArgumentParser:
    """The `python -m kiosk` command line."""
    prog = "maskgate" if Path(sys.argv[0]).name == "maskgate" else "python -m kiosk"  # the console script
    p = _Parser(prog=prog, description="maskgate: face-mask entrance kiosk")
    p.add_argument("--version", action="version", version=f"maskgate {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run the daemon")
    r.add_argument("--config", help="TOML config file (default: the embedded defaults)")
    r.add_argument("--max-seconds", type=float, default=None, help=argparse.SUPPRESS)
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("check-config", help="validate a config file and print the effective config")
    c.add_argument("file")
    c.set_defaults(func=cmd_check_config)

    cl = sub.add_parser("classify", help="classify face images as they are")
    cl.add_argument("--model", help=f"TFLite model with its .json sidecar (default {DEFAULT_MODEL.name})")
    cl.add_argument("--json", action="store_true", help="one JSON object per line")
    cl.add_argument("paths", nargs="+", metavar="PATH")
    cl.set_defaults(func=cmd_classify)

    s = sub.add_parser("scan", help="detect, classify and decide on whole images")
    s.add_argument("--config", help="TOML config file (default: the embedded defaults)")
    s.add_argument("--json", action="store_true", help="one JSON object per line")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.set_defaults(func=cmd_scan)

    d = sub.add_parser("demo", help="run the daemon on the bundled demo clip with mock GPIO")
    d.add_argument("--no-broker", action="store_true", help="do not start a local mosquitto")
    d.add_argument("--max-seconds", type=float, default=None,
                   help="stop after this long (default 120, or no limit with --loop)")
    d.add_argument("--loop", action="store_true",
                   help="play the clip again and again (a showroom stand) until Ctrl-C; its end is no camera fault")
    d.set_defaults(func=cmd_demo)

    b = sub.add_parser("bench", help="benchmark the pipeline")
    b.add_argument("--seconds", type=float, default=60.0, help="measuring time per scenario")
    b.add_argument("--out", default="build/bench", help="folder for the JSON report")
    b.add_argument("--peer", action="store_true", help="also run face-mask-detector==0.2.3 side by side")
    b.add_argument("--peer-python", help="interpreter of the peer's venv (default .venv-peer/bin/python)")
    b.add_argument("--rounds", type=int, default=2,
                   help="split each scenario's time into this many alternating rounds (default 2)")
    b.add_argument("--startup-runs", type=int, default=3, help="fresh processes timed for start-up (default 3)")
    b.add_argument("--threads", help="interpreter threads for our models, e.g. 1 or 1,2 (default: config)")
    b.add_argument("--overlap", help="detector.overlap for our pipeline: on, off, or off,on for both side by side "
                                     "(default: the config's)")
    b.add_argument("--pi-reference", help="folder of tools/training/reference_models.py's models: the Pi 4 estimate then "
                                          "scales our measured times by the Pi's published times of those models")
    b.add_argument("--scenarios", help="comma-separated subset of faces0,faces1,faces3,faces8,close1")
    b.add_argument("--config", help="TOML config file (default: the embedded defaults)")
    b.add_argument("--model", help="classifier .tflite with its .json sidecar (default: the config's)")
    b.add_argument("--profile", action="store_true", help="also write a cProfile of our worker (faces3) to OUT")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; KioskError becomes one line on stderr and its exit code."""
    import warnings

    from gpiozero.exc import PinFactoryFallback

    # gpiozero warns once per pin library it tries; on a machine without GPIO our own one-line error
    # (which names gpio.backend = "mock") says what matters.
    warnings.filterwarnings("ignore", category=PinFactoryFallback)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KioskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1

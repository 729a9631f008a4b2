"""Shared command-line plumbing: one-line errors, quiet TensorFlow, Keras import.

Every tool is run as a module from the repository root (`python -m tools.eval.eval_scenes ...`), so `kiosk`
and `tools` import without editing the import path. TensorFlow is imported lazily, inside functions (`keras()`
below), never at a module's top: the environment set here, when a tool imports this module, is in place
before it loads.
"""

from __future__ import annotations

import contextlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


class CliError(Exception):
    """A user-fixable problem: printed as one line, exit code 2."""


def user_errors() -> tuple[type, ...]:
    from kiosk.capture.images import ImageError
    from kiosk.errors import KioskError

    from .training.dataset import DataError
    from .training.torch_weights import TorchReadError

    return (CliError, DataError, TorchReadError, KioskError, ImageError)


def run(main) -> None:
    """Call main(); turn the known error types into `error: ...` on stderr and exit 2 (no traceback)."""
    try:
        code = main()
    except user_errors() as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)



@contextlib.contextmanager
def quiet_stderr():
    """Send file descriptor 2 to /dev/null for a while (TensorFlow's C++ logging ignores Python)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _quiet_import():
    """Import TensorFlow + Keras with the C++ start-up chatter (absl, cpu_feature_guard) kept off stderr,
    so that a later error stays the only line there."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    with quiet_stderr():
        if os.environ.get("KERAS_BACKEND") == "tensorflow":  # training may run on another Keras backend
            import tensorflow  # noqa: F401
        import keras as k
    return k


def keras():
    try:
        return _quiet_import()
    except ImportError as exc:
        raise CliError(f"Keras/TensorFlow not installed ({exc}); pip install -r requirements-host.txt") from exc

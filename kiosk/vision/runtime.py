"""The one place that picks a TFLite runtime: LiteRT first, tflite_runtime as the fallback.

The Pi never needs TensorFlow; both runtimes expose the same Interpreter API.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import KioskError


def interpreter_class() -> tuple[type, str]:
    """Return (Interpreter class, runtime name)."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore

        return Interpreter, "ai_edge_litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore

        return Interpreter, "tflite_runtime"
    except ImportError as exc:
        raise KioskError(
            "no TFLite runtime: install ai-edge-litert (or tflite-runtime on Python <= 3.11)"
        ) from exc


def load_interpreter(path: str | Path, num_threads: int = 1, input_shape: list[int] | None = None) -> Any:
    """Create and allocate an interpreter once; refuse files that are not TFLite models. `input_shape`: the
    first input's shape to allocate for, for a model whose input size is free (stored as 1x1: some runtimes
    refuse to prepare a convolution on that)."""
    path = Path(path)
    if not path.is_file():
        raise KioskError(f"model file not found: {path}")
    data = path.read_bytes()
    # A TFLite flatbuffer carries the identifier "TFL3" at byte 4; checking it first turns
    # a corrupt or wrong file into a clear message instead of a runtime abort.
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise KioskError(f"{path}: not a TFLite model (bad file identifier)")
    cls, _ = interpreter_class()
    try:
        with _quiet_stderr():
            interp = cls(model_content=data, num_threads=num_threads)
            if input_shape is not None:
                interp.resize_tensor_input(interp.get_input_details()[0]["index"], list(input_shape))
            interp.allocate_tensors()
    except Exception as exc:  # the runtimes raise ValueError/RuntimeError with long texts
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KioskError(f"{path}: cannot load TFLite model: {first}") from exc
    return interp


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the runtime's C++ banner ("Created TensorFlow Lite XNNPACK delegate") on fd 2,
    which would otherwise end up in every command's output; Python-level errors still raise."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)

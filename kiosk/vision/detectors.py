"""Face detector backends by name: `detector.backend` picks one from this registry, `detector.model` its
model file (empty: the backend's bundled model). A new backend is one entry here and one module.

Costs on the Raspberry Pi 4 estimate (docs/bench.md): yunet ~33-39 ms at 400x300 (the default, finds far
more masked faces, docs/detector-kiosk-eval.md); blazeface ~10 ms (full range, 192x192).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import Config, auto_threads
from ..errors import KioskError
from .detector import BlazeFaceDetector, FaceDetector
from .yunet import YuNetDetector


@dataclass(frozen=True)
class Backend:
    """One detector backend: its name in the config, the model kind it runs, its bundled model."""

    name: str
    suffix: str  # the model file's kind: a model of another kind is refused by name, not guessed from it
    model: str  # relative to the installation (kiosk/assets.py), used when detector.model is empty
    build: Callable[[Config, Path], FaceDetector]


def _blazeface(cfg: Config, path: Path) -> FaceDetector:
    d = cfg.detector
    if d.propose_model:
        raise KioskError(f"config key 'detector.propose_model': only the yunet backend takes proposals, "
                         f"detector.backend is {d.backend!r}")
    return BlazeFaceDetector(path, score_threshold=d.score_threshold, num_threads=auto_threads(d.threads))


def _yunet(cfg: Config, path: Path) -> FaceDetector:
    d = cfg.detector
    proposer = None
    if d.propose_model:
        pp = cfg.resolve(d.propose_model)
        if pp.suffix.lower() != BACKENDS["blazeface"].suffix:
            raise KioskError(f"config key 'detector.propose_model': expected a BlazeFace .tflite, got {pp}")
        proposer = BlazeFaceDetector(pp, score_threshold=d.propose_score, num_threads=auto_threads(d.threads))
    return YuNetDetector(path, score_threshold=d.score_threshold, input_width=d.input_width,
                         refine_low=d.refine_low, refine_confirm=d.refine_confirm, refine_crop=d.refine_crop,
                         refine_max=d.refine_max, proposer=proposer, propose_max=d.propose_max,
                         litert_model=path.with_suffix(".tflite") if d.engine == "litert" else None,
                         threads=auto_threads(d.threads), min_face_px=d.min_face_px)


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("yunet", ".onnx", "models/face_detection_yunet_2023mar.onnx", _yunet),
    Backend("blazeface", ".tflite", "models/face_detection_full_range_sparse.tflite", _blazeface),
)}


def backend_for(model: str | Path) -> str:
    """The backend that runs a model file of this kind (tools that take a bare model path on the command
    line); a KioskError for a kind no backend runs."""
    suffix = Path(model).suffix.lower()
    for b in BACKENDS.values():
        if b.suffix == suffix:
            return b.name
    raise KioskError(f"no detector backend runs a {suffix or 'suffix-less'} model: {model} "
                     f"(backends: {', '.join(f'{b.name} {b.suffix}' for b in BACKENDS.values())})")


def model_path(cfg: Config) -> Path:
    """The detector model the config runs: detector.model, else the backend's bundled one."""
    backend = BACKENDS[cfg.detector.backend]
    return cfg.resolve(cfg.detector.model or backend.model)


def checked_model(cfg: Config) -> Path:
    """The detector model the config runs, refused (one line, naming the backend that would run it) when
    it is not of the kind its backend runs. `check-config` asks this too, without loading anything."""
    backend = BACKENDS[cfg.detector.backend]
    path = model_path(cfg)
    if path.suffix.lower() != backend.suffix:
        other = next((b.name for b in BACKENDS.values() if b.suffix == path.suffix.lower()), None)
        hint = f' (detector.backend = "{other}" runs it)' if other else ""
        raise KioskError(f"config key 'detector.model': the {backend.name} backend runs a {backend.suffix} "
                         f"model, got {path.name}{hint}")
    return path


def build_detector(cfg: Config) -> FaceDetector:
    """The detector `detector.backend` names, on its model."""
    return BACKENDS[cfg.detector.backend].build(cfg, checked_model(cfg))


"""Distillation: a converted model teaches a new one its probabilities instead of the folders' labels.

A retrain from the labels alone draws a new model each time (the nose check: 1-2 more wrongly opened scenes
per set from the same data and recipe, models/MODEL_CARD.md session 17); a smaller model taught by the shipped
one learns where that model puts its borderline, which is what the scene figures were measured on. The teacher
runs through the kiosk's own Classifier (LiteRT, int8 as shipped), on each augmented view the student sees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tools.cli import CliError


def view_size(teacher: str | Path, size: int) -> int:
    """The side at which training views are cut when a teacher teaches a `size` px student: the teacher's own input
    when it is square and larger, so that it answers on the sharp view it was made for and the student learns that
    answer from the same view shrunk (a teacher shown an upscaled small view answers on a blur); else `size`."""
    from kiosk.errors import KioskError
    from kiosk.vision.classifier import read_meta

    try:
        meta = read_meta(Path(teacher))
    except KioskError as exc:
        raise CliError(f"--teacher {teacher}: {exc}") from None
    return meta.width if meta.width == meta.height and meta.width > size else size


def shrink_views(x: np.ndarray, size: int) -> np.ndarray:
    """[N, s, s, 3] views -> [N, size, size, 3], by the exact area average the training data is resized with."""
    from kiosk.vision.preprocess import resize_face

    if len(x) == 0 or x.shape[1] == size:
        return x
    return np.stack([resize_face(im, (size, size), exact=True) for im in x])


class Teacher:
    """A .tflite model (with its sidecar) whose probabilities become the training targets."""

    def __init__(self, path: str | Path, labels: list[str], size: int) -> None:
        from kiosk.errors import KioskError
        from kiosk.vision.classifier import Classifier

        try:
            self.model = Classifier(path)
        except KioskError as exc:
            raise CliError(f"--teacher {path}: {exc}") from None
        missing = [l for l in labels if l not in self.model.labels]
        if missing:
            raise CliError(f"--teacher {path}: has no output for class(es) {missing} (it says {list(self.model.labels)})")
        extra = [l for l in self.model.labels if l not in labels]
        if extra:
            raise CliError(f"--teacher {path}: says {extra} too, which this training has no class for")
        if (self.model.meta.width, self.model.meta.height) != (size, size):
            # a teacher at another size sees a resampled view; allowed, but said
            print(f"teacher {path} takes {self.model.meta.width}x{self.model.meta.height}; "
                  f"the {size}px training views are resized for it")
        self.order = np.array([self.model.labels.index(l) for l in labels])
        self.path = str(path)

    def probs(self, x_rgb: np.ndarray) -> np.ndarray:
        """[N, size, size, 3] RGB uint8 -> [N, classes] teacher probabilities in the training's label order."""
        if len(x_rgb) == 0:
            return np.zeros((0, len(self.order)), np.float32)
        tensors = [self.model.prepare(np.ascontiguousarray(im[:, :, ::-1])) for im in x_rgb]
        return self.model.predict_batch(tensors)[:, self.order].astype(np.float32)


def targets(teacher_p: np.ndarray, y: np.ndarray, weight: float) -> np.ndarray:
    """Soft targets: `weight` of the teacher's probabilities, the rest the folder's label (one-hot)."""
    hard = np.eye(teacher_p.shape[1], dtype=np.float32)[y]
    return (weight * teacher_p + (1.0 - weight) * hard).astype(np.float32)


def agreement(student_p: np.ndarray, teacher_p: np.ndarray, positive: int) -> dict:
    """How close the student came: same top class, and the spread of |P_student - P_teacher| for `positive`."""
    if len(student_p) == 0:
        return {"n": 0}
    d = np.abs(student_p[:, positive] - teacher_p[:, positive])
    return {
        "n": int(len(d)),
        "same_top_class": float(np.mean(student_p.argmax(1) == teacher_p.argmax(1))),
        "abs_diff_mean": float(d.mean()),
        "abs_diff_p95": float(np.quantile(d, 0.95)),
        "abs_diff_max": float(d.max()),
    }

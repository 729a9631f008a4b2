"""Detect frame t+1 while classifying frame t, so the two models keep the cores busy together.

One after the other, each model waits for the other, and neither keeps all cores busy: small layers
do not split well into 2-4 threads (on a Pi 4, XNNPACK's MobileNet runs ~2.2x faster on 4 threads
than on 1, not 4x), and the Python, OpenCV and numpy work between the invokes runs on one core. Side
by side, the two stages share the cores. LiteRT releases the GIL inside `invoke`, and OpenCV inside
`resize`, so one extra Python thread is enough. On the 2-core build machine it gave -2 to +21 % frames
per second at the same interpreter threads (about even to better); the 4-core Pi is where it should
pay (docs/bench.md, "Overlap" and "Raspberry Pi 4 estimate").

Every frame still goes through the same detector and classifier calls in the same order, so the
verdicts and decisions are those of the sequential loop; each one just arrives one frame later.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..door.decision import FaceVerdict
from .analysis import FaceAnalyzer
from .detector import Detection

Timing = Callable[[str, float], None]


@dataclass
class Analysed:
    """One frame's result, handed back one call after its frame went in."""

    stamp: Any  # what the caller passed with the frame (its capture time, say)
    verdicts: list[FaceVerdict]
    crops: list[np.ndarray]
    frame: np.ndarray | None = None  # the frame itself, for the outputs' frame hook (the live view)


@dataclass
class _Pending:
    frame: np.ndarray
    stamp: Any
    detections: Future


class OverlappedAnalyzer:
    """`push(frame)` starts detecting `frame` in a worker thread, then classifies the frame pushed
    before it in the caller's thread while that runs, and returns that earlier frame's result."""

    def __init__(self, analyzer: FaceAnalyzer) -> None:
        self.analyzer = analyzer
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detect")
        self._pending: _Pending | None = None

    def _detect(self, frame: np.ndarray) -> tuple[list[Detection], float]:
        t0 = time.perf_counter()
        dets = self.analyzer.detect(frame)
        return dets, (time.perf_counter() - t0) * 1000

    def push(self, frame: np.ndarray, stamp: Any = None, timing: Timing | None = None) -> Analysed | None:
        """None for the first frame after a start, `drop` or `flush`: there was nothing before it.
        A detector error of the earlier frame is raised here, as `analyse` would raise it."""
        earlier = self._pending
        self._pending = _Pending(frame, stamp, self._pool.submit(self._detect, frame))
        return self._finish(earlier, timing) if earlier is not None else None

    def flush(self, timing: Timing | None = None) -> Analysed | None:
        """The result of the last frame pushed (end of a clip), or None."""
        earlier, self._pending = self._pending, None
        return self._finish(earlier, timing) if earlier is not None else None

    def drop(self) -> None:
        """Forget the frame in flight (camera fault: its verdict must not count after the gap)."""
        earlier, self._pending = self._pending, None
        if earlier is not None:
            try:
                earlier.detections.result()  # the interpreter is not to be used by two threads at once
            except Exception:  # noqa: BLE001 - the frame is discarded either way
                pass

    def _finish(self, p: _Pending, timing: Timing | None) -> Analysed:
        dets, detect_ms = p.detections.result()
        if timing is not None:
            timing("detect", detect_ms)
        verdicts, crops = self.analyzer.classify(p.frame, dets, timing)
        return Analysed(p.stamp, verdicts, crops, p.frame)

    def close(self) -> None:
        self.drop()
        self._pool.shutdown(wait=True)

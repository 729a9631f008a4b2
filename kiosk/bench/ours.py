"""Our side of the benchmark: the kiosk's own per-frame pieces in a worker process
(`python -m kiosk.bench worker`), so that its peak RSS and start-up are those of a process that
holds only the kiosk's pieces, not the harness (scikit-image, the frame builder).

Per frame the worker times: decode (cv2.imdecode), detect, preprocess (crop + resize + quantise),
classify (the faces that need it), decide (the daemon's per-person PersonDecider with the config's zone)
and publish (build_event + json.dumps, only on frames that produced a decision: MQTT itself is network,
not pipeline). As in the daemon, with `classifier.attention` a person decided and in their cooldown keeps
their verdict and a bystander is not classified (kiosk/vision/attention.py). Each new frame of a scenario is a new
group of people (the bench holds each frame HOLD_FRAMES times, as people stay in view for a moment): the
tracks start over, so every group is classified until it is decided, never recognised from an earlier cycle.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from .measure import serve
from .scenarios import load_frames


def _invoke_ms(interp: Any, n: int = 50) -> float:
    """Fastest of n bare Invoke() calls on the tensors already set: the model alone, no Python.
    The minimum, because on a shared machine every slower run is someone else's time slice."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        interp.invoke()
        times.append((time.perf_counter() - t0) * 1000)
    return round(min(times), 4)


class OurPipeline:
    """The kiosk's own per-frame pieces, in the order Kiosk.step runs them."""

    def __init__(self, config: str | None, model: str | None, threads: int | None,
                 overlap: bool | None = None) -> None:
        import cv2

        from ..config import Config, load
        from ..events import build_event
        from ..vision.analysis import build_analyzer
        from ..vision.attention import attention_for
        from ..vision.overlap import OverlappedAnalyzer
        from ..vision.tracking import PersonDecider

        cfg = load(config) if config else Config()
        if model:
            cfg.classifier.model = str(Path(model).resolve())
        if threads:
            cfg.detector.threads = cfg.classifier.threads = threads
        if overlap is not None:
            cfg.detector.overlap = overlap
        self.cfg = cfg
        self.analyzer = build_analyzer(cfg)
        # As the daemon: with overlap, a frame's verdict comes back with the next frame's call.
        self.overlap = OverlappedAnalyzer(self.analyzer) if cfg.detector.overlap else None
        clf = self.analyzer.classifier
        self.model_info = {"name": clf.meta.name, "sha256": clf.sha256}
        self._new_decider = lambda: PersonDecider.of(cfg)
        self.decider = self._new_decider()
        self.attention = attention_for(cfg)
        self.analyzer.attention = self.attention
        self._last_jpeg: bytes | None = None
        self._build_event = build_event
        self._imdecode, self._flag = cv2.imdecode, cv2.IMREAD_COLOR
        self._np = __import__("numpy")
        # The decider sees camera time, not bench time: frames arrive at the configured rate.
        self._dt = 1.0 / cfg.camera.fps
        self._n = 0

    def info(self) -> dict[str, Any]:
        """What the report says about this side: runtime and versions, threads, models, bare invoke times."""
        import cv2
        import numpy as np

        from ..vision.detectors import model_path
        from ..vision.runtime import interpreter_class

        runtime = interpreter_class()[1]
        try:
            from importlib.metadata import version

            runtime_version = version("ai-edge-litert" if runtime == "ai_edge_litert" else "tflite-runtime")
        except Exception:  # noqa: BLE001 - informational only
            runtime_version = "?"
        c = self.analyzer.classifier
        from .pi_estimate import fastest_yunet_ms

        det = self.analyzer.detector
        cam = self.cfg.camera
        invoke_ms = {"detector": (_invoke_ms(det._interp) if hasattr(det, "_interp")
                                  else round(fastest_yunet_ms(det, cam.width, cam.height, 50), 4)),
                     "classifier": _invoke_ms(c.interpreter)}
        return {"name": "maskgate", "invoke_ms": invoke_ms, "runtime": f"{runtime} {runtime_version}", "opencv": cv2.__version__,
                "numpy": np.__version__, "threads": {"detector": self.analyzer.detector.threads,
                                                      "classifier": self.analyzer.classifier.threads},
                "overlap": self.overlap is not None,
                "classifier": {"name": c.meta.name, "sha256": c.sha256, "input": [c.meta.width, c.meta.height],
                               "labels": list(c.labels)},
                "detector": {"backend": self.cfg.detector.backend, "model": model_path(self.cfg).name,
                             "engine": self.cfg.detector.engine if self.cfg.detector.backend == "yunet" else "litert",
                             "score_threshold": self.cfg.detector.score_threshold},
                "min_face_px": self.cfg.detector.min_face_px, "max_faces": self.cfg.detector.max_faces}

    def reset(self) -> None:
        """Back to a fresh decider and frame clock (between scenarios); a frame in flight is finished unused."""
        if self.overlap is not None:
            self.overlap.flush()
        self.decider = self._new_decider()
        if self.attention is not None:
            self.attention.forget()
        self._n = 0

    def settle(self) -> int | None:
        """Faces of the frame still in flight (overlap), once finished; None when nothing is."""
        done = self.overlap.flush() if self.overlap is not None else None
        return len(done.verdicts) if done is not None else None

    def process(self, jpeg: bytes, times: dict[str, float]) -> tuple[int, str | None]:
        """One frame through every stage; fills `times` (ms); returns (faces, decision or None).
        With overlap, the faces and decision are those of the frame before (the daemon's order)."""
        perf = time.perf_counter
        t0 = perf()
        frame = self._imdecode(self._np.frombuffer(jpeg, self._np.uint8), self._flag)
        t1 = perf()
        if jpeg is not self._last_jpeg:  # a new group walks in: nobody is known yet
            self._last_jpeg = jpeg
            self.decider.reset()
            if self.attention is not None:
                self.attention.forget()
        now = self._n * self._dt
        self._n += 1
        size = (frame.shape[1], frame.shape[0])
        if self.attention is not None:
            self.attention.frame_size = size
        if self.overlap is None:
            faces, _ = self.analyzer.analyse(frame, timing=times.__setitem__)
        else:
            done = self.overlap.push(frame, now, timing=times.__setitem__)
            if done is None:  # the first frame: nothing to decide on yet
                times.update(decode=(t1 - t0) * 1000, total=(perf() - t0) * 1000)
                return 0, None
            faces, now = done.verdicts, done.stamp
        t2 = perf()
        decisions = self.decider.update(now, faces, size)
        if self.attention is not None:
            self.attention.observe(self.decider, now)
        t3 = perf()
        for decision in decisions:
            event = self._build_event(decision, self.cfg.kiosk.id, self.model_info, (t3 - t0) * 1000)
            json.dumps(event).encode("utf-8")
        t4 = perf()
        times["decode"] = (t1 - t0) * 1000
        times["decide"] = (t3 - t2) * 1000
        times["publish"] = (t4 - t3) * 1000
        times["total"] = (t4 - t0) * 1000
        return len(faces), (decisions[0].decision if decisions else None)


def worker_main(argv: list[str], t_main: float) -> int:
    """`python -m kiosk.bench worker ...`; `t_main`: time.monotonic() when the process began its imports."""
    p = argparse.ArgumentParser(prog="python -m kiosk.bench worker")
    p.add_argument("--frames", required=True)
    p.add_argument("--config")
    p.add_argument("--model")
    p.add_argument("--threads", type=int)
    p.add_argument("--overlap", choices=("on", "off"))
    p.add_argument("--startup-only", action="store_true")
    a = p.parse_args(argv)
    frames_dir = Path(a.frames)
    first = (frames_dir / "faces1-0.jpg").read_bytes()

    def factory():
        # The imports a daemon start pays, timed apart from model loading.
        import cv2  # noqa: F401

        from .. import pipeline  # noqa: F401

        t_imported = time.monotonic()
        pl = OurPipeline(a.config, a.model, a.threads, None if a.overlap is None else a.overlap == "on")
        if not a.startup_only:
            pl.frames = load_frames(frames_dir)[1]
        return t_imported, pl

    return serve(factory, first, a.startup_only, t_main)

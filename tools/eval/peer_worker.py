"""Benchmark worker for the peer, face-mask-detector==0.2.3, run in its own venv (.venv-peer).

    .venv-peer/bin/python -m tools.eval.peer_worker --frames build/bench/frames [--startup-only]

Started by `python -m kiosk bench --peer`; speaks the same JSON-lines protocol as our worker
(kiosk.bench.serve) and is timed by the same loop (kiosk.bench.measure), on the same JPEG files.

The peer is driven the way its own video loop (`display_video_with_face_mask_detections`) drives
itself: each frame goes through its `_get_frame_from_video_stream` (imutils.resize to 400 px wide),
then `get_face_mask_detections(model, frame, 0.5)` (res10 SSD via cv2.dnn, reloaded from disk on
every call, as the package does; then a batched Keras `predict` of 224x224 float crops), then its
own per-face labels (`_get_box_label_from_prediction`: "Mask" / "No Mask"). Only the window drawing
is left out. Stage times come from thin timing wrappers around the package's own functions, so its
code path is unchanged:

    decode      cv2.imdecode + the package's resize to 400 px (its frame grab)
    detect      face_detector.detect_faces_in_image (readNet + blobFromImage + forward)
    preprocess  the rest of get_face_mask_detections (boxes, crops, cvtColor, resize, preprocess_input)
    classify    model.predict on the batch of faces
    decide      its per-face labels
    publish     json.dumps of the labels and boxes (the peer has no publisher; this keeps the
                stage list the same as ours)

res10 can return boxes partly or wholly outside the frame on close-ups; the package then crops an
empty array and cv2.cvtColor raises. That frame counts as a failure of the peer (kiosk.bench.measure
catches it) and the run goes on.
"""

from __future__ import annotations

import time

# Before any other import: the worker's own start-up clock starts here. So every other import, down to
# the standard library's, is made where it is used.
T_MAIN = time.monotonic()

CONFIDENCE = 0.5  # the package's own default (command_line_interface: --confidence 0.5)


class _FrameSource:
    """Stands in for imutils' VideoStream: the package's frame grab calls .read()."""

    def __init__(self) -> None:
        self.frame = None

    def read(self):  # noqa: ANN201 - mirrors imutils.video.VideoStream.read
        return self.frame


class _TimedModel:
    """Forwards .predict to the Keras model and times it."""

    def __init__(self, model: object, clock: dict[str, float]) -> None:
        self._model = model
        self._clock = clock

    def predict(self, *args: object, **kwargs: object) -> object:
        t0 = time.perf_counter()
        try:
            return self._model.predict(*args, **kwargs)
        finally:
            self._clock["classify"] += time.perf_counter() - t0


class PeerPipeline:
    def __init__(self) -> None:
        import json

        import cv2
        import numpy as np
        from face_mask_detector import lib

        self._json, self._cv2, self._np, self._lib = json, cv2, np, lib
        self._clock = {"detect": 0.0, "classify": 0.0}
        detect = lib.detect_faces_in_image

        def timed_detect(image):  # noqa: ANN001, ANN202 - same signature as the package's
            t0 = time.perf_counter()
            try:
                return detect(image)
            finally:
                self._clock["detect"] += time.perf_counter() - t0

        # get_face_mask_detections looks the name up in lib's globals at call time.
        lib.detect_faces_in_image = timed_detect
        self.model = _TimedModel(lib.load_face_mask_detector_model(), self._clock)
        self._source = _FrameSource()
        self.frames: dict[str, list[tuple[str, bytes]]] = {}

    def info(self) -> dict[str, object]:
        import os
        from importlib.metadata import version

        import cv2
        import numpy as np
        import tensorflow as tf

        return {"name": "face-mask-detector", "version": version("face-mask-detector"),
                "tensorflow": tf.__version__, "tf_keras": version("tf-keras"), "opencv": cv2.__version__,
                "numpy": np.__version__, "confidence": CONFIDENCE,
                "threads": {"tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads() or "default",
                            "cv2": cv2.getNumThreads()},
                "legacy_keras": os.environ.get("TF_USE_LEGACY_KERAS", "")}

    def reset(self) -> None:
        pass  # the peer keeps no state between frames

    def process(self, jpeg: bytes, times: dict[str, float]) -> tuple[int, str | None]:
        perf = time.perf_counter
        lib = self._lib
        clock = self._clock
        clock["detect"] = clock["classify"] = 0.0
        t0 = perf()
        self._source.frame = self._cv2.imdecode(self._np.frombuffer(jpeg, self._np.uint8), self._cv2.IMREAD_COLOR)
        frame = lib._get_frame_from_video_stream(self._source)
        t1 = perf()
        try:
            locations, predictions = lib.get_face_mask_detections(self.model, frame, CONFIDENCE)
        finally:
            t2 = perf()
            times["decode"] = (t1 - t0) * 1000
            times["detect"] = clock["detect"] * 1000
            times["classify"] = clock["classify"] * 1000
            times["preprocess"] = (t2 - t1 - clock["detect"] - clock["classify"]) * 1000
        labels = [lib._get_box_label_from_prediction(p) for p in predictions]
        t3 = perf()
        self._json.dumps({"faces": [{"label": lab, "score": round(float(prob), 4), "box": [int(v) for v in box]}
                                    for (lab, prob, _), box in zip(labels, locations)]})
        t4 = perf()
        times["decide"] = (t3 - t2) * 1000
        times["publish"] = (t4 - t3) * 1000
        times["total"] = (t4 - t0) * 1000
        decision = None
        if labels:
            decision = "open" if all(lab == "Mask" for lab, _, _ in labels) else "deny"
        return len(locations), decision


def main(argv: list[str] | None = None) -> int:
    import argparse
    import os
    from pathlib import Path

    # kiosk.bench imports only the standard library, so this venv (no LiteRT) can share its protocol and
    # timing loop.
    from kiosk.bench import load_frames, serve

    p = argparse.ArgumentParser(description="face-mask-detector==0.2.3 benchmark worker")
    p.add_argument("--frames", required=True, help="folder written by kiosk.bench.build_frames")
    p.add_argument("--startup-only", action="store_true")
    a = p.parse_args(argv)
    # Its model file is Keras-2 HDF5: tf.keras must be tf-keras, not Keras 3.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    frames_dir = Path(a.frames)
    first = (frames_dir / "faces1-0.jpg").read_bytes()

    def factory():
        import cv2  # noqa: F401
        import tensorflow  # noqa: F401
        from face_mask_detector import lib  # noqa: F401

        t_imported = time.monotonic()
        pl = PeerPipeline()
        if not a.startup_only:
            pl.frames = load_frames(frames_dir)[1]
        return t_imported, pl

    return serve(factory, first, a.startup_only, T_MAIN)


if __name__ == "__main__":
    raise SystemExit(main())

"""How fast would the pipeline run on a Raspberry Pi 4? An estimate from times measured here.

No Pi is at hand, so the benchmark scales what it measures on its own machine by how much slower a
Pi 4 is at the same work, taken from published Pi 4 times of two reference models:

- XNNPACK's README ("Raspberry Pi", RPi 4 BCM2711 ARM64, multi-threaded = 4 threads, Feb 2022):
  MobileNet v2 1.0 at 224 px with random weights, 17 ms int8 (per-channel), 46 ms float32.
  tools/training/reference_models.py writes those two models; this module times them here.
- google/XNNPACK issue #814 (a Pi 4, 64-bit Ubuntu, 1.5 GHz, performance governor): FP32 MobileNet v1
  at 1/2/4 threads 312/186/142 ms. Its 4-thread time is 1.85x the README's 77 ms for the same model:
  that factor is the slow bound (another build, another board, a warm one), and its thread counts
  give how a model's time on the Pi changes with 1, 2 or 4 threads.

Per model: Pi time (4 threads) = time here (1 thread) x Pi reference time / reference time here, of the
same precision (int8 or float32: a Pi's int8 is ~2.7x its float, this machine's ~0.9x), so the ratio
also carries what this machine does better or worse than a Pi per multiply-accumulate. The classifier
is timed as it runs, one invoke per face (kiosk/vision/classifier.py), times the faces.

Everything else a frame costs (letterbox, NMS, crops, numpy, Python; no JPEG decoding: a Pi camera
hands over raw frames) is timed here as the analyser's time minus the time inside the two invokes,
and scaled by the Pi's per-core slowdown at one thread: between the int8 reference's (SIMD integer
work) and the float reference's (SIMD float work) ratios.

The rows above count every face classified and the whole frame searched on every frame: a stream of new
people. `threads_4_overlap_daemon` counts what a frame really gets as the daemon runs on the same frames,
each held as a new group walks in (`daemon_rates`: people followed in windows, the decided not classified
again; the non-model time is kept whole).

YuNet (an OpenCV DNN model, not LiteRT) has published Pi 4 times of its own, so it is not scaled
from a reference: 21 ms (the figure issue 18 quotes) to 25 ms (OpenCV Zoo's table: 6.22 ms at 160x120,
times 4 for the pixels) at 320x240 with 4 threads, scaled by the pixels of the input the kiosk gives it
(`detector.input_width`), and by XNNPACK's thread ratios for fewer threads. The second look
(kiosk/vision/refine.py) adds its crops' pixels: `detector.refine_max` crops of `refine_crop`^2 on every
frame (the worst case, `detector_crop_px`; how many a frame really gets is counted on the bench's
frames, `detector_crops_per_frame`, for the report). A proposing BlazeFace (`detector.propose_model`)
adds its own time, scaled as a LiteRT float model, and `detector.propose_max` more crops.

All times here are the fastest of many, the models taking turns: this build machine is a VM whose
speed drifts by tens of per cent over seconds (another tenant on the same core), and what the
estimate needs is the ratio of each model to its reference, measured in the same quiet moments.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE_FILES = {"int8": "mobilenet_v2_224_int8.tflite", "float32": "mobilenet_v2_224_float32.tflite"}
PI4_REFERENCE_MS = {"int8": 17.0, "float32": 46.0}  # XNNPACK README, RPi 4 ARM64, 4 threads
PI4_THREADS_MS = {1: 312.0, 2: 186.0, 4: 142.0}  # XNNPACK issue #814, FP32 MobileNet v1 on a Pi 4
PI4_SLOW_FACTOR = 142.0 / 77.0  # the same model, 4 threads: that Pi against the README's
PI4_YUNET_MS_320X240 = (21.0, 25.0)  # 4 threads: fast and slow bound (issue 18; OpenCV Zoo, 6.22 ms x 4)
YUNET_COMPUTE = "yunet"
SOURCES = ["github.com/google/XNNPACK README, section Raspberry Pi (RPi 4 BCM2711 ARM64, Feb 2022)",
           "github.com/google/XNNPACK/issues/814 (end2end-bench on a Pi 4, 1/2/3/4 threads)",
           "YuNet 2023mar on a Raspberry Pi 4: ~21 ms at 320x240 (issue 18); OpenCV Zoo README, 6.22 ms at "
           "160x120 on a Raspberry Pi 4B (4 threads)"]


def missing_reference(folder: str | Path) -> list[str]:
    """Reference model files absent from `folder` (tools/training/reference_models.py writes them)."""
    return [str(Path(folder) / f) for f in REFERENCE_FILES.values() if not (Path(folder) / f).is_file()]


def _loaded(path: str | Path) -> Any:
    """An interpreter at 1 thread with a deterministic random input set."""
    from ..vision.runtime import load_interpreter

    interp = load_interpreter(path, num_threads=1)
    d = interp.get_input_details()[0]
    rng = np.random.default_rng(0)
    if np.issubdtype(d["dtype"], np.integer):
        info = np.iinfo(d["dtype"])
        x = rng.integers(info.min, info.max, d["shape"], endpoint=True).astype(d["dtype"])
    else:
        x = rng.uniform(-1.0, 1.0, d["shape"]).astype(d["dtype"])
    interp.set_tensor(d["index"], x)
    interp.invoke()
    return interp


def fastest_invokes_ms(models: dict[str, Any], rounds: int = 12, runs: int = 8) -> dict[str, float]:
    """Fastest invoke of each interpreter, the models taking turns (`rounds` x `runs` each): on a
    shared machine the speed drifts over seconds, and turns spread the drift over all of them, so
    their ratios, which the estimate uses, hold even when the absolute times do not."""
    best = {k: float("inf") for k in models}
    for _ in range(rounds):
        for k, interp in models.items():
            for _ in range(runs):
                t0 = time.perf_counter()
                interp.invoke()
                best[k] = min(best[k], time.perf_counter() - t0)
    return {k: v * 1000 for k, v in best.items()}


class _InvokeClock:
    """Wraps one model call (an interpreter's `invoke`, YuNet's `_run`) to add up the time inside it."""

    def __init__(self, owner: Any, method: str = "invoke") -> None:
        self.ms = 0.0
        self._invoke = getattr(owner, method)
        setattr(owner, method, self)  # instance attribute: only this object, only in this process

    def __call__(self, *args: Any) -> Any:
        t0 = time.perf_counter()
        out = self._invoke(*args)
        self.ms += (time.perf_counter() - t0) * 1000
        return out


def _detector_clock(detector: Any) -> _InvokeClock:
    if hasattr(detector, "_interp"):  # BlazeFace: a LiteRT interpreter
        return _InvokeClock(detector._interp)
    return _InvokeClock(detector, "_run")  # YuNet: OpenCV's FaceDetectorYN behind one method


def _total_ms(clocks: list[_InvokeClock]) -> float:
    return sum(c.ms for c in clocks)


def non_model_ms(analyzer: Any, frames: list[np.ndarray], rounds: int = 20) -> dict[str, float]:
    """Per frame, the analyser's time outside the two invokes, split by stage: on the detector's
    side (letterbox, anchors, NMS) and on the classifier's (crops, resize, softmax).
    Each frame's fastest of `rounds` passes (as for the invokes: the quiet machine), averaged."""
    det_clocks = [_detector_clock(analyzer.detector)]
    # a proposing BlazeFace's invokes are model time too (estimated with its own model)
    proposer = getattr(analyzer.detector, "proposer", None)
    if proposer is not None:
        det_clocks.append(_detector_clock(proposer))
    clf_clocks = [_InvokeClock(analyzer.classifier.interpreter)]
    # the nose check's invokes are model time on the classifier's side (estimated with its model)
    if getattr(analyzer, "nose", None):
        clf_clocks.append(_InvokeClock(analyzer.nose.model.interpreter))
    det_side = [float("inf")] * len(frames)
    clf_side = [float("inf")] * len(frames)
    for f in frames:  # warm-up: first-call allocations
        analyzer.classify(f, analyzer.detect(f))
    for _ in range(rounds):
        for i, f in enumerate(frames):
            d0, c0 = _total_ms(det_clocks), _total_ms(clf_clocks)
            t0 = time.perf_counter()
            dets = analyzer.detect(f)
            t1 = time.perf_counter()
            analyzer.classify(f, dets)
            t2 = time.perf_counter()
            d1, c1 = _total_ms(det_clocks), _total_ms(clf_clocks)
            det_side[i] = min(det_side[i], (t1 - t0) * 1000 - (d1 - d0))
            clf_side[i] = min(clf_side[i], (t2 - t1) * 1000 - (c1 - c0))
    return {"detector_side": float(np.mean(det_side)), "classifier_side": float(np.mean(clf_side))}


def measure_here(reference_dir: str | Path, detector: str | Path, classifier: str | Path,
                 analyzer: Any, frames: list[np.ndarray], faces: int, nose: str | Path | None = None) -> dict[str, Any]:
    """Everything the estimate needs from this machine, at 1 thread. With a nose model, the classifier
    stage is both models, the nose check run on every face (the worst case: all of them `mask`)."""
    ref = Path(reference_dir)
    models = {k: _loaded(ref / f) for k, f in REFERENCE_FILES.items()}
    yunet = Path(detector).suffix.lower() == ".onnx"
    if not yunet:
        models["detector"] = _loaded(detector)
    models["classifier"] = _loaded(classifier)
    if nose:
        models["nose"] = _loaded(nose)
    proposer = getattr(analyzer.detector, "proposer", None) if yunet else None
    if proposer is not None:
        models["proposer"] = _loaded(proposer.model_path)
    ms = fastest_invokes_ms(models)
    crops: dict[str, Any] = {}
    if yunet:
        fh, fw = frames[0].shape[:2]
        ms["detector"] = fastest_yunet_ms(analyzer.detector, fw, fh)
        look = getattr(analyzer.detector, "second_look", None)
        if look is not None:
            n0 = look.crops
            for f in frames:
                analyzer.detect(f)
            most = (look.max_crops if look.low else 0) + (analyzer.detector.propose_max if proposer else 0)
            crops = {"detector_crop_px": most * look.side_px ** 2,
                     "detector_crops_per_frame": round((look.crops - n0) / len(frames), 3)}
        if proposer is not None:  # a BlazeFace model (LiteRT, float32) run on every frame
            crops["proposer_ms"] = round(ms["proposer"], 3)
    return {
        "reference_ms": {k: round(ms[k], 3) for k in REFERENCE_FILES},
        "detector_ms": round(ms["detector"], 3),
        **({"detector_input": list(analyzer.detector.input_size(fw, fh))} if yunet else {}),
        **crops,
        "classifier_ms": round((ms["classifier"] + ms.get("nose", 0.0)) * faces, 3),
        "nose_ms": round(ms.get("nose", 0.0) * faces, 3),
        "non_model_ms": {k: round(v, 3) for k, v in non_model_ms(analyzer, frames).items()},
    }


def daemon_rates(analyzer: Any, cfg: Any, frames: list[np.ndarray], hold: int, fps: float) -> dict[str, float]:
    """How much work a frame really gets as the daemon runs (kiosk/vision/attention.py: people followed in
    windows, decided people not classified again), on `frames` each held `hold` frames as a new group
    of people: YuNet pixels per frame and faces classified per frame. The analyser is left as found."""
    from ..vision.attention import attention_for
    from ..vision.tracking import PersonDecider

    det = analyzer.detector
    att = attention_for(cfg)
    old = analyzer.attention
    analyzer.attention = att
    px0, runs0, n = getattr(det, "pixels", 0), analyzer.classified, 0
    try:
        for frame in frames:
            decider = PersonDecider.of(cfg)  # a new group walks in
            size = (frame.shape[1], frame.shape[0])
            if att is not None:
                att.frame_size = size
                att.forget()
            for _ in range(hold):
                faces, _ = analyzer.analyse(frame)
                now = n / fps
                n += 1
                decider.update(now, faces, size)
                if att is not None:
                    att.observe(decider, now)
    finally:
        analyzer.attention = old
    return {"detector_px_per_frame": round((getattr(det, "pixels", 0) - px0) / max(n, 1)),
            "faces_classified_per_frame": round((analyzer.classified - runs0) / max(n, 1), 3)}


def fastest_yunet_ms(detector: Any, width: int, height: int, runs: int = 40) -> float:
    """Fastest of `runs` YuNet model calls at the input a width x height frame gets (for the report and
    the bench; the estimate uses the published Pi times)."""
    w, h = detector.input_size(width, height)
    image = np.zeros((h, w, 3), np.uint8)
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        detector._run(image)
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def estimate(here: dict[str, Any], detector_compute: str, classifier_compute: str, faces: int,
             fps_target: float = 15.0) -> dict[str, Any]:
    """Pi 4 frame time, fast and slow bound, for: one thread per model, 4 threads one model after the
    other, and 4 threads with overlap (kiosk/vision/overlap.py). Pure arithmetic on `measure_here`'s dict."""
    ref, nm = here["reference_ms"], here["non_model_ms"]
    t2, t1 = PI4_THREADS_MS[2] / PI4_THREADS_MS[4], PI4_THREADS_MS[1] / PI4_THREADS_MS[4]
    # One Pi core against one core here, at one thread; non-model work lies between the two precisions.
    per_core = {k: PI4_REFERENCE_MS[k] * t1 / ref[k] for k in PI4_REFERENCE_MS}
    slowdown = (min(per_core.values()), max(per_core.values()))
    if detector_compute == YUNET_COMPUTE:
        w, h = here["detector_input"]
        px = w * h + here.get("detector_crop_px", 0)  # the second look's crops, all of them every frame
        det4, det4_slow = (ms * px / (320 * 240) for ms in PI4_YUNET_MS_320X240)
        # a proposing BlazeFace (detector.propose_model) is a LiteRT float model: scaled as one
        prop4 = here.get("proposer_ms", 0.0) * PI4_REFERENCE_MS["float32"] / ref["float32"]
        det4, det4_slow = det4 + prop4, det4_slow + prop4 * PI4_SLOW_FACTOR
    else:
        det4 = here["detector_ms"] * PI4_REFERENCE_MS[detector_compute] / ref[detector_compute]
        det4_slow = det4 * PI4_SLOW_FACTOR
    clf4 = here["classifier_ms"] * PI4_REFERENCE_MS[classifier_compute] / ref[classifier_compute]
    # the slow bound: XNNPACK's slower Pi for our LiteRT models, the slower published time for YuNet
    det_k = det4_slow / det4
    out: dict[str, Any] = {
        "faces": faces, "fps_target": fps_target, "sources": SOURCES,
        "here_1_thread": here,
        "pi4_model_ms_4_threads": {"detector": [round(det4, 1), round(det4_slow, 1)],
                                   f"classifier_x{faces}": [round(clf4, 1), round(clf4 * PI4_SLOW_FACTOR, 1)]},
        "pi4_slowdown_per_core": {k: round(v, 2) for k, v in per_core.items()},
        "assumptions": {"slow_factor": round(PI4_SLOW_FACTOR, 3), "threads_time_vs_4": {
            "1": round(t1, 3), "2": round(t2, 3)}, "non_model_slowdown": [round(s, 2) for s in slowdown]},
    }
    # k: 1 for the fast bound, PI4_SLOW_FACTOR for the slow one (the detector's own det_k then)
    dk = lambda k: 1.0 if k == 1.0 else det_k  # noqa: E731
    configs = {
        "threads_1": lambda k, s: (det4 * dk(k) + clf4 * k) * t1 + (nm["detector_side"] + nm["classifier_side"]) * s,
        "threads_4": lambda k, s: (det4 * dk(k) + clf4 * k) + (nm["detector_side"] + nm["classifier_side"]) * s,
        # Two stages side by side on 4 cores: each as if it had 2 of them.
        "threads_4_overlap": lambda k, s: max(det4 * t2 * dk(k) + nm["detector_side"] * s,
                                              clf4 * t2 * k + nm["classifier_side"] * s),
    }
    rates = here.get("daemon")
    if rates and detector_compute == YUNET_COMPUTE:
        # as the daemon runs (kiosk/vision/attention.py): the YuNet pixels and classifier runs a frame really got
        px_scale = rates["detector_px_per_frame"] / max(1, here["detector_input"][0] * here["detector_input"][1]
                                                         + here.get("detector_crop_px", 0))
        clf_scale = rates["faces_classified_per_frame"] / max(faces, 1)
        configs["threads_4_overlap_daemon"] = lambda k, s: max(
            det4 * px_scale * t2 * dk(k) + nm["detector_side"] * s, clf4 * clf_scale * t2 * k + nm["classifier_side"] * s)
    for name, frame_ms in configs.items():
        fast, slow = frame_ms(1.0, slowdown[0]), frame_ms(PI4_SLOW_FACTOR, slowdown[1])
        # The published Pi speed, non-model work at the geometric middle of its range.
        central = frame_ms(1.0, (slowdown[0] * slowdown[1]) ** 0.5)
        fps = (1000 / fast, 1000 / slow)
        out[name] = {"ms_per_frame": [round(fast, 1), round(slow, 1)], "fps": [round(f, 1) for f in fps],
                     "central_fps": round(1000 / central, 1),
                     "keeps_up": ("yes" if fps[1] >= fps_target else "no" if fps[0] < fps_target
                                  else "at the fast bound, not at the slow one")}
    return out

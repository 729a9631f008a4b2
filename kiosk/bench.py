"""`python -m kiosk bench`: throughput, per-stage latency, memory and start-up of the real pipeline.

The pipeline runs in a worker subprocess (`python -m kiosk.bench worker`), so its peak RSS and
start-up are those of a process that holds only the kiosk's pieces, not this harness (scikit-image,
the frame builder). The peer (`face-mask-detector==0.2.3`, tools/peer_worker.py) runs in its own
venv behind the same line-based JSON protocol, fed the very same JPEG files, and the two alternate
scenario by scenario so that background load (a training job on the build machine) hits both alike.

Frames: fixed 640x480 scenes with 0, 1, 3 and 8 faces, made from the demo clip (its empty
entrance and its four person shots) and scikit-image's astronaut photo, JPEG-encoded once so that
decoding is a measured stage, as it is for an MJPEG USB camera.

Per frame the worker times: decode (cv2.imdecode), detect, preprocess (crop + resize + quantise),
classify (all faces), decide (Decider.update) and publish (build_event + json.dumps, only on
frames that produced a decision: MQTT itself is network, not pipeline).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable

# Taken before the heavy imports so that a worker can report its own import time.
_T_MODULE = time.monotonic()

STAGES = ("decode", "detect", "preprocess", "classify", "decide", "publish")
# close1: one person right at the kiosk, face ~360 px wide (75% of the frame height), where res10
# (the peer) returns boxes reaching outside the frame.
SCENARIOS: tuple[tuple[str, int], ...] = (("faces0", 0), ("faces1", 1), ("faces3", 3), ("faces8", 8),
                                          ("close1", 1))
FRAME_W, FRAME_H = 640, 480
JPEG_QUALITY = 90
PROTOCOL = "maskgate.bench/1"
FRAMES_SCHEMA = "maskgate.bench-frames/1"
REPORT_SCHEMA = "maskgate.bench-report/1"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEMO_CLIP = Path(__file__).resolve().parent / "demo" / "demo.mp4"
PEER_WORKER = PROJECT_ROOT / "tools" / "peer_worker.py"
DEFAULT_PEER_PYTHON = PROJECT_ROOT / ".venv-peer" / "bin" / "python"
# Targets from issue 5: ours/peer ratios.
TARGETS = {"throughput_min": 10.0, "peak_rss_max": 0.2, "startup_max": 0.2}

# Demo clip frames (kiosk/demo/storyboard.tsv): empty entrance shots and one frame of each
# person shot: A unmasked, A masked, B masked, B mask below the nose.
_EMPTY_FRAMES = (0, 50, 95, 140)
_PERSON_FRAMES = (20, 70, 110, 160)
# Source indices into the face list built by _face_sources: 0-3 the person frames above, 4 the
# astronaut photo itself. Layouts were checked to give exactly the scenario's face count with
# both BlazeFace models at their usual thresholds (short range at 0.5: lowest face score ~0.6;
# full range at 0.3: lowest ~0.47), so the smoke test holds whichever the config picks.
_LAYOUT_3 = ((0, 1, 3), (1, 3, 0), (3, 4, 1), (4, 0, 3))
_LAYOUT_8 = ((3, 1, 0, 3, 0, 3, 3, 4), (0, 0, 4, 0, 3, 1, 3, 0), (0, 3, 2, 1, 4, 0, 2, 0),
             (0, 3, 0, 2, 4, 4, 4, 3))
# Each frame is repeated this many times in a row, as a person stays in view for several camera
# frames; k=3 of n=5 agreeing frames are needed before the Decider decides (and publishes).
HOLD_FRAMES = 5
_FACE_W_3, _FACE_W_8, _FACE_W_CLOSE = 140, 110, 360  # face box widths in the composed frames, px


# ---------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------
def _read_clip_frames(indices: set[int]) -> dict[int, Any]:
    import cv2

    cap = cv2.VideoCapture(str(DEMO_CLIP))
    if not cap.isOpened():
        raise RuntimeError(f"cannot open {DEMO_CLIP}")
    out, i = {}, 0
    try:
        while len(out) < len(indices):
            ok, frame = cap.read()
            if not ok:
                break
            if i in indices:
                out[i] = frame
            i += 1
    finally:
        cap.release()
    missing = sorted(indices - set(out))
    if missing:
        raise RuntimeError(f"{DEMO_CLIP}: frames {missing} not found")
    return out


def _face_sources(clip: dict[int, Any]) -> tuple[list[tuple[Any, tuple[int, int, int, int]]], str]:
    """(image, face box) pairs: the four demo person frames, then the astronaut photo.

    The boxes are fixed numbers (measured once with BlazeFace) rather than detected here, so the
    frames do not depend on the detector being benchmarked.
    """
    import cv2

    boxes = {20: (235, 125, 180, 181), 70: (234, 122, 177, 176), 110: (218, 127, 216, 215),
             160: (210, 109, 218, 218)}
    faces = [(clip[i], boxes[i]) for i in _PERSON_FRAMES]
    try:
        from skimage import data

        faces.append((cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (178, 81, 94, 94)))
        origin = "demo clip + skimage.data.astronaut"
    except ImportError:  # scikit-image is a dev requirement; a Pi may lack it
        faces.append((cv2.flip(clip[20], 1), (640 - 235 - 180, 125, 180, 181)))
        origin = "demo clip only (scikit-image missing: astronaut replaced by a mirrored demo frame)"
    return faces, origin


def _person_tile(image: Any, box: tuple[int, int, int, int], cw: int, ch: int, face_w: int) -> Any:
    """A cw x ch cut of `image` around the face, scaled so the face box is face_w px wide."""
    import cv2
    import numpy as np

    x, y, w, h = box
    s = face_w / w
    cx, cy = x + w / 2.0, y + h / 2.0
    # Face slightly above the tile centre, as in a head-and-shoulders shot.
    x0, y0 = cx - cw / s / 2.0, cy - ch / s * 0.45
    m = np.float32([[s, 0, -x0 * s], [0, s, -y0 * s]])
    return cv2.warpAffine(image, m, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _compose(background: Any, faces: list, order: tuple[int, ...], cols: int, rows: int, face_w: int) -> Any:
    frame = background.copy()
    cw, ch = FRAME_W // cols, FRAME_H // rows
    for k, src in enumerate(order):
        r, c = divmod(k, cols)
        image, box = faces[src]
        frame[r * ch : (r + 1) * ch, c * cw : (c + 1) * cw] = _person_tile(image, box, cw, ch, face_w)
    return frame


def build_frames(folder: Path) -> dict[str, Any]:
    """Write the benchmark's JPEG frames and frames.json into `folder`; return the manifest."""
    import hashlib

    import cv2

    clip = _read_clip_frames(set(_EMPTY_FRAMES) | set(_PERSON_FRAMES))
    faces, origin = _face_sources(clip)
    scenes: list[tuple[str, int, Any, str]] = []
    for i in _EMPTY_FRAMES:
        scenes.append(("faces0", 0, clip[i], f"demo frame {i} (empty entrance)"))
    for i in _PERSON_FRAMES:
        scenes.append(("faces1", 1, clip[i], f"demo frame {i}"))
    for order in _LAYOUT_3:
        scenes.append(("faces3", 3, _compose(clip[0], faces, order, 3, 1, _FACE_W_3), f"3x1 sources {order}"))
    for order in _LAYOUT_8:
        scenes.append(("faces8", 8, _compose(clip[0], faces, order, 4, 2, _FACE_W_8), f"4x2 sources {order}"))
    for k in range(len(_PERSON_FRAMES)):
        scenes.append(("close1", 1, _compose(clip[0], faces, (k,), 1, 1, _FACE_W_CLOSE),
                       f"close-up of demo frame {_PERSON_FRAMES[k]}"))
    folder.mkdir(parents=True, exist_ok=True)
    records, digest = [], hashlib.sha256()
    counters: dict[str, int] = {}
    for scenario, n, image, what in scenes:
        assert image.shape == (FRAME_H, FRAME_W, 3), image.shape
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        k = counters.get(scenario, 0)
        counters[scenario] = k + 1
        name = f"{scenario}-{k}.jpg"
        data = buf.tobytes()
        (folder / name).write_bytes(data)
        digest.update(data)
        records.append({"file": name, "scenario": scenario, "faces": n, "bytes": len(data), "what": what})
    manifest = {"schema": FRAMES_SCHEMA, "width": FRAME_W, "height": FRAME_H, "jpeg_quality": JPEG_QUALITY,
                "origin": origin, "sha256": digest.hexdigest(), "frames": records}
    (folder / "frames.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def load_frames(folder: Path) -> tuple[dict[str, Any], dict[str, list[tuple[str, bytes]]]]:
    """Manifest and {scenario: [(file, jpeg bytes)]}, read once so that file I/O is never timed."""
    manifest = json.loads((folder / "frames.json").read_text(encoding="utf-8"))
    by_scenario: dict[str, list[tuple[str, bytes]]] = {}
    for rec in manifest["frames"]:
        by_scenario.setdefault(rec["scenario"], []).append((rec["file"], (folder / rec["file"]).read_bytes()))
    return manifest, by_scenario


# ---------------------------------------------------------------------------------------------
# Process measurements (no psutil: /proc and getrusage)
# ---------------------------------------------------------------------------------------------
def proc_status_kb(field: str) -> int:
    """A kB field of /proc/self/status (VmRSS, VmHWM); 0 where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_kb() -> int:
    """Peak resident set of this process: VmHWM, or ru_maxrss (kB on Linux) without /proc."""
    import resource

    return proc_status_kb("VmHWM") or int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), without needing numpy in the parent."""
    if not values:
        return float("nan")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


# ---------------------------------------------------------------------------------------------
# Worker: our pipeline
# ---------------------------------------------------------------------------------------------
class _Protocol:
    """JSON lines to the parent on a private copy of stdout; fd 1 itself goes to stderr so that a
    library printing to stdout cannot corrupt the protocol."""

    def __init__(self) -> None:
        sys.stdout.flush()
        self._out: IO[str] = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)

    def send(self, obj: dict[str, Any]) -> None:
        self._out.write(json.dumps(obj) + "\n")
        self._out.flush()


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

        from .config import Config, load
        from .decision import Decider, Policy
        from .events import build_event
        from .overlap import OverlappedAnalyzer
        from .pipeline import build_analyzer

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
        d = cfg.decision
        self._policy = Policy(d.mask_threshold, d.k, d.n, d.cooldown_seconds, d.absent_frames)
        self._decider_cls = Decider
        self.decider = Decider(self._policy)
        self._build_event = build_event
        self._imdecode, self._flag = cv2.imdecode, cv2.IMREAD_COLOR
        self._np = __import__("numpy")
        # The decider sees camera time, not bench time: frames arrive at the configured rate.
        self._dt = 1.0 / cfg.camera.fps
        self._n = 0

    def info(self) -> dict[str, Any]:
        from .runtime import interpreter_class

        import cv2
        import numpy as np

        runtime = interpreter_class()[1]
        try:
            from importlib.metadata import version

            runtime_version = version("ai-edge-litert" if runtime == "ai_edge_litert" else "tflite-runtime")
        except Exception:  # noqa: BLE001 - informational only
            runtime_version = "?"
        c = self.analyzer.classifier
        invoke_ms = {"detector": _invoke_ms(self.analyzer.detector._interp),
                     "classifier": _invoke_ms(c.interpreter)}
        return {"name": "maskgate", "invoke_ms": invoke_ms, "runtime": f"{runtime} {runtime_version}", "opencv": cv2.__version__,
                "numpy": np.__version__, "threads": {"detector": self.analyzer.detector.threads,
                                                      "classifier": self.analyzer.classifier.threads},
                "overlap": self.overlap is not None,
                "classifier": {"name": c.meta.name, "sha256": c.sha256, "input": [c.meta.width, c.meta.height],
                               "labels": list(c.labels)},
                "detector": {"model": Path(self.cfg.detector.model).name,
                             "score_threshold": self.cfg.detector.score_threshold},
                "min_face_px": self.cfg.detector.min_face_px, "max_faces": self.cfg.detector.max_faces}

    def reset(self) -> None:
        if self.overlap is not None:
            self.overlap.flush()
        self.decider = self._decider_cls(self._policy)
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
        now = self._n * self._dt
        self._n += 1
        if self.overlap is None:
            faces, _ = self.analyzer.analyse(frame, timing=times.__setitem__)
        else:
            done = self.overlap.push(frame, now, timing=times.__setitem__)
            if done is None:  # the first frame: nothing to decide on yet
                times.update(decode=(t1 - t0) * 1000, total=(perf() - t0) * 1000)
                return 0, None
            faces, now = done.verdicts, done.stamp
        t2 = perf()
        decision = self.decider.update(now, faces)
        t3 = perf()
        if decision is not None:
            event = self._build_event(decision, self.cfg.kiosk.id, self.model_info, (t3 - t0) * 1000)
            json.dumps(event).encode("utf-8")
        t4 = perf()
        times["decode"] = (t1 - t0) * 1000
        times["decide"] = (t3 - t2) * 1000
        times["publish"] = (t4 - t3) * 1000
        times["total"] = (t4 - t0) * 1000
        return len(faces), (decision.decision if decision is not None else None)


ProcessFn = Callable[[bytes, dict[str, float]], tuple[int, "str | None"]]


def measure(process: ProcessFn, reset: Callable[[], None], frames: list[tuple[str, bytes]], seconds: float,
            hold: int = HOLD_FRAMES, settle: Callable[[], "int | None"] | None = None) -> dict[str, Any]:
    """Cycle through `frames` (each `hold` times in a row) for at least `seconds` and one cycle.

    `process(jpeg, times) -> (faces, decision)` may raise: the frame then counts as a failure
    (the peer's crash on boxes outside the frame), and timing goes on with the next frame.
    `settle() -> faces or None`, where given, finishes the frame still in flight (overlapped pipeline),
    so the faces found are counted per frame in the untimed pass.
    """
    # One untimed pass: first-call allocations and caches are start-up, not steady state.
    found: dict[str, int | None] = {}
    for name, data in frames:
        try:
            found[name] = process(data, {})[0]
            settled = settle() if settle is not None else None
            if settled is not None:
                found[name] = settled
        except Exception:  # noqa: BLE001 - counted and reported by the timed loop below
            found[name] = None
    reset()
    stages: dict[str, list[float]] = {s: [] for s in (*STAGES, "total")}
    publish_events: list[float] = []
    failed_ms: list[float] = []
    failures, decisions, n = 0, 0, 0
    errors: dict[str, int] = {}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    deadline = wall0 + seconds
    while n < len(frames) * hold or time.perf_counter() < deadline:
        name, data = frames[(n // hold) % len(frames)]
        times: dict[str, float] = {}
        t0 = time.perf_counter()
        try:
            _, decision = process(data, times)
        except Exception as exc:  # noqa: BLE001
            failures += 1
            key = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:160]}"
            errors[key] = errors.get(key, 0) + 1
            # A failed frame gives no verdict: its partial stage times would drag the stage
            # percentiles down, so only the time until the crash is kept, apart.
            failed_ms.append(round((time.perf_counter() - t0) * 1000, 4))
            n += 1
            continue
        n += 1
        for s in stages:
            stages[s].append(round(times.get(s, 0.0), 4))
        if decision is not None:
            decisions += 1
            publish_events.append(round(times.get("publish", 0.0), 4))
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    return {"frames": n, "wall_s": wall, "cpu_s": cpu, "stages_ms": stages, "publish_event_ms": publish_events,
            "decisions": decisions, "failures": failures, "failed_ms": failed_ms, "errors": errors,
            "faces_found": found,
            "rss_kb": proc_status_kb("VmRSS"), "peak_rss_kb": peak_rss_kb()}


def serve(pipeline_factory: Callable[[], tuple[float, Any]], first_frame: bytes, startup_only: bool,
          t_main: float) -> int:
    """The worker protocol, shared in shape with tools/peer_worker.py:

    -> {"event": "ready", t_main, t_imported, t_loaded, t_first (time.monotonic), info, rss}
    <- {"cmd": "run", "scenario": S, "seconds": X}  -> {"event": "result", ...measure()}
    <- {"cmd": "quit"}                               -> {"event": "bye", "peak_rss_kb"}
    """
    proto = _Protocol()
    t_imported, pipeline = pipeline_factory()
    t_loaded = time.monotonic()
    faces, _ = pipeline.process(first_frame, {})
    settled = pipeline.settle() if hasattr(pipeline, "settle") else None
    if settled is not None:  # with overlap, the first frame's verdict needs this
        faces = settled
    t_first = time.monotonic()
    proto.send({"event": "ready", "protocol": PROTOCOL, "t_main": t_main, "t_imported": t_imported,
                "t_loaded": t_loaded, "t_first": t_first, "first_faces": faces,
                "rss_kb": proc_status_kb("VmRSS"), "peak_rss_kb": peak_rss_kb(), "info": pipeline.info()})
    if startup_only:
        return 0
    return _command_loop(proto, pipeline)


def _command_loop(proto: _Protocol, pipeline: Any) -> int:
    frames: dict[str, list[tuple[str, bytes]]] = pipeline.frames
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        if cmd.get("cmd") == "quit":
            proto.send({"event": "bye", "peak_rss_kb": peak_rss_kb()})
            return 0
        if cmd.get("cmd") == "run":
            pipeline.reset()
            result = measure(pipeline.process, pipeline.reset, frames[cmd["scenario"]], float(cmd["seconds"]),
                             settle=getattr(pipeline, "settle", None))
            result.update(event="result", scenario=cmd["scenario"])
            proto.send(result)
        elif cmd.get("cmd") == "profile":
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
            measure(pipeline.process, pipeline.reset, frames[cmd["scenario"]], float(cmd["seconds"]),
                    settle=getattr(pipeline, "settle", None))
            prof.disable()
            prof.dump_stats(cmd["path"])
            proto.send({"event": "profiled", "path": cmd["path"]})
        else:
            proto.send({"event": "error", "error": f"unknown command {cmd!r}"})
    return 0


def worker_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m kiosk.bench worker")
    p.add_argument("--frames", required=True)
    p.add_argument("--config")
    p.add_argument("--model")
    p.add_argument("--threads", type=int)
    p.add_argument("--overlap", choices=("on", "off"))
    p.add_argument("--startup-only", action="store_true")
    a = p.parse_args(argv)
    t_main = _T_MODULE
    frames_dir = Path(a.frames)
    first = (frames_dir / "faces1-0.jpg").read_bytes()

    def factory():
        # The imports a daemon start pays, timed apart from model loading.
        import cv2  # noqa: F401

        from . import pipeline  # noqa: F401

        t_imported = time.monotonic()
        pl = OurPipeline(a.config, a.model, a.threads, None if a.overlap is None else a.overlap == "on")
        if not a.startup_only:
            pl.frames = load_frames(frames_dir)[1]
        return t_imported, pl

    return serve(factory, first, a.startup_only, t_main)


# ---------------------------------------------------------------------------------------------
# Model cost and the Raspberry Pi 4 estimate
# ---------------------------------------------------------------------------------------------
def model_macs(path: str | Path) -> dict[str, Any]:
    """Multiply-accumulates of one inference, counted from the .tflite graph (conv, depthwise
    conv, fully connected; element-wise ops are not MACs), and the graph's compute type."""
    from .runtime import interpreter_class

    cls, _ = interpreter_class()
    kwargs: dict[str, Any] = {}
    try:  # without XNNPACK the op list is the model's own graph, not one fused DELEGATE node
        from ai_edge_litert.interpreter import OpResolverType  # type: ignore

        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    except ImportError:
        pass
    it = cls(model_path=str(path), **kwargs)
    it.allocate_tensors()
    shape = {t["index"]: tuple(int(v) for v in t["shape"]) for t in it.get_tensor_details()}
    dtype = {t["index"]: t["dtype"] for t in it.get_tensor_details()}
    import numpy as np

    total, int8 = 0, True
    for op in it._get_ops_details():
        name, ins, outs = op["op_name"], list(op["inputs"]), list(op["outputs"])
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        o, w = shape[outs[0]], shape[ins[1]]
        if name == "CONV_2D":  # out HxWxCo, filter Co x kh x kw x Ci
            macs = o[1] * o[2] * o[3] * w[1] * w[2] * w[3]
        elif name == "DEPTHWISE_CONV_2D":  # filter 1 x kh x kw x Co
            macs = o[1] * o[2] * o[3] * w[1] * w[2]
        else:  # weights out x in
            macs = (o[0] if len(o) > 1 else 1) * w[0] * w[1]
        total += macs
        int8 = int8 and dtype[ins[0]] in (np.int8, np.uint8)
    return {"macs": int(total), "compute": "int8" if int8 else "float32"}


def _pi4_estimate(reference: str | None, config: str | None, model: str | None, frames: list[tuple[str, bytes]],
                  macs: dict[str, dict[str, Any]], faces: int = 3) -> dict[str, Any]:
    """kiosk/pi_estimate.py's estimate for `faces` faces, timed in this (parent) process at 1 thread
    once the workers are done, so nothing else of ours runs meanwhile."""
    if not reference:
        return {"note": "no estimate: pass --pi-reference with the folder tools/reference_models.py writes"}
    import cv2
    import numpy as np

    from . import pi_estimate
    from .config import Config, load
    from .pipeline import build_analyzer

    cfg = load(config) if config else Config()
    if model:
        cfg.classifier.model = str(Path(model).resolve())
    cfg.detector.threads = cfg.classifier.threads = 1
    analyzer = build_analyzer(cfg)
    decoded = [cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) for _, data in frames]
    nose = cfg.resolve(cfg.classifier.nose_model) if cfg.classifier.nose_model else None
    here = pi_estimate.measure_here(reference, cfg.resolve(cfg.detector.model), cfg.resolve(cfg.classifier.model),
                                    analyzer, decoded, faces, nose)
    return pi_estimate.estimate(here, macs["detector"]["compute"], macs["classifier"]["compute"], faces)


# ---------------------------------------------------------------------------------------------
# Parent: orchestrates workers, aggregates, reports
# ---------------------------------------------------------------------------------------------
class WorkerError(RuntimeError):
    pass


class Worker:
    """A worker subprocess speaking the bench protocol; stderr goes to a log file."""

    def __init__(self, label: str, cmd: list[str], log: Path, env: dict[str, str] | None = None,
                 timeout: float = 600.0) -> None:
        self.label = label
        self.log_path = log
        self._log = open(log, "ab")
        self.t_spawn = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     env=env, cwd=str(PROJECT_ROOT), text=True, bufsize=1)
        self.ready = self._read(timeout)
        if self.ready.get("event") != "ready":
            raise WorkerError(f"{label}: unexpected first message {self.ready}")

    def _read(self, timeout: float) -> dict[str, Any]:
        import select

        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.proc.kill()
            self.proc.wait()
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise WorkerError(f"{self.label} worker ended or timed out (exit {self.proc.returncode}); "
                              f"log {self.log_path}: " + " | ".join(tail))
        return json.loads(line)

    def request(self, cmd: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read(timeout)

    def startup(self) -> dict[str, float]:
        r = self.ready
        return {"total_s": r["t_first"] - self.t_spawn, "interpreter_s": r["t_main"] - self.t_spawn,
                "imports_s": r["t_imported"] - r["t_main"], "model_load_s": r["t_loaded"] - r["t_imported"],
                "first_frame_s": r["t_first"] - r["t_loaded"]}

    def close(self) -> int:
        bye: dict[str, Any] = {}
        if self.proc.poll() is None:
            try:
                bye = self.request({"cmd": "quit"}, 60.0)
            except (WorkerError, OSError, ValueError):
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        return int(bye.get("peak_rss_kb", 0))


class Side:
    """One contender: how to start its worker and what it measured."""

    def __init__(self, key: str, label: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.key, self.label, self.cmd, self.env = key, label, cmd, env
        self.startups: list[dict[str, float]] = []
        self.startup_rss_kb: list[int] = []
        self.results: dict[str, list[dict[str, Any]]] = {}
        self.info: dict[str, Any] = {}
        self.peak_rss_kb = 0


def _summarise_scenario(parts: list[dict[str, Any]], expected: int) -> dict[str, Any]:
    frames = sum(p["frames"] for p in parts)
    wall = sum(p["wall_s"] for p in parts)
    cpu = sum(p["cpu_s"] for p in parts)
    stages: dict[str, dict[str, float]] = {}
    for s in (*STAGES, "total"):
        vals = [v for p in parts for v in p["stages_ms"][s]]
        if s == "publish":
            vals = [v for p in parts for v in p["publish_event_ms"]]
        stages[s] = {"p50": round(percentile(vals, 50), 4), "p95": round(percentile(vals, 95), 4),
                     "mean": round(sum(vals) / len(vals), 4) if vals else float("nan"), "n": len(vals)}
    found = parts[0]["faces_found"]
    errors: dict[str, int] = {}
    for p in parts:
        for k, v in p["errors"].items():
            errors[k] = errors.get(k, 0) + v
    failures = sum(p["failures"] for p in parts)
    return {"expected_faces": expected, "faces_found": found,
            "faces_match": all(v == expected for v in found.values()),
            "frames": frames, "seconds": round(wall, 3), "fps": round(frames / wall, 2) if wall else 0.0,
            # Frames that ended in a verdict, per second: what the throughput ratio compares.
            "verdict_fps": round((frames - sum(p["failures"] for p in parts)) / wall, 2) if wall else 0.0,
            "cpu_ms_per_frame": round(cpu / frames * 1000, 3) if frames else float("nan"),
            "cpu_utilisation": round(cpu / wall, 3) if wall else float("nan"),
            "latency_ms": stages, "decisions": sum(p["decisions"] for p in parts),
            "failures": failures, "failure_rate": round(failures / frames, 4) if frames else 0.0,
            "errors": errors, "peak_rss_kb": max(p["peak_rss_kb"] for p in parts)}


def _growth(scen: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Least-squares line: mean ms per frame = base + per_face * faces (faces actually handled)."""
    pts = []
    for name, n in SCENARIOS:
        s = scen.get(name)
        if not name.startswith("faces"):
            continue  # the close-up costs more per face (bigger crop): not a point on this line
        if s and s["frames"] and s["fps"]:
            found = [v for v in s["faces_found"].values() if v is not None]
            faces = sum(found) / len(found) if found else n
            pts.append((faces, 1000.0 / s["fps"]))
    if len(pts) < 2:
        return {}
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else 0.0
    return {"ms_per_frame_base": round(my - slope * mx, 3), "ms_per_face": round(slope, 3),
            "points": [{"faces": round(x, 2), "ms_per_frame": round(y, 3)} for x, y in pts]}


def _side_report(side: Side, manifest: dict[str, Any]) -> dict[str, Any]:
    expected = {name: n for name, n in SCENARIOS}
    scen = {name: _summarise_scenario(parts, expected[name]) for name, parts in side.results.items()}
    st = side.startups
    startup = {}
    if st:
        med = sorted(st, key=lambda d: d["total_s"])[len(st) // 2]
        startup = {"median": {k: round(v, 4) for k, v in med.items()},
                   "runs_s": [round(d["total_s"], 4) for d in st],
                   "rss_after_first_frame_kb": sorted(side.startup_rss_kb)[len(side.startup_rss_kb) // 2]}
    return {"label": side.label, "info": side.info, "startup": startup,
            "peak_rss_kb": max([side.peak_rss_kb] + [s["peak_rss_kb"] for s in scen.values()]),
            "scenarios": scen, "growth": _growth(scen)}


def _ratios(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """ours / peer, per scenario and overall, with the targets of issue 5."""
    out: dict[str, Any] = {"scenarios": {}}
    tput = []
    for name, _ in SCENARIOS:
        o, p = ours["scenarios"].get(name), peer["scenarios"].get(name)
        if not o or not p or not p["verdict_fps"]:
            continue
        r = {"throughput": round(o["verdict_fps"] / p["verdict_fps"], 2),
             "latency_p50": round(o["latency_ms"]["total"]["p50"] / p["latency_ms"]["total"]["p50"], 4),
             "latency_p95": round(o["latency_ms"]["total"]["p95"] / p["latency_ms"]["total"]["p95"], 4),
             "cpu_per_frame": round(o["cpu_ms_per_frame"] / p["cpu_ms_per_frame"], 4)}
        out["scenarios"][name] = r
        tput.append(r["throughput"])
    rss = ours["peak_rss_kb"] / peer["peak_rss_kb"] if peer["peak_rss_kb"] else float("nan")
    su_o = ours["startup"].get("median", {}).get("total_s")
    su_p = peer["startup"].get("median", {}).get("total_s")
    startup = su_o / su_p if su_o and su_p else float("nan")
    out["throughput_min"] = min(tput) if tput else float("nan")
    out["peak_rss"] = round(rss, 4)
    out["startup"] = round(startup, 4)
    out["targets"] = {
        "throughput >= 10x peer (every scenario)": bool(tput) and min(tput) >= TARGETS["throughput_min"],
        "peak RSS <= 1/5 of peer": rss <= TARGETS["peak_rss_max"],
        "start-up <= 1/5 of peer": startup <= TARGETS["startup_max"],
    }
    return out


def _machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu or platform.processor(), "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "loadavg": list(os.getloadavg())}


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _fmt(v: float | None, nd: int = 2) -> str:
    if v is None or v != v:  # None or NaN
        return "-"
    return f"{v:.{nd}f}"


def format_table(report: dict[str, Any]) -> str:
    """The readable summary printed after a run."""
    lines = []
    m = report["machine"]
    lines.append(f"maskgate bench  {report['created']}  {m['cpu']} x{m['cores']}  load {m['loadavg_start']}"
                 f" -> {m['loadavg'][0]:.2f}")
    lines.append(f"frames: {report['frames']['count']} JPEGs 640x480 q{JPEG_QUALITY} ({report['frames']['origin']}),"
                 f" {report['settings']['seconds']:g} s per scenario per side in {report['settings']['rounds']} round(s)")
    for key, side in report["sides"].items():
        info = side["info"]
        lines.append("")
        lines.append(f"== {side['label']}  [{key}]  " + ", ".join(
            f"{k}={v}" for k, v in info.items() if k in ("runtime", "threads", "overlap", "tensorflow", "opencv")))
        head = (f"{'scenario':<8} {'faces':>9} {'fps':>7} " + " ".join(f"{s[:7]:>13}" for s in (*STAGES, "total"))
                + f" {'cpu/frame':>9} {'fail':>5}")
        lines.append(head)
        lines.append(f"{'':<8} {'exp/found':>9} {'':>7} " + " ".join(f"{'p50/p95 ms':>13}" for _ in (*STAGES, 'total'))
                     + f" {'ms':>9}")
        for name, s in side["scenarios"].items():
            found = sorted({v for v in s["faces_found"].values()}, key=lambda v: -1 if v is None else v)
            fs = "/".join("x" if v is None else str(v) for v in found)
            cells = []
            for st in (*STAGES, "total"):
                lat = s["latency_ms"][st]
                cells.append(f"{_fmt(lat['p50'], 2):>6}/{_fmt(lat['p95'], 2):<6}" if lat["n"] else f"{'-':>13}")
            lines.append(f"{name:<8} {str(s['expected_faces']) + '/' + fs:>9} {s['fps']:>7.1f} " + " ".join(cells)
                         + f" {s['cpu_ms_per_frame']:>9.2f} {s['failures']:>5}")
        su = side["startup"].get("median", {})
        if su:
            lines.append(f"start-up to first frame verdict: {su['total_s']:.2f} s (interpreter {su['interpreter_s']:.2f}"
                         f" + imports {su['imports_s']:.2f} + models {su['model_load_s']:.2f} + first frame"
                         f" {su['first_frame_s']:.3f}); runs {side['startup']['runs_s']}")
        lines.append(f"peak RSS: {side['peak_rss_kb'] / 1024:.1f} MiB")
        g = side["growth"]
        if g:
            lines.append(f"cost growth: {g['ms_per_frame_base']:.2f} ms per frame + {g['ms_per_face']:.2f} ms per face")
        if any(s["failures"] for s in side["scenarios"].values()):
            for name, s in side["scenarios"].items():
                for err, n in s["errors"].items():
                    lines.append(f"  {name}: {n} failed frames: {err}")
    r = report.get("ratios")
    if r:
        for key, rr in r.items():
            lines.append("")
            lines.append(f"== ratios {key} (throughput: ours/peer, higher is better; the rest: ours/peer, lower is better)")
            lines.append(f"{'scenario':<8} {'throughput':>10} {'lat p50':>8} {'lat p95':>8} {'cpu/frame':>9}")
            for name, x in rr["scenarios"].items():
                lines.append(f"{name:<8} {x['throughput']:>9.1f}x {x['latency_p50']:>8.3f} {x['latency_p95']:>8.3f}"
                             f" {x['cpu_per_frame']:>9.3f}")
            lines.append(f"peak RSS ours/peer {_fmt(rr['peak_rss'], 3)}, start-up ours/peer {_fmt(rr['startup'], 3)}")
            for t, ok in rr["targets"].items():
                lines.append(f"  target {t}: {'MET' if ok else 'NOT MET'}")
    pe = report.get("pi4_estimate") or {}
    lines.append("")
    if "threads_4" in pe:
        lines.append(f"== Raspberry Pi 4 estimate, {pe['faces']} faces (fast bound .. slow bound; kiosk/pi_estimate.py)")
        for name, label in (("threads_1", "1 thread per model"), ("threads_4", "4 threads, one model after the other"),
                            ("threads_4_overlap", "4 threads, overlap (the default)")):
            e = pe[name]
            lines.append(f"{label:<40} {e['ms_per_frame'][0]:>6.1f} .. {e['ms_per_frame'][1]:>6.1f} ms"
                         f"  {e['fps'][0]:>5.1f} .. {e['fps'][1]:>5.1f} fps (central {e['central_fps']:.1f})"
                         f"  {pe['fps_target']:g} fps: {e['keeps_up']}")
    else:
        lines.append(f"Raspberry Pi 4 estimate: {pe.get('note', 'none')}")
    return "\n".join(lines)


def _our_models_macs(config: str | None, model: str | None) -> dict[str, dict[str, Any]]:
    from .config import Config, load

    cfg = load(config) if config else Config()
    paths = {"detector": cfg.resolve(cfg.detector.model),
             "classifier": Path(model) if model else cfg.resolve(cfg.classifier.model)}
    out: dict[str, dict[str, Any]] = {}
    for key, path in paths.items():
        try:
            out[key] = dict(model_macs(path), file=Path(path).name)
        except Exception as exc:  # noqa: BLE001 - the report goes on without this figure
            out[key] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def _parse_threads(text: str | None) -> list[int | None]:
    if not text:
        return [None]
    return [int(t) for t in str(text).split(",") if t.strip()]


def run_bench(args: argparse.Namespace) -> int:
    """Entry of `python -m kiosk bench`; returns the exit code."""
    seconds = float(getattr(args, "seconds", 60.0))
    out = Path(getattr(args, "out", "build/bench"))
    rounds = max(1, int(getattr(args, "rounds", 2) or 1))
    startup_runs = max(1, int(getattr(args, "startup_runs", 3) or 1))
    threads = _parse_threads(getattr(args, "threads", None))
    overlaps: list[str | None] = [o.strip() for o in str(getattr(args, "overlap", None) or "").split(",") if o.strip()]
    if any(o not in ("on", "off") for o in overlaps):
        print(f"error: --overlap takes on, off or off,on, got {args.overlap!r}",
              file=sys.stderr)
        return 2
    overlaps = overlaps or [None]
    config = getattr(args, "config", None)
    model = getattr(args, "model", None)
    want_peer = bool(getattr(args, "peer", False))
    peer_python = Path(getattr(args, "peer_python", None) or DEFAULT_PEER_PYTHON)
    scenarios = [s for s in SCENARIOS if not getattr(args, "scenarios", None) or s[0] in args.scenarios.split(",")]
    if seconds <= 0:
        print("error: --seconds must be > 0", file=sys.stderr)
        return 2
    pi_reference = getattr(args, "pi_reference", None)
    if pi_reference:
        from .pi_estimate import missing_reference

        missing = missing_reference(pi_reference)
        if missing:
            print(f"error: --pi-reference: {missing[0]} not found (write it with "
                  f".venv-host/bin/python tools/reference_models.py --out {pi_reference})", file=sys.stderr)
            return 2
    if want_peer and not peer_python.exists():
        print(f"error: peer interpreter {peer_python} not found: create it as docs/bench.md says "
              "(requirements-peer.txt), or pass --peer-python", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()[0]
    frames_dir = out / "frames"
    manifest = build_frames(frames_dir)

    sides: list[Side] = []
    for t in threads:
        for ov in overlaps:
            cmd = [sys.executable, "-m", "kiosk.bench", "worker", "--frames", str(frames_dir.resolve())]
            if config:
                cmd += ["--config", str(Path(config).resolve())]
            if model:
                cmd += ["--model", str(Path(model).resolve())]
            if t:
                cmd += ["--threads", str(t)]
            if ov:
                cmd += ["--overlap", ov]
            key = "ours" + (f"_t{t}" if len(threads) > 1 else "") + (f"_overlap_{ov}" if len(overlaps) > 1 else "")
            sides.append(Side(key, "maskgate (BlazeFace + int8 classifier, LiteRT)", cmd))
    if want_peer:
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
        cmd = [str(peer_python), str(PEER_WORKER), "--frames", str(frames_dir.resolve())]
        sides.append(Side("peer", "face-mask-detector 0.2.3 (res10 SSD + Keras MobileNetV2 224 float)", cmd, env))

    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    # Start-up: fresh processes, alternating sides, median reported.
    for r in range(startup_runs):
        for side in sides if r % 2 == 0 else list(reversed(sides)):
            w = Worker(side.key, side.cmd + ["--startup-only"], logs / f"{side.key}.log", side.env)
            side.startups.append(w.startup())
            side.startup_rss_kb.append(int(w.ready.get("rss_kb", 0)))
            w.close()
            print(f"start-up {side.key}: {side.startups[-1]['total_s']:.2f} s", file=sys.stderr, flush=True)

    workers: dict[str, Worker] = {}
    try:
        for side in sides:
            workers[side.key] = Worker(side.key, side.cmd, logs / f"{side.key}.log", side.env)
            side.info = workers[side.key].ready.get("info", {})
        per_call = seconds / rounds
        for r in range(rounds):
            for i, (name, _) in enumerate(scenarios):
                # Alternate who goes first, so slow drifts in background load cancel out.
                order = sides if (r + i) % 2 == 0 else list(reversed(sides))
                for side in order:
                    res = workers[side.key].request({"cmd": "run", "scenario": name, "seconds": per_call},
                                                    timeout=per_call * 10 + 300)
                    if res.get("event") != "result":
                        raise WorkerError(f"{side.key}: {res}")
                    side.results.setdefault(name, []).append(res)
                    print(f"round {r + 1}/{rounds} {name} {side.key}: {res['frames'] / res['wall_s']:.1f} fps"
                          + (f", {res['failures']} failed" if res["failures"] else ""), file=sys.stderr, flush=True)
        if getattr(args, "profile", False):
            for side in sides:
                if side.key.startswith("ours"):
                    path = (out / f"{side.key}.prof").resolve()
                    workers[side.key].request({"cmd": "profile", "scenario": "faces3", "seconds": max(2.0, per_call),
                                               "path": str(path)}, timeout=600)
                    print(f"profile: {path}", file=sys.stderr)
    finally:
        for side in sides:
            w = workers.get(side.key)
            if w is not None:
                side.peak_rss_kb = w.close()

    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_commit": _git_commit(), "argv": sys.argv[1:],
        "machine": dict(_machine(), loadavg_start=round(load_start, 2)),
        "settings": {"seconds": seconds, "rounds": rounds, "startup_runs": startup_runs,
                     "threads": [t for t in threads], "overlap": overlaps, "config": config, "model": model,
                     "pi_reference": pi_reference},
        "frames": {"count": len(manifest["frames"]), "origin": manifest["origin"], "sha256": manifest["sha256"],
                   "jpeg_quality": JPEG_QUALITY, "size": [FRAME_W, FRAME_H],
                   "per_scenario": {n: sum(1 for f in manifest["frames"] if f["scenario"] == n) for n, _ in SCENARIOS}},
        "stages": list(STAGES),
        "notes": ["latency per stage in ms over every measured frame; publish only over frames with a decision",
                  "start-up: process spawn to the first frame's verdict (import + model load + first frame)",
                  "peak RSS: VmHWM of the worker process at the end of the run",
                  "cpu_ms_per_frame: process CPU time (all threads) / frames"],
        "sides": {s.key: _side_report(s, manifest) for s in sides},
    }
    macs = _our_models_macs(config, model)
    report["models"] = macs
    report["pi4_estimate"] = _pi4_estimate(pi_reference, config, model, load_frames(frames_dir)[1]["faces3"], macs)
    if want_peer:
        report["ratios"] = {k: _ratios(v, report["sides"]["peer"]) for k, v in report["sides"].items()
                            if k.startswith("ours")}
    path = out / "bench.json"
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(format_table(report))
    print(f"\nreport: {path}")
    return 0


def _main(argv: list[str]) -> int:
    if argv[:1] == ["worker"]:
        return worker_main(argv[1:])
    from .cli import main

    return main(["bench", *argv])


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

"""Timing one pipeline on the frames, in its worker process: the loop both contenders share
(`measure`), the JSON-lines protocol to the parent (`serve`), and this process's memory.

No psutil: /proc and getrusage. Standard library only at module level (tools/eval/peer_worker.py serves
the peer with it, in a venv without our runtime).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import IO, Any, Callable

from .scenarios import HOLD_FRAMES

STAGES = ("decode", "detect", "preprocess", "classify", "decide", "publish")
PROTOCOL = "maskgate.bench/1"


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
    """The worker protocol, shared in shape with tools/eval/peer_worker.py:

    -> {"event": "ready", t_main, t_imported, t_loaded, t_first (time.monotonic), info, rss}
    <- {"cmd": "run", "scenario": S, "seconds": X[, "hold": H]}  -> {"event": "result", ...measure()}
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
            hold = max(1, min(int(cmd.get("hold", HOLD_FRAMES)), 100))  # 1: every frame once (real scenes)
            result = measure(pipeline.process, pipeline.reset, frames[cmd["scenario"]], float(cmd["seconds"]),
                             hold=hold, settle=getattr(pipeline, "settle", None))
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

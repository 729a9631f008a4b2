"""The report: per-scenario summaries, ours/peer ratios, the machine, model cost (MACs), the
Raspberry Pi 4 estimate, and the readable table printed after a run."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from ..assets import SOURCE_ROOT
from .measure import STAGES, percentile
from .peer import Side
from .scenarios import HOLD_FRAMES, JPEG_QUALITY, SCENARIOS

REPORT_SCHEMA = "maskgate.bench-report/1"
# Targets from issue 5: ours/peer ratios.
TARGETS = {"throughput_min": 10.0, "peak_rss_max": 0.2, "startup_max": 0.2}


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
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=SOURCE_ROOT, capture_output=True,
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
        lines.append(f"== Raspberry Pi 4 estimate, {pe['faces']} faces (fast bound .. slow bound; kiosk/bench/pi_estimate.py)")
        for name, label in (("threads_1", "1 thread per model"), ("threads_4", "4 threads, one model after the other"),
                            ("threads_4_overlap", "4 threads, overlap (the default)"),
                            ("threads_4_overlap_daemon", "the same, as the daemon runs")):
            if name not in pe:
                continue
            e = pe[name]
            lines.append(f"{label:<40} {e['ms_per_frame'][0]:>6.1f} .. {e['ms_per_frame'][1]:>6.1f} ms"
                         f"  {e['fps'][0]:>5.1f} .. {e['fps'][1]:>5.1f} fps (central {e['central_fps']:.1f})"
                         f"  {pe['fps_target']:g} fps: {e['keeps_up']}")
        rates = pe.get("here_1_thread", {}).get("daemon")
        if rates:
            lines.append(f"  as the daemon runs: {rates['detector_px_per_frame']} YuNet pixels and "
                         f"{rates['faces_classified_per_frame']} faces classified per frame (each frame held "
                         f"{HOLD_FRAMES} frames as a new group: people followed, the decided not classified again)")
    else:
        lines.append(f"Raspberry Pi 4 estimate: {pe.get('note', 'none')}")
    return "\n".join(lines)


def _our_models_macs(config: str | None, model: str | None) -> dict[str, dict[str, Any]]:
    from ..config import Config, load

    cfg = load(config) if config else Config()
    from ..vision.detectors import model_path

    paths = {"detector": model_path(cfg),
             "classifier": Path(model) if model else cfg.resolve(cfg.classifier.model)}
    out: dict[str, dict[str, Any]] = {}
    for key, path in paths.items():
        try:
            out[key] = dict(model_macs(path), file=Path(path).name)
        except Exception as exc:  # noqa: BLE001 - the report goes on without this figure
            out[key] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def model_macs(path: str | Path) -> dict[str, Any]:
    """Multiply-accumulates of one inference, counted from the .tflite graph (conv, depthwise
    conv, fully connected; element-wise ops are not MACs), and the graph's compute type."""
    if Path(path).suffix.lower() == ".onnx":
        # YuNet runs in OpenCV's DNN, not LiteRT: no graph to count here; its Pi time is published
        from .pi_estimate import YUNET_COMPUTE

        return {"macs": None, "compute": YUNET_COMPUTE}
    from ..vision.runtime import interpreter_class

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
    """kiosk/bench/pi_estimate.py's estimate for `faces` faces, timed in this (parent) process at 1 thread
    once the workers are done, so nothing else of ours runs meanwhile."""
    if not reference:
        return {"note": "no estimate: pass --pi-reference with the folder tools/training/reference_models.py writes"}
    import cv2
    import numpy as np

    from ..config import Config, load
    from ..vision.analysis import build_analyzer
    from ..vision.detectors import model_path
    from . import pi_estimate

    cfg = load(config) if config else Config()
    if model:
        cfg.classifier.model = str(Path(model).resolve())
    cfg.detector.threads = cfg.classifier.threads = 1
    analyzer = build_analyzer(cfg)
    decoded = [cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) for _, data in frames]
    nose = cfg.resolve(cfg.classifier.nose_model) if cfg.classifier.nose_model else None
    here = pi_estimate.measure_here(reference, model_path(cfg), cfg.resolve(cfg.classifier.model),
                                    analyzer, decoded, faces, nose)
    here["daemon"] = pi_estimate.daemon_rates(analyzer, cfg, decoded, HOLD_FRAMES, cfg.camera.fps)
    return pi_estimate.estimate(here, macs["detector"]["compute"], macs["classifier"]["compute"], faces)

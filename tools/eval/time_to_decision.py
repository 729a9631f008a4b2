"""What a visitor feels: how long from stepping into the gate zone until the kiosk decides.

    .venv/bin/python -m tools.eval.time_to_decision kiosk/demo/demo.mp4 --fps 10 [--set detector.full_every=1]

Replays a clip through the real daemon (recorded source, mock GPIO, no broker), and for every decision gives
the frames from the first frame its person was at the gate (box centre in the zone, at least
`zone.min_face_px` wide) to the frame that decided, with the analyser's work counted over the run (frames
searched whole, YuNet pixels, faces classified). Frames, not seconds, are what the policy and the pipeline
set (k of n, one frame of overlap); seconds follow from the frame rate a machine keeps: the report gives
them at the clip's rate and at `--at-fps` (e.g. the Pi 4 estimate of `kiosk bench --pi-reference`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from tools.cli import CliError, run
from tools.eval.kiosk_options import add_kiosk_options, kiosk_config


def replay(clip: Path, cfg, fps: float) -> tuple[list[dict], dict]:
    """Run the daemon on `clip` with `cfg` (mock GPIO, no broker, no screen): each decision with the frames
    its person spent at the gate until it, and the analyser's work over the run."""
    from gpiozero.pins.mock import MockFactory

    from kiosk.pipeline import Kiosk

    with tempfile.TemporaryDirectory() as state:
        cfg.kiosk.state_dir = state
        cfg.camera.source = str(clip)
        cfg.camera.fps = fps
        cfg.camera.on_end = "exit"
        cfg.gpio.backend = "mock"
        cfg.mqtt.enabled = False
        cfg.web.enabled = False
        cfg.sound.enabled = False
        first_at_gate: dict[int, int] = {}
        waits: list[dict] = []
        with Kiosk(cfg, pin_factory=MockFactory()) as kiosk:
            decider, update = kiosk.decider, kiosk.decider.update
            frame = [0]

            def record(now, faces, frame_size=None):
                decisions = update(now, faces, frame_size)
                for t in decider.tracker.tracks:
                    if t.missed == 0 and t.id not in first_at_gate and decider.zone.holds(t.box, frame_size):
                        first_at_gate[t.id] = frame[0]
                for d in decisions:
                    start = first_at_gate.get(d.track, frame[0])
                    waits.append({"decision": str(d.decision), "reason": str(d.reason), "track": d.track,
                                  "frame": frame[0], "frames_at_gate": frame[0] - start + 1})
                frame[0] += 1
                return decisions

            decider.update = record
            summary = kiosk.run(max_seconds=600)
            a = kiosk.analyzer
    frames = max(summary.frames, 1)
    work = {"frames": summary.frames, "whole_frame_searches": a.full_passes,
            "yunet_px_per_frame": round(getattr(a.detector, "pixels", 0) / frames),
            "faces_classified_per_frame": round(a.classified / frames, 3),
            "faces_kept_settled_per_frame": round(a.reused / frames, 3),
            "bystanders_skipped_per_frame": round(a.skipped / frames, 3)}
    return waits, work


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("clip", type=Path, help="a video file (or image folder) the kiosk can read")
    p.add_argument("--fps", type=float, default=15.0, help="the clip's frame rate (camera.fps; default 15)")
    p.add_argument("--at-fps", type=float, nargs="*", default=[15.0, 25.0],
                   help="frame rates to express the waits in seconds at (default 15 25)")
    add_kiosk_options(p)
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = p.parse_args(argv)
    if not args.clip.exists():
        raise CliError(f"clip not found: {args.clip}")
    if not 0.5 <= args.fps <= 120:
        raise CliError(f"--fps {args.fps}: must be 0.5..120")

    waits, work = replay(args.clip, kiosk_config(args), args.fps)
    if args.json:
        print(json.dumps({"clip": str(args.clip), "decisions": waits, "work": work}))
        return 0
    print(f"{args.clip}: {work['frames']} frames at {args.fps:g} fps; {work}")
    for w in waits:
        secs = ", ".join(f"{w['frames_at_gate'] / f:.2f} s at {f:g} fps" for f in [args.fps, *args.at_fps])
        print(f"  {w['decision']:<5} {w['reason']:<10} track {w['track']}: {w['frames_at_gate']} frames at the gate "
              f"({secs})")
    return 0


if __name__ == "__main__":
    run(main)

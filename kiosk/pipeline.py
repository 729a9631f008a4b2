"""The daemon: capture -> faces -> classify -> decide -> act -> publish, one frame at a time.

Reads top to bottom in `Kiosk.step`. Hardware and services come in through narrow parts (camera
supervisor, analyzer, gate, indicator, publisher) so tests run the same loop with local real parts.
The gate fails closed: it is closed at start, on any camera or model fault, on deny, and on every
way out of `run` (signal, error, end of a demo clip).

Time: a live camera's frames are decided on the wall clock. A recording (file, folder) is decided on
its media time (CameraSupervisor.frame_time), and the relay and light it drives are held for
`open_seconds`/`deny_seconds` of media time, so a replay gives the same decisions and relay timeline
however slowly it is processed. Only the relay's max_open_seconds timer stays on the wall clock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from .capture.camera import CameraSupervisor, EndOfStream
from .closing import Closing
from .config import Config
from .door.decision import Decision, Outcome, Reason
from .door.lights import Pattern
from .errors import KioskError, RuntimeFault
from .events import build_event, manual_event, utc_now_iso
from .messages.commands import Mode, RateLimit, Verdict
from .messages.homeassistant import parse_command as ha_parse_command
from .messages.notify import Notifier
from .outputs import Publisher
from .parts import Parts, build_parts
from .stats import Stats
from .vision.analysis import (
    FaceAnalyzer,
    build_analyzer,  # noqa: F401 - old home, tools still import it from here
)
from .vision.attention import attention_for
from .vision.detectors import build_detector  # noqa: F401 - old home, tools still import it from here
from .vision.overlap import OverlappedAnalyzer
from .vision.tracking import PersonDecider

log = logging.getLogger("kiosk")

# How long start-up waits for a first camera frame before reporting READY with a camera fault.
READY_TIMEOUT_S = 10.0
# The summary keeps this many recent events (the demo lists them); a daemon runs for months.
RECENT_DECISIONS = 100
# How often the frame loop checks the outputs' health (the MQTT client's), seconds.
HEALTH_CHECK_S = 1.0
# Refused commands beyond this rate are counted but neither logged nor answered: a flood of them
# must not fill the journal or crowd events out of paho's queue.
REFUSALS_PER_S = 5.0
REFUSALS_BURST = 20


@dataclass
class Summary:
    """What a run did: counts, the recent decisions, why it ended."""

    frames: int = 0
    faces: int = 0
    decisions: list[dict[str, Any]] = field(default_factory=list)  # the most recent RECENT_DECISIONS
    decided: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    camera_failures: int = 0
    seconds: float = 0.0
    exit_reason: str = ""

    def add(self, event: dict[str, Any]) -> None:
        """Count an event and keep it among the recent ones."""
        self.decided += 1
        self.counts[event["decision"]] = self.counts.get(event["decision"], 0) + 1
        self.decisions.append(event)
        if len(self.decisions) > RECENT_DECISIONS:
            del self.decisions[: len(self.decisions) - RECENT_DECISIONS]

    def count(self, decision: str) -> int:
        """All decisions of that kind since the start, not only the recent ones kept."""
        return self.counts.get(decision, 0)


class Kiosk(Closing):
    """The loop, the decision and the outputs, over parts built elsewhere (`build_parts`).

    `Kiosk(cfg)` builds the parts from the config; `Kiosk(cfg, parts)` takes built ones; the keywords
    replace single parts (tests). The kiosk owns its parts: `run()` and `close()` release them.
    """

    def __init__(self, cfg: Config, parts: Parts | None = None, *, pin_factory=None,
                 outputs: list[Publisher] | None = None, analyzer: FaceAnalyzer | None = None,
                 supervisor: CameraSupervisor | None = None, notifier: Notifier | None = None) -> None:
        if parts is None:
            parts = build_parts(cfg, pin_factory=pin_factory, analyzer=analyzer, supervisor=supervisor,
                                outputs=outputs)
        elif pin_factory is not None or outputs is not None or analyzer is not None or supervisor is not None:
            parts.close()
            raise TypeError("Kiosk: give either parts or the parts to replace, not both")
        self.parts = parts
        try:
            self._setup(cfg, parts, notifier)
        except BaseException:
            parts.close()
            raise

    def _setup(self, cfg: Config, parts: Parts, notifier: Notifier | None) -> None:
        self.cfg = cfg
        self.stop_event = threading.Event()
        self.notifier = notifier or Notifier()
        self.stats = Stats()
        self.summary = Summary()
        # one k-of-n decider per person (track), only people at the gate decide (kiosk/vision/tracking.py)
        self.decider = PersonDecider.of(cfg)
        self._frame_size: tuple[int, int] | None = None
        self.analyzer = parts.analyzer
        # faces whose verdict cannot matter are not classified (kiosk/vision/attention.py)
        self.attention = attention_for(cfg)
        self.analyzer.attention = self.attention
        self.model_info = parts.model_info
        self.gate, self.indicator, self.button = parts.gate, parts.indicator, parts.button
        self.supervisor = parts.supervisor
        self.outputs = parts.outputs
        # Outputs that look at frames (the web's live view) implement on_frame; it must return at once.
        self._frame_hooks = [out.on_frame for out in self.outputs if hasattr(out, "on_frame")]
        self.verifier = parts.verifier
        self._lock = threading.RLock()
        self.mode = Mode.AUTO
        # Detect the next frame while this one is classified (kiosk/vision/overlap.py); None: one at a time.
        self.overlap = OverlappedAnalyzer(self.analyzer) if cfg.detector.overlap else None
        self.faults: set[str] = set()
        self.output_faults: dict[str, str] = {}  # an output's name -> why it does not work
        self._next_health_check = 0.0
        self._refusals = RateLimit(REFUSALS_PER_S, REFUSALS_BURST)
        self.last_decision: dict[str, Any] | None = None
        self._light_until = 0.0  # on _clock()'s time
        self._gate_until: float | None = None  # recordings: media time at which the loop closes the relay
        self._frame_now = 0.0  # recordings: media time of the latest frame read
        self._last_stats = time.monotonic()
        self._state_dirty = True
        self._closed = False
        # Test-only fault injection (tests/test_watchdog_nspawn.py): after this many seconds the frame
        # loop stalls, as a hung camera driver would, so systemd's watchdog must kill and restart us.
        self._stall_after = float(os.environ.get("MASKGATE_TEST_STALL_AFTER", "0") or 0)
        # Wired last: the callbacks (timer, button, network threads) find everything above in place.
        self.gate.on_change = self._gate_changed
        if self.button is not None:
            self.button.on_press = self._manual_open
        if self.verifier is not None or cfg.commands.home_assistant:
            for out in self.outputs:
                out.subscribe(self._on_command)

    # -- the loop --------------------------------------------------------------------------------
    def run(self, max_seconds: float | None = None) -> Summary:
        """The frame loop until a signal (stop_event), the end of a clip or `max_seconds`; always ends closed."""
        start = self._started = time.monotonic()
        self.gate.close()
        self.indicator.show(Pattern.IDLE)
        try:
            for out in self.outputs:
                out.start()
            self._publish_state()
            # READY=1 once models and GPIO are up (they are, by now) and the camera has delivered a
            # frame, or has failed for ready_timeout seconds: then we are "up" with a camera fault,
            # the gate closed, and the state topic saying so, rather than stuck in "activating".
            first = self._first_frame(start, min(READY_TIMEOUT_S, max_seconds or READY_TIMEOUT_S))
            status = (f"watching {self.supervisor.camera.name}" if first is not None
                      else f"camera fault: {self.supervisor.fault}")
            self.notifier.ready(status)
            log.info("kiosk %s running: camera %s, model %s (%s...)", self.cfg.kiosk.id,
                     self.supervisor.camera.name, self.model_info["name"], self.model_info["sha256"][:12])
            while not self.stop_event.is_set():
                if max_seconds is not None and time.monotonic() - start > max_seconds:
                    self.summary.exit_reason = "time limit"
                    break
                try:
                    self.step(first)
                    first = None
                except EndOfStream:
                    self.summary.exit_reason = "end of stream"
                    break
            else:
                self.summary.exit_reason = self.summary.exit_reason or "stopped"
        except EndOfStream:  # a clip with no frame at all
            self.summary.exit_reason = "end of stream"
        except KioskError:
            self.summary.exit_reason = "error"
            raise
        except Exception as exc:
            self.summary.exit_reason = "error"
            raise RuntimeFault(f"kiosk: unexpected {type(exc).__name__}: {exc}") from exc
        finally:
            self.close()
            self.summary.seconds = time.monotonic() - start
        return self.summary

    def _first_frame(self, start: float, timeout: float) -> np.ndarray | None:
        while not self.stop_event.is_set() and time.monotonic() - start < timeout:
            frame = self.supervisor.read()
            if frame is not None:
                return frame
            self._camera_down()
            self.stop_event.wait(0.05)
        return None

    def step(self, frame: np.ndarray | None = None) -> None:
        """One iteration: a frame, or (camera down) a short wait with the gate closed."""
        t0 = time.perf_counter()
        if frame is None:
            try:
                frame = self.supervisor.read()
            except EndOfStream:
                self._finish_overlap()  # the clip's last frame is still being detected
                raise
        now = time.monotonic()
        at = now  # the frame's time for the decision: media time on a recording
        if frame is not None and self.supervisor.frame_time is not None:
            at = self._frame_now = self.supervisor.frame_time
        if self._stall_after and now - self._started > self._stall_after:
            log.warning("test fault injection: frame loop stalls now")
            while True:
                time.sleep(3600)
        if frame is None:
            self._finish_overlap()  # the frame before the gap is decided before the gap, as without overlap
            self._camera_down()
            self._tick(now)
            self.stop_event.wait(0.05)
            return
        if "camera" in self.faults:
            self._clear_fault("camera")
        self._frame_size = (frame.shape[1], frame.shape[0])  # the zone is in fractions of the frame
        if self.attention is not None:
            self.attention.frame_size = self._frame_size
        self.stats.add("capture", self.supervisor.last_capture_ms)
        if self.overlap is None:
            faces, crops = self._analyse(lambda: self.analyzer.analyse(frame, timing=self.stats.add))
            self._conclude(at, now, t0, faces, crops, frame)
        else:
            done = self._analyse(lambda: self.overlap.push(frame, (at, now, t0), timing=self.stats.add))
            if done is not None:  # the frame before this one; this one is being detected meanwhile
                self._conclude(*done.stamp, done.verdicts, done.crops, done.frame)
        self._tick(now)
        self.notifier.watchdog(now)

    def _analyse(self, work):
        try:
            return work()
        except Exception as exc:
            # A model that fails at run time: close the gate, report, let systemd restart us.
            self._set_fault("model", f"{type(exc).__name__}: {exc}")
            self.gate.close()
            raise RuntimeFault(f"model failure: {type(exc).__name__}: {exc}") from exc

    def _finish_overlap(self) -> None:
        if self.overlap is not None:
            done = self._analyse(lambda: self.overlap.flush(timing=self.stats.add))
            if done is not None:
                self._conclude(*done.stamp, done.verdicts, done.crops, done.frame)

    def _conclude(self, at: float, now: float, t0: float, faces: list, crops: list[np.ndarray],
                  frame: np.ndarray | None = None) -> None:
        """Decide on one analysed frame (frame time `at`, read at monotonic `now` and perf_counter
        `t0`) and act. With overlap this is the frame before the one just read: its own time."""
        if frame is not None:
            for hook in self._frame_hooks:
                hook(frame, faces)
        t1 = time.perf_counter()
        decisions = self.decider.update(at, faces, self._frame_size)
        if self.attention is not None:
            self.attention.observe(self.decider, at)
        t2 = time.perf_counter()
        self.stats.add("decide", (t2 - t1) * 1000)
        self.stats.frame(now)  # the frame rate stays a wall-clock figure
        self.summary.frames += 1
        self.summary.faces += len(faces)
        self.stats.counters["faces"] += len(faces)
        for decision in decisions:  # denies first: one person's refusal is shown over another's opening
            self._act(decision, at, (t2 - t0) * 1000, crops, faces)
        self.stats.add("publish", (time.perf_counter() - t2) * 1000)

    # -- acting ----------------------------------------------------------------------------------
    def _act(self, decision: Decision, now: float, latency_ms: float, crops: list[np.ndarray],
             faces: list | tuple = ()) -> None:
        d = self.cfg.decision
        if decision.decision == Outcome.OPEN and self.mode == Mode.LOCKED:
            decision = Decision(Outcome.DENY, Reason.LOCKED, decision.faces)
        event = build_event(decision, self.cfg.kiosk.id, self.model_info, latency_ms)
        with self._lock:
            self._gate_until = None
            if decision.decision == Outcome.OPEN:
                if self.supervisor.recorded:
                    # The loop closes it after open_seconds of media time; the gate's wall-clock
                    # timer is only the safety net (a replay slower than max_open_seconds: closed early).
                    self.gate.open(d.max_open_seconds)
                    self._gate_until = now + d.open_seconds
                else:
                    self.gate.open(d.open_seconds)
                self.indicator.show(Pattern.OPEN)
                self._light_until = now + d.open_seconds
                self.stats.counters["opened"] += 1
            else:
                self.gate.close()
                self.indicator.show(Pattern.INCORRECT if decision.reason == Reason.INCORRECT else Pattern.DENY)
                self._light_until = now + d.deny_seconds
                self.stats.counters["denied"] += 1
                if decision.reason in (Reason.INCORRECT, Reason.COVERED):
                    self.stats.counters[f"denied_{decision.reason}"] += 1
        self._record(event)
        if self.cfg.snapshots.enabled:
            self._snapshot(event["id"], crops)
            self._publish_face(event["id"], decision, faces, crops)

    def _manual_open(self) -> None:
        """Staff button (gpiozero's thread): open at once, then publish like any decision."""
        self._open_by_hand(manual_event(self.cfg.kiosk.id, self.model_info), "manual")

    def _open_by_hand(self, event: dict[str, Any], counter: str) -> None:
        with self._lock:
            self._gate_until = None  # a hand opening is timed by the gate's own wall-clock timer
            self.gate.open(self.cfg.decision.open_seconds)
            self.indicator.show(Pattern.OPEN)
            self._light_until = self._clock() + self.cfg.decision.open_seconds
            self.stats.counters[counter] += 1
        self._record(event)

    def _on_command(self, payload: bytes, retained: bool = False, channel: str = "signed") -> None:
        """A remote command (paho's thread): verified, then acted on; every outcome is published, but
        refusals only up to REFUSALS_PER_S (all are counted in stats). `channel` "home_assistant": from
        the broker-guarded topic (kiosk/messages/homeassistant.py), else signed; a channel that is off is ignored."""
        if channel == "home_assistant":
            if not self.cfg.commands.home_assistant:
                return
            verdict = ha_parse_command(payload, retained)
        elif self.verifier is None:
            return
        else:
            # A retained command is an old one that the broker hands to every new connection.
            verdict = Verdict(False, "retained") if retained else self.verifier.verify(payload)
        command = verdict.command or {}
        result = {"id": str(uuid.uuid4()), "ts": utc_now_iso(), "kiosk_id": self.cfg.kiosk.id,
                  "command": command.get("command"), "accepted": verdict.accepted, "reason": verdict.reason,
                  "channel": channel}
        if not verdict.accepted:
            with self._lock:
                self.stats.counters["commands_refused"] += 1
                answer = self._refusals.allow(time.monotonic())
            if answer:
                log.warning("command refused: %s", verdict.reason)
                self._publish_command_result(result)
            return
        log.info("command accepted: %s", command)
        self._publish_command_result(result)
        if command["command"] == "open":
            self._open_by_hand(manual_event(self.cfg.kiosk.id, self.model_info, Reason.REMOTE), "opened")
        elif command["command"] == "mode":
            with self._lock:
                self.mode = Mode(command["mode"])
                if self.mode == Mode.LOCKED:
                    self.gate.close()
            self._state_dirty = True
            self._publish_state()

    def _record(self, event: dict[str, Any]) -> None:
        faces = ", ".join(f"{f['label']} {f['score']:.2f}" for f in event["faces"]) or "-"
        log.info("decision: %s (%s) faces: %s id=%s", event["decision"], event["reason"], faces, event["id"])
        self.summary.add(event)
        self.last_decision = {k: event[k] for k in ("id", "ts", "decision", "reason")}
        for out in self.outputs:
            out.publish_event(event)
        self._state_dirty = True

    def _snapshot(self, event_id: str, crops: list[np.ndarray]) -> None:
        folder = self.cfg.state_path() / self.cfg.snapshots.dir
        folder.mkdir(parents=True, exist_ok=True)
        for i, face in enumerate(crops):
            cv2.imwrite(str(folder / f"{event_id}-{i}.jpg"), face)
        files = sorted(folder.glob("*.jpg"), key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - self.cfg.snapshots.keep)]:
            old.unlink(missing_ok=True)

    def _publish_face(self, event_id: str, decision: Decision, faces: list | tuple, crops: list[np.ndarray]) -> None:
        """The deciding person's face crop (snapshots on only) to the outputs that show one (Home
        Assistant's image entity); `faces` and `crops` are the frame's, in the same order."""
        if not decision.faces:
            return
        box = decision.faces[0].box
        crop = next((c for f, c in zip(faces, crops) if f.box == box), None)
        senders = [out.publish_face for out in self.outputs if hasattr(out, "publish_face")]
        if crop is None or not senders:
            return
        ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if ok:
            for send in senders:
                send(event_id, jpeg.tobytes())

    def _clock(self) -> float:
        """The time the gate and light deadlines are on: media time on a recording, else wall clock."""
        return self._frame_now if self.supervisor.recorded else time.monotonic()

    def _tick(self, now: float) -> None:
        with self._lock:
            t = self._clock()
            if self._gate_until is not None and t >= self._gate_until:
                self._gate_until = None
                self.gate.close()
            if self._light_until and t >= self._light_until and not self.gate.is_open:
                self._light_until = 0.0
                self.indicator.show(Pattern.FAULT if self.faults else Pattern.IDLE)
        if now >= self._next_health_check:
            self._next_health_check = now + HEALTH_CHECK_S
            for out in self.outputs:
                self._watch(out, now)
        if self._state_dirty:
            self._publish_state()
        if now - self._last_stats >= self.cfg.mqtt.stats_interval:
            self._last_stats = now
            stats = self._stats_payload()
            for out in self.outputs:
                out.publish_stats(stats)

    def _watch(self, out: Publisher, now: float) -> None:
        """Report an output's fault, named after it, while it lasts; its health() repairs what it can (the
        MQTT client replaces a dead or stuck paho client) and raises RuntimeFault (exit 1, systemd restarts
        us) when that does not help."""
        fault = out.health(now)
        if fault is not None and out.name not in self.faults:
            key = f"{out.name}_restarts"
            self.stats.counters[key] = self.stats.counters.get(key, 0) + 1
            self.output_faults[out.name] = fault
            self._set_fault(out.name, fault)
        elif fault is None and out.name in self.faults:
            self.output_faults.pop(out.name, None)
            self._clear_fault(out.name)

    def _stats_payload(self) -> dict[str, Any]:
        s = self.stats.summary()
        s["counters"]["not_faces"] = self.analyzer.rejected
        s["faults"] = sorted(self.faults)
        for out in self.outputs:
            s[out.name] = out.status()
        s["ts"] = utc_now_iso()
        s["kiosk_id"] = self.cfg.kiosk.id
        return s

    # -- faults and state ------------------------------------------------------------------------
    def _camera_down(self) -> None:
        if "camera" not in self.faults:
            self.gate.close()
            self.decider.reset()
            if self.attention is not None:
                self.attention.forget()
            self.stats.counters["camera_failures"] += 1
            self.summary.camera_failures += 1
            self._set_fault("camera", self.supervisor.fault or "")

    def _set_fault(self, name: str, detail: str = "") -> None:
        with self._lock:
            self.faults.add(name)
            self.indicator.show(Pattern.FAULT)
        log.warning("fault: %s (%s)", name, detail)
        self._state_dirty = True
        self._publish_state()

    def _clear_fault(self, name: str) -> None:
        with self._lock:
            self.faults.discard(name)
            if not self.faults and not self._light_until:
                self.indicator.show(Pattern.IDLE)
        log.info("fault cleared: %s", name)
        self._state_dirty = True

    def _gate_changed(self, is_open: bool) -> None:
        log.info("gate: %s", "open" if is_open else "closed")
        self._state_dirty = True
        if not is_open:
            self._publish_state()  # from the timer thread too: the state topic follows the relay

    def state_payload(self) -> dict[str, Any]:
        """The state topic's payload (README, "state")."""
        return {
            "gate": "open" if self.gate.is_open else "closed",
            "mode": self.mode,
            "last_decision": self.last_decision,
            "faults": sorted(self.faults),
            "camera_fault": self.supervisor.fault if "camera" in self.faults else None,
            "mqtt_fault": self.output_faults.get("mqtt"),
            "counters": {k: self.stats.counters[k] for k in ("opened", "denied", "denied_incorrect", "denied_covered", "manual")},
            "model": self.model_info,
            "ts": utc_now_iso(),
        }

    def _publish_state(self) -> None:
        with self._lock:
            self._state_dirty = False
            payload = self.state_payload()
        for out in self.outputs:
            out.publish_state(payload)

    def _publish_command_result(self, result: dict[str, Any]) -> None:
        for out in self.outputs:
            out.publish_command_result(result)

    @property
    def publisher(self) -> Publisher | None:
        """The MQTT output, None without one (for tests and tools/eval/soak.py)."""
        return next((out for out in self.outputs if out.name == "mqtt"), None)

    def close(self) -> None:
        """Every way out ends here: relay de-energised first, then the rest; again is a no-op."""
        self.gate.close()
        if self._closed:
            return
        self._closed = True
        self.notifier.stopping()
        try:
            self.indicator.show(Pattern.IDLE)
            self._publish_state()
        finally:
            if self.overlap is not None:
                self.overlap.close()
            self.parts.close()  # outputs, camera, button, light, relay

    shutdown = close  # the older name (tools/eval/soak.py)

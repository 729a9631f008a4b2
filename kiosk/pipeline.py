"""The daemon: capture -> faces -> classify -> decide -> act -> publish, one frame at a time.

Reads top to bottom in `Kiosk.step`. Hardware and services come in through narrow parts (camera
supervisor, analyzer, door, outputs) so tests run the same loop with local real parts. The loop asks
the door (kiosk/door/door.py) to open, deny or hold; the door keeps the relay, the light, the mode and
their deadlines. Remote commands go to the door beside the loop (kiosk/messages/remote.py).
The gate fails closed: it is closed at start, on any camera or model fault, on deny, and on every
way out of `run` (signal, error, end of a demo clip).

Time: a live camera's frames are decided on the wall clock. A recording (file, folder) is decided on
its media time (CameraSupervisor.frame_time), which the loop feeds to the door, so a replay gives the
same decisions and relay timeline however slowly it is processed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .capture.camera import CameraSupervisor, EndOfStream
from .closing import Closing
from .config import Config
from .door.decision import Decision, Mode, Outcome, Reason
from .errors import KioskError, RuntimeFault
from .events import build_event, manual_event, utc_now_iso
from .messages.notify import Notifier
from .messages.remote import RemoteCommands
from .outputs import Publisher
from .parts import Parts, build_parts
from .stats import Stats
from .vision.analysis import FaceAnalyzer
from .vision.attention import attention_for
from .vision.overlap import OverlappedAnalyzer
from .vision.tracking import PersonDecider

log = logging.getLogger("kiosk")

# How long start-up waits for a first camera frame before reporting READY with a camera fault.
READY_TIMEOUT_S = 10.0
# The summary keeps this many recent events (the demo lists them); a daemon runs for months.
RECENT_DECISIONS = 100
# How often the frame loop checks the outputs' health (the MQTT client's), seconds.
HEALTH_CHECK_S = 1.0
# The counters the state payload carries (all of them are in the stats payload).
STATE_COUNTERS = ("opened", "denied", "denied_incorrect", "denied_covered", "manual")


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
        self.door, self.button = parts.door, parts.button
        # To look at (the demo shows the relay pin, tests check the release); only the door drives them.
        self.gate, self.indicator = self.door.gate, self.door.indicator
        self.supervisor = parts.supervisor
        self.outputs = parts.outputs
        # Outputs that look at frames (the web's live view) implement on_frame; it must return at once.
        self._frame_hooks = [out.on_frame for out in self.outputs if hasattr(out, "on_frame")]
        # The outputs handed each decision's face crops (kiosk/outputs.py): the snapshots output, if any.
        self._crop_hooks = [out.on_crops for out in self.outputs if hasattr(out, "on_crops")]
        self._lock = threading.Lock()  # the counters: the loop, the button's and the commands' threads
        # Detect the next frame while this one is classified (kiosk/vision/overlap.py); None: one at a time.
        self.overlap = OverlappedAnalyzer(self.analyzer) if cfg.detector.overlap else None
        self.output_faults: dict[str, str] = {}  # an output's name -> why it does not work
        self._next_health_check = 0.0
        self.last_decision: dict[str, Any] | None = None
        self._last_stats = time.monotonic()
        self._state_dirty = True
        self._publishing = False  # the outputs are started: a state change is published at once
        self._closed = False
        # Test-only fault injection (tests/test_watchdog_nspawn.py): after this many seconds the frame
        # loop stalls, as a hung camera driver would, so systemd's watchdog must kill and restart us.
        self._stall_after = float(os.environ.get("MASKGATE_TEST_STALL_AFTER", "0") or 0)
        self.commands = RemoteCommands(self.door, parts.verifier, cfg.commands.home_assistant, cfg.kiosk.id,
                                       self.model_info, answer=self._publish_command_result,
                                       record=self._record, count=self._count)
        # Wired last: the callbacks (timer, button, network threads) find everything above in place.
        self.door.on_change = self._door_changed
        if self.button is not None:
            self.button.on_press = self._manual_open
        if self.commands.enabled:
            for out in self.outputs:
                out.subscribe(self.commands.handle)

    # -- the loop --------------------------------------------------------------------------------
    def run(self, max_seconds: float | None = None) -> Summary:
        """The frame loop until a signal (stop_event), the end of a clip or `max_seconds`; always ends closed."""
        start = self._started = time.monotonic()
        self.door.start()
        try:
            for out in self.outputs:
                out.start()
            self._publishing = True
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
            at = self.supervisor.frame_time
            self.door.advance(at)
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
        if self.door.has_fault("camera"):
            self.door.clear_fault("camera")
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
            self.door.hold()
            self.door.fault("model", f"{type(exc).__name__}: {exc}")
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
        """Carry out one decision made at frame time `now`: the door opens or refuses, the event goes out."""
        if decision.decision == Outcome.OPEN:
            if self.door.open(now):
                self._count("opened")
            else:  # the door refuses in locked mode: the faces would have opened it
                decision = Decision(Outcome.DENY, Reason.LOCKED, decision.faces)
        if decision.decision != Outcome.OPEN:
            self.door.deny(decision.reason, now)
            self._count("denied")
            if decision.reason in (Reason.INCORRECT, Reason.COVERED):
                self._count(f"denied_{decision.reason}")
        event = build_event(decision, self.cfg.kiosk.id, self.model_info, latency_ms)
        self._record(event)
        if self._crop_hooks:
            self._hand_crops(event["id"], decision, faces, crops)

    def _hand_crops(self, event_id: str, decision: Decision, faces: list | tuple, crops: list[np.ndarray]) -> None:
        """The frame's crops, and the deciding person's among them, to the outputs that take crops;
        `faces` and `crops` are the frame's, in the same order."""
        deciding = None
        if decision.faces:
            box = decision.faces[0].box
            deciding = next((c for f, c in zip(faces, crops) if f.box == box), None)
        for hook in self._crop_hooks:
            hook(event_id, crops, deciding)

    def _manual_open(self) -> None:
        """Staff button (gpiozero's thread): open at once, in either mode, then publish like any decision."""
        if self.door.open_by_hand():
            self._count("manual")
            self._record(manual_event(self.cfg.kiosk.id, self.model_info))

    def _count(self, counter: str) -> None:
        with self._lock:
            self.stats.counters[counter] = self.stats.counters.get(counter, 0) + 1

    def _record(self, event: dict[str, Any]) -> None:
        faces = ", ".join(f"{f['label']} {f['score']:.2f}" for f in event["faces"]) or "-"
        log.info("decision: %s (%s) faces: %s id=%s", event["decision"], event["reason"], faces, event["id"])
        self.summary.add(event)
        self.last_decision = {k: event[k] for k in ("id", "ts", "decision", "reason")}
        for out in self.outputs:
            out.publish_event(event)
        self._state_dirty = True

    def _tick(self, now: float) -> None:
        self.door.tick()
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
        if fault is not None and not self.door.has_fault(out.name):
            self._count(f"{out.name}_restarts")
            self.output_faults[out.name] = fault
            self.door.fault(out.name, fault)
        elif fault is None and self.door.has_fault(out.name):
            self.output_faults.pop(out.name, None)
            self.door.clear_fault(out.name)

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
        if not self.door.has_fault("camera"):
            self.door.hold()
            self.decider.reset()
            if self.attention is not None:
                self.attention.forget()
            self._count("camera_failures")
            self.summary.camera_failures += 1
            self.door.fault("camera", self.supervisor.fault or "")

    def _door_changed(self, urgent: bool) -> None:
        """The door's state changed (any thread): published at once when urgent, else after this frame."""
        self._state_dirty = True
        if urgent and self._publishing:
            self._publish_state()

    @property
    def faults(self) -> frozenset[str]:
        """The faults shown now (camera, model, an output's name)."""
        return self.door.faults

    @property
    def mode(self) -> Mode:
        """The door's mode; setting it (tests, tools) is what an accepted `mode` command does."""
        return self.door.mode

    @mode.setter
    def mode(self, mode: Mode | str) -> None:
        self.door.set_mode(mode)

    def state_payload(self) -> dict[str, Any]:
        """The state topic's payload (README, "state")."""
        door = self.door.state()
        with self._lock:
            counters = {k: self.stats.counters[k] for k in STATE_COUNTERS}
        return {
            "gate": door["gate"],
            "mode": door["mode"],
            "last_decision": self.last_decision,
            "faults": door["faults"],
            "camera_fault": self.supervisor.fault if "camera" in door["faults"] else None,
            "mqtt_fault": self.output_faults.get("mqtt"),
            "counters": counters,
            "model": self.model_info,
            "ts": utc_now_iso(),
        }

    def _publish_state(self) -> None:
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
        if self._closed:
            self.door.close()
            return
        self._closed = True
        try:
            self.door.close()  # and from now on it grants no opening (a late button press or command)
            self.notifier.stopping()
            self._publish_state()
        finally:
            if self.overlap is not None:
                self.overlap.close()
            self.parts.close()  # outputs, camera, button, light, relay

    shutdown = close  # the older name (tools/eval/soak.py)

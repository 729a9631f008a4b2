"""The `sound` output: a short prompt per outcome, played by an external WAV player in the background.

Why a player process (default `aplay -q`) rather than a Python audio library: it needs nothing on the
Pi beyond alsa-utils, and `subprocess.Popen` returns as soon as the player is started, so the frame loop
never waits for a sound. One prompt plays at a time: a new one stops the one still playing, because the
visitor must hear the newest verdict, not a queue of old ones. A player that cannot be started or that
fails (no sound card, a wrong device) is logged once and counted; it is never a fault of the kiosk, whose
gate and screen work without sound.

The outcomes are the visitor screen's views (kiosk/web/screen.py), so the sound and the screen always
agree: open, no_mask, incorrect, covered, and fault (out of service: a camera or model fault, the locked
mode, or a deny while locked).
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
import wave
from pathlib import Path
from typing import Any

from ..assets import SOUNDS_DIR
from ..config import Config
from ..errors import KioskError
from ..web.screen import base_view, decision_view

log = logging.getLogger("kiosk.sound")

BUNDLED = SOUNDS_DIR
OUTCOMES = ("open", "no_mask", "incorrect", "covered", "fault")
STOP_WAIT_S = 0.5  # on close: how long a stopped player may take to exit before it is killed


class SoundOutput:
    """Plays `[sound]`'s WAV file for each decision and for the kiosk going out of service."""

    name = "sound"

    def __init__(self, cfg: Config) -> None:
        s = cfg.sound
        try:
            self.player = shlex.split(s.player)
        except ValueError as exc:
            raise KioskError(f"config key 'sound.player': {exc}") from None
        if not self.player:
            raise KioskError("config key 'sound.player': empty (a command such as 'aplay -q')")
        folder = cfg.resolve(s.dir) if s.dir else BUNDLED
        self.files: dict[str, Path] = {}
        for outcome in OUTCOMES:
            name = getattr(s, outcome)
            if name:  # empty: this outcome stays silent
                self.files[outcome] = _checked_wav(folder / Path(name).expanduser(), f"sound.{outcome}")
        self._lock = threading.Lock()  # events come from the frame loop, the button's and MQTT's threads
        self._playing: subprocess.Popen | None = None
        self._stopping: list[subprocess.Popen] = []  # stopped by a newer prompt, reaped later
        self._view: str | None = None  # the last state's view, so "fault" plays once per outage
        self._counts = {"played": 0, "replaced": 0, "failed": 0}
        self._warned = False
        self._closed = False

    # -- Publisher -----------------------------------------------------------------------------
    def start(self) -> None:
        pass

    def subscribe(self, on_command) -> None:  # noqa: ANN001 - no commands come in through a speaker
        pass

    def publish_event(self, event: dict[str, Any]) -> None:
        self.play(decision_view(event))

    def publish_state(self, state: dict[str, Any]) -> None:
        view = base_view(state)
        with self._lock:
            went_out = view == "fault" and self._view != "fault"
            self._view = view
        if went_out:
            self.play("fault")

    def publish_stats(self, stats: dict[str, Any]) -> None:
        pass

    def publish_command_result(self, result: dict[str, Any]) -> None:
        pass

    def health(self, now: float | None = None) -> str | None:
        with self._lock:
            self._reap()
        return None  # sound is a courtesy: the gate and the screen work without it

    def status(self) -> dict[str, Any]:
        with self._lock:
            self._reap()
            return {**self._counts, "playing": self._playing is not None}

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            procs = [p for p in [self._playing, *self._stopping] if p is not None]
            self._playing, self._stopping = None, []
        for p in procs:
            _stop(p)
        for p in procs:
            try:
                p.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def __enter__(self) -> "SoundOutput":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- playing -------------------------------------------------------------------------------
    def play(self, outcome: str) -> bool:
        """Start the prompt for `outcome` in the background; False when it is silent or failed to start."""
        path = self.files.get(outcome)
        if path is None:
            return False
        with self._lock:
            if self._closed:
                return False
            self._reap()
            if self._playing is not None:
                _stop(self._playing)  # SIGTERM only: reaped later, never waited for here
                self._stopping.append(self._playing)
                self._playing = None
                self._counts["replaced"] += 1
            try:
                self._playing = subprocess.Popen([*self.player, str(path)], stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                 close_fds=True, start_new_session=True)
            except OSError as exc:
                self._failed(f"cannot start {self.player[0]!r}: {exc.strerror or exc}")
                return False
            self._counts["played"] += 1
            return True

    def _reap(self) -> None:  # with self._lock held
        if self._playing is not None and (code := self._playing.poll()) is not None:
            if code != 0:
                self._failed(f"{shlex.join(self._playing.args[:-1])} exited with status {code}")
            self._playing = None
        self._stopping = [p for p in self._stopping if p.poll() is None]

    def _failed(self, why: str) -> None:  # with self._lock held
        self._counts["failed"] += 1
        if not self._warned:  # once: a kiosk without a sound card must not fill the journal
            self._warned = True
            log.warning("sound: %s (further failures are only counted in stats, sound.failed)", why)


def _stop(p: subprocess.Popen) -> None:
    try:
        p.terminate()
    except OSError:
        pass


def _checked_wav(path: Path, key: str) -> Path:
    """The file, refused at start with the key's name unless it is a readable PCM WAV file."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getnframes() == 0:
                raise KioskError(f"config key '{key}': {path}: no audio in it")
    except FileNotFoundError:
        raise KioskError(f"config key '{key}': {path}: not found") from None
    except (wave.Error, EOFError) as exc:
        raise KioskError(f"config key '{key}': {path}: not a PCM WAV file ({exc})") from None
    except OSError as exc:
        raise KioskError(f"config key '{key}': {path}: {exc.strerror or exc}") from None
    return path

"""The sound output (kiosk/door/sound.py, issue 13): the bundled prompts as tools/demo/make_sounds.py makes them,
played on a real ALSA null device (alsa-utils' aplay; .ci/run installs it), the player's command line per
outcome, a slow player that never blocks the frame loop and never plays two at once, a broken player
logged once and never fatal, and the daemon on the demo clip with sound on."""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import time
import wave
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

import kiosk.door.sound as kiosk_sound
from kiosk.config import Config, from_dict
from kiosk.door.sound import BUNDLED, OUTCOMES, SoundOutput
from kiosk.errors import KioskError
from kiosk.parts import build_outputs
from kiosk.pipeline import Kiosk
from kiosk.web.screen import decision_view
from tests.conftest import DEMO_CLIP, recorded_config
from tests.webclient import wait_until
from tools.demo import make_sounds

MODEL = {"name": "mask_classifier", "sha256": "ab" * 32}


def recorder(tmp_path: Path, sleep_s: float = 0.0) -> tuple[str, Path]:
    """A player command that appends its pid and arguments to a log as one JSON line, then sleeps."""
    log = tmp_path / "played.jsonl"
    script = tmp_path / "player.py"
    script.write_text("import json, os, sys, time\n"
                      f"with open({str(log)!r}, 'a') as f:\n"
                      "    f.write(json.dumps({'pid': os.getpid(), 'argv': sys.argv[1:]}) + '\\n')\n"
                      f"time.sleep({sleep_s})\n")
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} --device test", log


def played(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def sound_cfg(tmp_path: Path, player: str, **keys) -> Config:
    cfg = Config()
    cfg.kiosk.state_dir = str(tmp_path / "state")
    cfg.mqtt.enabled = False
    cfg.sound.enabled = True
    cfg.sound.player = player
    for k, v in keys.items():
        setattr(cfg.sound, k, v)
    return cfg


def event(decision: str, reason: str) -> dict:
    return {"id": "x", "decision": decision, "reason": reason}


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


# -- the prompts -----------------------------------------------------------------------------------
def test_the_bundled_prompts_are_what_tools_make_sounds_makes(tmp_path):
    make_sounds.main(["--out", str(tmp_path)])
    for outcome in OUTCOMES:
        ours, theirs = BUNDLED / f"{outcome}.wav", tmp_path / f"{outcome}.wav"
        assert ours.stat().st_size < 64 * 1024, outcome
        with wave.open(str(ours)) as a, wave.open(str(theirs)) as b:
            assert (a.getnchannels(), a.getsampwidth(), a.getframerate()) == (1, 2, make_sounds.RATE)
            assert a.getnframes() / a.getframerate() <= 1.3, outcome
            x = np.frombuffer(a.readframes(a.getnframes()), "<i2").astype(int)
            y = np.frombuffer(b.readframes(b.getnframes()), "<i2").astype(int)
        # the same samples; a last-bit difference from another numpy's sin() is no change
        assert x.shape == y.shape and np.abs(x - y).max() <= 1, outcome
        assert np.abs(x).max() > 10000  # audible, not silence


def test_every_prompt_plays_on_a_real_alsa_null_device(tmp_path):
    if shutil.which("aplay") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("aplay is not installed (.ci/run installs alsa-utils)")
        pytest.skip("aplay is not installed (apt-get install alsa-utils)")
    with SoundOutput(sound_cfg(tmp_path, "aplay -q -D null")) as out:
        for outcome in OUTCOMES:
            assert out.play(outcome)
            wait_until(lambda: not out.status()["playing"], timeout=10)  # aplay plays in real time
        status = out.status()
    assert status == {"played": 5, "replaced": 0, "failed": 0, "playing": False}


# -- what is played when ---------------------------------------------------------------------------
def test_the_player_gets_each_outcomes_file_as_its_last_argument(tmp_path):
    player, log = recorder(tmp_path)
    shutil.copyfile(BUNDLED / "fault.wav", tmp_path / "f.wav")
    with SoundOutput(sound_cfg(tmp_path, player, covered="", fault=str(tmp_path / "f.wav"))) as out:
        sequence = [event("open", "mask"), event("deny", "no_mask"), event("deny", "incorrect"),
                    event("deny", "covered"), event("deny", "locked"), event("open", "manual")]
        for e in sequence:
            n = len(played(log))
            if out.publish_event(e) or decision_view(e) != "covered":
                wait_until(lambda: len(played(log)) > n)  # each its own prompt, not replaced by the next
        out.publish_state({"faults": ["camera"]})  # out of service: the fault prompt, once
        wait_until(lambda: len(played(log)) == 6)
        out.publish_state({"faults": ["camera", "mqtt"]})
        out.publish_state({"faults": [], "mode": "auto"})
        out.publish_state({"faults": ["mqtt"]})  # an output's fault is no outage for the visitor
        wait_until(lambda: len(played(log)) >= 6 and not out.status()["playing"])
    argv = [p["argv"] for p in played(log)]
    assert all(a[:2] == ["--device", "test"] and len(a) == 3 for a in argv)
    files = [a[2] for a in argv]
    want = [str(BUNDLED / "open.wav"), str(BUNDLED / "no_mask.wav"), str(BUNDLED / "incorrect.wav"),
            str(tmp_path / "f.wav"), str(BUNDLED / "open.wav"), str(tmp_path / "f.wav")]  # covered: silent
    assert files == want
    assert [decision_view(e) for e in sequence] == ["open", "no_mask", "incorrect", "covered", "fault", "open"]


def test_a_slow_player_never_blocks_and_only_the_newest_plays(tmp_path):
    player, log = recorder(tmp_path, sleep_s=30)
    out = SoundOutput(sound_cfg(tmp_path, player))
    took = []
    for e in (event("deny", "no_mask"), event("open", "mask")):
        t0 = time.perf_counter()
        out.publish_event(e)
        took.append(time.perf_counter() - t0)
        wait_until(lambda: len(played(log)) == len(took))
    first, second = played(log)
    assert max(took) < 0.2, took  # Popen returns once the player is started; its 30 s are its own
    wait_until(lambda: not running(first["pid"]))  # the deny's prompt stopped for the opening's
    out.health()  # reaps it
    assert running(second["pid"]) and out.status() == {"played": 2, "replaced": 1, "failed": 0, "playing": True}
    t0 = time.monotonic()
    out.close()
    assert time.monotonic() - t0 < 2 and not running(second["pid"])
    out.close()  # again: a no-op


def test_a_broken_player_is_logged_once_and_never_fatal(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="kiosk.sound")
    with SoundOutput(sound_cfg(tmp_path, str(tmp_path / "no-such-player"))) as out:
        assert not out.play("open") and not out.play("no_mask") and not out.play("fault")
        assert out.health() is None and out.status()["failed"] == 3
    with SoundOutput(sound_cfg(tmp_path, "false")) as out:  # starts, then fails (a missing sound card)
        for _ in range(3):
            assert out.play("open")
            wait_until(lambda: not out.status()["playing"])
        assert out.health() is None and out.status()["failed"] == 3
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings  # one per output, not one per prompt
    assert "cannot start" in warnings[0] and "exited with status 1" in warnings[1]


def test_sound_config_is_checked_with_the_keys_name(tmp_path):
    assert Config().sound.enabled is False  # off by default
    with pytest.raises(KioskError, match=r"^config key 'sound.player': empty"):
        from_dict({"sound": {"enabled": True, "player": "  "}})
    with pytest.raises(KioskError, match=r"^config key 'sound.player': No closing quotation"):
        from_dict({"sound": {"enabled": True, "player": "aplay '-q"}})
    with pytest.raises(KioskError, match=r"^config key 'sound.open': expected str"):
        from_dict({"sound": {"open": 3}})
    cfg = sound_cfg(tmp_path, "aplay -q", dir=str(tmp_path))
    with ExitStack() as stack, pytest.raises(KioskError, match=r"^config key 'sound.open': .*open.wav: not found$"):
        build_outputs(cfg, MODEL, stack)
    (tmp_path / "open.wav").write_bytes(b"RIFF junk")
    with pytest.raises(KioskError, match=r"^config key 'sound.open': .*not a PCM WAV file"):
        SoundOutput(cfg)
    cfg = sound_cfg(tmp_path, "aplay -q", open="", no_mask="", incorrect="", covered="", fault="")
    with ExitStack() as stack:
        [out] = build_outputs(cfg, MODEL, stack)
        assert out.name == "sound" and not out.play("open")  # every outcome silent: allowed


# -- the daemon ------------------------------------------------------------------------------------
def test_the_daemon_with_a_slow_player_decides_as_without_sound(tmp_path, monkeypatch):
    player, log = recorder(tmp_path, sleep_s=5)
    cfg = recorded_config(tmp_path, DEMO_CLIP, 10.0)
    cfg.camera.realtime = False
    cfg.sound.enabled, cfg.sound.player = True, player
    kiosk = Kiosk(cfg, pin_factory=MockFactory(pin_class=MockPWMPin))
    sound = next(o for o in kiosk.outputs if o.name == "sound")
    took: list[float] = []
    handed = sound.publish_event

    def timed(e):  # noqa: ANN001, ANN202
        t0 = time.perf_counter()
        handed(e)
        took.append(time.perf_counter() - t0)

    sound.publish_event = timed
    started: list[subprocess.Popen] = []
    real = subprocess.Popen

    def popen(*a, **kw):  # noqa: ANN002, ANN003, ANN202 - the real Popen, remembered
        started.append(real(*a, **kw))
        return started[-1]

    monkeypatch.setattr(kiosk_sound.subprocess, "Popen", popen)
    summary = kiosk.run(max_seconds=120)
    assert summary.exit_reason == "end of stream" and summary.decided >= 2
    assert max(took) < 0.2, took  # each decision's prompt started, none waited for
    assert [Path(p.args[-1]).stem for p in started] == [decision_view(e) for e in summary.decisions]
    assert all(p.args[:-1] == shlex.split(player) for p in started)
    assert all(p.poll() is not None for p in started)  # closed with the kiosk: no player left behind

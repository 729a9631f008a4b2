"""The kiosk's parts are built all or nothing (kiosk/parts.py, issue 16): a start that fails part-way
gives back every GPIO pin it had claimed and closes every file it had opened."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gpiozero import OutputDevice

from kiosk.errors import KioskError
from kiosk.parts import build_parts
from kiosk.pipeline import Kiosk
from tests.test_pipeline import demo_cfg

PINS = {"relay_pin": 17, "led_red_pin": 22, "led_green_pin": 27, "buzzer_pin": 23, "button_pin": 26}


def open_files_under(folder: Path) -> list[str]:
    """This process's open file descriptors on files in `folder` (the outbox and its WAL/shm files)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith(str(folder)):
            found.append(target)
    return found


def every_part_cfg(tmp_path: Path):
    cfg = demo_cfg(1883, tmp_path)  # MQTT on: an outbox file; nothing connects before run()
    for key, pin in PINS.items():
        setattr(cfg.gpio, key, pin)
    return cfg


def assert_all_released(factory, state: Path) -> None:
    for pin in PINS.values():  # each pin can be claimed again (gpiozero raises PinInUse otherwise)
        OutputDevice(pin, pin_factory=factory).close()
    assert (state / "outbox.sqlite").is_file()  # it was opened before the failure ...
    assert open_files_under(state) == []  # ... and closed after it


@pytest.mark.parametrize("broken, message", [
    ("ca_file", "config key 'mqtt.ca_file': file not found"),
    ("password_file", "config key 'mqtt.password_file': cannot read"),
    ("commands.secret_file", "config key 'commands.secret_file': cannot read"),
    ("short secret", "config key 'commands.secret_file': .*16"),
])
@pytest.mark.parametrize("build", ["Kiosk", "build_parts"])
def test_a_failed_start_leaves_no_pin_claimed_and_no_file_open(factory, tmp_path, broken, message, build):
    cfg = every_part_cfg(tmp_path)
    if broken == "ca_file":
        cfg.mqtt.tls = True
        cfg.mqtt.ca_file = str(tmp_path / "missing-ca.pem")
    elif broken == "password_file":
        cfg.mqtt.username = "kiosk"
        cfg.mqtt.password_file = str(tmp_path / "missing-password")
    else:
        cfg.commands.enabled = True
        cfg.commands.secret_file = str(tmp_path / "secret")
        if broken == "short secret":
            (tmp_path / "secret").write_text("short")
    with pytest.raises(KioskError, match=message):
        if build == "Kiosk":
            Kiosk(cfg, pin_factory=factory)
        else:
            build_parts(cfg, pin_factory=factory)
    assert_all_released(factory, tmp_path / "state")


def test_built_parts_are_released_by_the_kiosk_once(factory, tmp_path):
    cfg = every_part_cfg(tmp_path)
    parts = build_parts(cfg, pin_factory=factory)
    with pytest.raises(KioskError, match="cannot claim relay pin GPIO17"):  # held by the parts now
        build_parts(cfg, pin_factory=factory)
    assert open_files_under(tmp_path / "state") != []
    kiosk = Kiosk(cfg, parts)
    kiosk.close()
    assert kiosk.closed and parts.outputs[0].closed
    kiosk.close()  # again: a no-op
    parts.close()
    assert_all_released(factory, tmp_path / "state")


def test_parts_and_replacements_together_are_refused(factory, tmp_path):
    parts = build_parts(demo_cfg(None, tmp_path), pin_factory=factory)
    with pytest.raises(TypeError):
        Kiosk(demo_cfg(None, tmp_path), parts, pin_factory=factory)
    OutputDevice(17, pin_factory=factory).close()  # the refused parts were released


def test_the_web_server_loads_only_when_the_web_output_is_on():
    """A kiosk without `[web] enabled` does not carry http.server and the pages (~0.8 MiB resident here)."""
    import subprocess
    import sys

    probe = ("import sys, kiosk.pipeline, kiosk.door.sound; "
             "print('kiosk.web.server' in sys.modules, 'http.server' in sys.modules); "
             "from kiosk.web import WebOutput; print('kiosk.web.server' in sys.modules, WebOutput.__name__)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1], check=True).stdout.split()
    assert out == ["False", "False", "True", "WebOutput"]

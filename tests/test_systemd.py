"""The unit file, checked by systemd's own tools."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

UNIT = ROOT / "systemd" / "kiosk.service"
PREFIX = "/opt/maskgate"


def analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if not tool:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze missing (.ci/run installs systemd)")
        pytest.skip("systemd-analyze not installed")
    return tool


def installed_copy(tmp_path, text: str | None = None):
    """The unit as installed, with /opt/maskgate pointing at a prefix whose venv python exists:
    `verify` checks that ExecStart's binary is there, nothing else is changed."""
    prefix = tmp_path / "prefix"
    (prefix / ".venv" / "bin").mkdir(parents=True)
    (prefix / ".venv" / "bin" / "python").symlink_to(sys.executable)
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    dst = unit_dir / "kiosk.service"
    dst.write_text((text or UNIT.read_text()).replace(PREFIX, str(prefix)))
    return dst


def verify(path) -> str:
    r = subprocess.run([analyze(), "verify", str(path)], capture_output=True, text=True, timeout=60)
    return (r.stdout + r.stderr).strip()


def test_unit_verifies_silently(tmp_path):
    assert verify(installed_copy(tmp_path)) == ""


def test_verify_catches_a_typo(tmp_path):
    """Negative control: the check above can fail (verify exits 0 on typos, so output is what counts)."""
    bad = UNIT.read_text().replace("Type=notify", "Type=notfy")
    assert "notfy" in verify(installed_copy(tmp_path, bad))


def test_unit_contract():
    text = UNIT.read_text()
    keys = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
    assert keys["Type"] == "notify"
    assert keys["Restart"] == "on-failure"
    assert int(keys["WatchdogSec"]) > 0
    assert keys["User"] == "maskgate" and set(keys["SupplementaryGroups"].split()) == {"gpio", "video"}
    assert keys["NoNewPrivileges"] == "yes" and keys["ProtectSystem"] == "strict"
    assert keys["ProtectHome"] == "yes" and keys["PrivateTmp"] == "yes"
    assert keys["StateDirectory"] == "maskgate"
    assert "-m kiosk run --config" in keys["ExecStart"]
    # issue 17's hardening (the boot test runs the models under it): no mount changes, no @resources
    assert keys["PrivateMounts"] == "yes"
    denied = [v for k, v in re.findall(r"^(SystemCallFilter)=~(.*)$", text, re.M)]
    assert any("@resources" in d.split() for d in denied)


def test_security_exposure(tmp_path):
    r = subprocess.run([analyze(), "security", "--offline=yes", str(installed_copy(tmp_path))],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for kiosk.service: ([0-9.]+)", r.stdout + r.stderr)
    assert m, r.stdout[-500:] + r.stderr[-500:]
    assert float(m.group(1)) <= 1.5  # 1.8 before issue 17

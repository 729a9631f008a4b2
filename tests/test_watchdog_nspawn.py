"""The systemd watchdog, for real: boot systemd in systemd-nspawn with the project's unit, check that the
service is active only after READY=1, then stall the frame loop (test-only fault injection) and watch
systemd kill it for the watchdog and restart it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.waiting import wait_until

UNIT = ROOT / "systemd" / "kiosk.service"


def nspawn_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not shutil.which("systemd-nspawn"):
        return "systemd-nspawn not installed (apt-get install systemd-container)"
    if not Path("/usr/lib/systemd/systemd").exists() and not Path("/lib/systemd/systemd").exists():
        return "no systemd binary to boot"
    return None


def descendants_named(pid: int, name: str) -> list[int]:
    out = []
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for k in map(int, kids):
        try:
            comm = Path(f"/proc/{k}/comm").read_text().strip()
        except OSError:
            continue
        if comm == name:
            out.append(k)
        out += descendants_named(k, name)
    return out


class Container:
    def __init__(self, units: Path, binds: list[str], log: Path) -> None:
        cmd = ["systemd-nspawn", "-D", "/", "--volatile=yes", "--boot", "--private-network", "--register=no",
               "--keep-unit", f"--bind-ro={units}:/etc/systemd/system"]
        cmd += [f"--bind-ro={b}" for b in binds]
        cmd += ["--", "--unit=multi-user.target", "systemd.firstboot=off"]
        self.proc = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.leader = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.leader is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited {self.proc.returncode}: {log.read_text()[-800:]}")
            found = descendants_named(self.proc.pid, "systemd")
            self.leader = found[0] if found else None
            time.sleep(0.2)
        if self.leader is None:
            raise RuntimeError("container did not boot")

    def sh(self, *args: str) -> str:
        r = subprocess.run(["nsenter", "-t", str(self.leader), "-m", "-u", "-i", "-n", "-p", *args],
                           capture_output=True, text=True, timeout=30)
        return r.stdout

    def show(self, unit: str) -> dict[str, str]:
        out = self.sh("systemctl", "show", unit, "-p", "ActiveState,SubState,StatusText,NRestarts,MainPID,Result")
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def test_ready_then_watchdog_kills_and_restarts_a_stalled_loop(tmp_path):
    why = nspawn_unavailable()
    if why:
        pytest.skip(f"systemd-nspawn cannot run here: {why}")
    units = tmp_path / "units"
    (units / "multi-user.target.wants").mkdir(parents=True)
    (units / "kiosk.service.d").mkdir()
    shutil.copy(UNIT, units / "kiosk.service")  # the project's unit, unchanged
    (units / "multi-user.target.wants" / "kiosk.service").symlink_to("../kiosk.service")
    # The project is bound where the unit expects it (/opt/maskgate, with its .venv) and the config
    # where the unit reads it (/etc/maskgate/config.toml), so ExecStart runs exactly as shipped.
    etc = tmp_path / "etc-maskgate"
    etc.mkdir()
    (etc / "config.toml").write_text('[camera]\nsource = "demo"\non_end = "reopen"\n[gpio]\nbackend = "mock"\n'
                                     '[mqtt]\nenabled = false\n' + os.environ.get("MASKGATE_TEST_EXTRA_CONFIG", ""))
    base = Path(sys.base_prefix).resolve()
    python_in_home = base.is_relative_to("/root") or base.is_relative_to("/home")
    # The drop-in adapts only what this test machine lacks: the maskgate user and the gpio/video
    # groups, and (where the interpreter lives under /root, as with pyenv) ProtectHome. Type=notify,
    # ExecStart, the rest of the hardening and Restart=on-failure are the project's unit as shipped;
    # WatchdogSec is shortened to keep the test short.
    (units / "kiosk.service.d" / "test.conf").write_text(f"""[Service]
User=root
Group=root
SupplementaryGroups=
{"ProtectHome=no" if python_in_home else ""}
WatchdogSec=3
RestartSec=1
Environment=MASKGATE_TEST_STALL_AFTER=5
""")
    binds = [f"{ROOT}:/opt/maskgate", f"{etc}:/etc/maskgate", str(base)]
    box = Container(units, binds, tmp_path / "nspawn.log")
    try:
        try:
            first = wait_until(lambda: (s := box.show("kiosk")) and s.get("ActiveState") == "active" and s, 60,
                               "the service to become active", poll=0.3)
        except AssertionError:
            raise AssertionError("service never active; journal:\n" + box.sh(
                "journalctl", "-u", "kiosk", "--no-pager", "-o", "cat")[-3000:]) from None
        assert first["StatusText"].startswith("watching opencv:"), first  # sent with READY=1
        assert first["NRestarts"] == "0"
        pid1 = first["MainPID"]
        restarted = wait_until(lambda: (s := box.show("kiosk")) and s.get("NRestarts", "0") != "0"
                         and s.get("ActiveState") == "active" and s, 60, "a watchdog restart",
                               poll=0.3)
        journal = box.sh("journalctl", "-u", "kiosk", "--no-pager", "-o", "cat")
        assert "Watchdog timeout" in journal, journal[-2000:]
        assert "test fault injection: frame loop stalls now" in journal
        assert restarted["MainPID"] != pid1
        # Type=notify: systemd logged "Started" only after the daemon had its camera (READY=1 follows it)
        lines = journal.splitlines()
        started = next(i for i, l in enumerate(lines) if l.startswith("Started "))
        camera = next(i for i, l in enumerate(lines) if "camera: opencv:" in l and " open" in l)
        assert camera < started
    finally:
        box.stop()

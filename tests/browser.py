"""A real headless Chromium (Debian's package), driven over its DevTools pipe (--remote-debugging-pipe):
load a page, evaluate JavaScript in it, take a screenshot. No WebDriver, no extra Python package."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest


def chromium_path() -> str:
    """Chromium's path; a skip without it, a failure under CI=true (.ci/run installs it)."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed (.ci/run installs it with apt)")
    pytest.skip("chromium not installed (apt-get install chromium)")


class Browser:
    """One headless Chromium with one page, closed with the context."""

    def __init__(self, width: int = 1280, height: int = 720) -> None:
        self.profile = tempfile.mkdtemp(prefix="maskgate-chromium-")
        r_ours, w_theirs = os.pipe()  # Chromium writes replies on its fd 4
        r_theirs, w_ours = os.pipe()  # and reads commands on its fd 3
        # above 10 first, so that placing them on 3 and 4 in the child cannot overwrite one with the other
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (r_theirs, w_theirs)]
        os.close(r_theirs)
        os.close(w_theirs)
        r_theirs, w_theirs = high
        self.proc = subprocess.Popen(
            [chromium_path(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
             f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "--hide-scrollbars",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(3, 4), preexec_fn=lambda: (os.dup2(r_theirs, 3), os.dup2(w_theirs, 4)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(r_theirs)
        os.close(w_theirs)
        self._in = os.fdopen(r_ours, "rb", buffering=0)
        self._out = os.fdopen(w_ours, "wb", buffering=0)
        self._buf = b""
        self._id = 0
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        # --window-size sizes the window, and headless Chromium keeps part of it for its (invisible)
        # window frame: 800x480 gave an 800x393 page. The page itself is what a kiosk screen shows.
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False}, session=self.session)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self._out.write(json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" not in self._buf:
                chunk = self._in.read(1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed its pipe")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
        raise TimeoutError(method)

    def goto(self, url: str) -> None:
        self.call("Page.enable", session=self.session)
        self.call("Page.navigate", {"url": url}, session=self.session)

    def eval(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                           session=self.session)
        return result["result"].get("value")

    def capture(self) -> bytes:
        """The page as it is drawn now, PNG."""
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=self.session)["data"]
        return base64.b64decode(data)

    def screenshot(self, path) -> None:  # noqa: ANN001
        path.write_bytes(self.capture())

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._in.close()
        self._out.close()
        shutil.rmtree(self.profile, ignore_errors=True)

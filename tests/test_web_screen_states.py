"""Honest screens (issue 34, items 1 and 2) in a real headless Chromium.

Item 1: the real daemon (`python -m kiosk run`, its own process) serves the page; frozen (SIGSTOP: its
connections stay open, only the missing beat tells) and then killed (SIGKILL), the page must say it is
out of order within 3 s, and come back by itself when the kiosk does, on the same port.
Item 2: the page asks a visitor to step closer, says it is checking, and shows a decision for its
whole hold while what the camera sees changes beneath it; on_frame is driven as the frame loop would.

MASKGATE_SCREENSHOTS=docs writes docs/screen-closer.png, screen-checking.png and screen-offline.png."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from kiosk.messages.broker import free_port
from kiosk.web import WebOutput, screen
from kiosk.web.screen import TEXTS
from tests.browser import Browser, chromium_path
from tests.conftest import DEMO_CLIP
from tests.test_web import MODEL, event
from tests.test_web_browser import (
    ROOT,
    SIZE,
    assert_screenshot,
    shoot,
    shots_dir,
    shown,
)
from tests.test_web_presence import AT_GATE, FRAME, SMALL, zoned_cfg
from tests.webclient import get, wait_until

OFFLINE_WITHIN_S = 3.0  # the bound, from the kiosk's end to the page saying so


def write_daemon_config(tmp_path, port: int):  # noqa: ANN201 - the config file's path
    path = tmp_path / "kiosk.toml"
    path.write_text(f"""
[kiosk]
id = "screen"
state_dir = "{tmp_path / 'state'}"
[camera]
source = "{DEMO_CLIP}"
fps = 5.0
on_end = "reopen"
[gpio]
backend = "mock"
[mqtt]
enabled = false
[web]
enabled = true
port = {port}
""")
    return path


def start_daemon(config, log) -> subprocess.Popen:  # noqa: ANN001
    return subprocess.Popen([sys.executable, "-m", "kiosk", "run", "--config", str(config)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT)


def serving(port: int) -> bool:
    try:
        return get(port, "/healthz", timeout=2)[0] in (200, 503)
    except OSError:
        return False


def wait_offline(browser: Browser, since: float) -> None:
    """The page says out of order within OFFLINE_WITHIN_S of `since` (polling the DOM)."""
    left = since + OFFLINE_WITHIN_S - time.monotonic()
    try:
        wait_until(lambda: shown(browser)[0] == "offline", timeout=max(left, 0.0), every=0.05)
    except AssertionError:
        raise AssertionError(f"still {shown(browser)} {OFFLINE_WITHIN_S} s after the kiosk went away") from None
    assert shown(browser) == ("offline", TEXTS["en"]["offline"])


def wait_back(browser: Browser, timeout: float) -> None:
    """The page shows the kiosk's own screen again, by itself (nothing here reloads it)."""
    view, text = wait_until(lambda: (s := shown(browser))[0] != "offline" and s, timeout=timeout)
    assert text == TEXTS["en"][view], (view, text)


def test_the_screen_says_out_of_order_when_the_kiosk_freezes_or_dies_and_recovers_by_itself(tmp_path):
    chromium_path()
    port = free_port()
    config = write_daemon_config(tmp_path, port)
    log = open(tmp_path / "daemon.log", "w")
    daemon = start_daemon(config, log)
    try:
        wait_until(lambda: serving(port), timeout=90)
        with Browser(*SIZE) as browser:
            browser.goto(f"http://127.0.0.1:{port}/")
            wait_until(lambda: browser.eval("document.readyState") == "complete", timeout=30)
            wait_back(browser, 10)
            loaded = browser.eval("performance.timeOrigin")

            daemon.send_signal(signal.SIGSTOP)  # frozen: the stream stays open and silent
            wait_offline(browser, time.monotonic())
            assert shoot(browser, "offline", shots_dir(tmp_path) / "screen-offline.png")
            daemon.send_signal(signal.SIGCONT)
            wait_back(browser, 20)

            daemon.kill()  # crashed: nothing cleans up, nothing says goodbye
            daemon.wait(10)
            wait_offline(browser, time.monotonic())
            # it stays so while nothing answers, past the point where the page opens a new stream
            end = time.monotonic() + screen.REOPEN_AFTER_MS / 1000 + 1.5
            while time.monotonic() < end:
                assert shown(browser)[0] == "offline"
                time.sleep(0.2)

            daemon = start_daemon(config, log)  # the same port, as systemd restarts it
            wait_back(browser, 90)
            assert browser.eval("performance.timeOrigin") == loaded  # recovered in place, not reloaded
    finally:
        daemon.send_signal(signal.SIGCONT)
        daemon.kill()
        daemon.wait(10)
        log.close()
    assert_screenshot(shots_dir(tmp_path) / "screen-offline.png", "offline")


def test_the_screen_asks_to_step_closer_says_checking_and_holds_a_decision_over_both(tmp_path):
    chromium_path()
    cfg = zoned_cfg(tmp_path)
    cfg.decision.deny_seconds = 2.0
    shots = shots_dir(tmp_path)
    faces: list = []
    stop = threading.Event()
    with WebOutput(cfg, MODEL) as out:
        out.start()
        out.publish_state({"gate": "closed", "mode": "auto", "faults": [], "model": MODEL})
        out.health()

        def frame_loop() -> None:
            while not stop.is_set():
                out.on_frame(FRAME, list(faces))
                time.sleep(0.05)

        loop = threading.Thread(target=frame_loop, daemon=True)
        with Browser(*SIZE) as browser:
            browser.goto(out.url)
            wait_until(lambda: browser.eval("document.readyState") == "complete", timeout=30)
            wait_until(lambda: shown(browser)[0] == "idle", timeout=10)
            loop.start()
            try:
                faces[:] = [SMALL]
                wait_until(lambda: shown(browser)[0] == "closer", timeout=5)
                assert shown(browser) == ("closer", "Please step closer")
                assert shoot(browser, "closer", shots / "screen-closer.png")
                faces[:] = [SMALL, AT_GATE]
                wait_until(lambda: shown(browser)[0] == "checking", timeout=5)
                assert shown(browser) == ("checking", "Checking...")
                assert shoot(browser, "checking", shots / "screen-checking.png")

                out.publish_event(event("deny", "incorrect"))
                at = time.monotonic()
                wait_until(lambda: shown(browser)[0] == "incorrect", timeout=5)
                assert shown(browser) == ("incorrect", "Please cover your nose")
                faces[:] = [SMALL]  # the visitor steps back: a state is pushed beneath the decision
                while time.monotonic() < at + cfg.decision.deny_seconds - 0.4:
                    assert shown(browser)[0] == "incorrect"
                    time.sleep(0.05)
                # then the screen says what the camera sees now, without another push
                wait_until(lambda: shown(browser)[0] == "closer", timeout=5)
            finally:
                stop.set()
                loop.join(5)
    assert_screenshot(shots / "screen-closer.png", "closer")
    assert_screenshot(shots / "screen-checking.png", "checking")

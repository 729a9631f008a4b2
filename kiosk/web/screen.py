"""The visitor screen: what it says for each outcome (built-in texts, overridable in [web]) and the page.

One static page, inline CSS and JS, no external resources: it opens /events/stream and shows each
decision for as long as the light does (decision.open_seconds / deny_seconds), then what the stream's
latest state says (idle, step closer, checking: presence.py; or out of service).

A kiosk that stopped or crashed sends nothing, and a page left alone would go on asking visitors to look
at a camera nobody watches. So the page keeps a watchdog: the server sends a beat at least every second
(server.py), and a page that has heard nothing for OFFLINE_AFTER_MS, or whose stream broke, says the gate
is out of order until the stream speaks again. EventSource reconnects by itself after a dropped
connection, but not after an answer that is not a stream (a 503 while the screens are full, a proxy's
error page), and never notices a connection that stays open but silent (a frozen process, a dead link):
the watchdog opens a new one then.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ..config import WebSection

VIEWS = ("idle", "closer", "checking", "open", "no_mask", "incorrect", "covered", "fault", "offline")

TEXTS: dict[str, dict[str, str]] = {
    "en": {"idle": "Please look at the camera", "closer": "Please step closer", "checking": "Checking...",
           "open": "Welcome", "no_mask": "Please wear a mask", "incorrect": "Please cover your nose",
           "covered": "That is not a mask", "fault": "Please ask staff",
           "offline": "Out of order - please ask staff"},
    "de": {"idle": "Bitte in die Kamera schauen", "closer": "Bitte treten Sie n\u00e4her",
           "checking": "Einen Moment...", "open": "Willkommen", "no_mask": "Bitte tragen Sie eine Maske",
           "incorrect": "Bitte bedecken Sie Ihre Nase", "covered": "Das ist keine Maske",
           "fault": "Bitte wenden Sie sich an das Personal",
           "offline": "Au\u00dfer Betrieb - bitte wenden Sie sich an das Personal"},
}

# The page's watchdog (module docstring): the server beats every second (server.KEEPALIVE_S), so two
# seconds of silence is a dead kiosk and not a late beat, and the out-of-order view comes within 3 s of
# the last one; after REOPEN_AFTER_MS of silence the page stops waiting on its stream and opens a new one.
OFFLINE_AFTER_MS = 2000
REOPEN_AFTER_MS = 5000

# Faults that put the gate out of service for a visitor; an output's fault (MQTT down) does not.
SERVICE_FAULTS = frozenset({"camera", "model"})


def texts(web: WebSection) -> dict[str, str]:
    """The texts of all views: the language's built-in ones, replaced by any set in the config."""
    table = dict(TEXTS[web.language])
    for view in VIEWS:
        custom = getattr(web, f"text_{view}")
        if custom:
            table[view] = custom
    return table


def decision_view(event: dict[str, Any]) -> str:
    """The screen for a decision: open, or the reason of a deny (locked: out of service)."""
    if event.get("decision") == "open":
        return "open"
    reason = event.get("reason")
    if reason in ("incorrect", "covered", "no_mask"):
        return reason
    return "fault" if reason == "locked" else "no_mask"


def base_view(state: dict[str, Any]) -> str:
    """The screen between decisions: out of service on a camera or model fault or in locked mode."""
    faults = set(state.get("faults") or ())
    return "fault" if faults & SERVICE_FAULTS or state.get("mode") == "locked" else "idle"


_PAGE = """<!doctype html>
<html lang="__LANG__"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>maskgate</title>
<style>
html, body { margin: 0; height: 100%; font-family: "DejaVu Sans", Arial, sans-serif; }
body { display: flex; align-items: center; justify-content: center; text-align: center;
       color: #fff; background: #1d2b3a; cursor: none; }
body[data-view=open] { background: #1b7f3a; }
body[data-view=no_mask], body[data-view=covered] { background: #b3261e; }
body[data-view=incorrect] { background: #b86e00; }
body[data-view=checking] { background: #1f4e79; }
body[data-view=fault], body[data-view=offline] { background: #4a4a4a; }
#prompt { font-size: 11vmin; font-weight: bold; line-height: 1.15; padding: 0 5vw; }
#conn { position: fixed; bottom: 1vmin; right: 2vmin; font-size: 2.5vmin; opacity: .6; }
</style></head>
<body data-view="__VIEW__"><div id="prompt">__TEXT__</div><div id="conn"></div>
<script>
"use strict";
const TEXTS = __TEXTS__;
const OFFLINE_AFTER_MS = __OFFLINE_AFTER_MS__, REOPEN_AFTER_MS = __REOPEN_AFTER_MS__, WATCH_MS = 200;
// `view` is what the kiosk asks for; `offline` overrides it until the stream speaks again.
let base = "__BASE__", view = "__VIEW__", timer = null, offline = false, es = null, opened = 0;
let heard = Date.now();
function render() {
  const v = offline ? "offline" : view;
  document.body.dataset.view = v;
  document.getElementById("prompt").textContent = TEXTS[v] || TEXTS.idle;
}
function show(v) { view = Object.prototype.hasOwnProperty.call(TEXTS, v) ? v : "idle"; render(); }
function back() { timer = null; show(base); }
function lost() { if (!offline) { offline = true; render(); } }
function onMessage(msg) {
  heard = Date.now();
  if (offline) { offline = false; render(); }
  let m; try { m = JSON.parse(msg.data); } catch (e) { return; }
  if (!m || typeof m !== "object") return;
  if (m.kind === "decision") {
    const hold = Math.min(Math.max(Number(m.hold_s) || 0, 0), 3600) * 1000;
    show(m.view);
    if (timer) clearTimeout(timer);
    timer = setTimeout(back, hold);
  } else if (m.kind === "state") {
    base = m.view;
    if (!timer) show(base);
  }
}
function connect() {
  if (es) es.close();
  const token = new URLSearchParams(location.search).get("token");
  es = new EventSource("events/stream" + (token ? "?token=" + encodeURIComponent(token) : ""));
  opened = Date.now();
  es.onmessage = onMessage;
  es.onopen = () => { document.getElementById("conn").textContent = ""; };
  es.onerror = () => { document.getElementById("conn").textContent = "\\u25cf"; lost(); };
}
function watch() {
  const now = Date.now();
  if (now - heard > OFFLINE_AFTER_MS) lost();
  if (es && (es.readyState === EventSource.CLOSED || now - heard > REOPEN_AFTER_MS) && now - opened > REOPEN_AFTER_MS) {
    connect();
  }
}
window.addEventListener("load", () => { heard = Date.now(); setTimeout(connect, 0); setInterval(watch, WATCH_MS); });
</script></body></html>
"""


def page(web: WebSection, view: str, base: str) -> str:
    """The visitor screen's HTML, showing `view` at first (`base` once that has passed)."""
    table = texts(web)
    script_json = json.dumps(table).replace("<", "\\u003c")  # no "</script>" from a configured text
    return (_PAGE.replace("__LANG__", web.language).replace("__VIEW__", view).replace("__BASE__", base)
            .replace("__OFFLINE_AFTER_MS__", str(OFFLINE_AFTER_MS))
            .replace("__REOPEN_AFTER_MS__", str(REOPEN_AFTER_MS))
            .replace("__TEXTS__", script_json).replace("__TEXT__", html.escape(table[view])))

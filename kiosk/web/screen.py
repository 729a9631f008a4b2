"""The visitor screen: what it says for each outcome (built-in texts, overridable in [web]) and the page.

One static page, inline CSS and JS, no external resources: it opens /events/stream and shows each
decision for as long as the light does (decision.open_seconds / deny_seconds), then the idle or
out-of-service text again.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ..config import WebSection

VIEWS = ("idle", "open", "no_mask", "incorrect", "covered", "fault")

TEXTS: dict[str, dict[str, str]] = {
    "en": {"idle": "Please look at the camera", "open": "Welcome", "no_mask": "Please wear a mask",
           "incorrect": "Please cover your nose", "covered": "That is not a mask", "fault": "Please ask staff"},
    "de": {"idle": "Bitte in die Kamera schauen", "open": "Willkommen", "no_mask": "Bitte tragen Sie eine Maske",
           "incorrect": "Bitte bedecken Sie Ihre Nase", "covered": "Das ist keine Maske",
           "fault": "Bitte wenden Sie sich an das Personal"},
}

# Faults that put the gate out of service for a visitor; an output's fault (MQTT down) does not.
SERVICE_FAULTS = frozenset({"camera", "model"})


def texts(web: WebSection) -> dict[str, str]:
    """The six texts: the language's built-in ones, replaced by any set in the config."""
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
body[data-view=fault] { background: #4a4a4a; }
#prompt { font-size: 11vmin; font-weight: bold; line-height: 1.15; padding: 0 5vw; }
#conn { position: fixed; bottom: 1vmin; right: 2vmin; font-size: 2.5vmin; opacity: .6; }
</style></head>
<body data-view="__VIEW__"><div id="prompt">__TEXT__</div><div id="conn"></div>
<script>
"use strict";
const TEXTS = __TEXTS__;
let base = "__BASE__", until = 0, timer = null;
function show(view) {
  document.body.dataset.view = view;
  document.getElementById("prompt").textContent = TEXTS[view] || TEXTS.idle;
}
function back() { timer = null; until = 0; show(base); }
function onMessage(msg) {
  let m; try { m = JSON.parse(msg.data); } catch (e) { return; }
  if (m.kind === "decision") {
    show(m.view);
    if (timer) clearTimeout(timer);
    until = Date.now() + m.hold_s * 1000;
    timer = setTimeout(back, m.hold_s * 1000);
  } else if (m.kind === "state") {
    base = m.view;
    if (!timer) show(base);
  }
}
function connect() {
  const token = new URLSearchParams(location.search).get("token");
  const es = new EventSource("events/stream" + (token ? "?token=" + encodeURIComponent(token) : ""));
  es.onmessage = onMessage;
  es.onopen = () => { document.getElementById("conn").textContent = ""; };
  es.onerror = () => { document.getElementById("conn").textContent = "\\u25cf"; };
}
window.addEventListener("load", () => setTimeout(connect, 0));
</script></body></html>
"""


def page(web: WebSection, view: str, base: str) -> str:
    """The visitor screen's HTML, showing `view` at first (`base` once that has passed)."""
    table = texts(web)
    script_json = json.dumps(table).replace("<", "\\u003c")  # no "</script>" from a configured text
    return (_PAGE.replace("__LANG__", web.language).replace("__VIEW__", view).replace("__BASE__", base)
            .replace("__TEXTS__", script_json).replace("__TEXT__", html.escape(table[view])))

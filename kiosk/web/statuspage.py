"""/status for a person: a small HTML page when the browser asks for one (its Accept header prefers
text/html, or ?format=html); machines keep the JSON (the default, or ?format=json).

Everything put into the page comes from payloads and configuration that a bad model file, a config
text or a future field could fill with markup, so every value goes through html.escape.
"""

from __future__ import annotations

import html
from typing import Any, Iterable
from urllib.parse import quote

from .. import __version__
from .metrics import quantiles


def wants_html(accept: str | None) -> bool:
    """Whether an Accept header prefers text/html to application/json (a browser's does; curl's `*/*`
    and a client that names JSON get JSON)."""
    best = {"html": -1.0, "json": -1.0}
    for part in (accept or "")[:1000].split(",")[:32]:  # a hostile header: bounded work
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if not 0.0 <= q <= 1.0:  # also NaN
            q = 0.0
        media = media.strip().lower()
        for kind, names in (("html", ("text/html", "text/*", "*/*")), ("json", ("application/json", "application/*",
                                                                                "*/*"))):
            if media in names and q > 0:  # q=0: "not acceptable"
                # an exact name counts before a wildcard of the same q
                best[kind] = max(best[kind], q + (0.0001 if media == names[0] else 0.0))
    return best["html"] > 0 and best["html"] > best["json"]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not started"
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    return (f"{days} d " if days else "") + f"{hours:02d}:{minutes:02d}:{s:02d}"


def _ms(value: Any) -> str:
    return f"{value:.1f} ms" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>maskgate {kiosk}: status</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:50em}}th{{text-align:left;padding-right:1.5em}}
td,th{{padding:.2em .5em .2em 0;vertical-align:top}}.bad{{color:#b00;font-weight:bold}}.ok{{color:#070}}
code{{word-break:break-all}}</style></head>
<body><h1>maskgate {kiosk}</h1>
<table>
{rows}
</table>
<p>{links}</p>
<p><small>For machines: <a href="{json}">this as JSON</a>.</small></p>
</body></html>
"""


def render(state: dict[str, Any], stats: dict[str, Any] | None, *, kiosk_id: str, uptime_s: float | None,
           decision_ms: Iterable[float], live: bool, token: str | None) -> str:
    """The page: `state` and `stats` as the kiosk published them, `decision_ms` the recent decisions'
    capture-to-decision latencies, `live` whether /live is served, `token` the ?token= the page was asked
    with (kept in its links, so that a browser without a Bearer header can follow them)."""
    e = html.escape
    state = state if isinstance(state, dict) else {}
    stats = stats if isinstance(stats, dict) else {}
    model = state.get("model") if isinstance(state.get("model"), dict) else {}
    faults = state.get("faults") if isinstance(state.get("faults"), list) else []
    why = {"camera": state.get("camera_fault"), "mqtt": state.get("mqtt_fault")}
    fault_text = ", ".join(f"{f}" + (f" ({why[f]})" if why.get(f) else "") for f in (str(x) for x in faults))
    fps = stats.get("fps")
    timed = quantiles(decision_ms)
    mqtt = stats.get("mqtt") if isinstance(stats.get("mqtt"), dict) else None
    stages = stats.get("latency_ms") if isinstance(stats.get("latency_ms"), dict) else {}
    stage_text = ", ".join(f"{name} {_ms(q.get('p50'))}" for name, q in stages.items() if isinstance(q, dict))
    rows = [
        ("version", __version__),
        ("model", f"{model.get('name', '?')}"),
        ("model sha256", model.get("sha256", "?")),
        ("uptime", _duration(uptime_s)),
        ("frames per second", f"{fps:.1f}" if isinstance(fps, (int, float)) and not isinstance(fps, bool) else "-"),
        ("capture to decision", f"p50 {_ms(timed['p50'])}, p95 {_ms(timed['p95'])} (last decisions)"
         if timed else "no decision yet"),
        ("stages (p50)", stage_text or "-"),
        ("gate", state.get("gate", "?")),
        ("mode", state.get("mode", "?")),
        ("faults", fault_text or "none"),
        ("outbox (events not yet delivered)", mqtt.get("outbox", "?") if mqtt is not None else "MQTT off"),
    ]
    cells = []
    for name, value in rows:
        cls = ' class="bad"' if name == "faults" and faults else (' class="ok"' if name == "faults" else "")
        text = f"<code>{e(str(value))}</code>" if name == "model sha256" else e(str(value))
        cells.append(f"<tr><th>{e(name)}</th><td{cls}>{text}</td></tr>")
    suffix = f"token={quote(token, safe='')}" if token else ""

    def link(path: str, extra: str = "") -> str:
        query = "&".join(q for q in (extra, suffix) if q)
        return e(path + ("?" + query if query else ""))

    paths = (["/live"] if live else []) + ["/metrics", "/events", "/events.csv", "/healthz", "/"]
    links = " &middot; ".join(f'<a href="{link(p)}">{e(p)}</a>' for p in paths)
    return _PAGE.format(kiosk=e(kiosk_id),
                        rows="\n".join(cells), links=links, json=link("/status", "format=json"))

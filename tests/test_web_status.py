"""/status: an HTML page for a browser, the JSON for machines (issue 34), with a real HTTP client against
the real server."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from kiosk import __version__
from kiosk.web import WebOutput
from kiosk.web.statuspage import wants_html
from tests.test_web import MODEL, TOKEN, web_cfg
from tests.webclient import get

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
EVIL = '<script>alert("x")</script>'


class Page(HTMLParser):
    """The page's links, its text, and every tag (so a smuggled <script> would show)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: list[str] = []
        self.text = ""
        self.feed(text)

    def handle_starttag(self, tag, attrs) -> None:  # noqa: ANN001
        self.tags.append(tag)
        if tag == "a":
            self.links.append(dict(attrs)["href"])

    def handle_data(self, data: str) -> None:
        self.text += data


@pytest.fixture
def server(tmp_path):
    cfg = web_cfg(tmp_path)
    cfg.kiosk.id = "door-1"
    out = WebOutput(cfg, {"name": "mask " + EVIL, "sha256": "ab" * 32})
    out.start()
    out.health()
    out.publish_state({"gate": "closed", "mode": "auto", "faults": ["camera"], "camera_fault": "lost " + EVIL,
                       "model": {"name": "mask " + EVIL, "sha256": "ab" * 32}, "counters": {"opened": 0}})
    out.publish_stats({"fps": 14.26, "latency_ms": {"detect": {"p50": 20.5, "p95": 31.0}},
                       "counters": {"frames": 9}, "mqtt": {"outbox": 4, "connected": True}})
    out.publish_event({"id": "e1", "decision": "deny", "reason": "no_mask", "faces": [], "latency_ms": 42.0})
    yield out
    out.close()


def test_a_browser_gets_an_html_page_with_what_an_installer_asks_first(server):
    code, headers, body = get(server.port, "/status", headers={"Accept": BROWSER})
    assert code == 200 and headers["Content-Type"].startswith("text/html") and headers["Vary"] == "Accept"
    page = Page(body.decode())
    assert "script" not in page.tags  # the model name and the fault reason came in escaped
    assert EVIL in page.text  # and are shown as text
    for shown in (__version__, "ab" * 32, "14.3", "42.0 ms", "camera (lost", "door-1"):
        assert shown in page.text, shown
    assert "outbox" in page.text and "4" in page.text and "uptime" in page.text
    assert {"/live", "/metrics", "/events"} <= set(page.links) and "/status?format=json" in page.links


def test_machines_keep_the_json(server):
    for headers in ({}, {"Accept": "*/*"}, {"Accept": "application/json"},
                    {"Accept": "text/html;q=0.5, application/json"}):
        code, got, body = get(server.port, "/status", headers=headers)
        assert code == 200 and got["Content-Type"] == "application/json", headers
        assert json.loads(body)["faults"] == ["camera"]
    code, got, body = get(server.port, "/status?format=json", headers={"Accept": BROWSER})
    assert got["Content-Type"] == "application/json" and json.loads(body)["gate"] == "closed"
    assert get(server.port, "/status?format=html")[1]["Content-Type"].startswith("text/html")


def test_the_page_keeps_a_query_token_in_its_links(tmp_path):
    with WebOutput(web_cfg(tmp_path), MODEL, token=TOKEN) as out:
        out.start()
        code, _, body = get(out.port, f"/status?token={TOKEN}", headers={"Accept": BROWSER})
        links = Page(body.decode()).links
        assert code == 200 and f"/metrics?token={TOKEN}" in links
        assert get(out.port, links[links.index(f"/metrics?token={TOKEN}")])[0] == 200
        assert get(out.port, "/status", headers={"Accept": BROWSER})[0] == 401  # the page is no way around it


@pytest.mark.parametrize("accept, html", [
    (BROWSER, True), ("text/html", True), ("*/*", False), ("", False), (None, False),
    ("application/json", False), ("text/html;q=0, */*", False), ("text/html;q=nan", False),
    ("text/html;q=abc, application/json;q=0.1", False), ("text/*", True), ("a," * 5000, False),
])
def test_accept_headers(accept, html):
    assert wants_html(accept) is html

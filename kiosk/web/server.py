"""The web output: a standard-library HTTP server on its own threads, fed by the frame loop.

The frame loop only stores the latest state and stats and appends to a short message list (no
I/O, no lock held for long), so a slow or hostile browser never slows a decision. Everything that
arrives is bounded: the request head is read whole, within HEAD_TIMEOUT_S and MAX_REQUEST bytes, before a
thread is spent on it (guard.py); GET/HEAD only, at most `max_connections` requests served at once
(`max_connections_per_client` per client address), `max_clients` event streams and `live_max_clients`
/live viewers; every handler's exception is caught and answered 500 while the server goes on
serving. /live (live.py) is the only path that serves camera images, to loopback clients only unless
`web.live_remote`.
"""

from __future__ import annotations

import hmac
import json
import logging
import select
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Sequence
from urllib.parse import parse_qs, urlsplit

from ..config import Config, is_loopback
from ..errors import KioskError
from ..vision.tracking import Zone
from . import live, metrics, presence, screen, statuspage
from .eventlog import EventLog
from .guard import MAX_REQUEST, SOCKET_TIMEOUT_S, Capped, GuardedServer, TooLarge

if TYPE_CHECKING:
    import numpy as np

    from ..door.decision import FaceVerdict

log = logging.getLogger("kiosk.web")

# A beat this often on a quiet stream: the page's watchdog takes its absence for a dead kiosk (screen.py),
# proxies keep the stream, and a screen that went away is noticed.
KEEPALIVE_S = 1.0
BEAT = b'data: {"kind":"beat"}\n\n'
STREAM_POLL_S = 1.0  # how often a quiet stream checks whether its screen has gone
# The frame loop calls health() about once a second; longer without a call: the loop is not running.
LOOP_STALE_S = 5.0
DRAIN_S, DRAIN_BYTES = 0.5, 1 << 20  # what is read of a request's unread rest before closing
MESSAGES_KEPT = 32  # the stream's recent messages, for a screen that fell a little behind
EVENTS_SHOWN = 200  # /events without ?limit=
DECISIONS_TIMED = 100  # recent decisions whose capture-to-decision latency /metrics and /status report


class _Handler(BaseHTTPRequestHandler):
    server: GuardedServer
    protocol_version = "HTTP/1.0"  # one request per connection: the cap and timeout are per request
    timeout = SOCKET_TIMEOUT_S
    server_version = "maskgate"
    sys_version = ""

    def __init__(self, request: socket.socket, client_address: tuple, server: GuardedServer, head: bytes) -> None:
        self._head = head  # read by the guard (guard.py): the request line and headers, complete
        super().__init__(request, client_address, server)

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self.rfile = Capped(self._head, MAX_REQUEST)

    def finish(self) -> None:
        super().finish()
        # Read (and drop) what the client still sends, briefly: closing on unread input resets the
        # connection, and the client would lose the answer (a 431 for a too-large request).
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(DRAIN_S)
            left = DRAIN_BYTES
            while left > 0 and (chunk := self.connection.recv(min(left, 65536))):
                left -= len(chunk)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("web: %s %s", self.address_string(), format % args)

    def handle_one_request(self) -> None:
        out = self.server.output
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST + 1)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():  # answers malformed requests (400, 431, 505) itself
                out.count("bad_requests")
                return
            out.count("requests")
            if self.request_version == "HTTP/0.9":
                self._error(400, "HTTP/0.9 is not served")
                return
            if self.command not in ("GET", "HEAD"):
                self._error(405, "only GET and HEAD")
                return
            out.route(self)
        except TooLarge as exc:
            out.count("bad_requests")
            self._error(431, str(exc))
        except (TimeoutError, ConnectionError, BrokenPipeError):
            self.close_connection = True
        except Exception as exc:  # a bug in a handler: answered, logged, and the server goes on
            out.count("errors")
            log.warning("web: %s %s failed: %s: %s", getattr(self, "command", "?"), getattr(self, "path", "?")[:200],
                        type(exc).__name__, exc)
            self._error(500, "internal error")
        finally:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        if getattr(self, "request_version", "") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # an answer always has a status line
        super().send_error(code, message, explain)

    def _error(self, code: int, message: str, extra: dict[str, str] | None = None) -> None:
        if getattr(self, "_headers_sent", False):
            return
        try:
            if not getattr(self, "request_version", None) or self.request_version == "HTTP/0.9":
                self.request_version = "HTTP/1.0"
            for attr in ("command", "requestline", "path"):  # a request line too long to parse has none
                if not hasattr(self, attr):
                    setattr(self, attr, "")
            self.send(code, json.dumps({"error": message}).encode(), "application/json", extra)
        except OSError:
            pass

    def send(self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self._headers_sent = True
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy",
                         "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class WebOutput:
    """The `web` output (kiosk/outputs.py): serves /, /status, /healthz, /metrics, /events,
    /events.csv, /events/stream and /live on [web] host:port."""

    name = "web"

    def __init__(self, cfg: Config, model_info: dict[str, str], token: str | None = None) -> None:
        w = cfg.web
        if not token and not is_loopback(w.host):  # config.py refuses this too; an output built by hand
            raise KioskError(f"config key 'web.token_file': required when web.host ({w.host}) is not a loopback address")
        if w.live_remote and not token:
            raise KioskError("config key 'web.live_remote': needs web.token_file (the live view shows faces)")
        self.cfg = cfg
        self.web = w
        self._token = token.encode() if token else None
        self._hold = {"open": cfg.decision.open_seconds}
        self._deny_s = cfg.decision.deny_seconds
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._state: dict[str, Any] = {"model": model_info, "faults": [], "gate": "closed"}
        self._state_json = b"{}"
        self._stats: dict[str, Any] | None = None
        self._stats_at: float | None = None
        self._messages: deque[tuple[int, bytes]] = deque(maxlen=MESSAGES_KEPT)
        self._seq = 0
        self._last_decision: tuple[float, dict[str, Any]] | None = None  # monotonic time, message
        self._loop_seen: float | None = None
        self._presence = presence.Presence(Zone.of(cfg))  # the frame loop's alone
        self._clients = 0
        self._counts: dict[str, int] = {"requests": 0, "bad_requests": 0, "unauthorized": 0, "errors": 0,
                                        "refused_connections": 0, "refused_streams": 0, "refused_live": 0,
                                        "head_timeouts": 0}
        self._started: float | None = None  # monotonic time of start(): the kiosk's run began
        self._latencies: deque[float] = deque(maxlen=DECISIONS_TIMED)  # capture-to-decision, ms
        self._closed = False
        self.events = EventLog(cfg.state_path() / "web-events.jsonl", w.events_keep)
        self.live = live.LiveView(cfg) if w.live_max_clients else None  # /live, the installer's view
        try:
            self._server = GuardedServer((w.host, w.port), _Handler, self, w.max_connections,
                                         w.max_connections_per_client)
        except OSError as exc:
            self.events.close()
            raise KioskError(f"config key 'web.port': cannot listen on {w.host}:{w.port}: {exc.strerror}") from None
        self._thread: threading.Thread | None = None

    # -- the address ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The port listened on (the one chosen when web.port is 0)."""
        return self._server.server_address[1]

    @property
    def bound(self) -> str:
        """The address really listened on, host:port (0.0.0.0 or :: for every interface)."""
        host, port = self._server.server_address[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def url(self) -> str:
        """The visitor screen's address."""
        host = self.web.host if self.web.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}/"

    # -- Publisher -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                            name="web-server", daemon=True)
            self._thread.start()
            self._started = time.monotonic()
            log.info("web: listening on %s (on this machine: %s)", self.bound, self.url)

    def subscribe(self, on_command) -> None:  # noqa: ANN001 - the web output takes no commands
        pass

    def publish_event(self, event: dict[str, Any]) -> None:
        self.events.add(event)
        view = screen.decision_view(event)
        hold = self._hold.get(view, self._deny_s)
        msg = {"kind": "decision", "view": view, "hold_s": hold, "id": event.get("id"),
               "decision": event.get("decision"), "reason": event.get("reason"), "ts": event.get("ts")}
        latency = event.get("latency_ms")
        with self._lock:
            if isinstance(latency, (int, float)) and not isinstance(latency, bool) and latency >= 0:
                self._latencies.append(float(latency))
            self._last_decision = (time.monotonic(), msg)
            self._push(msg)

    def publish_state(self, state: dict[str, Any]) -> None:
        body = json.dumps(state, default=str).encode()
        with self._lock:
            self._state, self._state_json = state, body
            self._push({"kind": "state", "view": self._screen_view()})

    def publish_stats(self, stats: dict[str, Any]) -> None:
        with self._lock:
            self._stats, self._stats_at = stats, time.monotonic()

    def publish_command_result(self, result: dict[str, Any]) -> None:
        pass

    def on_frame(self, frame: "np.ndarray", faces: "Sequence[FaceVerdict]") -> None:
        """The frame hook (kiosk/outputs.py), from the frame loop: returns at once."""
        if self.live is not None:
            self.live.on_frame(frame, faces)  # a reference at most, only while /live has a viewer
        if self._presence.see(faces, presence.frame_size(frame), time.monotonic()) is not None:
            with self._lock:
                self._push({"kind": "state", "view": self._screen_view()})

    def health(self, now: float | None = None) -> str | None:
        self._loop_seen = time.monotonic()
        if self._thread is not None and not self._thread.is_alive() and not self._closed:
            return "web server thread ended"
        return None

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"clients": self._clients, "live_clients": self.live.watchers if self.live else 0,
                    "events_logged": len(self.events.recent()), **self._counts}

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._changed.notify_all()
        if self.live is not None:
            self.live.close()
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()
        self.events.close()

    def __enter__(self) -> "WebOutput":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- bookkeeping ---------------------------------------------------------------------------
    def _screen_view(self) -> str:  # with self._lock held
        return presence.between(screen.base_view(self._state), self._presence.view)

    def _push(self, msg: dict[str, Any]) -> None:  # with self._lock held
        self._seq += 1
        self._messages.append((self._seq, json.dumps(msg).encode()))
        self._changed.notify_all()

    def count(self, key: str) -> None:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def healthy(self) -> tuple[bool, str]:
        """Whether the frame loop runs (it called health() lately) and the camera and models work."""
        seen = self._loop_seen
        if self._closed or seen is None or time.monotonic() - seen > LOOP_STALE_S:
            return False, "frame loop not running"
        with self._lock:
            faults = set(self._state.get("faults") or ())
        bad = sorted(faults & screen.SERVICE_FAULTS)
        return (False, "fault: " + ", ".join(bad)) if bad else (True, "ok")

    def _authorized(self, req: _Handler, query: dict[str, list[str]]) -> bool:
        if self._token is None:
            # No token: loopback only; a Host header naming another machine is a DNS-rebinding page.
            host = (req.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
            return host == "" or is_loopback(host)
        given = query.get("token", [""])[0]
        auth = req.headers.get("Authorization") or ""
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return hmac.compare_digest(given.encode(errors="replace"), self._token)

    # -- routes --------------------------------------------------------------------------------
    def route(self, req: _Handler) -> None:
        url = urlsplit(req.path)
        try:
            query = parse_qs(url.query, max_num_fields=8)
        except ValueError:
            req._error(400, "bad query")
            return
        path = url.path
        authorized = self._authorized(req, query)
        if path == "/healthz":
            ok, why = self.healthy()
            # Unauthorized: the bare status, nothing else, so that a probe (an ExecStartPre wait loop, a
            # load balancer) needs no token; the reason only with it.
            text = why if authorized else ("ok" if ok else "unavailable")
            req.send(200 if ok else 503, (text + "\n").encode(), "text/plain; charset=utf-8")
            return
        if not authorized:
            self.count("unauthorized")
            if self._token is None:
                req._error(403, "bad host")
            else:  # RFC 6750: say which scheme, and whether a token came and was wrong
                presented = "token" in query or (req.headers.get("Authorization") or "").lower().startswith("bearer ")
                challenge = 'Bearer realm="maskgate"' + (', error="invalid_token"' if presented else "")
                req._error(401, "token required", {"WWW-Authenticate": challenge})
            return
        if path == "/":
            with self._lock:
                base = self._screen_view()
            req.send(200, screen.page(self.web, base, base).encode(), "text/html; charset=utf-8")
        elif path == "/status":
            fmt = query.get("format", [""])[0]
            if fmt == "html" or (fmt != "json" and statuspage.wants_html(req.headers.get("Accept"))):
                body, ctype = self._status_page(query.get("token", [None])[0]).encode(), "text/html; charset=utf-8"
            else:
                with self._lock:
                    body, ctype = self._state_json, "application/json"
            req.send(200, body, ctype, {"Vary": "Accept"})
        elif path == "/metrics":
            req.send(200, self._metrics().encode(), metrics.CONTENT_TYPE)
        elif path == "/events":
            limit = _int(query.get("limit", [""])[0], EVENTS_SHOWN, 1, self.web.events_keep)
            req.send(200, json.dumps(self.events.recent(limit)).encode(), "application/json")
        elif path == "/events.csv":
            req.send(200, self.events.csv().encode(), "text/csv; charset=utf-8",
                     {"Content-Disposition": 'attachment; filename="maskgate-events.csv"'})
        elif path == "/events/stream":
            self._stream(req)
        elif path == "/live" and self.live is not None:
            if not (self.web.live_remote or live.is_loopback_peer(req.client_address[0])):
                # camera images with faces: for this machine's own browser unless configured otherwise
                self.count("refused_live")
                req._error(403, "the live view is served to this machine only (web.live_remote)")
                return
            live.serve(req, self.live, lambda: self._closed, _gone)
        else:
            req._error(404, "not found")

    def _uptime(self) -> float | None:
        return None if self._started is None else time.monotonic() - self._started

    def _metrics(self) -> str:
        with self._lock:
            state, stats, at, timed = self._state, self._stats, self._stats_at, list(self._latencies)
            web = {"stream_clients": self._clients, "live_clients": self.live.watchers if self.live else 0,
                   **{f"{k}_total": v for k, v in self._counts.items()}}
        return metrics.render(state, stats, web, at, uptime_s=self._uptime(), decision_ms=timed)

    def _status_page(self, token: str | None) -> str:
        with self._lock:
            state, stats, timed = self._state, self._stats, list(self._latencies)
        return statuspage.render(state, stats, kiosk_id=self.cfg.kiosk.id, uptime_s=self._uptime(),
                                 decision_ms=timed, live=self.live is not None, token=token)

    def _stream(self, req: _Handler) -> None:
        with self._lock:
            if self._clients >= self.web.max_clients:
                full = True
            else:
                full = False
                self._clients += 1
        if full:
            self.count("refused_streams")
            req._error(503, "too many screens")
            return
        try:
            req._headers_sent = True
            req.send_response(200)
            req.send_header("Content-Type", "text/event-stream; charset=utf-8")
            req.send_header("Cache-Control", "no-store")
            req.send_header("X-Content-Type-Options", "nosniff")
            req.end_headers()
            if req.command == "HEAD":
                return
            with self._lock:
                first = [json.dumps({"kind": "state", "view": self._screen_view()}).encode()]
                if self._last_decision is not None:
                    at, msg = self._last_decision
                    left = msg["hold_s"] - (time.monotonic() - at)
                    if left > 0.05:  # a decision still showing: a screen that connects now shows it too
                        first.append(json.dumps({**msg, "hold_s": round(left, 3)}).encode())
                seq = self._seq
            req.wfile.write(b"retry: 2000\n\n" + b"".join(b"data: " + m + b"\n\n" for m in first))
            last_write = time.monotonic()
            while True:
                with self._lock:
                    if self._seq == seq and not self._closed:
                        self._changed.wait(min(STREAM_POLL_S, max(0.0, last_write + KEEPALIVE_S - time.monotonic())))
                    if self._closed:
                        return
                    new = [m for s, m in self._messages if s > seq]
                    seq = self._seq
                if new:
                    req.wfile.write(b"".join(b"data: " + m + b"\n\n" for m in new))
                    last_write = time.monotonic()
                elif _gone(req.connection):
                    return  # the screen went away: its slot is free at once, not at the next write
                elif time.monotonic() - last_write >= KEEPALIVE_S:
                    req.wfile.write(BEAT)
                    last_write = time.monotonic()
        finally:
            with self._lock:
                self._clients -= 1


def _gone(sock: socket.socket) -> bool:
    """Whether the peer closed (a screen sends nothing after its request: readable means EOF or junk)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _int(text: str, default: int, lo: int, hi: int) -> int:
    try:
        value = int(text)
    except ValueError:
        return default
    return max(lo, min(hi, value))

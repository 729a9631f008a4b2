"""The connection guard: no handler thread is spent on a request before its whole head has arrived.

A thread per connection that waits for the request head is what a slow client (slowloris: a few bytes
now and then, or half a request and nothing more) takes away: 32 such connections used to hold every
slot for the 10 s socket timeout, /healthz included, before any token was looked at. Here one thread
reads every head with a selector, at most HEAD_TIMEOUT_S per head (the whole head, not per byte; 408
after it) and MAX_PENDING heads at once (a new connection closes the oldest unfinished one). Only a
complete head gets a handler thread, within `web.max_connections` threads and
`web.max_connections_per_client` per client address. Beyond either cap the guard answers itself, at
once: /healthz with the bare status (so a probe is answered whatever the other clients do), anything
else 503 with Retry-After.
"""

from __future__ import annotations

import http.client
import io
import logging
import selectors
import socket
import threading
import time
from collections import OrderedDict
from http.server import ThreadingHTTPServer
from typing import Protocol


class Counted(Protocol):
    """What the guard needs of the web output (kiosk/web/server.py's WebOutput): counters and the bare
    health status. A protocol, not an import, so the two modules do not import each other."""

    def count(self, key: str) -> None: ...

    def healthy(self) -> tuple[bool, str]: ...


log = logging.getLogger("kiosk.web")

MAX_REQUEST = 8192  # request line + headers, bytes
HEAD_TIMEOUT_S = 2.0  # the whole request head; a LAN client sends it in one packet
MAX_PENDING = 256  # heads being read at once (sockets, not threads); bounded well under a 1024-fd limit
SOCKET_TIMEOUT_S = 10.0  # once a handler has the request: each send of the answer
SELECT_S = 0.25  # the guard's longest sleep: how late a head deadline or close() may be noticed


class TooLarge(http.client.LineTooLong):
    """The request's head went past MAX_REQUEST (http.server answers a LineTooLong with 431)."""

    def __str__(self) -> str:  # http.server puts this in the 431 page: say the limit really applied
        return f"request line and headers over {MAX_REQUEST} bytes"


class Capped:
    """The request's head as the guard read it, refusing to give out more than `cap` bytes of it."""

    def __init__(self, head: bytes, cap: int) -> None:
        self.raw, self.left = io.BytesIO(head), cap

    def readline(self, size: int = -1) -> bytes:
        want = self.left + 1 if size is None or size < 0 else min(size, self.left + 1)
        line = self.raw.readline(want)
        self.left -= len(line)
        if self.left < 0:
            raise TooLarge("request head")
        return line

    def read(self, size: int = -1) -> bytes:  # no request has a body here
        return b""

    def close(self) -> None:
        self.raw.close()


def head_complete(buf: bytes) -> bool:
    """Whether `buf` holds a whole request head, or enough of one to answer it (a request line that is
    not `METHOD PATH VERSION`, e.g. HTTP/0.9's `GET /`, is answered 400 without waiting for headers)."""
    if b"\r\n\r\n" in buf or b"\n\n" in buf or len(buf) > MAX_REQUEST:
        return True
    line, nl, _ = buf.partition(b"\n")
    return bool(nl) and len(line.split()) != 3


class _Pending:
    __slots__ = ("sock", "addr", "buf", "deadline")

    def __init__(self, sock: socket.socket, addr: tuple, deadline: float) -> None:
        self.sock, self.addr, self.buf, self.deadline = sock, addr, b"", deadline


class GuardedServer(ThreadingHTTPServer):
    """http.server with the guard in front: `process_request` (the accepting thread) only hands the
    socket to the guard's thread; complete heads go to `serve` on a thread of their own."""

    daemon_threads = True
    allow_reuse_address = True
    # The listen backlog: socketserver's 5 drops a burst of connects (each dropped SYN costs its client
    # a 1 s retransmit), even though the accepting thread only hands sockets on.
    request_queue_size = 128

    def __init__(self, addr: tuple, handler: type, output: Counted, max_connections: int,
                 max_per_client: int) -> None:
        self.output = output
        self.max_per_client = max_per_client
        self._slots = threading.BoundedSemaphore(max_connections)
        self._per_client: dict[str, int] = {}
        self._lock = threading.Lock()
        self._pending: OrderedDict[int, _Pending] = OrderedDict()  # oldest first
        self._incoming: list[_Pending] = []
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ)
        self._stop = threading.Event()
        self._guard: threading.Thread | None = None
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        try:
            super().__init__(addr, handler)
        except OSError:
            self._close_guard()
            raise

    # -- the accepting thread ------------------------------------------------------------------
    def process_request(self, request: socket.socket, client_address: tuple) -> None:
        request.setblocking(False)
        with self._lock:
            self._incoming.append(_Pending(request, client_address, time.monotonic() + HEAD_TIMEOUT_S))
        self._wake()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._guard = threading.Thread(target=self._guard_loop, name="web-guard", daemon=True)
        self._guard.start()
        super().serve_forever(poll_interval)

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        # Outside a handler (a reset connection): one line, never a traceback on stderr.
        self.output.count("errors")
        log.debug("web: connection from %s failed", client_address[0], exc_info=True)

    def server_close(self) -> None:
        super().server_close()
        self._close_guard()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # the pipe is full (it is already awake) or closed (shutting down)

    def _close_guard(self) -> None:
        self._stop.set()
        self._wake()
        if self._guard is not None and self._guard is not threading.current_thread():
            self._guard.join(2)
        with self._lock:
            left = list(self._pending.values()) + self._incoming
            self._pending.clear()
            self._incoming.clear()
        for p in left:
            _close(p.sock)
        for s in (self._wake_r, self._wake_w):
            s.close()
        self._sel.close()

    # -- the guard's thread --------------------------------------------------------------------
    def _guard_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._guard_round()
            except Exception as exc:  # a bug here must not leave every new client unanswered
                self.output.count("errors")
                log.warning("web: connection guard: %s: %s", type(exc).__name__, exc)

    def _guard_round(self) -> None:
        now = time.monotonic()
        oldest = next(iter(self._pending.values()), None)
        wait = SELECT_S if oldest is None else min(SELECT_S, max(0.0, oldest.deadline - now))
        for key, _ in self._sel.select(wait):
            if key.fileobj is self._wake_r:
                self._take_incoming()
                continue
            p: _Pending = key.data
            try:
                chunk = p.sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                self._drop(p)
                continue
            p.buf += chunk
            if not chunk or head_complete(p.buf):  # at EOF the handler answers what there is
                self._forget(p)
                self._dispatch(p)
        now = time.monotonic()
        while self._pending:
            p = next(iter(self._pending.values()))
            if p.deadline > now:
                break
            self.output.count("head_timeouts")
            self._forget(p)
            _answer(p.sock, 408, "request head not complete in time\n")

    def _take_incoming(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        with self._lock:
            new, self._incoming = self._incoming, []
        for p in new:
            if len(self._pending) >= MAX_PENDING:  # the oldest unfinished head has had the longest
                self.output.count("refused_connections")
                self._drop(next(iter(self._pending.values())))
            self._pending[p.sock.fileno()] = p
            self._sel.register(p.sock, selectors.EVENT_READ, p)

    def _forget(self, p: _Pending) -> None:
        self._pending.pop(p.sock.fileno(), None)
        try:
            self._sel.unregister(p.sock)
        except (KeyError, ValueError):
            pass

    def _drop(self, p: _Pending) -> None:
        self._forget(p)
        _close(p.sock)

    def _dispatch(self, p: _Pending) -> None:
        host = p.addr[0]
        with self._lock:
            room = self._per_client.get(host, 0) < self.max_per_client and self._slots.acquire(blocking=False)
            if room:
                self._per_client[host] = self._per_client.get(host, 0) + 1
        if not room:
            self.output.count("refused_connections")
            self._answer_busy(p)
            return
        try:
            p.sock.setblocking(True)
            p.sock.settimeout(SOCKET_TIMEOUT_S)
            threading.Thread(target=self._serve, args=(p.sock, p.addr, p.buf), daemon=True,
                             name="web-request").start()
        except BaseException:
            self._release(host)
            _close(p.sock)
            raise

    def _serve(self, sock: socket.socket, addr: tuple, head: bytes) -> None:
        try:
            self.RequestHandlerClass(sock, addr, self, head)
        except Exception:
            self.handle_error(sock, addr)
        finally:
            self.shutdown_request(sock)
            self._release(addr[0])

    def _release(self, host: str) -> None:
        with self._lock:
            left = self._per_client.get(host, 1) - 1
            if left:
                self._per_client[host] = left
            else:
                self._per_client.pop(host, None)
            self._slots.release()

    def _answer_busy(self, p: _Pending) -> None:
        words = p.buf.split(b"\n", 1)[0].split()
        path = words[1].split(b"?", 1)[0] if len(words) == 3 else b""
        if words[:1] in ([b"GET"], [b"HEAD"]) and path == b"/healthz":
            ok = self.output.healthy()[0]  # the bare status: no token needed, nothing else told
            _answer(p.sock, 200 if ok else 503, "ok\n" if ok else "unavailable\n", head_only=words[0] == b"HEAD")
        else:
            _answer(p.sock, 503, "busy: too many connections\n", {"Retry-After": "1"})

    def taken(self) -> int:
        """Handler threads busy now (tests)."""
        with self._lock:
            return sum(self._per_client.values())


_REASONS = {200: "OK", 408: "Request Timeout", 503: "Service Unavailable"}


def _answer(sock: socket.socket, code: int, text: str, extra: dict[str, str] | None = None,
            head_only: bool = False) -> None:
    """A small plain-text answer from the guard's thread, never blocking it: a fresh connection's send
    buffer holds it whole, and a client that does not read loses only its own answer."""
    body = text.encode()
    head = [f"HTTP/1.0 {code} {_REASONS.get(code, '')}", "Server: maskgate", "Connection: close",
            "Content-Type: text/plain; charset=utf-8", f"Content-Length: {len(body)}", "Cache-Control: no-store",
            "X-Content-Type-Options: nosniff", *(f"{k}: {v}" for k, v in (extra or {}).items())]
    data = ("\r\n".join(head) + "\r\n\r\n").encode() + (b"" if head_only else body)
    try:
        sock.setblocking(False)
        sock.send(data)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(65536)  # what the client sent beyond the head: unread input would reset the answer away
    except OSError:
        pass
    _close(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


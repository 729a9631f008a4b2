"""Plain HTTP helpers for the web output's tests: a real client (http.client) and raw sockets."""

from __future__ import annotations

import http.client
import json
import socket
import time


def get(port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 10.0):
    """(status, headers, body bytes) of one GET to 127.0.0.1:port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def get_json(port: int, path: str, **kw):
    status, _, body = get(port, path, **kw)
    assert status == 200, (path, status, body[:200])
    return json.loads(body)


def raw(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send bytes as they are, return everything the server answers before it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close on us mid-send (too large); read what it said
        return read_all(s)


def read_all(s: socket.socket) -> bytes:
    """Everything the server sends on `s` until it closes (or resets, or the socket's timeout passes)."""
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return out


def status_of(answer: bytes) -> int:
    """The status code of a raw answer (0: nothing came back)."""
    if not answer:
        return 0
    return int(answer.split(b"\r\n", 1)[0].split()[1])


class Stream:
    """An /events/stream reader: the JSON of each `data:` line, in order."""

    def __init__(self, port: int, path: str = "/events/stream", headers: dict[str, str] | None = None,
                 timeout: float = 30.0) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()

    def next(self, predicate=lambda m: True, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.response.fp.readline()
            if not line:
                raise AssertionError("the stream ended")
            if line.startswith(b"data: "):
                msg = json.loads(line[6:])
                if predicate(msg):
                    return msg
        raise AssertionError("no matching message in time")

    def close(self) -> None:
        self.response.close()  # the response holds the socket (an HTTP/1.0 answer detaches it from conn)
        self.conn.close()


def wait_until(check, timeout: float = 30.0, every: float = 0.05):
    """check()'s first truthy value, polling; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


class Live:
    """A /live reader: the JPEG bytes of each multipart part, in order (host: any address of this machine)."""

    def __init__(self, port: int, path: str = "/live", headers: dict[str, str] | None = None,
                 host: str = "127.0.0.1", timeout: float = 30.0) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()
        ctype = self.response.getheader("Content-Type") or ""
        self.boundary = ctype.split("boundary=", 1)[1].encode() if "boundary=" in ctype else b""

    def next(self) -> bytes:
        fp = self.response.fp
        line = fp.readline()
        while line in (b"\r\n", b"\n"):
            line = fp.readline()
        if not line:
            raise AssertionError("the live stream ended")
        assert line.rstrip(b"\r\n") == b"--" + self.boundary, line[:100]
        headers = {}
        while (line := fp.readline()) not in (b"\r\n", b"\n", b""):
            k, v = line.decode().split(":", 1)
            headers[k.strip().lower()] = v.strip()
        assert headers["content-type"] == "image/jpeg", headers
        body = fp.read(int(headers["content-length"]))
        assert fp.read(2) == b"\r\n"
        return body

    def close(self) -> None:
        self.response.close()
        self.conn.close()

"""/live, the installer's view: the camera as MJPEG with what the kiosk sees drawn on it.

Drawn: each face's box, label and score (thick when the face is at the gate, thin when outside the
zone), the gate zone ([zone] x0..y1) and a square the size of the smallest face that can be at the gate.

What it costs the frame loop: nothing while nobody watches (`on_frame` reads one integer and returns),
and one reference kept under a short lock while someone does. Copying, drawing and JPEG encoding happen
on the viewer's server thread, at most `web.live_fps` times a second, and one encoding is shared by
all viewers of the same frame. The frame is camera data with faces in it: it stays in memory, is dropped
when the last viewer leaves, and is never written to disk.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from ..config import Config
from ..vision.tracking import Zone

BOUNDARY = "maskgate-live-frame"
WAIT_S = 1.0  # how often a viewer without a new frame checks whether it has gone or the server closes

# BGR. The zone's colour is one no label uses, so the installer (and the test) can tell it apart.
ZONE_BGR = (255, 255, 0)  # cyan
MIN_FACE_BGR = (255, 255, 255)
LABEL_BGR = {"mask": (0, 200, 0), "no_mask": (0, 0, 255), "incorrect": (0, 140, 255), "covered": (255, 0, 255)}
OTHER_BGR = (200, 200, 200)
ZONE_THICKNESS = 3  # thick enough to survive JPEG


class LiveView:
    """The latest frame and its verdicts while /live has viewers, and their encoding for them."""

    def __init__(self, cfg: Config) -> None:
        w = cfg.web
        self.max_clients = w.live_max_clients
        self.fps = w.live_fps
        self.quality = w.live_quality
        self.zone = Zone.of(cfg)
        self.watchers = 0  # read by on_frame without the lock: a stale read only skips or keeps one frame
        self.encoded = 0  # frames encoded since start (tests: no viewer, no encoding)
        self._lock = threading.Lock()
        self._new = threading.Condition(self._lock)
        self._frame: np.ndarray | None = None
        self._faces: tuple = ()
        self._seq = 0
        self._jpeg: tuple[int, bytes] | None = None  # (seq, JPEG) of the latest encoded frame
        self._encoding = threading.Lock()  # one viewer encodes a frame; the others take its JPEG
        self._closed = False

    # -- the frame loop's side: must return at once --------------------------------------------
    def on_frame(self, frame: np.ndarray, faces: Sequence[Any]) -> None:
        """Keep a reference to this frame and its verdicts, only while someone watches."""
        if not self.watchers:
            return
        with self._lock:
            self._frame, self._faces = frame, tuple(faces)
            self._seq += 1
            self._new.notify_all()

    # -- the viewers' side ---------------------------------------------------------------------
    def join(self) -> bool:
        """Take a viewer's place; False when all `live_max_clients` are taken."""
        with self._lock:
            if self._closed or self.watchers >= self.max_clients:
                return False
            self.watchers += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.watchers -= 1
            if self.watchers <= 0:  # nobody watches: drop the last image of faces at once
                self.watchers = 0
                self._frame, self._faces, self._jpeg = None, (), None

    def next_jpeg(self, after: int, timeout: float = WAIT_S) -> tuple[int, bytes] | None:
        """The first frame newer than `after` as (its number, JPEG), waiting up to `timeout`; None if
        none came (or the view closed)."""
        with self._lock:
            self._new.wait_for(lambda: self._closed or (self._frame is not None and self._seq != after), timeout)
            if self._closed or self._frame is None or self._seq == after:
                return None
            seq, frame, faces = self._seq, self._frame, self._faces
        with self._encoding:
            cached = self._jpeg
            if cached is not None and cached[0] >= seq:
                return cached
            ok, buf = cv2.imencode(".jpg", self.draw(frame, faces), [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            if not ok:
                return None
            self.encoded += 1
            jpeg = (seq, buf.tobytes())
            with self._lock:
                if self.watchers:  # the last viewer may have left meanwhile: then keep nothing
                    self._jpeg = jpeg
            return jpeg

    def draw(self, frame: np.ndarray, faces: Sequence[Any]) -> np.ndarray:
        """A copy of `frame` (never the camera's array itself) with the zone, the size and the faces drawn."""
        # one copy: np.array always copies (ascontiguousarray then .copy() copied twice for a strided view)
        img = np.array(frame[..., :3], order="C") if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        h, w = img.shape[:2]
        z = self.zone
        x0, y0 = int(round(z.x0 * w)), int(round(z.y0 * h))
        x1, y1 = min(w - 1, int(round(z.x1 * w)) - 1), min(h - 1, int(round(z.y1 * h)) - 1)
        cv2.rectangle(img, (x0, y0), (x1, y1), ZONE_BGR, ZONE_THICKNESS)
        _text(img, "gate zone", (x0 + 6, y0 + 18), ZONE_BGR)
        m = self.zone.min_face_px
        cv2.rectangle(img, (6, h - 7 - m), (6 + m, h - 7), MIN_FACE_BGR, 1)
        _text(img, f"min face {m} px", (12 + m, h - 10), MIN_FACE_BGR)
        for f in faces:
            bx, by, bw, bh = (int(v) for v in f.box)
            at_gate = self.zone.holds(f.box, (w, h))
            colour = LABEL_BGR.get(f.label, OTHER_BGR)
            cv2.rectangle(img, (bx, by), (bx + bw, by + bh), colour, 3 if at_gate else 1)
            _text(img, f"{f.label} {f.score:.2f}" + ("" if at_gate else " (outside)"), (bx, max(14, by - 6)), colour)
        return img

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._frame, self._jpeg = None, None
            self._new.notify_all()


def _text(img: np.ndarray, text: str, org: tuple[int, int], colour: tuple[int, int, int]) -> None:
    """Text with a dark outline, readable on any background."""
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)


def is_loopback_peer(address: str) -> bool:
    """Whether a client's address is this machine (127/8, ::1, or IPv4-mapped 127/8 on an IPv6 socket)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def serve(req: Any, live: LiveView, closed: Callable[[], bool], gone: Callable[[socket.socket], bool]) -> None:
    """Answer one /live request (access already checked): multipart JPEG parts, at most live.fps a
    second, until the viewer goes or the server closes. `closed()` and `gone(sock)` come from server.py."""
    if not live.join():
        req._error(503, "too many live viewers")
        return
    try:
        req._headers_sent = True
        req.send_response(200)
        req.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        req.send_header("Cache-Control", "no-store")
        req.send_header("X-Content-Type-Options", "nosniff")
        req.send_header("Cross-Origin-Resource-Policy", "same-origin")  # no other site's page may embed it
        req.end_headers()
        if req.command == "HEAD":
            return
        period = 1.0 / live.fps
        seq, due = 0, 0.0
        while not closed():
            wait = due - time.monotonic()
            if wait > 0:  # the frame-rate cap: frames that come meanwhile are simply not sent
                time.sleep(min(wait, WAIT_S))
                continue
            got = live.next_jpeg(seq)
            if got is None:
                if gone(req.connection):
                    return  # the viewer went away: its place is free at once
                continue
            seq, jpeg = got
            req.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                            + jpeg + b"\r\n")
            due = time.monotonic() + period
    finally:
        live.leave()

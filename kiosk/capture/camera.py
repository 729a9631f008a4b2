"""Camera sources behind one small interface, and a supervisor that reopens them with back-off.

Sources: picamera2 (on a Pi with a camera), OpenCV VideoCapture (USB index, video file, RTSP URL)
and a folder of images (one frame each). Frames are BGR uint8 HxWx3 arrays. A finite source (file,
folder) is a recording: the supervisor gives each of its frames a media time, frame index /
camera.fps, so that decisions follow the recording and not how fast the loop happens to run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from ..assets import DEMO_CLIP
from ..closing import Closing
from ..config import CameraSection
from .images import ImageError, read_image

log = logging.getLogger("kiosk.camera")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class CameraError(Exception):
    """The source cannot be opened or has failed; the supervisor will retry."""


class EndOfStream(Exception):
    """A finite source (file, folder) ran out and camera.on_end is 'exit'."""


class Camera(Protocol):
    """One source of frames. `open()` raises CameraError; `close()` may be called at any time, again too."""

    name: str  # for the log and the state topic: "opencv:<source>", "folder:<path>", "picamera2"
    finite: bool  # a recording (file, folder): it can end, and its frames carry media time

    def open(self) -> None: ...
    def read(self) -> np.ndarray | None: ...  # None: the stream ended or failed
    def close(self) -> None: ...


def valid_frame(frame: object) -> bool:
    """A BGR uint8 image of at least 16 x 16 pixels: what the models can be given."""
    return (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3
            and frame.shape[2] == 3 and frame.shape[0] >= 16 and frame.shape[1] >= 16)


class OpenCVCamera:
    """cv2.VideoCapture on a USB camera index, a video file or a stream URL (rtsp://, http://).

    A USB camera is asked for width x height at fps with a one-frame buffer; files and streams come as they are.
    """

    def __init__(self, source: int | str, width: int, height: int, fps: float, finite: bool) -> None:
        self.source = source
        self.name = f"opencv:{source}"
        self.finite = finite
        self._size = (width, height)
        self._fps = fps
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        """Open the source; CameraError when it cannot be."""
        cap = cv2.VideoCapture(self.source)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot open {self.source}")
        if isinstance(self.source, int):  # ask live cameras for the configured mode
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self._size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self._size[1])
            cap.set(cv2.CAP_PROP_FPS, self._fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # stale frames mean stale decisions
        self._cap = cap

    def read(self) -> np.ndarray | None:
        """The next frame, or None (not open, the file ended, the stream failed)."""
        if self._cap is None:
            return None
        ok, frame = self._cap.read()
        return frame if ok else None

    def close(self) -> None:
        """Release the capture; again is a no-op."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FolderCamera:
    """Every image in a folder, in name order, one frame each."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = f"folder:{folder}"
        self.finite = True
        self._files: list[Path] = []
        self._i = 0

    def open(self) -> None:
        """List the folder's images; CameraError when it is missing or has none."""
        if not self.folder.is_dir():
            raise CameraError(f"folder not found: {self.folder}")
        self._files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise CameraError(f"no images in {self.folder}")
        self._i = 0

    def read(self) -> np.ndarray | None:
        """The next readable image (unreadable ones are logged and skipped), or None after the last."""
        while self._i < len(self._files):
            path = self._files[self._i]
            self._i += 1
            try:
                return read_image(path)
            except ImageError as exc:
                log.warning("camera: skipping %s", exc)
        return None

    def close(self) -> None:
        """Forget the list; again is a no-op."""
        self._files = []


class Picamera2Camera:
    """The Raspberry Pi camera through picamera2 (apt: python3-picamera2)."""

    def __init__(self, width: int, height: int, fps: float) -> None:
        self.name = "picamera2"
        self.finite = False
        self._size = (width, height)
        self._fps = fps
        self._cam = None

    @staticmethod
    def available() -> bool:
        """picamera2 can be imported and sees a camera (False anywhere but on a Pi with one)."""
        try:
            from picamera2 import Picamera2  # type: ignore
        except Exception:  # ImportError, or libcamera missing off a Pi
            return False
        try:
            return bool(Picamera2.global_camera_info())
        except Exception:
            return False

    def open(self) -> None:
        """Configure and start the camera for BGR frames at width x height and fps; CameraError otherwise."""
        try:
            from picamera2 import Picamera2  # type: ignore

            if not Picamera2.global_camera_info():
                raise CameraError("picamera2: no camera connected")
            cam = Picamera2()
            # "RGB888" is BGR in memory: exactly what OpenCV-style code expects.
            config = cam.create_video_configuration(
                main={"size": self._size, "format": "RGB888"},
                controls={"FrameRate": self._fps}, buffer_count=2)
            cam.configure(config)
            cam.start()
        except CameraError:
            raise
        except Exception as exc:
            raise CameraError(f"picamera2: {type(exc).__name__}: {exc}") from None
        self._cam = cam

    def read(self) -> np.ndarray | None:
        """The next frame, or None when the capture fails."""
        if self._cam is None:
            return None
        try:
            return self._cam.capture_array("main")
        except Exception as exc:
            log.warning("camera: picamera2 capture failed: %s", exc)
            return None

    def close(self) -> None:
        """Stop and release the camera; again is a no-op."""
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            finally:
                self._cam = None


def make_camera(cfg: CameraSection, resolve: Callable[[str], Path]) -> Camera:
    """Pick the source named by camera.source."""
    src = cfg.source.strip()
    if src == "auto":
        if Picamera2Camera.available():
            return Picamera2Camera(cfg.width, cfg.height, cfg.fps)
        return OpenCVCamera(0, cfg.width, cfg.height, cfg.fps, finite=False)
    if src == "picamera2":
        return Picamera2Camera(cfg.width, cfg.height, cfg.fps)
    if src == "demo":
        return OpenCVCamera(str(DEMO_CLIP), cfg.width, cfg.height, cfg.fps, finite=True)
    if src.isdigit():
        return OpenCVCamera(int(src), cfg.width, cfg.height, cfg.fps, finite=False)
    if "://" in src:
        return OpenCVCamera(src, cfg.width, cfg.height, cfg.fps, finite=False)
    path = resolve(src)
    if path.is_dir():
        return FolderCamera(path)
    return OpenCVCamera(str(path), cfg.width, cfg.height, cfg.fps, finite=True)


class CameraSupervisor(Closing):
    """Keeps a camera open: failures are retried with exponential back-off; a recording that ends
    under camera.on_end 'reopen' plays again at once (not a failure).

    `read()` never blocks for long: while the camera is down it returns None at once and the caller
    keeps the gate closed and reports the fault.
    """

    def __init__(self, camera: Camera, cfg: CameraSection, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.camera = camera
        self.cfg = cfg
        self._clock = clock
        self._sleep = sleep
        self._is_open = False
        self._closed = False
        self._backoff = cfg.reopen_min_s
        self._retry_at = 0.0
        self._next_frame_at: float | None = None
        self.fault: str | None = None  # why the camera is down, None while it delivers
        self.frames = 0  # valid frames delivered since the start
        self.failures = 0  # times the camera failed or ended and was closed for a retry
        self.last_capture_ms = 0.0  # how long the last camera.read() took (not the pacing)
        self.ended = False  # a recording ended with camera.on_end 'exit'
        self.loops = 0  # times a recording ended and was played again (camera.on_end 'reopen')
        self._since_open = 0  # valid frames since the camera was last opened
        # Media time of the last frame, seconds from the recording's first frame; None on a live
        # camera, whose frames are decided on the wall clock. It keeps counting across reopens so
        # that a looped recording never goes back in time (the decider's cooldown would stall).
        self.frame_time: float | None = None

    @property
    def recorded(self) -> bool:
        """The source is a recording: its frames are decided on media time (`frame_time`)."""
        return bool(self.camera.finite)

    def _fail(self, why: str) -> None:
        if self._is_open:
            self.camera.close()
            self._is_open = False
        self.failures += 1
        self.fault = why
        now = self._clock()
        self._retry_at = now + self._backoff
        log.warning("camera: %s; retrying in %.1f s", why, self._backoff)
        self._backoff = min(self._backoff * 2, self.cfg.reopen_max_s)

    def _open(self) -> bool:
        """Open the camera; a failure is reported as a fault (with back-off) and gives False."""
        try:
            self.camera.open()
        except CameraError as exc:
            self._fail(str(exc))
            return False
        self._is_open = True
        self._since_open = 0
        return True

    def read(self) -> np.ndarray | None:
        """The next valid frame, or None at once while the camera is down (see `fault`). Raises
        EndOfStream at the end of a recording when camera.on_end is 'exit'."""
        if self._closed:
            return None
        if not self._is_open:
            if self._clock() < self._retry_at:
                return None
            if not self._open():
                return None
            self._next_frame_at = None
            log.info("camera: %s open", self.camera.name)
        t0 = time.perf_counter()
        frame = self.camera.read()
        self.last_capture_ms = (time.perf_counter() - t0) * 1000  # the read alone, not the pacing
        if frame is None and self.camera.finite:
            if self.cfg.on_end == "exit":
                self.ended = True
                raise EndOfStream(self.camera.name)
            frame = self._play_again()
            if frame is None:
                return None
        if frame is None:
            self._fail(f"{self.camera.name} returned no frame")
            return None
        if not valid_frame(frame):
            shape = getattr(frame, "shape", None)
            self._fail(f"{self.camera.name} returned a malformed frame (shape {shape})")
            return None
        if self.fault:
            log.info("camera: recovered")
        self.fault = None
        self._backoff = self.cfg.reopen_min_s
        self.frames += 1
        self._since_open += 1
        self.frame_time = (self.frames - 1) / self.cfg.fps if self.recorded else None
        if self.camera.finite and self.cfg.realtime:
            self._pace()
        return frame

    def _play_again(self) -> np.ndarray | None:
        """The first frame of a recording opened again after its end (camera.on_end 'reopen'), or None
        with the fault set. A loop that was asked for is no fault (a showroom clip would otherwise
        raise one, with /healthz 503, at every pass); a recording that cannot be opened again, or
        that ends without a frame, still is one, and gets the back-off."""
        if self._since_open == 0:
            self._fail(f"{self.camera.name} ended without a frame")
            return None
        self.camera.close()
        self._is_open = False
        if not self._open():
            return None
        self.loops += 1
        log.debug("camera: %s ended; playing it again (pass %d)", self.camera.name, self.loops + 1)
        frame = self.camera.read()
        if frame is None:
            self._fail(f"{self.camera.name} ended without a frame")
        return frame

    def _pace(self) -> None:
        """Play files and folders at camera.fps, as a live camera would deliver them."""
        now = self._clock()
        period = 1.0 / self.cfg.fps
        if self._next_frame_at is None or now - self._next_frame_at > 1.0:
            self._next_frame_at = now
        wait = self._next_frame_at - now
        if wait > 0:
            self._sleep(wait)
        self._next_frame_at += period

    def close(self) -> None:
        """Close the camera for good (`read()` then returns None and never reopens it); again is a no-op."""
        self._closed = True
        if self._is_open:
            self.camera.close()
            self._is_open = False

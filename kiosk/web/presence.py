"""What the visitor screen says between decisions, from the faces of each frame (issue 34, item 2).

Without it the screen says "Please look at the camera" while a visitor stands too far back or off to the
side, and while the kiosk gathers its k frames: a visitor sees nothing happen and leaves or waits. So:

  idle      no face in the frame (a face cut by the frame's edge is none)
  closer    faces, none at the gate (narrower than zone.min_face_px, or centred outside the zone's region)
  checking  someone at the gate, not decided yet

A decision, once made, is shown by the page for its own hold first (kiosk/web/screen.py); a camera or
model fault or the locked mode shows instead of all three (`between`). Only the view's name leaves this
module: never a box, a score or an image.

A view is pushed once it has held for SETTLE_S. The detector can miss a face for a frame, and the
screen must not flicker with it; and since every change has to settle first, the screen changes at most
1 / SETTLE_S times a second however the faces come and go.
"""

from __future__ import annotations

from typing import Sequence

from ..door.decision import FaceVerdict
from ..vision.tracking import Zone

PRESENCE_VIEWS = ("idle", "closer", "checking")
SETTLE_S = 0.3


def presence_view(faces: Sequence[FaceVerdict], zone: Zone, frame_size: tuple[int, int] | None) -> str:
    """The view for one frame's faces (frame_size: width, height in pixels). A face cut by the frame's edge
    (FaceVerdict.whole) counts as none: nothing is decided on it, and "Please look at the camera" is what such a
    visitor needs to hear (one too close to the camera as much as one stepping in)."""
    faces = [f for f in faces if f.whole]
    if not faces:
        return "idle"
    return "checking" if any(zone.holds(f.box, frame_size) for f in faces) else "closer"


def frame_size(frame: object) -> tuple[int, int] | None:
    """(width, height) of a camera frame (an array of rows), None for anything else."""
    shape = getattr(frame, "shape", None)
    return (int(shape[1]), int(shape[0])) if shape is not None and len(shape) >= 2 else None


def between(base: str, presence: str) -> str:
    """What the screen shows between decisions: out of service wins over who is in front of the camera."""
    return presence if base == "idle" else base


class Presence:
    """The presence view per frame, settled: `see` says when the screen should change, and to what."""

    def __init__(self, zone: Zone, settle_s: float = SETTLE_S) -> None:
        self.zone = zone
        self.settle_s = settle_s
        self.view = "idle"  # what the screen was last told
        self._seen = "idle"  # what the latest frame showed
        self._since = float("-inf")  # when the frames began to show it

    def see(self, faces: Sequence[FaceVerdict], frame_size: tuple[int, int] | None, now: float) -> str | None:
        """One frame's faces at monotonic `now`: the new view once it has settled, else None."""
        seen = presence_view(faces, self.zone, frame_size)
        if seen != self._seen:
            self._seen, self._since = seen, now
        if seen != self.view and now - self._since >= self.settle_s:
            self.view = seen
            return seen
        return None

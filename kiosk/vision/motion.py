"""Has anything moved outside the people already followed? If not, nobody new can have come in.

While the detector follows the people it saw (kiosk/vision/attention.py, `detector.full_every`), it searches the
whole frame now and then only to find a newcomer. A newcomer moves: someone walking up to the gate changes
the picture where they walk. So the periodic whole-frame pass is skipped while the frame, away from the
followed faces, looks as it did at the last whole-frame pass: a waiting visitor, an empty hall behind them.
This is what edge camera daemons do before they run a detector (Frigate runs its detector only where it
sees motion); here it only ever skips the *periodic* pass: with nobody followed, every frame is searched.

The test: both frames shrunk by area averaging to a grey thumbnail about `WIDTH` px wide (a pixel of it
averages some 8x8 camera pixels, so sensor noise of a few grey levels all but vanishes), the followed faces
blanked out with room around them (heads nod, shoulders move), and "moved" when at least `MIN_PIXELS`
thumbnail pixels differ by more than `threshold` grey levels. A change of light everywhere counts as
motion: the whole frame is searched, which is the safe side.

Cost: one area shrink of the frame and a few operations on ~80x60 pixels, 0.3-0.4 ms on the build machine
for a 640x480 frame (3-8 ms on a Pi 4, 10-20x slower per core), paid only
at a whole-frame pass that leaves someone to follow and when a periodic pass is due; each check that finds
nothing moved saves a whole-frame YuNet pass (~33-39 ms on a Pi 4 at 400x300).
"""

from __future__ import annotations

import cv2
import numpy as np

WIDTH = 80  # thumbnail width, px: a face at the gate (>= 40 of 640 px) still covers ~5x5 of its pixels
MIN_PIXELS = 3  # thumbnail pixels that must change: one or two can be a flicker, a newcomer is many more
AROUND = 0.5  # the blanked region reaches this many box sizes beyond each followed face on every side


class MotionGate:
    """Remembers the frame of the last whole-frame pass (`remember`) and tells whether a later frame has
    changed anywhere but around the followed faces (`moved`)."""

    def __init__(self, threshold: float) -> None:
        self.threshold = float(threshold)
        self._reference: np.ndarray | None = None
        self._size: tuple[int, int] | None = None

    def _thumbnail(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        tw = min(WIDTH, w)
        th = max(1, round(h * tw / w))
        small = cv2.resize(frame, (tw, th), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)  # the detector's frames are BGR

    def remember(self, frame: np.ndarray) -> None:
        """The frame just searched whole: what `moved` compares with."""
        self._reference = self._thumbnail(frame)
        self._size = (frame.shape[1], frame.shape[0])

    def moved(self, frame: np.ndarray, followed: list[tuple[int, int, int, int]]) -> bool:
        """Whether `frame` differs from the remembered one away from the `followed` boxes (x, y, w, h in
        frame pixels). True when nothing is remembered or the frame size changed."""
        if self._reference is None or self._size != (frame.shape[1], frame.shape[0]):
            return True
        thumb = self._thumbnail(frame)
        changed = cv2.absdiff(thumb, self._reference) > self.threshold
        sx = thumb.shape[1] / frame.shape[1]
        sy = thumb.shape[0] / frame.shape[0]
        for x, y, w, h in followed:
            x0 = int(np.floor((x - AROUND * w) * sx))
            y0 = int(np.floor((y - AROUND * h) * sy))
            x1 = int(np.ceil((x + w + AROUND * w) * sx))
            y1 = int(np.ceil((y + h + AROUND * h) * sy))
            changed[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = False
        return int(np.count_nonzero(changed)) >= MIN_PIXELS

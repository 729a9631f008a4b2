"""The `snapshots` output: each decision's face crops kept on disk, and the deciding face handed on.

Face crops are personal data. This output exists only when `snapshots.enabled` (kiosk/parts.py builds it
then, and only then), and it is the only output the frame loop hands crops to (`on_crops`, kiosk/outputs.py):
without it no face leaves the loop. It writes `<state>/<snapshots.dir>/<event id>-<i>.jpg` for the i-th
face of the deciding frame, keeps the newest `snapshots.keep` files, and passes the deciding person's crop
as a JPEG to the outputs that show one (`publish_face`: Home Assistant's image entity over MQTT).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from ..closing import Closing
from ..config import Config

JPEG_QUALITY = 85  # the image entity's copy: small enough for a broker message, sharp enough to recognise

# An output's `publish_face(event_id, jpeg)`.
FaceSender = Callable[[str, bytes], None]


class SnapshotOutput(Closing):
    """Keeps the face crops of each decision under the state directory, at most `snapshots.keep` of them."""

    name = "snapshots"

    def __init__(self, cfg: Config, viewers: Sequence[FaceSender] = ()) -> None:
        self.folder: Path = cfg.state_path() / cfg.snapshots.dir
        self.keep = cfg.snapshots.keep
        self.viewers = list(viewers)
        self.written = 0

    # -- Publisher -----------------------------------------------------------------------------
    def start(self) -> None:
        pass

    def subscribe(self, on_command) -> None:  # noqa: ANN001 - no commands come in through a folder
        pass

    def publish_event(self, event: dict[str, Any]) -> None:
        pass

    def publish_state(self, state: dict[str, Any]) -> None:
        pass

    def publish_stats(self, stats: dict[str, Any]) -> None:
        pass

    def publish_command_result(self, result: dict[str, Any]) -> None:
        pass

    def health(self, now: float | None = None) -> str | None:
        return None

    def status(self) -> dict[str, Any]:
        return {"written": self.written}

    def close(self) -> None:
        self._closed = True  # a late decision's crops are not written any more

    # -- the crops -----------------------------------------------------------------------------
    def on_crops(self, event_id: str, crops: Sequence[np.ndarray], deciding: np.ndarray | None) -> None:
        """One decision's crops (the frame's faces, in order) and the deciding person's (None: none)."""
        if self._closed:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for i, face in enumerate(crops):
            if cv2.imwrite(str(self.folder / f"{event_id}-{i}.jpg"), face):
                self.written += 1
        self._prune()
        if deciding is None or not self.viewers:
            return
        ok, jpeg = cv2.imencode(".jpg", deciding, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if ok:
            for send in self.viewers:
                send(event_id, jpeg.tobytes())

    def _prune(self) -> None:
        files = sorted(self.folder.glob("*.jpg"), key=lambda p: p.stat().st_mtime)
        for old in files[: max(0, len(files) - self.keep)]:
            old.unlink(missing_ok=True)

"""The benchmark's frames: fixed 640x480 scenes with 0, 1, 3 and 8 faces and one close-up.

Made from the demo clip (its empty entrance and its four person shots) and scikit-image's astronaut
photo, JPEG-encoded once so that decoding is a measured stage, as it is for an MJPEG USB camera.
Standard library only at module level (tools/eval/peer_worker.py runs in a venv without our runtime).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..assets import DEMO_CLIP

# close1: one person right at the kiosk, face ~360 px wide (75% of the frame height), where res10
# (the peer) returns boxes reaching outside the frame.
SCENARIOS: tuple[tuple[str, int], ...] = (("faces0", 0), ("faces1", 1), ("faces3", 3), ("faces8", 8),
                                          ("close1", 1))
FRAME_W, FRAME_H = 640, 480
JPEG_QUALITY = 90
FRAMES_SCHEMA = "maskgate.bench-frames/1"

# Demo clip frames (kiosk/demo/storyboard.tsv): empty entrance shots and one frame of each
# person shot: A unmasked, A masked, B masked, B mask below the nose.
_EMPTY_FRAMES = (0, 50, 95, 140)
_PERSON_FRAMES = (20, 70, 110, 160)
# Source indices into the face list built by _face_sources: 0-3 the person frames above, 4 the
# astronaut photo itself. Layouts were checked to give exactly the scenario's face count with
# both BlazeFace models at their usual thresholds (short range at 0.5: lowest face score ~0.6;
# full range at 0.3: lowest ~0.47), so the smoke test holds whichever the config picks.
_LAYOUT_3 = ((0, 1, 3), (1, 3, 0), (3, 4, 1), (4, 0, 3))
_LAYOUT_8 = ((3, 1, 0, 3, 0, 3, 3, 4), (0, 0, 4, 0, 3, 1, 3, 0), (0, 3, 2, 1, 4, 0, 2, 0),
             (0, 3, 0, 2, 4, 4, 4, 3))
# Each frame is repeated this many times in a row, as a person stays in view for several camera
# frames; k=3 of n=5 agreeing frames are needed before the Decider decides (and publishes).
HOLD_FRAMES = 5
_FACE_W_3, _FACE_W_8, _FACE_W_CLOSE = 140, 110, 360  # face box widths in the composed frames, px


def _read_clip_frames(indices: set[int]) -> dict[int, Any]:
    import cv2

    cap = cv2.VideoCapture(str(DEMO_CLIP))
    if not cap.isOpened():
        raise RuntimeError(f"cannot open {DEMO_CLIP}")
    out, i = {}, 0
    try:
        while len(out) < len(indices):
            ok, frame = cap.read()
            if not ok:
                break
            if i in indices:
                out[i] = frame
            i += 1
    finally:
        cap.release()
    missing = sorted(indices - set(out))
    if missing:
        raise RuntimeError(f"{DEMO_CLIP}: frames {missing} not found")
    return out


def _face_sources(clip: dict[int, Any]) -> tuple[list[tuple[Any, tuple[int, int, int, int]]], str]:
    """(image, face box) pairs: the four demo person frames, then the astronaut photo.

    The boxes are fixed numbers (measured once with BlazeFace) rather than detected here, so the
    frames do not depend on the detector being benchmarked.
    """
    import cv2

    boxes = {20: (235, 125, 180, 181), 70: (234, 122, 177, 176), 110: (218, 127, 216, 215),
             160: (210, 109, 218, 218)}
    faces = [(clip[i], boxes[i]) for i in _PERSON_FRAMES]
    try:
        from skimage import data

        faces.append((cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (178, 81, 94, 94)))
        origin = "demo clip + skimage.data.astronaut"
    except ImportError:  # scikit-image is a dev requirement; a Pi may lack it
        faces.append((cv2.flip(clip[20], 1), (640 - 235 - 180, 125, 180, 181)))
        origin = "demo clip only (scikit-image missing: astronaut replaced by a mirrored demo frame)"
    return faces, origin


def _person_tile(image: Any, box: tuple[int, int, int, int], cw: int, ch: int, face_w: int) -> Any:
    """A cw x ch cut of `image` around the face, scaled so the face box is face_w px wide."""
    import cv2
    import numpy as np

    x, y, w, h = box
    s = face_w / w
    cx, cy = x + w / 2.0, y + h / 2.0
    # Face slightly above the tile centre, as in a head-and-shoulders shot.
    x0, y0 = cx - cw / s / 2.0, cy - ch / s * 0.45
    m = np.float32([[s, 0, -x0 * s], [0, s, -y0 * s]])
    return cv2.warpAffine(image, m, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _compose(background: Any, faces: list, order: tuple[int, ...], cols: int, rows: int, face_w: int) -> Any:
    frame = background.copy()
    cw, ch = FRAME_W // cols, FRAME_H // rows
    for k, src in enumerate(order):
        r, c = divmod(k, cols)
        image, box = faces[src]
        frame[r * ch : (r + 1) * ch, c * cw : (c + 1) * cw] = _person_tile(image, box, cw, ch, face_w)
    return frame


def build_frames(folder: Path) -> dict[str, Any]:
    """Write the benchmark's JPEG frames and frames.json into `folder`; return the manifest."""
    import hashlib

    import cv2

    clip = _read_clip_frames(set(_EMPTY_FRAMES) | set(_PERSON_FRAMES))
    faces, origin = _face_sources(clip)
    scenes: list[tuple[str, int, Any, str]] = []
    for i in _EMPTY_FRAMES:
        scenes.append(("faces0", 0, clip[i], f"demo frame {i} (empty entrance)"))
    for i in _PERSON_FRAMES:
        scenes.append(("faces1", 1, clip[i], f"demo frame {i}"))
    for order in _LAYOUT_3:
        scenes.append(("faces3", 3, _compose(clip[0], faces, order, 3, 1, _FACE_W_3), f"3x1 sources {order}"))
    for order in _LAYOUT_8:
        scenes.append(("faces8", 8, _compose(clip[0], faces, order, 4, 2, _FACE_W_8), f"4x2 sources {order}"))
    for k in range(len(_PERSON_FRAMES)):
        scenes.append(("close1", 1, _compose(clip[0], faces, (k,), 1, 1, _FACE_W_CLOSE),
                       f"close-up of demo frame {_PERSON_FRAMES[k]}"))
    folder.mkdir(parents=True, exist_ok=True)
    records, digest = [], hashlib.sha256()
    counters: dict[str, int] = {}
    for scenario, n, image, what in scenes:
        assert image.shape == (FRAME_H, FRAME_W, 3), image.shape
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        k = counters.get(scenario, 0)
        counters[scenario] = k + 1
        name = f"{scenario}-{k}.jpg"
        data = buf.tobytes()
        (folder / name).write_bytes(data)
        digest.update(data)
        records.append({"file": name, "scenario": scenario, "faces": n, "bytes": len(data), "what": what})
    manifest = {"schema": FRAMES_SCHEMA, "width": FRAME_W, "height": FRAME_H, "jpeg_quality": JPEG_QUALITY,
                "origin": origin, "sha256": digest.hexdigest(), "frames": records}
    (folder / "frames.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def load_frames(folder: Path) -> tuple[dict[str, Any], dict[str, list[tuple[str, bytes]]]]:
    """Manifest and {scenario: [(file, jpeg bytes)]}, read once so that file I/O is never timed."""
    manifest = json.loads((folder / "frames.json").read_text(encoding="utf-8"))
    by_scenario: dict[str, list[tuple[str, bytes]]] = {}
    for rec in manifest["frames"]:
        by_scenario.setdefault(rec["scenario"], []).append((rec["file"], (folder / rec["file"]).read_bytes()))
    return manifest, by_scenario

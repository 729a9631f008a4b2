"""Kiosk-like frames for detector evaluation: real faces pasted into real face-free views, stills and clips.

Why: a face crop on a grey canvas says little about the kiosk. At the entrance the camera sees one
person near the gate, others passing behind, faces from 24 to 200 px wide, frames from 320x240 to
640x480, blur, compression, dim light and people half hidden; and the person at the gate arrives,
stands a moment and leaves. This module draws such frames, deterministically, with their ground truth.

- **Faces** come from two kinds of folders:
  *crops*, with the usual class folders (`with_mask`, `without_mask`, `mask_weared_incorrect`), where
  each image is a face box plus a known margin on each side (validation-real: 15 %; masks-real: about
  none), and *scenes*, a folder of photos with `boxes.tsv` (`scene label x y w h`, as
  tools/eval/eval_scenes.py reads), from which each labelled face is cut with `context` x its size of the
  photo around it on each side: hair, neck, shoulders, what stood behind (tools/eval/kiosk_faces.py).
  BlazeFace and YuNet both depend on that context (docs/detector-kiosk-eval.md): tight crops make a
  much harder test than a real scene.
  An image is pasted with a feathered elliptical alpha, so no rectangle edge is there to be found,
  and never enlarged more than 2x (another face of the class is drawn instead). Other labelled faces
  inside a scene cut are pasted with it and *ignored*.
- **Backgrounds** (no people in any), a third each: windows of scikit-image's bundled photos (brick,
  a cat, coffee, coins, gravel, a rocket, text, ...; scaled 1-3x, mirrored); the procedural
  signs-and-text scenes of tools/data/make_negatives.py; the demo clip's plain entrance (wall, door, sign;
  tools/demo/make_demo_clip.py), zoomed, mirrored and tinted.
- **Conditions**: every frame gets mild sensor noise and JPEG at quality 30-95; some get defocus
  (whole frame), low light (dark, gained up, noisier), faces smeared by their motion (stills: some
  faces; clips: every moving one, by its speed) and faces partly covered by a patch of another
  background (15-35 % of the face box from one side). *Blurred* = defocused or smeared >= 3 px.
- **Clips** at the camera's fps: one person (masked 70 %, else unmasked or below the nose) walks in
  (0.6-1.5 s, from a side or towards the camera), stands 0.5-1.5 s swaying slightly, and walks out
  (0.3-0.6 s); 0-2 passers-by cross behind at street scale.

A face counts in a frame when at least 60 % of its face box is inside the frame and at least half of
it is not covered by what was pasted over it; other faces are *ignored*: finding them is neither a
hit nor a false box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import cv2
import numpy as np

from tools.data.make_negatives import HELD_OUT, SKIMAGE_PHOTOS, procedural_scene, to_bgr
from tools.demo.make_demo_clip import empty_scene
from tools.eval.kiosk_faces import CLASSES, MIN_FACE, Box, FaceImage

FRAME_SIZES = ((320, 240), (480, 360), (640, 480))
MAX_FACE = 200  # face box width, pixels
MAX_UPSCALE = 2.0
HIT_PAD = 0.25  # a face's hit region: its face box grown by this x its size on each side
COUNT_INSIDE = 0.6  # share of the face box inside the frame for the face to count
COUNT_VISIBLE = 0.5  # share of the face box not covered


@dataclass
class Face:
    """One face as it appears in one frame."""

    cls: str
    source: str
    width: float  # face box width, px (unclipped)
    box: tuple[int, int, int, int]  # face box clipped to the frame
    region: tuple[int, int, int, int]  # where a detection of it may lie (HIT_PAD), clipped to the frame
    role: str  # still | walk_in | stand | walk_out | passer | context
    person: int = -1  # clip person id (-1 in stills)
    scored: bool = True  # False: a face whose label is not ours to judge (context of a scene cut)
    fid: int = -1  # FaceImage.id
    occluded: bool = False
    blurred: bool = False  # defocus or motion smear
    visible: float = 1.0  # share of the face box not covered by later layers
    inside: float = 1.0  # share of the face box inside the frame
    _vis: np.ndarray | None = field(default=None, repr=False)

    @property
    def counted(self) -> bool:
        return self.scored and self.inside >= COUNT_INSIDE and self.visible >= COUNT_VISIBLE


@dataclass
class Frame:
    image: np.ndarray
    faces: list[Face]
    kind: str  # still | empty | clip
    background: str  # photo | procedural | entrance
    defocus: bool
    low_light: bool
    jpeg: int
    clip: int = -1
    index: int = 0  # frame number in the clip


@dataclass
class Person:
    """The clip's person at the gate: when they stand, for the time-to-first-detection measure."""

    clip: int
    cls: str
    source: str
    width: float
    stand_start: int  # first standing frame
    stand_frames: int


class Backgrounds:
    """Face-free views: windows of scikit-image's photos, procedural signs, the demo's entrance.

    The procedural scenes and entrances are drawn once (`pool` of each, fixed seed) and then varied
    per frame by window, mirror and tint: drawing one costs more than everything else in a frame."""

    def __init__(self, pool: int = 48, seed: int = 0) -> None:
        from skimage import data

        self.photos: list[np.ndarray] = []
        for name in SKIMAGE_PHOTOS + list(HELD_OUT):
            fn = getattr(data, name, None)
            if fn is None:
                continue
            try:
                self.photos.append(to_bgr(np.asarray(fn())))
            except Exception:  # a photo this scikit-image would have to download
                continue
        if not self.photos:
            raise RuntimeError("scikit-image has none of its bundled photos")
        rng = np.random.default_rng([seed, 99])
        self.procedural = [procedural_scene(rng, self.photos) for _ in range(pool)]
        self.entrances = [np.clip(empty_scene(rng), 0, 255).astype(np.uint8) for _ in range(max(1, pool // 8))]

    @staticmethod
    def _vary(scene: np.ndarray, rng: np.random.Generator, w: int, h: int, zoom: float, tint: bool) -> np.ndarray:
        z = rng.uniform(1.0, zoom)
        cw, ch = int(scene.shape[1] / z), int(scene.shape[0] / z)
        x, y = int(rng.integers(0, scene.shape[1] - cw + 1)), int(rng.integers(0, scene.shape[0] - ch + 1))
        out = cv2.resize(scene[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA)
        if tint:  # another paint, another light
            out = np.clip(out * rng.uniform(0.75, 1.2, 3).astype(np.float32), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(out[:, ::-1] if rng.random() < 0.5 else out)

    def window(self, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
        src = self.photos[int(rng.integers(len(self.photos)))]
        s = max(w / src.shape[1], h / src.shape[0]) * rng.uniform(1.0, 3.0)
        big = cv2.resize(src, (int(src.shape[1] * s) + 1, int(src.shape[0] * s) + 1), interpolation=cv2.INTER_AREA)
        y = int(rng.integers(0, big.shape[0] - h + 1))
        x = int(rng.integers(0, big.shape[1] - w + 1))
        out = big[y : y + h, x : x + w]
        return np.ascontiguousarray(out[:, ::-1] if rng.random() < 0.5 else out)

    def make(self, rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, str]:
        kind = int(rng.integers(3))
        if kind == 0:
            return self.window(rng, w, h), "photo"
        if kind == 1:
            scene = self.procedural[int(rng.integers(len(self.procedural)))]
            return self._vary(scene, rng, w, h, 1.3, False), "procedural"
        scene = self.entrances[int(rng.integers(len(self.entrances)))]
        return self._vary(scene, rng, w, h, 1.6, True), "entrance"


def soft_ellipse(w: int, h: int) -> np.ndarray:
    """Alpha 1 inside the ellipse inscribed in w x h, falling off smoothly (smoothstep) to 0 at its rim
    over 16 % of the smaller side."""
    feather = max(1.0, 0.16 * min(w, h))
    x = (np.arange(w, dtype=np.float32) + 0.5 - w / 2) / (w / 2)
    y = (np.arange(h, dtype=np.float32) + 0.5 - h / 2) / (h / 2)
    r = np.sqrt(x[None, :] ** 2 + y[:, None] ** 2)  # 1 on the rim
    t = np.clip((1.0 - r) * (min(w, h) / 2) / feather, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def line_kernel(length: float, angle: float) -> np.ndarray:
    n = max(3, int(math.ceil(length)) | 1)
    k = np.zeros((n, n), np.float32)
    c = n // 2
    dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1.0, 1, cv2.LINE_AA)
    return k / max(k.sum(), 1e-6)


def render(img: np.ndarray, pw: int, ph: int, angle: float = 0.0, centre: tuple[float, float] | None = None,
           smear: float = 0.0, smear_angle: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The image at pw x ph (turned by `angle` degrees about `centre`, smeared `smear` px along its
    motion): BGR and alpha."""
    interp = cv2.INTER_AREA if pw < img.shape[1] else cv2.INTER_LINEAR
    fg = cv2.resize(img, (pw, ph), interpolation=interp)
    alpha = soft_ellipse(pw, ph)
    if angle:
        m = cv2.getRotationMatrix2D(centre or (pw / 2, ph / 2), angle, 1.0)
        fg = cv2.warpAffine(fg, m, (pw, ph), borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(alpha, m, (pw, ph), borderMode=cv2.BORDER_CONSTANT)
    if smear >= 2.0:
        k = line_kernel(smear, smear_angle)
        fg = cv2.filter2D(fg, -1, k, borderType=cv2.BORDER_REPLICATE)
        alpha = cv2.filter2D(alpha, -1, k, borderType=cv2.BORDER_CONSTANT)
    return fg, alpha


def _clip(x: float, y: float, w: float, h: float, fw: int, fh: int) -> tuple[int, int, int, int]:
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(fw, int(round(x + w))), min(fh, int(round(y + h)))
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


class Canvas:
    """A frame being composed: layers pasted in order, each later one covering the faces under it."""

    def __init__(self, background: np.ndarray) -> None:
        self.img = background.astype(np.float32)
        self.faces: list[Face] = []

    def paste(self, fg: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
        fh, fw = self.img.shape[:2]
        ph, pw = alpha.shape
        cx, cy, cw, ch = _clip(x, y, pw, ph, fw, fh)
        if cw == 0 or ch == 0:
            return
        a = alpha[cy - y : cy - y + ch, cx - x : cx - x + cw]
        roi = self.img[cy : cy + ch, cx : cx + cw]
        roi += (fg[cy - y : cy - y + ch, cx - x : cx - x + cw].astype(np.float32) - roi) * a[:, :, None]
        for f in self.faces:  # what this layer hides of the faces already there
            bx, by, bw, bh = f.box
            ix0, iy0 = max(bx, cx), max(by, cy)
            ix1, iy1 = min(bx + bw, cx + cw), min(by + bh, cy + ch)
            if ix1 > ix0 and iy1 > iy0 and f._vis is not None:
                f._vis[iy0 - by : iy1 - by, ix0 - bx : ix1 - bx] *= 1.0 - a[iy0 - cy : iy1 - cy, ix0 - cx : ix1 - cx]

    def _face(self, cls: str, source: str, box: Box, role: str, person: int, scored: bool) -> Face:
        fh, fw = self.img.shape[:2]
        x, y, w, h = box
        clipped = _clip(x, y, w, h, fw, fh)
        inside = max(0.0, min(fw, x + w) - max(0.0, x)) * max(0.0, min(fh, y + h) - max(0.0, y)) / max(1e-6, w * h)
        region = _clip(x - HIT_PAD * w, y - HIT_PAD * h, w * (1 + 2 * HIT_PAD), h * (1 + 2 * HIT_PAD), fw, fh)
        return Face(cls, source, float(w), clipped, region, role, person, scored, inside=min(1.0, inside),
                    _vis=np.ones((clipped[3], clipped[2]), np.float32))

    def add_face(self, face: FaceImage, width: float, cx: float, cy: float, role: str, person: int = -1,
                 angle: float = 0.0, smear: float = 0.0, smear_angle: float = 0.0) -> Face:
        """Paste `face` with its face box `width` px wide and centred on (cx, cy)."""
        ih, iw = face.image.shape[:2]
        s = width / face.box[2]
        pw, ph = max(4, int(round(iw * s))), max(4, int(round(ih * s)))
        fx, fy, fbw, fbh = (v * s for v in face.box)
        x, y = int(round(cx - fx - fbw / 2)), int(round(cy - fy - fbh / 2))
        fg, alpha = render(face.image, pw, ph, angle, (fx + fbw / 2, fy + fbh / 2), smear, smear_angle)
        self.paste(fg, alpha, x, y)
        for ox, oy, ow, oh in face.others:  # neighbours in a scene cut: ignored where the alpha shows them
            f = self._face(face.cls, face.source, (x + ox * s, y + oy * s, ow * s, oh * s), "context", person, False)
            bx, by, bw, bh = f.box
            shown = alpha[by - y : by - y + bh, bx - x : bx - x + bw] if bw and bh else alpha[:0, :0]
            if shown.size and shown.shape == (bh, bw) and float(shown.mean()) >= 0.25:
                self.faces.append(f)
        rec = self._face(face.cls, face.source, (x + fx, y + fy, fbw, fbh), role, person, True)
        rec.fid = face.id
        rec.blurred = smear >= 3.0
        self.faces.append(rec)
        return rec

    def occlude(self, face: Face, patch: np.ndarray, rng: np.random.Generator) -> None:
        """Cover 15-35 % of the face box from one side with a real texture (soft inner edge)."""
        bx, by, bw, bh = face.box
        if bw < 4 or bh < 4:
            return
        share = rng.uniform(0.15, 0.35)
        side = ("left", "right", "bottom", "top")[int(rng.integers(4))]
        if side in ("left", "right"):
            w, h = max(2, int(round(bw * share))), bh + 2 * max(2, bh // 6)
            x = bx if side == "left" else bx + bw - w
            y = by - max(2, bh // 6)
        else:
            w, h = bw + 2 * max(2, bw // 6), max(2, int(round(bh * share)))
            x = bx - max(2, bw // 6)
            y = by + bh - h if side == "bottom" else by
        alpha = np.ones((h, w), np.float32)
        edge = max(1, min(w, h) // 6)  # a soft edge on the side facing the face
        ramp = np.linspace(0.0, 1.0, edge, dtype=np.float32)
        if side == "left":
            alpha[:, w - edge :] = ramp[::-1][None]
        elif side == "right":
            alpha[:, :edge] = ramp[None]
        elif side == "bottom":
            alpha[:edge] = ramp[:, None]
        else:
            alpha[h - edge :] = ramp[::-1][:, None]
        self.paste(cv2.resize(patch, (w, h), interpolation=cv2.INTER_AREA), alpha, x, y)
        face.occluded = True

    def finish(self, rng: np.random.Generator, defocus: float | None, low_light: tuple | None,
               jpeg: int) -> np.ndarray:
        """Optics (defocus sigma), sensor (low light, noise), encoder (JPEG); fixes each face's visible share."""
        for f in self.faces:
            f.visible = float(f._vis.mean()) if f._vis is not None and f._vis.size else 0.0
            f._vis = None
            f.blurred = f.blurred or defocus is not None
        img = self.img
        if defocus is not None:
            img = cv2.GaussianBlur(img, (0, 0), defocus)
        if low_light is not None:
            gain, boost, sigma = low_light
            img = (img * gain + sigma * rng.standard_normal(img.shape, dtype=np.float32)) * boost
        else:
            img = img + rng.uniform(0.0, 2.0) * rng.standard_normal(img.shape, dtype=np.float32)
        out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg)])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _conditions(rng: np.random.Generator, p_defocus: float = 0.15, p_dark: float = 0.25):
    """(defocus sigma or None, low light (gain, boost, noise sigma) or None, JPEG quality)."""
    blur = rng.uniform(0.8, 2.0) if rng.random() < p_defocus else None
    dark = None
    if rng.random() < p_dark:
        gain = rng.uniform(0.15, 0.4)
        dark = (gain, rng.uniform(1.0, 0.6 / gain), rng.uniform(1.0, 3.0))
    return blur, dark, int(rng.integers(30, 96))


def _overlaps(a: Box, b: Box, pad: float) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return not (ax + aw * (1 + pad) <= bx - bw * pad or bx + bw * (1 + pad) <= ax - aw * pad
                or ay + ah * (1 + pad) <= by - bh * pad or by + bh * (1 + pad) <= ay - ah * pad)


class SceneMaker:
    """Stills, face-free frames and clips from one pool of faces; every item has its own seed."""

    def __init__(self, faces: list[FaceImage], seed: int = 0, fps: float = 15.0,
                 backgrounds: Backgrounds | None = None) -> None:
        if not faces:
            raise ValueError("no face images")
        self.faces = faces
        self.by_class = {c: [f for f in faces if f.cls == c] for c in CLASSES}
        self.classes = [c for c in CLASSES if self.by_class[c]]
        self.seed = seed
        self.fps = float(fps)
        self.bg = backgrounds or Backgrounds(seed=seed)

    def _rng(self, kind: int, i: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, kind, i])

    def _pick(self, rng: np.random.Generator, cls: str, width: float) -> tuple[FaceImage, float]:
        """A face of `cls` that can be shown `width` px wide without enlarging it more than 2x."""
        pool = self.by_class[cls]
        best = None
        for _ in range(30):
            f = pool[int(rng.integers(len(pool)))]
            if f.face_px * MAX_UPSCALE >= width:
                return f, width
            if best is None or f.face_px > best.face_px:
                best = f
        return best, max(MIN_FACE, min(width, best.face_px * MAX_UPSCALE))

    @staticmethod
    def _fit(f: FaceImage, width: float, fw: int, fh: int, share: float = 0.9) -> float:
        """`width`, made small enough that the face box fits in `share` of the frame (never below MIN_FACE)."""
        return max(MIN_FACE, min(width, share * fw, share * fh * f.box[2] / f.box[3]))

    def still(self, i: int) -> Frame:
        """Several faces: a kiosk view (one near face 60-200 px, 0-2 small ones) or a street view (2-4 at 24-100)."""
        rng = self._rng(1, i)
        fw, fh = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
        bg, bg_kind = self.bg.make(rng, fw, fh)
        canvas = Canvas(bg)
        s = fw / 640
        if rng.random() < 0.5:
            sizes = [(max(MIN_FACE, 60 * s), MAX_FACE)] + [(MIN_FACE, 70)] * int(rng.integers(0, 3))
        else:
            sizes = [(MIN_FACE, 100)] * int(rng.integers(2, 5))
        placed: list[tuple[float, FaceImage, float, float]] = []
        taken: list[Box] = []
        for lo, hi in sizes:
            cls = self.classes[int(rng.integers(len(self.classes)))]
            face, width = self._pick(rng, cls, math.exp(rng.uniform(math.log(lo), math.log(max(lo, hi)))))
            width = self._fit(face, width, fw, fh)
            bh = width * face.box[3] / face.box[2]
            for _ in range(30):  # a place where the face box keeps clear of the other faces
                x, y = rng.uniform(0, fw - width), rng.uniform(0, max(1.0, fh - bh))
                if not any(_overlaps((x, y, width, bh), t, 0.3) for t in taken):
                    taken.append((x, y, width, bh))
                    placed.append((width, face, x + width / 2, y + bh / 2))
                    break
        for width, face, cx, cy in sorted(placed, key=lambda p: p[0]):  # the far (small) first
            smear = rng.uniform(3.0, 10.0) if rng.random() < 0.2 else 0.0  # a person on the move
            rec = canvas.add_face(face, width, cx, cy, "still", smear=smear, smear_angle=rng.normal(0.0, 0.3))
            if rng.random() < 0.25:
                canvas.occlude(rec, self.bg.window(rng, 64, 64), rng)
        blur, dark, q = _conditions(rng)
        img = canvas.finish(rng, blur, dark, q)
        return Frame(img, canvas.faces, "still", bg_kind, blur is not None, dark is not None, q)

    def empty(self, i: int) -> Frame:
        rng = self._rng(2, i)
        fw, fh = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
        bg, bg_kind = self.bg.make(rng, fw, fh)
        blur, dark, q = _conditions(rng)
        img = Canvas(bg).finish(rng, blur, dark, q)
        return Frame(img, [], "empty", bg_kind, blur is not None, dark is not None, q)

    def clip(self, c: int) -> tuple[Person, Iterator[Frame]]:
        """One clip: the person at the gate (walk in, stand, walk out) and 0-2 passers-by behind."""
        rng = self._rng(3, c)
        fps = self.fps
        fw, fh = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
        s = fw / 640
        bg, bg_kind = self.bg.make(rng, fw, fh)
        weights = np.array([{"mask": 0.7, "no_mask": 0.15, "incorrect": 0.15}[k] for k in self.classes])
        cls = self.classes[int(rng.choice(len(self.classes), p=weights / weights.sum()))]
        face, width = self._pick(rng, cls, math.exp(rng.uniform(math.log(max(40, 70 * s)), math.log(MAX_FACE))))
        width = max(40.0, self._fit(face, width, fw, fh, 0.6))
        n_in, n_stand, n_out = (max(2, int(round(rng.uniform(a, b) * fps))) for a, b in
                                ((0.6, 1.5), (0.5, 1.5), (0.3, 0.6)))
        n_stand = max(n_stand, int(math.ceil(0.5 * fps)))
        total = n_in + n_stand + n_out
        gx, gy = rng.uniform(0.3, 0.7) * fw, rng.uniform(0.3, 0.5) * fh  # where the face centre stands
        if rng.random() < 0.4:  # walks towards the camera
            start = (gx + rng.uniform(-0.2, 0.2) * fw, gy + rng.uniform(-0.1, 0.05) * fh, rng.uniform(0.4, 0.6))
        else:  # in from a side
            start = (-0.3 * width if rng.random() < 0.5 else fw + 0.3 * width, gy + rng.uniform(-0.05, 0.05) * fh,
                     rng.uniform(0.75, 0.9))
        end = (-0.8 * width if rng.random() < 0.5 else fw + 0.8 * width, gy, 0.9)
        sway = rng.uniform(1.0, 4.0) * s
        phase = rng.uniform(0, 2 * math.pi, 4)

        def main_at(k: int) -> tuple[float, float, float, float, str]:
            """(face centre x, y, scale, angle, role) of the person at the gate in frame k."""
            if k < n_in:
                e = 1 - (1 - (k + 1) / n_in) ** 2  # slowing down on arrival
                return (start[0] + (gx - start[0]) * e, start[1] + (gy - start[1]) * e,
                        start[2] + (1 - start[2]) * e, 0.0, "walk_in")
            if k < n_in + n_stand:
                tt = (k - n_in) / fps
                return (gx + sway * math.sin(2.1 * tt + phase[0]), gy + sway * 0.6 * math.sin(1.7 * tt + phase[1]),
                        1 + 0.03 * math.sin(1.3 * tt + phase[2]), 4.0 * math.sin(1.1 * tt + phase[3]), "stand")
            e = ((k - n_in - n_stand + 1) / n_out) ** 2  # speeding up on leaving
            return gx + (end[0] - gx) * e, gy + (end[1] - gy) * e, 1 + (end[2] - 1) * e, 0.0, "walk_out"

        passers = []
        for _ in range(int(rng.integers(0, 3))):
            pcls = self.classes[int(rng.integers(len(self.classes)))]
            pface, pwidth = self._pick(rng, pcls, math.exp(rng.uniform(math.log(MIN_FACE),
                                                                       math.log(70 * max(s, 0.6)))))
            passers.append((pface, pwidth, int(rng.integers(0, max(1, total - 5))),  # first frame
                            rng.uniform(2.0, 4.0) * fps,  # frames to cross
                            rng.uniform(0.15, 0.6) * fh, rng.random() < 0.5))
        blur, dark, q0 = _conditions(rng)
        person = Person(c, cls, face.source, width, n_in, n_stand)
        exposure = rng.uniform(0.3, 0.6)  # share of the frame time the shutter is open

        def frames() -> Iterator[Frame]:
            prev = None
            for k in range(total):
                frng = np.random.default_rng([self.seed, 4, c, k])
                canvas = Canvas(bg)
                for pi, (pface, pwidth, t0, nframes, y, ltr) in enumerate(passers):  # behind the person
                    t = (k - t0) / nframes
                    if 0.0 <= t <= 1.0:
                        span = fw + 3 * pwidth
                        x = (-1.5 * pwidth + t * span) if ltr else (fw + 1.5 * pwidth - t * span)
                        canvas.add_face(pface, pwidth, x, y, "passer", 100 + pi, smear=span / nframes * exposure)
                cx, cy, sc, ang, role = main_at(k)
                px, py = (cx, cy) if prev is None else prev
                prev = (cx, cy)
                canvas.add_face(face, width * sc, cx, cy, role, 0, angle=ang,
                                smear=math.hypot(cx - px, cy - py) * exposure, smear_angle=math.atan2(cy - py, cx - px))
                q = int(np.clip(q0 + frng.integers(-5, 6), 30, 95))
                img = canvas.finish(frng, blur, dark, q)
                yield Frame(img, canvas.faces, "clip", bg_kind, blur is not None, dark is not None, q, c, k)

        return person, frames()

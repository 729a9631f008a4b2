"""Folder datasets for the mask classifier: discovery, decoding, content-hash splits, augmentation.

Layout: ROOT/<class folder>/<image files>. Folder names map to kiosk labels through ALIASES.
Split: each file goes to train/val/test by a hash of its BYTES (sha256), so the split is the same on
every machine, does not depend on file names or on which other files exist, and identical files can
never straddle splits. The hash is independent of the class, so every class is split in the same
proportions (stratified in expectation; the per-class counts are reported).

Derived images (tools/data/synth_masks.py writes ROOT/manifest.tsv with `output` and `source_sha256`)
are split by their SOURCE photo's hash instead: a synthetic masked face lands in the same split as the
unmasked photo it was drawn on, so no person is in train and test at once.

Relabelling: tools/training/relabel.tsv is a reviewed list of files (by sha256) whose folder label is wrong (real
masks worn below the nose filed under with_mask). scan() applies it; the shared folders stay untouched.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from kiosk import LABELS
from kiosk.vision.preprocess import resize_face

ROOT = Path(__file__).resolve().parents[2]

ALIASES = {
    "with_mask": "mask",
    "mask": "mask",
    "without_mask": "no_mask",
    "no_mask": "no_mask",
    "mask_weared_incorrect": "incorrect",
    "mask_worn_incorrect": "incorrect",
    "incorrect": "incorrect",
    "covered": "covered",  # tools/data/synth_coverings.py: paper, books, hands, scarves over nose and mouth
    "not_face": "not_face",  # tools/data/make_negatives.py
    "no_face": "not_face",
    "background": "not_face",
}
NOT_IMAGES = {".txt", ".md", ".json", ".csv", ".tsv", ".xml", ".db", ".ini"}
SPLITS = ("train", "val", "test")
# RGBA / LA / transparent palette images are composited over this grey before training, the same for
# every class, so transparency cannot become a class cue.
BACKGROUND = (128, 128, 128)
RELABEL_FILE = Path(__file__).resolve().with_name("relabel.tsv")


class DataError(Exception):
    """A problem with the user's data or arguments: reported as one line, exit code 2."""


@dataclass
class Sample:
    path: Path
    label: str
    digest: str
    split: str
    group: str = ""  # the hash that chose the split: the source photo's for derived images


@dataclass
class Dataset:
    labels: tuple[str, ...]
    samples: list[Sample]
    unreadable: list[Path] = field(default_factory=list)
    conflicts: int = 0
    duplicates: int = 0
    relabelled: int = 0  # files whose label tools/training/relabel.tsv corrected

    def of(self, split: str | None) -> list[Sample]:
        return [s for s in self.samples if split in (None, "all") or s.split == split]

    def counts(self) -> dict:
        out: dict = {}
        for sp in SPLITS:
            out[sp] = {l: sum(1 for s in self.samples if s.split == sp and s.label == l) for l in self.labels}
        return out


def split_of(digest: str, val: float = 0.15, test: float = 0.15) -> str:
    u = int(digest[:16], 16) / float(1 << 64)
    if u < test:
        return "test"
    if u < test + val:
        return "val"
    return "train"


def decode_rgb(data: bytes) -> np.ndarray:
    """Image bytes of any format/mode -> RGB uint8 [H, W, 3]. One path for every file and every class."""
    import io

    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        im = ImageOps.exif_transpose(im)
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "RGB" and "transparency" in im.info):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, BACKGROUND + (255,))
            im = Image.alpha_composite(bg, im)
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(im, dtype=np.float64)
            hi = arr.max() if arr.max() > 0 else 1.0
            im = Image.fromarray((arr * (255.0 / hi)).astype(np.uint8), "L")
        rgb = im.convert("RGB")
        arr = np.asarray(rgb, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError("not an RGB image")
    return np.ascontiguousarray(arr)


def load_image(path: Path) -> np.ndarray | None:
    """Decode a file to RGB uint8, or None when it is not a readable image."""
    try:
        return decode_rgb(Path(path).read_bytes())
    except Exception:  # PIL raises many types for broken files; never fatal
        return None


def as_frame(img_bgr: np.ndarray) -> np.ndarray:
    """A tight face crop padded with grey (40 % of its long side all round), as a camera frame holds a
    face: what the kiosk's detector needs to find it as it would at the gate."""
    pad = int(0.4 * max(img_bgr.shape[:2]))
    return cv2.copyMakeBorder(img_bgr, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=BACKGROUND)


def best_face(detector, rgb: np.ndarray, min_face: int = 0):
    """A dataset photo (RGB) padded as a camera frame (BGR), and the detector's best face in it: the
    largest and surest at least `min_face` px wide, or None."""
    frame = as_frame(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    dets = [d for d in detector.detect(frame) if d.box[2] >= min_face]
    return frame, (max(dets, key=lambda d: d.score * d.box[2]) if dets else None)


def write_face_cuts(ds: Dataset, out: Path, detector, folder_of: dict[str, str], cut, min_face: int = 0,
                    copies=None):
    """For every sample whose label is in `folder_of`: its best face (`best_face`), `cut(frame, detection,
    copy)` (an image, or None when nothing can be cut) written as PNG to OUT/<folder_of[label]>/, and a row of
    OUT/manifest.tsv in the format `read_manifest` reads, so each cut stays in its source photo's split.
    `copies(sample)` (default 1) cuts a sample more than once: copy 0, then 1, 2, ... (named `_c1`, ...).
    Returns ({folder: images written}, samples without a face or a cut)."""
    folders = list(dict.fromkeys(folder_of.values()))
    for folder in folders:
        (out / folder).mkdir(parents=True, exist_ok=True)
    written, no_face = {f: 0 for f in folders}, 0
    with (out / "manifest.tsv").open("w", encoding="utf-8") as tsv:
        tsv.write("output\tsource\tsource_sha256\tlabel\n")
        for s in ds.samples:
            if s.label not in folder_of:
                continue
            rgb = load_image(s.path)
            if rgb is None:
                continue
            frame, best = best_face(detector, rgb, min_face)
            images = [] if best is None else [cut(frame, best, k) for k in range(copies(s) if copies else 1)]
            images = [(k, im) for k, im in enumerate(images) if im is not None and im.size]
            if not images:
                no_face += 1
                continue
            for k, image in images:
                rel = Path(folder_of[s.label]) / f"{s.path.stem[:60]}_{s.digest[:8]}{f'_c{k}' if k else ''}.png"
                cv2.imwrite(str(out / rel), image)
                tsv.write(f"{rel.as_posix()}\t{s.path}\t{s.group}\t{s.label}\n")
                written[folder_of[s.label]] += 1
    return written, no_face


def read_manifest(root: Path) -> dict[Path, str]:
    """ROOT/manifest.tsv (from tools/data/synth_masks.py) -> {resolved output path: source sha256}."""
    path = root / "manifest.tsv"
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    head = lines[0].split("\t") if lines else []
    if "output" not in head or "source_sha256" not in head:
        raise DataError(f"{path}: expected columns 'output' and 'source_sha256', found {head}")
    io, isrc = head.index("output"), head.index("source_sha256")
    out: dict[Path, str] = {}
    for n, line in enumerate(lines[1:], start=2):
        cols = line.split("\t")
        if len(cols) <= max(io, isrc):
            raise DataError(f"{path}:{n}: expected {len(head)} tab-separated columns, found {len(cols)}")
        src = cols[isrc].strip().lower()
        if len(src) != 64 or any(c not in "0123456789abcdef" for c in src):
            raise DataError(f"{path}:{n}: source_sha256 '{cols[isrc]}' is not a sha256 hex digest")
        out[(root / cols[io]).resolve()] = src
    return out


def read_relabels(path: Path = RELABEL_FILE) -> dict[str, tuple[str, str]]:
    """The reviewed relabel list -> {sha256: (from label, to label)}. Lines starting with # are comments."""
    if not path.is_file():
        raise DataError(f"relabel list not found: {path}")
    rows = [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip() and not l.startswith("#")]
    head = rows[0].split("\t") if rows else []
    if head[:4] != ["sha256", "path", "from", "to"]:
        raise DataError(f"{path}: expected columns sha256, path, from, to[, note], found {head}")
    out: dict[str, tuple[str, str]] = {}
    for n, line in enumerate(rows[1:], start=2):
        cols = line.split("\t")
        if len(cols) < 4:
            raise DataError(f"{path}: row {n}: expected at least 4 tab-separated columns, found {len(cols)}")
        sha, frm, to = cols[0].strip().lower(), ALIASES.get(cols[2].strip()), ALIASES.get(cols[3].strip())
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise DataError(f"{path}: row {n}: '{cols[0]}' is not a sha256 hex digest")
        if frm is None or to is None:
            raise DataError(f"{path}: row {n}: unknown label in '{cols[2]}' -> '{cols[3]}'")
        out[sha] = (frm, to)
    return out


def scan(roots: list[str | Path], val: float = 0.15, test: float = 0.15, only: list[str] | None = None,
         relabels: dict[str, tuple[str, str]] | None = None) -> Dataset:
    """Find class folders in each root and hash every file. Raises DataError for unusable input.

    relabels: {sha256: (from, to)}; None reads tools/training/relabel.tsv. A file found under `from` is given `to`.
    """
    relabels = read_relabels() if relabels is None else relabels
    found: dict[str, list[Path]] = {}
    sources: dict[Path, str] = {}
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"dataset folder not found: {root}")
        sources.update(read_manifest(root))
        classes = [d for d in sorted(root.iterdir()) if d.is_dir() and d.name in ALIASES]
        if not classes:
            raise DataError(
                f"{root}: no class folders (expected some of {', '.join(sorted(ALIASES))})"
            )
        for d in classes:
            label = ALIASES[d.name]
            if only and label not in only:
                continue
            # every file is tried (names like x.jpg_1088Wx1632H exist); what does not decode is counted
            files = [p for p in sorted(d.rglob("*")) if p.is_file() and not p.name.startswith(".")
                     and p.suffix.lower() not in NOT_IMAGES]
            found.setdefault(label, []).extend(files)
    digests: dict[Path, str | None] = {}

    def digest_of(p: Path) -> str | None:  # each file is read and hashed once, whichever pass asks first
        if p not in digests:
            try:
                digests[p] = hashlib.sha256(p.read_bytes()).hexdigest()
            except OSError:
                digests[p] = None
        return digests[p]

    # the relabelled files are moved now, so a class that only they fill (incorrect) still counts
    moved = 0
    if relabels:
        for label in list(found):
            for p in list(found[label]):
                frm_to = relabels.get(digest_of(p))
                if frm_to and frm_to[0] == label:
                    found[label].remove(p)  # dropped when its true class is filtered out
                    if not only or frm_to[1] in only:
                        found.setdefault(frm_to[1], []).append(p)
                    moved += 1
    labels = tuple(l for l in LABELS if found.get(l))
    if only:
        bad = [l for l in only if l not in LABELS]
        if bad:
            raise DataError(f"--classes: unknown label '{bad[0]}' (known: {', '.join(LABELS)})")
    if len(labels) < 2:
        raise DataError(
            f"need at least 2 classes with image files, found {list(labels) or 'none'} in {', '.join(map(str, roots))}"
        )
    if "mask" not in labels or "no_mask" not in labels:
        raise DataError(f"classes {list(labels)} must include mask (with_mask) and no_mask (without_mask)")
    seen: dict[str, str] = {}
    samples: list[Sample] = []
    conflicts = duplicates = 0
    bad_digests: set[str] = set()
    for label in labels:
        for p in found[label]:
            digest = digest_of(p)
            if digest is None:
                continue
            if digest in seen:
                if seen[digest] != label:
                    conflicts += 1
                    bad_digests.add(digest)
                else:
                    duplicates += 1
                continue
            seen[digest] = label
            group = sources.get(p.resolve(), digest)
            samples.append(Sample(p, label, digest, split_of(group, val, test), group))
    if bad_digests:
        samples = [s for s in samples if s.digest not in bad_digests]
    return Dataset(labels, samples, conflicts=conflicts, duplicates=duplicates, relabelled=moved)


def load_arrays(ds: Dataset, samples: list[Sample], size: int, verbose: bool = True):
    """Decode + resize_face every sample -> (uint8 [N,size,size,3], int labels [N], kept samples).

    Unreadable files are skipped and recorded in ds.unreadable.
    """
    xs, ys, kept = [], [], []
    for i, s in enumerate(samples):
        img = load_image(s.path)
        if img is None:
            ds.unreadable.append(s.path)
            continue
        xs.append(resize_face(img, (size, size), exact=True))
        ys.append(ds.labels.index(s.label))
        kept.append(s)
        if verbose and (i + 1) % 500 == 0:
            print(f"  decoded {i + 1}/{len(samples)}", flush=True)
    if not xs:
        return np.zeros((0, size, size, 3), np.uint8), np.zeros((0,), np.int64), kept
    return np.stack(xs), np.asarray(ys, np.int64), kept


# ---------------------------------------------------------------------------------------- packed splits
# One portable file with the decoded, resized splits, so training can run on a machine (a rented GPU)
# that does not hold the dataset folders. Plain npz arrays, no pickle: images as JPEG (or PNG) bytes.
PACK_SCHEMA = "maskgate.packed/1"


@dataclass
class Packed:
    labels: tuple[str, ...]
    size: int
    roots: tuple[str, ...]
    quality: int  # JPEG quality; 0 = lossless PNG
    splits: dict  # split -> (uint8 [N,size,size,3], int64 [N])
    unreadable: int = 0
    duplicates: int = 0
    conflicts: int = 0
    val: float = 0.15  # the split fractions and class filter the folders were split with: the
    test: float = 0.15  # converter re-creates the test split from the folders with them
    classes: tuple[str, ...] | None = None

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        empty = (np.zeros((0, self.size, self.size, 3), np.uint8), np.zeros((0,), np.int64))
        return self.splits.get(name, empty)


def save_packed(pk: Packed, path: str | Path) -> None:
    arrays = {}
    for name, (x, y) in pk.splits.items():
        ext, opts = (".png", []) if pk.quality == 0 else (".jpg", [cv2.IMWRITE_JPEG_QUALITY, pk.quality])
        blobs = []
        for im in x:
            ok, buf = cv2.imencode(ext, np.ascontiguousarray(im[:, :, ::-1]), opts)
            if not ok:
                raise DataError(f"{path}: cannot encode a {name} image")
            blobs.append(buf.tobytes())
        arrays[f"{name}_data"] = np.frombuffer(b"".join(blobs), np.uint8)
        arrays[f"{name}_offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        arrays[f"{name}_labels"] = np.asarray(y, np.int64)
    meta = {"schema": PACK_SCHEMA, "labels": list(pk.labels), "size": pk.size, "roots": list(pk.roots),
            "quality": pk.quality, "splits": sorted(pk.splits), "unreadable": pk.unreadable,
            "duplicates": pk.duplicates, "conflicts": pk.conflicts, "val": pk.val, "test": pk.test,
            "classes": list(pk.classes) if pk.classes else None}
    with open(path, "wb") as f:
        np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)


def load_packed(path: str | Path, size: int | None = None) -> Packed:
    """Read a file from save_packed; DataError names the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"packed dataset not found: {path}")
    try:
        z = np.load(path, allow_pickle=False)
        meta = json.loads(bytes(z["meta"]).decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a packed dataset from tools/training/pack_dataset.py ({type(exc).__name__})") from None
    if meta.get("schema") != PACK_SCHEMA:
        raise DataError(f"{path}: schema {meta.get('schema')!r}, expected {PACK_SCHEMA!r}")
    if size is not None and meta["size"] != size:
        raise DataError(f"{path}: images are {meta['size']} px, --size is {size}; pack again with --size {size}")
    splits = {}
    for name in meta["splits"]:
        data, off, y = z[f"{name}_data"], z[f"{name}_offsets"], z[f"{name}_labels"]
        xs = []
        for i in range(len(off) - 1):
            im = cv2.imdecode(data[off[i]:off[i + 1]], cv2.IMREAD_COLOR)
            if im is None or im.shape != (meta["size"], meta["size"], 3):
                raise DataError(f"{path}: {name} image {i} does not decode to {meta['size']}x{meta['size']} RGB")
            xs.append(im[:, :, ::-1])
        x = np.stack(xs) if xs else np.zeros((0, meta["size"], meta["size"], 3), np.uint8)
        splits[name] = (np.ascontiguousarray(x), y.astype(np.int64))
    return Packed(tuple(meta["labels"]), meta["size"], tuple(meta["roots"]), meta["quality"], splits,
                  meta["unreadable"], meta["duplicates"], meta["conflicts"], meta.get("val", 0.15),
                  meta.get("test", 0.15), tuple(meta["classes"]) if meta.get("classes") else None)


# ---------------------------------------------------------------------------------------- augmentation


@dataclass
class AugmentConfig:
    rotation: float = 15.0  # degrees
    zoom: float = 0.15  # scale in [1 - zoom, 1 + zoom]
    shift: float = 0.1  # fraction of size
    shear: float = 0.1  # radians
    hflip: bool = True
    p_lowres: float = 0.5  # downscale to 30..100 px then back up (both classes)
    lowres_min: int = 30
    lowres_max: int = 100
    p_blur: float = 0.3
    p_jpeg: float = 0.5
    jpeg_min: int = 30
    jpeg_max: int = 95


def augment(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """One random training view of a model-sized RGB uint8 image (never flipped vertically)."""
    size = img.shape[0]
    # geometry: one affine warp (rotation, zoom, shear, shift, horizontal flip) around the centre
    ang = np.deg2rad(rng.uniform(-cfg.rotation, cfg.rotation))
    zoom = rng.uniform(1 - cfg.zoom, 1 + cfg.zoom)
    sh = rng.uniform(-cfg.shear, cfg.shear)
    flip = -1.0 if (cfg.hflip and rng.random() < 0.5) else 1.0
    c, s_ = np.cos(ang), np.sin(ang)
    rot = np.array([[c, -s_], [s_, c]])
    shear = np.array([[1.0, np.tan(sh)], [0.0, 1.0]])
    a = zoom * rot @ shear @ np.diag([flip, 1.0])
    centre = np.array([size / 2.0, size / 2.0])
    t = centre - a @ centre + rng.uniform(-cfg.shift, cfg.shift, 2) * size
    m = np.hstack([a, t[:, None]]).astype(np.float32)
    out = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    # anti-shortcut: camera-sized faces, blur and compression, applied to every class alike
    if rng.random() < cfg.p_lowres:
        small = int(rng.integers(cfg.lowres_min, cfg.lowres_max + 1))
        if small < size:
            out = resize_face(resize_face(out, (small, small), exact=True), (size, size), exact=True)
    if rng.random() < cfg.p_blur:
        sigma = rng.uniform(0.3, 1.5) * size / 128.0
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if rng.random() < cfg.p_jpeg:
        q = int(rng.integers(cfg.jpeg_min, cfg.jpeg_max + 1))
        ok, buf = cv2.imencode(".jpg", out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    return np.ascontiguousarray(out)


def representative(x: np.ndarray, y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Stratified subset indices: n images split evenly across classes (all of a class if it has fewer)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per = int(np.ceil(n / max(1, len(classes))))
    idx = []
    for c in classes:
        members = np.flatnonzero(y == c)
        idx.extend(rng.choice(members, size=min(per, len(members)), replace=False).tolist())
    rng.shuffle(idx)
    return np.asarray(idx, np.int64)

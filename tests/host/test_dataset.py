"""Decoding (every format/mode to RGB the same way), content-hash split, unreadable files, augmentation."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from tools.training import dataset as D

ROOT = Path(__file__).resolve().parents[2]


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_decode_modes_to_rgb_uint8():
    rgb = Image.new("RGB", (20, 10), (200, 100, 50))
    cases = [
        encode(rgb, "PNG"),
        encode(rgb, "JPEG", quality=95),
        encode(rgb.convert("L"), "PNG"),
        encode(rgb.convert("P"), "PNG"),
        encode(rgb.convert("RGBA"), "PNG"),
        encode(rgb, "WEBP", lossless=True),
        encode(rgb, "BMP"),
    ]
    for data in cases:
        arr = D.decode_rgb(data)
        assert arr.dtype == np.uint8 and arr.shape == (10, 20, 3)


def test_transparent_pixels_become_the_same_grey():
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))  # fully transparent red
    arr = D.decode_rgb(encode(rgba, "PNG"))
    assert (arr == np.array(D.BACKGROUND, np.uint8)).all()
    half = Image.new("RGBA", (8, 8), (255, 255, 255, 255))
    assert (D.decode_rgb(encode(half, "PNG")) == 255).all()


def test_greyscale_channels_equal():
    arr = D.decode_rgb(encode(Image.new("L", (5, 5), 77), "PNG"))
    assert (arr == 77).all()


def test_split_depends_only_on_content():
    import hashlib

    a = hashlib.sha256(b"same bytes").hexdigest()
    assert D.split_of(a) == D.split_of(a)
    splits = [D.split_of(hashlib.sha256(str(i).encode()).hexdigest()) for i in range(4000)]
    frac = {s: splits.count(s) / len(splits) for s in D.SPLITS}
    assert abs(frac["test"] - 0.15) < 0.03 and abs(frac["val"] - 0.15) < 0.03


def test_aliases_and_unreadable_counted(tmp_path):
    (tmp_path / "mask").mkdir()
    (tmp_path / "without_mask").mkdir()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(tmp_path / "mask" / "a.png")
    Image.new("RGB", (16, 16), (90, 20, 30)).save(tmp_path / "without_mask" / "b.jpg_1088Wx1632H", "JPEG")
    (tmp_path / "without_mask" / "c.jpg").write_bytes(b"garbage")
    ds = D.scan([tmp_path])
    assert ds.labels == ("mask", "no_mask")
    assert len(ds.samples) == 3
    x, y, kept = D.load_arrays(ds, ds.samples, 24, verbose=False)
    assert x.shape == (2, 24, 24, 3) and len(ds.unreadable) == 1
    assert ds.unreadable[0].name == "c.jpg"


def test_same_file_in_two_classes_is_dropped(tmp_path):
    for cls in ("with_mask", "without_mask"):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (16, 16), (1, 2, 3)).save(tmp_path / cls / "same.bmp")
        Image.new("RGB", (16, 16), (50, 60, 70) if cls == "with_mask" else (70, 60, 50)).save(tmp_path / cls / "x.bmp")
    ds = D.scan([tmp_path])
    assert ds.conflicts == 1 and len(ds.samples) == 2


def test_augment_keeps_shape_and_never_flips_vertically():
    rng = np.random.default_rng(0)
    img = np.zeros((64, 64, 3), np.uint8)
    img[:20] = 255  # bright top
    cfg = D.AugmentConfig()
    for _ in range(50):
        out = D.augment(img, rng, cfg)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert out[:16].mean() > out[-16:].mean()  # top stays on top


def test_representative_is_stratified():
    y = np.array([0] * 900 + [1] * 100)
    idx = D.representative(np.zeros((1000, 1)), y, 200)
    assert len(idx) == 200 and (y[idx] == 1).sum() == 100 and len(set(idx.tolist())) == 200


def _sources_and_derived(tmp_path, n: int = 40):
    """n unmasked 'photos' and, in a second root with a manifest, one derived image of each."""
    import hashlib

    real, synth = tmp_path / "real", tmp_path / "synth"
    for d in (real / "with_mask", real / "without_mask", synth / "mask_weared_incorrect"):
        d.mkdir(parents=True)
    Image.new("RGB", (16, 16), (9, 9, 9)).save(real / "with_mask" / "m.png")
    rows = ["output\tsource\tsource_sha256\tstyle"]
    for i in range(n):
        src = real / "without_mask" / f"{i}.png"
        Image.new("RGB", (16, 16), (i, 2 * i, 3)).save(src)
        out = synth / "mask_weared_incorrect" / f"{i}.png"
        Image.new("RGB", (16, 16), (i, 2 * i, 200)).save(out)
        rows.append(f"mask_weared_incorrect/{i}.png\t{src}\t{hashlib.sha256(src.read_bytes()).hexdigest()}\tnose")
    (synth / "manifest.tsv").write_text("\n".join(rows) + "\n")
    return real, synth


def test_derived_images_follow_their_source_photo_into_its_split(tmp_path):
    real, synth = _sources_and_derived(tmp_path)
    ds = D.scan([real, synth])
    by_digest = {s.digest: s for s in ds.samples}
    derived = [s for s in ds.samples if s.label == "incorrect"]
    assert len(derived) == 40
    for s in derived:
        source = by_digest[s.group]  # the group is the source photo's own content hash
        assert source.label == "no_mask" and source.split == s.split and s.group != s.digest
    # with 40 sources, the derived images do not all land in one split (the grouping is not a constant)
    assert len({s.split for s in derived}) > 1


def test_broken_manifest_is_a_clear_error(tmp_path):
    import pytest

    real, synth = _sources_and_derived(tmp_path, n=2)
    (synth / "manifest.tsv").write_text("output\tsource_sha256\nmask_weared_incorrect/0.png\tnot-a-digest\n")
    with pytest.raises(D.DataError, match=r"manifest.tsv:2: source_sha256 'not-a-digest'"):
        D.scan([real, synth])
    (synth / "manifest.tsv").write_text("file\tsource\n")
    with pytest.raises(D.DataError, match="expected columns 'output' and 'source_sha256'"):
        D.scan([real, synth])


def _pack(args):
    from tools.training import pack_dataset

    assert pack_dataset.main([str(a) for a in args]) == 0


def test_packed_splits_are_the_folder_splits(tmp_path):
    from tests.host.synth import make_dataset

    data = make_dataset(tmp_path / "data", n_per_class=30, size=40, seed=3)
    ds = D.scan([data])
    # lossless: exactly the arrays tools/train.py would decode from the folders
    _pack([data, "-o", tmp_path / "png.npz", "--size", 32, "--quality", 0])
    pk = D.load_packed(tmp_path / "png.npz", 32)
    assert pk.labels == ds.labels and pk.roots == (str(data.resolve()),)
    for sp in D.SPLITS:
        x, y, _ = D.load_arrays(ds, ds.of(sp), 32, verbose=False)
        px, py = pk.split(sp)
        assert np.array_equal(px, x) and np.array_equal(py, y), sp
    # JPEG: the same images, in the same order, up to compression; a split left out comes back empty
    _pack([data, "-o", tmp_path / "jpg.npz", "--size", 32, "--splits", "train,val"])
    pj = D.load_packed(tmp_path / "jpg.npz")
    xt, yt, _ = D.load_arrays(ds, ds.of("train"), 32, verbose=False)
    err = np.abs(pj.split("train")[0].astype(int) - xt).mean()
    other = np.abs(pj.split("train")[0].astype(int) - np.roll(xt, 1, axis=0)).mean()
    assert err < 8.0 and err < other / 3, (err, other)
    assert np.array_equal(pj.split("train")[1], yt)
    assert pj.split("test")[0].shape == (0, 32, 32, 3)
    assert (tmp_path / "jpg.npz").stat().st_size < (tmp_path / "png.npz").stat().st_size


def test_packed_file_refusals(tmp_path):
    import pytest

    from tests.host.synth import make_dataset

    data = make_dataset(tmp_path / "data", n_per_class=6, size=40, seed=4)
    _pack([data, "-o", tmp_path / "p.npz", "--size", 32])
    with pytest.raises(D.DataError, match="32 px, --size is 64"):
        D.load_packed(tmp_path / "p.npz", 64)
    with pytest.raises(D.DataError, match="not found"):
        D.load_packed(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(D.DataError, match="junk.npz: not a packed dataset"):
        D.load_packed(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(D.DataError, match="other.npz: not a packed dataset"):
        D.load_packed(tmp_path / "other.npz")


# ------------------------------------------------------------------------------------- relabel list


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_shipped_relabel_list_is_reviewed_masks_below_the_nose():
    rows = D.read_relabels()
    assert len(rows) >= 15
    assert set(rows.values()) == {("mask", "incorrect")}
    lines = [l for l in D.RELABEL_FILE.read_text().splitlines() if l and not l.startswith("#")][1:]
    assert len(lines) == len(rows)  # no sha256 twice
    assert all(l.split("\t")[4].strip() for l in lines)  # every row says what the photo shows


def test_scan_applies_relabels_and_drops_them_when_their_class_is_filtered_out(tmp_path):
    for cls in ("with_mask", "without_mask"):
        (tmp_path / cls).mkdir()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(tmp_path / "with_mask" / "below_nose.png")
    Image.new("RGB", (16, 16), (30, 20, 10)).save(tmp_path / "with_mask" / "proper.png")
    Image.new("RGB", (16, 16), (90, 90, 90)).save(tmp_path / "without_mask" / "bare.png")
    fix = {_sha(tmp_path / "with_mask" / "below_nose.png"): ("mask", "incorrect")}
    ds = D.scan([tmp_path], relabels=fix)
    got = {s.path.name: s.label for s in ds.samples}
    assert got == {"below_nose.png": "incorrect", "proper.png": "mask", "bare.png": "no_mask"}
    assert ds.labels == ("mask", "no_mask", "incorrect") and ds.relabelled == 1
    # a 2-class run must not keep the photo as `mask`
    two = D.scan([tmp_path], relabels=fix, only=["mask", "no_mask"])
    assert {s.path.name for s in two.samples} == {"proper.png", "bare.png"}
    # a relabel whose `from` does not match the folder is not applied
    other = D.scan([tmp_path], relabels={_sha(tmp_path / "without_mask" / "bare.png"): ("mask", "incorrect")})
    assert {s.path.name: s.label for s in other.samples}["bare.png"] == "no_mask"


def test_broken_relabel_list_is_a_clear_error(tmp_path):
    import pytest

    bad = tmp_path / "relabel.tsv"
    bad.write_text("sha256\tpath\tfrom\tto\tnote\nnot-a-hash\tx.jpg\tmask\tincorrect\tn\n")
    with pytest.raises(D.DataError, match=r"relabel.tsv: row 2: 'not-a-hash' is not a sha256"):
        D.read_relabels(bad)
    bad.write_text("sha256\tpath\tfrom\tto\tnote\n" + "a" * 64 + "\tx.jpg\tmask\tworn_wrong\tn\n")
    with pytest.raises(D.DataError, match="unknown label"):
        D.read_relabels(bad)


def test_relabels_hit_the_shared_photos_when_present():
    import pytest

    root = ROOT.parent / "shared" / "datasets" / "masks-real"
    if not root.is_dir():
        pytest.skip("../shared/datasets/masks-real not here")
    ds = D.scan([root])
    assert ds.relabelled == len(D.read_relabels())  # every reviewed photo was found and moved
    assert sum(1 for s in ds.samples if s.label == "incorrect") == ds.relabelled

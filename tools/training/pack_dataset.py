"""Pack the decoded, resized train/val/test splits of dataset folders into one portable .npz.

    .venv-host/bin/python -m tools.training.pack_dataset ../shared/datasets/masks-real ... -o build/pack128.npz \
        --splits train,val

For training on a machine that does not hold the dataset folders (a rented GPU): `tools/train.py
build/pack128.npz ...` then reads the splits from the file. The split rule, class folders and
resizing are tools/train.py's own (tools/training/dataset.py), so a packed run sees the same images; JPEG
quality 95 (the default) changes pixels by about 1 grey level on average, --quality 0 keeps them exact
(PNG, ~5x larger). The test split can be left out to keep the file small: convert_tflite.py verifies on
the folders named in the .train.json.
Face photos are personal data: the packed file holds them too, so treat it like the dataset.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.cli import CliError, run
from tools.training import dataset as D


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("roots", nargs="+", help="dataset root(s), as for tools/train.py")
    p.add_argument("-o", "--out", required=True, help="output .npz")
    p.add_argument("--size", type=int, default=128, help="square size in px (default 128, as --size of train.py)")
    p.add_argument("--splits", default="train,val,test", help="splits to include (default train,val,test)")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality 1..100, or 0 for lossless PNG (default 95)")
    p.add_argument("--val", type=float, default=0.15)
    p.add_argument("--test", type=float, default=0.15)
    p.add_argument("--classes", default=None, help="comma-separated labels to use, e.g. mask,no_mask")
    args = p.parse_args(argv)
    if not args.out.endswith(".npz"):
        raise CliError(f"--out {args.out}: must end with .npz (tools/train.py recognises packed files by it)")
    if not 0 <= args.quality <= 100:
        raise CliError(f"--quality {args.quality}: must be 1..100, or 0 for lossless PNG")
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    bad = [s for s in splits if s not in D.SPLITS]
    if bad or not splits:
        raise CliError(f"--splits {args.splits}: expected some of {', '.join(D.SPLITS)}")
    if args.size < 32:
        raise CliError(f"--size {args.size}: must be >= 32")
    only = [c.strip() for c in args.classes.split(",")] if args.classes else None
    ds = D.scan(args.roots, args.val, args.test, only)
    arrays = {sp: D.load_arrays(ds, ds.of(sp), args.size)[:2] for sp in splits}
    pk = D.Packed(ds.labels, args.size, tuple(str(Path(r).resolve()) for r in args.roots), args.quality,
                  arrays, len(ds.unreadable), ds.duplicates, ds.conflicts, args.val, args.test,
                  tuple(only) if only else None)
    if sum(len(y) for _, y in arrays.values()) == 0:
        raise CliError(f"no readable images in {', '.join(args.roots)} ({len(ds.unreadable)} unreadable)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    D.save_packed(pk, args.out)
    counts = {sp: len(y) for sp, (_, y) in arrays.items()}
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.1f} MB): {counts} images, labels {list(ds.labels)}, "
          f"{args.size} px, {'PNG' if args.quality == 0 else f'JPEG q{args.quality}'}; unreadable {len(ds.unreadable)}")
    return 0


if __name__ == "__main__":
    run(main)

"""Train the mask classifier (Keras 3, MobileNetV2 backbone) from folder datasets.

    .venv-host/bin/python -m tools.train ../shared/datasets/masks-real --out build/train \
        --size 128 --alpha 1.0 --weights torchvision:default

Writes OUT/NAME.keras, OUT/NAME.train.json (options, split sizes, labels, history, test metrics),
OUT/NAME_metrics.json, OUT/NAME_curves.png and OUT/NAME_confusion.png (held-out test split).
The model takes raw RGB 0..255 (Rescaling folded in), input from kiosk.vision.preprocess.resize_face.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tools.cli import CliError, keras, run
from tools.training import dataset as D
from tools.training import metrics as M


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("roots", nargs="+", help="dataset root(s): ROOT/with_mask, ROOT/without_mask[, ROOT/mask_weared_incorrect]; "
                   "or one .npz from tools/training/pack_dataset.py")
    p.add_argument("--out", default="build/train", help="output folder (default build/train)")
    p.add_argument("--name", default="mask_classifier")
    p.add_argument("--size", type=int, default=128, help="square input size in px (default 128)")
    p.add_argument("--alpha", type=float, default=1.0, help="MobileNetV2 width multiplier (default 1.0)")
    p.add_argument("--blocks", type=int, default=18,
                   help="last MobileNetV2 block kept (1..18; 18 = the whole network; 13: a quarter of the weights)")
    p.add_argument(
        "--weights",
        default="torchvision:default",
        help="imagenet (Keras download, needs internet) | none | torchvision:PATH|default (offline, default)",
    )
    p.add_argument("--classes", default=None, help="comma-separated labels to use, e.g. mask,no_mask")
    p.add_argument("--val", type=float, default=0.15, help="validation fraction (content-hash split)")
    p.add_argument("--test", type=float, default=0.15, help="test fraction (content-hash split)")
    p.add_argument("--epochs-head", type=int, default=6, help="phase 1: frozen backbone, train the head")
    p.add_argument("--epochs-fine", type=int, default=14, help="phase 2: fine-tune the upper blocks")
    p.add_argument("--fine-from", type=int, default=12, help="first MobileNetV2 block (0..18) unfrozen in phase 2")
    p.add_argument("--lr-head", type=float, default=1e-3)
    p.add_argument("--lr-fine", type=float, default=1e-4)
    p.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                   help="phase 2 learning rate: constant, or cosine decay to 0 over --epochs-fine")
    p.add_argument("--ema", type=float, default=0.0,
                   help="fine-tuning (pretrained weights) keeps an exponential moving average of the weights with "
                        "this momentum (e.g. 0.999): validation, early stopping and the saved model use the "
                        "average (0 = off)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--patience", type=int, default=3, help="early stopping patience on val loss")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--bn-momentum", type=float, default=0.9,
                   help="BatchNorm momentum for layers that train (0.9; Keras' 0.999 stalls from scratch)")
    p.add_argument("--max-per-class", type=int, default=0, help="cap images per class (smoke tests)")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--teacher", default=None,
                   help="a converted .tflite (with its .json) whose probabilities, on each augmented view, are the "
                        "targets instead of the folders' labels (distillation; the labels still split and score)")
    p.add_argument("--teacher-weight", type=float, default=1.0,
                   help="share of the target the teacher gives, the rest the label (default 1.0)")
    p.add_argument("--verbose", type=int, default=1, help="Keras fit verbosity (1 = progress bars)")
    return p.parse_args(argv)


def build_model(size: int, alpha: float, weights: str, n_classes: int, bn_momentum: float = 0.9,
                blocks: int = 18):
    """MobileNetV2 backbone + GAP -> Dense 128 ReLU -> Dropout 0.5 -> softmax. Returns (model, backbone layer names)."""
    k = keras()
    from keras import layers

    from tools.training import mobilenet as MN
    from tools.training.torch_weights import default_mobilenet_v2_path, load_state_dict

    if size < 32:
        raise CliError(f"--size {size}: must be >= 32")
    if not 1 <= blocks <= MN.LAST_BLOCK:
        raise CliError(f"--blocks {blocks}: must be 1..{MN.LAST_BLOCK}")
    if weights == "imagenet":
        if blocks != MN.LAST_BLOCK:
            raise CliError(f"--blocks {blocks}: only with --weights torchvision:... or none")
        try:
            base = k.applications.MobileNetV2(
                input_shape=(size, size, 3), alpha=alpha, include_top=False, weights="imagenet"
            )
        except Exception as exc:  # offline download failure or unsupported size/alpha
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CliError(f"--weights imagenet: cannot get Keras ImageNet weights ({first}); use --weights torchvision:default") from None
        inp = k.Input((size, size, 3), name="image")
        x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inp)
        backbone = k.Model(base.input, base.output, name="keras_mobilenetv2")
        feats = backbone(x)
        backbone_names = None  # nested model
    elif weights == "none" or weights.startswith("torchvision"):
        torch_norm = weights.startswith("torchvision")
        if torch_norm and alpha != 1.0:
            raise CliError(f"--weights {weights}: torchvision ImageNet weights exist for --alpha 1.0 only, got {alpha}")
        backbone = MN.build_backbone(size, alpha, torch_norm=torch_norm, bn_momentum=bn_momentum, blocks=blocks)
        if torch_norm:
            spec = weights.split(":", 1)[1] if ":" in weights else "default"
            path = default_mobilenet_v2_path() if spec in ("", "default") else Path(spec)
            state = load_state_dict(path)
            try:
                n = MN.load_torchvision_weights(backbone, state)
            except ValueError as exc:
                raise CliError(f"{path}: {exc}") from None
            print(f"imported torchvision ImageNet weights into {n} layers from {path}")
        inp, feats = backbone.input, backbone.output
        backbone_names = [l.name for l in backbone.layers]
    else:
        raise CliError(f"--weights {weights!r}: expected imagenet, none or torchvision:PATH|default")
    x = layers.GlobalAveragePooling2D(name="head_pool")(feats)
    x = layers.Dense(128, activation="relu", name="head_dense")(x)
    x = layers.Dropout(0.5, name="head_dropout")(x)
    out = layers.Dense(n_classes, activation="softmax", name="head_softmax")(x)
    model = k.Model(inp, out, name="mask_classifier")
    return model, backbone, backbone_names


class AugmentedBatches:
    """Factory for a keras.utils.PyDataset of randomly augmented, shuffled training batches."""

    @staticmethod
    def make(x, y, batch, seed, augment: bool, target=None, shrink=None):
        """`target(images, labels)`, when given, turns each batch's labels into soft targets (distillation);
        `shrink(images)`, when given, turns each view (after its target was taken) into the model's input size."""
        k = keras()

        class _DS(k.utils.PyDataset):
            def __init__(self):
                super().__init__(workers=1, use_multiprocessing=False)
                self.rng = np.random.default_rng(seed)
                self.cfg = D.AugmentConfig()
                self.order = self.rng.permutation(len(x))

            def __len__(self):
                return int(np.ceil(len(x) / batch))

            def __getitem__(self, i):
                idx = self.order[i * batch : (i + 1) * batch]
                if augment:
                    xb = np.stack([D.augment(x[j], self.rng, self.cfg) for j in idx])
                else:
                    xb = x[idx]
                yb = y[idx] if target is None else target(xb, y[idx])
                if shrink is not None:
                    xb = shrink(xb)
                return xb.astype(np.float32), yb

            def on_epoch_end(self):
                self.order = self.rng.permutation(len(x))

        return _DS()


def set_phase(model, backbone, phase: int, fine_from: int, backbone_names) -> None:
    from tools.training.mobilenet import block_index

    if backbone_names is None:  # Keras applications backbone (nested)
        backbone.trainable = phase == 2
        if phase == 2:
            n = len(backbone.layers)
            for i, l in enumerate(backbone.layers):
                l.trainable = i >= int(n * fine_from / 19) and type(l).__name__ != "BatchNormalization"
        return
    names = set(backbone_names)
    for l in model.layers:
        if l.name not in names:
            l.trainable = True
            continue
        if phase == 0:  # from scratch: everything trains, BatchNorm included
            l.trainable = True
        elif phase == 1:
            l.trainable = False
        else:
            b = block_index(l.name)
            # BatchNorm stays frozen (inference mode) when fine-tuning pretrained weights
            l.trainable = b is not None and b >= fine_from and type(l).__name__ != "BatchNormalization"


def predict_probs(model, x: np.ndarray, batch: int = 64) -> np.ndarray:
    if len(x) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    return model.predict(x.astype(np.float32), batch_size=batch, verbose=0)


def shrink_faces(x: np.ndarray, px: int) -> np.ndarray:
    """Simulate a face seen at `px` pixels: shrink through resize_face, then back up the way the kiosk does."""
    from kiosk.vision.preprocess import resize_face

    size = x.shape[1]
    return np.stack([resize_face(resize_face(im, (px, px), exact=True), (size, size), exact=True) for im in x]) if len(x) else x


def main(argv=None) -> int:
    args = parse_args(argv)
    only = [c.strip() for c in args.classes.split(",")] if args.classes else None
    if not 0 < args.val < 0.5 or not 0 < args.test < 0.5:
        raise CliError("--val and --test must be fractions between 0 and 0.5")
    if not 0 <= args.teacher_weight <= 1:
        raise CliError(f"--teacher-weight {args.teacher_weight:g}: must be between 0 and 1")
    if not 0 <= args.ema < 1:
        raise CliError(f"--ema {args.ema:g}: must be 0 (off) or a momentum in (0, 1), e.g. 0.999")
    t0 = time.time()
    view = args.size
    if args.teacher:
        from tools.training.distil import view_size

        view = view_size(args.teacher, args.size)
    packed = len(args.roots) == 1 and args.roots[0].endswith(".npz")
    if packed:
        # a file from tools/training/pack_dataset.py: splits already decoded and resized (train on another machine)
        if args.max_per_class or only:
            raise CliError("--max-per-class and --classes work on dataset folders; pack again with --classes")
        pk = D.load_packed(args.roots[0], args.size if view == args.size else None)
        if pk.size != view:  # a student smaller than its teacher is taught on the teacher's views, shrunk
            raise CliError(f"{args.roots[0]}: images are {pk.size} px; --teacher {args.teacher} sees {view} px views "
                           f"of the {args.size} px student's: pack again with --size {view}")
        labels = pk.labels
        (xtr, ytr), (xva, yva), (xte, yte) = pk.split("train"), pk.split("val"), pk.split("test")
        print(f"classes (output order): {list(labels)}; packed splits from {args.roots[0]} "
              f"(made from {', '.join(pk.roots)}, JPEG quality {pk.quality or 'lossless PNG'})")
        unreadable, duplicates, conflicts = pk.unreadable, pk.duplicates, pk.conflicts
        # the pack's split, not this command's --val/--test, is what the images were split by
        args.val, args.test, only = pk.val, pk.test, list(pk.classes) if pk.classes else None
    else:
        ds = D.scan(args.roots, args.val, args.test, only)
        labels = ds.labels
        print(f"classes (output order): {list(labels)}; files: {len(ds.samples)} "
              f"(identical duplicates skipped: {ds.duplicates}, same file in two classes dropped: {ds.conflicts})")
        train_s, val_s, test_s = ds.of("train"), ds.of("val"), ds.of("test")
        if args.max_per_class:
            def cap(ss):
                out = []
                for l in labels:
                    out += [s for s in ss if s.label == l][: args.max_per_class]
                return out
            train_s, val_s, test_s = cap(train_s), cap(val_s), cap(test_s)
        print(f"decoding and resizing images to {view}x{view} through kiosk.vision.preprocess.resize_face ...")
        xtr, ytr, _ = D.load_arrays(ds, train_s, view)
        xva, yva, _ = D.load_arrays(ds, val_s, view)
        xte, yte, _ = D.load_arrays(ds, test_s, view)
        if ds.unreadable:
            print(f"skipped {len(ds.unreadable)} unreadable image(s), e.g. {ds.unreadable[0]}")
        unreadable, duplicates, conflicts = len(ds.unreadable), ds.duplicates, ds.conflicts
    if len(xtr) + len(xva) + len(xte) == 0:
        raise CliError(f"no readable images in {', '.join(args.roots)} ({unreadable} unreadable)")
    present = sorted(set(ytr.tolist()))
    if len(present) < 2:
        raise CliError(f"training split has images of {len(present)} class(es) only; need at least 2")
    if len(xva) == 0:
        raise CliError("validation split is empty: add images or raise --val")
    split_counts = {
        sp: {l: int(np.sum(yy == i)) for i, l in enumerate(labels)}
        for sp, yy in (("train", ytr), ("val", yva), ("test", yte))
    }
    print(f"split sizes: {split_counts} (decoded in {time.time() - t0:.0f}s)")

    k = keras()
    k.utils.set_random_seed(args.seed)
    counts = np.bincount(ytr, minlength=len(labels)).astype(np.float64)
    class_weight = {i: float(len(ytr) / (len(labels) * c)) if c else 0.0 for i, c in enumerate(counts)}
    print(f"class weights: { {labels[i]: round(w, 3) for i, w in class_weight.items()} }")

    model, backbone, bnames = build_model(args.size, args.alpha, args.weights, len(labels), args.bn_momentum,
                                          args.blocks)
    teacher = soft = shrink = None
    # views: what the teacher sees (val and test as loaded); xva, xte: what the student sees
    xva_view, xte_view = xva, xte
    if view != args.size:
        from tools.training.distil import shrink_views

        def shrink(images):
            return shrink_views(images, args.size)

        xva, xte = shrink(xva_view), shrink(xte_view)
        print(f"the teacher sees each {view}px view, the student the same view shrunk to {args.size}px")
    if args.teacher:
        from tools.training.distil import Teacher, targets

        teacher = Teacher(args.teacher, list(labels), view)

        def soft(images, ys):
            return targets(teacher.probs(images), ys, args.teacher_weight)

        # the teacher's own calibration carries the class balance: no class weights on top of it
        class_weight = None
        print(f"distilling from {args.teacher} (target: {args.teacher_weight:g} teacher, "
              f"{1 - args.teacher_weight:g} label)")
    train_ds = AugmentedBatches.make(xtr, ytr, args.batch, args.seed, not args.no_augment, soft, shrink)
    val_data = (xva.astype(np.float32), yva if soft is None else soft(xva_view, yva))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    histories = []
    pretrained = args.weights != "none"

    def fit(epochs, lr, phase):
        set_phase(model, backbone, phase, args.fine_from, bnames)
        rate = lr
        if phase == 2 and args.lr_schedule == "cosine":
            rate = k.optimizers.schedules.CosineDecay(lr, decay_steps=epochs * len(train_ds))
        # The average of the weights over the last ~1/(1-ema) steps: a one-model try at what averaging several
        # runs gave (on validation-real it did not carry over: models/MODEL_CARD.md, session 13). Only when
        # fine-tuning: the head phase starts from random weights that an average would drag along.
        use_ema = bool(args.ema) and phase == 2
        ema = {"use_ema": True, "ema_momentum": args.ema} if use_ema else {}
        model.compile(
            optimizer=k.optimizers.Adam(rate, **ema),
            loss="categorical_crossentropy" if teacher else "sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        ntrain = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        print(f"phase {phase}: {epochs} epoch(s) max, lr {lr:g}"
              f"{' cosine' if rate is not lr else ''}, {ntrain:,} trainable parameters")
        cb = [k.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience, restore_best_weights=True)]
        if use_ema:
            # first, so that early stopping keeps (and at the end restores) the averaged weights it was shown
            cb.insert(0, k.callbacks.SwapEMAWeights(swap_on_epoch=True))
        h = model.fit(
            train_ds, validation_data=val_data, epochs=epochs, class_weight=class_weight,
            callbacks=cb, verbose=args.verbose, batch_size=None,
        )
        histories.append({kk: [float(v) for v in vv] for kk, vv in h.history.items()})

    t_train = time.time()
    if pretrained:
        if args.epochs_head > 0:
            fit(args.epochs_head, args.lr_head, 1)
        if args.epochs_fine > 0:
            fit(args.epochs_fine, args.lr_fine, 2)
    else:
        fit(max(1, args.epochs_head + args.epochs_fine), args.lr_head, 0)
    train_seconds = time.time() - t_train
    for l in model.layers:  # save a model whose every layer is trainable again
        l.trainable = True

    model_path = out / f"{args.name}.keras"
    model.save(model_path)
    print(f"wrote {model_path} (training {train_seconds / 60:.1f} min)")

    results, saved_val_loss = {}, None
    for split, xx, yy, views in (("val", xva, yva, xva_view), ("test", xte, yte, xte_view)):
        if len(xx):
            probs = predict_probs(model, xx)
            results[split] = M.compute(yy, probs.argmax(1), labels)
            print(f"{split}: {M.summary_line(results[split])}")
            if split == "val":
                # the saved weights are the ones validation chose (with --ema, the average): this is the best
                # val_loss (Keras's cross-entropy clips the same way)
                target = val_data[1] if teacher else np.eye(len(labels))[yy]
                saved_val_loss = float(-(target * np.log(np.clip(probs, 1e-7, 1 - 1e-7))).sum(1).mean())
            if teacher is not None:
                from tools.training.distil import agreement

                pos = labels.index("no_mask") if "no_mask" in labels else 0
                results[f"{split}_teacher_agreement"] = agreement(probs, teacher.probs(views), pos)
                a = results[f"{split}_teacher_agreement"]
                print(f"{split}: same top class as the teacher {a['same_top_class'] * 100:.2f} %, "
                      f"|P({labels[pos]}) - teacher's| mean {a['abs_diff_mean']:.3f}, p95 {a['abs_diff_p95']:.3f}")
    if len(xte) and "no_mask" in labels:
        nm = labels.index("no_mask")
        sel = yte == nm
        if sel.any():
            for px in (40, 30):
                pred = predict_probs(model, shrink_faces(xte[sel], px)).argmax(1)
                rate = float(np.mean(pred == nm))
                results[f"no_mask_at_{px}px"] = {"n": int(sel.sum()), "called_no_mask": rate,
                                                 "called_mask": float(np.mean(pred == labels.index("mask")))}
                print(f"test no_mask faces shrunk to {px} px: {rate * 100:.2f}% still called no_mask")
    M.plot_curves(histories, out / f"{args.name}_curves.png", f"{args.name} {args.size}px alpha {args.alpha:g} ({args.weights})")
    if "test" in results:
        M.plot_confusion(results["test"]["confusion_matrix"], labels, out / f"{args.name}_confusion.png",
                         f"test split, float Keras (n={results['test']['n']})")
    metrics = {"model": model_path.name, "labels": list(labels), **results}
    M.write_json(metrics, out / f"{args.name}_metrics.json")
    info = {
        "model": model_path.name,
        "labels": list(labels),
        "input_size": args.size,
        "alpha": args.alpha,
        "blocks": args.blocks,
        "weights": args.weights,
        # the folders the images came from, also for a packed .npz: convert_tflite verifies on them
        "roots": list(pk.roots) if packed else [str(Path(r).resolve()) for r in args.roots],
        "packed": str(Path(args.roots[0]).resolve()) if packed else None,
        "classes": only,
        "val_fraction": args.val,
        "test_fraction": args.test,
        "split_rule": "sha256(file bytes)[:16 hex] / 2^64: < test -> test, < test+val -> val, else train",
        "split_counts": split_counts,
        "unreadable": unreadable,
        "duplicates_skipped": duplicates,
        "conflicts_dropped": conflicts,
        "max_per_class": args.max_per_class,
        "seed": args.seed,
        "epochs": [len(h.get("loss", [])) for h in histories],
        "train_seconds": round(train_seconds, 1),
        "saved_val_loss": saved_val_loss,
        "options": vars(args),
        "history": histories,
        "metrics": results,
    }
    M.write_json(info, out / f"{args.name}.train.json")
    print(f"wrote {out / (args.name + '.train.json')}, {args.name}_metrics.json, _curves.png, _confusion.png")
    return 0


if __name__ == "__main__":
    run(main)

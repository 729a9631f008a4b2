"""Classification metrics for the mask classifier, and the plots that go with them (no sklearn)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    cm = np.zeros((n, n), np.int64)
    for t, p in zip(np.asarray(y_true, int), np.asarray(y_pred, int)):
        cm[t, p] += 1
    return cm


def compute(y_true, y_pred, labels) -> dict:
    """accuracy; precision/recall/F1 per class; false-accept (any other class called mask); false-reject."""
    labels = list(labels)
    y_true = np.asarray(y_true, int)
    y_pred = np.asarray(y_pred, int)
    cm = confusion(y_true, y_pred, len(labels))
    total = int(cm.sum())
    out: dict = {
        "n": total,
        "accuracy": float(np.trace(cm) / total) if total else 0.0,
        "labels": labels,
        "confusion_matrix": cm.tolist(),
        "per_class": {},
    }
    for i, l in enumerate(labels):
        tp = int(cm[i, i])
        pred = int(cm[:, i].sum())
        true = int(cm[i, :].sum())
        p = tp / pred if pred else 0.0
        r = tp / true if true else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        out["per_class"][l] = {"precision": p, "recall": r, "f1": f1, "support": true}
    if "mask" in labels:
        m = labels.index("mask")
        fa = {}
        for l in ("no_mask", "incorrect", "not_face", "covered"):
            if l in labels:
                i = labels.index(l)
                n_i = int(cm[i, :].sum())
                fa[l] = float(cm[i, m] / n_i) if n_i else None
        out["false_accept_rate"] = fa  # share of that class the gate would open for
        n_m = int(cm[m, :].sum())
        out["false_reject_rate"] = float((n_m - cm[m, m]) / n_m) if n_m else None  # masked, refused
    return out


def summary_line(m: dict) -> str:
    fa = ", ".join(f"{k}->mask {v * 100:.2f}%" for k, v in (m.get("false_accept_rate") or {}).items() if v is not None)
    fr = m.get("false_reject_rate")
    pcs = " ".join(
        f"{l}: P {d['precision'] * 100:.1f} R {d['recall'] * 100:.1f} F1 {d['f1'] * 100:.1f};"
        for l, d in m["per_class"].items()
    )
    return (
        f"n={m['n']} accuracy {m['accuracy'] * 100:.2f}% | {pcs} false accept {fa or 'n/a'}"
        + (f" | false reject {fr * 100:.2f}%" if fr is not None else "")
    )


def plot_confusion(cm, labels, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(3.6, 3.2), dpi=100)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_curves(histories: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=100)
    start = 0
    for k, h in enumerate(histories):
        n = len(h.get("loss", []))
        ep = np.arange(start + 1, start + n + 1)
        for ax, key in zip(axes, ("loss", "accuracy")):
            if key in h:
                ax.plot(ep, h[key], "-", color=f"C{2 * k}", label=f"train {key} (phase {k + 1})")
            if "val_" + key in h:
                ax.plot(ep, h["val_" + key], "--", color=f"C{2 * k + 1}", label=f"val {key} (phase {k + 1})")
        start += n
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_json(obj, path: Path) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")

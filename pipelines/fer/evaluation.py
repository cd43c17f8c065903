"""Score emotion predictions and draw the figures reviewers open next to an MLflow run.

Every function takes true labels 0..6 (FER2013's coding, see ``fer_schema.EMOTIONS``) and
an ``(n_images, 7)`` probability matrix whose column k is emotion k; the predicted emotion
is the argmax. Labels are always all seven emotions, so a test set that lacks one (a small
synthetic set, a subset) still gives metrics comparable across models: an absent emotion
scores 0 where a ratio is undefined (``zero_division=0``), as on the credit side.

Figures use matplotlib's Agg backend, chosen inside each function so importing this
module changes nothing, and are written atomically (temp file, then rename).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from pipelines.common.figures import pyplot, save_png
from pipelines.fer.schema import EMOTIONS

if TYPE_CHECKING:
    pass

N_CLASSES = len(EMOTIONS)
LABELS: list[int] = list(range(N_CLASSES))


def _check_inputs(y_true: Any, proba: Any) -> tuple[np.ndarray, np.ndarray]:
    """Integer labels and the probability matrix, or a ValueError saying what is wrong."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D emotion labels, got shape {y.shape}")
    if y.size and (y.dtype.kind not in "iub" and not np.all(np.equal(np.mod(y, 1), 0))):
        raise ValueError(f"y_true must hold integer labels 0..{N_CLASSES - 1}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= N_CLASSES):
        raise ValueError(
            f"y_true holds labels outside 0..{N_CLASSES - 1}: {sorted(set(y.tolist()))}"
        )
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != N_CLASSES:
        raise ValueError(f"proba must have shape (n_images, {N_CLASSES}), got {p.shape}")
    if p.shape[0] != y.shape[0]:
        raise ValueError(f"y_true has {y.shape[0]} labels but proba has {p.shape[0]} rows")
    if y.size == 0:
        raise ValueError("cannot score zero images")
    bad = ~np.isfinite(p)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ValueError(
            f"proba must be finite: row {row} holds NaN or infinity "
            f"({int(bad.any(axis=1).sum())} such rows)"
        )
    if np.any(p < 0):
        raise ValueError("proba must be non-negative")
    return y, p


def evaluate_fer(y_true: Any, proba: Any) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro and weighted precision/recall/F1, per-emotion
    ``precision_<Emotion>``, ``recall_``, ``f1_``, ``support_`` and ``confusion`` (7x7 counts
    as nested lists, rows true emotion, columns predicted, both in label order)."""
    y, p = _check_inputs(y_true, proba)
    pred = p.argmax(axis=1)
    metrics: dict[str, Any] = {"accuracy": float(accuracy_score(y, pred))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        metrics["balanced_accuracy"] = float(balanced_accuracy_score(y, pred))
    for average in ("macro", "weighted"):
        precision, recall, f1, _ = precision_recall_fscore_support(
            y, pred, labels=LABELS, average=average, zero_division=0
        )
        metrics[f"{average}_precision"] = float(precision)
        metrics[f"{average}_recall"] = float(recall)
        metrics[f"{average}_f1"] = float(f1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=LABELS, average=None, zero_division=0
    )
    for k, name in enumerate(EMOTIONS):
        metrics[f"precision_{name}"] = float(precision[k])
        metrics[f"recall_{name}"] = float(recall[k])
        metrics[f"f1_{name}"] = float(f1[k])
        metrics[f"support_{name}"] = int(support[k])
    metrics["confusion"] = confusion_matrix(y, pred, labels=LABELS).astype(int).tolist()
    return metrics


def per_class_table(y_true: Any, proba: Any) -> pd.DataFrame:
    """Precision, recall, F1 and support per emotion, one row each in label order."""
    y, p = _check_inputs(y_true, proba)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, p.argmax(axis=1), labels=LABELS, average=None, zero_division=0
    )
    return pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(int)},
        index=pd.Index(list(EMOTIONS), name="emotion"),
    )


def confusion_matrix_figure(y_true: Any, proba: Any, path: Path, title: str) -> Path:
    """PNG heatmap normalised per true emotion (each row sums to 1, an empty row stays 0),
    each cell annotated with its count and row share; emotion names on both axes."""
    y, p = _check_inputs(y_true, proba)
    counts = confusion_matrix(y, p.argmax(axis=1), labels=LABELS)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the true emotion")
    ax.set_xticks(range(N_CLASSES), list(EMOTIONS), rotation=30, ha="right")
    row_names = [f"{e} (n={int(n)})" for e, n in zip(EMOTIONS, totals[:, 0], strict=True)]
    ax.set_yticks(range(N_CLASSES), row_names)
    ax.set_xlabel("predicted emotion")
    ax.set_ylabel("true emotion")
    for (row, col), count in np.ndenumerate(counts):
        colour = "white" if shares[row, col] > 0.5 else "black"
        label = f"{count}\n{shares[row, col]:.0%}" if totals[row, 0] else "0"
        ax.text(col, row, label, ha="center", va="center", color=colour, fontsize=8)
    ax.set_title(title)
    return save_png(fig, path, dpi=110)


def training_curves_figure(history: Mapping[str, Sequence[float]], path: Path, title: str) -> Path:
    """PNG of loss and accuracy per epoch, training against validation (when recorded)."""
    epochs = len(history.get("loss", ()))
    if epochs == 0:
        raise ValueError("history has no epochs: expected a non-empty 'loss' list")
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    x = np.arange(1, epochs + 1)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for key, label, style in ((metric, "training", "-"), (f"val_{metric}", "validation", "--")):
            values = np.asarray(list(history.get(key, ())), dtype=float)
            if values.size != epochs:
                if values.size:
                    raise ValueError(
                        f"history[{key!r}] has {values.size} entries, 'loss' has {epochs}"
                    )
                continue
            if np.all(np.isnan(values)):
                continue
            ax.plot(x, values, style, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        if metric == "accuracy":
            ax.set_ylim(0, 1)
        ax.set_title(metric)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(title)
    return save_png(fig, path, dpi=110)

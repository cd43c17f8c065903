"""Turn candidate metrics into the tables and figures reviewers open next to an MLflow run.

Figures use matplotlib's Agg backend, chosen inside each function so importing this
module changes nothing. Every file is written to a temporary sibling and then moved into
place, so a reader (DVC, MLflow, a browser) never sees half a file.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipelines.common.figures import pyplot, save_png
from senim.atomic_files import write_text_atomically

if TYPE_CHECKING:
    pass

COMPARISON_METRICS: tuple[str, ...] = (
    "macro_f1",
    "balanced_accuracy",
    "accuracy",
    "weighted_f1",
    "roc_auc_ovr",
    "log_loss",
    "mean_abs_band_error",
    "within_one_band_accuracy",
    "expected_calibration_error",
)
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "expected_calibration_error_before_calibration",
    "cv_macro_f1_std",
    "cv_within_one_band_accuracy_std",
    "cv_mean_abs_band_error_std",
    "cv_expected_calibration_error_std",
    "seconds",
)
# Sorting by one of these puts the smallest first: for them lower is better.
LOWER_IS_BETTER: frozenset[str] = frozenset(
    {
        "log_loss",
        "mean_abs_band_error",
        "expected_calibration_error",
        "expected_calibration_error_before_calibration",
        "cv_macro_f1_std",
        "cv_within_one_band_accuracy_std",
        "cv_mean_abs_band_error_std",
        "cv_expected_calibration_error_std",
        "seconds",
    }
)
CHART_METRICS: tuple[str, ...] = ("macro_f1", "balanced_accuracy", "within_one_band_accuracy")


def comparison_table(
    results: Mapping[str, Mapping[str, float]],
    *,
    selection_metric: str,
    baseline: str | None = "thesis_baseline",
) -> pd.DataFrame:
    """One row per model, best first by ``selection_metric``, with rank and a baseline check.

    ``beats_baseline`` is True when a model's macro-F1 exceeds the baseline's; it is None
    on the baseline's own row and everywhere when no baseline is among the results.
    """
    if not results:
        raise ValueError("results is empty: need at least one model's metrics")
    columns = list(COMPARISON_METRICS) + [
        c for c in OPTIONAL_COLUMNS if any(c in metrics for metrics in results.values())
    ]
    if selection_metric not in columns:
        raise ValueError(
            f"selection_metric {selection_metric!r} is not a comparison column: "
            f"expected one of {', '.join(columns)}"
        )
    table = pd.DataFrame(
        [[_as_float(metrics.get(c)) for c in columns] for metrics in results.values()],
        index=pd.Index(list(results), name="model"),
        columns=columns,
    )
    table = table.sort_values(
        selection_metric,
        ascending=selection_metric in LOWER_IS_BETTER,
        kind="stable",
        na_position="last",
    )
    table["rank"] = np.arange(1, len(table) + 1)

    beats: list[bool | None] = [None] * len(table)
    if baseline is not None and baseline in table.index:
        reference = table.at[baseline, "macro_f1"]
        if not math.isnan(reference):
            beats = [
                None if name == baseline or math.isnan(f1) else bool(f1 > reference)
                for name, f1 in table["macro_f1"].items()
            ]
    table["beats_baseline"] = pd.Series(beats, index=table.index, dtype=object)
    return table


def _as_float(value: Any) -> float:
    return math.nan if value is None else float(value)


def markdown_table(df: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A GitHub markdown table of ``df`` with its index as the first column.

    Written here because ``tabulate`` is only a transitive dependency of DVC.
    """
    header = [str(df.index.name or "")] + [str(c) for c in df.columns]
    numeric = [False] + [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    lines = [
        _markdown_row(header),
        _markdown_row(["---:" if is_number else "---" for is_number in numeric]),
    ]
    for index, row in df.iterrows():
        lines.append(_markdown_row([_cell(index, floatfmt)] + [_cell(v, floatfmt) for v in row]))
    return "\n".join(lines) + "\n"


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _cell(value: Any, floatfmt: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else format(float(value), floatfmt)
    return str(value)


def write_comparison(table: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """Write comparison.{csv,md,html,png} into ``out_dir``; return the paths by kind."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / f"comparison.{kind}" for kind in ("csv", "md", "html", "png")}
    write_text_atomically(paths["csv"], table.to_csv())
    write_text_atomically(paths["md"], markdown_table(table, floatfmt=".4f"))
    write_text_atomically(paths["html"], _comparison_html(table))
    _plot_comparison(table, paths["png"])
    return paths


def _comparison_html(table: pd.DataFrame) -> str:
    """A self-contained page; the first row (rank 1) is the best model and is highlighted."""
    head = "".join(
        f"<th>{html.escape(str(c))}</th>" for c in [table.index.name or "", *table.columns]
    )
    body = []
    for position, (name, row) in enumerate(table.iterrows()):
        cells = "".join(f"<td>{html.escape(_cell(v, '.4f'))}</td>" for v in row)
        css = ' class="best"' if position == 0 else ""
        body.append(f"<tr{css}><th>{html.escape(str(name))}</th>{cells}</tr>")
    rows = "\n".join(body)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Senim: credit model comparison</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }}
thead th {{ background: #f0f0f0; }}
tbody th {{ text-align: left; }}
tr.best {{ background: #e3f6e3; font-weight: bold; }}
</style>
</head>
<body>
<h1>Credit model comparison</h1>
<p>Out-of-fold metrics under company-grouped CV; the highlighted row ranks first.</p>
<table>
<thead><tr>{head}</tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


def _plot_comparison(table: pd.DataFrame, path: Path) -> Path:
    plt = pyplot()
    metrics = [m for m in CHART_METRICS if m in table.columns]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(table)), 4.5))
    width = 0.8 / max(len(metrics), 1)
    x = np.arange(len(table))
    for i, metric in enumerate(metrics):
        ax.bar(x + (i - (len(metrics) - 1) / 2) * width, table[metric], width, label=metric)
    ax.set_xticks(x, [str(name) for name in table.index], rotation=20, ha="right")
    ax.set_ylim(0, 1.15)  # headroom for the legend
    ax.set_ylabel("score (higher is better)")
    ax.set_title("Candidate models, out-of-fold")
    ax.legend(loc="upper center", ncol=3, fontsize="small")
    return save_png(fig, path)


def plot_confusion(conf_df: pd.DataFrame, path: Path, title: str) -> Path:
    """Heatmap of counts, true band down the side and predicted band across."""
    plt = pyplot()
    counts = conf_df.to_numpy()
    fig, ax = plt.subplots(figsize=(6, 5))
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(counts.shape[1]), [str(c) for c in conf_df.columns])
    ax.set_yticks(range(counts.shape[0]), [str(i) for i in conf_df.index])
    ax.set_xlabel("predicted band")
    ax.set_ylabel("true band")
    threshold = counts.max() / 2 if counts.size else 0
    for (row, col), value in np.ndenumerate(counts):
        colour = "white" if value > threshold else "black"
        ax.text(col, row, str(value), ha="center", va="center", color=colour)
    ax.set_title(title)
    return save_png(fig, path)


def plot_calibration(cal_df: pd.DataFrame, path: Path, title: str) -> Path:
    """Reliability diagram: accuracy against mean confidence per bin, with the ideal diagonal."""
    plt = pyplot()
    filled = cal_df[cal_df["count"] > 0]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(filled["mean_confidence"], filled["accuracy"], marker="o", label="model")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean top-label confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return save_png(fig, path)


def plot_feature_importance(series: pd.Series, path: Path, title: str, top: int = 20) -> Path:
    """Horizontal bars of the ``top`` features by absolute importance, largest at the top."""
    plt = pyplot()
    ordered = series.reindex(series.abs().sort_values(ascending=False).index).head(top)
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.35 * len(ordered) + 1)))
    ax.barh([str(i) for i in ordered.index[::-1]], ordered.to_numpy()[::-1])
    ax.set_xlabel("importance")
    ax.set_title(title)
    return save_png(fig, path)


def plot_per_band(report_df: pd.DataFrame, path: Path, title: str) -> Path:
    """Precision, recall and F1 per band, support shown under each band name."""
    plt = pyplot()
    metrics = ["precision", "recall", "f1"]
    x = np.arange(len(report_df))
    width = 0.8 / len(metrics)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, metric in enumerate(metrics):
        ax.bar(x + (i - 1) * width, report_df[metric], width, label=metric)
    labels = [
        f"{band}\n(n={int(n)})"
        for band, n in zip(report_df.index, report_df["support"], strict=True)
    ]
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.15)
    ax.set_title(title)
    ax.legend(loc="upper center", ncol=3, fontsize="small")
    return save_png(fig, path)

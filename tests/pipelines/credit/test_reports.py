from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.credit.metrics import calibration_table, confusion, per_band_report
from pipelines.credit.reports import (
    comparison_table,
    markdown_table,
    plot_calibration,
    plot_confusion,
    plot_feature_importance,
    plot_per_band,
    write_comparison,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def metrics(macro_f1: float, balanced: float, **extra: float) -> dict[str, float]:
    return {
        "macro_f1": macro_f1,
        "balanced_accuracy": balanced,
        "accuracy": 0.7,
        "weighted_f1": 0.68,
        "roc_auc_ovr": 0.85,
        "log_loss": 1.1,
        "mean_abs_band_error": 0.4,
        "within_one_band_accuracy": 0.9,
        "expected_calibration_error": 0.05,
        **extra,
    }


@pytest.fixture
def results() -> dict[str, dict[str, float]]:
    return {
        "logistic_regression": metrics(0.41, 0.52, seconds=1.5),
        "xgboost": metrics(0.62, 0.58, seconds=9.0),
        "thesis_baseline": metrics(0.50, 0.60, seconds=30.0),
        "random_forest": metrics(0.55, 0.45, seconds=4.0),
    }


def test_given_results_when_compared_then_rows_are_sorted_by_the_selection_metric(
    results: dict[str, dict[str, float]],
) -> None:
    table = comparison_table(results, selection_metric="macro_f1")

    assert list(table.index) == [
        "xgboost",
        "random_forest",
        "thesis_baseline",
        "logistic_regression",
    ]
    assert table.index.name == "model"
    assert list(table["rank"]) == [1, 2, 3, 4]
    assert "seconds" in table.columns and "cv_macro_f1_std" not in table.columns


def test_given_another_selection_metric_when_compared_then_that_metric_orders_rows(
    results: dict[str, dict[str, float]],
) -> None:
    table = comparison_table(results, selection_metric="balanced_accuracy")

    assert table.index[0] == "thesis_baseline"


def test_given_a_baseline_when_compared_then_beats_baseline_compares_macro_f1(
    results: dict[str, dict[str, float]],
) -> None:
    beats = comparison_table(results, selection_metric="macro_f1")["beats_baseline"]

    assert beats["xgboost"] is True
    assert beats["random_forest"] is True
    assert beats["logistic_regression"] is False
    assert beats["thesis_baseline"] is None


def test_given_no_baseline_in_results_when_compared_then_beats_baseline_is_empty(
    results: dict[str, dict[str, float]],
) -> None:
    del results["thesis_baseline"]

    table = comparison_table(results, selection_metric="macro_f1")

    assert table["beats_baseline"].isna().all()


def test_given_an_unknown_selection_metric_when_compared_then_the_error_names_it(
    results: dict[str, dict[str, float]],
) -> None:
    with pytest.raises(ValueError, match="f2_score"):
        comparison_table(results, selection_metric="f2_score")


def test_given_a_table_when_written_then_every_file_exists_and_pngs_are_pngs(
    results: dict[str, dict[str, float]], tmp_path: Path
) -> None:
    table = comparison_table(results, selection_metric="macro_f1")

    paths = write_comparison(table, tmp_path / "reports")

    assert set(paths) == {"csv", "md", "html", "png"}
    for path in paths.values():
        assert path.stat().st_size > 0
    assert paths["png"].read_bytes().startswith(PNG_MAGIC)
    assert not [p for p in paths["png"].parent.iterdir() if p.suffix == ".tmp"]
    html = paths["html"].read_text()
    assert all(name in html for name in results)
    assert pd.read_csv(paths["csv"], index_col="model").shape[0] == len(results)


def test_given_a_table_when_rendered_as_markdown_then_header_separator_and_one_row_per_model(
    results: dict[str, dict[str, float]],
) -> None:
    table = comparison_table(results, selection_metric="macro_f1")

    lines = markdown_table(table, floatfmt=".4f").strip().splitlines()

    assert lines[0].startswith("| model | macro_f1 |")
    assert set(lines[1].replace("|", "").split()) <= {"---", "---:"}
    assert len(lines) == 2 + len(results)
    assert "| xgboost | 0.6200 |" in lines[2]


def test_given_evaluation_tables_when_plotted_then_each_figure_is_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, size=60)
    proba = rng.dirichlet(np.ones(6), size=60)
    importance = pd.Series(rng.normal(size=30), index=[f"ratio_{i}" for i in range(30)])

    written = [
        plot_confusion(confusion(y, proba), tmp_path / "confusion.png", "Confusion"),
        plot_calibration(calibration_table(y, proba), tmp_path / "calibration.png", "Reliability"),
        plot_feature_importance(importance, tmp_path / "importance.png", "Importance", top=10),
        plot_per_band(per_band_report(y, proba), tmp_path / "per_band.png", "Per band"),
    ]

    for path in written:
        assert path.read_bytes().startswith(PNG_MAGIC)


def test_given_many_plots_when_saved_then_no_figure_is_left_open(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    y = np.arange(6)
    for i in range(3):
        plot_confusion(confusion(y, np.eye(6)[y]), tmp_path / f"c{i}.png", "Confusion")

    assert len(plt.get_fignums()) == before

"""The monitoring report: Evidently's drift tests per column, the decision the thresholds
make of them, and the HTML opening in a real browser (headless Debian Chromium)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.release.drift_report import (
    MonitoringSummary,
    Quality,
    ReportColumns,
    decide,
    run_drift_report,
    save_report,
)

COLUMNS = ReportColumns(
    numerical=("currentRatio", "debtRatio", "netProfitMargin"),
    categorical=("Sector",),
    prediction_numerical=("score",),
    prediction_categorical=("band",),
)
THRESHOLDS = {"drift_share": 0.5, "min_rows": 50, "max_quality_drop": 0.1, "min_outcomes": 20}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _frame(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "currentRatio": rng.lognormal(0.4 - shift, 0.3, n),
            "debtRatio": rng.beta(5 + 5 * shift, 4, n),
            "netProfitMargin": rng.normal(0.06 - 0.05 * shift, 0.03, n),
            "Sector": rng.choice(["Energy", "Technology", "Finance"], n),
            "score": rng.normal(60 - 20 * shift, 10, n),
            "band": rng.choice(["A", "BBB", "BB"] if shift == 0 else ["BB", "B", "Junk"], n),
        }
    )


def _summary(results: dict, rows: int) -> MonitoringSummary:
    features = {c: results[c] for c in COLUMNS.features}
    drifted = [c for c, r in features.items() if r["drifted"]]
    share = len(drifted) / len(features)
    reasons, notes = decide(
        rows=rows, drift_share=share, drifted=drifted, quality=None, thresholds=THRESHOLDS
    )
    return MonitoringSummary(
        family="credit", model="credit-rating", version="1", data_version="d" * 32,
        window_start="2026-12-01T00:00:00+00:00", window_end="2026-12-02T00:00:00+00:00",
        rows=rows, reference_rows=400, drifted_features=drifted, feature_drift=features,
        drift_share=share, prediction_drift={c: results[c] for c in COLUMNS.predictions},
        quality=None, thresholds=THRESHOLDS, drift_detected=share >= 0.5, reasons=reasons,
        notes=notes,
    )  # fmt: skip


def test_given_the_same_distribution_when_reported_then_no_feature_drifts_and_nothing_triggers():
    rng = np.random.default_rng(0)
    _, results = run_drift_report(
        _frame(rng, 400, 0.0), _frame(rng, 300, 0.0), COLUMNS,
        drift_share=0.5, drift_threshold=None, title="same",
    )  # fmt: skip
    summary = _summary(results, 300)
    assert summary.drift_share < 0.5
    assert summary.reasons == []
    assert not results["band"]["drifted"]


def test_given_a_downturn_when_reported_then_features_and_predictions_drift_and_it_triggers():
    rng = np.random.default_rng(1)
    _, results = run_drift_report(
        _frame(rng, 400, 0.0), _frame(rng, 300, 1.0), COLUMNS,
        drift_share=0.5, drift_threshold=None, title="downturn",
    )  # fmt: skip
    summary = _summary(results, 300)
    assert set(summary.drifted_features) >= {"currentRatio", "debtRatio", "netProfitMargin"}
    assert results["band"]["drifted"] and results["score"]["drifted"]
    assert results["currentRatio"]["method"].startswith("K-S")
    assert (
        len(summary.reasons) == 1
        and "features drifted (75% >= monitoring.drift_share 50%)" in summary.reasons[0]
    )
    assert MonitoringSummary.from_json(summary.to_json()) == summary


def test_given_too_few_rows_or_a_quality_drop_when_decided_then_the_rule_says_why():
    few = decide(rows=10, drift_share=1.0, drifted=["a"], quality=None, thresholds=THRESHOLDS)
    assert few[0] == [] and "only 10 rows in the window" in few[1][0]
    quality = Quality(
        outcomes=40,
        realised={"macro_f1": 0.30, "within_one_band_accuracy": 0.7},
        estimated={"macro_f1": 0.55},
        drop=0.25,
    )
    reasons, _ = decide(
        rows=100, drift_share=0.0, drifted=[], quality=quality, thresholds=THRESHOLDS
    )
    assert reasons == [
        "realised macro-F1 0.300 is 0.250 below the CV estimate 0.550 "
        "(monitoring.max_quality_drop 0.1)"
    ]


def test_given_a_saved_report_when_opened_in_headless_chromium_then_it_renders_offline(tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI installs Debian's chromium (.ci/run); it is missing")
        pytest.skip("no Chromium here (apt-get install chromium)")
    rng = np.random.default_rng(2)
    snapshot, results = run_drift_report(
        _frame(rng, 400, 0.0), _frame(rng, 300, 1.0), COLUMNS,
        drift_share=0.5, drift_threshold=None, title="browser",
    )  # fmt: skip
    html = save_report([snapshot], _summary(results, 300), tmp_path / "report")[0]
    shot = tmp_path / "report.png"
    browser = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--virtual-time-budget=15000",
    ]  # fmt: skip

    subprocess.run(
        [*browser, f"--user-data-dir={tmp_path / 'a'}", "--window-size=1280,1600",
         f"--screenshot={shot}", html.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    dom = subprocess.run(
        [*browser, f"--user-data-dir={tmp_path / 'b'}", "--dump-dom", html.as_uri()],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip

    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1600, 1280)
    assert (pixels < 128).mean() > 0.005  # text and histograms drawn, not a blank page
    assert "Dataset Drift is detected" in dom  # rendered by the report's own inline scripts
    assert "debtRatio" in dom and "Drifted Columns" in dom

"""The credit and emotion cards say what they must, with the numbers they were given."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from pipelines.common.confidence_intervals import Interval
from pipelines.common.model_card import ChampionFacts, to_html, to_markdown
from pipelines.credit.card import CreditCardFacts, build_credit_card
from pipelines.credit.fairness import slice_report
from pipelines.credit.metrics import per_band_report
from pipelines.fer.card import FerCardFacts, build_fer_card
from pipelines.fer.schema import EMOTIONS
from senim.config import FairnessParams


def _credit_facts(**overrides) -> CreditCardFacts:
    bands = np.array([5, 4, 3, 2, 1, 0] * 5)
    pred = bands.copy()
    pred[:6] = 0  # the Energy rows: only the Junk one is right
    proba = np.eye(6)[pred]
    frame = pd.DataFrame(
        {
            "Name": [f"c{i // 2}" for i in range(30)],
            "Sector": ["Energy"] * 6 + ["Finance"] * 24,
            "Rating Agency Name": ["DBRS"] * 30,
        }
    )
    fairness = slice_report(
        frame, bands, pred, FairnessParams(metric="accuracy", max_gap=0.15, min_slice_size=5)
    )
    values = {
        "model_name": "credit-rating",
        "version": "7",
        "run_id": "abc123",
        "candidate": "xgboost",
        "data_version": "d41d8cd98f00b204e9800998ecf8427e",
        "data_source": "csv",
        "validation_headline": "data validation passed: 40 expectations met",
        "validation_evaluated": 40,
        "validation_failed": 0,
        "frame": frame,
        "bands": bands,
        "metrics": {"macro_f1": 0.81234, "accuracy": 0.8, "balanced_accuracy": 0.79},
        "intervals": {"macro_f1": Interval(0.8, 0.75, 0.85, "t over 3 folds")},
        "per_band": per_band_report(bands, proba),
        "champion": None,
        "fairness": fairness,
        "small_band_rows": 6,
    }
    return CreditCardFacts(**{**values, **overrides})


def test_given_credit_facts_when_card_built_then_it_holds_lineage_metrics_and_profile():
    markdown = to_markdown(build_credit_card(_credit_facts()))

    assert "# Model card: credit-rating version 7" in markdown
    assert "Individuals or sole traders" in markdown and "human reviews" in markdown
    assert "MLflow run: abc123" in markdown
    assert "Data version (DVC md5): d41d8cd98f00b204e9800998ecf8427e" in markdown
    assert "data validation passed: 40 expectations met (40 evaluated, 0 failed)" in markdown
    assert "30 ratings of 15 companies in 2 sectors" in markdown
    assert "| A+ | 5 | 16.7% |" in markdown
    assert "| Finance | 24 | 12 |" in markdown
    assert "| macro_f1 | 0.8123 | 0.8000 | [0.7500, 0.8500] |" in markdown
    # Junk: its 5 rows right plus 5 Energy rows wrongly called Junk: precision 5/10
    assert "| Junk | 0.5000 | 1.0000 | 0.6667 | 5 |" in markdown
    assert "No champion yet." in markdown


def test_given_flagged_slice_and_small_bands_then_limitations_name_them():
    markdown = to_markdown(build_credit_card(_credit_facts()))

    # Energy: 1 of 6 right (0.1667) against 25 of 30 overall (0.8333): gap 0.6667
    assert "Sector = Energy: accuracy 0.1667 is 0.6667 below the overall 0.8333 (6 rows)" in (
        markdown
    )
    assert "Band A+ has only 5 rows (fewer than 6)" in markdown
    assert "synthetic" not in markdown  # a csv source


def test_given_synthetic_source_and_champion_then_card_says_both():
    champion = ChampionFacts("6", {"macro_f1": 0.7}, "recorded on the same folds")

    markdown = to_markdown(
        build_credit_card(_credit_facts(data_source="synthetic", champion=champion))
    )

    assert "Trained on synthetic data" in markdown
    assert "| macro_f1 | 0.8123 | 0.7000 | +0.1123 |" in markdown


def test_given_credit_card_then_html_renders_the_same_content():
    card = build_credit_card(_credit_facts())

    page = to_html(card)

    assert "<td>0.8123</td>" in page and "Individuals or sole traders" in page


def _fer_facts(**overrides) -> FerCardFacts:
    metrics = {"accuracy": 0.5, "macro_f1": 0.4321, "balanced_accuracy": 0.45}
    for k, e in enumerate(EMOTIONS):
        metrics |= {f"precision_{e}": 0.1 * k, f"recall_{e}": 0.05 * k, f"f1_{e}": 0.02 * k}
        metrics[f"support_{e}"] = 40 if e != "Disgust" else 3
    export = SimpleNamespace(kind="int8", accuracy=0.47, keras_accuracy=0.5, accepted=True)
    values = {
        "model_name": "fer-emotion",
        "version": "2",
        "run_id": "r9",
        "architecture": "senim_cnn",
        "profile": "quick",
        "data_version": "0123456789abcdef0123456789abcdef",
        "data_source": "csv",
        "validation_headline": "FER data validation passed: 30 expectations met",
        "validation_evaluated": 30,
        "validation_failed": 0,
        "labels": np.array([0, 1, 3, 3, 3, 3, 0]),
        "usage": np.array(["Training"] * 5 + ["PublicTest"] * 2),
        "dropped": {"blank_dropped": {"Training": 2, "PublicTest": 0}, "cross_split_dropped": 1},
        "training_duplicates": 4,
        "evaluation_usage": "PublicTest",
        "metrics": metrics,
        "intervals": {
            "accuracy": Interval(0.5, 0.41, 0.59, "bootstrap, 1000 resamples, seed 7"),
            "macro_f1": Interval(0.4321, 0.35, 0.5, "bootstrap, 1000 resamples, seed 7"),
        },
        "exports": [export],
        "champion": None,
        "small_class_images": 30,
    }
    return FerCardFacts(**{**values, **overrides})


def test_given_fer_facts_when_card_built_then_metrics_profile_and_limitations_appear():
    markdown = to_markdown(build_fer_card(_fer_facts()))

    assert "camera host" in markdown and "Identifying or tracking individuals" in markdown
    assert "| accuracy | 0.5000 | [0.4100, 0.5900] |" in markdown
    assert "| macro_f1 | 0.4321 | [0.3500, 0.5000] |" in markdown
    assert "bootstrap, 1000 resamples, seed 7" in markdown
    assert "| Happy | 3 | 1 | 4 |" in markdown and "| total | 5 | 2 | 7 |" in markdown
    assert "Dropped blank images: 2 (Training 2)" in markdown
    assert "exact copy in an evaluation usage: 1" in markdown
    assert "| Surprise | 0.5000 | 0.2500 | 0.1000 | 40 |" in markdown
    assert "| int8 | 0.4700 | 0.0300 | yes |" in markdown
    assert "drop 0.0300; accepted" in markdown
    assert "Disgust has only 3 PublicTest images" in markdown
    assert "FER2013 has no demographic labels" in markdown
    assert "synthetic" not in markdown


def test_given_fer_champion_when_card_built_then_comparison_lists_its_version():
    champion = ChampionFacts("1", {"accuracy": 0.55}, "same images")

    markdown = to_markdown(build_fer_card(_fer_facts(champion=champion)))

    assert "| accuracy | 0.5000 | 0.5500 | -0.0500 |" in markdown
    assert "| macro_f1 | 0.4321 | n/a | n/a |" in markdown

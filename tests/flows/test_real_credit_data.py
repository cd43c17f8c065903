"""With ../shared present: train on the real development file with few trials."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipelines.credit.predict import OUTPUT_COLUMNS
from senim.cli.app import main
from tests.integration_workspace import make_workspace

pytestmark = [pytest.mark.integration, pytest.mark.shared_data]

REAL = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "corporate_rating"
    / "corporate_rating_dev.csv"
)


@pytest.mark.skipif(not REAL.is_file(), reason="../shared/data/corporate_rating is absent")
def test_given_real_dev_file_when_trained_then_predict_contract_holds(tmp_path, monkeypatch):
    make_workspace(
        tmp_path,
        monkeypatch,
        validation={"min_rows": 100, "min_rows_per_band": 5},
        cv={"n_splits": 3, "seed": 42},
        smote={"k_neighbors": 5},
        features={"knn_neighbors": 5},
    )
    from flows.retrain_credit import retrain_credit

    summary = retrain_credit(data_csv=str(REAL))
    assert summary.registered_version == "1"

    rows = pd.read_csv(REAL).head(25).drop(columns=["Rating"])
    source = tmp_path / "applications.csv"
    rows.to_csv(source, index=False)
    output = tmp_path / "scored.csv"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "credit",
                "predict",
                "--input",
                str(source),
                "--output",
                str(output),
                "--model-uri",
                "models:/credit-rating/1",
            ]
        )
    assert exit_info.value.code in (0, None)
    scored = pd.read_csv(output)
    assert set(OUTPUT_COLUMNS) | {"decision"} <= set(scored.columns) and len(scored) == 25
    assert scored["score"].between(0, 100).all()

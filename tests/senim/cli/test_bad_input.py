"""Bad input to `senim credit train`: one clear line, a non-zero exit, nothing registered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from senim.cli.app import main
from senim.environment import resolve_stores
from tests.postgres_server import free_port

pytestmark = pytest.mark.integration

MODEL = "credit-rating"


def _registry_state():
    from pipelines.common.mlflow_store import mlflow_client

    client = mlflow_client(resolve_stores())
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{MODEL}'"))
    aliases = client.get_registered_model(MODEL).aliases
    return versions, dict(aliases)


def _train(args: list[str], capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["credit", "train", *args])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    return exit_info.value.code, errors


@pytest.fixture()
def good_frame(trained_store) -> pd.DataFrame:
    return pd.read_csv(trained_store["workspace"] / "data/credit/snapshot.csv")


def _write(frame: pd.DataFrame, path: Path, **kwargs) -> Path:
    frame.to_csv(path, index=False, **kwargs)
    return path


def _inf_ratio(f):
    f.loc[3:5, "currentRatio"] = np.inf
    return f


def _all_null(f):
    f["cashRatio"] = np.nan
    return f


def _unknown_labels(f):
    f.loc[[1, 2], "Rating"] = ["AAX", "Q"]
    return f


def _non_numeric(f):
    f["debtRatio"] = f["debtRatio"].astype(object)
    f.loc[4, "debtRatio"] = "n.a.%"
    return f


def _missing_columns(f):
    return f.drop(columns=["quickRatio", "Sector"])


def _too_few_rows(f):
    return f.head(30)


def _too_few_for_smote(f):
    """Junk reduced to 5 rows of 2 companies: some training fold has <= k=3 of them."""
    junk = f["Rating"].isin(["CCC+", "CCC", "CCC-", "CC", "C", "D"])
    companies = f.loc[junk, "Name"].drop_duplicates().head(2).tolist()
    keep_junk = f[junk & f["Name"].isin(companies)].groupby("Name").head(3).head(5)
    return pd.concat([f[~junk], keep_junk]).reset_index(drop=True)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_missing_columns, "missing required column(s) 'Sector', 'quickRatio'"),
        (_non_numeric, "column 'debtRatio' must be numeric but has 'n.a.%'"),
        (_inf_ratio, "currentRatio: 3 infinite values"),
        (_all_null, "cashRatio"),
        (_unknown_labels, "Rating: 2 unknown labels"),
        (_too_few_rows, "rows"),
        (_too_few_for_smote, "smote.k_neighbors"),
    ],
    ids=[
        "missing-columns",
        "non-numeric",
        "infinity",
        "all-null",
        "unknown-label",
        "too-few-rows",
        "too-few-for-smote",
    ],
)
def test_given_bad_csv_when_trained_then_one_error_line_and_registry_untouched(
    trained_store, good_frame, tmp_path, capsys, mutate, expected
):
    before = _registry_state()
    bad = _write(mutate(good_frame.copy()), tmp_path / "bad.csv")

    code, errors = _train(["--data", str(bad)], capsys)

    assert code != 0
    assert len(errors) == 1 and expected in errors[0], errors
    assert _registry_state() == before


def test_given_missing_file_when_trained_then_error_names_file(trained_store, tmp_path, capsys):
    code, errors = _train(["--data", str(tmp_path / "nope.csv")], capsys)
    assert code == 3 and errors == [
        f"error: --data: credit data file not found: {tmp_path / 'nope.csv'}"
    ]


def test_given_semicolon_csv_when_trained_then_error_names_delimiter(
    trained_store, good_frame, tmp_path, capsys
):
    before = _registry_state()
    code, errors = _train(
        ["--data", str(_write(good_frame, tmp_path / "semi.csv", sep=";"))], capsys
    )
    assert code != 0 and "semicolon" in errors[0]
    assert _registry_state() == before


def test_given_unreachable_postgres_source_when_trained_then_error_names_host(
    trained_store, monkeypatch, capsys
):
    from tests.integration_workspace import write_params

    before = _registry_state()
    port = free_port()
    write_params(
        trained_store["workspace"], data={"source": "postgres", "postgres_table": "ratings"}
    )
    monkeypatch.setenv("SENIM_SOURCE_DSN", f"postgresql://senim:secret@127.0.0.1:{port}/credit")
    try:
        code, errors = _train([], capsys)
    finally:
        write_params(trained_store["workspace"])
    assert code == 4
    assert f"127.0.0.1:{port}" in errors[0] and "secret" not in errors[0]
    assert _registry_state() == before


def test_given_unreachable_optuna_storage_when_trained_then_fails_before_training(
    trained_store, monkeypatch, capsys
):
    before = _registry_state()
    monkeypatch.setenv("SENIM_OPTUNA_STORAGE", f"postgresql://x:pw@127.0.0.1:{free_port()}/optuna")
    code, errors = _train([], capsys)
    assert code == 4 and "Optuna storage" in errors[0] and ":***@" in errors[0]
    assert _registry_state() == before


def test_given_invalid_params_when_run_then_config_error_names_field(trained_store, capsys):
    from tests.integration_workspace import write_params

    write_params(trained_store["workspace"], cv={"n_splits": 1})
    try:
        code, errors = _train([], capsys)
    finally:
        write_params(trained_store["workspace"])
    assert code == 2 and "cv.n_splits" in errors[0]


def test_given_bad_file_when_cli_process_runs_then_stderr_is_exactly_one_line(tmp_path):
    """The real console script: no traceback or log noise around the one error line."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_LOGGING", "MLFLOW_LOGGING"))
    }
    env.update(SENIM_HOME=str(tmp_path / "home"), SENIM_WORKSPACE=str(tmp_path))
    (tmp_path / "params.yaml").write_text("{}\n")
    (tmp_path / "bad.csv").write_text("Rating;Name\nAA;x\n")
    senim = Path(sys.executable).with_name("senim")
    result = subprocess.run(
        [str(senim), "credit", "train", "--data", str(tmp_path / "bad.csv")],
        capture_output=True,
        check=False,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "semicolon" in errors[0]
    assert "Traceback" not in result.stderr

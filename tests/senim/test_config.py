from pathlib import Path

import pytest
from pydantic import ValidationError

from senim.config import Params, load_params, parse_params
from senim.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_given_repo_params_yaml_when_loaded_then_valid_and_frozen():
    params = load_params(REPO / "params.yaml")
    assert params.registry.model_name == "credit-rating"
    with pytest.raises(ValidationError):
        params.cv.n_splits = 3  # type: ignore[misc]


def test_given_unknown_key_when_parsed_then_error_names_dotted_field():
    with pytest.raises(ConfigError, match=r"tuning\.trials\.xgbost"):
        parse_params({"tuning": {"trials": {"xgbost": 3}}})


def test_given_out_of_range_value_when_parsed_then_error_names_field():
    with pytest.raises(ConfigError, match=r"cv\.n_splits"):
        parse_params({"cv": {"n_splits": 1}})


def test_given_csv_source_without_path_when_parsed_then_error():
    with pytest.raises(ConfigError, match="csv_path is required"):
        parse_params({"data": {"source": "csv"}})


def test_given_missing_file_when_loaded_then_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read params file"):
        load_params(tmp_path / "nope.yaml")


def test_given_malformed_yaml_when_loaded_then_config_error(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("cv: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_given_overrides_when_applied_then_revalidated():
    params = Params().with_overrides(data={"source": "csv", "csv_path": "x.csv"})
    assert params.data.source == "csv"
    with pytest.raises(ConfigError):
        Params().with_overrides(cv={"n_splits": 0})


def test_given_snapshot_outside_data_when_parsed_then_error():
    with pytest.raises(ConfigError, match="snapshot_path"):
        parse_params({"data": {"snapshot_path": "../elsewhere.csv"}})


def test_given_code_defaults_then_they_equal_the_repo_params_yaml():
    """params.yaml is the single source: the typed defaults may not drift from it."""
    assert Params() == load_params(REPO / "params.yaml")

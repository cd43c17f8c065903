"""Champion evidence: reuse the recorded score on identical folds, refit the recipe otherwise."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

from pipelines.credit.grouped_cv import folds_fingerprint, grouped_folds
from pipelines.credit.registry import champion_evidence
from pipelines.credit.training_matrix import TrainingMatrix
from pipelines.release.registry import current_alias
from senim.config import Params
from tests.models.credit_matrix import BAND, credit_matrix


class FakeRegistry:
    def __init__(self, champion=None, model_exists=True):
        self.champion = champion
        self.model_exists = model_exists

    def get_registered_model(self, name):
        if not self.model_exists:
            raise MlflowException("no such model", error_code=RESOURCE_DOES_NOT_EXIST)
        return SimpleNamespace(name=name)

    def get_model_version_by_alias(self, name, alias):
        if self.champion is None:
            raise MlflowException("alias not found", error_code=RESOURCE_DOES_NOT_EXIST)
        return self.champion


@pytest.fixture(scope="module")
def matrix_and_folds():
    frame = credit_matrix(n_companies=60, seed=4)
    matrix = TrainingMatrix(
        features=frame.drop(columns=[BAND, "Name"]),
        bands=frame[BAND].to_numpy(),
        companies=frame["Name"].to_numpy(),
    )
    folds = grouped_folds(matrix.bands, matrix.companies, n_splits=3, seed=0, smote_k=2)
    return matrix, folds


def _params() -> Params:
    return Params().with_overrides(smote={"k_neighbors": 2}, features={"knn_neighbors": 3})


def test_given_no_registered_model_when_asked_then_no_champion(matrix_and_folds):
    matrix, folds = matrix_and_folds
    client = FakeRegistry(model_exists=False)
    assert current_alias(client, "credit-rating", "champion") is None
    assert champion_evidence(client, "credit-rating", matrix, folds, "fp", _params()) is None


def test_given_champion_on_same_folds_when_asked_then_recorded_score_is_reused(matrix_and_folds):
    matrix, folds = matrix_and_folds
    fingerprint = folds_fingerprint(folds)
    champion = SimpleNamespace(
        version=3, tags={"cv_folds_fingerprint": fingerprint, "cv.macro_f1": "0.4321"}
    )
    evidence = champion_evidence(
        FakeRegistry(champion), "credit-rating", matrix, folds, fingerprint, _params()
    )
    assert evidence.version == "3" and evidence.macro_f1 == pytest.approx(0.4321)


def test_given_champion_from_other_folds_when_asked_then_its_recipe_is_refitted_on_these(
    matrix_and_folds,
):
    matrix, folds = matrix_and_folds
    champion = SimpleNamespace(
        version=2,
        tags={
            "cv_folds_fingerprint": "other-data",
            "cv.macro_f1": "0.99",  # flattering number from other folds must be ignored
            "family": "decision_tree",
            "hyperparams": json.dumps({"max_depth": 4, "min_samples_leaf": 2}),
        },
    )
    evidence = champion_evidence(
        FakeRegistry(champion), "credit-rating", matrix, folds, folds_fingerprint(folds), _params()
    )
    assert evidence.version == "2"
    assert 0.0 < evidence.macro_f1 < 0.99

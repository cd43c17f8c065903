"""Company-grouped folds: no leakage, and SMOTE-impossible splits fail with a usable message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.credit.grouped_cv import assert_no_company_leak, folds_fingerprint, grouped_folds
from pipelines.credit.schema import NAME
from senim.errors import DataError
from tests.models.credit_matrix import BAND, credit_matrix


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return credit_matrix(60, seed=0)


def _folds(table: pd.DataFrame, **overrides: int) -> list[tuple[np.ndarray, np.ndarray]]:
    knobs = {"n_splits": 3, "seed": 7, "smote_k": 3, **overrides}
    return grouped_folds(table[BAND].to_numpy(), table[NAME].to_numpy(), **knobs)


def test_given_companies_with_several_rows_when_folding_then_no_company_is_on_both_sides(table):
    names = table[NAME].to_numpy()
    folds = _folds(table)
    assert len(folds) == 3
    for train, test in folds:
        assert set(names[train]).isdisjoint(names[test])
        assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(table)))
    all_tested = np.sort(np.concatenate([test for _, test in folds]))
    assert np.array_equal(all_tested, np.arange(len(table)))


def test_given_folds_when_checking_every_fold_then_each_company_is_validated_in_one_fold(table):
    names = table[NAME].to_numpy()
    fold_of_company: dict[str, set[int]] = {}
    for number, (_, test) in enumerate(_folds(table)):
        for name in names[test]:
            fold_of_company.setdefault(name, set()).add(number)
    assert set(fold_of_company) == set(names)
    assert all(len(folds) == 1 for folds in fold_of_company.values())


def test_given_fewer_companies_than_splits_when_folding_then_error_names_both_counts(table):
    few = table[table[NAME].isin(table[NAME].unique()[:3])]
    with pytest.raises(DataError, match=r"only 3 companies; cv.n_splits=5 needs at least 5"):
        _folds(few, n_splits=5)


def test_given_a_band_with_too_few_rows_when_folding_then_error_names_band_and_knob():
    y = np.array([0] * 30 + [1] * 30 + [5] * 4)
    groups = np.array([f"c{i // 2}" for i in range(64)])
    with pytest.raises(DataError, match=r"band A\+ has 4 rows.*smote\.k_neighbors=5"):
        grouped_folds(y, groups, n_splits=3, seed=0, smote_k=5)


@pytest.mark.filterwarnings("ignore:validation fold")
def test_given_a_band_held_by_one_company_when_folding_then_error_names_training_fold():
    y = np.array([0] * 30 + [1] * 30 + [5] * 8)
    groups = np.array([f"c{i // 3}" for i in range(60)] + ["only A+ issuer"] * 8)
    with pytest.raises(DataError) as raised:
        grouped_folds(y, groups, n_splits=3, seed=0, smote_k=3)
    message = str(raised.value)
    assert "band A+ has 0 rows in training fold" in message
    assert "smote.k_neighbors=3" in message


def test_given_a_validation_fold_without_a_band_when_folding_then_it_only_warns():
    y = np.array([0] * 30 + [1] * 30 + [5] * 10)
    groups = np.array([f"c{i // 3}" for i in range(60)] + ["a+ one"] * 5 + ["a+ two"] * 5)
    with pytest.warns(UserWarning, match=r"no rows of band\(s\) A\+"):
        folds = grouped_folds(y, groups, n_splits=3, seed=1, smote_k=3)
    assert len(folds) == 3


def test_given_leaking_folds_when_checked_then_error_names_the_company():
    groups = np.array(["a", "a", "b", "b"])
    leaking = [(np.array([0, 2]), np.array([1, 3]))]
    with pytest.raises(DataError, match=r"company 'a' is in both"):
        assert_no_company_leak(leaking, groups)


def test_given_the_same_inputs_when_fingerprinting_then_fingerprints_match(table):
    assert folds_fingerprint(_folds(table)) == folds_fingerprint(_folds(table))


def test_given_other_folds_when_fingerprinting_then_fingerprints_differ(table):
    folds = _folds(table)
    assert folds_fingerprint(folds) != folds_fingerprint(_folds(table, seed=8))
    (train, test), *rest = folds
    moved = [(train[1:], np.sort(np.append(test, train[0])))] + rest
    assert folds_fingerprint(folds) != folds_fingerprint(moved)
    assert len(folds_fingerprint(folds)) == 64

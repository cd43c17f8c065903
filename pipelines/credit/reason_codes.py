"""Reason codes: which features pushed one application's credit score up or down.

The score is ``s(m) = 20 * E[code] = 20 * sum_k p_k c_k`` with ``p = softmax(m)`` over the
per-band margins ``m`` (log-odds) and ``c_k`` the band code of class k (0 Junk .. 5 A+).
Models that split their margins into a bias ``b`` plus per-feature terms ``phi[:, j]``
(XGBoost's ``pred_contribs``, logistic regression's ``coef[k, j] * x_j``) are linearised
through the softmax, averaging the gradient along the straight path from the bias to the
margins (integrated gradients, on the margins)::

    contribution_j = sum_k G_k * phi[k, j],   G_k = mean over t in (0, 1] of ds/dm_k
    ds/dm_k = 20 * p_k * (c_k - E[c])          at m(t) = b + t * sum_j phi[:, j]

so the contributions add up to ``s(m) - s(b)``, the score less that of a company whose
features all sit at the baseline. The gradient at the end point alone (t = 1) would not:
where the softmax saturates, a feature that lifted a company from BB to A can show a
small negative slope there. The weights sum to zero, so a term shared by every band
(which softmax ignores) gets no credit.

scikit-learn trees and forests are decomposed exactly along each decision path (Saabas):
every split is credited with the score change from the node to the child the row went
to, so the contributions add up to the score less the root's (forests average their
trees). Any other model falls back to occlusion: the score less the score with that one
feature unknown (NaN, filled by the pipeline's KNNImputer; for the sector, a name the
one-hot encoder never saw, i.e. all zeros).

Contributions are in score points; one-hot sector columns are summed back into one
``Sector`` feature. "Raises" and "lowers" are against each method's baseline: the
average (SMOTE-balanced) training company for XGBoost and trees, the training means and
no sector for the linear model, the value being unknown for occlusion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypedDict

import numpy as np
import pandas as pd

from pipelines.credit.rating_bands import BANDS
from pipelines.credit.schema import FEATURE_COLUMNS, RATIO_COLUMNS, SECTOR, SECTORS

ReasonMethod = Literal[
    "xgboost_pred_contribs", "xgboost_approx_contribs", "linear_terms", "tree_path", "occlusion"
]
# "exact": XGBoost's TreeSHAP (pred_contribs); "approximate": its Saabas path attribution
# (approx_contribs), about 5x faster per row, additive in the same way.
XGBoostContributions = Literal["exact", "approximate"]
Effect = Literal["raises", "lowers"]

_SCORE_PER_CODE = 100.0 / (len(BANDS) - 1)
# Midpoint rule on the integrated-gradients path; the integrand is a smooth softmax.
_PATH_STEPS = 128
_PATH_POINTS = (np.arange(_PATH_STEPS) + 0.5) / _PATH_STEPS
# Contributions this small are rounding noise, neither raising nor lowering the score.
_NEGLIGIBLE = 1e-9
# A sector name no encoder was fitted on: one-hot encodes it as all zeros ("unknown").
_UNKNOWN_SECTOR = "\x00unknown sector"

FEATURE_LABELS: dict[str, str] = {
    "currentRatio": "current ratio (current assets / current liabilities)",
    "quickRatio": "quick ratio (current assets less inventory / current liabilities)",
    "cashRatio": "cash ratio (cash / current liabilities)",
    "daysOfSalesOutstanding": "days of sales outstanding (days to collect receivables)",
    "netProfitMargin": "net profit margin (net income / revenue)",
    "pretaxProfitMargin": "pre-tax profit margin (pre-tax income / revenue)",
    "grossProfitMargin": "gross profit margin (gross profit / revenue)",
    "operatingProfitMargin": "operating profit margin (operating income / revenue)",
    "returnOnAssets": "return on assets (net income / total assets)",
    "returnOnCapitalEmployed": "return on capital employed (EBIT / capital employed)",
    "returnOnEquity": "return on equity (net income / shareholders' equity)",
    "assetTurnover": "asset turnover (revenue / total assets)",
    "fixedAssetTurnover": "fixed asset turnover (revenue / fixed assets)",
    "debtEquityRatio": "debt to equity (debt / shareholders' equity)",
    "debtRatio": "debt ratio (total liabilities / total assets)",
    "effectiveTaxRate": "effective tax rate (income tax / pre-tax income)",
    "freeCashFlowOperatingCashFlowRatio": (
        "free cash flow conversion (free cash flow / operating cash flow)"
    ),
    "freeCashFlowPerShare": "free cash flow per share",
    "cashPerShare": "cash per share",
    "companyEquityMultiplier": "equity multiplier (total assets / shareholders' equity)",
    "ebitPerRevenue": "EBIT margin (earnings before interest and tax / revenue)",
    "enterpriseValueMultiple": "enterprise value multiple (enterprise value / EBITDA)",
    "operatingCashFlowPerShare": "operating cash flow per share",
    "operatingCashFlowSalesRatio": "operating cash flow margin (operating cash flow / revenue)",
    "payablesTurnover": "payables turnover (cost of sales / accounts payable)",
    **{f"{SECTOR}={sector}": f"sector: {sector}" for sector in SECTORS},
}


class Reason(TypedDict):
    """One reason code; ``serving.credit_schemas.ReasonCode`` is its HTTP form."""

    feature: str
    label: str
    value: float | None
    effect: Effect
    contribution: float
    method: ReasonMethod


def reason_codes(
    fitted: Any,
    features: pd.DataFrame,
    *,
    top: int = 5,
    transformed: np.ndarray | None = None,
    xgboost_contributions: XGBoostContributions = "exact",
) -> list[list[Reason]]:
    """Per row of ``features`` (FEATURE_COLUMNS), up to ``top`` reasons, largest |effect| first.

    ``fitted`` is a preprocess -> smote -> model pipeline from ``build_pipeline``; features
    with no effect on the score are never listed. ``transformed`` is the preprocess
    step's output for ``features`` when the caller already has it (a service computes
    it once for both the probabilities and the reasons).
    """
    frame = features.loc[:, list(FEATURE_COLUMNS)]
    return explain_rows(
        fitted,
        frame.loc[:, list(RATIO_COLUMNS)].to_numpy(dtype=float),
        frame[SECTOR].tolist(),
        top=top,
        transformed=transformed,
        xgboost_contributions=xgboost_contributions,
    )


def explain_rows(
    fitted: Any,
    ratios: np.ndarray,
    sectors: Sequence[Any],
    *,
    top: int = 5,
    transformed: np.ndarray | None = None,
    xgboost_contributions: XGBoostContributions = "exact",
) -> list[list[Reason]]:
    """``reason_codes`` from arrays, without a DataFrame where the method needs none:
    ``ratios`` is (n, 25) in RATIO_COLUMNS order and ``sectors`` has n names."""
    # Imported here so the request schemas can share this module's types without paying
    # seconds of scikit-learn and XGBoost imports.
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier
    from xgboost import XGBClassifier

    if top < 0:
        raise ValueError(f"top must be zero or more, got {top}")
    if xgboost_contributions not in ("exact", "approximate"):
        raise ValueError(
            f"xgboost_contributions must be 'exact' or 'approximate', got {xgboost_contributions!r}"
        )
    if len(ratios) == 0:
        return []
    model = fitted.named_steps["model"]
    explained = (DecisionTreeClassifier, RandomForestClassifier, ExtraTreesClassifier)
    if isinstance(model, (XGBClassifier, LogisticRegression, *explained)) and transformed is None:
        transformed = fitted.named_steps["preprocess"].transform(_frame(ratios, sectors))
    if isinstance(model, XGBClassifier):
        approximate = xgboost_contributions == "approximate"
        method: ReasonMethod = "xgboost_approx_contribs" if approximate else "xgboost_pred_contribs"
        by_feature = _collapse_sectors(_xgboost_contributions(fitted, transformed, approximate))
    elif isinstance(model, LogisticRegression):
        method = "linear_terms"
        by_feature = _collapse_sectors(_linear_contributions(fitted, transformed))
    elif isinstance(model, explained):
        method = "tree_path"
        by_feature = _collapse_sectors(_tree_path_contributions(fitted, transformed))
    else:
        method = "occlusion"
        by_feature = _occlusion_contributions(fitted, _frame(ratios, sectors))
    return [
        _top_reasons(ratios[row], sectors[row], by_feature[row], method, top)
        for row in range(len(ratios))
    ]


def _frame(ratios: np.ndarray, sectors: Sequence[Any]) -> pd.DataFrame:
    frame = pd.DataFrame(np.asarray(ratios, dtype=float), columns=list(RATIO_COLUMNS))
    frame[SECTOR] = pd.Series(list(sectors), dtype=object)
    return frame


def _score_gradient(margins: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``ds/dm_k = 20 * p_k * (c_k - E[c])`` over the last axis, p = softmax(margins)."""
    shifted = np.exp(margins - margins.max(axis=-1, keepdims=True))
    proba = shifted / shifted.sum(axis=-1, keepdims=True)
    expected = proba @ codes
    return _SCORE_PER_CODE * proba * (codes - expected[..., None])


def _linearise(terms: np.ndarray, bias: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``(n, classes, features)`` margin terms and ``(n, classes)`` bias -> ``(n, features)``
    score contributions that add up to ``s(bias + sum of terms) - s(bias)``."""
    path = bias[None, :, :] + _PATH_POINTS[:, None, None] * terms.sum(axis=2)[None, :, :]
    mean_gradient = _score_gradient(path, codes).mean(axis=0)
    return np.einsum("nk,nkj->nj", mean_gradient, terms)


def _class_codes(fitted: Any) -> np.ndarray:
    return np.asarray(fitted.classes_, dtype=float)


def _xgboost_contributions(fitted: Any, inputs: np.ndarray, approximate: bool) -> np.ndarray:
    """Per-class SHAP (or Saabas, ``approximate``) values from the booster: features and
    bias add up to the margins."""
    from xgboost import DMatrix

    model = fitted.named_steps["model"]
    matrix = DMatrix(inputs)
    best = getattr(model, "best_iteration", None)  # only set with early stopping
    iterations = (0, best + 1) if best is not None else (0, 0)
    contribs = (
        model.get_booster()
        .predict(
            matrix,
            pred_contribs=True,
            approx_contribs=approximate,
            iteration_range=iterations,
        )
        .astype(float)
    )
    if contribs.ndim == 2:  # binary:logistic: one margin, for the second class
        contribs = np.stack([np.zeros_like(contribs), contribs], axis=1)
    return _linearise(contribs[:, :, :-1], contribs[:, :, -1], _class_codes(fitted))


def _linear_contributions(fitted: Any, transformed: np.ndarray) -> np.ndarray:
    """Terms ``coef[k, j] * x_j`` on the scaled inputs, i.e. relative to the training mean."""
    model = fitted.named_steps["model"]
    inputs = np.asarray(transformed, dtype=float)
    coef = np.asarray(model.coef_, dtype=float)
    intercept = np.asarray(model.intercept_, dtype=float)
    if coef.shape[0] == 1:  # two classes: one logit, for the second class
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    terms = inputs[:, None, :] * coef[None, :, :]
    bias = np.broadcast_to(intercept, (len(inputs), intercept.size))
    return _linearise(terms, bias, _class_codes(fitted))


def _tree_path_contributions(fitted: Any, transformed: np.ndarray) -> np.ndarray:
    """Saabas decomposition, averaged over a forest's trees (as its predict_proba is).

    All trees' nodes share one numbering, so each row climbs from its leaves to the roots
    in one vectorised step per level instead of a Python loop per tree.
    """
    model = fitted.named_steps["model"]
    inputs = np.asarray(transformed, dtype=np.float32)
    codes = _class_codes(fitted)
    trees = getattr(model, "estimators_", [model])
    parents, split_features, gains, leaves = [], [], [], []
    offset = 0
    for tree in trees:
        parent, split_feature, gain = _tree_edges(tree.tree_, codes)
        parents.append(np.where(parent >= 0, parent + offset, -1))
        split_features.append(split_feature)
        gains.append(gain)
        leaves.append(tree.apply(inputs, check_input=False) + offset)
        offset += parent.size
    parent, split_feature, gain = (np.concatenate(a) for a in (parents, split_features, gains))
    node = np.stack(leaves, axis=1)
    rows = np.broadcast_to(np.arange(len(inputs))[:, None], node.shape)
    contributions = np.zeros(inputs.shape, dtype=float)
    climbing = parent[node] >= 0
    while climbing.any():
        at = node[climbing]
        np.add.at(contributions, (rows[climbing], split_feature[at]), gain[at])
        node = np.where(climbing, parent[node], node)
        climbing = parent[node] >= 0
    return contributions / len(trees)


def _tree_edges(structure: Any, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per node: its parent (-1 at the root), the feature its parent split on, and the
    score change from the parent to it."""
    value = structure.value[:, 0, :]
    node_score = _SCORE_PER_CODE * (value @ codes) / value.sum(axis=1)
    parent = np.full(structure.node_count, -1)
    for children in (structure.children_left, structure.children_right):
        inner = np.flatnonzero(children >= 0)
        parent[children[inner]] = inner
    has_parent = parent >= 0
    safe_parent = np.where(has_parent, parent, 0)
    split_feature = np.where(has_parent, structure.feature[safe_parent], 0)
    gain = np.where(has_parent, node_score - node_score[safe_parent], 0.0)
    return parent, split_feature, gain


def _collapse_sectors(contributions: np.ndarray) -> np.ndarray:
    """Model-column contributions (ratios, then one ``Sector=<name>`` column per sector, as
    ``feature_names_out`` lists them) -> FEATURE_COLUMNS order, the sectors summed."""
    ratios = contributions[:, : len(RATIO_COLUMNS)]
    sector = contributions[:, len(RATIO_COLUMNS) :].sum(axis=1, keepdims=True)
    return np.hstack([ratios, sector])


def _occlusion_contributions(fitted: Any, frame: pd.DataFrame) -> np.ndarray:
    """Score minus the score with one feature unknown; all variants in one predict call."""
    n_rows, n_features = len(frame), len(FEATURE_COLUMNS)
    variants = [frame]
    for column in FEATURE_COLUMNS:
        hidden = frame.copy()
        hidden[column] = _UNKNOWN_SECTOR if column == SECTOR else np.nan
        variants.append(hidden)
    stacked = pd.concat(variants, ignore_index=True)
    scores = _scores(fitted, stacked).reshape(n_features + 1, n_rows)
    return (scores[0][None, :] - scores[1:]).T


def _scores(fitted: Any, frame: pd.DataFrame) -> np.ndarray:
    proba = np.asarray(fitted.predict_proba(frame), dtype=float)
    return _SCORE_PER_CODE * (proba @ _class_codes(fitted)) / proba.sum(axis=1)


def _top_reasons(
    ratios: np.ndarray, sector: Any, contributions: np.ndarray, method: ReasonMethod, top: int
) -> list[Reason]:
    """``ratios`` in RATIO_COLUMNS order; ``contributions`` in FEATURE_COLUMNS order."""
    order = np.argsort(-np.abs(contributions), kind="stable")
    reasons: list[Reason] = []
    for index in order[:top]:
        contribution = float(contributions[index])
        if abs(contribution) <= _NEGLIGIBLE:
            break
        feature = FEATURE_COLUMNS[index]
        value = None if feature == SECTOR else float(ratios[index])  # ratios lead FEATURE_COLUMNS
        reasons.append(
            Reason(
                feature=feature,
                label=_label(feature, sector),
                value=None if value is None or np.isnan(value) else value,
                effect="raises" if contribution > 0 else "lowers",
                contribution=contribution,
                method=method,
            )
        )
    return reasons


def _label(feature: str, value: Any) -> str:
    if feature == SECTOR:
        return FEATURE_LABELS.get(f"{SECTOR}={value}", f"sector: {value}")
    return FEATURE_LABELS[feature]

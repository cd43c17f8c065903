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

The ordinal model's XGBoost regression is decomposed by the same booster call: its
contributions add up to its score (the expected band code) less the bias, times 20.

A calibrated model (``CalibratedBands``) publishes ``S(r)``, a calibrated function of
its model's score ``r`` (the regression score, or a classifier's expected band code).
The model's own contributions add up to ``20 * (r - r_b)``; each is multiplied by
``(S(r) - S(r_b)) / (20 * (r - r_b))`` so they add up to the published score less that
of the baseline (the local slope where ``r = r_b``). Directions are kept; the shares are
the model's own.

Contributions are in score points; one-hot columns are summed back into one feature
(``Sector``, ``Rating Agency Name``), and the rating year is reported as ``Date``.
"Raises" and "lowers" are against each method's baseline: the average (weighted)
training company for XGBoost and trees, the training means and no category for the
linear model, the value being unknown for occlusion.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

import numpy as np
import pandas as pd

from models.compiled_bands import BandScores, CompiledBandModel
from models.credit_features import output_groups, rating_year
from pipelines.credit.rating_bands import BANDS
from pipelines.credit.schema import AGENCIES, AGENCY, DATE, RATIO_COLUMNS, SECTOR, SECTORS
from pipelines.credit.scoring_inputs import ScoringRows

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
# A category no encoder was fitted on: one-hot encodes it as all zeros ("unknown").
_UNKNOWN_CATEGORY = "\x00unknown"
_CATEGORICAL = (SECTOR, AGENCY)

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
    **{f"{AGENCY}={agency}": f"rated on the scale of {agency}" for agency in AGENCIES},
    DATE: "rating year (rating practice and conditions move over time)",
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
    """Per row of ``features`` (MODEL_COLUMNS), up to ``top`` reasons, largest |effect| first.

    ``fitted`` is a preprocess -> model pipeline from ``build_pipeline`` (or an earlier
    one with SMOTE); features with no effect on the score are never listed.
    ``transformed`` is the preprocess step's output for ``features`` when the caller
    already has it (a service computes it once for both the probabilities and the reasons).
    """
    return explain_rows(
        fitted,
        ScoringRows.from_frame(features),
        top=top,
        transformed=transformed,
        xgboost_contributions=xgboost_contributions,
    )


def explain_rows(
    fitted: Any,
    rows: ScoringRows,
    *,
    top: int = 5,
    transformed: np.ndarray | None = None,
    xgboost_contributions: XGBoostContributions = "exact",
    compiled: CompiledBandModel | None = None,
    scores: BandScores | None = None,
) -> list[list[Reason]]:
    """``reason_codes`` from ``ScoringRows``, without a DataFrame where the method needs none.

    With the model's compiled form (``compiled``, checked against it) and its ``scores``
    of ``transformed``, an ordinal model's score and Saabas parts come from there."""
    # Imported here so the request schemas can share this module's types without paying
    # seconds of scikit-learn and XGBoost imports.
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier
    from xgboost import XGBClassifier

    from models.ordinal_bands import OrdinalBandRegressor

    if top < 0:
        raise ValueError(f"top must be zero or more, got {top}")
    if xgboost_contributions not in ("exact", "approximate"):
        raise ValueError(
            f"xgboost_contributions must be 'exact' or 'approximate', got {xgboost_contributions!r}"
        )
    if len(rows) == 0:
        return []
    final = fitted.named_steps["model"]
    # Calibration unwrapped (a forest's ``estimator_`` is its template tree, not this).
    model = final.estimator_ if hasattr(final, "calibrator_") else final
    features, collapse = _feature_groups(fitted.named_steps["preprocess"])
    explained = (DecisionTreeClassifier, RandomForestClassifier, ExtraTreesClassifier)
    decomposed = (XGBClassifier, OrdinalBandRegressor, LogisticRegression, *explained)
    if isinstance(model, decomposed) and transformed is None:
        transformed = fitted.named_steps["preprocess"].transform(rows.frame())
    approximate = xgboost_contributions == "approximate"
    xgboost_method: ReasonMethod = (
        "xgboost_approx_contribs" if approximate else "xgboost_pred_contribs"
    )
    codes = _class_codes(fitted, final, model)
    if isinstance(model, XGBClassifier):
        method = xgboost_method
        per_column = _xgboost_contributions(model, codes, transformed, approximate)
    elif isinstance(model, OrdinalBandRegressor):
        method = xgboost_method
        if compiled is not None and scores is not None and scores.contributions is not None:
            if not approximate:
                raise ValueError("compiled scores carry Saabas (approximate) contributions")
            per_column = _SCORE_PER_CODE * scores.contributions[:, :-1]
        else:
            per_column = _ordinal_contributions(model, transformed, approximate)
            compiled = None
    elif isinstance(model, LogisticRegression):
        method = "linear_terms"
        per_column = _linear_contributions(model, codes, transformed)
    elif isinstance(model, explained):
        method = "tree_path"
        per_column = _tree_path_contributions(model, codes, transformed)
    else:
        method = "occlusion"
        by_feature = _occlusion_contributions(fitted, rows.frame(), features)
    if method != "occlusion":
        per_column = _to_published(final, model, per_column, transformed, compiled, scores)
        by_feature = per_column @ collapse
    return [
        _top_reasons(rows, row, features, by_feature[row], method, top) for row in range(len(rows))
    ]


def _feature_groups(preprocess: Any) -> tuple[list[str], np.ndarray]:
    """The input features the model reads, in order, and the ``(columns, features)``
    0/1 matrix that sums each model column into its feature."""
    groups = output_groups(preprocess)
    features: list[str] = []
    for _, column, _ in groups:
        if column not in features:
            features.append(column)
    collapse = np.zeros((len(groups), len(features)))
    for position, (_, column, _) in enumerate(groups):
        collapse[position, features.index(column)] = 1.0
    return features, collapse


def _class_codes(fitted: Any, final: Any, model: Any) -> np.ndarray:
    """The band code each of ``model``'s classes stands for."""
    if model is not final:  # calibrated: the inner model may have renumbered its classes
        return np.asarray(final.band_codes_, dtype=float)[np.asarray(model.classes_, dtype=int)]
    return np.asarray(fitted.classes_, dtype=float)


def _to_published(
    final: Any,
    model: Any,
    contributions: np.ndarray,
    inputs: Any,
    compiled: CompiledBandModel | None = None,
    scores: BandScores | None = None,
) -> np.ndarray:
    """Contributions to the model's own score, rescaled to the published score where a
    calibration (or the ordinal model's own probabilities) maps one to the other."""
    if compiled is not None and scores is not None:
        signal = scores.signal
        to_proba = compiled.proba_from_signal
    elif hasattr(final, "calibrator_"):
        signal = final.signal(inputs)
        to_proba = final.proba_from_signal
    elif hasattr(model, "proba_from_signal"):
        signal = model.band_signal(inputs)
        to_proba = model.proba_from_signal
    else:
        return contributions
    codes = np.arange(len(BANDS), dtype=float)

    own = contributions.sum(axis=1) / _SCORE_PER_CODE  # r - r_b, in band codes
    baseline = signal - own
    step = 1e-4
    # One call for the four points of every row: the calibration's cost is per call.
    points = np.concatenate([signal, baseline, signal + step, signal - step])
    at, base, up, down = np.split(_SCORE_PER_CODE * (to_proba(points) @ codes), 4)
    flat = np.abs(own) < 1e-9
    safe = np.where(flat, 1.0, own)
    ratio = (at - base) / (_SCORE_PER_CODE * safe)
    slope = (up - down) / (2 * step * _SCORE_PER_CODE)
    return contributions * np.where(flat, slope, ratio)[:, None]


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


def _booster_contributions(model: Any, inputs: np.ndarray, approximate: bool) -> np.ndarray:
    """SHAP (or Saabas, ``approximate``) values from an XGBoost model's booster."""
    from xgboost import DMatrix

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
    return contribs


def _xgboost_contributions(
    model: Any, codes: np.ndarray, inputs: np.ndarray, approximate: bool
) -> np.ndarray:
    """Per-class contributions, features and bias adding up to the margins, linearised."""
    contribs = _booster_contributions(model, inputs, approximate)
    if contribs.ndim == 2:  # binary:logistic: one margin, for the second class
        contribs = np.stack([np.zeros_like(contribs), contribs], axis=1)
    return _linearise(contribs[:, :, :-1], contribs[:, :, -1], codes)


def _ordinal_contributions(model: Any, inputs: np.ndarray, approximate: bool) -> np.ndarray:
    """The regression's own decomposition of its score, in score points."""
    contribs = _booster_contributions(model.regressor_, inputs, approximate)
    return _SCORE_PER_CODE * contribs[:, :-1]


def _linear_contributions(model: Any, codes: np.ndarray, transformed: np.ndarray) -> np.ndarray:
    """Terms ``coef[k, j] * x_j`` on the scaled inputs, i.e. relative to the training mean."""
    inputs = np.asarray(transformed, dtype=float)
    coef = np.asarray(model.coef_, dtype=float)
    intercept = np.asarray(model.intercept_, dtype=float)
    if coef.shape[0] == 1:  # two classes: one logit, for the second class
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    terms = inputs[:, None, :] * coef[None, :, :]
    bias = np.broadcast_to(intercept, (len(inputs), intercept.size))
    return _linearise(terms, bias, codes)


def _tree_path_contributions(model: Any, codes: np.ndarray, transformed: np.ndarray) -> np.ndarray:
    """Saabas decomposition, averaged over a forest's trees (as its predict_proba is).

    All trees' nodes share one numbering, so each row climbs from its leaves to the roots
    in one vectorised step per level instead of a Python loop per tree.
    """
    inputs = np.asarray(transformed, dtype=np.float32)
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


def _occlusion_contributions(fitted: Any, frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """Score minus the score with one feature unknown; all variants in one predict call."""
    n_rows = len(frame)
    variants = [frame]
    for column in features:
        hidden = frame.copy()
        if column in _CATEGORICAL:
            hidden[column] = _UNKNOWN_CATEGORY
        elif column == DATE:
            hidden[column] = None  # the year is imputed
        else:
            hidden[column] = np.nan
        variants.append(hidden)
    stacked = pd.concat(variants, ignore_index=True)
    scores = _scores(fitted, stacked).reshape(len(features) + 1, n_rows)
    return (scores[0][None, :] - scores[1:]).T


def _scores(fitted: Any, frame: pd.DataFrame) -> np.ndarray:
    proba = np.asarray(fitted.predict_proba(frame), dtype=float)
    codes = np.asarray(fitted.classes_, dtype=float)
    return _SCORE_PER_CODE * (proba @ codes) / proba.sum(axis=1)


def _top_reasons(
    rows: ScoringRows,
    row: int,
    features: list[str],
    contributions: np.ndarray,
    method: ReasonMethod,
    top: int,
) -> list[Reason]:
    """``contributions`` in ``features`` order."""
    order = np.argsort(-np.abs(contributions), kind="stable")
    reasons: list[Reason] = []
    for index in order[:top]:
        contribution = float(contributions[index])
        if abs(contribution) <= _NEGLIGIBLE:
            break
        feature = features[index]
        value = _value(rows, row, feature)
        reasons.append(
            Reason(
                feature=feature,
                label=_label(feature, rows.texts.get(feature, [None] * len(rows))[row]),
                value=None if value is None or np.isnan(value) else value,
                effect="raises" if contribution > 0 else "lowers",
                contribution=contribution,
                method=method,
            )
        )
    return reasons


def _value(rows: ScoringRows, row: int, feature: str) -> float | None:
    if feature in _CATEGORICAL:
        return None
    if feature == DATE:
        return float(rating_year([rows.texts[DATE][row]])[0, 0])
    return float(rows.ratios[row, RATIO_COLUMNS.index(feature)])


def _label(feature: str, value: Any) -> str:
    if feature == SECTOR:
        return FEATURE_LABELS.get(f"{SECTOR}={value}", f"sector: {value}")
    if feature == AGENCY:
        return FEATURE_LABELS.get(f"{AGENCY}={value}", f"rated on the scale of {value}")
    return FEATURE_LABELS[feature]

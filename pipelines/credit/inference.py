"""Which inference path a loaded credit model takes: compiled, if it proves itself.

A model compiles when ``models.compiled_bands`` knows its structure (the ordinal model,
calibrated or not). The compiled form is then checked against the model itself on rows
built from the model's own split points (each threshold, and the float32 values just
below and above it, so every split is taken both ways, with some values missing):

- the regression score must equal XGBoost's bit for bit, and every band must agree;
- probabilities may differ by at most ``PROBABILITY_TOLERANCE``;
- the Saabas contributions, by at most ``CONTRIBUTION_TOLERANCE`` band codes.

A model that does not compile, or fails the check, is served natively; the path taken
and why are recorded (the Bento's ``inference`` label, ``GET /v1/models``, the log).
``SENIM_CREDIT_INFERENCE=native`` forces the native path (to compare, or when in doubt).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from models.compiled_bands import CompiledBandModel
from models.compiled_trees import CompiledTrees, NotCompilable
from senim.errors import ConfigError

InferenceKind = Literal["compiled", "native"]
INFERENCE_ENV = "SENIM_CREDIT_INFERENCE"
INFERENCE_MODES = ("auto", "native")
PROBABILITY_TOLERANCE = 1e-9
CONTRIBUTION_TOLERANCE = 1e-5  # band codes; XGBoost sums the parts in float32
CHECK_ROWS = 2048
_MISSING_SHARE = 0.05


@dataclass(frozen=True)
class InferenceCheck:
    rows: int
    signal_max_diff: float
    probability_max_diff: float
    contribution_max_diff: float
    bands_agree: bool

    @property
    def passed(self) -> bool:
        return (
            self.bands_agree
            and self.signal_max_diff == 0.0
            and self.probability_max_diff <= PROBABILITY_TOLERANCE
            and self.contribution_max_diff <= CONTRIBUTION_TOLERANCE
        )

    def describe(self) -> str:
        return (
            f"{self.rows} rows: score diff {self.signal_max_diff:.1e} (must be 0), bands "
            f"{'agree' if self.bands_agree else 'DIFFER'}, probability diff "
            f"{self.probability_max_diff:.1e} (<= {PROBABILITY_TOLERANCE:.0e}), "
            f"contribution diff {self.contribution_max_diff:.1e} (<= {CONTRIBUTION_TOLERANCE:.0e})"
        )


@dataclass(frozen=True)
class InferencePath:
    kind: InferenceKind
    reason: str
    compiled: CompiledBandModel | None = None
    check: InferenceCheck | None = None

    def describe(self) -> str:
        return f"{self.kind}: {self.reason}"

    def label(self) -> str:
        """Short enough for a BentoML label (63 characters)."""
        if self.check is None:
            return self.kind
        if self.check.passed:
            return f"{self.kind}, checked on {self.check.rows} rows"
        return f"{self.kind}, compiled form failed its check on {self.check.rows} rows"


NATIVE = InferencePath("native", "not compiled")


def inference_mode(env: Mapping[str, str] | None = None) -> str:
    """``auto`` (compiled when it passes its check) or ``native``, from ``INFERENCE_ENV``."""
    mode = (os.environ if env is None else env).get(INFERENCE_ENV, "auto").strip() or "auto"
    if mode not in INFERENCE_MODES:
        raise ConfigError(f"{INFERENCE_ENV} must be one of {', '.join(INFERENCE_MODES)}, "
                          f"got {mode!r}")  # fmt: skip
    return mode


def choose_inference(model: Any, mode: str = "auto") -> InferencePath:
    """The compiled path for ``model`` (a fitted credit pipeline) if it compiles and
    passes its check; the native path, with the reason, otherwise (or if ``mode`` is
    ``native``)."""
    if mode == "native":
        return InferencePath("native", f"asked for ({INFERENCE_ENV}=native)")
    final = model.steps[-1][1]
    try:
        compiled = CompiledBandModel.compile(final)
    except NotCompilable as exc:
        return InferencePath("native", f"not compiled ({exc})")
    check = check_compiled(compiled, final)
    if not check.passed:
        return InferencePath("native", f"compiled form refused: {check.describe()}", check=check)
    return InferencePath("compiled", f"checked on {check.describe()}", compiled, check)


def check_compiled(
    compiled: CompiledBandModel, final: Any, rows: int = CHECK_ROWS
) -> InferenceCheck:
    """``compiled`` against the fitted ``final`` estimator on split-point rows."""
    from xgboost import DMatrix

    from models.band_calibration import CalibratedBands

    inputs = split_point_rows(compiled.trees, rows)
    ordinal = final.estimator_ if isinstance(final, CalibratedBands) else final
    booster = ordinal.regressor_.get_booster()
    native_signal = ordinal.band_signal(inputs)
    native_parts = booster.predict(DMatrix(inputs), pred_contribs=True, approx_contribs=True)
    scores = compiled.score(inputs, contributions=True)
    return InferenceCheck(
        rows=rows,
        signal_max_diff=float(np.max(np.abs(scores.signal - native_signal))),
        probability_max_diff=float(np.max(np.abs(scores.proba - final.predict_proba(inputs)))),
        contribution_max_diff=float(np.max(np.abs(scores.contributions - native_parts))),
        bands_agree=bool(np.array_equal(scores.band_codes, final.predict(inputs))),
    )


def split_point_rows(trees: CompiledTrees, rows: int, seed: int = 0) -> np.ndarray:
    """Rows whose every value is one of the model's thresholds for that column, or the
    float32 just below or above it (a column no tree splits on gets normal noise), with
    ``_MISSING_SHARE`` of the values missing."""
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(rows, trees.n_features)).astype(np.float32)
    inner = trees.left >= 0
    for column in range(trees.n_features):
        cuts = np.unique(trees.threshold[inner & (trees.feature == column)])
        if cuts.size:
            below = np.nextafter(cuts, np.float32(-np.inf))
            above = np.nextafter(cuts, np.float32(np.inf))
            inputs[:, column] = rng.choice(np.concatenate([cuts, below, above]), size=rows)
    inputs[rng.random(inputs.shape) < _MISSING_SHARE] = np.nan
    return inputs.astype(np.float64)

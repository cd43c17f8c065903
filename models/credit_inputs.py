"""What a credit candidate pipeline reads, as names only: a light module, so the data
schema can describe its columns in the model definitions' terms without importing the
model libraries."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureColumns:
    """The input columns a pipeline reads: numeric ratios (imputed, scaled where the model
    needs it) and one categorical column (one-hot). The data schema owns the names
    (``pipelines.credit.schema.FEATURE_COLUMNS``); a model definition only receives them."""

    ratios: tuple[str, ...]
    sector: str

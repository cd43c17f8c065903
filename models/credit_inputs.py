"""What a credit candidate pipeline reads, as names only: a light module, so the data
schema can describe its columns in the model definitions' terms without importing the
model libraries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How scale-sensitive models (logistic regression) see the ratios. Ratios are heavy-tailed
# (values in the thousands beside values near zero): standardising raw values lets a
# handful of rows set the scale. ``signed_log`` is sign(x) * log(1 + |x|), then scaled.
RatioTransform = Literal["none", "signed_log"]


@dataclass(frozen=True)
class FeatureColumns:
    """The input columns a pipeline reads: numeric ratios (imputed; transformed and scaled
    where the model needs it), categorical columns (one-hot each) and, optionally, the
    rating's date, read as its year. The data schema owns the names
    (``pipelines.credit.schema``); a model definition only receives them."""

    ratios: tuple[str, ...]
    categories: tuple[str, ...]
    rating_date: str | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every column a fitted pipeline reads from its input frame, in order."""
        date = (self.rating_date,) if self.rating_date else ()
        return (*self.ratios, *self.categories, *date)


@dataclass(frozen=True)
class FeatureRecipe:
    """The columns plus how they are prepared: one value, so tuning, refits and the
    champion's re-scoring all build the same preprocessing."""

    columns: FeatureColumns
    knn_neighbors: int = 5
    ratio_transform: RatioTransform = "signed_log"

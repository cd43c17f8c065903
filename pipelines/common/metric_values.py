"""Metric dictionaries as stores can hold them: MLflow metrics, tags and JSON take only
real, finite numbers; a tag holds a figure at full precision, so what is read back
compares equal to what was measured."""

from __future__ import annotations

from typing import Any

import numpy as np


def finite_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The metrics that are real finite numbers: what MLflow, tags and JSON can hold."""
    finite: dict[str, float] = {}
    for name, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if np.isfinite(number):
            finite[name] = number
    return finite


def metric_tag(value: float) -> str:
    """The tag text of a metric: every digit of the float (``repr``), never rounded."""
    return repr(float(value))


def tag_decimals(text: str) -> int | None:
    """How many decimals a tagged figure kept: 6 for ``"0.621429"`` (written rounded by
    older releases), None for exponent forms (full precision)."""
    text = text.strip()
    if "e" in text.lower() or "." not in text:
        return None
    return len(text.split(".", 1)[1])

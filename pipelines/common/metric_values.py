"""Metric dictionaries as stores can hold them: MLflow metrics, tags and JSON take only
real, finite numbers."""

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

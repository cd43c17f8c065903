"""Geometry for the two pictures on a result page, drawn as SVG in the page itself (no
script, no library): the 0-100 score on a half-circle gauge with the decision thresholds
marked, and the reasons as bars of signed score points."""

from __future__ import annotations

import math
from dataclasses import dataclass

GAUGE_RADIUS = 80.0
GAUGE_CX = 100.0
GAUGE_CY = 95.0


def _point(score: float, radius: float = GAUGE_RADIUS) -> tuple[float, float]:
    """Where ``score`` (0 left .. 100 right) sits on the half circle."""
    angle = math.pi * (1 - max(0.0, min(100.0, score)) / 100)
    return (
        round(GAUGE_CX + radius * math.cos(angle), 2),
        round(GAUGE_CY - radius * math.sin(angle), 2),
    )


def arc(start: float, end: float) -> str:
    """SVG path of the gauge's arc from score ``start`` to ``end``."""
    x0, y0 = _point(start)
    x1, y1 = _point(end)
    return f"M {x0} {y0} A {GAUGE_RADIUS} {GAUGE_RADIUS} 0 0 1 {x1} {y1}"


@dataclass(frozen=True)
class Gauge:
    score: float
    reject_max: float
    approve_min: float

    @property
    def reject_arc(self) -> str:
        return arc(0, self.reject_max)

    @property
    def review_arc(self) -> str:
        return arc(self.reject_max, self.approve_min)

    @property
    def approve_arc(self) -> str:
        return arc(self.approve_min, 100)

    @property
    def needle(self) -> tuple[float, float]:
        return _point(self.score, GAUGE_RADIUS - 12)


@dataclass(frozen=True)
class Bar:
    label: str
    value: str
    points: float  # signed score points
    x: float  # where the bar starts (0..100 of the chart's width)
    width: float
    y: int

    @property
    def helps(self) -> bool:
        return self.points >= 0


def reason_bars(reasons: list[dict], row_height: int = 28) -> tuple[list[Bar], int]:
    """Bars around a centre line: pushing the score up to the right, down to the left,
    scaled to the largest; plus the chart's height."""
    largest = max((abs(float(r["contribution"])) for r in reasons), default=0.0) or 1.0
    bars = []
    for i, reason in enumerate(reasons):
        points = float(reason["contribution"])
        width = 48 * abs(points) / largest
        value = reason.get("value")
        bars.append(
            Bar(
                label=str(reason["label"]),
                value="" if value is None else f"{float(value):.4g}",
                points=points,
                x=50.0 if points >= 0 else 50.0 - width,
                width=round(max(width, 0.5), 2),
                y=i * row_height,
            )
        )
    return bars, max(1, len(bars)) * row_height


def shown_score(score: float, approve_min: float, reject_max: float) -> str:
    """The score with one decimal, never rounded across a decision threshold (59.96 is
    "59.9", not "60.0", when 60 approves), so the number shown agrees with the decision."""
    text = f"{score:.1f}"
    shown = float(text)
    if score < approve_min <= shown:
        text = f"{math.floor(score * 10) / 10:.1f}"
    elif score > reject_max >= shown:
        text = f"{math.ceil(score * 10) / 10:.1f}"
    return text

"""Group agency ratings into the thesis's six bands and code them ordinally.

Bands, best first: A+ (AAA..AA-), A (A+..A-), BBB (BBB+..BBB-), BB, B, Junk (CCC+..D).
Codes run 5 (A+) down to 0 (Junk) so that a larger code is a better credit and the
absolute difference between codes is the number of bands a prediction is off by.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

BANDS: tuple[str, ...] = ("Junk", "B", "BB", "BBB", "A", "A+")  # index == code
BAND_CODES: dict[str, int] = {band: code for code, band in enumerate(BANDS)}

_BASE_TO_BAND: dict[str, str] = {
    "AAA": "A+",
    "AA": "A+",
    "A": "A",
    "BBB": "BBB",
    "BB": "BB",
    "B": "B",
    "CCC": "Junk",
    "CC": "Junk",
    "C": "Junk",
    "D": "Junk",
}
# AAA carries no notches; "AA+" style notches exist from AA down to CCC.
_NOTCHED_BASES = ("AA", "A", "BBB", "BB", "B", "CCC")

ALLOWED_RATINGS: tuple[str, ...] = tuple(
    list(_BASE_TO_BAND) + [f"{base}{notch}" for base in _NOTCHED_BASES for notch in "+-"]
)


class UnknownRatingError(ValueError):
    """A rating label outside AAA..D (with optional + / - notch)."""


def rating_to_band(rating: str) -> str:
    """Band of one agency rating label such as ``"BBB-"`` or ``"AA"``."""
    label = str(rating).strip().upper()
    if label not in ALLOWED_RATINGS:
        raise UnknownRatingError(
            f"unknown rating label {rating!r}: expected one of AAA..D with an optional + or - notch"
        )
    return _BASE_TO_BAND[label.rstrip("+-")]


def band_code(band: str) -> int:
    try:
        return BAND_CODES[band]
    except KeyError:
        raise ValueError(f"unknown band {band!r}: expected one of {', '.join(BANDS)}") from None


def group_ratings(ratings: Iterable[str]) -> np.ndarray:
    """Band codes (5..0) for a column of rating labels; names the first bad row."""
    codes = []
    for row, rating in enumerate(ratings):
        try:
            codes.append(BAND_CODES[rating_to_band(rating)])
        except UnknownRatingError as exc:
            raise UnknownRatingError(f"row {row}: {exc}") from None
    return np.asarray(codes, dtype=int)


def code_to_band(codes: Iterable[int] | pd.Series) -> list[str]:
    return [BANDS[int(code)] for code in codes]

import numpy as np
import pytest

from pipelines.credit.rating_bands import (
    ALLOWED_RATINGS,
    BANDS,
    UnknownRatingError,
    code_to_band,
    group_ratings,
    rating_to_band,
)


@pytest.mark.parametrize(
    ("rating", "band"),
    [
        ("AAA", "A+"),
        ("AA+", "A+"),
        ("AA", "A+"),
        ("AA-", "A+"),
        ("A+", "A"),
        ("A", "A"),
        ("A-", "A"),
        ("BBB+", "BBB"),
        ("BBB", "BBB"),
        ("BBB-", "BBB"),
        ("BB+", "BB"),
        ("BB-", "BB"),
        ("B+", "B"),
        ("B", "B"),
        ("B-", "B"),
        ("CCC+", "Junk"),
        ("CCC", "Junk"),
        ("CCC-", "Junk"),
        ("CC", "Junk"),
        ("C", "Junk"),
        ("D", "Junk"),
    ],
)
def test_given_agency_rating_when_grouped_then_thesis_band(rating, band):
    assert rating_to_band(rating) == band


def test_given_bands_when_coded_then_a_plus_is_5_and_junk_is_0():
    assert group_ratings(["AAA", "A", "BBB", "BB", "B", "D"]).tolist() == [5, 4, 3, 2, 1, 0]
    assert code_to_band([5, 0]) == ["A+", "Junk"]
    assert BANDS[0] == "Junk" and BANDS[5] == "A+"


def test_given_lowercase_or_padded_label_when_grouped_then_accepted():
    assert rating_to_band(" bbb- ") == "BBB"


@pytest.mark.parametrize("label", ["AAX", "AAA+", "D-", "", "nan", "Baa1"])
def test_given_unknown_label_when_grouped_then_error_names_row(label):
    with pytest.raises(UnknownRatingError, match=r"row 1: unknown rating label"):
        group_ratings(["AA", label])


def test_given_allowed_ratings_then_every_label_maps_to_a_band():
    codes = group_ratings(ALLOWED_RATINGS)
    assert set(np.unique(codes)) == set(range(6))

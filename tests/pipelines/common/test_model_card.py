"""The card's two renderings: same content, Markdown tables, HTML with all text escaped."""

from __future__ import annotations

import pytest

from pipelines.common.model_card import (
    Bullets,
    ChampionFacts,
    ModelCard,
    Section,
    champion_section,
    fmt,
    table,
    to_html,
    to_markdown,
)


def _card(text: str = "plain") -> ModelCard:
    return ModelCard(
        "Model card: m version 1",
        (
            Section("Intended use", (text,)),
            Section("Facts", (Bullets((text, "two")), table(("metric", "value"), [(text, 0.5)]))),
        ),
    )


def test_given_card_when_rendered_to_markdown_then_sections_bullets_and_tables_appear():
    markdown = to_markdown(_card())

    assert markdown.startswith("# Model card: m version 1\n")
    assert "## Intended use\n\nplain\n" in markdown
    assert "- plain\n- two\n" in markdown
    assert "| metric | value |\n|---|---|\n| plain | 0.5 |" in markdown


def test_given_markup_in_text_when_rendered_to_html_then_it_is_escaped_everywhere():
    hostile = '<script>alert("x")</script> & co'

    page = to_html(_card(hostile))

    assert "<script>" not in page
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"
    assert page.count(escaped) == 3  # paragraph, bullet and table cell
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_given_pipe_in_a_cell_when_rendered_to_markdown_then_table_keeps_its_columns():
    markdown = to_markdown(_card("a|b"))

    assert "| a\\|b | 0.5 |" in markdown


def test_given_row_narrower_than_header_when_table_built_then_error_names_the_header():
    with pytest.raises(ValueError, match=r"row 0 has 1 cells but the header has 2 \(a, b\)"):
        table(("a", "b"), [("only",)])


def test_given_numbers_when_formatted_then_four_decimals_and_missing_as_na():
    assert fmt(0.123456) == "0.1235"
    assert fmt(None) == "n/a" and fmt(float("nan")) == "n/a"


def test_given_no_champion_when_compared_then_card_says_so():
    section = champion_section({"macro_f1": 0.5}, None, ("macro_f1",))

    assert section.blocks == ("No champion yet.",)


def test_given_champion_when_compared_then_both_values_and_difference_are_listed():
    champion = ChampionFacts("3", {"macro_f1": 0.4}, "same folds")

    markdown = to_markdown(
        ModelCard("c", (champion_section({"macro_f1": 0.5}, champion, ("macro_f1",)),))
    )

    assert "Current champion: version 3." in markdown
    assert "| macro_f1 | 0.5000 | 0.4000 | +0.1000 |" in markdown
    assert "same folds" in markdown
